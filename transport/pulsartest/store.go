package pulsartest

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// diskStore keeps topics in a data directory: per topic an append-only log
// of entries (each with its producer's sequence id) and a cursors file
// with the durable subscriptions' positions. Cursors are written when
// subscriptions come and go, every second while acknowledgements arrive,
// and on Close, so after a crash up to a second of acknowledged messages
// may be delivered again, never lost. Entries are written without fsync:
// they survive a killed process, not a lost machine (why: package doc,
// "Durability of the data directory").
type diskStore struct {
	dir string

	mu   sync.Mutex
	logs map[string]*os.File
}

type cursorFile struct {
	Subscriptions []cursorRecord `json:"subscriptions"`
}

type cursorRecord struct {
	Name       string   `json:"name"`
	Type       int      `json:"type"`
	AckedBelow uint64   `json:"acked_below"`
	Acked      []uint64 `json:"acked,omitempty"`
}

func topicDir(dir, name string) string {
	return filepath.Join(dir, "topics", url.PathEscape(name))
}

// openDiskStore opens dir, creating it, and loads its topics.
func openDiskStore(dir string) (*diskStore, []*topic, error) {
	if err := os.MkdirAll(filepath.Join(dir, "topics"), 0o755); err != nil {
		return nil, nil, fmt.Errorf("pulsartest: data dir: %w", err)
	}
	s := &diskStore{dir: dir, logs: make(map[string]*os.File)}
	ents, err := os.ReadDir(filepath.Join(dir, "topics"))
	if err != nil {
		return nil, nil, fmt.Errorf("pulsartest: data dir: %w", err)
	}
	var topics []*topic
	for _, de := range ents {
		name, err := url.PathUnescape(de.Name())
		if err != nil || !de.IsDir() {
			continue
		}
		t := newTopic(nil, name)
		if err := s.load(t); err != nil {
			_ = s.close()
			return nil, nil, err
		}
		topics = append(topics, t)
	}
	return s, topics, nil
}

// load replays a topic's log, cutting a torn tail, and reads its cursors.
func (s *diskStore) load(t *topic) error {
	dir := topicDir(s.dir, t.name)
	path := filepath.Join(dir, "log")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("pulsartest: topic %s: %w", t.name, err)
	}
	r := bufio.NewReader(f)
	var good int64
	first := true
	for {
		body, err := readRecord(r)
		if err != nil {
			break // EOF or a torn/corrupt tail: keep what is whole
		}
		e, producer, seq, err := decodeEntry(body)
		if err != nil {
			break
		}
		if first {
			t.first = e.id
			first = false
		}
		if e.id != t.next() {
			break
		}
		t.entries = append(t.entries, e)
		t.lastSeq[producer] = seq
		t.published += uint64(e.numMessages)
		good += int64(8 + len(body))
	}
	if err := f.Truncate(good); err != nil {
		_ = f.Close()
		return fmt.Errorf("pulsartest: topic %s: %w", t.name, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		_ = f.Close()
		return fmt.Errorf("pulsartest: topic %s: %w", t.name, err)
	}
	s.logs[t.name] = f
	cpath := filepath.Join(dir, "cursors.json")
	b, err := os.ReadFile(cpath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pulsartest: topic %s: %w", t.name, err)
	}
	var cf cursorFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return fmt.Errorf("pulsartest: topic %s: %s: %w", t.name, cpath, err)
	}
	for _, cr := range cf.Subscriptions {
		if cr.Type < subExclusive || cr.Type > subKeyShared || cr.Name == "" {
			return fmt.Errorf("pulsartest: topic %s: %s: bad subscription %q (type %d)", t.name, cpath, cr.Name, cr.Type)
		}
		pos := min(max(cr.AckedBelow, t.first), t.next())
		sub := newSubscription(t, cr.Name, cr.Type, true, pos)
		for _, id := range cr.Acked {
			if id >= pos && id < t.next() {
				sub.acked[id] = struct{}{}
			}
		}
		t.subs[cr.Name] = sub
	}
	return nil
}

func readRecord(r *bufio.Reader) ([]byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > 64<<20 {
		return nil, errors.New("record too large")
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
		return nil, errors.New("record checksum mismatch")
	}
	return body, nil
}

// Entry record: id u64, seq i64, publish millis i64, num u32, then
// producer, key and data each as u32 length + bytes.
func encodeEntry(e entry, producer string, seq int64) []byte {
	b := make([]byte, 8, 8+40+len(producer)+len(e.key)+len(e.data))
	b = binary.BigEndian.AppendUint64(b, e.id)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = binary.BigEndian.AppendUint64(b, uint64(e.publishTime.UnixMilli()))
	b = binary.BigEndian.AppendUint32(b, uint32(e.numMessages))
	for _, s := range [][]byte{[]byte(producer), []byte(e.key), e.data} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	body := b[8:]
	binary.BigEndian.PutUint32(b, uint32(len(body)))
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(body, castagnoli))
	return b
}

func decodeEntry(b []byte) (entry, string, int64, error) {
	bad := errors.New("pulsartest: bad log record")
	if len(b) < 28 {
		return entry{}, "", 0, bad
	}
	e := entry{
		id:          binary.BigEndian.Uint64(b),
		publishTime: time.UnixMilli(int64(binary.BigEndian.Uint64(b[16:]))),
		numMessages: int(binary.BigEndian.Uint32(b[24:])),
	}
	seq := int64(binary.BigEndian.Uint64(b[8:]))
	b = b[28:]
	var parts [3][]byte
	for i := range parts {
		if len(b) < 4 {
			return entry{}, "", 0, bad
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return entry{}, "", 0, bad
		}
		parts[i] = b[4 : 4+n]
		b = b[4+n:]
	}
	e.key, e.data = string(parts[1]), parts[2]
	return e, string(parts[0]), seq, nil
}

func (s *diskStore) createTopic(t *topic) error {
	dir := topicDir(s.dir, t.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pulsartest: topic %s: %w", t.name, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pulsartest: topic %s: %w", t.name, err)
	}
	s.mu.Lock()
	s.logs[t.name] = f
	s.mu.Unlock()
	return nil
}

func (s *diskStore) appendEntry(t *topic, producer string, seq int64, e entry) error {
	s.mu.Lock()
	f := s.logs[t.name]
	s.mu.Unlock()
	if f == nil {
		return fmt.Errorf("pulsartest: topic %s has no log", t.name)
	}
	if _, err := f.Write(encodeEntry(e, producer, seq)); err != nil {
		return fmt.Errorf("pulsartest: topic %s: %w", t.name, err)
	}
	return nil
}

// saveCursors writes the durable subscriptions of t. Called with t.mu held.
func (s *diskStore) saveCursors(t *topic) error {
	var cf cursorFile
	for _, sub := range t.subs {
		if !sub.durable {
			continue
		}
		cr := cursorRecord{Name: sub.name, Type: sub.typ, AckedBelow: sub.ackedBelow}
		for id := range sub.acked {
			cr.Acked = append(cr.Acked, id)
		}
		cf.Subscriptions = append(cf.Subscriptions, cr)
	}
	b, err := json.Marshal(cf)
	if err != nil {
		return err
	}
	dir := topicDir(s.dir, t.name)
	tmp := filepath.Join(dir, "cursors.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("pulsartest: topic %s cursors: %w", t.name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "cursors.json")); err != nil {
		return fmt.Errorf("pulsartest: topic %s cursors: %w", t.name, err)
	}
	return nil
}

func (s *diskStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for n, f := range s.logs {
		if e := f.Close(); e != nil && err == nil {
			err = e
		}
		delete(s.logs, n)
	}
	return err
}
