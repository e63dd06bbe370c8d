package mock

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestServeStopsPromptly(t *testing.T) {
	s := New(Options{})
	_, err := s.AddMappingsJSON([]byte(`{"mappings": [
		{"request": {"urlPath": "/slow"}, "response": {"fixedDelayMilliseconds": 60000}},
		{"request": {"urlPath": "/ok"}, "response": {"body": "ok"}}
	]}`))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + ln.Addr().String() + "/ok")
	require.NoError(t, err)
	resp.Body.Close()

	slow := make(chan error, 1)
	go func() {
		resp, err := client.Get("http://" + ln.Addr().String() + "/slow")
		if err == nil {
			resp.Body.Close()
		}
		slow <- err
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	cancel()
	require.NoError(t, <-done)
	require.Less(t, time.Since(start), time.Second)
	require.Error(t, <-slow, "a request cut short by shutdown gets no response, not an empty 200")
}
