package plc

import (
	"errors"
	"math"
	"strconv"
)

// Access says whether a tag may be written.
type Access uint8

// Access modes. The zero Access is ReadOnly: a tag is writable only when
// its definition says so.
const (
	ReadOnly Access = iota
	ReadWrite
)

// String returns "ro" or "rw".
func (a Access) String() string {
	if a == ReadWrite {
		return "rw"
	}
	return "ro"
}

// DeadbandMode says how a tag's deadband is measured.
type DeadbandMode uint8

// Deadband modes. With DeadbandNone every change is reported.
const (
	DeadbandNone DeadbandMode = iota
	// DeadbandAbsolute: report when |new - last reported| > Value, in
	// engineering units.
	DeadbandAbsolute
	// DeadbandPercent: Value is a percentage of the tag's engineering range
	// (its scaling's EngMin..EngMax, else its write limits).
	DeadbandPercent
)

// Deadband suppresses reports of small changes of a numeric tag.
type Deadband struct {
	Mode  DeadbandMode
	Value float64
}

// Scaling maps a raw device value linearly onto engineering units:
// RawMin..RawMax onto EngMin..EngMax.
type Scaling struct {
	RawMin, RawMax float64
	EngMin, EngMax float64
}

// Limits bound the engineering values a write may set. A nil bound is
// open.
type Limits struct {
	Min, Max *float64
}

// Tag is one point of the point database: a named value in a device.
type Tag struct {
	// Name is unique within a point database, e.g. "Line1.Kiln.Temp".
	Name string
	// Device names the device the tag lives in.
	Device string
	// Address is the tag's location in the device, in the driver's syntax
	// ("DB1.DBD8", "ns=2;s=Line1.Temp"); the driver parses it.
	Address string
	// Type is the tag's type in the device (the raw type when scaled).
	Type   DataType
	Access Access
	// Group names the scan group that polls the tag.
	Group    string
	Deadband Deadband
	// Scaling, when not nil, converts raw device values to engineering
	// units; values above the driver are then LREAL.
	Scaling     *Scaling
	Limits      Limits
	Unit        string
	Description string
	// WriteRole is the lowest role of a person that may write the tag,
	// for consoles that check it: WriteOperator or WriteEngineer (the
	// default, when empty). Files spell it write_role.
	WriteRole string
	// Critical asks consoles for a second confirmation before a write.
	Critical bool
}

// Write roles of a tag (Tag.WriteRole).
const (
	WriteOperator = "operator"
	WriteEngineer = "engineer"
)

// MinWriteRole returns the tag's WriteRole with the default applied.
func (t *Tag) MinWriteRole() string {
	if t.WriteRole == "" {
		return WriteEngineer
	}
	return t.WriteRole
}

// Writable reports whether the tag may be written.
func (t *Tag) Writable() bool { return t.Access == ReadWrite }

// EngType returns the type of the tag's engineering values: LREAL when the
// tag is scaled, else its Type.
func (t *Tag) EngType() DataType {
	if t.Scaling != nil {
		return TypeLReal
	}
	return t.Type
}

// ToEngineering converts a raw device value to engineering units. With
// Scaling it maps the value linearly (values outside RawMin..RawMax are
// extrapolated, not clamped) and returns an LREAL; without Scaling, or for
// a value that is not a number (no value, a STRING), it returns raw as is.
func (t *Tag) ToEngineering(raw Value) Value {
	s := t.Scaling
	if s == nil || !raw.kind.IsNumeric() {
		return raw
	}
	f := raw.Float()
	return FloatValue(LReal, s.EngMin+(f-s.RawMin)*(s.EngMax-s.EngMin)/(s.RawMax-s.RawMin))
}

// ToRaw converts an engineering value to the raw value of the tag's Type
// that a driver writes. With Scaling the value is mapped back linearly and,
// for integer raw types, rounded to the nearest integer (half away from
// zero); the result must fit the raw type (Convert's checks: range, REAL
// range). Without Scaling the value is converted to Type without loss. The
// error is a *ConversionError.
func (t *Tag) ToRaw(eng Value) (Value, error) {
	s := t.Scaling
	if s == nil {
		return Convert(eng, t.Type)
	}
	if !eng.kind.IsNumeric() {
		return Value{}, &ConversionError{Value: eng, To: t.Type, Reason: "scaled tags take numbers"}
	}
	f := eng.Float()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Value{}, &ConversionError{Value: eng, To: t.Type, Reason: "not a finite number"}
	}
	if s.EngMax == s.EngMin {
		return Value{}, &ConversionError{Value: eng, To: t.Type, Reason: "scaling has an empty engineering range"}
	}
	r := s.RawMin + (f-s.EngMin)*(s.RawMax-s.RawMin)/(s.EngMax-s.EngMin)
	if t.Type.Kind.IsInteger() {
		r = math.Round(r)
	}
	raw, err := Convert(FloatValue(LReal, r), t.Type)
	if err != nil {
		// Name the engineering value the caller gave, not the raw one.
		var ce *ConversionError
		if errors.As(err, &ce) {
			return Value{}, &ConversionError{Value: eng, To: t.Type, Reason: "raw value " + strconv.FormatFloat(r, 'g', -1, 64) + " " + ce.Reason}
		}
		return Value{}, err
	}
	return raw, nil
}
