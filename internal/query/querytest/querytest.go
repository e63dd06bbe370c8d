// Package querytest runs the Logs Insights golden tests against any store:
// it loads the fixed dataset of internal/query/testdata into a fresh store,
// runs every query of queries.yaml through the query engine and compares
// the answers with golden/<name>.json. Every store implementation runs it,
// so both dialects must give the same answers.
package querytest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/query"
	"github.com/sonde-dev/sonde/internal/query/dataset"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files of the query tests")

// Base is the dataset's day: 2026-11-20T00:00:00Z, the @timestamp of lines
// that carry none.
const Base = dataset.Base

// Case is one query of queries.yaml.
type Case struct {
	Name   string   `yaml:"name"`
	Query  string   `yaml:"query"`
	Groups []string `yaml:"groups"`
	Start  int64    `yaml:"start"`
	End    int64    `yaml:"end"`
}

// Golden is the part of a result the golden files keep: everything but
// timings and byte estimates, with numbers rounded to 10 significant digits
// so that stores may differ in the last bits of a float.
type Golden struct {
	Columns        []string `json:"columns,omitempty"`
	ColumnTypes    []string `json:"columnTypes,omitempty"`
	Rows           [][]any  `json:"rows,omitempty"`
	Visualization  string   `json:"visualization,omitempty"`
	RecordsMatched int64    `json:"recordsMatched"`
	RecordsScanned int64    `json:"recordsScanned"`
	Error          string   `json:"error,omitempty"`
}

func dir() string { return dataset.Dir() }

// Dataset parses testdata/dataset.yaml into events, group by group.
func Dataset(t testing.TB) []event.Event { return dataset.Load(t) }

// Cases reads testdata/queries.yaml.
func Cases(t testing.TB) []Case {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir(), "queries.yaml"))
	require.NoError(t, err)
	var cases []Case
	require.NoError(t, yaml.Unmarshal(data, &cases))
	return cases
}

// Load appends the dataset to s.
func Load(t testing.TB, s store.Store) {
	t.Helper()
	require.NoError(t, s.Append(context.Background(), &store.Batch{Events: Dataset(t), IngestTime: Base + 3_600_000}))
}

// Run loads the dataset into s and checks every golden query.
func Run(t *testing.T, s store.Store) {
	Load(t, s)
	eng, err := query.New(query.Options{Store: s})
	require.NoError(t, err)
	for _, c := range Cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			start, end := c.Start, c.End
			if start == 0 {
				start = Base
			}
			if end == 0 {
				end = Base + 86_400_000
			}
			res, err := eng.Run(context.Background(), query.Request{
				Query: c.Query, Groups: c.Groups, Start: time.UnixMilli(start), End: time.UnixMilli(end),
			})
			got := Golden{}
			if err != nil {
				got.Error = err.Error()
			} else {
				got = Golden{Columns: res.Columns, ColumnTypes: res.ColumnTypes, Rows: normalize(res.Rows),
					Visualization: res.Visualization, RecordsMatched: res.Stats.RecordsMatched, RecordsScanned: res.Stats.RecordsScanned}
			}
			path := filepath.Join(dir(), "golden", c.Name+".json")
			text, err := json.MarshalIndent(got, "", "  ")
			require.NoError(t, err)
			text = append(text, '\n')
			if *update {
				require.NoError(t, os.WriteFile(path, text, 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "no golden file: run go test ./internal/query/ -update")
			require.JSONEq(t, string(want), string(text), "query %q", c.Query)
		})
	}
}

func normalize(rows [][]any) [][]any {
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = make([]any, len(r))
		for j, v := range r {
			if f, ok := v.(float64); ok && f != math.Trunc(f) {
				v, _ = strconv.ParseFloat(fmt.Sprintf("%.10g", f), 64)
			}
			out[i][j] = v
		}
	}
	return out
}

// RunMessages checks that @message, rebuilt by the engine or by the store's
// SQL, is the text the event model rebuilds (for JSON events) or keeps (for
// others), for every event of the dataset and of store conformance lines.
func RunMessages(t *testing.T, s store.Store) {
	events := append(Dataset(t), storetest.Parse(t, "messages", append(storetest.Lines,
		`{"f":[1e21,1e-7,0.1,100.0,-0.0,123456789012345678901,5e-324],"k\"q":"\u001f\t\\","u":"ü€😀"}`)...)...)
	for i := range events {
		events[i].Group = "messages"
		events[i].Time = Base + int64(i)
	}
	require.NoError(t, s.Append(context.Background(), &store.Batch{Events: events}))
	eng, err := query.New(query.Options{Store: s})
	require.NoError(t, err)
	// The first query shows @message as is, which the engine rebuilds
	// (insights.MessageRebuild); the second computes with it, which SQL
	// rebuilds. Both must give back every line.
	for _, q := range []string{"fields @message | sort @timestamp asc", "fields @message as m | sort @timestamp asc"} {
		res, err := eng.Run(context.Background(), query.Request{
			Query: q, Groups: []string{"messages"},
			Start: time.UnixMilli(Base), End: time.UnixMilli(Base + 86_400_000),
		})
		require.NoError(t, err)
		require.Len(t, res.Rows, len(events))
		for i, ev := range events {
			want := ev.Message
			if ev.Shape != nil {
				want = ev.Rebuild()
			}
			require.Equal(t, want, res.Rows[i][0], "%s: event %d", q, i)
		}
	}
}
