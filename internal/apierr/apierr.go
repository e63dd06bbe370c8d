// Package apierr is the one place where errors become HTTP status codes.
// Handlers return errors; Write turns them into a status, a JSON body
// {"error": "..."}, a Retry-After header when retrying helps, and a log line
// for server faults only.
package apierr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/query"
	"github.com/sonde-dev/sonde/internal/store"
)

// Error is an error with an explicit status, made by the constructors below.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// BadRequest is a client error (400).
func BadRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// TooLarge is a request over a size limit (413).
func TooLarge(format string, args ...any) error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf(format, args...)}
}

// NotFound is a missing resource (404).
func NotFound(format string, args ...any) error {
	return &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf(format, args...)}
}

// Unauthorized is a missing or wrong token (401).
func Unauthorized(format string, args ...any) error {
	return &Error{Status: http.StatusUnauthorized, Msg: fmt.Sprintf(format, args...)}
}

// Forbidden is a token without the needed scope (403).
func Forbidden(format string, args ...any) error {
	return &Error{Status: http.StatusForbidden, Msg: fmt.Sprintf(format, args...)}
}

// MethodNotAllowed is a request with the wrong method (405).
func MethodNotAllowed(method string) error {
	return &Error{Status: http.StatusMethodNotAllowed, Msg: fmt.Sprintf("method %s not allowed", method)}
}

// Status classifies err: the HTTP status and, for errors that go away with
// time, the seconds a client should wait before retrying (0: do not retry).
func Status(err error) (status, retryAfter int) {
	var e *Error
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &e):
		return e.Status, 0
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, 0
	case errors.Is(err, query.ErrBadRequest):
		return http.StatusBadRequest, 0
	case errors.Is(err, pipeline.ErrBusy):
		return http.StatusTooManyRequests, 1
	case errors.Is(err, pipeline.ErrClosed), errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable, 5
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, 0
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, 0
	case errors.Is(err, context.Canceled):
		return 499, 0 // client closed the request
	}
	return http.StatusInternalServerError, 0
}

// Write answers a request with err.
func Write(w http.ResponseWriter, log *slog.Logger, err error) {
	status, retry := Status(err)
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	if status >= 500 && log != nil {
		log.Error("Request failed", "status", status, "err", err)
	}
	WriteJSON(w, status, map[string]string{"error": err.Error()})
}

// WriteJSON answers with a JSON body.
func WriteJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}
