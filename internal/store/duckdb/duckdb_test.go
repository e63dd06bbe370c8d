package duckdb_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
	"github.com/sonde-dev/sonde/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	storetest.Run(t, func(t *testing.T, key string) store.Store {
		db, err := duckdb.Open(context.Background(), duckdb.Options{Dir: filepath.Join(dir, key), MemoryLimit: "256MB", Threads: 2})
		require.NoError(t, err)
		return db
	})
}
