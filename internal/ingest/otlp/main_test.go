package otlp

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/selfmon"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Started once per process by grpc and the OpenTelemetry SDK.
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreAnyFunction("go.opentelemetry.io/otel/sdk/log.(*BatchProcessor).poll.func1"),
	)
}

// testEnv is a receiver writing through a real pipeline to a real DuckDB
// store in a temporary directory.
type testEnv struct {
	store   *duckdb.DB
	pipe    *pipeline.Pipeline
	metrics *selfmon.Metrics
	recv    *Receiver
}

// newTestEnv starts a store and a pipeline; popts.Metrics is set to the
// env's metrics. Everything is closed when the test ends.
func newTestEnv(t testing.TB, popts pipeline.Options, opts Options) *testEnv {
	t.Helper()
	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 1})
	require.NoError(t, err)
	m := selfmon.New(func() float64 { return 0 })
	popts.Metrics = m
	p := pipeline.New(st, popts)
	t.Cleanup(func() {
		p.Close()
		require.NoError(t, st.Close())
	})
	opts.Pipeline, opts.Metrics = p, m
	return &testEnv{store: st, pipe: p, metrics: m, recv: New(opts)}
}

// scan returns every stored event of group, oldest first.
func (e *testEnv) scan(t *testing.T, group string) []event.Event {
	t.Helper()
	var out []event.Event
	err := e.store.Scan(context.Background(), store.ScanRequest{Group: group}, func(ev *event.Event) error {
		c := *ev
		c.Fields = append([]event.Field(nil), ev.Fields...)
		out = append(out, c)
		return nil
	})
	require.NoError(t, err)
	return out
}

// fieldMap indexes an event's fields by name.
func fieldMap(ev event.Event) map[string]event.Value {
	m := make(map[string]event.Value, len(ev.Fields))
	for _, f := range ev.Fields {
		m[f.Name] = f.Value
	}
	return m
}

// fieldTexts renders an event's fields as name -> "kind:text", which makes
// expectations about names, kinds and values one comparison.
func fieldTexts(ev event.Event) map[string]string {
	m := make(map[string]string, len(ev.Fields))
	for _, f := range ev.Fields {
		m[f.Name] = f.Kind.String() + ":" + f.Text(ev.Time)
	}
	return m
}
