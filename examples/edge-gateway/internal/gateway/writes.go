package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/console"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/command"
	"github.com/kiln-iot/kiln/transport/pulsar"
)

// Channels requests arrive on.
const (
	channelHTTP    = "http"
	channelCommand = "command"
)

// request is what the write path knows of a request beyond the principal.
type request struct {
	id, channel string
	audit       *command.Audit // filled by the audit sink
}

type requestKey struct{}

// checkToken reports whether tok is the gateway's token, in constant time.
func (g *Gateway) checkToken(tok string) bool {
	if g.cfg.Token == "" || tok == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(g.cfg.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// authorize is the Writer's authorizer: the request acts for this
// gateway's tenant, and a console user's role may write the tag.
func (g *Gateway) authorize(ctx context.Context, t *plc.Tag) error {
	p, ok := plc.PrincipalFrom(ctx)
	if !ok || p.Tenant != g.cfg.Tenant {
		return command.ErrUnauthorized
	}
	if u, ok := console.UserFrom(ctx); ok {
		return mayWrite(u, t)
	}
	return nil
}

// write runs one write request through the checks, the device, the
// read-back and the audit, and returns its audit record, which says how
// it went.
func (g *Gateway) write(ctx context.Context, channel, id, token, who, tag string, value json.RawMessage) command.Audit {
	return g.writeChecked(ctx, channel, id, token, who, tag, value, nil)
}

// writeChecked is write with a refusal decided by the caller (refused not
// nil): the request is then only audited.
func (g *Gateway) writeChecked(ctx context.Context, channel, id, token, who, tag string, value json.RawMessage, refused error) command.Audit {
	req := &request{id: id, channel: channel}
	if who == "" {
		who = channel
	}
	if refused == nil && !g.checkToken(token) {
		refused = command.ErrUnauthorized
	}
	if refused == nil {
		if err := g.enc.Health(); err != nil {
			refused = fmt.Errorf("%w: the spool refuses appends: %v", command.ErrAuditUnavailable, err)
		}
	}
	if refused != nil {
		// Refused before the Writer: audit it here.
		rec := plc.AuditRecord{Time: g.clk.Now(), Principal: plc.Principal{Who: who, Tenant: g.cfg.Tenant}, Tag: tag, Requested: string(value), Err: refused}
		_ = g.audits.WriteAudit(context.WithValue(ctx, requestKey{}, req), rec)
		return *req.audit
	}
	ctx = plc.WithPrincipal(context.WithValue(ctx, requestKey{}, req), plc.Principal{Who: who, Tenant: g.cfg.Tenant})
	err := g.writer.WriteJSON(ctx, tag, value)
	if req.audit == nil { // the Writer always audits; this guards a bug there
		a := command.Audit{Gateway: g.cfg.ID, Tenant: g.cfg.Tenant, Tag: tag, Result: fmt.Sprint(err), Code: command.CodeOf(err)}
		return a
	}
	return *req.audit
}

// auditLog is the Writer's audit sink: it spools every record as a
// message (so it reaches the cloud like the samples), keeps the last few
// for the API and counts results.
type auditLog struct {
	g      *Gateway
	mu     sync.Mutex
	recent []command.Audit
	max    int
	byCode map[string]uint64
}

func newAuditLog(g *Gateway, max int) *auditLog {
	return &auditLog{g: g, max: max, byCode: map[string]uint64{}}
}

func jsonValue(v plc.Value) json.RawMessage {
	if !v.IsValid() {
		return nil
	}
	b, err := v.MarshalJSON()
	if err != nil {
		return nil
	}
	return b
}

// WriteAudit implements plc.AuditSink.
func (a *auditLog) WriteAudit(ctx context.Context, rec plc.AuditRecord) error {
	g := a.g
	rq, _ := ctx.Value(requestKey{}).(*request)
	if rq == nil {
		rq = &request{channel: "api"}
	}
	rec2 := command.Audit{
		RequestID: rq.id, Gateway: g.cfg.ID, Tenant: g.cfg.Tenant, Who: rec.Principal.Who, Channel: rq.channel,
		Time: rec.Time, Tag: rec.Tag, Requested: rec.Requested,
		Old: jsonValue(rec.Old), New: jsonValue(rec.New), ReadBack: jsonValue(rec.ReadBack),
		Result: rec.Result(), Code: command.CodeOf(rec.Err),
	}
	if rec2.Requested == "" && rec.New.IsValid() {
		rec2.Requested = rec.New.String()
	}
	rq.audit = &rec2
	a.mu.Lock()
	a.byCode[rec2.Code]++
	a.recent = append(a.recent, rec2)
	if len(a.recent) > a.max {
		a.recent = a.recent[len(a.recent)-a.max:]
	}
	a.mu.Unlock()
	level := zap.InfoLevel
	if rec.Err != nil {
		level = zap.WarnLevel
	}
	g.log.Log(level, "write", zap.String("tag", rec.Tag), zap.String("who", rec2.Who), zap.String("channel", rq.channel),
		zap.String("requested", rec2.Requested), zap.String("result", rec2.Result))
	msg, err := command.AuditMessage(rec2)
	if err != nil {
		return err
	}
	return g.enc.AppendMessage(ctx, msg)
}

// list returns the recent audit records, oldest first, of one tag or all.
func (a *auditLog) list(tag string) []command.Audit {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []command.Audit{}
	for _, r := range a.recent {
		if tag == "" || r.Tag == tag {
			out = append(out, r)
		}
	}
	return out
}

func (a *auditLog) counts() map[string]uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]uint64, len(a.byCode))
	for k, v := range a.byCode {
		out[k] = v
	}
	return out
}

// runCommands takes write requests from the command topic until ctx is
// done. The answer to each is its audit record, spooled and forwarded to
// the audit topic (see transport/command).
func (g *Gateway) runCommands(ctx context.Context) error {
	sub, err := pulsar.NewSubscriber(pulsar.SubscriberConfig{
		Client:       g.cfg.Transport.Pulsar.Client,
		Topic:        g.cfg.Transport.CommandTopic,
		Subscription: "gateway-" + g.cfg.ID,
		Type:         pulsar.Failover,
	}, pulsar.WithLogger(g.log.Named("commands")))
	if err != nil {
		return err
	}
	g.cmdSub.Store(sub)
	defer func() {
		g.cmdSub.Store(nil)
		_ = sub.Close()
	}()
	return sub.Serve(ctx, func(ctx context.Context, m transport.Message) error {
		req, err := command.DecodeRequest(m)
		if err != nil {
			g.log.Warn("command topic: not a write request", zap.Error(err))
			return nil // a malformed message would only come back
		}
		var refused error
		if age := g.clk.Now().Sub(m.EventTime); !m.EventTime.IsZero() && age > g.cfg.Writes.CommandMaxAge {
			refused = fmt.Errorf("%w: sent %v ago, more than %v", command.ErrExpired, age.Round(time.Second), g.cfg.Writes.CommandMaxAge)
		}
		g.writeChecked(ctx, channelCommand, req.ID, req.Token, req.Who, req.Tag, req.Value, refused)
		return nil
	})
}
