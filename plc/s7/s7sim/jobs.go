package s7sim

import (
	"net"
	"slices"
	"sync"
	"time"
)

// answer is an answer waiting in a connection's outbox.
type answer struct {
	frame []byte
	due   time.Time
	job   bool // the answer to a Read or Write Var, which holds a job
}

// outbox holds a connection's answers until they are due and writes them
// from one goroutine, so that several jobs wait out their latency at
// once, as in a CPU that works on the jobs it granted in parallel.
type outbox struct {
	mu       sync.Mutex
	queue    []answer
	inflight int  // jobs received and not yet answered
	closing  bool // write what is queued, then end
	wake     chan struct{}
	drained  chan struct{} // closed when the writer has ended
}

func newOutbox() *outbox {
	return &outbox{wake: make(chan struct{}, 1), drained: make(chan struct{})}
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// add queues an answer; a job's answer holds one of the granted jobs
// until it is written.
func (o *outbox) add(a answer) {
	o.mu.Lock()
	o.queue = append(o.queue, a)
	if a.job {
		o.inflight++
	}
	o.mu.Unlock()
	o.signal()
}

// busy returns how many jobs are outstanding.
func (o *outbox) busy() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.inflight
}

// finish makes the writer end once the queue is written, each answer
// when it is due (as a CPU still works on the jobs of a connection the
// client closed), and waits.
func (o *outbox) finish() {
	o.mu.Lock()
	o.closing = true
	o.mu.Unlock()
	o.signal()
	<-o.drained
}

// take returns the answers to write now, or how long to wait for the
// next. With reorder, the answers of jobs in flight together are held
// until the last of them is due and then written last one first.
func (o *outbox) take(now time.Time, reorder bool) (batch []answer, wait time.Duration, done bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) == 0 {
		return nil, -1, o.closing
	}
	if reorder {
		last := o.queue[len(o.queue)-1].due
		if now.Before(last) {
			return nil, last.Sub(now), false
		}
		batch = slices.Clone(o.queue)
		slices.Reverse(batch)
		o.queue = o.queue[:0]
	} else {
		n := 0
		for n < len(o.queue) && !now.Before(o.queue[n].due) {
			n++
		}
		if n == 0 {
			return nil, o.queue[0].due.Sub(now), false
		}
		batch = slices.Clone(o.queue[:n])
		o.queue = slices.Delete(o.queue, 0, n)
	}
	// A job is over once its answer is on its way: the client may send
	// the next as soon as it reads this one.
	for _, a := range batch {
		if a.job {
			o.inflight--
		}
	}
	return batch, 0, false
}

// writeLoop writes the answers as they fall due, until finish, a write
// error or stop.
func (s *Server) writeLoop(c net.Conn, o *outbox, stop chan struct{}) {
	defer close(o.drained)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		batch, wait, done := o.take(time.Now(), s.reorder.Load())
		if done {
			return
		}
		for _, a := range batch {
			if _, err := c.Write(a.frame); err != nil {
				_ = c.Close()
				return
			}
		}
		if len(batch) > 0 {
			continue
		}
		var timer <-chan time.Time
		if wait >= 0 {
			t.Reset(wait)
			timer = t.C
		}
		select {
		case <-stop:
			return
		case <-o.wake:
		case <-timer:
		}
		if timer != nil && !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
	}
}
