package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("database/sql.(*DB).connectionOpener"))
}

// gate is a store whose Append waits until opened and counts its calls.
type gate struct {
	store.Store
	open    chan struct{}
	entered atomic.Int64 // Append calls waiting or done
	appends atomic.Int64
	events  atomic.Int64
	fail    error
}

func (g *gate) Append(ctx context.Context, b *store.Batch) error {
	g.entered.Add(1)
	<-g.open
	g.appends.Add(1)
	g.events.Add(int64(len(b.Events)))
	if g.fail != nil {
		return g.fail
	}
	return g.Store.Append(ctx, b)
}

func newStore(t *testing.T) store.Store {
	db, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "128MB", Threads: 1})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func events(n int, group string) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{Group: group, Time: int64(1_795_132_800_000 + i), Message: "line",
			Fields: []event.Field{{Name: "i", Value: event.Int(int64(i))}}}
	}
	return evs
}

func count(t *testing.T, s store.Store, group string) int {
	n := 0
	err := s.Scan(context.Background(), store.ScanRequest{Group: group}, func(*event.Event) error { n++; return nil })
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	require.NoError(t, err)
	return n
}

func TestSubmitReturnsWhenDurable(t *testing.T) {
	s := newStore(t)
	p := pipeline.New(s, pipeline.Options{})
	defer p.Close()
	require.NoError(t, p.Submit(context.Background(), "test", "", events(10, "g")))
	require.Equal(t, 10, count(t, s, "g"))
}

func TestConcurrentSubmitsShareACommit(t *testing.T) {
	g := &gate{Store: newStore(t), open: make(chan struct{})}
	p := pipeline.New(g, pipeline.Options{})
	defer p.Close()
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, p.Submit(context.Background(), "test", "", events(5, "g")))
		}()
	}
	// The first commit holds the writer; the submits not in it queue up
	// behind it. Queued counts the events being committed too, so wait for
	// the writer to be inside Append before counting.
	require.Eventually(t, func() bool { return g.entered.Load() == 1 && p.Queued() == 50 }, 10*time.Second, time.Millisecond)
	close(g.open)
	wg.Wait()
	require.EqualValues(t, 50, g.events.Load())
	// One commit when the writer started after every submit arrived, two
	// otherwise: never one per submit.
	require.LessOrEqual(t, g.appends.Load(), int64(2), "the queued submits are committed together")
	require.Equal(t, 50, count(t, g.Store, "g"))
}

func TestFullQueueAnswersBusy(t *testing.T) {
	g := &gate{Store: newStore(t), open: make(chan struct{})}
	p := pipeline.New(g, pipeline.Options{MaxQueuedEvents: 10})
	defer p.Close()
	done := make(chan error, 1)
	go func() { done <- p.Submit(context.Background(), "test", "", events(8, "g")) }()
	require.Eventually(t, func() bool { return p.Queued() == 8 }, 10*time.Second, time.Millisecond)
	require.ErrorIs(t, p.Submit(context.Background(), "test", "", events(3, "g")), pipeline.ErrBusy)
	close(g.open)
	require.NoError(t, <-done)
	require.NoError(t, p.Submit(context.Background(), "test", "", events(3, "g")), "room again once written")
}

func TestKeyedBatchesAreIdempotent(t *testing.T) {
	s := newStore(t)
	p := pipeline.New(s, pipeline.Options{})
	defer p.Close()
	require.NoError(t, p.Submit(context.Background(), "test", "k1", events(4, "g")))
	require.ErrorIs(t, p.Submit(context.Background(), "test", "k1", events(4, "g")), store.ErrDuplicateBatch)
	require.Equal(t, 4, count(t, s, "g"))
}

func TestStoreErrorsReachEverySubmitter(t *testing.T) {
	boom := errors.New("disk on fire")
	g := &gate{Store: newStore(t), open: make(chan struct{}), fail: boom}
	p := pipeline.New(g, pipeline.Options{})
	defer p.Close()
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { errs <- p.Submit(context.Background(), "test", "", events(2, "g")) }()
	}
	require.Eventually(t, func() bool { return p.Queued() == 6 }, 10*time.Second, time.Millisecond)
	close(g.open)
	for i := 0; i < 3; i++ {
		require.ErrorIs(t, <-errs, boom)
	}
}

func TestCloseWritesWhatIsQueued(t *testing.T) {
	g := &gate{Store: newStore(t), open: make(chan struct{})}
	p := pipeline.New(g, pipeline.Options{})
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() { errs <- p.Submit(context.Background(), "test", "", events(3, "g")) }()
	}
	require.Eventually(t, func() bool { return p.Queued() == 12 }, 10*time.Second, time.Millisecond)
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	close(g.open)
	<-closed
	for i := 0; i < 4; i++ {
		require.NoError(t, <-errs)
	}
	require.Equal(t, 12, count(t, g.Store, "g"))
	require.ErrorIs(t, p.Submit(context.Background(), "test", "", events(1, "g")), pipeline.ErrClosed)
}

func TestSubmitStopsWaitingWithItsContext(t *testing.T) {
	g := &gate{Store: newStore(t), open: make(chan struct{})}
	p := pipeline.New(g, pipeline.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Submit(ctx, "test", "", events(1, "g")) }()
	require.Eventually(t, func() bool { return p.Queued() == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	close(g.open)
	p.Close()
	require.Equal(t, 1, count(t, g.Store, "g"), "an abandoned submit is still written")
}

// recorder is an Observer that checks each batch is committed when it
// sees it, and may hold the writer until released.
type recorder struct {
	t       *testing.T
	s       store.Store
	mu      sync.Mutex
	batches [][]int64 // the "i" field of each observed batch
	entered chan struct{}
	release chan struct{}
}

func (r *recorder) Observe(evs []event.Event) {
	if r.entered != nil {
		r.entered <- struct{}{}
		<-r.release
	}
	var ids []int64
	for i := range evs {
		v, ok := evs[i].Get("i")
		require.True(r.t, ok)
		ids = append(ids, v.Int())
	}
	// The batch is in the store already.
	require.GreaterOrEqual(r.t, count(r.t, r.s, evs[0].Group), len(evs))
	r.mu.Lock()
	r.batches = append(r.batches, ids)
	r.mu.Unlock()
}

func (r *recorder) seen() [][]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]int64(nil), r.batches...)
}

func TestObserversSeeEachCommitOnce(t *testing.T) {
	s := newStore(t)
	rec := &recorder{t: t, s: s}
	p := pipeline.New(s, pipeline.Options{Observers: []pipeline.Observer{rec}})
	defer p.Close()
	require.NoError(t, p.Submit(context.Background(), "test", "", events(3, "g")))
	require.NoError(t, p.Submit(context.Background(), "test", "k", events(2, "g")))
	require.ErrorIs(t, p.Submit(context.Background(), "test", "k", events(2, "g")), store.ErrDuplicateBatch)
	require.Equal(t, [][]int64{{0, 1, 2}, {0, 1}}, rec.seen(), "the duplicate batch wrote nothing and is not observed")
}

func TestObserversRunBeforeTheAck(t *testing.T) {
	s := newStore(t)
	rec := &recorder{t: t, s: s, entered: make(chan struct{}), release: make(chan struct{})}
	p := pipeline.New(s, pipeline.Options{Observers: []pipeline.Observer{rec}})
	defer p.Close()
	var returned atomic.Bool
	done := make(chan error, 1)
	go func() {
		err := p.Submit(context.Background(), "test", "", events(4, "g"))
		returned.Store(true)
		done <- err
	}()
	<-rec.entered
	require.False(t, returned.Load(), "Submit returned while the observer held the batch")
	require.Equal(t, 4, count(t, s, "g"), "committed before it is observed")
	close(rec.release)
	require.NoError(t, <-done)
	require.Equal(t, [][]int64{{0, 1, 2, 3}}, rec.seen())
}

func TestObserversSkipFailedCommits(t *testing.T) {
	g := &gate{Store: newStore(t), open: make(chan struct{}), fail: errors.New("disk on fire")}
	close(g.open)
	rec := &recorder{t: t, s: g.Store}
	p := pipeline.New(g, pipeline.Options{Observers: []pipeline.Observer{rec}})
	defer p.Close()
	require.Error(t, p.Submit(context.Background(), "test", "", events(2, "g")))
	require.Empty(t, rec.seen())
}
