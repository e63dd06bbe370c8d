package duckdb

import (
	"errors"
	"fmt"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// rawConn is the writer's connection, held through DuckDB's C API rather than
// database/sql: the chunk appender needs the C handle, and the writer runs
// its few statements (transactions, DDL, metadata) on the same connection.
type rawConn struct {
	db   mapping.Database
	conn mapping.Connection
}

// openRaw opens the database through duckdb-go's instance cache, so that a
// duckdb.Connector opened on the same path afterwards shares the instance.
// The configuration must match the one duckdb-go uses, or the cache refuses.
func openRaw(path string) (*rawConn, error) {
	var config mapping.Config
	if mapping.CreateConfig(&config) == mapping.StateError {
		return nil, errors.New("create duckdb config")
	}
	defer mapping.DestroyConfig(&config)
	if mapping.SetConfig(config, "duckdb_api", "go") == mapping.StateError {
		return nil, errors.New("configure duckdb")
	}
	r := &rawConn{}
	var errMsg string
	if mapping.GetOrCreateFromCache(duckdb.GetInstanceCache(), path, &r.db, config, &errMsg) == mapping.StateError {
		mapping.Close(&r.db)
		return nil, fmt.Errorf("open %s: %s", path, errMsg)
	}
	if mapping.Connect(r.db, &r.conn) == mapping.StateError {
		mapping.Close(&r.db)
		return nil, fmt.Errorf("connect to %s", path)
	}
	return r, nil
}

// exec runs one statement and returns the number of rows it changed.
// Statements are built with quote for their values; the C API takes
// NUL-terminated text, so values must not contain NUL (see cleanName).
func (r *rawConn) exec(query string) (int64, error) {
	var res mapping.Result
	state := mapping.Query(r.conn, query, &res)
	defer mapping.DestroyResult(&res)
	if state == mapping.StateError {
		return 0, errors.New(mapping.ResultError(&res))
	}
	return int64(mapping.RowsChanged(&res)), nil
}

func (r *rawConn) close() {
	mapping.Disconnect(&r.conn)
	mapping.Close(&r.db)
}

// quote writes s as an SQL string literal.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// cleanName replaces NUL, which the C API cannot carry, in names that go
// into SQL text.
func cleanName(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}
