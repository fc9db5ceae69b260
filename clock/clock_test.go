package clock

import (
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFakeTimerFiresAtDeadline(t *testing.T) {
	f := NewFake(epoch)
	tm := f.NewTimer(time.Second)
	f.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("timer fired early")
	default:
	}
	f.Advance(time.Millisecond)
	select {
	case got := <-tm.C():
		if !got.Equal(epoch.Add(time.Second)) {
			t.Errorf("fired at %v, want %v", got, epoch.Add(time.Second))
		}
	default:
		t.Fatal("timer did not fire at its deadline")
	}
	if f.Waiters() != 0 {
		t.Errorf("fired timer still pending")
	}
}

func TestFakeTickerDropsTicksLikeTimeTicker(t *testing.T) {
	f := NewFake(epoch)
	tk := f.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	f.Advance(35 * time.Millisecond)
	got := <-tk.C()
	if !got.Equal(epoch.Add(10 * time.Millisecond)) {
		t.Errorf("first tick %v, want +10ms", got)
	}
	select {
	case <-tk.C():
		t.Fatal("ticks were queued instead of dropped")
	default:
	}
	f.Advance(5 * time.Millisecond)
	if got := <-tk.C(); !got.Equal(epoch.Add(40 * time.Millisecond)) {
		t.Errorf("next tick %v, want +40ms", got)
	}
}

func TestStoppedTimerNeverFires(t *testing.T) {
	f := NewFake(epoch)
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	f.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
}

func TestBlockUntilSeesWaiter(t *testing.T) {
	f := NewFake(epoch)
	done := make(chan struct{})
	go func() {
		tm := f.NewTimer(time.Minute)
		<-tm.C()
		close(done)
	}()
	f.BlockUntil(1)
	f.Advance(time.Minute)
	<-done
}

func TestDueTimerFiresAtOnce(t *testing.T) {
	f := NewFake(epoch)
	tm := f.NewTimer(0)
	select {
	case got := <-tm.C():
		if !got.Equal(epoch) {
			t.Errorf("fired at %v, want %v", got, epoch)
		}
	default:
		t.Fatal("a timer for a duration <= 0 did not fire at once")
	}
	if f.Waiters() != 0 {
		t.Errorf("due timer left pending")
	}
	tm.Reset(-time.Second)
	select {
	case <-tm.C():
	default:
		t.Fatal("Reset to a past deadline did not fire at once")
	}
}
