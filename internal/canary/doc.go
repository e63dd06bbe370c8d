// Package canary runs synthetic canaries: checks that test a service
// actively, on a schedule, the way CloudWatch Synthetics and Gatus do.
//
// Three kinds (config.Canary):
//
//   - heartbeat loads one URL and wants a status (any 2xx, or
//     expected_status), a time under max_latency, and optional conditions;
//   - api runs HTTP steps in order; each step has Gatus conditions
//     (package condition) and may capture values ([BODY].token) that later
//     steps use as {{ token }} in their URL, headers and body, and as
//     [CONTEXT].token in their conditions;
//   - broken_links crawls the start URL's host breadth first, up to
//     max_depth levels and max_links fetched URLs, and fails on any link
//     that errors or answers 400 or more; links to other hosts are checked
//     but never crawled.
//
// Redirects are followed by hand, so that every request of a run is
// recorded with its own timing breakdown from net/http/httptrace (blocked,
// DNS, TCP connect, TLS, send, time to first byte, download). Each run uses
// a fresh transport: it pays DNS, connect and TLS as a new visitor would.
// Runs export as HAR 1.2 (WriteHAR).
//
// A Runner runs a canary once and needs no server (sonde canary run). A
// Service schedules canaries (package schedule), keeps recent runs in
// memory for the API (Routes), and records every run:
//
//   - as an event in the log group sonde/canaries, stream = canary name,
//     with the fields name, kind, runId, trigger, success, durationMs,
//     error, requests and steps.N.{name, success, status, durationMs,
//     responseTimeMs, error, failedConditions, timings.{blockedMs, dnsMs,
//     connectMs, tlsMs, sendMs, waitMs, receiveMs}};
//   - as metrics through a Prometheus storage.Appendable: see the Metric*
//     constants.
package canary
