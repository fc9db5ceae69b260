package mqttconn

import (
	"context"
	"errors"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kiln-iot/kiln/config"
)

func TestCheckServersNamesEachBadAddress(t *testing.T) {
	var p config.Problems
	CheckServers(&p, []string{"tcp://a:1883", "a:1883", "http://a", "ssl://b:8883"})
	list := config.List(p.Err())
	if len(list) != 2 || list[0].Path != "servers[1]" || list[1].Path != "servers[2]" {
		t.Errorf("problems %v", list)
	}
	var none config.Problems
	CheckServers(&none, nil)
	if none.Len() != 1 {
		t.Errorf("no servers: %v", none.Err())
	}
}

func TestWaitEndsOnContextAndLimit(t *testing.T) {
	tok := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://127.0.0.1:1")).Connect() // a refused connection completes with an error
	if err := Wait(context.Background(), tok, 30*time.Second); err == nil {
		t.Error("a refused connection waited to nil")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, newPending(), time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait = %v", err)
	}
	if err := Wait(context.Background(), newPending(), 10*time.Millisecond); !errors.Is(err, ErrNoAnswer) {
		t.Errorf("wait past the limit = %v, want ErrNoAnswer", err)
	}
}

// pendingToken never completes.
type pendingToken struct{ done chan struct{} }

func newPending() *pendingToken                        { return &pendingToken{done: make(chan struct{})} }
func (p *pendingToken) Wait() bool                     { <-p.done; return true }
func (p *pendingToken) WaitTimeout(time.Duration) bool { return false }
func (p *pendingToken) Done() <-chan struct{}          { return p.done }
func (p *pendingToken) Error() error                   { return nil }
