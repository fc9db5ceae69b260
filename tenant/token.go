package tenant

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// TokenPrefix starts every token NewToken makes, so leaked tokens are
// easy to recognise.
const TokenPrefix = "kiln_"

// NewToken makes a random API token (256 bits) and returns it with the
// hex SHA-256 to put in the registry. Hand the token to the client once;
// only the hash is kept.
func NewToken() (tok, sha256Hex string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("tenant: new token: %w", err)
	}
	tok = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return tok, HashToken(tok), nil
}

// HashToken returns the hex SHA-256 of tok, as the registry stores it.
func HashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// Authenticate returns the tenant owning tok, and the token's name. It
// compares the token's hash with every registered hash in constant time,
// and always with all of them, so the time taken says nothing about which
// or how much matched. An unknown token gets ErrUnauthorized.
func (r *Registry) Authenticate(tok string) (*Tenant, string, error) {
	h := sha256.Sum256([]byte(tok))
	var found *Tenant
	var name string
	for _, id := range r.ids {
		t := r.byID[id]
		for i := range t.tokens {
			if subtle.ConstantTimeCompare(h[:], t.tokens[i].hash[:]) == 1 {
				found, name = t, t.tokens[i].name
			}
		}
	}
	if found == nil || tok == "" {
		return nil, "", ErrUnauthorized
	}
	return found, name, nil
}

// PulsarRole returns the Pulsar role the tenant's clients act as.
func (t *Tenant) PulsarRole() string { return t.pulsar.Role }

// PulsarToken returns the token for the tenant's Pulsar role, read from
// its token file on every call, to hand to the Pulsar client
// (pulsar.NewAuthenticationTokenFromSupplier(t.PulsarToken) re-reads it
// on reconnect). It fails when the registry names no token file.
func (t *Tenant) PulsarToken() (string, error) {
	if t.pulsar.TokenFile == "" {
		return "", fmt.Errorf("tenant %s: no pulsar.token_file configured", t.id)
	}
	b, err := os.ReadFile(t.pulsar.TokenFile)
	if err != nil {
		return "", fmt.Errorf("tenant %s: pulsar token: %w", t.id, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("tenant %s: pulsar token file %s is empty", t.id, t.pulsar.TokenFile)
	}
	return tok, nil
}
