package pulsartest

import (
	"hash/fnv"
	"sort"
	"sync"
	"time"
)

// ledgerID is the ledger every message id of this broker carries; entry
// ids grow per topic, also across restarts.
const ledgerID = 1

// Subscription types as in CommandSubscribe.SubType.
const (
	subExclusive = 0
	subShared    = 1
	subFailover  = 2
	subKeyShared = 3
)

var subTypeNames = [...]string{"Exclusive", "Shared", "Failover", "Key_Shared"}

// entry is one stored message or batch, its payload passed through intact.
type entry struct {
	id          uint64
	data        []byte // from the magic number on
	numMessages int
	key         string
	publishTime time.Time
}

type topic struct {
	broker *Broker
	name   string

	mu        sync.Mutex
	first     uint64 // id of entries[0]
	entries   []entry
	lastSeq   map[string]int64 // producer name -> highest sequence id stored
	producers map[string]*producer
	subs      map[string]*subscription
	published uint64 // messages stored
	dedup     uint64 // messages dropped as duplicates

	cursorsDirty bool // acknowledgements not yet in the data directory
}

func newTopic(b *Broker, name string) *topic {
	return &topic{
		broker:    b,
		name:      name,
		lastSeq:   make(map[string]int64),
		producers: make(map[string]*producer),
		subs:      make(map[string]*subscription),
	}
}

func (t *topic) next() uint64 { return t.first + uint64(len(t.entries)) }

func (t *topic) entry(id uint64) (*entry, bool) {
	if id < t.first || id >= t.next() {
		return nil, false
	}
	return &t.entries[id-t.first], true
}

type producer struct {
	id    uint64
	name  string
	conn  *conn
	topic *topic
}

type consumer struct {
	id       uint64
	name     string
	priority int
	conn     *conn
	sub      *subscription
	permits  int
	pending  int // entries delivered and not acked
}

type subscription struct {
	topic     *topic
	name      string
	typ       int
	durable   bool
	consumers []*consumer

	readPos      uint64              // next entry never yet dispatched
	ackedBelow   uint64              // every entry below is acknowledged
	acked        map[uint64]struct{} // acknowledged entries at or above ackedBelow
	pending      map[uint64]*consumer
	redeliver    []uint64 // sorted entry ids waiting to be sent again
	redeliveries map[uint64]uint32
	rr           int

	ackedMsgs       uint64
	redeliveredMsgs uint64
}

func newSubscription(t *topic, name string, typ int, durable bool, start uint64) *subscription {
	return &subscription{
		topic: t, name: name, typ: typ, durable: durable,
		readPos: start, ackedBelow: start,
		acked:        make(map[uint64]struct{}),
		pending:      make(map[uint64]*consumer),
		redeliveries: make(map[uint64]uint32),
	}
}

// append stores one sent entry unless it is a duplicate; it returns the
// entry id, or ok=false for a duplicate. Called with t.mu held.
func (t *topic) append(producerName string, seq, highest int64, data []byte, n int, key string) (uint64, bool, error) {
	if highest < seq {
		highest = seq
	}
	if !t.broker.cfg.DisableDeduplication {
		if last, ok := t.lastSeq[producerName]; ok && highest <= last {
			t.dedup += uint64(n)
			return 0, false, nil
		}
	}
	e := entry{id: t.next(), data: data, numMessages: n, key: key, publishTime: time.Now()}
	if s := t.broker.store; s != nil {
		if err := s.appendEntry(t, producerName, highest, e); err != nil {
			return 0, false, err
		}
	}
	t.entries = append(t.entries, e)
	t.lastSeq[producerName] = highest
	t.published += uint64(n)
	for _, s := range t.subs {
		s.dispatch()
	}
	return e.id, true, nil
}

// lastSequence returns the highest sequence id stored from producerName, or -1.
func (t *topic) lastSequence(producerName string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broker.cfg.DisableDeduplication {
		return -1
	}
	if v, ok := t.lastSeq[producerName]; ok {
		return v
	}
	return -1
}

func (s *subscription) isAcked(id uint64) bool {
	if id < s.ackedBelow {
		return true
	}
	_, ok := s.acked[id]
	return ok
}

// ack marks entry id acknowledged. Called with the topic lock held.
func (s *subscription) ack(id uint64) {
	if s.isAcked(id) || id >= s.topic.next() {
		return
	}
	if c := s.pending[id]; c != nil {
		c.pending--
		delete(s.pending, id)
	}
	s.removeRedeliver(id)
	delete(s.redeliveries, id)
	if e, ok := s.topic.entry(id); ok {
		s.ackedMsgs += uint64(e.numMessages)
	}
	s.acked[id] = struct{}{}
	s.topic.cursorsDirty = true
	for {
		if _, ok := s.acked[s.ackedBelow]; !ok {
			break
		}
		delete(s.acked, s.ackedBelow)
		s.ackedBelow++
	}
	if s.readPos < s.ackedBelow {
		s.readPos = s.ackedBelow
	}
}

// ackCumulative acknowledges every entry up to and including id.
func (s *subscription) ackCumulative(id uint64) {
	if id >= s.topic.next() {
		id = s.topic.next() - 1
	}
	for i := s.ackedBelow; i <= id && i < s.topic.next(); i++ {
		s.ack(i)
	}
}

func (s *subscription) removeRedeliver(id uint64) {
	i := sort.Search(len(s.redeliver), func(i int) bool { return s.redeliver[i] >= id })
	if i < len(s.redeliver) && s.redeliver[i] == id {
		s.redeliver = append(s.redeliver[:i], s.redeliver[i+1:]...)
	}
}

// requeue puts a delivered entry back for redelivery.
func (s *subscription) requeue(id uint64) {
	c := s.pending[id]
	if c == nil {
		return
	}
	c.pending--
	delete(s.pending, id)
	s.redeliveries[id]++
	if e, ok := s.topic.entry(id); ok {
		s.redeliveredMsgs += uint64(e.numMessages)
	}
	i := sort.Search(len(s.redeliver), func(i int) bool { return s.redeliver[i] >= id })
	if i < len(s.redeliver) && s.redeliver[i] == id {
		return
	}
	s.redeliver = append(s.redeliver, 0)
	copy(s.redeliver[i+1:], s.redeliver[i:])
	s.redeliver[i] = id
}

// requeueConsumer puts back everything delivered to c.
func (s *subscription) requeueConsumer(c *consumer) {
	var ids []uint64
	for id, pc := range s.pending {
		if pc == c {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		s.requeue(id)
	}
}

func (s *subscription) removeConsumer(c *consumer) {
	for i, x := range s.consumers {
		if x == c {
			s.consumers = append(s.consumers[:i], s.consumers[i+1:]...)
			break
		}
	}
	s.requeueConsumer(c)
	if len(s.consumers) > 0 && (s.typ == subFailover || s.typ == subExclusive) {
		s.announceActive()
	}
	if !s.durable && len(s.consumers) == 0 {
		delete(s.topic.subs, s.name)
		return
	}
	s.dispatch()
}

func (s *subscription) addConsumer(c *consumer) {
	s.consumers = append(s.consumers, c)
	if s.typ == subFailover {
		sort.SliceStable(s.consumers, func(i, j int) bool {
			a, b := s.consumers[i], s.consumers[j]
			if a.priority != b.priority {
				return a.priority < b.priority
			}
			return a.name < b.name
		})
		s.announceActive()
	}
}

// announceActive tells failover consumers which one is active; the one
// that lost that role gives its unacknowledged messages back.
func (s *subscription) announceActive() {
	for i, c := range s.consumers {
		c.conn.send(frame(cmdActiveConsumerChange, enc(nil).u(1, c.id).b(2, i == 0), nil))
		if i > 0 {
			s.requeueConsumer(c)
		}
	}
}

// nextEntry returns the next entry to dispatch: a redelivery first.
func (s *subscription) nextEntry() (uint64, bool) {
	for len(s.redeliver) > 0 {
		id := s.redeliver[0]
		if s.isAcked(id) || s.pending[id] != nil {
			s.redeliver = s.redeliver[1:]
			continue
		}
		return id, true
	}
	for s.readPos < s.topic.next() {
		if s.isAcked(s.readPos) || s.pending[s.readPos] != nil || s.readPos < s.topic.first {
			s.readPos++
			continue
		}
		return s.readPos, true
	}
	return 0, false
}

// pick chooses the consumer for e, or nil when the right one has no permits.
func (s *subscription) pick(e *entry) *consumer {
	if len(s.consumers) == 0 {
		return nil
	}
	switch s.typ {
	case subShared:
		for i := 0; i < len(s.consumers); i++ {
			c := s.consumers[(s.rr+i)%len(s.consumers)]
			if c.permits > 0 {
				s.rr = (s.rr + i + 1) % len(s.consumers)
				return c
			}
		}
		return nil
	case subKeyShared:
		h := fnv.New32a()
		_, _ = h.Write([]byte(e.key))
		c := s.consumers[int(h.Sum32()%uint32(len(s.consumers)))]
		if c.permits > 0 {
			return c
		}
		return nil
	default:
		if c := s.consumers[0]; c.permits > 0 {
			return c
		}
		return nil
	}
}

// dispatch sends what it can to consumers with permits. Called with the
// topic lock held.
func (s *subscription) dispatch() {
	for {
		id, ok := s.nextEntry()
		if !ok {
			return
		}
		e, _ := s.topic.entry(id)
		c := s.pick(e)
		if c == nil {
			return
		}
		if id == s.readPos {
			s.readPos++
		} else {
			s.removeRedeliver(id)
		}
		s.pending[id] = c
		c.pending++
		c.permits -= e.numMessages
		body := make(enc, 0, 48).u(1, c.id).m(2, msgID(ledgerID, id, -1))
		if n := s.redeliveries[id]; n > 0 {
			body = body.u(3, uint64(n))
		}
		c.conn.send(frame(cmdMessage, body, e.data))
	}
}

// reset moves the subscription to entry id: everything before it counts
// as acknowledged, everything from it on as never delivered.
func (s *subscription) reset(id uint64) {
	if id > s.topic.next() {
		id = s.topic.next()
	}
	s.ackedBelow, s.readPos = id, id
	s.topic.cursorsDirty = true
	s.acked = make(map[uint64]struct{})
	s.redeliver = nil
	for pid, c := range s.pending {
		c.pending--
		delete(s.pending, pid)
	}
}

func (t *topic) unload() {
	t.mu.Lock()
	var ps []*producer
	for _, p := range t.producers {
		ps = append(ps, p)
	}
	var cs []*consumer
	for _, s := range t.subs {
		cs = append(cs, s.consumers...)
	}
	t.mu.Unlock()
	for _, p := range ps {
		p.conn.closeProducer(p, true)
	}
	for _, c := range cs {
		c.conn.closeConsumer(c, true)
	}
}

// TopicStats are a topic's counters, for test assertions.
type TopicStats struct {
	// Published counts messages stored (a batch counts its messages).
	Published uint64
	// Deduplicated counts messages dropped as duplicates.
	Deduplicated uint64
	// Entries counts stored entries (a batch is one entry).
	Entries int
	// Producers counts connected producers.
	Producers int
	// Subscriptions by name.
	Subscriptions map[string]SubscriptionStats
}

// SubscriptionStats are one subscription's counters.
type SubscriptionStats struct {
	// Type is Exclusive, Shared, Failover or Key_Shared.
	Type string
	// Consumers counts connected consumers.
	Consumers int
	// Backlog counts messages not yet acknowledged.
	Backlog uint64
	// Unacked counts messages delivered and not yet acknowledged.
	Unacked uint64
	// Acked counts messages acknowledged.
	Acked uint64
	// Redelivered counts messages sent again after a nack or a consumer loss.
	Redelivered uint64
}

func (t *topic) stats() TopicStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := TopicStats{
		Published: t.published, Deduplicated: t.dedup, Entries: len(t.entries),
		Producers: len(t.producers), Subscriptions: make(map[string]SubscriptionStats, len(t.subs)),
	}
	for name, s := range t.subs {
		ss := SubscriptionStats{
			Type: subTypeNames[s.typ], Consumers: len(s.consumers),
			Acked: s.ackedMsgs, Redelivered: s.redeliveredMsgs,
		}
		for id := max(s.ackedBelow, t.first); id < t.next(); id++ {
			if _, ok := s.acked[id]; ok {
				continue
			}
			e, _ := t.entry(id)
			ss.Backlog += uint64(e.numMessages)
			if s.pending[id] != nil {
				ss.Unacked += uint64(e.numMessages)
			}
		}
		st.Subscriptions[name] = ss
	}
	return st
}
