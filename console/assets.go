package console

//go:generate go run ./internal/webgen web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed web
var webFS embed.FS

// asset is one embedded file with its precompressed forms.
type asset struct {
	typ         string
	raw, gz, br []byte
	etag        string
}

type assetSet struct {
	byName map[string]*asset // by hashed name: app.1a2b3c4d5e.js
	hashed map[string]string // source name → hashed name
	index  *template.Template
}

func loadAssets() (*assetSet, error) {
	a := &assetSet{byName: map[string]*asset{}, hashed: map[string]string{}}
	entries, err := fs.ReadDir(webFS, "web")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := e.Name()
		ext := path.Ext(name)
		if ext != ".js" && ext != ".css" {
			continue
		}
		raw, _ := webFS.ReadFile("web/" + name)
		gz, err1 := webFS.ReadFile("web/" + name + ".gz")
		br, err2 := webFS.ReadFile("web/" + name + ".br")
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("console: asset %s has no precompressed forms: run go generate ./console", name)
		}
		sum := sha256.Sum256(raw)
		h := hex.EncodeToString(sum[:5])
		hashed := strings.TrimSuffix(name, ext) + "." + h + ext
		typ := "text/css; charset=utf-8"
		if ext == ".js" {
			typ = "text/javascript; charset=utf-8"
		}
		a.byName[hashed] = &asset{typ: typ, raw: raw, gz: gz, br: br, etag: `"` + h + `"`}
		a.hashed[name] = hashed
	}
	src, err := webFS.ReadFile("web/index.html")
	if err != nil {
		return nil, err
	}
	a.index, err = template.New("index").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("console: index.html: %w", err)
	}
	return a, nil
}

// serveIndex serves the page, which names the assets by their hashes; it
// is never cached, so a new build's assets are picked up at once. The page
// names the assets and the API relative to itself, so the console can be
// mounted under a prefix (http.StripPrefix("/console", c) at "/console/").
func (c *Console) serveIndex(w http.ResponseWriter, _ *http.Request) {
	var buf bytes.Buffer
	err := c.assets.index.Execute(&buf, map[string]string{
		"Title": c.cfg.Title, "JS": "assets/" + c.assets.hashed["app.js"], "CSS": "assets/" + c.assets.hashed["app.css"],
	})
	if err != nil {
		http.Error(w, "page template failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(buf.Bytes())
}

// serveAsset serves a content-hashed asset, brotli or gzip when the
// client takes it, cached for a year (its name changes with its content).
func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := c.assets.byName[r.PathValue("name")]
	if !ok {
		writeError(w, errf(http.StatusNotFound, "not_found", "", "no asset %q", r.PathValue("name")))
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.typ)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Vary", "Accept-Encoding")
	h.Set("ETag", a.etag)
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.raw
	switch ae := r.Header.Get("Accept-Encoding"); {
	case acceptsEncoding(ae, "br"):
		h.Set("Content-Encoding", "br")
		body = a.br
	case acceptsEncoding(ae, "gzip"):
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	_, _ = w.Write(body)
}

func acceptsEncoding(header, enc string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), enc) {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
				return false
			}
		}
		return true
	}
	return false
}
