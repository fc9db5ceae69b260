package config

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	durationType  = reflect.TypeFor[time.Duration]()
	unmarshalText = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// fieldsOf returns the settings of struct type t by YAML name: the
// exported fields with a yaml tag name (or the lower-cased Go name), in
// declaration order. A `yaml:"-"` field is left out.
func fieldsOf(t reflect.Type) (names []string, index map[string]int) {
	index = map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		names = append(names, name)
		index[name] = i
	}
	return names, index
}

// setScalar sets v from the text s, and returns what is wrong with s in
// words when it does not fit v: `"x" is not a whole number`.
func setScalar(v reflect.Value, s string) error {
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalText) {
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return textError(s, err)
		}
		return nil
	}
	t := strings.TrimSpace(s)
	if v.Type() == durationType {
		d, err := time.ParseDuration(t)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 500ms", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(t)
		if err != nil {
			switch strings.ToLower(t) {
			case "yes", "on":
				b, err = true, nil
			case "no", "off":
				b, err = false, nil
			}
		}
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(t, 0, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("%q is not a whole number", s)
		}
		if err != nil || v.OverflowInt(n) {
			bits := v.Type().Bits()
			return fmt.Errorf("%s is out of range (%d to %d)", t, int64(-1)<<(bits-1), int64(1)<<(bits-1)-1)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(t, 0, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			if _, ierr := strconv.ParseInt(t, 0, 64); ierr == nil {
				return fmt.Errorf("%s is negative", t)
			}
			return fmt.Errorf("%q is not a whole number", s)
		}
		if err != nil || v.OverflowUint(n) {
			return fmt.Errorf("%s is out of range (0 to %d)", t, uint64(math.MaxUint64)>>(64-v.Type().Bits()))
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(t, v.Type().Bits())
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			switch strings.ToLower(t) {
			case ".inf", "+.inf":
				f, err = math.Inf(1), nil
			case "-.inf":
				f, err = math.Inf(-1), nil
			case ".nan":
				f, err = math.NaN(), nil
			}
		}
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("is %s, not a single value", describe(v.Type()))
	}
	return nil
}

// textError words the error of an UnmarshalText: the message of a
// *FieldError it returns, or its text.
func textError(s string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return errors.New(fe.Msg)
	}
	return fmt.Errorf("%q: %v", s, err)
}

// describe says what a setting of type t is, for "is a list, not …".
func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a section of settings"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "a single value"
}

// DecodeOptions sets the fields of the struct v points to from opts: a
// flat map of text values by the fields' yaml names, a nested struct's
// fields by dotted names (retry.multiplier). It is how a driver reads a
// device's options (plc.Device.Options) into its Config with the same
// names as that Config has in YAML. Whole numbers, numbers, true/false,
// durations ("5s"), text and types with UnmarshalText are understood.
//
// Every problem is a *FieldError whose path is the option's key (for an
// unknown key, the path is empty and the message names the key and the
// known ones), in the sorted order of the keys, joined; a driver nests
// them under "options". Fields named in skip are not options (a driver's
// endpoint, which the device gives separately): a key naming one is
// unknown.
func DecodeOptions(opts map[string]string, v any, skip ...string) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		panic("config: DecodeOptions needs a pointer to a struct")
	}
	var p Problems
	var known []string
	var collect func(t reflect.Type, prefix string)
	collect = func(t reflect.Type, prefix string) {
		names, index := fieldsOf(t)
		for _, n := range names {
			ft := t.Field(index[n]).Type
			if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(unmarshalText) {
				collect(ft, prefix+n+".")
				continue
			}
			if !slices.Contains(skip, prefix+n) {
				known = append(known, prefix+n)
			}
		}
	}
	collect(rv.Elem().Type(), "")
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		if !slices.Contains(known, k) {
			p.Add("", "unknown option %q (known: %s)", k, strings.Join(known, ", "))
			continue
		}
		f := rv.Elem()
		for part := range strings.SplitSeq(k, ".") {
			_, index := fieldsOf(f.Type())
			f = f.Field(index[part])
		}
		if err := setScalar(f, opts[k]); err != nil {
			p.Add(k, "%v", err)
		}
	}
	return p.Err()
}
