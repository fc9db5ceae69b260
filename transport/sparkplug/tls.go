package sparkplug

import (
	"crypto/tls"
	"crypto/x509"
	"os"

	"github.com/kiln-iot/kiln/config"
)

// TLS is the client side of a TLS connection.
type TLS struct {
	// CAFile verifies the broker (default: the system's roots).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate, for brokers that
	// authenticate by certificate.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the broker's certificate.
	ServerName string `yaml:"server_name"`
}

// Config returns the crypto/tls configuration, or nil when t sets
// nothing.
func (t TLS) Config() (*tls.Config, error) {
	if t == (TLS{}) {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, config.Errorf("tls.ca_file", "%w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, config.Errorf("tls.ca_file", "%s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, config.Errorf("tls.cert_file", "%w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
