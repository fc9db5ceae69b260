// Command shots takes the screenshots of the console's main screens for
// the docs: it runs the simulated plant (consoletest) behind a console,
// drives headless Chromium through the screens and writes PNG files.
//
//	go run ./console/internal/shots -out docs/console
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kiln-iot/kiln/console"
	"github.com/kiln-iot/kiln/console/auth"
	"github.com/kiln-iot/kiln/console/consoletest"
	"github.com/kiln-iot/kiln/httpserve"
)

func main() {
	out := flag.String("out", "docs/console", "directory for the PNG files")
	browser := flag.String("chromium", "/usr/bin/chromium", "the browser")
	flag.Parse()
	if err := run(*out, *browser); err != nil {
		fmt.Fprintln(os.Stderr, "shots:", err)
		os.Exit(1)
	}
}

func run(out, browser string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	plant, err := consoletest.Start(ctx, consoletest.Config{})
	if err != nil {
		return err
	}
	defer plant.Close()
	sim, simCancel := context.WithCancel(ctx)
	simDone := make(chan struct{})
	go func() { defer close(simDone); plant.Simulate(sim, 200*time.Millisecond) }()
	defer func() { simCancel(); <-simDone }()

	users, _ := auth.OpenFile("")
	h, err := auth.HashPassword("demo-engineer")
	if err != nil {
		return err
	}
	if err := users.Put(ctx, auth.User{Name: "emma", Role: auth.Engineer, PasswordHash: h}); err != nil {
		return err
	}
	am, err := auth.New(auth.Config{}, users)
	if err != nil {
		return err
	}
	docs, _ := console.OpenDocs("")
	c, err := console.New(console.Config{Title: "kiln line 1"}, plant.Backend, am, docs)
	if err != nil {
		return err
	}
	srv, err := httpserve.Listen(httpserve.Config{Listen: "127.0.0.1:0"}, c)
	if err != nil {
		return err
	}
	sctx, scancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx) }()
	defer func() { _ = c.Close(); scancel(); <-done }()

	dir, err := os.MkdirTemp("", "shots-profile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	actx, acancel := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.NoFirstRun, chromedp.UserDataDir(dir), chromedp.WindowSize(1280, 800))
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	url := srv.URL()
	wait := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	settle := chromedp.Sleep(1500 * time.Millisecond) // let live values and trends fill in for the picture
	if err := chromedp.Do(bctx, chromedp.Navigate(url), wait("#login-user"),
		chromedp.SendKeys(chromedp.CSS("#login-user"), "emma"), chromedp.SendKeys(chromedp.CSS("#login-password"), "demo-engineer"),
		chromedp.Click(chromedp.CSS("#login-submit")), wait("#nav-tags")); err != nil {
		return err
	}
	screens := []struct {
		name  string
		steps []chromedp.Action[chromedp.Void]
	}{
		{"dashboard", []chromedp.Action[chromedp.Void]{chromedp.Navigate(url + "/#/dash"), wait("#dash-grid .widget"), chromedp.Sleep(4 * time.Second)}},
		{"tags", []chromedp.Action[chromedp.Void]{chromedp.Navigate(url + "/#/tags/Line1.Kiln.Zone1.Setpoint"), wait("#detail-name"), settle}},
		{"write-dialog", []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.CSS("#open-write")), wait("#write-value"),
			chromedp.SetValue(chromedp.CSS("#write-value"), "950"), chromedp.Click(chromedp.CSS("#write-next")), wait("#write-confirm")}},
		{"write-confirmed", []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.CSS("#write-confirm")), wait("#write-close")}},
		{"trend", []chromedp.Action[chromedp.Void]{chromedp.Navigate(url + "/#/trend?tags=Line1.Kiln.Zone1.Temp,Line1.Kiln.Zone1.Setpoint&span=120000"), wait("#trend-canvas"), chromedp.Sleep(3 * time.Second)}},
		{"live", []chromedp.Action[chromedp.Void]{chromedp.Navigate(url + "/#/live"), wait("#live-grid .vrow"), settle}},
		{"audit", []chromedp.Action[chromedp.Void]{chromedp.Navigate(url + "/#/audit"), wait("#audit-table .audit-row"), settle}},
		{"status", []chromedp.Action[chromedp.Void]{chromedp.Navigate(url + "/#/status"), wait("#status-devices"), settle}},
	}
	for _, s := range screens {
		if err := chromedp.Do(bctx, s.steps...); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		p := filepath.Join(out, s.name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			return err
		}
		fmt.Println(p)
	}
	return nil
}
