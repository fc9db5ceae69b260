package tenant

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/sirupsen/logrus"

	"github.com/kiln-iot/kiln/transport/pulsartest"
)

// TestPulsarTokenAuthenticatesTheTenantsRole connects the real Pulsar
// client with the tenant's token to a broker that grants the tenant's role
// its own namespaces only.
func TestPulsarTokenAuthenticatesTheTenantsRole(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "acme.token"), []byte("secret-acme-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(dir, "tenants.yaml")
	yml := "tenants:\n  - id: acme\n    namespaces: [plant-1]\n    pulsar: {role: acme-edge, token_file: acme.token}\n"
	if err := os.WriteFile(reg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Load(reg)
	if err != nil {
		t.Fatal(err)
	}
	acme := mustTenant(t, r, "acme")

	b, err := pulsartest.New(pulsartest.Config{Auth: pulsartest.AuthConfig{
		Tokens: map[string]string{"secret-acme-token": acme.PulsarRole()},
		Grants: []pulsartest.Grant{{Role: "acme-edge", Namespace: "acme/*", Actions: []pulsartest.Action{pulsartest.ActionProduce, pulsartest.ActionConsume}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	quiet := logrus.New()
	quiet.SetLevel(logrus.PanicLevel)
	client, err := pulsar.NewClient(pulsar.ClientOptions{
		URL:               b.URL(),
		Authentication:    pulsar.NewAuthenticationTokenFromSupplier(acme.PulsarToken),
		OperationTimeout:  5 * time.Second,
		ConnectionTimeout: 2 * time.Second,
		Logger:            plog.NewLoggerWithLogrus(quiet),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	own, err := acme.Topic("plant-1", "samples")
	if err != nil {
		t.Fatal(err)
	}
	p, err := client.CreateProducer(pulsar.ProducerOptions{Topic: own})
	if err != nil {
		t.Fatalf("producer on the tenant's own topic: %v", err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.Send(ctx, &pulsar.ProducerMessage{Payload: []byte("x")}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if st, _ := b.Stats(own); st.Published != 1 {
		t.Fatalf("broker holds %d messages on %s, want 1", st.Published, own)
	}
	if p2, err := client.CreateProducer(pulsar.ProducerOptions{Topic: "persistent://globex/main/samples"}); err == nil {
		p2.Close()
		t.Fatal("the tenant's role may produce to another tenant's topic")
	}
}
