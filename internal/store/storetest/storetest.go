// Package storetest is the conformance suite every store.Store
// implementation must pass. An implementation's test calls Run with a
// function that opens its store; the suite checks the contract written on
// store.Store: round trips of every kind, schema growth, atomic and
// idempotent batches, consistent snapshots, retention and reopening.
package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

// Opener opens the store under test. Called twice with the same key, it
// must open the same data (the second time after the first was closed).
// Different keys must give independent, empty stores.
type Opener func(t *testing.T, key string) store.Store

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"RoundTrip", testRoundTrip},
		{"SchemaGrows", testSchemaGrows},
		{"KindsOfOneField", testKindsOfOneField},
		{"GroupsInOneBatch", testGroupsInOneBatch},
		{"DuplicateBatch", testDuplicateBatch},
		{"Reopen", testReopen},
		{"SnapshotsDuringGrowth", testSnapshotsDuringGrowth},
		{"Retention", testRetention},
		{"ScanRange", testScanRange},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

const base = int64(1_795_132_800_000) // 2026-11-20T00:00:00Z

// Lines is a mix of JSON events of every kind, plain text and lines that
// cannot be rebuilt, used by the round-trip checks.
var Lines = []string{
	`{"timestamp":"2026-11-20T00:00:00.000Z","service":"speakers-api","level":"info","method":"DELETE","route":"/health","status":200,"latency_ms":492.62,"bytes":1518,"client_ip":"10.1.172.72","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","trace_id":"41f27cc6f3875d0468255aaf95e94627","message":"DELETE /health 200 492.62ms"}`,
	`{"timestamp":"2026-11-20T00:00:00.043Z","service":"notify-worker","status":500,"latency_ms":3.5,"ok":false,"span":"a584c47f2cdf5b8a","tags":["a","b"],"user":{"id":7,"name":"ana \"q\""},"none":null,"empty":{}}`,
	`[profiler] GET /sessions 12.50 200`,
	"REPORT RequestId: 3604209a-e9a3-11e6-939a-754dd98c7be3\tDuration: 12.34 ms\tBilled Duration: 100 ms\tMemory Size: 128 MB\tMax Memory Used: 18 MB",
	`{"dup":1,"dup":2}`,
	`{"ts":1795132800100,"unicode":"héllo ☃ \u0001","big":1e300,"neg":-42}`,
}

// Parse turns lines into events of group g, one millisecond apart from base.
func Parse(t testing.TB, g string, lines ...string) []event.Event {
	t.Helper()
	p := event.NewParser(event.NewShapes(1000), event.ParserOptions{})
	out := make([]event.Event, len(lines))
	for i, l := range lines {
		_, err := p.Parse(l, base+int64(i), &out[i])
		require.NoError(t, err, l)
		out[i].Group, out[i].Stream = g, "stream-1"
	}
	return out
}

func scanAll(t *testing.T, s store.Store, g string) []event.Event {
	t.Helper()
	var out []event.Event
	err := s.Scan(context.Background(), store.ScanRequest{Group: g}, func(ev *event.Event) error {
		cp := *ev
		cp.Fields = append([]event.Field(nil), ev.Fields...)
		out = append(out, cp)
		return nil
	})
	require.NoError(t, err)
	return out
}

func fieldText(ev event.Event) map[string]string {
	m := map[string]string{}
	for _, f := range ev.Fields {
		m[f.Name+":"+f.Kind.String()] = f.Text(ev.Time)
	}
	return m
}

// requireSameEvents checks that the stored events carry everything the
// originals did: time, stream, every field of every kind, and the message.
func requireSameEvents(t *testing.T, want, got []event.Event) {
	t.Helper()
	want = slices.Clone(want)
	slices.SortStableFunc(want, func(a, b event.Event) int { return cmp.Compare(a.Time, b.Time) })
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		require.Equal(t, w.Time, g.Time, "event %d time", i)
		require.Equal(t, w.Stream, g.Stream, "event %d stream", i)
		require.Equal(t, fieldText(w), fieldText(g), "event %d fields", i)
		if w.Shape != nil {
			require.Equal(t, w.Rebuild(), g.Message, "event %d rebuilt message", i)
		} else {
			require.Equal(t, w.Message, g.Message, "event %d raw message", i)
		}
	}
}

func testRoundTrip(t *testing.T, open Opener) {
	s := open(t, "roundtrip")
	defer s.Close()
	evs := Parse(t, "app", Lines...)
	require.NoError(t, s.Append(context.Background(), &store.Batch{Events: evs}))
	requireSameEvents(t, evs, scanAll(t, s, "app"))

	sch, err := s.Schema(context.Background(), "app")
	require.NoError(t, err)
	require.Equal(t, event.KindID128, sch.Fields["trace_id"][0].Kind)
	require.Equal(t, event.KindIPv4, sch.Fields["client_ip"][0].Kind)
	require.Equal(t, event.KindTime, sch.Fields["timestamp"][0].Kind)
	require.Equal(t, event.KindInt, sch.Fields["@billedDuration"][0].Kind)
}

func testSchemaGrows(t *testing.T, open Opener) {
	s := open(t, "grows")
	defer s.Close()
	ctx := context.Background()
	var all []event.Event
	for i := 0; i < 5; i++ {
		evs := Parse(t, "g", fmt.Sprintf(`{"common":%d,"f%d":"v%d"}`, i, i, i))
		evs[0].Time += int64(i) * 1000
		require.NoError(t, s.Append(ctx, &store.Batch{Events: evs}))
		all = append(all, evs...)
	}
	requireSameEvents(t, all, scanAll(t, s, "g"))
	sch, err := s.Schema(ctx, "g")
	require.NoError(t, err)
	require.Len(t, sch.Fields, 6)
}

func testKindsOfOneField(t *testing.T, open Opener) {
	s := open(t, "kinds")
	defer s.Close()
	evs := Parse(t, "k",
		`{"v":1}`, `{"v":"one"}`, `{"v":1.5}`, `{"v":true}`, `{"v":"10.0.0.1"}`,
		`{"v":"41f27cc6f3875d0468255aaf95e94627"}`, `{"v":"a584c47f2cdf5b8a"}`)
	require.NoError(t, s.Append(context.Background(), &store.Batch{Events: evs}))
	requireSameEvents(t, evs, scanAll(t, s, "k"))
	sch, err := s.Schema(context.Background(), "k")
	require.NoError(t, err)
	require.Len(t, sch.Fields["v"], 7, "one column per kind, no value lost")
}

func testGroupsInOneBatch(t *testing.T, open Opener) {
	s := open(t, "groups")
	defer s.Close()
	a := Parse(t, "a", `{"x":1}`, `{"x":2}`)
	b := Parse(t, "b", `{"y":"z"}`)
	mixed := []event.Event{a[0], b[0], a[1]}
	require.NoError(t, s.Append(context.Background(), &store.Batch{Events: mixed}))
	requireSameEvents(t, a, scanAll(t, s, "a"))
	requireSameEvents(t, b, scanAll(t, s, "b"))
	groups, err := s.Groups(context.Background())
	require.NoError(t, err)
	require.Len(t, groups, 2)
	require.Equal(t, "a", groups[0].Name)
	require.Equal(t, 30, groups[0].RetentionDays)
}

func testDuplicateBatch(t *testing.T, open Opener) {
	s := open(t, "dup")
	defer s.Close()
	ctx := context.Background()
	evs := Parse(t, "d", `{"x":1}`)
	require.NoError(t, s.Append(ctx, &store.Batch{Key: "file:1:0-10", Events: evs}))
	err := s.Append(ctx, &store.Batch{Key: "file:1:0-10", Events: evs})
	require.ErrorIs(t, err, store.ErrDuplicateBatch)
	require.NoError(t, s.Append(ctx, &store.Batch{Key: "file:1:10-20", Events: evs}))
	require.Len(t, scanAll(t, s, "d"), 2)
}

func testReopen(t *testing.T, open Opener) {
	s := open(t, "reopen")
	evs := Parse(t, "r", Lines...)
	require.NoError(t, s.Append(context.Background(), &store.Batch{Key: "k1", Events: evs}))
	require.NoError(t, s.SetRetention(context.Background(), "r", 3))
	require.NoError(t, s.Close())

	s = open(t, "reopen")
	defer s.Close()
	requireSameEvents(t, evs, scanAll(t, s, "r"))
	require.ErrorIs(t, s.Append(context.Background(), &store.Batch{Key: "k1", Events: evs}), store.ErrDuplicateBatch)
	more := Parse(t, "r", `{"fresh":"field"}`)
	more[0].Time = base + 100
	require.NoError(t, s.Append(context.Background(), &store.Batch{Events: more}))
	require.Len(t, scanAll(t, s, "r"), len(evs)+1)
	snap, err := s.Snapshot(context.Background())
	require.NoError(t, err)
	requireCounts(t, snap, "r")
	require.NoError(t, snap.Close())
	groups, err := s.Groups(context.Background())
	require.NoError(t, err)
	require.Equal(t, 3, groups[0].RetentionDays)
}

// testSnapshotsDuringGrowth queries every column a snapshot's schema names
// while batches keep adding columns: the schema must never name a column the
// snapshot's data lacks.
func testSnapshotsDuringGrowth(t *testing.T, open Opener) {
	s := open(t, "growth")
	defer s.Close()
	ctx := context.Background()
	require.NoError(t, s.Append(ctx, &store.Batch{Events: Parse(t, "gr", `{"seed":1}`)}))
	const batches = 40
	var wg sync.WaitGroup
	wg.Add(1)
	errc := make(chan error, 1)
	go func() {
		defer wg.Done()
		for i := 0; i < batches; i++ {
			evs := Parse(t, "gr", fmt.Sprintf(`{"seed":1,"n%d":%d}`, i, i))
			if err := s.Append(ctx, &store.Batch{Events: evs}); err != nil {
				errc <- err
				return
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for done := false; !done && time.Now().Before(deadline); {
		snap, err := s.Snapshot(ctx)
		require.NoError(t, err)
		sch, err := snap.Schema("gr")
		require.NoError(t, err)
		var cols []string
		for _, cs := range sch.Fields {
			for _, c := range cs {
				cols = append(cols, c.Name)
			}
		}
		rows, err := snap.Query(ctx, "SELECT count(*), "+strings.Join(cols, ", ")+" FROM "+sch.Table+" GROUP BY "+strings.Join(cols, ", "))
		require.NoError(t, err)
		require.NoError(t, rows.Close())
		requireKnownCount(t, snap, "gr")
		require.NoError(t, snap.Close())
		done = len(sch.Fields) == batches+1
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
}

func testRetention(t *testing.T, open Opener) {
	s := open(t, "retention")
	defer s.Close()
	ctx := context.Background()
	now := time.UnixMilli(base)
	mk := func(g string, ageDays int) event.Event {
		evs := Parse(t, g, `{"age":`+fmt.Sprint(ageDays)+`}`)
		evs[0].Time = now.Add(-time.Duration(ageDays)*24*time.Hour - time.Minute).UnixMilli()
		return evs[0]
	}
	batch := []event.Event{mk("short", 1), mk("short", 3), mk("long", 1), mk("long", 40)}
	require.NoError(t, s.Append(ctx, &store.Batch{Events: batch}))
	require.NoError(t, s.SetRetention(ctx, "short", 2))
	n, err := s.EnforceRetention(ctx, now)
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "3-day-old event of a 2-day group, 40-day-old event of a 30-day group")
	require.Len(t, scanAll(t, s, "short"), 1)
	require.Len(t, scanAll(t, s, "long"), 1)
	require.Error(t, s.SetRetention(ctx, "short", -1))
	snap, err := s.Snapshot(ctx)
	require.NoError(t, err)
	defer snap.Close()
	requireCounts(t, snap, "short")
	requireCounts(t, snap, "long")
}

// requireCounts checks, while nothing is appended, both ways a snapshot's
// schema may count a group's events without a scan: Events, and CountExpr
// against count(*) in the same statement.
func requireCounts(t *testing.T, snap store.Snapshot, group string) {
	t.Helper()
	requireKnownCount(t, snap, group)
	sch, err := snap.Schema(group)
	require.NoError(t, err)
	if sch.CountExpr == "" {
		return
	}
	rows, err := snap.Query(context.Background(), "SELECT "+sch.CountExpr+", (SELECT count(*) FROM "+sch.Table+")")
	require.NoError(t, err)
	defer rows.Close()
	require.True(t, rows.Next())
	var got, want uint64
	require.NoError(t, rows.Scan(&got, &want))
	require.Positive(t, want)
	require.Equal(t, want, got, "events of %q by the schema's CountExpr", group)
}

// requireKnownCount checks a group's event count in the snapshot's schema,
// when the store keeps one, against a count of its table.
func requireKnownCount(t *testing.T, snap store.Snapshot, group string) {
	t.Helper()
	sch, err := snap.Schema(group)
	require.NoError(t, err)
	if !sch.EventsKnown {
		return
	}
	rows, err := snap.Query(context.Background(), "SELECT count(*) FROM "+sch.Table)
	require.NoError(t, err)
	defer rows.Close()
	require.True(t, rows.Next())
	var n int64
	require.NoError(t, rows.Scan(&n))
	require.Equal(t, n, sch.Events, "events of %q the snapshot's schema counts", group)
}

func testScanRange(t *testing.T, open Opener) {
	s := open(t, "range")
	defer s.Close()
	evs := Parse(t, "r", `{"i":0}`, `{"i":1}`, `{"i":2}`, `{"i":3}`)
	require.NoError(t, s.Append(context.Background(), &store.Batch{Events: evs}))
	sch, err := s.Schema(context.Background(), "r")
	require.NoError(t, err)
	require.Equal(t, [2]int64{base, base + 3}, [2]int64{sch.MinTime, sch.MaxTime}, "time bounds of the group")
	var got []int64
	err = s.Scan(context.Background(), store.ScanRequest{Group: "r", From: base + 1, To: base + 3}, func(ev *event.Event) error {
		got = append(got, ev.Time)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []int64{base + 1, base + 2}, got)
	stop := errors.New("stop")
	err = s.Scan(context.Background(), store.ScanRequest{Group: "r"}, func(*event.Event) error { return stop })
	require.ErrorIs(t, err, stop)
	err = s.Scan(context.Background(), store.ScanRequest{Group: "missing"}, func(*event.Event) error { return nil })
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testClosed(t *testing.T, open Opener) {
	s := open(t, "closed")
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Append(context.Background(), &store.Batch{Events: Parse(t, "c", `{}`)}), store.ErrUnavailable)
	require.Error(t, s.Ping(context.Background()))
}
