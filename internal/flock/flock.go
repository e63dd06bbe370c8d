// Package flock takes exclusive locks on files, so that two processes do
// not both write what one of them owns (a spool, a write-ahead log).
package flock

import "errors"

// ErrLocked is returned when another process holds the lock.
var ErrLocked = errors.New("locked by another process")
