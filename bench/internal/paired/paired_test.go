package paired

import (
	"testing"
	"time"
)

func TestMediansTimesEachSide(t *testing.T) {
	var na, nb int
	slow, fast := func() { na++; time.Sleep(3 * time.Millisecond) }, func() { nb++ }
	a, b := Medians(5, slow, fast)
	if na != 6 || nb != 6 {
		t.Fatalf("ran a %d and b %d times, want 6 each (one warm-up)", na, nb)
	}
	if a < 3*time.Millisecond || b < 0 {
		t.Fatalf("medians a=%v b=%v", a, b)
	}
}
