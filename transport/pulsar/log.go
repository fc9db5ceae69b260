package pulsar

import (
	plog "github.com/apache/pulsar-client-go/pulsar/log"
	"go.uber.org/zap"
)

// logAdapter routes the client's logging into zap.
type logAdapter struct{ l *zap.SugaredLogger }

func newLogAdapter(l *zap.Logger) plog.Logger {
	return logAdapter{l.WithOptions(zap.AddCallerSkip(1)).Sugar()}
}

func fields(f plog.Fields) []any {
	kv := make([]any, 0, 2*len(f))
	for k, v := range f {
		kv = append(kv, k, v)
	}
	return kv
}

func (a logAdapter) SubLogger(f plog.Fields) plog.Logger  { return logAdapter{a.l.With(fields(f)...)} }
func (a logAdapter) WithFields(f plog.Fields) plog.Entry  { return logAdapter{a.l.With(fields(f)...)} }
func (a logAdapter) WithField(k string, v any) plog.Entry { return logAdapter{a.l.With(k, v)} }
func (a logAdapter) WithError(err error) plog.Entry       { return logAdapter{a.l.With("error", err)} }
func (a logAdapter) Debug(args ...any)                    { a.l.Debug(args...) }
func (a logAdapter) Info(args ...any)                     { a.l.Info(args...) }
func (a logAdapter) Warn(args ...any)                     { a.l.Warn(args...) }
func (a logAdapter) Error(args ...any)                    { a.l.Error(args...) }
func (a logAdapter) Debugf(format string, args ...any)    { a.l.Debugf(format, args...) }
func (a logAdapter) Infof(format string, args ...any)     { a.l.Infof(format, args...) }
func (a logAdapter) Warnf(format string, args ...any)     { a.l.Warnf(format, args...) }
func (a logAdapter) Errorf(format string, args ...any)    { a.l.Errorf(format, args...) }
