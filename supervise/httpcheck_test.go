package supervise

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/clock"
)

func TestHTTPCheckCallsRestartHookAfterThreshold(t *testing.T) {
	var status atomic.Int32
	var requests atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()

	fc := clock.NewFake(epoch)
	ev := newEventLog()
	hooked := make(chan struct{}, 10)
	var hookErr atomic.Pointer[error]
	hook := func(context.Context) error {
		hooked <- struct{}{}
		if p := hookErr.Load(); p != nil {
			return *p
		}
		return nil
	}
	cfg := HTTPCheckConfig{URL: srv.URL + "/healthz", Period: time.Second, FailureThreshold: 2, Grace: 5 * time.Second}
	s := mustNew(t, Config{}, WithClock(fc), WithEventHook(ev.hook))
	mustAdd(t, s, Spec{Name: "historian", New: func() (Service, error) { return NewHTTPCheck(cfg, hook) }})
	running(t, s)

	step := func(d time.Duration) {
		t.Helper()
		fc.BlockUntil(1) // the check sleeps between probes
		fc.Advance(d)
	}
	fc.BlockUntil(1)
	if requests.Load() != 1 {
		t.Fatalf("requests %d after start", requests.Load())
	}
	status.Store(http.StatusServiceUnavailable)
	step(time.Second) // failure 1
	fc.BlockUntil(1)
	if len(hooked) != 0 {
		t.Fatal("hook fired below the threshold")
	}
	step(time.Second) // failure 2: hook
	<-hooked
	status.Store(http.StatusOK)
	fc.BlockUntil(1)
	fc.Advance(time.Second) // still in the grace period: no probe
	fc.BlockUntil(1)
	if n := requests.Load(); n != 3 {
		t.Fatalf("requests %d, want 3 (probing during grace)", n)
	}
	fc.Advance(4 * time.Second)
	fc.BlockUntil(1)
	if n := requests.Load(); n != 4 {
		t.Fatalf("requests %d after grace, want 4", n)
	}

	// A hook that fails ends the check; its supervisor restarts it.
	e := errors.New("systemctl failed")
	hookErr.Store(&e)
	status.Store(http.StatusInternalServerError)
	step(time.Second)
	step(time.Second)
	<-hooked
	if x := ev.next(t, EventExited, "historian"); !errors.Is(x.Err, e) || !strings.Contains(x.Err.Error(), "restart hook") {
		t.Fatalf("exit %v", x)
	}
	ev.next(t, EventRestarted, "historian")
	if len(hooked) != 0 {
		t.Fatal("hook fired too often")
	}
}

func TestHTTPCheckConfig(t *testing.T) {
	if _, err := NewHTTPCheck(HTTPCheckConfig{URL: "http://127.0.0.1:1/"}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil hook: %v", err)
	}
	if _, err := NewHTTPCheck(HTTPCheckConfig{URL: "http://127.0.0.1:1/", FailureThreshold: -1}, func(context.Context) error { return nil }); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative threshold: %v", err)
	}
	if _, err := NewHTTPCheck(HTTPCheckConfig{URL: "://"}, func(context.Context) error { return nil }); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad url: %v", err)
	}
}
