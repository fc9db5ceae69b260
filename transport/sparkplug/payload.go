package sparkplug

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/sparkplug/spb"
)

// Metric names the specification reserves.
const (
	// MetricBdSeq is the birth/death sequence number of NBIRTH and NDEATH.
	MetricBdSeq = "bdSeq"
	// MetricRebirth, written true in an NCMD, asks the node for new births.
	MetricRebirth = "Node Control/Rebirth"
	// MetricNextServer, written true in an NCMD, moves the node to the
	// next MQTT server of its list.
	MetricNextServer = "Node Control/Next Server"
)

// Property keys kiln puts on a metric in a birth, from the point
// database. PropQuality follows the convention hosts such as Ignition
// read: 192 good, 0 bad, 500 stale.
const (
	PropEngUnit     = "engUnit"
	PropEngLow      = "engLow"
	PropEngHigh     = "engHigh"
	PropDescription = "description"
	PropReadOnly    = "readOnly"
	PropQuality     = "Quality"
)

// Quality codes of PropQuality.
const (
	QualityBad   int32 = 0
	QualityGood  int32 = 192
	QualityStale int32 = 500
)

// ErrPayload is matched by the errors of Decode.
var ErrPayload = errors.New("sparkplug: bad payload")

// Encode marshals a payload.
func Encode(p *spb.Payload) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(p)
}

// Decode unmarshals a payload received on topic (named in the error).
func Decode(topic string, data []byte) (*spb.Payload, error) {
	p := new(spb.Payload)
	if err := proto.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("%w on %s (%d bytes): %v", ErrPayload, topic, len(data), err)
	}
	return p, nil
}

// Millis returns t as Sparkplug's milliseconds since the epoch.
func Millis(t time.Time) *uint64 {
	ms := uint64(t.UnixMilli())
	return &ms
}

// Uint64 returns a pointer to v, for the payload's optional fields.
func Uint64(v uint64) *uint64 { return &v }

// Name returns a pointer to s, for the payload's optional strings.
func Name(s string) *string { return &s }

// QualityCode returns the PropQuality code of q.
func QualityCode(q plc.Quality) int32 {
	switch {
	case q.IsGood():
		return QualityGood
	case q.Reason == plc.ReasonStale:
		return QualityStale
	}
	return QualityBad
}

// QualityOf returns the kiln quality of a PropQuality code.
func QualityOf(code int32) plc.Quality {
	switch code {
	case QualityGood:
		return plc.Good
	case QualityStale:
		return plc.Quality{Status: plc.StatusUncertain, Reason: plc.ReasonStale, Detail: "sparkplug: stale"}
	}
	return plc.Bad(plc.ReasonDeviceError, "sparkplug: bad quality")
}

// Property returns a metric's property by key, or nil.
func Property(m *spb.Payload_Metric, key string) *spb.Payload_PropertyValue {
	ps := m.GetProperties()
	for i, k := range ps.GetKeys() {
		if k == key && i < len(ps.GetValues()) {
			return ps.GetValues()[i]
		}
	}
	return nil
}

// SetProperty sets a metric's property (adding the property set when the
// metric has none).
func SetProperty(m *spb.Payload_Metric, key string, v *spb.Payload_PropertyValue) {
	if m.Properties == nil {
		m.Properties = &spb.Payload_PropertySet{}
	}
	for i, k := range m.Properties.Keys {
		if k == key {
			m.Properties.Values[i] = v
			return
		}
	}
	m.Properties.Keys = append(m.Properties.Keys, key)
	m.Properties.Values = append(m.Properties.Values, v)
}

// StringProp, DoubleProp, BoolProp and Int32Prop make property values.
func StringProp(s string) *spb.Payload_PropertyValue {
	t := uint32(TypeString)
	return &spb.Payload_PropertyValue{Type: &t, Value: &spb.Payload_PropertyValue_StringValue{StringValue: s}}
}

// DoubleProp makes a Double property value.
func DoubleProp(f float64) *spb.Payload_PropertyValue {
	t := uint32(TypeDouble)
	return &spb.Payload_PropertyValue{Type: &t, Value: &spb.Payload_PropertyValue_DoubleValue{DoubleValue: f}}
}

// BoolProp makes a Boolean property value.
func BoolProp(b bool) *spb.Payload_PropertyValue {
	t := uint32(TypeBoolean)
	return &spb.Payload_PropertyValue{Type: &t, Value: &spb.Payload_PropertyValue_BooleanValue{BooleanValue: b}}
}

// Int32Prop makes an Int32 property value (two's complement in
// int_value).
func Int32Prop(i int32) *spb.Payload_PropertyValue {
	t := uint32(TypeInt32)
	return &spb.Payload_PropertyValue{Type: &t, Value: &spb.Payload_PropertyValue_IntValue{IntValue: uint32(i)}}
}

// State is the payload of a host application's STATE message (Sparkplug
// 3.0: JSON, retained, QoS 1).
type State struct {
	Online    bool  `json:"online"`
	Timestamp int64 `json:"timestamp"` // milliseconds since the epoch
}

// EncodeState returns the JSON of a STATE message.
func EncodeState(s State) []byte {
	b, _ := json.Marshal(s) // two plain fields: cannot fail
	return b
}

// ParseState parses a STATE payload.
func ParseState(data []byte) (State, error) {
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, fmt.Errorf("%w: STATE is not {\"online\":bool,\"timestamp\":ms}: %v", ErrPayload, err)
	}
	return s, nil
}

// BatchID names the kiln sample batch a DDATA carries, so that a host
// writing into kiln's historian stores a batch replayed after an outage
// exactly once. It travels in the payload's uuid field as
// "kiln-batch:1:<epoch>:<seq>:<source>"; other hosts ignore it.
type BatchID struct {
	Source     string
	Epoch, Seq uint64
}

const batchPrefix = "kiln-batch:1:"

// String formats the id for the payload's uuid field.
func (b BatchID) String() string {
	return fmt.Sprintf("%s%d:%d:%s", batchPrefix, b.Epoch, b.Seq, b.Source)
}

// ParseBatchID parses a payload's uuid; ok is false when it is not a
// kiln batch id.
func ParseBatchID(uuid string) (id BatchID, ok bool) {
	rest, found := strings.CutPrefix(uuid, batchPrefix)
	if !found {
		return BatchID{}, false
	}
	epoch, rest, ok1 := strings.Cut(rest, ":")
	seq, source, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || source == "" {
		return BatchID{}, false
	}
	e, err1 := strconv.ParseUint(epoch, 10, 64)
	s, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return BatchID{}, false
	}
	return BatchID{Source: source, Epoch: e, Seq: s}, true
}
