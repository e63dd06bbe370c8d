// Package statsd receives statsd and DogStatsD metrics over UDP, aggregates
// them per flush interval as etsy statsd does, and writes the aggregates to
// the metrics store (a Prometheus storage.Appendable) under the names
// statsd_exporter gives them.
//
// # Protocol
//
// A datagram holds lines separated by "\n" ("\r\n" accepted). A line is
//
//	<name>:<value>|<type>[|@<rate>][|#<k>:<v>,...][|c:<container>][|T<ts>][|e:<env>][|card:<c>]
//
// with the types c (counter), g (gauge; a leading + or - moves the gauge
// instead of setting it), ms (timer), h (histogram), d (distribution) and
// s (set). Etsy's several samples after one name ("glork:320|ms:330|ms")
// and DogStatsD's packed values of ms, h and d ("lat:1:2:3|d") are read.
// The sample rate scales counters (value/rate) and the counts of ms, h and
// d (1/rate each); gauges and sets ignore it. A counter without a value
// counts 1. DogStatsD's timestamp (|T), external environment (|e:) and
// cardinality (|card:) fields are checked and ignored: samples belong to
// the interval they arrive in.
//
// A line that breaks this grammar is rejected, never guessed at (etsy
// statsd makes a line with an unknown type a counter; sonde does not): it
// is counted in sonde_ingest_samples_rejected_total{protocol="statsd"}
// with reason "invalid", and a warning giving the line number in the
// datagram, the column and the reason is logged at most once per second.
// DogStatsD events and service checks count as "unsupported"; a negative
// counter value as "negative_counter" (Prometheus counters only go up);
// a sample whose Prometheus name another type already writes (a counter
// "x" and a gauge "x_total") as "type_conflict". The other lines of the
// datagram, and the samples of the line before the bad one, are kept.
//
// # Names and labels
//
// Names become Prometheus names the way statsd_exporter maps them without
// a mapping file: every character outside [a-zA-Z0-9_] becomes "_" and a
// leading digit gets a "_" in front ("api.requests" becomes api_requests,
// "5xx-rate" becomes _5xx_rate). DogStatsD tags become labels: "k:v" is
// split at the first ':', the key escaped like a name, the value kept.
// A tag without a value or with an empty key is dropped and counted in
// sonde_ingest_tags_dropped_total. A container ID becomes the label
// container_id. Keys starting with "__", and "quantile" on ms, h and d,
// get the prefix "exported_" (as Prometheus does for clashing labels).
// Spellings that map to the same Prometheus series (tags in another order,
// "a.b" and "a_b") are aggregated together.
//
// # Outputs of a flush
//
// Every FlushInterval (10 s) each series is written with the flush time as
// timestamp. For a statsd name that escapes to N:
//
//	type   series                      Prometheus type  value
//	c      N_total                     counter          cumulative sum of value/rate ("_total" not doubled)
//	g      N                           gauge            the gauge; kept across flushes
//	s      N                           gauge            unique values in the interval (0 when none)
//	ms     N{quantile="0.5|0.9|0.99"}  summary          nearest-rank quantiles of the interval, seconds
//	       N_sum                       summary          cumulative sum of value/rate, seconds
//	       N_count                     summary          cumulative sum of 1/rate
//	       N_count_ps                  gauge            etsy count_ps: interval count per second
//	       N_lower, N_upper            gauge            etsy lower, upper (seconds)
//	       N_mean, N_median, N_std     gauge            etsy mean, median, std (population; seconds)
//	       N_sum_squares               gauge            etsy sum_squares (seconds squared)
//	       N_count_90                  gauge            etsy count_90: values in the threshold
//	       N_mean_90, N_upper_90       gauge            etsy mean_90, upper_90 (seconds)
//	       N_sum_90, N_sum_squares_90  gauge            etsy sum_90, sum_squares_90
//	h, d   as ms                                        in the values' own unit (not scaled)
//
// This follows statsd_exporter for what its users query (counters with
// _total, timers as a summary in seconds: rate(N_sum[5m]) /
// rate(N_count[5m]) is the mean, N{quantile="0.99"} the 99th percentile)
// and etsy statsd for its timer statistics, computed exactly as its
// process_metrics does over the interval's sorted values: upper_P is the
// value at rank round(P/100*count), mean_P, sum_P and sum_squares_P are over
// the values up to it; a negative P gives lower_topP etc. over the top
// values; "." in P becomes "_" (upper_99_9). The summary quantiles use the
// same nearest rank, so N{quantile="0.9"} equals N_upper_90. Etsy's
// per-interval count and sum are N_count and N_sum, cumulative as
// Prometheus expects: increase(N_count[10s]) is the interval's count.
// Options.Quantiles and Options.Percentiles change the sets (statsd_exporter
// users who want only the summary set Percentiles to an empty slice).
//
// Statistics that need values (all but _sum, _count and _count_ps) are
// marked stale after an interval without any, so that they vanish from
// queries at once instead of repeating the last value for five minutes.
// A series that receives nothing for Options.StaleAfter (an hour) is
// dropped and all its outputs marked stale; if it comes back its counters
// start from zero, which rate() reads as a counter reset.
//
// Each output series gets metadata (type, help naming the statsd name,
// unit "seconds" for timers) through the appender's UpdateMetadata.
//
// # Memory
//
// Options.MaxSeries (100,000) caps the distinct series (name, type, tags
// and container as sent) held between flushes; samples of further series
// are rejected as "too_many_series" until a series expires.
// Options.MaxValues (about 4 million) caps the timer values and set
// members held over all series; beyond it timers keep a uniform random
// sample of their values for the median, quantiles and percentiles (count,
// sum, lower, upper, mean and std stay exact) and sets stop growing; both
// are counted in sonde_statsd_values_sampled_total.
//
// # Speed
//
// Lines are parsed without allocating, aggregated in 64 maps sharded by a
// hash of name, type and tags, and read up to 16 datagrams per system call
// (recvmmsg) into a large socket buffer (Options.ReadBuffer, 32 MB).
// bench/statsd.sh measures the rate one core sustains.
package statsd
