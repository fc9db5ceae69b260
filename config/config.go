package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-iot/kiln/internal/yamlconf"
)

// ErrInvalid is matched by every *FieldError: errors.Is(err, ErrInvalid)
// tells a bad setting from other failures.
var ErrInvalid = errors.New("config: invalid setting")

// FieldError is one bad setting.
type FieldError struct {
	// File is the configuration file the setting was read from; empty
	// when the Config was built by code or not yet located.
	File string
	// Line is the 1-based line of the field in File; 0 when unknown.
	Line int
	// Path is the YAML path of the field: keys joined by dots, list items
	// by [index], as in "groups[0].rate". Empty for a problem of the
	// whole file.
	Path string
	// Msg says what is wrong, without the path: `is required`,
	// `"fast" is not a duration such as 500ms`.
	Msg string
	// Err is the underlying error, when there is one (a driver's
	// *AddressError, a parse error).
	Err error
}

// Error formats the problem as "file:line: path: msg", leaving out the
// parts that are unknown.
func (e *FieldError) Error() string { return yamlconf.Format(e.File, e.Line, e.Path, e.Msg) }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Errorf returns a *FieldError for path with a message formatted as
// fmt.Errorf does; an error wrapped with %w becomes its Err.
func Errorf(path, format string, args ...any) *FieldError {
	err := fmt.Errorf(format, args...)
	return &FieldError{Path: path, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// Join returns a path below prefix: Join("spool", "dir") is "spool.dir",
// Join("devices", "[2].name") is "devices[2].name", and an empty part
// leaves the other as it is.
func Join(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	case strings.HasPrefix(path, "["):
		return prefix + path
	}
	return prefix + "." + path
}

// Prefix returns err with prefix put before the path of every
// *FieldError it holds (see Join). Any other error becomes a *FieldError
// at prefix that wraps it. Prefix(p, nil) is nil.
func Prefix(prefix string, err error) error {
	if err == nil {
		return nil
	}
	list := List(err)
	out := make([]error, len(list))
	for i, fe := range list {
		c := *fe
		c.Path = Join(prefix, fe.Path)
		out[i] = &c
	}
	return errors.Join(out...)
}

// List returns the problems inside err, in order: the *FieldError values
// of an errors.Join tree, and any other error as a *FieldError with no
// path that wraps it. List(nil) is empty.
func List(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *FieldError
		if errors.As(err, &fe) {
			// A FieldError wrapped in a message: keep the message.
			c := *fe
			c.Msg, c.Err = strings.TrimPrefix(err.Error(), fe.Error()+": "), err
			out = append(out, &c)
			return
		}
		out = append(out, &FieldError{Msg: err.Error(), Err: err})
	}
	walk(err)
	return out
}

// Locate returns err with file set on every *FieldError it holds and each
// unknown line found by line(path) (which returns 0 when it cannot tell).
// line may be nil.
func Locate(err error, file string, line func(path string) int) error {
	if err == nil {
		return nil
	}
	list := List(err)
	out := make([]error, len(list))
	for i, fe := range list {
		c := *fe
		if c.File == "" {
			c.File = file
		}
		if c.Line == 0 && line != nil {
			c.Line = line(c.Path)
		}
		out[i] = &c
	}
	return errors.Join(out...)
}

// Problems collects the problems Validate finds, in the order found. Its
// zero value is ready to use.
type Problems struct {
	list []error
}

// Add records a problem with the field at path, its message formatted as
// fmt.Errorf does (%w keeps the wrapped error).
func (p *Problems) Add(path, format string, args ...any) {
	p.list = append(p.list, Errorf(path, format, args...))
}

// Nest records the problems of a nested Config's Validate (err may be
// nil), with prefix put before their paths.
func (p *Problems) Nest(prefix string, err error) {
	if err == nil {
		return
	}
	for _, fe := range List(Prefix(prefix, err)) {
		p.list = append(p.list, fe)
	}
}

// Len returns the number of problems recorded.
func (p *Problems) Len() int { return len(p.list) }

// Err returns the problems joined (errors.Join), or nil when there are
// none.
func (p *Problems) Err() error { return errors.Join(p.list...) }

// Count says how many problems err holds, in words: "1 problem",
// "3 problems".
func Count(err error) string {
	n := len(List(err))
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}
