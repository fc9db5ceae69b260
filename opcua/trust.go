package opcua

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrUntrustedServer means the server's certificate is neither in the
// trust list (Config.TrustedCerts) nor issued by a certificate in it.
var ErrUntrustedServer = errors.New("opcua: server certificate not trusted")

// loadTrustList reads the certificates (DER, or PEM with one or more
// CERTIFICATE blocks) of path, a file or a directory whose files ending in
// .der, .cer, .crt or .pem are read. An unreadable or empty list is an
// error naming the file.
func loadTrustList(path string) ([]*x509.Certificate, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opcua: trusted_certs: %w", err)
	}
	files := []string{path}
	if st.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("opcua: trusted_certs: %w", err)
		}
		files = files[:0]
		for _, e := range ents {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if !e.IsDir() && slices.Contains([]string{".der", ".cer", ".crt", ".pem"}, ext) {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	var certs []*x509.Certificate
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("opcua: trusted_certs: %w", err)
		}
		cs, err := parseCertificates(b)
		if err != nil {
			return nil, fmt.Errorf("opcua: trusted_certs %s: %w", f, err)
		}
		certs = append(certs, cs...)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("opcua: trusted_certs %s: no certificates", path)
	}
	return certs, nil
}

// parseCertificates parses DER or a PEM bundle.
func parseCertificates(b []byte) ([]*x509.Certificate, error) {
	if blk, _ := pem.Decode(b); blk == nil {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, err
		}
		return []*x509.Certificate{c}, nil
	}
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return certs, nil
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
}

// checkServerCertificate accepts der when it is one of trusted or is
// issued (directly or through intermediates in the list) by one of them.
// The secure channel is opened with this certificate's public key, so a
// peer without the matching private key cannot complete it.
func checkServerCertificate(der []byte, trusted []*x509.Certificate) error {
	if len(der) == 0 {
		return fmt.Errorf("%w: the endpoint has no certificate", ErrUntrustedServer)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("%w: bad certificate: %v", ErrUntrustedServer, err)
	}
	pool := x509.NewCertPool()
	for _, t := range trusted {
		if t.Equal(cert) {
			return nil
		}
		pool.AddCert(t)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, Intermediates: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		return nil
	}
	sum := sha1.Sum(der)
	return fmt.Errorf("%w: %q (SHA-1 thumbprint %s) is not in the trust list", ErrUntrustedServer, cert.Subject.String(), strings.ToUpper(hex.EncodeToString(sum[:])))
}
