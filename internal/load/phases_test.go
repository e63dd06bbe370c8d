package load

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func parsePhases(t *testing.T, yml string) []Phase {
	t.Helper()
	s, err := Parse([]byte("config:\n  target: http://x\n  phases:\n"+yml+"scenarios:\n  - flow:\n      - get: {url: /}\n"), t.TempDir(), "")
	require.NoError(t, err)
	return s.Config.Phases
}

// perSecond collects the schedule's arrivals per second of plan time.
func perSecond(phases []Phase) map[int]int {
	out := map[int]int{}
	s := NewSchedule(phases)
	for {
		a, ok := s.Next()
		if !ok {
			return out
		}
		// An arrival exactly on a second boundary is the last tick of the
		// previous second (Artillery's ticks start one interval in).
		sec := int((a.At - time.Nanosecond) / time.Second)
		out[sec]++
	}
}

func TestRampArrivalsFollowArtilleryRule(t *testing.T) {
	// The ramp: 120 s from 1 to 10 arrivals/s. Artillery 2 emits
	// Math.round(9/119*i + 1) arrivals in second i (floor plus its
	// one-worker remainder bump; the floor alone would be 601 in total).
	phases := parsePhases(t, "    - duration: 120\n      arrivalRate: 1\n      rampTo: 10\n      name: \"Ramp up to warm up the application\"\n")
	got := perSecond(phases)
	total := 0
	for i := 0; i < 120; i++ {
		want := int(math.Floor(9.0/119.0*float64(i) + 1 + 0.5))
		require.Equal(t, want, got[i], "second %d", i)
		total += want
	}
	require.Equal(t, 1+10, got[0]+got[119], "first and last second")
	require.EqualValues(t, total, phases[0].Arrivals())
	require.Equal(t, 660, total)
}

func TestRampShortAndFlat(t *testing.T) {
	phases := parsePhases(t, "    - {duration: 5, arrivalRate: 1, rampTo: 10}\n    - {duration: 1, arrivalRate: 4, rampTo: 8}\n    - {duration: 6, arrivalRate: 1, rampTo: 3}\n")
	got := perSecond(phases)
	// The last ramp's counts are what Artillery 2.0.34 was measured to
	// send, second by second.
	require.Equal(t, map[int]int{0: 1, 1: 3, 2: 6, 3: 8, 4: 10, 5: 6, 6: 1, 7: 1, 8: 2, 9: 2, 10: 3, 11: 3}, got)
}

func TestArrivalRateAndCountSpacing(t *testing.T) {
	phases := parsePhases(t, `    - {duration: 2, arrivalRate: 4}
    - {pause: 1}
    - {duration: "2s", arrivalCount: 4, name: fixed}
    - {duration: 1, arrivalRate: 0}
`)
	require.Len(t, phases, 4)
	s := NewSchedule(phases)
	var at []time.Duration
	var idx []int
	for {
		a, ok := s.Next()
		if !ok {
			break
		}
		at = append(at, a.At)
		idx = append(idx, a.Phase)
	}
	ms := time.Millisecond
	require.Equal(t, []time.Duration{
		250 * ms, 500 * ms, 750 * ms, 1000 * ms, 1250 * ms, 1500 * ms, 1750 * ms, 2000 * ms,
		3500 * ms, 4000 * ms, 4500 * ms, 5000 * ms,
	}, at)
	require.Equal(t, []int{0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2}, idx)
	require.Equal(t, 6*time.Second, s.Total())
	require.Equal(t, 3*time.Second, s.PhaseStart(2))
	require.Equal(t, "fixed", phases[2].DisplayName())
	require.Equal(t, "unnamed", phases[0].DisplayName())
}

func TestPhaseDurationsAndErrors(t *testing.T) {
	t.Setenv("SONDE_TEST_RATE", "3")
	phases := parsePhases(t, `    - {duration: "2m", arrivalRate: "{{ $env.SONDE_TEST_RATE }}"}
    - {duration: "1500ms", arrivalRate: 2}
    - {pause: "1m"}
`)
	require.Equal(t, 2*time.Minute, phases[0].Duration)
	require.InDelta(t, 3, phases[0].ArrivalRate, 0)
	require.EqualValues(t, 360, phases[0].Arrivals())
	require.Equal(t, 1500*time.Millisecond, phases[1].Duration)
	require.EqualValues(t, 3, phases[1].Arrivals())
	require.Equal(t, time.Minute, phases[2].Length())

	for _, bad := range []string{
		"    - {duration: 10}\n",
		"    - {duration: abc, arrivalRate: 1}\n",
		"    - {arrivalRate: 1}\n",
		"    - {duration: 10, arrivalRate: 1, bogus: 2}\n",
		"    - {duration: 1.5, arrivalRate: 1, rampTo: 3}\n",
	} {
		_, err := Parse([]byte("config:\n  target: http://x\n  phases:\n"+bad+"scenarios:\n  - flow:\n      - get: {url: /}\n"), t.TempDir(), "")
		require.Error(t, err, bad)
	}
}

func TestParseMS(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"500ms": 500 * time.Millisecond, "2m": 2 * time.Minute, "1.5h": 90 * time.Minute,
		"10 seconds": 10 * time.Second, "100": 100 * time.Millisecond, "1d": 24 * time.Hour,
	} {
		got, err := ParseMS(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := ParseMS("soon")
	require.Error(t, err)
}
