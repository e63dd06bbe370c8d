package selfmon

import (
	"errors"

	"github.com/prometheus/prometheus/storage"
)

// Reasons a sample is refused by the TSDB, as every metric writer of sonde
// (remote_write, statsd, Graphite, derived metrics) labels them in its
// write-failure counters.
const (
	ReasonOutOfOrder = "out_of_order"
	ReasonTooOld     = "too_old"
	ReasonDuplicate  = "duplicate"
)

// AppendErrorReason names the reason an appender refused a sample: one of
// the Reason constants, or "" for errors that are not about the sample
// (a closed or failing store), which each caller handles its own way.
func AppendErrorReason(err error) string {
	switch {
	case errors.Is(err, storage.ErrOutOfOrderSample):
		return ReasonOutOfOrder
	case errors.Is(err, storage.ErrOutOfBounds), errors.Is(err, storage.ErrTooOldSample):
		return ReasonTooOld
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		return ReasonDuplicate
	}
	return ""
}
