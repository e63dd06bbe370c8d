package metrics

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
)

func TestRetentionDeletesOldBlocks(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), BlockDuration: time.Hour, Retention: 3 * time.Hour})
	require.NoError(t, err)
	defer s.Close()

	start := time.Now().Add(-10 * time.Hour).Truncate(time.Hour).UnixMilli()
	end := start + 10*time.Hour.Milliseconds()
	app := s.Appender(context.Background())
	lset := labels.FromStrings("__name__", "retained", "job", "t")
	var ref storage.SeriesRef
	for ts := start; ts <= end; ts += time.Minute.Milliseconds() {
		ref, err = app.Append(ref, lset, ts, float64(ts))
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())
	// Persist the head as blocks; reloading them applies retention.
	require.NoError(t, s.DB().Compact(context.Background()))

	blocks := s.DB().Blocks()
	require.NotEmpty(t, blocks)
	newest := blocks[len(blocks)-1].Meta().MaxTime
	for _, b := range blocks {
		require.GreaterOrEqual(t, b.Meta().MaxTime, newest-3*time.Hour.Milliseconds(), "block %v outlived retention", b.Meta())
	}
	srv := serveAPI(s)
	defer srv.Close()
	require.Empty(t, instantVector(t, srv.URL, `retained`, time.UnixMilli(start+30*time.Minute.Milliseconds())), "an old sample survived retention")
	v := instantVector(t, srv.URL, `retained`, time.UnixMilli(end))
	require.Len(t, v, 1)
}

func TestRestartKeepsSamplesAndMetadata(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	ms := now.UnixMilli()

	ts := newStoreAt(t, dir)
	code, body := postWrite(t, ts.srv.URL, &prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{{Labels: series("persisted_total", "job", "a"), Samples: []prompb.Sample{{Value: 1, Timestamp: ms - 1000}, {Value: 2, Timestamp: ms}}}},
		Metadata:   []prompb.MetricMetadata{{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "persisted_total", Help: "Survives restarts."}},
	})
	require.Equal(t, http.StatusNoContent, code, body)
	app := ts.store.AppenderV2(context.Background())
	_, err := app.Append(0, labels.FromStrings("__name__", "persisted_gauge"), 0, ms, 7, nil, nil,
		storage.AppendV2Options{MetricFamilyName: "persisted_gauge", Metadata: metadata.Metadata{Type: model.MetricTypeGauge, Help: "A gauge."}})
	require.NoError(t, err)
	require.NoError(t, app.Commit())
	ts.close(t)

	ts = newStoreAt(t, dir)
	defer ts.close(t)
	v := instantVector(t, ts.srv.URL, `persisted_total`, now)
	require.Len(t, v, 1)
	require.Equal(t, "2", v[0].Value[1])
	v = instantVector(t, ts.srv.URL, `persisted_gauge`, now)
	require.Len(t, v, 1)
	require.Equal(t, "7", v[0].Value[1])
	code, r := get(t, ts.srv.URL, "/api/v1/metadata", nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"persisted_gauge":[{"type":"gauge","help":"A gauge.","unit":""}],"persisted_total":[{"type":"counter","help":"Survives restarts.","unit":""}]}`, string(r.Data))

	// Writing continues where it stopped (the series cache starts empty).
	code, body = postWrite(t, ts.srv.URL, &prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{{Labels: series("persisted_total", "job", "a"), Samples: []prompb.Sample{{Value: 3, Timestamp: ms + 1000}}}},
	})
	require.Equal(t, http.StatusNoContent, code, body)
	v = instantVector(t, ts.srv.URL, `count_over_time(persisted_total[1m])`, now.Add(time.Second))
	require.Equal(t, "3", v[0].Value[1])
}

// newStoreAt opens a store on dir, to be closed with close.
func newStoreAt(t *testing.T, dir string) *testServer {
	t.Helper()
	s, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	return &testServer{store: s, srv: serveAPI(s)}
}

func (ts *testServer) close(t *testing.T) {
	ts.srv.Close()
	require.NoError(t, ts.store.Close())
}

func TestAppenderContract(t *testing.T) {
	ts := newTestServer(t, Options{})
	ms := time.Now().UnixMilli()
	lset := labels.FromStrings("__name__", "contract_total", "route", "/")

	app := ts.store.Appender(context.Background())
	ref, err := app.Append(0, lset, ms, 1)
	require.NoError(t, err)
	_, err = app.UpdateMetadata(ref, lset, metadata.Metadata{Type: model.MetricTypeCounter, Help: "Contract."})
	require.NoError(t, err)
	// Not visible before Commit.
	require.Empty(t, instantVector(t, ts.srv.URL, `contract_total`, time.UnixMilli(ms)))
	require.NoError(t, app.Commit())
	require.Len(t, instantVector(t, ts.srv.URL, `contract_total`, time.UnixMilli(ms)), 1)

	// A rejected sample leaves the appender usable.
	app = ts.store.Appender(context.Background())
	_, err = app.Append(0, lset, ms-10_000, 0)
	require.ErrorIs(t, err, storage.ErrOutOfOrderSample)
	_, err = app.Append(0, lset, ms, 5)
	require.ErrorIs(t, err, storage.ErrDuplicateSampleForTimestamp)
	_, err = app.Append(ref, lset, ms+1000, 2)
	require.NoError(t, err)
	require.NoError(t, app.Commit())
	v := instantVector(t, ts.srv.URL, `contract_total`, time.UnixMilli(ms+1000))
	require.Equal(t, "2", v[0].Value[1])

	// Rollback discards.
	app = ts.store.Appender(context.Background())
	_, err = app.Append(0, lset, ms+2000, 3)
	require.NoError(t, err)
	require.NoError(t, app.Rollback())
	v = instantVector(t, ts.srv.URL, `timestamp(contract_total)`, time.UnixMilli(ms+2000))
	last, err := strconv.ParseFloat(v[0].Value[1].(string), 64)
	require.NoError(t, err)
	require.InDelta(t, float64(ms+1000), last*1000, 0.5, "the rolled back sample is not stored")

	code, r := get(t, ts.srv.URL, "/api/v1/metadata", url.Values{"metric": {"contract_total"}})
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"contract_total":[{"type":"counter","help":"Contract.","unit":""}]}`, string(r.Data))

	// Histogram series name suffixes map to the family.
	app = ts.store.Appender(context.Background())
	bl := labels.FromStrings("__name__", "contract_seconds_bucket", "le", "+Inf")
	ref, err = app.Append(0, bl, ms, 1)
	require.NoError(t, err)
	_, err = app.UpdateMetadata(ref, bl, metadata.Metadata{Type: model.MetricTypeHistogram, Help: "H.", Unit: "seconds"})
	require.NoError(t, err)
	require.NoError(t, app.Commit())
	code, r = get(t, ts.srv.URL, "/api/v1/metadata", url.Values{"metric": {"contract_seconds"}})
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"contract_seconds":[{"type":"histogram","help":"H.","unit":"seconds"}]}`, string(r.Data))
}

func TestClosedStoreRefusesWrites(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, s.Ping())
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Ping(), ErrClosed)
	require.NoError(t, s.Close(), "Close is idempotent")
	app := s.Appender(context.Background())
	_, err = app.Append(0, labels.FromStrings("__name__", "late"), time.Now().UnixMilli(), 1)
	if err == nil {
		err = app.Commit()
	}
	require.Error(t, err)
}
