package derive_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/derive"
)

// referenceEMF is the example of the EMF reference (shared/reference/emf.md)
// with a current timestamp.
func referenceEMF(ts int64) string {
	return fmt.Sprintf(`{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"MyService","Dimensions":[["Service","Route"],["Service"]],`+
		`"Metrics":[{"Name":"Latency","Unit":"Milliseconds","StorageResolution":1},{"Name":"Requests","Unit":"Count"}]}]},`+
		`"Service":"orders","Route":"GET /orders/{id}","Latency":[12.1,15.3,200],"Requests":3,"requestId":"abc-123"}`, ts)
}

func TestEMFReferenceExample(t *testing.T) {
	e := newEnv(t, derive.Options{EMF: derive.EMFOptions{Enabled: true}, RED: derive.REDOptions{Enabled: true}})
	e.d.Observe(parse(t, "app", referenceEMF(time.Now().UnixMilli())))
	e.flush()
	// Each dimension set is its own series; the array's values are three
	// observations.
	require.Equal(t, 3.0, e.value(`histogram_count(Latency{namespace="MyService",Service="orders",Route="GET /orders/{id}"})`))
	require.Equal(t, 3.0, e.value(`histogram_count(Latency{namespace="MyService",Service="orders",Route=""})`))
	require.InDelta(t, 227.4, e.value(`histogram_sum(Latency{namespace="MyService",Service="orders",Route=""})`), 1e-9)
	require.Equal(t, 1.0, e.value(`histogram_count(Requests{namespace="MyService",Service="orders",Route="GET /orders/{id}"})`))
	require.Equal(t, 3.0, e.value(`histogram_sum(Requests{namespace="MyService",Service="orders",Route=""})`))
	// The 200ms stall is the top of the distribution: the p99 lies in its
	// native bucket (about 9% wide).
	p99 := e.value(`histogram_quantile(0.99, Latency{Route="GET /orders/{id}"})`)
	require.InDelta(t, 200, p99, 20)
	require.Len(t, e.query(`{namespace="MyService"}`), 4)
	require.Equal(t, 1.0, e.counter("sonde_derive_events_total", "emf"))

	// A second event adds to the same series.
	e.d.Observe(parse(t, "app", referenceEMF(time.Now().UnixMilli())))
	e.flush()
	require.Equal(t, 6.0, e.value(`histogram_count(Latency{Route="GET /orders/{id}"})`))
}

func TestEMFRejections(t *testing.T) {
	now := time.Now().UnixMilli()
	ref := referenceEMF(now)
	cases := []struct {
		name, reason, line string
	}{
		{"_aws not an object", "aws", `{"_aws":[],"_aws.CloudWatchMetrics":1}`},
		{"CloudWatchMetrics not an array", "aws", `{"_aws":{"Timestamp":` + fmt.Sprint(now) + `,"CloudWatchMetrics":{}}}`},
		{"timestamp not an integer", "timestamp", strings.Replace(ref, fmt.Sprint(now), "1574109732004.5", 1)},
		{"timestamp a string", "timestamp", strings.Replace(ref, fmt.Sprint(now), `"now"`, 1)},
		{"timestamp three weeks old", "timestamp", strings.Replace(ref, fmt.Sprint(now), fmt.Sprint(now-21*24*3600*1000), 1)},
		{"timestamp three hours ahead", "timestamp", strings.Replace(ref, fmt.Sprint(now), fmt.Sprint(now+3*3600*1000), 1)},
		{"namespace missing", "namespace", strings.Replace(ref, `"Namespace":"MyService",`, ``, 1)},
		{"namespace AWS/", "namespace", strings.Replace(ref, `"MyService"`, `"AWS/Lambda"`, 1)},
		{"namespace characters", "namespace", strings.Replace(ref, `"MyService"`, `"My Service"`, 1)},
		{"namespace too long", "namespace", strings.Replace(ref, `"MyService"`, `"`+strings.Repeat("n", 256)+`"`, 1)},
		{"dimensions missing", "dimensions", strings.Replace(ref, `"Dimensions":[["Service","Route"],["Service"]],`, ``, 1)},
		{"dimensions empty", "dimensions", strings.Replace(ref, `[["Service","Route"],["Service"]]`, `[]`, 1)},
		{"dimension set not an array", "dimensions", strings.Replace(ref, `["Service"]]`, `"Service"]`, 1)},
		{"31 dimensions", "dimensions", strings.Replace(ref, `["Service"]]`, `[`+strings.Repeat(`"Service",`, 30)+`"Service"]]`, 1)},
		{"dimension name starts with colon", "dimensions", strings.Replace(ref, `["Service"]]`, `[":x"]]`, 1)},
		{"dimension not at the root", "dimension_value", strings.Replace(ref, `["Service"]]`, `["Missing"]]`, 1)},
		{"dimension value a number", "dimension_value", strings.Replace(ref, `"Service":"orders"`, `"Service":7`, 1)},
		{"dimension value blank", "dimension_value", strings.Replace(ref, `"Service":"orders"`, `"Service":"  "`, 1)},
		{"dimension value not ASCII", "dimension_value", strings.Replace(ref, `"Service":"orders"`, `"Service":"ördérs"`, 1)},
		{"dimension value too long", "dimension_value", strings.Replace(ref, `"Service":"orders"`, `"Service":"`+strings.Repeat("o", 1025)+`"`, 1)},
		{"metrics missing", "metrics", strings.Replace(ref, `"Metrics":[{"Name":"Latency","Unit":"Milliseconds","StorageResolution":1},{"Name":"Requests","Unit":"Count"}]`, `"M":[]`, 1)},
		{"101 metrics", "metrics", strings.Replace(ref, `{"Name":"Requests","Unit":"Count"}`, strings.TrimSuffix(strings.Repeat(`{"Name":"Requests"},`, 100), ","), 1)},
		{"metric name missing", "metric_name", strings.Replace(ref, `{"Name":"Requests","Unit":"Count"}`, `{"Unit":"Count"}`, 1)},
		{"metric name empty", "metric_name", strings.Replace(ref, `{"Name":"Requests","Unit":"Count"}`, `{"Name":""}`, 1)},
		{"unit unknown", "unit", strings.Replace(ref, `"Unit":"Count"`, `"Unit":"Requests"`, 1)},
		{"unit case", "unit", strings.Replace(ref, `"Unit":"Count"`, `"Unit":"count"`, 1)},
		{"storage resolution", "storage_resolution", strings.Replace(ref, `"StorageResolution":1`, `"StorageResolution":5`, 1)},
		{"value missing", "value", strings.Replace(ref, `"Requests":3,`, ``, 1)},
		{"value a string", "value", strings.Replace(ref, `"Requests":3`, `"Requests":"3"`, 1)},
		{"value an object", "value", strings.Replace(ref, `"Requests":3`, `"Requests":{"0":3}`, 1)},
		{"empty array", "value", strings.Replace(ref, `[12.1,15.3,200]`, `[]`, 1)},
		{"101 values", "value", strings.Replace(ref, `[12.1,15.3,200]`, `[`+strings.TrimSuffix(strings.Repeat("1,", 101), ",")+`]`, 1)},
		{"array holds a string", "value", strings.Replace(ref, `[12.1,15.3,200]`, `[12.1,"x"]`, 1)},
		{"value out of range", "value", strings.Replace(ref, `"Requests":3`, `"Requests":3e108`, 1)},
		{"a path is not a reference", "value", strings.Replace(strings.Replace(ref, `{"Name":"Requests"`, `{"Name":"r.n"`, 1), `"Requests":3`, `"r":{"n":3}`, 1)},
		{"two dimensions one label", "label_conflict", strings.Replace(strings.Replace(ref, `["Service"]]`, `["a.b","a_b"]]`, 1), `"Service":"orders"`, `"Service":"orders","a.b":"x","a_b":"y"`, 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, derive.Options{EMF: derive.EMFOptions{Enabled: true}})
			e.d.Observe(parse(t, "app", c.line))
			e.flush()
			require.Empty(t, e.query(`{namespace!=""}`))
			require.Equal(t, 1.0, e.counter("sonde_emf_rejected_total", c.reason))
		})
	}
}

func TestEMFRejectsTextAfterTheObject(t *testing.T) {
	// The log endpoint does not make such a line a JSON event; other
	// sources may hand one over with the fields of its object.
	e := newEnv(t, derive.Options{EMF: derive.EMFOptions{Enabled: true}})
	evs := parse(t, "app", referenceEMF(time.Now().UnixMilli()))
	evs[0].Message += " trailing"
	evs[0].Shape = nil
	e.d.Observe(evs)
	e.flush()
	require.Empty(t, e.query(`{namespace!=""}`))
	require.Equal(t, 1.0, e.counter("sonde_emf_rejected_total", "json"))
}

func TestEMFAccepts(t *testing.T) {
	now := time.Now().UnixMilli()
	ref := referenceEMF(now)
	for _, c := range []struct{ name, line, query string }{
		{"no timestamp: the event's time", strings.Replace(ref, fmt.Sprintf(`"Timestamp":%d,`, now), ``, 1), `histogram_count(Requests{Route=""})`},
		{"empty dimension set", strings.Replace(ref, `["Service"]]`, `[]]`, 1), `histogram_count(Requests{namespace="MyService",Service=""})`},
		{"literal dotted name", strings.Replace(strings.Replace(ref, `{"Name":"Requests"`, `{"Name":"r.n"`, 1), `"Requests":3`, `"r.n":3`, 1), `histogram_count(r_n{Route=""})`},
		{"unrecognised members", strings.Replace(ref, `"Metrics":`, `"Extra":{"x":1},"Metrics":`, 1), `histogram_count(Requests{Route=""})`},
		{"dimension namespace", strings.Replace(strings.Replace(ref, `["Service"]]`, `["namespace"]]`, 1), `"Service":"orders"`, `"Service":"orders","namespace":"prod"`, 1), `histogram_count(Requests{exported_namespace="prod",namespace="MyService"})`},
		{"negative and zero values", strings.Replace(ref, `[12.1,15.3,200]`, `[-5,0,0,7]`, 1), `histogram_count(Latency{Route=""}) - 3`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, derive.Options{EMF: derive.EMFOptions{Enabled: true}})
			e.d.Observe(parse(t, "app", c.line))
			e.flush()
			require.Equal(t, 1.0, e.value(c.query))
		})
	}
}

func TestEMFFromOTLPBody(t *testing.T) {
	// An OTLP log record whose body is the EMF object: the event's message
	// is the body's JSON and its fields are under body.
	e := newEnv(t, derive.Options{EMF: derive.EMFOptions{Enabled: true}})
	evs := parse(t, "otel", referenceEMF(time.Now().UnixMilli()))
	for i := range evs[0].Fields {
		evs[0].Fields[i].Name = "body." + evs[0].Fields[i].Name
	}
	evs[0].Shape = nil
	e.d.Observe(evs)
	e.flush()
	require.Equal(t, 3.0, e.value(`histogram_count(Latency{Route=""})`))
}

func TestEMFNotCountedAsRED(t *testing.T) {
	e := newEnv(t, derive.Options{EMF: derive.EMFOptions{Enabled: true}, RED: derive.REDOptions{Enabled: true}})
	access := `"method":"GET","route":"/orders/{id}","status":200,"latency_ms":12.1,`
	valid := strings.Replace(referenceEMF(time.Now().UnixMilli()), `"Service":"orders",`, `"Service":"orders",`+access, 1)
	invalid := strings.Replace(valid, `"Unit":"Count"`, `"Unit":"Things"`, 1)
	e.d.Observe(parse(t, "app", valid, invalid))
	e.flush()
	// The valid event's metrics are its own; the invalid one yields none, so
	// it counts as an access log.
	require.Equal(t, 1.0, e.value(`sum(http_server_requests_total)`))
	require.Equal(t, 1.0, e.value(`histogram_count(Requests{Route=""})`))
	require.Equal(t, 1.0, e.counter("sonde_emf_rejected_total", "unit"))
}

func TestEMFSeriesCapPerNamespace(t *testing.T) {
	e := newEnv(t, derive.Options{EMF: derive.EMFOptions{Enabled: true, MaxSeriesPerNamespace: 3}})
	var lines []string
	for i := 0; i < 5; i++ {
		for _, ns := range []string{"A", "B"} {
			lines = append(lines, fmt.Sprintf(`{"_aws":{"CloudWatchMetrics":[{"Namespace":"%s","Dimensions":[["requestId"]],"Metrics":[{"Name":"Hits"}]}]},"requestId":"r%d","Hits":1}`, ns, i))
		}
	}
	e.d.Observe(parse(t, "app", lines...))
	e.flush()
	require.Equal(t, map[string]float64{"A": 3, "B": 3}, e.byLabel(`count by (namespace) (Hits)`, "namespace"))
	require.Equal(t, 4.0, e.counter("sonde_derive_series_dropped_total", "emf"))
}
