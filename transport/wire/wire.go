package wire

import (
	"errors"
	"fmt"
	"math"
	"mime"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport"
)

// ContentType is the content type of a message holding an encoded Batch,
// naming the schema version.
const ContentType = "application/x-kiln-batch+protobuf; v=1"

// Message property names set by ToMessage.
const (
	PropContentType = "content-type"
	PropTenant      = "tenant"
)

var (
	// ErrContentType is returned by FromMessage for a message that is not
	// a version-1 batch.
	ErrContentType = errors.New("wire: not a kiln batch of a supported version")
)

// Batch is a batch of samples from one source.
type Batch struct {
	// Source identifies the gateway that read the samples.
	Source string
	// Tenant is the customer the samples belong to.
	Tenant string
	// Seq increases with every batch of a source.
	Seq uint64
	// Epoch names one run of Seq: a source picks a new random epoch
	// whenever its sequence may start over, so (Source, Epoch, Seq)
	// names one batch. 0 is what sources that predate the field send.
	Epoch   uint64
	Samples []plc.Sample
}

// DecodeError reports undecodable bytes: the byte offset in the
// payload, the field being decoded and why.
type DecodeError struct {
	Offset int
	Field  string
	Reason string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("wire: decoding %s at byte %d: %s", e.Field, e.Offset, e.Reason)
}

// Field numbers of batch.proto.
const (
	fBatchSource  = 1
	fBatchTenant  = 2
	fBatchSeq     = 3
	fBatchSamples = 4
	fBatchEpoch   = 5

	fSampleTag     = 1
	fSampleKind    = 2
	fSampleBool    = 3
	fSampleInt     = 4
	fSampleUint    = 5
	fSampleFloat   = 6
	fSampleDouble  = 7
	fSampleString  = 8
	fSampleBytes   = 9
	fSampleTimeVal = 10
	fSampleQuality = 11
	fSampleTime    = 12

	fQualStatus = 1
	fQualReason = 2
	fQualCode   = 3
	fQualDetail = 4
)

// The wire numbers of kinds, statuses and reasons are fixed by
// batch.proto; these tables map them to plc's, whose numbering is its own.
var (
	kindWire = map[plc.Kind]uint64{
		plc.Bool: 1, plc.Byte: 2, plc.Char: 3, plc.SInt: 4, plc.USInt: 5, plc.Word: 6, plc.Int: 7,
		plc.UInt: 8, plc.DWord: 9, plc.DInt: 10, plc.UDInt: 11, plc.Real: 12, plc.LWord: 13,
		plc.LInt: 14, plc.ULInt: 15, plc.LReal: 16, plc.String: 17, plc.DateTime: 18, plc.ByteString: 19,
	}
	wireKind   = invert(kindWire)
	statusWire = map[plc.Status]uint64{plc.StatusBad: 0, plc.StatusUncertain: 1, plc.StatusGood: 2}
	wireStatus = invert(statusWire)
	reasonWire = map[plc.Reason]uint64{
		plc.ReasonNotRead: 0, plc.ReasonNone: 1, plc.ReasonCommFailure: 2, plc.ReasonConfigError: 3,
		plc.ReasonOutOfService: 4, plc.ReasonDeviceError: 5, plc.ReasonStale: 6,
	}
	wireReason = invert(reasonWire)
)

// invert returns the slice indexed by wire number.
func invert[K comparable](m map[K]uint64) []K {
	var n uint64
	for _, w := range m {
		n = max(n, w+1)
	}
	s := make([]K, n)
	for k, w := range m {
		s[w] = k
	}
	return s
}

// AppendBatch appends the protobuf encoding of b (schema kiln.v1.Batch)
// to dst. It does not allocate beyond growing dst.
func AppendBatch(dst []byte, b *Batch) []byte {
	if b.Source != "" {
		dst = protowire.AppendTag(dst, fBatchSource, protowire.BytesType)
		dst = protowire.AppendString(dst, b.Source)
	}
	if b.Tenant != "" {
		dst = protowire.AppendTag(dst, fBatchTenant, protowire.BytesType)
		dst = protowire.AppendString(dst, b.Tenant)
	}
	if b.Seq != 0 {
		dst = protowire.AppendTag(dst, fBatchSeq, protowire.VarintType)
		dst = protowire.AppendVarint(dst, b.Seq)
	}
	if b.Epoch != 0 {
		dst = protowire.AppendTag(dst, fBatchEpoch, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, b.Epoch)
	}
	for i := range b.Samples {
		dst = protowire.AppendTag(dst, fBatchSamples, protowire.BytesType)
		dst = appendNested(dst, func(dst []byte) []byte { return appendSample(dst, &b.Samples[i]) })
	}
	return dst
}

// appendNested appends a length-prefixed submessage written by fn,
// reserving one byte for the length and moving the body if it needs more.
func appendNested(dst []byte, fn func([]byte) []byte) []byte {
	at := len(dst)
	dst = append(dst, 0)
	dst = fn(dst)
	n := len(dst) - at - 1
	size := protowire.SizeVarint(uint64(n))
	if size == 1 {
		dst[at] = byte(n)
		return dst
	}
	for range size - 1 {
		dst = append(dst, 0)
	}
	copy(dst[at+size:], dst[at+1:at+1+n])
	protowire.AppendVarint(dst[at:at], uint64(n))
	return dst
}

func appendSample(dst []byte, s *plc.Sample) []byte {
	if s.Tag != "" {
		dst = protowire.AppendTag(dst, fSampleTag, protowire.BytesType)
		dst = protowire.AppendString(dst, s.Tag)
	}
	v := s.Value
	k := v.Kind()
	if k != plc.KindInvalid {
		dst = protowire.AppendTag(dst, fSampleKind, protowire.VarintType)
		dst = protowire.AppendVarint(dst, kindWire[k])
	}
	switch {
	case k == plc.KindInvalid:
	case k == plc.Bool:
		dst = protowire.AppendTag(dst, fSampleBool, protowire.VarintType)
		dst = protowire.AppendVarint(dst, protowire.EncodeBool(v.Bool()))
	case k.IsSigned():
		i, _ := v.Int()
		dst = protowire.AppendTag(dst, fSampleInt, protowire.VarintType)
		dst = protowire.AppendVarint(dst, protowire.EncodeZigZag(i))
	case k.IsUnsigned():
		u, _ := v.Uint()
		dst = protowire.AppendTag(dst, fSampleUint, protowire.VarintType)
		dst = protowire.AppendVarint(dst, u)
	case k == plc.Real:
		dst = protowire.AppendTag(dst, fSampleFloat, protowire.Fixed32Type)
		dst = protowire.AppendFixed32(dst, math.Float32bits(float32(v.Float())))
	case k == plc.LReal:
		dst = protowire.AppendTag(dst, fSampleDouble, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, math.Float64bits(v.Float()))
	case k == plc.String:
		dst = protowire.AppendTag(dst, fSampleString, protowire.BytesType)
		dst = protowire.AppendString(dst, v.Str())
	case k == plc.ByteString:
		dst = protowire.AppendTag(dst, fSampleBytes, protowire.BytesType)
		dst = protowire.AppendString(dst, v.Str())
	case k == plc.DateTime:
		i, _ := v.Int()
		dst = protowire.AppendTag(dst, fSampleTimeVal, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, uint64(i))
	}
	if q := s.Quality; q != (plc.Quality{}) {
		dst = protowire.AppendTag(dst, fSampleQuality, protowire.BytesType)
		dst = appendNested(dst, func(dst []byte) []byte { return appendQuality(dst, q) })
	}
	if !s.Time.IsZero() {
		dst = protowire.AppendTag(dst, fSampleTime, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, uint64(s.Time.UnixNano()))
	}
	return dst
}

func appendQuality(dst []byte, q plc.Quality) []byte {
	if w := statusWire[q.Status]; w != 0 {
		dst = protowire.AppendTag(dst, fQualStatus, protowire.VarintType)
		dst = protowire.AppendVarint(dst, w)
	}
	if w := reasonWire[q.Reason]; w != 0 {
		dst = protowire.AppendTag(dst, fQualReason, protowire.VarintType)
		dst = protowire.AppendVarint(dst, w)
	}
	if q.Code != 0 {
		dst = protowire.AppendTag(dst, fQualCode, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(q.Code))
	}
	if q.Detail != "" {
		dst = protowire.AppendTag(dst, fQualDetail, protowire.BytesType)
		dst = protowire.AppendString(dst, q.Detail)
	}
	return dst
}

// decoder walks one message's fields.
type decoder struct {
	b    []byte
	base int // offset of b[0] in the whole payload
	off  int
}

func (d *decoder) fail(field, reason string) error {
	return &DecodeError{Offset: d.base + d.off, Field: field, Reason: reason}
}

// field reads the next tag; ok is false at the end.
func (d *decoder) field(msg string) (protowire.Number, protowire.Type, bool, error) {
	if d.off >= len(d.b) {
		return 0, 0, false, nil
	}
	num, typ, n := protowire.ConsumeTag(d.b[d.off:])
	if n < 0 {
		return 0, 0, false, d.fail(msg, protowire.ParseError(n).Error())
	}
	d.off += n
	return num, typ, true, nil
}

func (d *decoder) varint(field string, typ protowire.Type) (uint64, error) {
	if typ != protowire.VarintType {
		return 0, d.fail(field, "wrong wire type")
	}
	v, n := protowire.ConsumeVarint(d.b[d.off:])
	if n < 0 {
		return 0, d.fail(field, protowire.ParseError(n).Error())
	}
	d.off += n
	return v, nil
}

func (d *decoder) fixed64(field string, typ protowire.Type) (uint64, error) {
	if typ != protowire.Fixed64Type {
		return 0, d.fail(field, "wrong wire type")
	}
	v, n := protowire.ConsumeFixed64(d.b[d.off:])
	if n < 0 {
		return 0, d.fail(field, protowire.ParseError(n).Error())
	}
	d.off += n
	return v, nil
}

func (d *decoder) fixed32(field string, typ protowire.Type) (uint32, error) {
	if typ != protowire.Fixed32Type {
		return 0, d.fail(field, "wrong wire type")
	}
	v, n := protowire.ConsumeFixed32(d.b[d.off:])
	if n < 0 {
		return 0, d.fail(field, protowire.ParseError(n).Error())
	}
	d.off += n
	return v, nil
}

// bytes returns a length-delimited field and the decoder offset of its
// start.
func (d *decoder) bytes(field string, typ protowire.Type) ([]byte, int, error) {
	if typ != protowire.BytesType {
		return nil, 0, d.fail(field, "wrong wire type")
	}
	v, n := protowire.ConsumeBytes(d.b[d.off:])
	if n < 0 {
		return nil, 0, d.fail(field, protowire.ParseError(n).Error())
	}
	start := d.base + d.off + n - len(v)
	d.off += n
	return v, start, nil
}

func (d *decoder) skip(field string, num protowire.Number, typ protowire.Type) error {
	n := protowire.ConsumeFieldValue(num, typ, d.b[d.off:])
	if n < 0 {
		return d.fail(field, protowire.ParseError(n).Error())
	}
	d.off += n
	return nil
}

// Decode decodes a kiln.v1.Batch into b, reusing b.Samples' storage.
// The decoded strings share one copy of data, so data may be reused
// once Decode returns. Unknown fields are skipped. Malformed input returns a *DecodeError
// naming the byte offset; Decode never panics.
func Decode(data []byte, b *Batch) error {
	samples := b.Samples[:0]
	*b = Batch{}
	// One copy of the payload as a string backs every decoded string
	// (tags, details, string values): one allocation per batch instead
	// of one per sample.
	whole := string(data)
	d := decoder{b: data}
	for {
		num, typ, ok, err := d.field("batch")
		if err != nil || !ok {
			b.Samples = samples
			return err
		}
		switch num {
		case fBatchSource:
			v, at, err := d.bytes("source", typ)
			if err != nil {
				return err
			}
			b.Source = whole[at : at+len(v)]
		case fBatchTenant:
			v, at, err := d.bytes("tenant", typ)
			if err != nil {
				return err
			}
			b.Tenant = whole[at : at+len(v)]
		case fBatchSeq:
			if b.Seq, err = d.varint("sequence", typ); err != nil {
				return err
			}
		case fBatchEpoch:
			if b.Epoch, err = d.fixed64("epoch", typ); err != nil {
				return err
			}
		case fBatchSamples:
			v, start, err := d.bytes("samples", typ)
			if err != nil {
				return err
			}
			samples = append(samples, plc.Sample{})
			if err := decodeSample(v, start, whole, &samples[len(samples)-1]); err != nil {
				return err
			}
		default:
			if err := d.skip("batch", num, typ); err != nil {
				return err
			}
		}
	}
}

func decodeSample(data []byte, base int, whole string, s *plc.Sample) error {
	d := decoder{b: data, base: base}
	var (
		kind     uint64
		valField protowire.Number
		num64    uint64
		str      string
	)
	for {
		num, typ, ok, err := d.field("sample")
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		switch num {
		case fSampleTag:
			v, at, err := d.bytes("sample.tag", typ)
			if err != nil {
				return err
			}
			s.Tag = whole[at : at+len(v)]
		case fSampleKind:
			if kind, err = d.varint("sample.kind", typ); err != nil {
				return err
			}
		case fSampleBool, fSampleInt, fSampleUint:
			if num64, err = d.varint("sample.value", typ); err != nil {
				return err
			}
			valField = num
		case fSampleFloat:
			v, err := d.fixed32("sample.float_value", typ)
			if err != nil {
				return err
			}
			num64, valField = uint64(v), num
		case fSampleDouble, fSampleTimeVal:
			if num64, err = d.fixed64("sample.value", typ); err != nil {
				return err
			}
			valField = num
		case fSampleString, fSampleBytes:
			v, at, err := d.bytes("sample.value", typ)
			if err != nil {
				return err
			}
			str, valField = whole[at:at+len(v)], num
		case fSampleQuality:
			v, start, err := d.bytes("sample.quality", typ)
			if err != nil {
				return err
			}
			if s.Quality, err = decodeQuality(v, start, whole); err != nil {
				return err
			}
		case fSampleTime:
			t, err := d.fixed64("sample.time_unix_nano", typ)
			if err != nil {
				return err
			}
			s.Time = time.Unix(0, int64(t)).UTC()
		default:
			if err := d.skip("sample", num, typ); err != nil {
				return err
			}
		}
	}
	k := plc.KindInvalid
	if kind != 0 {
		if kind >= uint64(len(wireKind)) {
			return &DecodeError{Offset: base, Field: "sample " + s.Tag, Reason: fmt.Sprintf("unknown kind %d", kind)}
		}
		k = wireKind[kind]
	}
	v, reason := makeValue(k, valField, num64, str)
	if reason != "" {
		return &DecodeError{Offset: base, Field: "sample " + s.Tag, Reason: reason}
	}
	s.Value = v
	return nil
}

// makeValue builds a value of kind k from the oneof field that carried it.
func makeValue(k plc.Kind, field protowire.Number, num uint64, str string) (plc.Value, string) {
	want := protowire.Number(0)
	switch {
	case k == plc.KindInvalid:
	case k == plc.Bool:
		want = fSampleBool
	case k.IsSigned():
		want = fSampleInt
	case k.IsUnsigned():
		want = fSampleUint
	case k == plc.Real:
		want = fSampleFloat
	case k == plc.LReal:
		want = fSampleDouble
	case k == plc.String:
		want = fSampleString
	case k == plc.ByteString:
		want = fSampleBytes
	case k == plc.DateTime:
		want = fSampleTimeVal
	}
	if field != want {
		if want == 0 {
			return plc.Value{}, "value without a kind"
		}
		return plc.Value{}, fmt.Sprintf("%s value in the wrong field", k)
	}
	switch want {
	case 0:
		return plc.Value{}, ""
	case fSampleBool:
		return plc.BoolValue(num != 0), ""
	case fSampleInt:
		i := protowire.DecodeZigZag(num)
		if bits := k.Bits(); bits < 64 && (i < -1<<(bits-1) || i >= 1<<(bits-1)) {
			return plc.Value{}, fmt.Sprintf("%d out of %s range", i, k)
		}
		return plc.IntValue(k, i), ""
	case fSampleUint:
		if bits := k.Bits(); bits < 64 && num >= 1<<bits {
			return plc.Value{}, fmt.Sprintf("%d out of %s range", num, k)
		}
		return plc.UintValue(k, num), ""
	case fSampleFloat:
		return plc.FloatValue(plc.Real, float64(math.Float32frombits(uint32(num)))), ""
	case fSampleDouble:
		return plc.FloatValue(plc.LReal, math.Float64frombits(num)), ""
	case fSampleString:
		return plc.StringValue(str), ""
	case fSampleBytes:
		// Convert re-kinds the string without copying it
		v, err := plc.Convert(plc.StringValue(str), plc.DataType{Kind: plc.ByteString})
		if err != nil {
			return plc.Value{}, err.Error()
		}
		return v, ""
	}
	return plc.TimeValue(time.Unix(0, int64(num))), ""
}

func decodeQuality(data []byte, base int, whole string) (plc.Quality, error) {
	d := decoder{b: data, base: base}
	var q plc.Quality
	for {
		num, typ, ok, err := d.field("quality")
		if err != nil || !ok {
			return q, err
		}
		switch num {
		case fQualStatus, fQualReason, fQualCode:
			v, err := d.varint("quality", typ)
			if err != nil {
				return q, err
			}
			switch {
			case num == fQualStatus && v < uint64(len(wireStatus)):
				q.Status = wireStatus[v]
			case num == fQualReason && v < uint64(len(wireReason)):
				q.Reason = wireReason[v]
			case num == fQualCode && v <= math.MaxUint32:
				q.Code = uint32(v)
			default:
				return q, d.fail("quality", fmt.Sprintf("field %d value %d out of range", num, v))
			}
		case fQualDetail:
			v, at, err := d.bytes("quality.detail", typ)
			if err != nil {
				return q, err
			}
			q.Detail = whole[at : at+len(v)]
		default:
			if err := d.skip("quality", num, typ); err != nil {
				return q, err
			}
		}
	}
}

// ToMessage encodes b into a transport.Message keyed by the source, with
// the content type and tenant as properties and the newest sample time as
// event time. The payload is appended to buf[:0] (nil for a new one).
func ToMessage(b *Batch, buf []byte) transport.Message {
	var newest time.Time
	for i := range b.Samples {
		if t := b.Samples[i].Time; t.After(newest) {
			newest = t
		}
	}
	props := map[string]string{PropContentType: ContentType}
	if b.Tenant != "" {
		props[PropTenant] = b.Tenant
	}
	return transport.Message{
		Key:        b.Source,
		Payload:    AppendBatch(buf[:0], b),
		Properties: props,
		EventTime:  newest,
	}
}

// FromMessage decodes a message made by ToMessage into b. A missing or
// foreign content type, or another version, is ErrContentType.
func FromMessage(m transport.Message, b *Batch) error {
	ct := m.Properties[PropContentType]
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.EqualFold(mt, "application/x-kiln-batch+protobuf") || params["v"] != "1" {
		return fmt.Errorf("%w: content type %q", ErrContentType, ct)
	}
	return Decode(m.Payload, b)
}
