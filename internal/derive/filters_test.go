package derive_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/derive"
)

var checkoutLines = []string{
	`{"service":"shop","route":"/checkout/pay","status":503,"latency_ms":120,"region":"eu"}`,
	`{"service":"shop","route":"/checkout/pay","status":500,"latency_ms":80,"region":"us"}`,
	`{"service":"shop","route":"/checkout","status":200,"latency_ms":20,"region":"eu"}`,
	`{"service":"shop","route":"/cart","status":502,"latency_ms":900,"region":"eu"}`,
	`{"service":"shop","route":"/Checkout","status":500,"latency_ms":5,"region":"eu"}`,
	`{"service":"shop","route":"/checkout","latency_ms":7}`,
}

func TestMetricFilterKinds(t *testing.T) {
	one := 0.0
	e := newEnv(t, derive.Options{Filters: []derive.FilterRule{
		{Metric: "checkout_errors_total", Group: "shop", Filter: `status >= 500 and route like "/checkout"`, Dimensions: map[string]string{"region": "region"}},
		{Metric: "checkout_latency_ms_total", Group: "shop", Filter: `route like "/checkout"`, Value: "$.latency_ms"},
		{Metric: "last_error_latency_ms", Group: "shop", Filter: `status >= 500`, Type: derive.FilterGauge, Value: "latency_ms"},
		{Metric: "error_latency_ms", Group: "sh*", Filter: `status >= 500`, Type: derive.FilterHistogram, Value: "latency_ms", Buckets: []float64{10, 100, 1000}},
		{Metric: "teapots_total", Group: "shop", Filter: `status = 418`, DefaultValue: &one},
		{Metric: "not_this_group_total", Group: "other", Filter: `status >= 500`},
	}})
	e.d.Observe(parse(t, "shop", checkoutLines...))
	e.flush()
	require.Equal(t, map[string]float64{"eu": 1, "us": 1}, e.byLabel(`checkout_errors_total`, "region"))
	require.Equal(t, 227.0, e.value(`checkout_latency_ms_total`))
	require.Equal(t, 5.0, e.value(`last_error_latency_ms`), "the last matching event's value")
	require.Equal(t, map[string]float64{"10.0": 1, "100.0": 2, "1000.0": 4, "+Inf": 4},
		e.byLabel(`error_latency_ms_bucket`, "le"))
	require.Equal(t, 1105.0, e.value(`error_latency_ms_sum`))
	require.Equal(t, 0.0, e.value(`teapots_total`), "the default value makes the series when nothing matched")
	require.Empty(t, e.query(`not_this_group_total`))
	require.Equal(t, 14.0, e.counter("sonde_derive_events_total", "filters"), "one per rule an event updates")
	// The gauge and the counter are cumulative over flushes.
	e.d.Observe(parse(t, "shop", checkoutLines[0]))
	e.flush()
	require.Equal(t, map[string]float64{"eu": 2, "us": 1}, e.byLabel(`checkout_errors_total`, "region"))
	require.Equal(t, 120.0, e.value(`last_error_latency_ms`))
}

func TestMetricFilterSkips(t *testing.T) {
	e := newEnv(t, derive.Options{Filters: []derive.FilterRule{
		{Metric: "by_user_total", Group: "g", Filter: `status >= 500`, Dimensions: map[string]string{"user": "user"}},
		{Metric: "bytes_total", Group: "g", Filter: `status >= 500`, Value: "bytes"},
		{Metric: "capped_total", Group: "g", Filter: `status >= 500`, Dimensions: map[string]string{"user": "user"}, MaxSeries: 1},
	}})
	e.d.Observe(parse(t, "g",
		`{"status":500,"user":"a","bytes":10}`,
		`{"status":500,"bytes":"12"}`,
		`{"status":500,"user":"b","bytes":"many"}`,
		`{"status":500,"user":"c","bytes":-5}`,
	))
	e.flush()
	require.Equal(t, map[string]float64{"a": 1, "b": 1, "c": 1}, e.byLabel(`by_user_total`, "user"))
	require.Equal(t, 22.0, e.value(`bytes_total`), "numbers and numeric strings")
	require.Equal(t, 2.0, e.counter("sonde_derive_events_skipped_total", "filters", "missing_dimension"), "by_user_total and capped_total")
	require.Equal(t, 1.0, e.counter("sonde_derive_events_skipped_total", "filters", "non_numeric_value"))
	require.Equal(t, 1.0, e.counter("sonde_derive_events_skipped_total", "filters", "negative_value"))
	require.Equal(t, map[string]float64{"a": 1}, e.byLabel(`capped_total`, "user"))
	require.Equal(t, 2.0, e.counter("sonde_derive_series_dropped_total", "filters"))
}

func TestMetricFilterRuleErrors(t *testing.T) {
	one := 1.0
	for want, r := range map[string]derive.FilterRule{
		`metric "bad-name" is not a valid`:           {Metric: "bad-name", Group: "g", Filter: `x = 1`},
		`a log group is required`:                    {Metric: "m", Filter: `x = 1`},
		`filter: 1:4: expected an expression`:        {Metric: "m", Group: "g", Filter: `x =`},
		`filter: 1:1: isValidIp cannot be evaluated`: {Metric: "m", Group: "g", Filter: `isValidIp(ip)`},
		`type "summary" is not counter`:              {Metric: "m", Group: "g", Filter: `x = 1`, Type: "summary"},
		`cannot have a default_value`:                {Metric: "m", Group: "g", Filter: `x = 1`, DefaultValue: &one, Dimensions: map[string]string{"a": "a"}},
		`not histograms`:                             {Metric: "m", Group: "g", Filter: `x = 1`, DefaultValue: &one, Type: "histogram"},
		`buckets must increase`:                      {Metric: "m", Group: "g", Filter: `x = 1`, Type: "histogram", Buckets: []float64{1, 1}},
		`buckets apply to histograms only`:           {Metric: "m", Group: "g", Filter: `x = 1`, Buckets: []float64{1}},
		`dimension "__x" is not a valid label name`:  {Metric: "m", Group: "g", Filter: `x = 1`, Dimensions: map[string]string{"__x": "a"}},
		`must not be negative`:                       {Metric: "m", Group: "g", Filter: `x = 1`, Value: "-1"},
	} {
		require.ErrorContains(t, derive.CompileFilterRule(r), want)
	}
	_, err := derive.New(derive.Options{Appendable: newEnv(t, derive.Options{}).store, Filters: []derive.FilterRule{
		{Metric: "m", Group: "a", Filter: `x = 1`}, {Metric: "m", Group: "b", Filter: `x = 1`},
	}})
	require.ErrorContains(t, err, `metric "m" is made by an earlier rule too`)
}
