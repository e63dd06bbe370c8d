// Package graphite receives Graphite plaintext metrics over TCP and UDP
// and appends them to the metrics store (a Prometheus storage.Appendable)
// under the names graphite_exporter gives them.
//
// # Protocol
//
// Each line is "<path> <value> <timestamp>" (see
// https://graphite.readthedocs.io/en/latest/feeding-carbon.html), for
// example "cluster-1.node-1.cpu.idle 97.29 1460061337". Fields are
// separated by spaces or tabs. The timestamp is in seconds since 1970 and
// may have a fraction (kept to the millisecond); a missing timestamp or
// "-1" means the time of receipt, as many receivers read it. Graphite 1.1
// tagged series are read too: "disk.used;datacenter=dc1;rack=a1 42 1460061337",
// with carbon's rules for tags (names non-empty ASCII without ";!^=",
// values non-empty and not starting with "~").
//
// A line that breaks these rules is rejected, never guessed at: it is
// counted in sonde_ingest_samples_rejected_total{reason="invalid"} and a
// warning naming the line, the column and the reason is logged at most
// once per second; the other lines are kept. NaN values (which carbon
// drops) are invalid. A timestamp more than Options.MaxFuture (10 minutes)
// ahead of the server's clock is rejected as "future" (it is likely in
// milliseconds, and one far-future sample would make the TSDB refuse the
// present as too old); timestamps above 1e11 are invalid for the same
// reason. Samples the store refuses (older than its head, out of order for
// their series, a second value at the same millisecond) are counted in
// sonde_ingest_samples_write_failed_total by reason. The order of a
// series' samples is checked by the server, allowing the store's
// out-of-order window (Options.OutOfOrderWindow), because the TSDB drops
// samples out of order within one transaction without an error.
//
// # Names and labels
//
// As graphite_exporter does without a mapping file, the path becomes the
// metric name with every character outside [a-zA-Z0-9_:] replaced by "_"
// ("cluster-1.node-1.cpu.idle" becomes cluster_1_node_1_cpu_idle); a
// leading digit gets a "_" in front, so that the name is valid. Tags
// become labels: the tag name escaped the same way but without ':' (and
// with the prefix "exported_" when it starts with "__", which Prometheus
// reserves), the value kept. When a tag repeats, the last value wins.
// Every sample is a gauge at its own timestamp; each series gets the
// metadata type gauge, help "Graphite metric <path>.".
//
// # Transports
//
// On TCP (carbon's port 2003) a line ends with "\n" ("\r\n" accepted);
// a last line cut off by the end of the connection is rejected, as carbon
// drops it. Lines longer than Options.MaxLineBytes are skipped as
// "too_large". The samples read are committed when the connection has no
// more data buffered and every 5000 lines, so a connection is not read
// further while its batch is written. On UDP each datagram holds one or
// more lines and is committed on its own.
package graphite
