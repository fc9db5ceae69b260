package config

import (
	"errors"
	"io/fs"
	"testing"
)

func TestPrefixPutsTheSectionBeforeEveryPath(t *testing.T) {
	var p Problems
	p.Add("dir", "is required")
	p.Add("", "is empty")
	p.Add("[2].name", "is taken")
	err := Prefix("spool", p.Err())
	var got []string
	for _, fe := range List(err) {
		got = append(got, fe.Path)
	}
	want := []string{"spool.dir", "spool", "spool[2].name"}
	if len(got) != len(want) {
		t.Fatalf("paths %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("path %d = %q, want %q", i, got[i], want[i])
		}
	}
	if Prefix("x", nil) != nil {
		t.Error("Prefix of nil is not nil")
	}
}

func TestListTurnsOtherErrorsIntoPathlessProblems(t *testing.T) {
	plain := errors.New("disk on fire")
	err := errors.Join(Errorf("a", "bad"), plain)
	list := List(err)
	if len(list) != 2 || list[1].Path != "" || !errors.Is(list[1], plain) {
		t.Fatalf("List = %v", list)
	}
	pre := Prefix("store", plain)
	if fe := List(pre)[0]; fe.Path != "store" || fe.Msg != "disk on fire" || !errors.Is(fe, plain) {
		t.Errorf("Prefix of a plain error = %+v", fe)
	}
}

func TestEveryFieldErrorIsErrInvalidAndKeepsItsCause(t *testing.T) {
	err := Errorf("dir", "cannot be read: %w", fs.ErrPermission)
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("%v: Is(ErrInvalid) %v, Is(ErrPermission) %v", err, errors.Is(err, ErrInvalid), errors.Is(err, fs.ErrPermission))
	}
	if errors.Is(errors.New("x"), ErrInvalid) {
		t.Error("a plain error is ErrInvalid")
	}
}

func TestLocateFillsFileAndUnknownLines(t *testing.T) {
	err := errors.Join(Errorf("http.listen", "bad"), &FieldError{Path: "x", Line: 9, Msg: "m"})
	err = Locate(err, "gw.yaml", func(p string) int {
		if p == "http.listen" {
			return 4
		}
		return 1
	})
	got := err.Error()
	want := "gw.yaml:4: http.listen: bad\ngw.yaml:9: x: m"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCountSaysProblemInTheSingular(t *testing.T) {
	if got := Count(Errorf("a", "b")); got != "1 problem" {
		t.Errorf("Count = %q", got)
	}
	var p Problems
	p.Add("a", "b")
	p.Add("c", "d")
	if got := Count(p.Err()); got != "2 problems" {
		t.Errorf("Count = %q", got)
	}
}

func TestAWrappedFieldErrorKeepsItsPathAndMessage(t *testing.T) {
	inner := Errorf("rack", "must be 0-7")
	err := errors.Join(errors.Join(inner))
	if l := List(err); len(l) != 1 || l[0].Path != "rack" {
		t.Fatalf("List = %v", l)
	}
}
