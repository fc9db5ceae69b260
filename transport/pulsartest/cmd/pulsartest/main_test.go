package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/sirupsen/logrus"

	"github.com/kiln-iot/kiln/buildinfo"
)

// start runs the built binary on addr with dir and returns its URL.
func start(t *testing.T, bin, addr, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "-addr", addr, "-data-dir", dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("no URL printed: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestMessagesAndAcksSurviveAKilledProcess(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pulsartest")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	cmd, url := start(t, bin, addr, dir)
	l := logrus.New()
	l.SetLevel(logrus.PanicLevel)
	client, err := pulsar.NewClient(pulsar.ClientOptions{URL: url, Logger: plog.NewLoggerWithLogrus(l), OperationTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topic = "persistent://public/default/proc"
	p, err := client.CreateProducer(pulsar.ProducerOptions{Topic: topic, Name: "gw"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a", "b", "c"} {
		if _, err := p.Send(ctx, &pulsar.ProducerMessage{Payload: []byte(s)}); err != nil {
			t.Fatal(err)
		}
	}
	cons1, err := client.Subscribe(pulsar.ConsumerOptions{
		Topic: topic, SubscriptionName: "s", SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest,
		AckWithResponse: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons1.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cons1.Ack(m); err != nil {
		t.Fatal(err)
	}
	cons1.Close()
	p.Close()
	time.Sleep(1500 * time.Millisecond) // the broker saves acknowledgements every second
	_ = cmd.Process.Signal(os.Kill)
	_ = cmd.Wait()

	cmd2, _ := start(t, bin, addr, dir)
	defer func() {
		_ = cmd2.Process.Signal(os.Interrupt)
		if err := cmd2.Wait(); err != nil {
			t.Errorf("broker exit: %v", err)
		}
	}()
	cons, err := client.Subscribe(pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for _, want := range []string{"b", "c"} { // "a" was acknowledged before the kill
		m, err := cons.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Payload()) != want {
			t.Fatalf("got %q, want %q", m.Payload(), want)
		}
	}
}

func TestVersionPrintsTheBuild(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-version"}, &out); err != nil {
		t.Fatal(err)
	}
	if want := buildinfo.Get().String() + "\n"; out.String() != want {
		t.Errorf("-version printed %q, want %q", out.String(), want)
	}
}
