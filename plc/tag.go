package plc

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
}

// Writable reports whether the tag may be written.
func (t *Tag) Writable() bool { return t.Access == ReadWrite }
