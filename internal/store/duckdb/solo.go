package duckdb

import (
	"fmt"
	"time"
)

// soloIdle is how long the writer keeps DuckDB to one thread after a
// commit. Commits that follow each other closer than this (a busy ingest
// stream) do not pay for stopping and starting the worker threads each
// time; a query that comes after ingest went quiet has every thread.
const soloIdle = 20 * time.Millisecond

// soloState records whether the writer has taken DuckDB's worker threads
// away (see soloWriter). Guarded by DB.wmu.
type soloState struct {
	on    bool
	idle  time.Duration // soloIdle; tests lengthen it
	timer *time.Timer
}

func (s *soloState) stop() {
	if s.timer != nil {
		s.timer.Stop()
	}
}

// soloWriter takes DuckDB's worker threads away while the writer appends,
// commits and checkpoints. The caller holds wmu.
//
// The writer's statements are single pipelines. When a worker thread picks
// one up, the calling thread busy-waits for it in
// PendingQueryResult::ExecuteInternal and TaskExecutor::WorkOnTasks
// (duckdb/duckdb#22178; DuckDB 1.4.5, which duckdb-go v2.5 bundles, has no
// fix): a fifth of the server's CPU while ingesting went to that spinning. With one thread the caller runs the pipelines itself. Queries
// that run meanwhile run on their own thread until the writer gives the
// workers back (releaseSoloLater).
func (d *DB) soloWriter() error {
	d.solo.stop()
	if d.solo.on || d.opts.Threads <= 1 {
		return nil
	}
	if _, err := d.w.exec("SET threads = 1"); err != nil {
		return fmt.Errorf("lend worker threads to the writer: %w", err)
	}
	d.solo.on = true
	return nil
}

// releaseSoloLater gives DuckDB its worker threads back once the writer has
// been idle for soloIdle. The caller holds wmu.
func (d *DB) releaseSoloLater() {
	if !d.solo.on {
		return
	}
	if d.solo.timer == nil {
		d.solo.timer = time.AfterFunc(d.solo.idle, d.releaseSolo)
		return
	}
	d.solo.timer.Reset(d.solo.idle)
}

func (d *DB) releaseSolo() {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if !d.solo.on || d.closed.Load() {
		return
	}
	if _, err := d.w.exec(fmt.Sprintf("SET threads = %d", d.opts.Threads)); err != nil {
		d.log.Warn("Giving DuckDB its worker threads back failed", "err", err)
		return
	}
	d.solo.on = false
}
