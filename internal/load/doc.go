// Package load is sonde's load tester: it runs Artillery v2 scripts
// unmodified (phases, payloads, variables, weighted scenarios, flows with
// captures, loops and JavaScript processor hooks, ensure and expect) and
// reports with Artillery's metric names, console summary and JSON report
// shape, so that existing scripts, dashboards and CI gates keep working.
//
// Unlike Artillery, the generator is an open model scheduled by intended send
// time: the arrival schedule of every phase is a pure function of the arrival
// index (see Schedule), a single scheduler goroutine hands due arrivals to a
// bounded pool of workers, and every latency is measured twice: from the
// intended send time (http.response_time, corrected for coordinated omission
// as wrk2 does) and as pure service time, request written to first response
// byte (http.service_time, Artillery's own definition of response_time).
// Arrivals that start late are counted (vusers.late) and so are arrivals that
// never start (vusers.dropped). Latencies are kept in HDR histograms per
// 10-second period, never as raw samples, so memory does not grow with the
// number of requests.
//
// The package needs no sonde server: Run returns a Report that can be written
// as Artillery JSON (WriteJSON), drawn as a self-contained HTML page
// (WriteHTML), or streamed to a sonde server while the test runs (Pusher).
//
// See shared/reference/artillery-and-load-tools.md for the Artillery facts
// this package follows, and Features in script.go for what is not supported.
package load
