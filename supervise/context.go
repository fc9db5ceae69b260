package supervise

import (
	"context"
	"sync/atomic"

	"go.uber.org/zap"
)

type childKey struct{}

// childInfo is the context a child's Serve receives: its cancelable
// context, which answers childKey with the child's identity.
type childInfo struct {
	context.Context
	name string
	l    *loop
	r    *run
	log  atomic.Pointer[zap.Logger]
}

// Value answers childKey; other keys go to the parent contexts.
func (i *childInfo) Value(key any) any {
	if key == (childKey{}) {
		return i
	}
	return i.Context.Value(key)
}

// logger is made on first use: most children never ask.
func (i *childInfo) logger() *zap.Logger {
	if l := i.log.Load(); l != nil {
		return l
	}
	l := i.l.log.With(zap.String("child", i.name))
	if i.log.CompareAndSwap(nil, l) {
		return l
	}
	return i.log.Load()
}

func infoOf(ctx context.Context) *childInfo {
	i, _ := ctx.Value(childKey{}).(*childInfo)
	return i
}

// Beat tells the watchdog of the child whose Serve received ctx (or a
// context derived from it) that the child is alive. It is cheap, safe from
// any goroutine, and does nothing outside a supervised child or when the
// child has no Watchdog.
func Beat(ctx context.Context) {
	if i := infoOf(ctx); i != nil && i.r.mon != nil {
		i.r.mon.lastBeat.Store(i.l.clock.Now().UnixNano())
	}
}

// Logger returns the logger of the child whose Serve received ctx, named
// with its supervisor path and child name; a no-op logger outside a
// supervised child.
func Logger(ctx context.Context) *zap.Logger {
	if i := infoOf(ctx); i != nil {
		return i.logger()
	}
	return zap.NewNop()
}

// Path returns "supervisor/child" for the child whose Serve received ctx,
// with the names of enclosing supervisors in front; "" outside a
// supervised child.
func Path(ctx context.Context) string {
	if i := infoOf(ctx); i != nil {
		return i.l.path + "/" + i.name
	}
	return ""
}
