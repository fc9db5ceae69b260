package sparkplug

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Namespace is the first topic level of Sparkplug B 3.0.
const Namespace = "spBv1.0"

// MessageType is the third level of a Sparkplug topic.
type MessageType string

// The message types of Sparkplug B 3.0.
const (
	NBIRTH MessageType = "NBIRTH"
	NDEATH MessageType = "NDEATH"
	DBIRTH MessageType = "DBIRTH"
	DDEATH MessageType = "DDEATH"
	NDATA  MessageType = "NDATA"
	DDATA  MessageType = "DDATA"
	NCMD   MessageType = "NCMD"
	DCMD   MessageType = "DCMD"
	STATE  MessageType = "STATE"
)

// deviceLevel reports whether messages of type t name a device.
func (t MessageType) deviceLevel() bool { return t == DBIRTH || t == DDEATH || t == DDATA || t == DCMD }

func (t MessageType) known() bool {
	switch t {
	case NBIRTH, NDEATH, DBIRTH, DDEATH, NDATA, DDATA, NCMD, DCMD, STATE:
		return true
	}
	return false
}

// ErrTopic is matched by every *TopicError.
var ErrTopic = errors.New("sparkplug: bad topic")

// TopicError says why a topic or an id is not Sparkplug's.
type TopicError struct {
	Topic  string
	Reason string
}

func (e *TopicError) Error() string { return fmt.Sprintf("sparkplug: topic %q: %s", e.Topic, e.Reason) }

// Is reports whether target is ErrTopic.
func (e *TopicError) Is(target error) bool { return target == ErrTopic }

// Topic is a parsed Sparkplug topic:
//
//	spBv1.0/<group>/<type>/<node>[/<device>]
//	spBv1.0/STATE/<host>
type Topic struct {
	Group  string
	Type   MessageType
	Node   string
	Device string // only for DBIRTH, DDEATH, DDATA, DCMD
	Host   string // only for STATE
}

// NodeTopic returns the topic of a node-level message.
func NodeTopic(group string, t MessageType, node string) Topic {
	return Topic{Group: group, Type: t, Node: node}
}

// DeviceTopic returns the topic of a device-level message.
func DeviceTopic(group string, t MessageType, node, device string) Topic {
	return Topic{Group: group, Type: t, Node: node, Device: device}
}

// StateTopic returns the topic of a host application's STATE.
func StateTopic(host string) Topic { return Topic{Type: STATE, Host: host} }

// String formats the topic.
func (t Topic) String() string {
	if t.Type == STATE {
		return Namespace + "/STATE/" + t.Host
	}
	s := Namespace + "/" + t.Group + "/" + string(t.Type) + "/" + t.Node
	if t.Device != "" {
		s += "/" + t.Device
	}
	return s
}

// CheckID returns an error unless id may be a group, node, device or host
// id: non-empty UTF-8 without the MQTT separators and wildcards / + #.
func CheckID(kind, id string) error {
	switch {
	case id == "":
		return &TopicError{Topic: id, Reason: kind + " id is empty"}
	case !utf8.ValidString(id):
		return &TopicError{Topic: id, Reason: kind + " id is not UTF-8"}
	case strings.ContainsAny(id, "/+#\x00"):
		return &TopicError{Topic: id, Reason: kind + " id contains one of / + # or NUL"}
	}
	return nil
}

// ParseTopic parses a Sparkplug B 3.0 topic.
func ParseTopic(s string) (Topic, error) {
	parts := strings.Split(s, "/")
	bad := func(reason string) (Topic, error) { return Topic{}, &TopicError{Topic: s, Reason: reason} }
	if parts[0] != Namespace {
		return bad("not in the " + Namespace + " namespace")
	}
	if len(parts) == 3 && parts[1] == string(STATE) {
		if err := CheckID("host", parts[2]); err != nil {
			return bad(err.(*TopicError).Reason)
		}
		return StateTopic(parts[2]), nil
	}
	if len(parts) < 4 || len(parts) > 5 {
		return bad("want spBv1.0/group/type/node[/device]")
	}
	t := Topic{Group: parts[1], Type: MessageType(parts[2]), Node: parts[3]}
	if !t.Type.known() || t.Type == STATE {
		return bad(fmt.Sprintf("unknown message type %q", parts[2]))
	}
	for _, id := range []struct{ kind, v string }{{"group", t.Group}, {"node", t.Node}} {
		if err := CheckID(id.kind, id.v); err != nil {
			return bad(err.(*TopicError).Reason)
		}
	}
	if t.Type.deviceLevel() != (len(parts) == 5) {
		if len(parts) == 5 {
			return bad(string(t.Type) + " names no device")
		}
		return bad(string(t.Type) + " needs a device id")
	}
	if len(parts) == 5 {
		t.Device = parts[4]
		if err := CheckID("device", t.Device); err != nil {
			return bad(err.(*TopicError).Reason)
		}
	}
	return t, nil
}
