package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// acked collects the ids of events sonde acknowledged.
type acked struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (a *acked) add(ids ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		a.ids[id] = true
	}
}

// writeUntilDead posts batches of events with unique ids until the server
// stops answering, recording every acknowledged batch.
func writeUntilDead(ctx context.Context, url, group, prefix string, batch int, a *acked) {
	for seq := 0; ctx.Err() == nil; seq++ {
		lines := make([]string, batch)
		ids := make([]string, batch)
		for i := range lines {
			ids[i] = fmt.Sprintf("%s-%d-%d", prefix, seq, i)
			lines[i] = fmt.Sprintf(`{"id":%q,"seq":%d,"pad":"%040d"}`, ids[i], seq, i)
		}
		ok, err := postLogs(ctx, url, group, lines)
		if err != nil {
			return // the server is gone
		}
		if ok {
			a.add(ids...)
		}
	}
}

// TestKillNineLosesNothingAcknowledged kills the server mid-ingest, twice,
// and checks after each restart that every acknowledged event is stored.
func TestKillNineLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	a := &acked{ids: map[string]bool{}}
	for round := 0; round < 2; round++ {
		s := start(t, dir)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				writeUntilDead(ctx, s.url(""), "durable", fmt.Sprintf("r%d-w%d", round, w), 300, a)
			}()
		}
		// Let several batches commit, then kill mid-stream.
		deadline := time.Now().Add(30 * time.Second)
		for {
			a.mu.Lock()
			n := len(a.ids)
			a.mu.Unlock()
			if n >= (round+1)*6000 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		s.kill()
		cancel()
		wg.Wait()
	}
	require.NotEmpty(t, a.ids)

	s := start(t, dir)
	rows := s.query("fields id | limit 100000", "durable")
	stored := map[string]bool{}
	for _, r := range rows {
		stored[r[0].(string)] = true
	}
	missing := 0
	for id := range a.ids {
		if !stored[id] {
			missing++
		}
	}
	require.Zero(t, missing, "acknowledged events lost: %d of %d (stored %d)", missing, len(a.ids), len(stored))
	s.stop()
}
