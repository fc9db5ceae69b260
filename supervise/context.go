package supervise

import (
	"context"
	"sync"

	"go.uber.org/zap"
)

type childKey struct{}

// childInfo travels in a child's context.
type childInfo struct {
	name string
	l    *loop
	r    *run

	logOnce sync.Once
	log     *zap.Logger
}

// logger is made on first use: most children never ask.
func (i *childInfo) logger() *zap.Logger {
	i.logOnce.Do(func() { i.log = i.l.log.With(zap.String("child", i.name)) })
	return i.log
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
	if i := infoOf(ctx); i != nil {
		i.r.lastBeat.Store(i.l.clock.Now().UnixNano())
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
