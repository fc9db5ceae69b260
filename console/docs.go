package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kinds of documents the console keeps.
const (
	KindDashboard = "dashboard"
	KindRecipe    = "recipe"
)

// ErrNoDoc: no document of that id for the tenant (and user).
var ErrNoDoc = errors.New("console: no such document")

// Doc is a saved dashboard or recipe. Its Body is the JSON the front end
// made; the console checks its shape (see Dashboard, Recipe) before
// storing it.
type Doc struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Tenant string `json:"tenant,omitempty"`
	// Owner is the user a personal document belongs to; empty for one
	// shared by the tenant.
	Owner   string          `json:"owner,omitempty"`
	Name    string          `json:"name"`
	Updated time.Time       `json:"updated"`
	Body    json.RawMessage `json:"body"`
}

// Docs stores dashboards and recipes per tenant. Get, Put and Delete
// never reach another tenant's documents.
type Docs interface {
	List(ctx context.Context, kind, tenant string) ([]Doc, error)
	Get(ctx context.Context, kind, tenant, id string) (Doc, error)
	// Put adds or replaces the document with d.ID of d.Tenant.
	Put(ctx context.Context, d Doc) error
	Delete(ctx context.Context, kind, tenant, id string) error
}

// FileDocs keeps documents in one JSON file, rewritten atomically on
// every change; an empty path keeps them in memory.
type FileDocs struct {
	path string
	mu   sync.Mutex
	docs []Doc
}

// OpenDocs reads the documents of a file (a missing file is empty).
func OpenDocs(path string) (*FileDocs, error) {
	f := &FileDocs{path: path}
	if path == "" {
		return f, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("console: documents: %w", err)
	}
	if err := json.Unmarshal(data, &f.docs); err != nil {
		return nil, fmt.Errorf("console: documents file %s: %w", path, err)
	}
	return f, nil
}

// List returns the tenant's documents of a kind, by name.
func (f *FileDocs) List(_ context.Context, kind, tenant string) ([]Doc, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Doc
	for _, d := range f.docs {
		if d.Kind == kind && d.Tenant == tenant {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Doc) int { return strings.Compare(a.Name+"\x00"+a.ID, b.Name+"\x00"+b.ID) })
	return out, nil
}

// Get returns one document of the tenant.
func (f *FileDocs) Get(_ context.Context, kind, tenant, id string) (Doc, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.find(kind, tenant, id); i >= 0 {
		return f.docs[i], nil
	}
	return Doc{}, fmt.Errorf("%w: %s %q", ErrNoDoc, kind, id)
}

func (f *FileDocs) find(kind, tenant, id string) int {
	return slices.IndexFunc(f.docs, func(d Doc) bool { return d.Kind == kind && d.Tenant == tenant && d.ID == id })
}

// Put adds or replaces a document and saves the file.
func (f *FileDocs) Put(_ context.Context, d Doc) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := slices.Clone(f.docs)
	if i := f.find(d.Kind, d.Tenant, d.ID); i >= 0 {
		next[i] = d
	} else {
		next = append(next, d)
	}
	return f.save(next)
}

// Delete removes a document and saves the file.
func (f *FileDocs) Delete(_ context.Context, kind, tenant, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.find(kind, tenant, id)
	if i < 0 {
		return fmt.Errorf("%w: %s %q", ErrNoDoc, kind, id)
	}
	return f.save(slices.Delete(slices.Clone(f.docs), i, i+1))
}

func (f *FileDocs) save(docs []Doc) error {
	if f.path != "" {
		data, err := json.MarshalIndent(docs, "", "  ")
		if err != nil {
			return fmt.Errorf("console: encode documents: %w", err)
		}
		tmp, err := os.CreateTemp(filepath.Dir(f.path), ".docs-*.json")
		if err != nil {
			return fmt.Errorf("console: save documents: %w", err)
		}
		_, err = tmp.Write(data)
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), f.path)
		}
		if err != nil {
			_ = os.Remove(tmp.Name())
			return fmt.Errorf("console: save documents: %w", err)
		}
	}
	f.docs = docs
	return nil
}
