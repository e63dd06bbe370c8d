package mock

import (
	"io"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFaults(t *testing.T) {
	_, ts := startMock(t, Options{Seed: 3}, `{"mappings": [
		{"request": {"urlPath": "/empty"}, "response": {"fault": "EMPTY_RESPONSE"}},
		{"request": {"urlPath": "/malformed"}, "response": {"fault": "MALFORMED_RESPONSE_CHUNK"}},
		{"request": {"urlPath": "/random"}, "response": {"fault": "RANDOM_DATA_THEN_CLOSE"}},
		{"request": {"urlPath": "/reset"}, "response": {"fault": "CONNECTION_RESET_BY_PEER"}},
		{"request": {"urlPath": "/ok"}, "response": {"body": "ok"}}
	]}`)
	client := ts.Client()

	_, err := client.Get(ts.URL + "/empty")
	require.ErrorIs(t, err, io.EOF)

	resp, err := client.Get(ts.URL + "/malformed")
	require.NoError(t, err, "the status line and headers arrive")
	require.Equal(t, 200, resp.StatusCode)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.ErrorContains(t, err, "chunk")

	_, err = client.Get(ts.URL + "/random")
	require.ErrorContains(t, err, "malformed HTTP")

	_, err = client.Get(ts.URL + "/reset")
	require.ErrorIs(t, err, syscall.ECONNRESET)

	// The server is still fine afterwards, and the faults were journaled.
	_, body := call(t, ts, "GET", "/ok", "")
	require.Equal(t, "ok", body)
}
