package metrics

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
)

func series(name string, kv ...string) []prompb.Label {
	ls := []prompb.Label{{Name: "__name__", Value: name}}
	for i := 0; i+1 < len(kv); i += 2 {
		ls = append(ls, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	return ls
}

func TestRemoteWriteStoresSamplesAndMetadata(t *testing.T) {
	ts := newTestServer(t, Options{})
	now := time.Now().Truncate(time.Second)
	ms := now.UnixMilli()
	req := &prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{
			{Labels: series("rw_requests_total", "job", "api", "code", "200"), Samples: []prompb.Sample{{Value: 1, Timestamp: ms - 2000}, {Value: 3, Timestamp: ms - 1000}}},
			{Labels: series("rw_requests_total", "job", "api", "code", "500"), Samples: []prompb.Sample{{Value: 7, Timestamp: ms - 1000}}},
		},
		Metadata: []prompb.MetricMetadata{{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "rw_requests_total", Help: "Requests served."}},
	}
	code, body := postWrite(t, ts.srv.URL, req)
	require.Equal(t, http.StatusNoContent, code, body)

	// The same series again: served from the series cache.
	req.Timeseries[0].Samples = []prompb.Sample{{Value: 4, Timestamp: ms}}
	req.Timeseries[1].Samples = []prompb.Sample{{Value: 9, Timestamp: ms}}
	code, body = postWrite(t, ts.srv.URL, req)
	require.Equal(t, http.StatusNoContent, code, body)

	v := instantVector(t, ts.srv.URL, `rw_requests_total`, now)
	require.Len(t, v, 2)
	got := map[string]string{}
	for _, s := range v {
		got[s.Metric["code"]] = s.Value[1].(string)
	}
	require.Equal(t, map[string]string{"200": "4", "500": "9"}, got)
	v = instantVector(t, ts.srv.URL, `count_over_time(rw_requests_total{code="200"}[1m])`, now)
	require.Equal(t, "3", v[0].Value[1])

	code, r := get(t, ts.srv.URL, "/api/v1/metadata", nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"rw_requests_total":[{"type":"counter","help":"Requests served.","unit":""}]}`, string(r.Data))
}

func TestRemoteWriteRejectsBadSamplesButKeepsTheRest(t *testing.T) {
	ts := newTestServer(t, Options{})
	ms := time.Now().UnixMilli()
	code, body := postWrite(t, ts.srv.URL, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: series("rw_gauge", "k", "a"), Samples: []prompb.Sample{{Value: 1, Timestamp: ms}}},
	}})
	require.Equal(t, http.StatusNoContent, code, body)

	code, body = postWrite(t, ts.srv.URL, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		// Out of order, then a good sample of the same series.
		{Labels: series("rw_gauge", "k", "a"), Samples: []prompb.Sample{{Value: 2, Timestamp: ms - 60_000}, {Value: 3, Timestamp: ms + 1000}}},
		// No metric name.
		{Labels: []prompb.Label{{Name: "k", Value: "b"}}, Samples: []prompb.Sample{{Value: 1, Timestamp: ms}}},
		// Duplicate label names.
		{Labels: series("rw_gauge", "k", "c", "k", "d"), Samples: []prompb.Sample{{Value: 1, Timestamp: ms}}},
		// Invalid UTF-8.
		{Labels: series("rw_gauge", "k", "\xff"), Samples: []prompb.Sample{{Value: 1, Timestamp: ms}}},
		// Fine.
		{Labels: series("rw_gauge", "k", "e"), Samples: []prompb.Sample{{Value: 5, Timestamp: ms}}},
	}})
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "rejected 4 of 6 samples")
	require.Contains(t, body, "out of order")

	at := time.UnixMilli(ms + 1000)
	v := instantVector(t, ts.srv.URL, `rw_gauge`, at)
	got := map[string]string{}
	for _, s := range v {
		got[s.Metric["k"]] = s.Value[1].(string)
	}
	require.Equal(t, map[string]string{"a": "3", "e": "5"}, got)
}

func TestRemoteWriteMalformedWritesNothing(t *testing.T) {
	ts := newTestServer(t, Options{})
	ms := time.Now().UnixMilli()
	good, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: series("rw_partial"), Samples: []prompb.Sample{{Value: 1, Timestamp: ms}}},
	}}).Marshal()
	require.NoError(t, err)
	// A valid series followed by garbage.
	bad := append(good, 0x0a, 0x7f, 0x01)
	code, body := postRaw(t, ts.srv.URL, snappy.Encode(nil, bad), "application/x-protobuf", "snappy")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "malformed remote write request")
	require.Empty(t, instantVector(t, ts.srv.URL, `rw_partial`, time.UnixMilli(ms)))

	code, body = postRaw(t, ts.srv.URL, []byte("not snappy at all"), "application/x-protobuf", "snappy")
	require.Equal(t, http.StatusBadRequest, code, body)
	code, body = postRaw(t, ts.srv.URL, snappy.Encode(nil, good), "application/x-protobuf", "gzip")
	require.Equal(t, http.StatusUnsupportedMediaType, code, body)
	code, body = postRaw(t, ts.srv.URL, snappy.Encode(nil, good), "application/json", "snappy")
	require.Equal(t, http.StatusUnsupportedMediaType, code, body)
}

func TestRemoteWriteUnsortedLabels(t *testing.T) {
	ts := newTestServer(t, Options{})
	ms := time.Now().UnixMilli()
	lbls := []prompb.Label{{Name: "zone", Value: "z1"}, {Name: "__name__", Value: "rw_unsorted"}, {Name: "app", Value: "a"}}
	for i := 0; i < 3; i++ {
		code, body := postWrite(t, ts.srv.URL, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
			{Labels: lbls, Samples: []prompb.Sample{{Value: float64(i), Timestamp: ms + int64(i)*1000}}},
		}})
		require.Equal(t, http.StatusNoContent, code, body)
	}
	v := instantVector(t, ts.srv.URL, `count_over_time(rw_unsorted{app="a",zone="z1"}[1m])`, time.UnixMilli(ms+2000))
	require.Len(t, v, 1)
	require.Equal(t, "3", v[0].Value[1])
}

func TestRemoteWriteV2(t *testing.T) {
	ts := newTestServer(t, Options{})
	ms := time.Now().UnixMilli()
	st := writev2.NewSymbolTable()
	refs := st.SymbolizeLabels(labels.FromStrings("__name__", "rw2_temperature", "room", "lab"), nil)
	req := &writev2.Request{
		Timeseries: []writev2.TimeSeries{{
			LabelsRefs: refs,
			Samples:    []writev2.Sample{{Value: 21.5, Timestamp: ms}},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE, HelpRef: st.Symbolize("Room temperature.")},
		}},
	}
	req.Symbols = st.Symbols()
	buf, err := req.Marshal()
	require.NoError(t, err)
	code, body := postRaw(t, ts.srv.URL, snappy.Encode(nil, buf), "application/x-protobuf;proto=io.prometheus.write.v2.Request", "snappy")
	require.Equal(t, http.StatusNoContent, code, body)
	v := instantVector(t, ts.srv.URL, `rw2_temperature`, time.UnixMilli(ms))
	require.Len(t, v, 1)
	require.Equal(t, "21.5", v[0].Value[1])
	code, r := get(t, ts.srv.URL, "/api/v1/metadata", url.Values{"metric": {"rw2_temperature"}})
	require.Equal(t, http.StatusOK, code)
	var md map[string][]map[string]string
	require.NoError(t, json.Unmarshal(r.Data, &md))
	require.Equal(t, "gauge", md["rw2_temperature"][0]["type"])
	require.Equal(t, "Room temperature.", md["rw2_temperature"][0]["help"])
}
