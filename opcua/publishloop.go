package opcua

import (
	"reflect"
	"unsafe"

	gopcua "github.com/gopcua/opcua"
)

// publishResumer returns a function that wakes the publish loop of uc,
// or nil when uc's layout is not the one it knows.
//
// gopcua (v0.9.1, gopcua/opcua#895) pauses its publish loop when a
// Publish fails, e.g. with BadNoSubscription right after the session is
// created, and resumes it when Subscribe is called. When the resume
// arrives while the loop is still inside the failing Publish, the loop
// drops the resume and then parks on the pause for good: the session
// stays up, reads work, and no notification ever arrives again. The
// library offers no public way to see or undo this, so the client wakes
// the loop itself on every keep-alive tick while it has subscriptions. A
// wake-up of a running loop is ignored by it. The channel holds two, and
// gopcua's Subscribe waits for room in it, so a wake-up is only queued
// into an empty channel: it never takes the last place.
func publishResumer(uc *gopcua.Client) func() {
	ch := loopChannel(uc, "resumech")
	if ch == nil {
		return nil
	}
	return func() {
		if len(ch) > 0 {
			return
		}
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// loopChannel returns uc's unexported channel field name of the publish
// loop ("resumech" or "pausech"), or nil when uc has no such field of
// that type.
func loopChannel(uc *gopcua.Client, name string) chan struct{} {
	f := reflect.ValueOf(uc).Elem().FieldByName(name)
	if !f.IsValid() || f.Type() != reflect.TypeFor[chan struct{}]() {
		return nil
	}
	return *(*chan struct{})(unsafe.Pointer(f.UnsafeAddr()))
}
