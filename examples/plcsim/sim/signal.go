package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/kiln-iot/kiln/plc"
)

// SignalKind names a signal generator.
type SignalKind string

// The signal generators. Values are in engineering units; Noise adds
// Gaussian noise of that standard deviation to every value.
const (
	// Constant holds Offset.
	Constant SignalKind = "constant"
	// Sine oscillates around Offset by Amplitude with Period.
	Sine SignalKind = "sine"
	// Ramp rises from Offset to Offset+Amplitude over Period, then starts
	// again (a sawtooth).
	Ramp SignalKind = "ramp"
	// Walk is a random walk starting at Offset, moving by Gaussian steps of
	// deviation Step (default Amplitude/20) each update, kept within
	// Offset±Amplitude.
	Walk SignalKind = "walk"
	// Square alternates between Offset (first half of Period) and
	// Offset+Amplitude (second half): a step signal; for BOOLs, a blinking
	// bit with Amplitude 1.
	Square SignalKind = "square"
	// Counter adds Step (default 1) every update; with an Amplitude it
	// wraps from Offset+Amplitude back to Offset.
	Counter SignalKind = "counter"
)

// Signal drives a tag's value over time.
type Signal struct {
	Kind      SignalKind    `yaml:"kind"`
	Offset    float64       `yaml:"offset"`
	Amplitude float64       `yaml:"amplitude"`
	Period    time.Duration `yaml:"period"`
	Noise     float64       `yaml:"noise"`
	Step      float64       `yaml:"step"`
}

type signalError struct{ field, msg string }

func (s *Signal) check(t plc.DataType) *signalError {
	switch s.Kind {
	case Constant, Walk, Counter:
	case Sine, Ramp, Square:
		if s.Period <= 0 {
			return &signalError{".period", fmt.Sprintf("a %s signal needs a positive period", s.Kind)}
		}
	case "":
		return &signalError{".kind", "missing"}
	default:
		return &signalError{".kind", fmt.Sprintf("unknown signal %q (want constant, sine, ramp, walk, square or counter)", s.Kind)}
	}
	if !t.Kind.IsNumeric() && t.Kind != plc.Bool {
		return &signalError{"", fmt.Sprintf("a signal needs a numeric or BOOL tag, not %s", t)}
	}
	if s.Noise < 0 || s.Amplitude < 0 || s.Step < 0 {
		return &signalError{"", "noise, amplitude and step must not be negative"}
	}
	return nil
}

// Next returns the signal's value at elapsed time since the start, given
// its previous value (for Walk and Counter; Offset at the start) and a
// random source for noise and walks.
func (s *Signal) Next(elapsed time.Duration, prev float64, r *rand.Rand) float64 {
	var v float64
	phase := 0.0
	if s.Period > 0 {
		phase = math.Mod(float64(elapsed), float64(s.Period)) / float64(s.Period)
	}
	switch s.Kind {
	case Constant:
		v = s.Offset
	case Sine:
		v = s.Offset + s.Amplitude*math.Sin(2*math.Pi*phase)
	case Ramp:
		v = s.Offset + s.Amplitude*phase
	case Square:
		v = s.Offset
		if phase >= 0.5 {
			v += s.Amplitude
		}
	case Walk:
		step := s.Step
		if step == 0 {
			step = s.Amplitude / 20
		}
		v = min(max(prev+r.NormFloat64()*step, s.Offset-s.Amplitude), s.Offset+s.Amplitude)
		return v // noise would make the walk itself noisier; Step is its noise
	case Counter:
		step := s.Step
		if step == 0 {
			step = 1
		}
		v = prev + step
		if s.Amplitude > 0 && v > s.Offset+s.Amplitude {
			v = s.Offset
		}
		return v
	}
	if s.Noise > 0 {
		v += r.NormFloat64() * s.Noise
	}
	return v
}

// rawValue converts an engineering value to the raw value of t's type:
// through its scaling, rounded for integers, true from 0.5 on for BOOLs,
// clamped to the type's range so a noisy signal never fails to store.
func rawValue(t *plc.Tag, eng float64) (plc.Value, error) {
	if t.Type.Kind == plc.Bool {
		return plc.BoolValue(eng >= 0.5), nil
	}
	if t.Scaling != nil {
		sc := t.Scaling
		lo, hi := min(sc.EngMin, sc.EngMax), max(sc.EngMin, sc.EngMax)
		eng = min(max(eng, lo), hi)
		return t.ToRaw(plc.FloatValue(plc.LReal, eng))
	}
	if t.Type.Kind.IsInteger() {
		eng = math.Round(eng)
		lo, hi := intRange(t.Type.Kind)
		eng = min(max(eng, lo), hi)
	}
	return plc.Convert(plc.FloatValue(plc.LReal, eng), t.Type)
}

// intRange returns the range of an integer kind as floats, narrowed for
// 64-bit kinds to what a float64 holds exactly.
func intRange(k plc.Kind) (lo, hi float64) {
	bits := k.Bits()
	if bits >= 53 {
		bits = 53
	}
	if k.IsSigned() {
		return -math.Exp2(float64(bits - 1)), math.Exp2(float64(bits-1)) - 1
	}
	return 0, math.Exp2(float64(bits)) - 1
}
