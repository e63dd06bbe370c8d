//go:build unix

package flock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestLockIsExclusive holds a lock and checks that a second Lock fails
// (flock locks belong to the open file, so this holds within one process
// too) and that closing the file releases it.
func TestLockIsExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "LOCK")
	f, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: got %v, want ErrLocked", err)
	}
	f.Close()
	g, err := Lock(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	g.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}
