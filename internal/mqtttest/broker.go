package mqtttest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Options shape a broker. The zero value is an anonymous broker on plain
// TCP.
type Options struct {
	// Users maps user names to passwords; when set, anonymous clients are
	// refused.
	Users map[string]string
	// ACL is the text of a mosquitto ACL file ("user gw1\ntopic write
	// spBv1.0/acme/#"); empty allows every topic.
	ACL string
	// TLS serves TLS only and requires a client certificate, whose common
	// name becomes the user name (use_identity_as_username).
	TLS bool
}

// Broker is a running mosquitto.
type Broker struct {
	t    testing.TB
	opts Options
	dir  string
	port int
	ca   *x509.Certificate
	caK  *ecdsa.PrivateKey

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}

	logMu sync.Mutex
	logs  *bytes.Buffer
}

// Binary returns the path of mosquitto, or an error saying how to get it.
func Binary() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", fmt.Errorf("mqtttest: mosquitto not found; install Debian's mosquitto package (./scripts/test does)")
}

// Start starts a broker; it is stopped when the test ends.
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	b := &Broker{t: t, opts: opts, dir: t.TempDir()}
	if opts.TLS {
		b.makeCA()
	}
	if err := b.writeFiles(); err != nil {
		t.Fatal(err)
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if b.port, err = freePort(); err != nil {
			continue
		}
		if err = b.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
	t.Cleanup(b.Stop)
	return b
}

// URL returns the broker's address for paho: tcp://127.0.0.1:port, or
// ssl://127.0.0.1:port under TLS.
func (b *Broker) URL() string {
	scheme := "tcp"
	if b.opts.TLS {
		scheme = "ssl"
	}
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, b.port)
}

// Addr returns host:port.
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// Stop stops the broker (SIGTERM, then SIGKILL after 5 s) and waits for
// it. It is idempotent.
func (b *Broker) Stop() {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts the broker again on the same port after Stop.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err = b.start(); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the port may linger briefly
	}
	if err != nil {
		b.t.Fatalf("mqtttest: restart: %v", err)
	}
}

// Logs returns what the broker has logged since its last start.
func (b *Broker) Logs() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	if b.logs == nil {
		return ""
	}
	return b.logs.String()
}

func (b *Broker) start() error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	conf := filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(b.config()), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(bin, "-c", conf)
	b.logMu.Lock()
	b.logs = &bytes.Buffer{}
	b.logMu.Unlock()
	w := &lockedWriter{mu: &b.logMu, w: b.logs}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting mosquitto: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			return fmt.Errorf("mosquitto on port %d exited: %s", b.port, b.Logs())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("mosquitto on port %d did not accept connections in 20s", b.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.mu.Lock()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	return nil
}

func (b *Broker) config() string {
	var c strings.Builder
	fmt.Fprintf(&c, "user root\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n")
	fmt.Fprintf(&c, "per_listener_settings false\nlistener %d 127.0.0.1\n", b.port)
	if b.opts.TLS {
		fmt.Fprintf(&c, "cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\nuse_identity_as_username true\n",
			b.path("ca.pem"), b.path("server.pem"), b.path("server.key"))
	}
	switch {
	case len(b.opts.Users) > 0:
		fmt.Fprintf(&c, "allow_anonymous false\npassword_file %s\n", b.path("passwd"))
	case b.opts.TLS:
		c.WriteString("allow_anonymous false\n")
	default:
		c.WriteString("allow_anonymous true\n")
	}
	if b.opts.ACL != "" {
		fmt.Fprintf(&c, "acl_file %s\n", b.path("acl"))
	}
	return c.String()
}

func (b *Broker) path(name string) string { return filepath.Join(b.dir, name) }

func (b *Broker) writeFiles() error {
	if b.opts.ACL != "" {
		if err := os.WriteFile(b.path("acl"), []byte(b.opts.ACL+"\n"), 0o600); err != nil {
			return err
		}
	}
	if len(b.opts.Users) > 0 {
		users := make([]string, 0, len(b.opts.Users))
		for u := range b.opts.Users {
			users = append(users, u)
		}
		sort.Strings(users)
		for i, u := range users {
			args := []string{"-b", b.path("passwd"), u, b.opts.Users[u]}
			if i == 0 {
				args = append([]string{"-c"}, args...)
			}
			if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("mqtttest: mosquitto_passwd: %v: %s", err, out)
			}
		}
	}
	return nil
}

// makeCA makes the broker's throwaway CA and server certificate.
func (b *Broker) makeCA() {
	b.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kiln test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.t.Fatal(err)
	}
	b.ca, _ = x509.ParseCertificate(der)
	b.caK = key
	writePEM(b.t, b.path("ca.pem"), "CERTIFICATE", der)
	cert := b.ClientCert("127.0.0.1") // the server's: the same shape, with the IP SAN
	writePEM(b.t, b.path("server.pem"), "CERTIFICATE", cert.Certificate[0])
	kder, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		b.t.Fatal(err)
	}
	writePEM(b.t, b.path("server.key"), "EC PRIVATE KEY", kder)
}

// CAPool returns the pool holding the broker's CA (TLS brokers only).
func (b *Broker) CAPool() *x509.CertPool {
	p := x509.NewCertPool()
	if b.ca != nil {
		p.AddCert(b.ca)
	}
	return p
}

// CAFile returns the path of the broker's CA certificate (PEM).
func (b *Broker) CAFile() string { return b.path("ca.pem") }

// serial numbers the certificates of all brokers (1 is every CA's).
var serial atomic.Int64

// ClientCert issues a certificate with common name cn from the broker's CA
// (TLS brokers only); under use_identity_as_username cn is the user.
func (b *Broker) ClientCert(cn string) tls.Certificate {
	b.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.t.Fatal(err)
	}
	sn := serial.Add(1) + 1
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(sn), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, b.ca, &key.PublicKey, b.caK)
	if err != nil {
		b.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// WriteClientCert writes a client certificate and key for cn as PEM files
// in the broker's directory and returns their paths, for configs that
// name files.
func (b *Broker) WriteClientCert(cn string) (certFile, keyFile string) {
	b.t.Helper()
	c := b.ClientCert(cn)
	certFile, keyFile = b.path(cn+".pem"), b.path(cn+".key")
	writePEM(b.t, certFile, "CERTIFICATE", c.Certificate[0])
	kder, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		b.t.Fatal(err)
	}
	writePEM(b.t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
