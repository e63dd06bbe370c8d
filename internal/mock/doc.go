// Package mock serves WireMock-compatible HTTP stubs, so that smoke tests,
// load tests and canaries can run against a fake dependency that existing
// WireMock mapping files and curl scripts already describe.
//
// A Server is an http.Handler. It matches each request against its stub
// mappings (lowest priority number first, then the most recently added),
// answers with the stub's response (status, headers, body, delays, faults),
// and records the request in a bounded journal. Requests under /__admin/ go to
// the WireMock admin API instead: /__admin/mappings, /__admin/requests,
// /__admin/reset, /__admin/settings, /__admin/scenarios and /__admin/health.
//
// The JSON formats are WireMock's own (see https://wiremock.org/docs/ and the
// notes in shared/reference/wiremock.md). Where WireMock's behaviour is richer
// than what sonde implements, a mapping that relies on it is rejected when it
// is loaded rather than served wrongly; the exceptions, such as response
// templating, are logged as warnings.
//
// Matching is on the request path of every stubbed call, so everything that
// can be prepared is prepared when a stub is added: regular expressions are
// compiled, JSON patterns parsed, bodies and headers rendered. Matching a
// request does not allocate unless a matcher needs the body as text or JSON,
// path template parameters, or more than four values of one parameter.
//
// The package imports nothing from sonde and does not need a running sonde
// server: tests start one with httptest.NewServer(mock.New(mock.Options{})).
package mock
