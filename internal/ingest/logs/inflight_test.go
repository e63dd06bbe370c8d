package logs

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestInflightBodiesWaitForRoom(t *testing.T) {
	f := newInflight(100)
	ctx := context.Background()
	first, err := f.acquire(ctx, 60)
	require.NoError(t, err)
	small, err := f.acquire(ctx, 40)
	require.NoError(t, err, "bodies that fit side by side do not wait")

	got := make(chan func())
	go func() {
		done, err := f.acquire(ctx, 60)
		if err == nil {
			got <- done
		}
	}()
	select {
	case <-got:
		t.Fatal("a body that does not fit went ahead")
	case <-time.After(50 * time.Millisecond):
	}
	first()
	second := <-got
	small()
	second()

	big, err := f.acquire(ctx, 1<<20)
	require.NoError(t, err, "a body larger than the bound runs alone")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = f.acquire(cctx, 1)
	require.ErrorIs(t, err, context.Canceled)
	big()
	done, err := f.acquire(ctx, 100)
	require.NoError(t, err, "everything was given back")
	done()
}

func TestInflightUnbounded(t *testing.T) {
	var f *inflight = newInflight(0)
	done, err := f.acquire(context.Background(), 1<<30)
	require.NoError(t, err)
	done()
}

func TestBodyLargerThanInflightBound(t *testing.T) {
	e := newEnv(t, Options{InflightBytes: 64})
	body := strings.Repeat(`{"route":"/checkout","status":200}`+"\n", 100)
	for i := 0; i < 3; i++ {
		status, resp, _ := e.post("?group=app", []byte(body))
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, 100, resp.Accepted)
	}
	require.Len(t, e.messages("app"), 300)
}
