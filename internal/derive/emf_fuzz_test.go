package derive

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// FuzzValidateEMF checks that the EMF validator never panics, that it
// rejects with a known reason, and that what it accepts is within the
// rules: valid names, finite values in range, at most 100 values.
func FuzzValidateEMF(f *testing.F) {
	now := time.Now()
	ts := now.UnixMilli()
	seeds := []string{
		`{"_aws":{"Timestamp":` + strconv.FormatInt(ts, 10) + `,"CloudWatchMetrics":[{"Namespace":"MyService","Dimensions":[["Service","Route"],["Service"]],"Metrics":[{"Name":"Latency","Unit":"Milliseconds","StorageResolution":1},{"Name":"Requests","Unit":"Count"}]}]},"Service":"orders","Route":"GET /orders/{id}","Latency":[12.1,15.3,200],"Requests":3}`,
		`{"_aws":{"CloudWatchMetrics":[{"Namespace":"a","Dimensions":[[]],"Metrics":[{"Name":"x.y"}]}]},"x.y":[1e108,-0.0,0]}`,
		`{"_aws":{"CloudWatchMetrics":[]}}`,
		`{"_aws":null}`,
		`[]`,
		`{"_aws":{"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["d"]],"Metrics":[{"Name":"m"}]}]},"d":"v","m":"1"}`,
		`{"_aws":{"Timestamp":1e3,"CloudWatchMetrics":[{}]}}`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	reasons := map[string]bool{emfBadJSON: true, emfBadAWS: true, emfBadTimestamp: true, emfBadNamespace: true,
		emfBadDimensions: true, emfBadDimensionValue: true, emfBadMetrics: true, emfBadMetricName: true, emfBadUnit: true,
		emfBadResolution: true, emfBadValue: true, emfLabelConflict: true}
	f.Fuzz(func(t *testing.T, msg string) {
		metrics, err := validateEMF(msg, ts, now)
		if err != nil {
			if !reasons[err.reason] {
				t.Fatalf("unknown reason %q", err.reason)
			}
			if metrics != nil {
				t.Fatal("metrics with an error")
			}
			return
		}
		if !json.Valid([]byte(strings.TrimSpace(msg))) {
			t.Fatalf("accepted invalid JSON %q", msg)
		}
		for _, m := range metrics {
			if len(m.values) == 0 || len(m.values) > emfMaxValues {
				t.Fatalf("%d values", len(m.values))
			}
			for _, v := range m.values {
				if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > emfMaxAbsValue {
					t.Fatalf("value %v", v)
				}
			}
			if !model.LegacyValidation.IsValidMetricName(m.lset.Get("__name__")) {
				t.Fatalf("metric name %q", m.lset.Get("__name__"))
			}
			if m.lset.Get(EMFNamespaceLabel) == "" {
				t.Fatal("no namespace")
			}
			m.lset.Range(func(l labels.Label) {
				if l.Name != "__name__" && !model.LegacyValidation.IsValidLabelName(l.Name) {
					t.Fatalf("label name %q", l.Name)
				}
				if l.Value == "" {
					t.Fatalf("empty label %q", l.Name)
				}
			})
			h := newNative()
			for _, v := range m.values {
				h.observe(v)
			}
			if err := h.float().Validate(); err != nil {
				t.Fatalf("histogram of %v: %v", m.values, err)
			}
		}
	})
}
