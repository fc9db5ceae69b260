package console

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/kiln-iot/kiln/plc"
)

// Backend is what the console shows and acts on: the edge gateway
// implements it over its point database, poller, writer and historian;
// the platform over its catalogue, live cache and PostgreSQL historian.
// Every call carries the principal (plc.PrincipalFrom: who and which
// tenant) and the user's role (UserFrom); a backend scopes what it
// returns to the principal's tenant, and a tag of another tenant is
// unknown. Implementations are safe for concurrent use.
type Backend interface {
	// Tags returns the point database: every tag the tenant may see.
	// The console does not change the slice.
	Tags(ctx context.Context) ([]plc.Tag, error)
	// Tag returns one tag; ok is false when the tenant has none of that
	// name.
	Tag(ctx context.Context, name string) (t plc.Tag, ok bool, err error)
	// Latest returns the latest sample of each named tag, in order; a
	// tag never read has the zero Sample (Bad, not read) with its name.
	Latest(ctx context.Context, tags []string) ([]plc.Sample, error)
	// Watch calls fn with every batch of changed samples until ctx ends,
	// then returns ctx's error. fn does not block and does not keep the
	// slice. Hub implements it.
	Watch(ctx context.Context, fn func([]plc.Sample)) error
	// History returns each tag's samples between q.From and q.To, raw or
	// in q.Buckets buckets.
	History(ctx context.Context, q HistoryQuery) ([]Series, error)
	// Write writes one value, given as one JSON value in the tag's
	// engineering units, doing the backend's own checks again, and
	// returns the value read back. A refusal wraps one of plc's write
	// errors (plc.ErrReadOnly, *plc.LimitError, *plc.ConversionError,
	// plc.ErrUnknownTag) or ErrForbidden; the write is audited by the
	// backend.
	Write(ctx context.Context, tag string, value json.RawMessage) (readBack plc.Value, err error)
	// Audit returns audit entries matching q, newest first.
	Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
	// RecordAudit stores an entry the console makes (logins, recipes,
	// dashboards, recipes and users changed).
	RecordAudit(ctx context.Context, e AuditEntry) error
	// Status returns the state of devices, scan groups, spool, uplink
	// and supervisor tree.
	Status(ctx context.Context) (Status, error)
}

// ErrForbidden is returned by a Backend that refuses a principal an
// action (another tenant's tag, a write right it does not grant).
var ErrForbidden = errors.New("console: forbidden")

// HistoryQuery asks for the history of some tags.
type HistoryQuery struct {
	Tags     []string
	From, To time.Time
	// Buckets > 0 asks for that many equal buckets between From and To,
	// each with min, max and mean; 0 asks for raw samples.
	Buckets int
	// Limit bounds the raw samples per tag (the console sets it).
	Limit int
}

// Series is the history of one tag.
type Series struct {
	Tag string
	// Raw holds the samples of a raw query, oldest first.
	Raw []plc.Sample
	// Buckets holds a bucketed query's buckets, oldest first; a bucket
	// without samples has Count 0.
	Buckets []Bucket
}

// Bucket aggregates the samples of one time span of one tag. Min and Max
// are the envelope of the good numeric samples, so a spike is never
// hidden by the mean.
type Bucket struct {
	Start, End time.Time
	// Count is the number of samples; Bad the number whose quality was
	// not good.
	Count, Bad     int
	Min, Max, Mean float64
	// Last is the last good value of the span.
	Last float64
}

// AuditQuery selects audit entries. Zero fields match everything.
type AuditQuery struct {
	Tag, Who, Action string
	From, To         time.Time
	// Limit bounds the entries returned (the console sets it).
	Limit int
}

// Audit actions the console records or shows.
const (
	ActionWrite  = "write"
	ActionRecipe = "recipe"
	ActionLogin  = "login"
	ActionLogout = "logout"
	// Saving or deleting a dashboard or recipe is KindDashboard or
	// KindRecipe + "_edit".
	ActionEdit = "_edit"
	ActionUser = "user"
)

// AuditEntry is one audited action.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Who    string    `json:"who"`
	Tenant string    `json:"tenant,omitempty"`
	// Channel is where the action came from: "console", "api" (a machine
	// token), "cloud", or what the backend names.
	Channel string `json:"channel"`
	Action  string `json:"action"`
	Tag     string `json:"tag,omitempty"`
	// Old, New and ReadBack are values as text, for writes.
	Old      string `json:"old,omitempty"`
	New      string `json:"new,omitempty"`
	ReadBack string `json:"read_back,omitempty"`
	// Result is "ok" or why not.
	Result string `json:"result"`
	// Detail says more: the recipe's per-tag results, the client address
	// of a login.
	Detail string `json:"detail,omitempty"`
}

// Status is the state of the plant's connections and services.
type Status struct {
	Devices []DeviceStatus `json:"devices"`
	Groups  []GroupStatus  `json:"groups"`
	// Spool and Uplink are nil where there are none (the platform).
	Spool      *SpoolStatus    `json:"spool,omitempty"`
	Uplink     *UplinkStatus   `json:"uplink,omitempty"`
	Supervisor *SupervisorNode `json:"supervisor,omitempty"`
}

// DeviceStatus is one device's connection.
type DeviceStatus struct {
	Name     string `json:"name"`
	Driver   string `json:"driver"`
	Endpoint string `json:"endpoint"`
	// Up is false while the device cannot be reached; its tags are then
	// bad.
	Up        bool   `json:"up"`
	Breaker   string `json:"breaker,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// GroupStatus is one scan group's counters.
type GroupStatus struct {
	Name     string        `json:"name"`
	Rate     time.Duration `json:"rate_ns"`
	Scans    uint64        `json:"scans"`
	Overruns uint64        `json:"overruns"`
	Errors   uint64        `json:"read_errors"`
	// Refresh is the full-refresh interval (0: never); a value not
	// reported for two of them is stale.
	Refresh time.Duration `json:"refresh_ns"`
}

// SpoolStatus is the store-and-forward queue.
type SpoolStatus struct {
	Depth     int64         `json:"depth"`
	OldestAge time.Duration `json:"oldest_age_ns"`
}

// UplinkStatus is the link to the cloud.
type UplinkStatus struct {
	State     string `json:"state"`
	LastError string `json:"last_error,omitempty"`
}

// SupervisorNode is one supervisor or child of the supervisor tree.
type SupervisorNode struct {
	Name     string           `json:"name"`
	State    string           `json:"state"`
	Restarts int              `json:"restarts"`
	Children []SupervisorNode `json:"children,omitempty"`
}
