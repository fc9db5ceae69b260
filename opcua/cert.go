package opcua

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// GenerateCertificate makes a self-signed RSA-2048 application instance
// certificate as OPC UA wants it: the application URI as a URI subject
// alternative name, the hosts as DNS names or IP addresses, and the key
// usages the Basic256Sha256 policy needs. It returns the DER certificate
// and its key.
func GenerateCertificate(appURI string, hosts ...string) (certDER []byte, key *rsa.PrivateKey, err error) {
	key, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("opcua: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, fmt.Errorf("opcua: certificate serial: %w", err)
	}
	u, err := url.Parse(appURI)
	if err != nil {
		return nil, nil, fmt.Errorf("opcua: application URI %q: %w", appURI, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "kiln", Organization: []string{"kiln"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{u},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("opcua: create certificate: %w", err)
	}
	return certDER, key, nil
}

// loadOrCreateCertificate reads the client certificate (DER or PEM) and
// key (PEM, PKCS#1 or PKCS#8) from certFile and keyFile; when neither
// exists it generates a pair and stores it there, so the server sees the
// same client certificate on every connection (and an operator trusts it
// once).
func loadOrCreateCertificate(certFile, keyFile, appURI string) ([]byte, *rsa.PrivateKey, error) {
	certBytes, cerr := os.ReadFile(certFile)
	keyBytes, kerr := os.ReadFile(keyFile)
	if errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist) {
		der, key, err := GenerateCertificate(appURI, "localhost")
		if err != nil {
			return nil, nil, err
		}
		if err := os.MkdirAll(filepath.Dir(certFile), 0o755); err != nil {
			return nil, nil, fmt.Errorf("opcua: store client certificate: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
			return nil, nil, fmt.Errorf("opcua: store client key: %w", err)
		}
		if err := os.WriteFile(certFile, der, 0o644); err != nil {
			return nil, nil, fmt.Errorf("opcua: store client certificate: %w", err)
		}
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
		if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
			return nil, nil, fmt.Errorf("opcua: store client key: %w", err)
		}
		return der, key, nil
	}
	if cerr != nil {
		return nil, nil, fmt.Errorf("opcua: client certificate: %w", cerr)
	}
	if kerr != nil {
		return nil, nil, fmt.Errorf("opcua: client key: %w", kerr)
	}
	if b, _ := pem.Decode(certBytes); b != nil {
		certBytes = b.Bytes
	}
	if _, err := x509.ParseCertificate(certBytes); err != nil {
		return nil, nil, fmt.Errorf("opcua: client certificate %s: %w", certFile, err)
	}
	b, _ := pem.Decode(keyBytes)
	if b == nil {
		return nil, nil, fmt.Errorf("opcua: client key %s: not PEM", keyFile)
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return certBytes, k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("opcua: client key %s: %w", keyFile, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("opcua: client key %s: not an RSA key", keyFile)
	}
	return certBytes, rk, nil
}
