package uasim

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"reflect"
	"unsafe"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uapolicy"
	"github.com/gopcua/opcua/uasc"
	"go.uber.org/zap"
)

// errNoSessionService means the pinned gopcua's server no longer has the
// layout registerActivate relies on.
var errNoSessionService = errors.New("uasim: gopcua's server.SessionService has no srv field; identity checks unavailable")

// registerActivate installs an ActivateSession handler that checks the
// user identity token and then runs gopcua's own activation (session
// look-up, client signature check, new nonce).
//
// gopcua v0.9.1 checks no identity at all: its ActivateSession accepts any
// token, even one of a type the endpoint does not offer. Its handler can
// be replaced (RegisterHandler before Start) but not reached from outside
// the package: server.SessionService keeps its *Server in an unexported
// field, and the session's nonce is unexported too. uasim sets that one
// field and reads the nonce by reflection; both are checked for the
// expected type, so a gopcua upgrade that changes them makes Start fail
// with errNoSessionService (and refuses encrypted passwords) instead of
// misbehaving.
func (s *Server) registerActivate(srv *server.Server) error {
	ss := &server.SessionService{}
	f := reflect.ValueOf(ss).Elem().FieldByName("srv")
	if !f.IsValid() || f.Type() != reflect.TypeOf(srv) {
		return errNoSessionService
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(srv))
	srv.RegisterHandler(id.ActivateSessionRequest_Encoding_DefaultBinary, func(sc *uasc.SecureChannel, r ua.Request, reqID uint32) (ua.Response, error) {
		req, ok := r.(*ua.ActivateSessionRequest)
		if !ok {
			return nil, ua.StatusBadRequestTypeInvalid
		}
		if code := s.checkIdentity(srv, req); code != ua.StatusOK {
			s.log.Info("uasim: identity refused", zap.Error(code))
			return nil, code
		}
		resp, err := ss.ActivateSession(sc, r, reqID)
		if err == nil {
			s.sessions.Add(1)
		}
		return resp, err
	})
	return nil
}

// checkIdentity returns StatusOK for an identity the configuration
// accepts: an anonymous token unless NoAnonymous; a user name token when
// UserName is set, with a password matching Users when Users is not empty.
func (s *Server) checkIdentity(srv *server.Server, req *ua.ActivateSessionRequest) ua.StatusCode {
	var tok any
	if req.UserIdentityToken != nil {
		tok = req.UserIdentityToken.Value
	}
	switch t := tok.(type) {
	case nil, *ua.AnonymousIdentityToken:
		if s.cfg.NoAnonymous {
			return ua.StatusBadIdentityTokenRejected
		}
		return ua.StatusOK
	case *ua.UserNameIdentityToken:
		if !s.cfg.UserName && len(s.cfg.Users) == 0 {
			return ua.StatusBadIdentityTokenRejected
		}
		if len(s.cfg.Users) == 0 {
			return ua.StatusOK
		}
		want, ok := s.cfg.Users[t.UserName]
		if !ok {
			return ua.StatusBadUserAccessDenied
		}
		got, code := s.password(srv, req, t)
		if code != ua.StatusOK {
			return code
		}
		if subtle.ConstantTimeCompare([]byte(want), got) != 1 {
			return ua.StatusBadUserAccessDenied
		}
		return ua.StatusOK
	default:
		return ua.StatusBadIdentityTokenInvalid
	}
}

// password recovers the clear password of a user name token: as sent
// when EncryptionAlgorithm is empty, else decrypted with the server key
// under the token policy's security policy and checked to end with the
// session's server nonce (OPC UA Part 4, 7.36.3).
func (s *Server) password(srv *server.Server, req *ua.ActivateSessionRequest, t *ua.UserNameIdentityToken) ([]byte, ua.StatusCode) {
	if t.EncryptionAlgorithm == "" {
		return t.Password, ua.StatusOK
	}
	policy := ""
	for _, ep := range srv.Endpoints() {
		for _, p := range ep.UserIdentityTokens {
			if p.PolicyID == t.PolicyID && p.TokenType == ua.UserTokenTypeUserName {
				policy = p.SecurityPolicyURI
			}
		}
	}
	if policy == "" {
		return nil, ua.StatusBadIdentityTokenInvalid
	}
	enc, err := uapolicy.Asymmetric(policy, s.key, &s.key.PublicKey)
	if err != nil || enc.EncryptionURI() != t.EncryptionAlgorithm {
		return nil, ua.StatusBadIdentityTokenInvalid
	}
	plain, err := enc.Decrypt(t.Password)
	if err != nil || len(plain) < 4 {
		return nil, ua.StatusBadIdentityTokenInvalid
	}
	n := binary.LittleEndian.Uint32(plain)
	if uint64(n) != uint64(len(plain)-4) {
		return nil, ua.StatusBadIdentityTokenInvalid
	}
	nonce := s.serverNonce(srv, req.RequestHeader)
	if nonce == nil || !bytes.HasSuffix(plain[4:], nonce) {
		return nil, ua.StatusBadIdentityTokenInvalid
	}
	return plain[4 : len(plain)-len(nonce)], ua.StatusOK
}

// serverNonce is the nonce gopcua gave the session (unexported field
// serverNonce of its session), or nil.
func (s *Server) serverNonce(srv *server.Server, hdr *ua.RequestHeader) []byte {
	sess := reflect.ValueOf(srv.Session(hdr))
	if sess.Kind() != reflect.Pointer || sess.IsNil() {
		return nil
	}
	f := sess.Elem().FieldByName("serverNonce")
	if !f.IsValid() || f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Uint8 {
		return nil
	}
	return bytes.Clone(f.Bytes())
}
