package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type retry struct {
	Initial    time.Duration `yaml:"initial"`
	Multiplier float64       `yaml:"multiplier"`
}

type tsap uint16

func (t *tsap) UnmarshalText(b []byte) error {
	if string(b) != "01.02" {
		return Errorf("", "%q is not a TSAP such as 01.02", b)
	}
	*t = 0x0102
	return nil
}

type driverConfig struct {
	Endpoint string `yaml:"endpoint"`
	Rack     int    `yaml:"rack"`
	Items    uint8  `yaml:"max_items"`
	Type     string `yaml:"connection_type"`
	Fast     bool   `yaml:"fast"`
	Remote   tsap   `yaml:"remote_tsap"`
	Retry    retry  `yaml:"retry"`
}

func TestDecodeOptionsByYAMLNamesWithDottedNesting(t *testing.T) {
	var c driverConfig
	err := DecodeOptions(map[string]string{
		"rack": "3", "max_items": "20", "connection_type": "op", "fast": "true",
		"remote_tsap": "01.02", "retry.initial": "250ms", "retry.multiplier": "1.5",
	}, &c, "endpoint")
	if err != nil {
		t.Fatal(err)
	}
	want := driverConfig{Rack: 3, Items: 20, Type: "op", Fast: true, Remote: 0x0102, Retry: retry{250 * time.Millisecond, 1.5}}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestDecodeOptionsReportsEveryProblemInKeyOrder(t *testing.T) {
	var c driverConfig
	err := DecodeOptions(map[string]string{
		"rack": "x", "zeta": "1", "max_items": "300", "fast": "maybe", "retry.initial": "fast",
		"retry.multiplier": "two", "endpoint": "h", "remote_tsap": "zz", "alpha": "",
	}, &c, "endpoint")
	var got []string
	for _, fe := range List(err) {
		got = append(got, fe.Path+": "+fe.Msg)
	}
	known := "(known: rack, max_items, connection_type, fast, remote_tsap, retry.initial, retry.multiplier)"
	want := []string{
		`: unknown option "alpha" ` + known,
		`: unknown option "endpoint" ` + known,
		`fast: "maybe" is not true or false`,
		`max_items: 300 is out of range (0 to 255)`,
		`rack: "x" is not a whole number`,
		`remote_tsap: "zz" is not a TSAP such as 01.02`,
		`retry.initial: "fast" is not a duration such as 500ms`,
		`retry.multiplier: "two" is not a number`,
		`: unknown option "zeta" ` + known,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("not ErrInvalid")
	}
}

func TestScalarWordsHaveNoGoTypeNames(t *testing.T) {
	var c struct {
		N int8          `yaml:"n"`
		U uint          `yaml:"u"`
		D time.Duration `yaml:"d"`
	}
	err := DecodeOptions(map[string]string{"n": "200", "u": "-1", "d": "1x"}, &c)
	for _, fe := range List(err) {
		for _, word := range []string{"int", "strconv", "time.", "parsing"} {
			if strings.Contains(fe.Msg, word) {
				t.Errorf("%s: message names %q", fe.Path, word)
			}
		}
	}
	if n := len(List(err)); n != 3 {
		t.Errorf("%d problems, want 3: %v", n, err)
	}
}

func ExampleDecodeOptions() {
	var cfg struct {
		Rack  int `yaml:"rack"`
		Retry struct {
			Multiplier float64 `yaml:"multiplier"`
		} `yaml:"retry"`
	}
	err := DecodeOptions(map[string]string{"rack": "x", "retry.multiplier": "3"}, &cfg)
	fmt.Println(Prefix("devices[0].options", err))
	fmt.Println(cfg.Retry.Multiplier)
	// Output:
	// devices[0].options.rack: "x" is not a whole number
	// 3
}
