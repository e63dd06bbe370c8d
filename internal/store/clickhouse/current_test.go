package clickhouse_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/query"
	"github.com/sonde-dev/sonde/internal/query/querytest"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/clickhouse"
)

// TestSQLOnCurrentClickHouse runs sonde's ClickHouse SQL on a current
// ClickHouse: Debian packages only 18.16, so the current engine comes as
// chDB (ClickHouse as a library, from npm; scripts/install-chdb.sh). The
// golden dataset goes into 18.16 through the store; the DDL the store ran
// (from its debug log) and the tables' rows then set up the same tables in
// chDB, and every golden query's SQL must give the same rows on both.
func TestSQLOnCurrentClickHouse(t *testing.T) {
	needServer(t)
	if testing.Short() {
		t.Skip("installs and loads chDB")
	}
	chdb := installChDB(t)

	ddl := &ddlLog{}
	database := freshDatabase(t, "current")
	db := open(t, database, func(o *clickhouse.Options) {
		o.Logger = slog.New(ddl)
		o.NoBuffer = true
	})
	defer db.Close()
	querytest.Load(t, db)

	// Every golden query through the engine, keeping the SQL it ran first.
	rec := &recordingStore{Store: db}
	eng, err := query.New(query.Options{Store: rec})
	require.NoError(t, err)
	var names, sqls []string
	for _, c := range querytest.Cases(t) {
		start, end := c.Start, c.End
		if start == 0 {
			start = querytest.Base
		}
		if end == 0 {
			end = querytest.Base + 86_400_000
		}
		rec.first = ""
		_, err := eng.Run(context.Background(), query.Request{Query: c.Query, Groups: c.Groups, Start: time.UnixMilli(start), End: time.UnixMilli(end)})
		if err != nil || rec.first == "" {
			continue // the golden files hold the errors; no SQL to compare
		}
		names, sqls = append(names, c.Name), append(sqls, rec.first)
	}
	require.Greater(t, len(sqls), 50)

	// The same tables in chDB: the settings the store gives servers that
	// know them, the store's DDL, then the rows of 18.16.
	var setup []string
	for k, v := range clickhouse.QuerySettings() {
		setup = append(setup, fmt.Sprintf("SET %s = %v", k, v))
	}
	require.NotEmpty(t, ddl.statements())
	setup = append(setup, ddl.statements()...)
	for _, table := range strings.Fields(clickhouseClient(t, addr1, "SELECT name FROM system.tables WHERE database = '"+database+"' ORDER BY name")) {
		setup = append(setup, copyRows(t, database, table)...)
	}
	got := runChDB(t, chdb, setup, sqls)
	t.Logf("ClickHouse %s (chDB) against 18.16: %d queries, %d DDL statements", got.Version, len(sqls), len(ddl.statements()))

	for i, sql := range sqls {
		want := canonical(t, json.RawMessage(clickhouseClient(t, addr1, sql+" FORMAT JSONCompact")))
		r := got.Results[i]
		if r.Error != "" {
			t.Errorf("%s: current ClickHouse refuses the SQL: %s\n%s", names[i], r.Error, sql)
			continue
		}
		// Rows that tie in the query's order may come in either order.
		if have := canonical(t, r.Data); sortLines(have) != sortLines(want) {
			t.Errorf("%s: current ClickHouse answers\n%s\n18.16 answers\n%s\nto\n%s", names[i], have, want, sql)
		}
	}
}

// copyRows returns the statements that put a table's rows on 18.16 into the
// same table elsewhere. The rows travel as text through a staging table:
// binary columns (trace and span ids) as hex, turned back by unhex.
func copyRows(t *testing.T, database, table string) []string {
	t.Helper()
	full := "`" + database + "`.`" + table + "`"
	var names, reads, inputs, writes []string
	for _, line := range strings.Split(clickhouseClient(t, addr1, "SELECT name, type FROM system.columns WHERE database = '"+database+"' AND table = '"+table+"' FORMAT TabSeparated"), "\n") {
		name, typ, _ := strings.Cut(line, "\t")
		q := "`" + name + "`"
		names = append(names, q)
		if strings.Contains(typ, "FixedString") {
			reads = append(reads, "hex("+q+")")
			inputs = append(inputs, q+" Nullable(String)")
			writes = append(writes, "unhex("+q+")")
			continue
		}
		reads, inputs, writes = append(reads, q), append(inputs, q+" "+typ), append(writes, q)
	}
	rows := clientOutput(t, addr1, "SELECT "+strings.Join(reads, ", ")+" FROM "+full+" FORMAT TabSeparated")
	if rows == "" {
		return nil
	}
	stage := "`" + database + "`.`copy_" + table + "`"
	return []string{
		"CREATE TABLE " + stage + " (" + strings.Join(inputs, ", ") + ") ENGINE = Memory",
		"INSERT INTO " + stage + " (" + strings.Join(names, ", ") + ") FORMAT TabSeparated\n" + rows,
		"INSERT INTO " + full + " (" + strings.Join(names, ", ") + ") SELECT " + strings.Join(writes, ", ") + " FROM " + stage,
		"DROP TABLE " + stage,
	}
}

// installChDB runs scripts/install-chdb.sh (idempotent, cached under
// bench/out) and returns the directory holding node_modules/chdb. The test
// skips where chDB cannot be had (no node, another platform), except in CI.
func installChDB(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../../..")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "install-chdb.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if exit, ok := err.(*exec.ExitError); ok && exit.ExitCode() == 3 && os.Getenv("CI") != "true" {
		t.Skip(strings.TrimSpace(stderr.String()))
	}
	require.NoError(t, err, "install chDB: %s", stderr.String())
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// chdbResult is what scripts/chdb-run.js answers.
type chdbResult struct {
	Version    string `json:"version"`
	SetupError string `json:"setupError"`
	Results    []struct {
		Data  json.RawMessage `json:"data"`
		Error string          `json:"error"`
	} `json:"results"`
}

func runChDB(t *testing.T, dir string, setup, queries []string) chdbResult {
	t.Helper()
	job, err := json.Marshal(map[string][]string{"setup": setup, "queries": queries})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("..", "..", "..", "scripts", "chdb-run.js"), dir)
	cmd.Stdin = bytes.NewReader(job)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chdb-run.js: %s", stderr.String())
	var res chdbResult
	require.NoError(t, json.Unmarshal(out, &res))
	require.Empty(t, res.SetupError, "current ClickHouse refuses sonde's DDL or the rows")
	require.Len(t, res.Results, len(queries))
	return res
}

// canonical writes JSONCompact rows so that both versions' ways of
// writing the same values compare equal: 64-bit integers quoted or not,
// and floats to 10 significant digits (as the golden files keep them).
func canonical(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var doc any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&doc))
	if m, ok := doc.(map[string]any); ok { // clickhouse-client's whole answer
		doc = m["data"]
	}
	var b strings.Builder
	rows, _ := doc.([]any)
	for _, row := range rows {
		cells, _ := row.([]any)
		for j, c := range cells {
			if j > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(cell(c))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func sortLines(s string) string {
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func cell(c any) string {
	switch x := c.(type) {
	case nil:
		return "NULL"
	case json.Number:
		return number(string(x))
	case string:
		if _, err := strconv.ParseFloat(x, 64); err == nil {
			return number(x)
		}
		return strconv.Quote(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = cell(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(c)
}

func number(s string) string {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return s
	}
	return strconv.FormatFloat(f, 'g', 10, 64)
}

// ddlLog keeps the statements the store logs as "ClickHouse DDL".
type ddlLog struct {
	mu  sync.Mutex
	sql []string
}

func (l *ddlLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *ddlLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *ddlLog) WithGroup(string) slog.Handler            { return l }
func (l *ddlLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "ClickHouse DDL" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "sql" {
			l.mu.Lock()
			l.sql = append(l.sql, a.Value.String())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *ddlLog) statements() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.sql...)
}

// recordingStore keeps the first statement each query runs.
type recordingStore struct {
	store.Store
	first string
}

func (r *recordingStore) Snapshot(ctx context.Context) (store.Snapshot, error) {
	snap, err := r.Store.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return &recordingSnapshot{Snapshot: snap, r: r}, nil
}

type recordingSnapshot struct {
	store.Snapshot
	r *recordingStore
}

func (s *recordingSnapshot) Query(ctx context.Context, sql string, args ...any) (*sql.Rows, error) {
	if s.r.first == "" {
		s.r.first = sql
	}
	return s.Snapshot.Query(ctx, sql, args...)
}
