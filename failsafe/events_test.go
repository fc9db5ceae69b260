package failsafe_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/failsafe"
	"github.com/kiln-iot/kiln/transport"
)

func TestDecodeEventRoundTripAndBadPayload(t *testing.T) {
	e := failsafe.Event{Time: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), Module: "tuner", Kind: failsafe.EventHandover,
		State: failsafe.StateFailSafe, Reason: "heartbeat missed",
		Handover: &failsafe.Handover{Module: "tuner", Kind: failsafe.KindFailSafe, Attempts: 1}}
	msg := e.Message()
	if msg.Key != "tuner" || msg.Properties["content-type"] != failsafe.ContentType {
		t.Errorf("message key %q, properties %v", msg.Key, msg.Properties)
	}
	got, err := failsafe.DecodeEvent(msg)
	if err != nil {
		t.Fatal(err)
	}
	if got.Module != e.Module || got.Kind != e.Kind || got.State != e.State || !got.Time.Equal(e.Time) || got.Handover == nil || got.Handover.Attempts != 1 {
		t.Errorf("decoded %+v, want %+v", got, e)
	}

	_, err = failsafe.DecodeEvent(transport.Message{Key: "tuner", Payload: []byte(`{"module": 7`)})
	var syn *json.SyntaxError
	if err == nil || !strings.Contains(err.Error(), `"tuner"`) || !errors.As(err, &syn) {
		t.Errorf("error %v, want one naming the key and the JSON problem", err)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-25T08:00:00Z","module":"tuner","kind":"handover","state":"fail_safe"}`))
	f.Add([]byte(`{"handover":{"attempts":-1,"detected_at":"x"}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{0xff, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := failsafe.DecodeEvent(transport.Message{Key: "k", Payload: b})
		if err != nil {
			return
		}
		again, err := failsafe.DecodeEvent(e.Message())
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if again.Module != e.Module || again.Kind != e.Kind || again.Reason != e.Reason || !again.Time.Equal(e.Time) {
			t.Fatalf("round trip changed the event: %+v -> %+v", e, again)
		}
	})
}
