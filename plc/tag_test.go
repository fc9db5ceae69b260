package plc

import (
	"errors"
	"math"
	"testing"
)

func TestTagToEngineering(t *testing.T) {
	analog := &Tag{Name: "T", Type: TypeInt, Scaling: &Scaling{RawMin: 0, RawMax: 27648, EngMin: 0, EngMax: 1200}}
	inverted := &Tag{Name: "I", Type: TypeWord, Scaling: &Scaling{RawMin: 0, RawMax: 100, EngMin: 50, EngMax: -50}}
	plain := &Tag{Name: "P", Type: TypeDInt}
	tests := []struct {
		name string
		tag  *Tag
		raw  Value
		want Value
	}{
		{"zero", analog, IntValue(Int, 0), FloatValue(LReal, 0)},
		{"full scale", analog, IntValue(Int, 27648), FloatValue(LReal, 1200)},
		{"half", analog, IntValue(Int, 13824), FloatValue(LReal, 600)},
		{"overrange extrapolates", analog, IntValue(Int, 32767), FloatValue(LReal, 32767*1200.0/27648)},
		{"negative", analog, IntValue(Int, -2764), FloatValue(LReal, -2764*1200.0/27648)},
		{"inverted", inverted, UintValue(Word, 25), FloatValue(LReal, 25)},
		{"no value stays none", analog, Value{}, Value{}},
		{"bad string passes", analog, StringValue("x"), StringValue("x")},
		{"unscaled unchanged", plain, IntValue(DInt, 7), IntValue(DInt, 7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.tag.ToEngineering(tt.raw)
			if got.Kind() != tt.want.Kind() || (got.IsValid() && !got.Equal(tt.want)) {
				t.Fatalf("ToEngineering(%v) = %v %v, want %v %v", tt.raw, got.Kind(), got, tt.want.Kind(), tt.want)
			}
		})
	}
	if analog.EngType() != TypeLReal || plain.EngType() != TypeDInt {
		t.Fatalf("EngType = %v, %v", analog.EngType(), plain.EngType())
	}
}

func TestTagToRaw(t *testing.T) {
	analog := &Tag{Name: "T", Type: TypeInt, Scaling: &Scaling{RawMin: 0, RawMax: 27648, EngMin: 0, EngMax: 1200}}
	real := &Tag{Name: "R", Type: TypeReal, Scaling: &Scaling{RawMin: 0, RawMax: 1, EngMin: 0, EngMax: 100}}
	word := &Tag{Name: "W", Type: TypeWord, Scaling: &Scaling{RawMin: 0, RawMax: 1000, EngMin: 0, EngMax: 10}}
	plain := &Tag{Name: "P", Type: TypeInt}
	flat := &Tag{Name: "F", Type: TypeInt, Scaling: &Scaling{RawMin: 0, RawMax: 10, EngMin: 5, EngMax: 5}}
	tests := []struct {
		name   string
		tag    *Tag
		eng    Value
		want   Value
		reason string
	}{
		{"exact", analog, FloatValue(LReal, 600), IntValue(Int, 13824), ""},
		{"rounds to nearest", analog, FloatValue(LReal, 0.03), IntValue(Int, 1), ""}, // 0.6912 raw
		{"rounds down", analog, FloatValue(LReal, 0.02), IntValue(Int, 0), ""},       // 0.4608 raw
		{"half away from zero", word, FloatValue(LReal, 0.005), UintValue(Word, 1), ""},
		{"integer input", analog, IntValue(DInt, 1200), IntValue(Int, 27648), ""},
		{"overflow", analog, FloatValue(LReal, 1500), Value{}, "raw value 34560 out of range"},
		{"negative into WORD", word, FloatValue(LReal, -1), Value{}, "raw value -100 out of range"},
		{"real raw", real, FloatValue(LReal, 50), FloatValue(Real, 0.5), ""},
		{"nan", analog, FloatValue(LReal, math.NaN()), Value{}, "not a finite number"},
		{"string", analog, StringValue("1"), Value{}, "scaled tags take numbers"},
		{"empty eng range", flat, FloatValue(LReal, 5), Value{}, "scaling has an empty engineering range"},
		{"unscaled lossless", plain, FloatValue(LReal, 12), IntValue(Int, 12), ""},
		{"unscaled fraction refused", plain, FloatValue(LReal, 12.5), Value{}, "not a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.tag.ToRaw(tt.eng)
			if tt.reason != "" {
				var ce *ConversionError
				if !errors.As(err, &ce) || ce.Reason != tt.reason {
					t.Fatalf("ToRaw(%v) = %v, %v; want reason %q", tt.eng, got, err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("ToRaw(%v): %v", tt.eng, err)
			}
			if got.Kind() != tt.tag.Type.Kind || !got.Equal(tt.want) {
				t.Fatalf("ToRaw(%v) = %v %v, want %v", tt.eng, got.Kind(), got, tt.want)
			}
		})
	}
}

// TestScalingRoundTrip pins that every raw INT value survives
// raw -> engineering -> raw.
func TestScalingRoundTrip(t *testing.T) {
	tag := &Tag{Name: "T", Type: TypeInt, Scaling: &Scaling{RawMin: -27648, RawMax: 27648, EngMin: -1.5, EngMax: 1.5}}
	for i := math.MinInt16; i <= math.MaxInt16; i++ {
		raw := IntValue(Int, int64(i))
		back, err := tag.ToRaw(tag.ToEngineering(raw))
		if err != nil || !back.Equal(raw) {
			t.Fatalf("%d -> %v -> %v, %v", i, tag.ToEngineering(raw), back, err)
		}
	}
}
