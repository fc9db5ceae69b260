package console

import (
	"compress/gzip"
	"net/http"
	"sync"
)

// gzipWriter compresses an answer for a client that takes gzip: the tag
// list of a large plant is megabytes of JSON, and the console is used over
// 4G links.
type gzipWriter struct {
	http.ResponseWriter
	zw      *gzip.Writer
	started bool
}

var gzipPool = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

func (g *gzipWriter) WriteHeader(code int) {
	if g.started {
		return
	}
	g.started = true
	if code != http.StatusNoContent && code != http.StatusNotModified {
		h := g.Header()
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		h.Del("Content-Length")
		g.zw = gzipPool.Get().(*gzip.Writer)
		g.zw.Reset(g.ResponseWriter)
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if !g.started {
		g.WriteHeader(http.StatusOK)
	}
	if g.zw == nil {
		return g.ResponseWriter.Write(b)
	}
	return g.zw.Write(b)
}

// finish flushes the compressed stream.
func (g *gzipWriter) finish() {
	if g.zw != nil {
		_ = g.zw.Close()
		gzipPool.Put(g.zw)
		g.zw = nil
	}
}
