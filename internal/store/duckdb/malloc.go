package duckdb

/*
#include <malloc.h>

static void limit_arenas(int n) {
#ifdef M_ARENA_MAX
	mallopt(M_ARENA_MAX, n);
#endif
}
*/
import "C"

// limitMallocArenas caps glibc's malloc arenas, which DuckDB allocates from,
// at one per DuckDB thread.
//
// glibc gives each OS thread that allocates its own arena, up to eight per
// core. Go runs cgo calls on whichever OS thread is free, so DuckDB's
// allocations spread over a dozen arenas that each keep what was freed in
// them: tens of megabytes of resident memory nobody uses. Fewer arenas
// also keep the allocator's memory in cache. The setting is per process;
// the last store opened wins, which is harmless as every store asks for
// the same. It is a no-op on C libraries without M_ARENA_MAX.
func limitMallocArenas(n int) {
	if n < 1 {
		n = 1
	}
	C.limit_arenas(C.int(n))
}
