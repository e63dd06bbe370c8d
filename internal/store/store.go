// Package store defines sonde's event store: where every event (log line,
// span, canary run...) is kept, in one table per log group with one typed
// column per discovered field. Implementations live in sub-packages (duckdb,
// clickhouse) and prove themselves against the storetest conformance suite.
package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
)

// Errors an implementation returns, for callers to tell apart with errors.Is.
var (
	// ErrDuplicateBatch means a batch with the same key was committed
	// before; nothing was written this time.
	ErrDuplicateBatch = errors.New("batch already committed")
	// ErrUnavailable means the store cannot take writes right now (closed,
	// or its backend is down); the caller may retry later.
	ErrUnavailable = errors.New("store unavailable")
	// ErrNotFound means a named log group does not exist.
	ErrNotFound = errors.New("not found")
)

// Store keeps events and answers SQL over them.
//
// All methods are safe for concurrent use. Writes (Append, SetRetention,
// EnforceRetention) are serialized by the implementation; reads run beside
// them and see only committed data.
type Store interface {
	// Append commits a batch atomically and durably: when it returns nil,
	// every event survives a crash of the process; when it returns an error,
	// none was written. New groups, fields and shapes are added as needed.
	// If b.Key is not empty and a batch with that key was committed within
	// the last days, Append writes nothing and returns ErrDuplicateBatch.
	// Append must not retain b or its events after it returns.
	Append(ctx context.Context, b *Batch) error

	// Groups lists every log group with its size.
	Groups(ctx context.Context) ([]Group, error)

	// Schema returns the latest committed schema of the named group, or
	// ErrNotFound. The result is immutable: the caller may keep it and must
	// not modify it. Queries need a Snapshot, whose schemas match its data.
	Schema(ctx context.Context, group string) (*Schema, error)

	// Snapshot opens a consistent read view: the schemas it returns describe
	// exactly the data its queries see, even while batches commit. The
	// caller must Close it.
	Snapshot(ctx context.Context) (Snapshot, error)

	// Scan calls fn for each event of a group with From <= @timestamp < To,
	// oldest first, with every field and the rebuilt @message. fn must not
	// retain the event after it returns. Scan stops at the first error fn
	// returns and returns it.
	Scan(ctx context.Context, req ScanRequest, fn func(*event.Event) error) error

	// Dialect names the SQL dialect Query speaks: "duckdb" or "clickhouse".
	Dialect() string

	// SetRetention sets how many days a group keeps its events (0 means the
	// default). The group is created if it does not exist.
	SetRetention(ctx context.Context, group string, days int) error

	// EnforceRetention deletes events older than their group's retention,
	// as seen at now, and returns how many it deleted.
	EnforceRetention(ctx context.Context, now time.Time) (int64, error)

	// Stats reports the store's size.
	Stats(ctx context.Context) (Stats, error)

	// Ping reports whether the store is open and can take writes.
	Ping(ctx context.Context) error

	// Close makes everything durable and releases the store. Calls after
	// Close fail with ErrUnavailable.
	Close() error
}

// Snapshot is a consistent read view of the store. It is not safe for
// concurrent use: run its queries one after the other.
type Snapshot interface {
	// Groups lists the group names that exist in the snapshot, sorted.
	Groups() []string
	// Schema returns a group's schema as of the snapshot, or ErrNotFound.
	Schema(group string) (*Schema, error)
	// Query runs a read-only SQL statement in the store's Dialect. The
	// caller must close the rows before the next Query or Close.
	// Cancelling ctx interrupts the statement.
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	// LastQueryStats reports what the last Query read, as far as the store
	// can tell.
	LastQueryStats() QueryStats
	// DecodeValue turns a value that Query returned for a typed column of
	// the given kind (a Column's Name selected as is, not NULL) into the
	// field value that was stored.
	DecodeValue(kind event.Kind, v any) event.Value
	// Close ends the snapshot.
	Close() error
}

// QueryStats is what one query read.
type QueryStats struct {
	// RowsMatched is the number of rows that passed the query's filters:
	// what its aggregation, sort or limit took in.
	RowsMatched int64
}

// Batch is a unit of ingest: events that are committed together.
type Batch struct {
	// Key makes the batch idempotent: a client that retries a batch whose
	// acknowledgement it lost sends the same key. Empty means no check.
	Key string
	// Events may belong to different groups.
	Events []event.Event
	// IngestTime is @ingestionTime in Unix milliseconds (0: now).
	IngestTime int64
}

// Group describes one log group.
type Group struct {
	Name          string `json:"name"`
	Created       int64  `json:"createdMs"`
	RetentionDays int    `json:"retentionDays"`
	Events        int64  `json:"storedEvents"`
	Bytes         int64  `json:"storedBytes"`
}

// Schema is where a group's fields live. Query compilers read it to turn
// field names into column expressions.
type Schema struct {
	Group string
	// Table is the group's table name in the store's SQL.
	Table string
	// Fields maps a field name to its columns, one per kind it was seen
	// with, in the order they were added.
	Fields map[string][]Column
	// Shapes maps shape ids (the system column "shape") to shapes.
	Shapes map[int32]*event.Shape
	// MinTime and MaxTime bound the @timestamp of the group's events (Unix
	// ms): no event lies outside, though retention may have deleted the
	// events at the edges. A query whose range covers both needs no time
	// filter. Both are 0 when the group has no events.
	MinTime, MaxTime int64
	// Events is the number of events in the group as the snapshot sees
	// them, when EventsKnown: a query over the whole group reports it as
	// the records scanned without counting them. Stores that cannot tell
	// cheaply and exactly leave EventsKnown false.
	Events      int64
	EventsKnown bool
	// CountExpr, when not empty, is a scalar SQL expression that counts
	// the rows of Table without reading them, as of when the statement
	// that holds it starts (like count(*) in a scalar subquery). The query
	// compiler counts the rows scanned with it when it needs no time
	// filter.
	CountExpr string
}

// Column is one physical column holding one kind of a field's values.
type Column struct {
	Field string
	Kind  event.Kind
	Name  string
}

// The system columns every group table has. @log is not stored: it is the
// group name.
const (
	ColTime      = "ts"     // @timestamp, BIGINT Unix ms
	ColIngest    = "ingest" // @ingestionTime, BIGINT Unix ms
	ColStream    = "stream" // @logStream
	ColMessage   = "msg"    // @message when it cannot be rebuilt, else NULL
	ColShape     = "shape"  // shape id when @message is rebuilt, else NULL
	DefaultLimit = 10000
)

// ScanRequest selects events for Scan.
type ScanRequest struct {
	Group    string
	From, To int64 // Unix ms, To exclusive; To == 0 means no upper bound
	Limit    int   // 0 means no limit
}

// Stats is the store's size.
type Stats struct {
	// DiskBytes is everything the store keeps on disk (0 when remote).
	DiskBytes int64
	Groups    int
	Events    int64
}
