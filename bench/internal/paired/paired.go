// Package paired times two ways of doing the same thing against each
// other, for the benchmarks that compare sonde with a baseline.
package paired

import (
	"slices"
	"time"
)

// Medians runs a and b once to warm up, then runs them in turn, so that
// both see the same load on a shared machine, and returns the median time
// of each over runs runs.
func Medians(runs int, a, b func()) (time.Duration, time.Duration) {
	a()
	b()
	da, db := make([]time.Duration, runs), make([]time.Duration, runs)
	for i := range da {
		t := time.Now()
		a()
		da[i] = time.Since(t)
		t = time.Now()
		b()
		db[i] = time.Since(t)
	}
	slices.Sort(da)
	slices.Sort(db)
	return da[runs/2], db[runs/2]
}
