package console_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kiln-iot/kiln/console"
)

// chromium is Debian's browser, which ./scripts/test installs.
const chromium = "/usr/bin/chromium"

// browser drives one headless Chromium with a fresh profile.
type browser struct {
	t    testing.TB
	ctx  context.Context
	dir  string
	step int
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser tests need %s (./scripts/test installs Debian's chromium): %v", chromium, err)
	}
	dir := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, dir: dir}
	// The first call starts the browser, which lives as long as its
	// context: no timeout on it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return b
}

// run runs actions as one step; on failure it saves a screenshot into the
// test's temporary directory and logs its path.
func (b *browser) run(name string, actions ...step) {
	b.t.Helper()
	b.step++
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(name, err)
	}
}

type step = chromedp.Action[chromedp.Void]

// eval evaluates an expression in the page (awaiting a promise).
func eval[T any](b *browser, name, expr string) T {
	b.t.Helper()
	b.step++
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail(name, err)
	}
	return v
}

func (b *browser) fail(name string, err error) {
	b.t.Helper()
	p := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.step, strings.ReplaceAll(name, " ", "-")))
	sctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, serr := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if serr == nil {
		if werr := os.WriteFile(p, png, 0o600); werr == nil {
			b.t.Logf("screenshot of the failed step: %s", p)
		}
	}
	b.t.Fatalf("browser step %q: %v", name, err)
}

// waitText waits until the element's text contains want.
func waitText(sel, want string) step {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		get := chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, sel))
		var got string
		for {
			v, err := get(ctx, t)
			if err == nil {
				got = v
				if strings.Contains(got, want) {
					return chromedp.Void{}, nil
				}
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("%s never contained %q (last: %q): %w", sel, want, got, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// waitTrue waits until a JavaScript expression is true.
func waitTrue(expr string) step {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		get := chromedp.Evaluate[bool](expr)
		for {
			if ok, err := get(ctx, t); err == nil && ok {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("never true: %s: %w", expr, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

func (b *browser) login(url, user string) {
	b.t.Helper()
	b.run("login "+user,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-user")),
		chromedp.SendKeys(chromedp.CSS("#login-user"), user),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "pw-"+user),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#nav-tags")),
		waitText("#me", user),
	)
}

func TestBrowserOperatorTunesASetpoint(t *testing.T) {
	e := newEnv(t, console.Config{})
	b := newBrowser(t)
	const temp, sp = "Line1.Kiln.Zone1.Temp", "Line1.Kiln.Zone1.Setpoint"
	b.login(e.url, "otto")

	b.run("browse to a tag",
		chromedp.Navigate(e.url+"/#/tags"),
		chromedp.WaitVisible(chromedp.CSS("#tag-search")),
		chromedp.SendKeys(chromedp.CSS("#tag-search"), "zone1.temp"),
		chromedp.WaitVisible(chromedp.CSS(`.tagrow[data-tag="`+temp+`"]`)),
		chromedp.Click(chromedp.CSS(`.tagrow[data-tag="`+temp+`"]`)),
		waitText("#detail-name", temp),
		waitText("#detail-quality", "good"),
	)
	// Choosing the tag opened its place in the tree: kiln1 → fast → Line1 → Kiln → Zone1.
	b.run("the tree shows the dotted hierarchy",
		waitTrue(`[...document.querySelectorAll(".tagrow")].some(r => r.dataset.tag == "`+temp+`" && parseInt(r.style.paddingLeft) > 50)`),
	)
	if err := e.plant.Set(temp, realValue(1111.5)); err != nil {
		t.Fatal(err)
	}
	b.run("see the live value change", waitText("#detail-value", "1111.5 °C"))
	b.run("the read-only tag cannot be written", waitText("#write-reason", "read-only"))

	b.run("open its trend",
		chromedp.Click(chromedp.CSS("#open-trend")),
		chromedp.WaitVisible(chromedp.CSS("#trend-canvas")),
		waitTrue(`Number(document.querySelector("#trend-canvas").dataset.buckets) > 0`),
	)

	b.run("write a setpoint through the dialog",
		chromedp.Navigate(e.url+"/#/tags/"+sp),
		waitText("#detail-name", sp),
		waitText("#detail-quality", "good"),
		chromedp.Click(chromedp.CSS("#open-write")),
		chromedp.WaitVisible(chromedp.CSS("#write-value")),
		waitText("#write-limits", "max 1200"),
		chromedp.SetValue(chromedp.CSS("#write-value"), "950"),
		chromedp.Click(chromedp.CSS("#write-next")),
		waitText("#write-new", "950 °C"),
		chromedp.Click(chromedp.CSS("#write-confirm")),
		waitText("#write-status", "confirmed: read back 950 °C"),
		chromedp.Click(chromedp.CSS("#write-close")),
	)
	if v := e.memory(sp); v.Float() != 950 {
		t.Fatalf("PLC memory holds %v after the confirmed write", v)
	}

	b.run("an out-of-limits value is refused in the dialog",
		chromedp.Click(chromedp.CSS("#open-write")),
		chromedp.WaitVisible(chromedp.CSS("#write-value")),
		chromedp.SetValue(chromedp.CSS("#write-value"), "1500"),
		chromedp.Click(chromedp.CSS("#write-next")),
		waitText("#write-error", "above the maximum 1200"),
	)
	forced := eval[map[string]any](b, "and by the server when forced through the API", `(async () => {
		const s = await (await fetch("/api/session")).json();
		const r = await fetch("/api/writes", {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": s.csrf}, body: JSON.stringify({tag: "`+sp+`", value: 1500})});
		return Object.assign({http: r.status}, await r.json());
	})()`)
	if forced["http"] != float64(422) || forced["status"] != "refused" || forced["code"] != "out_of_limits" {
		t.Fatalf("forced write: %v", forced)
	}
	if v := e.memory(sp); v.Float() != 950 {
		t.Fatalf("a refused write reached the PLC: %v", v)
	}

	b.run("see the write in the audit trail",
		chromedp.Navigate(e.url+"/#/audit"),
		chromedp.WaitVisible(chromedp.CSS("#audit-table")),
		waitText("#audit-table", sp),
		waitText("#audit-table", "→ 950"),
		waitText("#audit-table", "otto"),
	)
	b.run("and on the trend",
		chromedp.Navigate(e.url+"/#/trend?tags="+sp),
		chromedp.WaitVisible(chromedp.CSS("#trend-canvas")),
		waitText("#trend-events", "otto: "+sp),
		waitText("#trend-events", "→ 950 (ok)"),
		waitTrue(`Number(document.querySelector("#trend-canvas").dataset.writes) >= 1`),
	)

	if err := e.plant.Sim.Stop(); err != nil {
		t.Fatal(err)
	}
	b.run("a device that is down shows the banner and bad quality",
		chromedp.Navigate(e.url+"/#/tags/"+temp),
		waitText("#banner", "Device kiln1 is down"),
		waitText("#detail-quality", "bad"),
		chromedp.Navigate(e.url+"/#/tags/"+sp),
		waitText("#write-reason", "device kiln1 is down"),
		waitTrue(`document.querySelector("#open-write").disabled`),
	)
	if err := e.plant.Sim.Start(); err != nil {
		t.Fatal(err)
	}
	b.run("the banner goes when the device is back", waitTrue(`document.querySelector("#banner").hidden`))
}

func TestBrowserViewerCannotWriteAndKeepsADashboard(t *testing.T) {
	e := newEnv(t, console.Config{})
	b := newBrowser(t)
	b.login(e.url, "vera")
	b.run("the write control is disabled with the reason",
		chromedp.Navigate(e.url+"/#/tags/Line1.Kiln.Zone1.Setpoint"),
		waitText("#detail-name", "Line1.Kiln.Zone1.Setpoint"),
		waitTrue(`document.querySelector("#open-write").disabled`),
		waitText("#write-reason", "the operator role may write this tag; you are viewer"),
	)
	b.run("open the dashboard", chromedp.Navigate(e.url+"/#/dash"), chromedp.WaitVisible(chromedp.CSS("#dash-grid .widget")))
	before := eval[int](b, "count widgets", `document.querySelectorAll("#dash-grid .widget").length`)
	// The widgets lie on the grid as placed (inline styles pass the CSP).
	if w := eval[float64](b, "widget width", `document.querySelector("#dash-grid .widget").getBoundingClientRect().width`); w < 200 {
		t.Fatalf("a 3-of-12-columns widget is %.0f px wide in a 1280 px window", w)
	}
	b.run("build a dashboard",
		chromedp.Click(chromedp.CSS("#dash-edit")),
		chromedp.WaitVisible(chromedp.CSS("#widget-type")),
		chromedp.SetValue(chromedp.CSS("#widget-type"), "gauge"),
		chromedp.SendKeys(chromedp.CSS("#widget-tag"), "Line1.Kiln.Zone2.Temp"),
		chromedp.Click(chromedp.CSS("#widget-add")),
		waitTrue(fmt.Sprintf(`document.querySelectorAll("#dash-grid .widget").length == %d`, before+1)),
		waitText("#dash-msg", "saved"),
	)
	b.run("it survives a reload",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#dash-grid .widget")),
		waitTrue(fmt.Sprintf(`document.querySelectorAll("#dash-grid .widget").length == %d`, before+1)),
		waitText("#dash-select", "(mine)"),
	)
	after := eval[int](b, "count widgets", `document.querySelectorAll("#dash-grid .widget").length`)
	if after != before+1 {
		t.Fatalf("widgets %d after reload, want %d", after, before+1)
	}
}

func TestBrowserCriticalTagNeedsASecondConfirmation(t *testing.T) {
	e := newEnv(t, console.Config{})
	b := newBrowser(t)
	const burner = "Line1.Kiln.Burner.Enable"
	b.login(e.url, "emma")
	b.run("stage a write of the critical tag",
		chromedp.Navigate(e.url+"/#/tags/"+burner),
		waitText("#detail-quality", "good"),
		chromedp.Click(chromedp.CSS("#open-write")),
		chromedp.WaitVisible(chromedp.CSS("#write-value")),
		chromedp.SetValue(chromedp.CSS("#write-value"), "false"),
		chromedp.Click(chromedp.CSS("#write-next")),
		chromedp.Click(chromedp.CSS("#write-confirm")),
		waitText("#critical-warning", "is critical"),
	)
	if !e.memory(burner).Bool() {
		t.Fatal("the first confirmation wrote the critical tag")
	}
	b.run("confirm a second time",
		chromedp.Click(chromedp.CSS("#write-confirm2")),
		waitText("#write-status", "confirmed: read back false"),
	)
	if e.memory(burner).Bool() {
		t.Fatal("burner still enabled in the PLC")
	}
}
