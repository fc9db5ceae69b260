package pulsar

import (
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestClientDefaultsNoticeADeadLinkQuickly(t *testing.T) {
	l := newLink()
	o := ClientConfig{URL: "pulsar://broker:6650"}.options(zap.NewNop(), l.reg)
	if o.ConnectionTimeout != 5*time.Second || o.KeepAliveInterval != 5*time.Second || o.OperationTimeout != 10*time.Second {
		t.Fatalf("defaults: connect %v keepalive %v operation %v, want 5s 5s 10s", o.ConnectionTimeout, o.KeepAliveInterval, o.OperationTimeout)
	}
	if o.MetricsRegisterer != l.reg {
		t.Fatal("the client's metrics would go to another registry than the one Health reads")
	}
	if o.Authentication != nil {
		t.Fatal("authentication set without a token")
	}
	if o := (ClientConfig{URL: "pulsar://b", Token: "t"}).options(zap.NewNop(), l.reg); o.Authentication == nil {
		t.Fatal("token not used")
	}
	c := PublisherConfig{Client: ClientConfig{URL: "pulsar://b"}, Topic: "persistent://a/b/c"}.withDefaults()
	if c.Compression != CompressionLZ4 || c.BatchMaxMessages != 1000 || c.BatchMaxDelay != 10*time.Millisecond ||
		c.MaxPending != 10000 || c.SendTimeout != 30*time.Second || c.ProducerName == "" {
		t.Fatalf("publisher defaults %+v", c)
	}
}
