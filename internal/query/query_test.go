package query_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/query/querytest"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

func TestGoldenDuckDB(t *testing.T) {
	db, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 2})
	require.NoError(t, err)
	defer db.Close()
	querytest.Run(t, db)
}

func TestMessagesDuckDB(t *testing.T) {
	db, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 2})
	require.NoError(t, err)
	defer db.Close()
	querytest.RunMessages(t, db)
}
