package load

import (
	"math"
	"time"
)

type phaseKind int

const (
	phaseRate phaseKind = iota
	phaseRamp
	phaseCount
	phasePause
)

// Phase is one load phase of config.phases.
type Phase struct {
	// Name is the phase's name ("" prints as "unnamed").
	Name string
	// Index is the phase's position in config.phases.
	Index int
	// Duration is the phase's length (pause phases: Pause).
	Duration time.Duration
	// ArrivalRate is new virtual users per second (start rate of a ramp).
	ArrivalRate float64
	// RampTo is the rate a ramp ends at.
	RampTo float64
	// ArrivalCount is the number of arrivals spread evenly over Duration.
	ArrivalCount int
	// Pause is the length of a pause phase.
	Pause time.Duration
	// MaxVusers caps the number of concurrently active virtual users; an
	// arrival over the cap is skipped (vusers.skipped).
	MaxVusers int

	kind phaseKind
}

// Length returns how long the phase lasts.
func (p *Phase) Length() time.Duration {
	if p.kind == phasePause {
		return p.Pause
	}
	return p.Duration
}

// DisplayName returns the name printed in phase logs.
func (p *Phase) DisplayName() string {
	if p.Name == "" {
		return "unnamed"
	}
	return p.Name
}

// Arrivals returns the number of arrivals of the phase.
func (p *Phase) Arrivals() int64 {
	switch p.kind {
	case phaseRate:
		return int64(math.Floor(p.Duration.Seconds()*p.ArrivalRate + 1e-9))
	case phaseCount:
		return int64(p.ArrivalCount)
	case phaseRamp:
		var n int64
		secs := p.rampSeconds()
		for i := 0; i < secs; i++ {
			n += int64(p.rampArrivals(i))
		}
		return n
	}
	return 0
}

func (p *Phase) rampSeconds() int {
	s := int(p.Duration / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// rampArrivals is Artillery's count of arrivals in second i of a ramp. The
// rate of second i is raw = (rampTo-arrivalRate)/(duration-1)*i +
// arrivalRate (the mean of both rates for a one-second ramp); Artillery's
// adjustArrivalsByWorker then takes floor(raw) and adds one when
// Math.round(fraction * totalWorkers) >= worker, which for a local run (one
// worker, numbered 1) is Math.round(raw). Artillery 2.0.34 emits 1, 1, 2,
// 2, 3, 3 arrivals for a 6 s ramp from 1 to 3, not the floors 1, 1, 1, 2, 2,
// 3 (see TestSameCountsAsArtillery).
func (p *Phase) rampArrivals(i int) int {
	secs := p.rampSeconds()
	var raw float64
	if secs == 1 {
		raw = (p.RampTo + p.ArrivalRate) / 2
	} else {
		// Same operations in the same order as Artillery's JavaScript, so
		// the floating-point result is identical.
		raw = (p.RampTo-p.ArrivalRate)/float64(secs-1)*float64(i) + p.ArrivalRate
	}
	n := int(math.Floor(raw))
	if math.Floor(math.Mod(raw, 1)+0.5) >= 1 { // Math.round(fraction * 1) >= 1
		n++
	}
	return n
}

// Schedule walks the intended arrival times of a list of phases in order.
// It is a pure function of the phases: the k-th arrival's time is computed
// from k, never accumulated from timer ticks, so the plan does not drift
// however late the generator runs. The zero time is the start of the first
// phase.
type Schedule struct {
	phases []Phase
	// position
	phase  int
	start  time.Duration // start offset of the current phase
	k      int64         // arrivals emitted in the current phase
	n      int64         // arrivals of the current phase
	second int           // ramp: current second
	inSec  int           // ramp: arrivals emitted in the current second
	// ramp: arrivals and tick of the current second
	secN    int
	secTick time.Duration
}

// NewSchedule returns a schedule positioned before the first arrival.
func NewSchedule(phases []Phase) *Schedule {
	s := &Schedule{phases: phases}
	if len(phases) > 0 {
		s.n = phases[0].Arrivals()
	}
	return s
}

// Arrival is one intended arrival.
type Arrival struct {
	// At is the intended time, relative to the start of the first phase.
	At time.Duration
	// Phase is the index of the arrival's phase.
	Phase int
}

// Next returns the next arrival, or false when the schedule is over.
func (s *Schedule) Next() (Arrival, bool) {
	for s.phase < len(s.phases) {
		p := &s.phases[s.phase]
		if at, ok := s.nextIn(p); ok {
			return Arrival{At: s.start + at, Phase: s.phase}, true
		}
		s.start += p.Length()
		s.phase++
		s.k, s.second, s.inSec = 0, 0, 0
		if s.phase < len(s.phases) {
			s.n = s.phases[s.phase].Arrivals()
		}
	}
	return Arrival{}, false
}

// PhaseStart returns the start offset of phase i.
func (s *Schedule) PhaseStart(i int) time.Duration {
	var d time.Duration
	for j := 0; j < i && j < len(s.phases); j++ {
		d += s.phases[j].Length()
	}
	return d
}

// Total returns the total length of all phases.
func (s *Schedule) Total() time.Duration { return s.PhaseStart(len(s.phases)) }

func (s *Schedule) nextIn(p *Phase) (time.Duration, bool) {
	switch p.kind {
	case phaseRate:
		// One arrival every 1000/arrivalRate ms, the first one interval
		// after the phase starts (Artillery's uniform arrival process).
		if s.k >= s.n {
			return 0, false
		}
		s.k++
		return time.Duration(float64(s.k) * float64(time.Second) / p.ArrivalRate), true
	case phaseCount:
		if s.k >= s.n {
			return 0, false
		}
		s.k++
		interval := float64(p.Duration) / float64(p.ArrivalCount)
		return time.Duration(float64(s.k) * interval), true
	case phaseRamp:
		secs := p.rampSeconds()
		for s.second < secs {
			if s.inSec == 0 {
				// Artillery ticks every floor(1000/n) ms inside the second,
				// first tick one interval in.
				s.secN = p.rampArrivals(s.second)
				if s.secN > 0 {
					s.secTick = time.Duration(math.Min(math.Floor(1000/float64(s.secN)), 1000)) * time.Millisecond
				}
			}
			if s.inSec < s.secN {
				s.inSec++
				return time.Duration(s.second)*time.Second + time.Duration(s.inSec)*s.secTick, true
			}
			s.second++
			s.inSec = 0
		}
		return 0, false
	}
	return 0, false
}
