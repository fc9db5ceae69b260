package pulsartest

import (
	"bufio"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protowire"
)

const serverVersion = "pulsartest"

// maxProtocolVersion is the newest protocol version the broker speaks (v20).
const maxProtocolVersion = 20

// noRequest is the request id of errors not answering a request.
const noRequest = math.MaxUint64

type timedFrame struct {
	due time.Time
	b   []byte
}

// conn is one client connection.
type conn struct {
	b  *Broker
	nc net.Conn

	mu      sync.Mutex // guards out, delayed, closed
	out     [][]byte
	delayed []timedFrame
	closed  bool
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{} // closed when the connection is fully torn down

	lastRecv atomic.Int64 // unix nanos

	// Owned by the serve goroutine, and by broker-side closes under stateMu.
	stateMu   sync.Mutex
	connected bool
	role      string
	producers map[uint64]*producer
	consumers map[uint64]*consumer
}

func newConn(b *Broker, nc net.Conn) *conn {
	c := &conn{
		b: b, nc: nc,
		wake:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		producers: make(map[uint64]*producer),
		consumers: make(map[uint64]*consumer),
	}
	c.lastRecv.Store(time.Now().UnixNano())
	return c
}

// send queues a frame for the writer; it never blocks.
func (c *conn) send(f []byte) {
	c.mu.Lock()
	if !c.closed {
		c.out = append(c.out, f)
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// sendAt queues a frame to be written no earlier than due.
func (c *conn) sendAt(due time.Time, f []byte) {
	c.mu.Lock()
	if !c.closed {
		c.delayed = append(c.delayed, timedFrame{due, f})
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// close shuts the socket; serve then tears the connection down.
func (c *conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	close(c.quit)
	_ = c.nc.Close()
}

func (c *conn) writer(wg *sync.WaitGroup) {
	defer wg.Done()
	w := bufio.NewWriterSize(c.nc, 64<<10)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.mu.Lock()
		out := c.out
		c.out = nil
		now := time.Now()
		var next time.Time
		for len(c.delayed) > 0 {
			d := c.delayed[0]
			if d.due.After(now) {
				next = d.due
				break
			}
			out = append(out, d.b)
			c.delayed = c.delayed[1:]
		}
		c.mu.Unlock()
		for _, f := range out {
			if _, err := w.Write(f); err != nil {
				c.close()
				return
			}
		}
		if len(out) > 0 {
			if err := w.Flush(); err != nil {
				c.close()
				return
			}
			continue // more may have arrived while writing
		}
		var tc <-chan time.Time
		if !next.IsZero() {
			timer.Reset(time.Until(next))
			tc = timer.C
		}
		select {
		case <-c.quit:
			return
		case <-c.wake:
		case <-tc:
		}
		if tc != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (c *conn) keepalive(wg *sync.WaitGroup) {
	defer wg.Done()
	ka := c.b.cfg.KeepAlive
	t := time.NewTicker(ka)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
			if time.Since(time.Unix(0, c.lastRecv.Load())) > 2*ka {
				c.b.log.Info("pulsartest: closing idle connection", zap.String("remote", c.nc.RemoteAddr().String()))
				c.close()
				return
			}
			c.send(frame(cmdPing, nil, nil))
		}
	}
}

// serve reads and handles frames until the connection fails.
func (c *conn) serve() {
	var wg sync.WaitGroup
	wg.Add(2)
	go c.writer(&wg)
	go c.keepalive(&wg)
	r := bufio.NewReaderSize(c.nc, 64<<10)
	maxFrame := c.b.cfg.MaxMessageSize + 10<<10
	var buf []byte
	for {
		cmd, nb, err := readFrame(r, buf, maxFrame)
		buf = nb
		if err != nil {
			if !c.isClosed() {
				c.b.log.Debug("pulsartest: connection read failed", zap.Error(err))
			}
			break
		}
		c.lastRecv.Store(time.Now().UnixNano())
		if err := c.handle(cmd); err != nil {
			c.b.log.Info("pulsartest: closing connection on bad command", zap.Error(err))
			break
		}
	}
	c.close()
	c.teardown()
	wg.Wait()
	c.b.removeConn(c)
	close(c.done)
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// teardown removes the connection's producers and consumers from their
// topics; unacknowledged messages go back for redelivery.
func (c *conn) teardown() {
	c.stateMu.Lock()
	ps := c.producers
	cs := c.consumers
	c.producers = map[uint64]*producer{}
	c.consumers = map[uint64]*consumer{}
	c.stateMu.Unlock()
	for _, p := range ps {
		p.topic.mu.Lock()
		if p.topic.producers[p.name] == p {
			delete(p.topic.producers, p.name)
		}
		p.topic.mu.Unlock()
	}
	for _, cs := range cs {
		t := cs.sub.topic
		t.mu.Lock()
		cs.sub.removeConsumer(cs)
		t.mu.Unlock()
	}
}

func (c *conn) sendError(reqID uint64, code ServerError, msg string) {
	c.send(frame(cmdError, enc(nil).u(1, reqID).u(2, uint64(code)).s(3, msg), nil))
}

func (c *conn) sendSuccess(reqID uint64) {
	c.send(frame(cmdSuccess, enc(nil).u(1, reqID), nil))
}

// handle runs one command. An error closes the connection.
func (c *conn) handle(cmd command) error {
	c.stateMu.Lock()
	connected := c.connected
	c.stateMu.Unlock()
	if !connected {
		if cmd.typ != cmdConnect {
			return fmt.Errorf("pulsartest: command %d before connect", cmd.typ)
		}
		return c.handleConnect(cmd.body)
	}
	m := cmd.body
	switch cmd.typ {
	case cmdConnect:
		return fmt.Errorf("pulsartest: second connect on a connection")
	case cmdPing:
		c.send(frame(cmdPong, nil, nil))
	case cmdPong:
	case cmdPartitionedMetadata:
		c.handlePartitionedMetadata(m)
	case cmdLookup:
		c.handleLookup(m)
	case cmdProducer:
		c.handleProducer(m)
	case cmdSend:
		return c.handleSend(m, cmd.payload)
	case cmdCloseProducer:
		c.handleCloseProducer(m)
	case cmdSubscribe:
		return c.handleSubscribe(m)
	case cmdFlow:
		c.handleFlow(m)
	case cmdAck:
		return c.handleAck(m)
	case cmdRedeliver:
		return c.handleRedeliver(m)
	case cmdUnsubscribe:
		c.handleUnsubscribe(m)
	case cmdCloseConsumer:
		c.handleCloseConsumer(m)
	case cmdSeek:
		return c.handleSeek(m)
	case cmdGetLastMessageID:
		c.handleGetLastMessageID(m)
	default:
		// Commands outside the supported subset that carry a request id
		// (field 1 in all of them) get an error rather than silence.
		if m.has(1) {
			c.sendError(m.u64(1), NotAllowedError, fmt.Sprintf("command type %d not supported by pulsartest", cmd.typ))
		}
	}
	return nil
}

func (c *conn) handleConnect(m pmsg) error {
	role, err := c.b.cfg.Auth.authenticate(m.str(5), m.bytes(3))
	if err != nil {
		c.sendError(noRequest, AuthenticationError, err.Error())
		return err
	}
	v := int64(int32(m.u64(4)))
	v = min(max(v, 0), maxProtocolVersion)
	c.stateMu.Lock()
	c.connected = true
	c.role = role
	c.stateMu.Unlock()
	c.send(frame(cmdConnected, enc(nil).s(1, serverVersion).i(2, v).i(3, int64(c.b.cfg.MaxMessageSize)), nil))
	return nil
}

func (c *conn) handlePartitionedMetadata(m pmsg) {
	reqID := m.u64(2)
	if _, err := ParseTopicName(m.str(1)); err != nil {
		c.send(frame(cmdPartitionedMetaResp, enc(nil).u(2, reqID).u(3, 1).u(4, uint64(InvalidTopicName)).s(5, err.Error()), nil))
		return
	}
	c.send(frame(cmdPartitionedMetaResp, enc(nil).u(1, 0).u(2, reqID).u(3, 0), nil))
}

func (c *conn) handleLookup(m pmsg) {
	reqID := m.u64(2)
	if _, err := ParseTopicName(m.str(1)); err != nil {
		c.send(frame(cmdLookupResponse, enc(nil).u(3, 2).u(4, reqID).u(6, uint64(InvalidTopicName)).s(7, err.Error()), nil))
		return
	}
	c.send(frame(cmdLookupResponse, enc(nil).s(1, c.b.URL()).u(3, 1).u(4, reqID).b(5, true), nil))
}

func (c *conn) handleProducer(m pmsg) {
	name, pid, reqID := m.str(1), m.u64(2), m.u64(3)
	tn, err := ParseTopicName(name)
	if err != nil {
		c.sendError(reqID, InvalidTopicName, err.Error())
		return
	}
	c.stateMu.Lock()
	role := c.role
	existing := c.producers[pid]
	c.stateMu.Unlock()
	if !c.b.cfg.Auth.authorize(role, tn, ActionProduce) {
		c.sendError(reqID, AuthorizationError, "Client is not authorized to Publish")
		return
	}
	t, err := c.b.topic(tn.String())
	if err != nil {
		c.sendError(reqID, PersistenceError, err.Error())
		return
	}
	if existing != nil { // the client repeated a request that we answered
		c.send(frame(cmdProducerSuccess, enc(nil).u(1, reqID).s(2, existing.name).i(3, t.lastSequence(existing.name)).b(6, true), nil))
		return
	}
	pname := m.str(4)
	if pname == "" {
		pname = c.b.producerName()
	}
	p := &producer{id: pid, name: pname, conn: c, topic: t}
	t.mu.Lock()
	if other := t.producers[pname]; other != nil {
		t.mu.Unlock()
		c.sendError(reqID, ProducerBusy, fmt.Sprintf("Producer with name '%s' is already connected to topic", pname))
		return
	}
	t.producers[pname] = p
	t.mu.Unlock()
	c.stateMu.Lock()
	c.producers[pid] = p
	c.stateMu.Unlock()
	c.send(frame(cmdProducerSuccess, enc(nil).u(1, reqID).s(2, pname).i(3, t.lastSequence(pname)).b(6, true), nil))
}

func (c *conn) handleSend(m pmsg, payload []byte) error {
	pid, seq := m.u64(1), m.u64(2)
	c.stateMu.Lock()
	p := c.producers[pid]
	c.stateMu.Unlock()
	sendErr := func(code ServerError, msg string) {
		c.send(frame(cmdSendError, enc(nil).u(1, pid).u(2, seq).u(3, uint64(code)).s(4, msg), nil))
	}
	if p == nil {
		sendErr(NotAllowedError, fmt.Sprintf("producer %d is not open on this connection", pid))
		return nil
	}
	f := c.b.currentFaults()
	if f.rejectSends {
		sendErr(PersistenceError, "pulsartest: sends rejected by fault injection")
		return nil
	}
	info, err := parsePayload(payload)
	if err != nil {
		sendErr(ChecksumError, err.Error())
		return nil
	}
	highest := int64(m.u64(6))
	data := append([]byte(nil), payload...)
	t := p.topic
	t.mu.Lock()
	id, stored, err := t.append(p.name, int64(seq), highest, data, info.numMessages, info.key)
	t.mu.Unlock()
	if err != nil {
		sendErr(PersistenceError, err.Error())
		return nil
	}
	if f.withholdReceipt {
		return nil
	}
	mid := msgID(math.MaxUint64, math.MaxUint64, -1) // a duplicate, as Pulsar answers it
	if stored {
		mid = msgID(ledgerID, id, -1)
	}
	body := make(enc, 0, 64).u(1, pid).u(2, seq).m(3, mid)
	if m.has(6) {
		body = body.u(4, uint64(highest))
	}
	r := frame(cmdSendReceipt, body, nil)
	if f.receiptDelay > 0 {
		c.sendAt(time.Now().Add(f.receiptDelay), r)
	} else {
		c.send(r)
	}
	return nil
}

func (c *conn) handleCloseProducer(m pmsg) {
	pid, reqID := m.u64(1), m.u64(2)
	c.stateMu.Lock()
	p := c.producers[pid]
	c.stateMu.Unlock()
	if p != nil {
		c.closeProducer(p, false)
	}
	c.sendSuccess(reqID)
}

// closeProducer removes p; byBroker tells the client too.
func (c *conn) closeProducer(p *producer, byBroker bool) {
	c.stateMu.Lock()
	_, ok := c.producers[p.id]
	delete(c.producers, p.id)
	c.stateMu.Unlock()
	if !ok {
		return
	}
	p.topic.mu.Lock()
	if p.topic.producers[p.name] == p {
		delete(p.topic.producers, p.name)
	}
	p.topic.mu.Unlock()
	if byBroker {
		c.send(frame(cmdCloseProducer, enc(nil).u(1, p.id).u(2, noRequest), nil))
	}
}

func (c *conn) handleSubscribe(m pmsg) error {
	name, subName, typ, cid, reqID := m.str(1), m.str(2), int(m.u64(3)), m.u64(4), m.u64(5)
	tn, err := ParseTopicName(name)
	if err != nil {
		c.sendError(reqID, InvalidTopicName, err.Error())
		return nil
	}
	if typ < subExclusive || typ > subKeyShared {
		c.sendError(reqID, NotAllowedError, fmt.Sprintf("unknown subscription type %d", typ))
		return nil
	}
	if subName == "" {
		c.sendError(reqID, NotAllowedError, "empty subscription name")
		return nil
	}
	c.stateMu.Lock()
	role := c.role
	_, dup := c.consumers[cid]
	c.stateMu.Unlock()
	if !c.b.cfg.Auth.authorize(role, tn, ActionConsume) {
		c.sendError(reqID, AuthorizationError, "Client is not authorized to subscribe")
		return nil
	}
	if dup {
		c.sendSuccess(reqID)
		return nil
	}
	t, err := c.b.topic(tn.String())
	if err != nil {
		c.sendError(reqID, PersistenceError, err.Error())
		return nil
	}
	durable := !m.has(8) || m.u64(8) != 0
	earliest := m.u64(13) == 1
	start, err := m.sub(9)
	if err != nil {
		return err
	}
	cons := &consumer{id: cid, name: m.str(6), priority: int(int32(m.u64(7))), conn: c}
	t.mu.Lock()
	s := t.subs[subName]
	if s != nil && len(s.consumers) > 0 {
		if s.typ != typ {
			t.mu.Unlock()
			c.sendError(reqID, ConsumerBusy, "Subscription is of different type")
			return nil
		}
		if typ == subExclusive {
			t.mu.Unlock()
			c.sendError(reqID, ConsumerBusy, "Exclusive consumer is already connected")
			return nil
		}
	}
	if s == nil {
		pos := t.next()
		if earliest {
			pos = t.first
		}
		if start != nil && !durable {
			pos = t.position(start)
		}
		s = newSubscription(t, subName, typ, durable, pos)
		t.subs[subName] = s
		if durable && t.broker.store != nil {
			if err := t.broker.store.saveCursors(t); err != nil {
				c.b.log.Warn("pulsartest: saving subscription", zap.Error(err))
			}
		}
	}
	s.typ = typ
	cons.sub = s
	s.addConsumer(cons)
	t.mu.Unlock()
	c.stateMu.Lock()
	c.consumers[cid] = cons
	c.stateMu.Unlock()
	c.sendSuccess(reqID)
	return nil
}

// position maps a client's start message id to an entry id: earliest is
// (-1,-1), latest is (MaxInt64,MaxInt64).
func (t *topic) position(id pmsg) uint64 {
	l, e := id.u64(1), id.u64(2)
	switch {
	case int64(l) < 0:
		return t.first
	case l > ledgerID || e >= t.next():
		return t.next()
	case e < t.first:
		return t.first
	}
	return e
}

func (c *conn) consumer(id uint64) *consumer {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.consumers[id]
}

func (c *conn) handleFlow(m pmsg) {
	cons := c.consumer(m.u64(1))
	if cons == nil {
		return
	}
	t := cons.sub.topic
	t.mu.Lock()
	cons.permits += int(min(m.u64(2), math.MaxInt32))
	cons.sub.dispatch()
	t.mu.Unlock()
}

// partialAck tells whether an ack set leaves some batch messages unacknowledged.
func partialAck(id pmsg) bool {
	for _, f := range id {
		if f.num != 5 {
			continue
		}
		switch f.typ {
		case protowire.VarintType:
			if f.v != 0 {
				return true
			}
		case protowire.BytesType:
			b := f.b
			for len(b) > 0 {
				v, n := protowire.ConsumeVarint(b)
				if n < 0 {
					return true
				}
				if v != 0 {
					return true
				}
				b = b[n:]
			}
		}
	}
	return false
}

func (c *conn) handleAck(m pmsg) error {
	cid := m.u64(1)
	ids, err := m.subs(3)
	if err != nil {
		return err
	}
	if cons := c.consumer(cid); cons != nil {
		s := cons.sub
		t := s.topic
		t.mu.Lock()
		for _, id := range ids {
			if id.u64(1) != ledgerID || partialAck(id) {
				continue
			}
			if m.u64(2) == 1 {
				s.ackCumulative(id.u64(2))
			} else {
				s.ack(id.u64(2))
			}
		}
		s.dispatch()
		t.mu.Unlock()
	}
	if m.has(8) {
		c.send(frame(cmdAckResponse, enc(nil).u(1, cid).u(6, m.u64(8)), nil))
	}
	return nil
}

func (c *conn) handleRedeliver(m pmsg) error {
	cons := c.consumer(m.u64(1))
	ids, err := m.subs(2)
	if err != nil || cons == nil {
		return err
	}
	s := cons.sub
	t := s.topic
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(ids) == 0 {
		s.requeueConsumer(cons)
	}
	for _, id := range ids {
		if id.u64(1) == ledgerID && s.pending[id.u64(2)] == cons {
			s.requeue(id.u64(2))
		}
	}
	s.dispatch()
	return nil
}

func (c *conn) handleUnsubscribe(m pmsg) {
	cid, reqID := m.u64(1), m.u64(2)
	cons := c.consumer(cid)
	if cons == nil {
		c.sendError(reqID, ConsumerNotFound, "Consumer not found")
		return
	}
	s := cons.sub
	t := s.topic
	t.mu.Lock()
	if len(s.consumers) > 1 {
		t.mu.Unlock()
		c.sendError(reqID, ConsumerBusy, "Subscription has other connected consumers")
		return
	}
	s.removeConsumer(cons)
	delete(t.subs, s.name)
	if t.broker.store != nil {
		if err := t.broker.store.saveCursors(t); err != nil {
			c.b.log.Warn("pulsartest: saving subscriptions", zap.Error(err))
		}
	}
	t.mu.Unlock()
	c.stateMu.Lock()
	delete(c.consumers, cid)
	c.stateMu.Unlock()
	c.sendSuccess(reqID)
}

func (c *conn) handleCloseConsumer(m pmsg) {
	cid, reqID := m.u64(1), m.u64(2)
	if cons := c.consumer(cid); cons != nil {
		c.closeConsumer(cons, false)
	}
	c.sendSuccess(reqID)
}

// closeConsumer removes cons; byBroker tells the client too.
func (c *conn) closeConsumer(cons *consumer, byBroker bool) {
	c.stateMu.Lock()
	_, ok := c.consumers[cons.id]
	delete(c.consumers, cons.id)
	c.stateMu.Unlock()
	if !ok {
		return
	}
	t := cons.sub.topic
	t.mu.Lock()
	cons.sub.removeConsumer(cons)
	t.mu.Unlock()
	if byBroker {
		c.send(frame(cmdCloseConsumer, enc(nil).u(1, cons.id).u(2, noRequest), nil))
	}
}

func (c *conn) handleSeek(m pmsg) error {
	cid, reqID := m.u64(1), m.u64(2)
	cons := c.consumer(cid)
	if cons == nil {
		c.sendError(reqID, ConsumerNotFound, "Consumer not found")
		return nil
	}
	id, err := m.sub(3)
	if err != nil {
		return err
	}
	s := cons.sub
	t := s.topic
	t.mu.Lock()
	var pos uint64
	switch {
	case id != nil:
		pos = t.position(id)
	case m.has(4):
		at := time.UnixMilli(int64(m.u64(4)))
		pos = t.next()
		for i := range t.entries {
			if !t.entries[i].publishTime.Before(at) {
				pos = t.entries[i].id
				break
			}
		}
	default:
		t.mu.Unlock()
		c.sendError(reqID, NotAllowedError, "seek needs a message id or a publish time")
		return nil
	}
	s.reset(pos)
	cs := append([]*consumer(nil), s.consumers...)
	t.mu.Unlock()
	c.sendSuccess(reqID)
	// As Pulsar does, the consumers reconnect and start from the new position.
	for _, x := range cs {
		x.conn.closeConsumer(x, true)
	}
	return nil
}

func (c *conn) handleGetLastMessageID(m pmsg) {
	cid, reqID := m.u64(1), m.u64(2)
	cons := c.consumer(cid)
	if cons == nil {
		c.sendError(reqID, ConsumerNotFound, "Consumer not found")
		return
	}
	t := cons.sub.topic
	t.mu.Lock()
	last := msgID(ledgerID, math.MaxUint64, -1) // entry -1: no message yet
	if n := t.next(); n > t.first {
		e, _ := t.entry(n - 1)
		bi := int32(-1)
		if e.numMessages > 1 {
			bi = int32(e.numMessages - 1)
		}
		last = msgID(ledgerID, n-1, bi)
	}
	mark := msgID(ledgerID, cons.sub.ackedBelow-1, -1)
	t.mu.Unlock()
	c.send(frame(cmdGetLastMessageIDResp, enc(nil).m(1, last).u(2, reqID).m(3, mark), nil))
}
