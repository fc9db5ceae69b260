package console_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kiln-iot/kiln/console"
	"github.com/kiln-iot/kiln/console/consoletest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
)

// churn changes 10,000 of the plant's extra tags per second in the PLC's
// memory (1,000 every 100 ms, moving through the DB), until ctx ends.
func churn(ctx context.Context, plant *consoletest.Plant, extra int, wg *sync.WaitGroup) {
	defer wg.Done()
	const perTick = 1000
	buf := make([]byte, 4*perTick)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	off, n := 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n++
		for i := range perTick {
			binary.BigEndian.PutUint32(buf[4*i:], math.Float32bits(float32(n)+float32(i)/1000))
		}
		if off+perTick > extra {
			off = 0
		}
		_ = plant.Sim.WriteBytes(s7.AreaDB, 2, 4*off, buf)
		off += perTick
	}
}

// exec runs a JavaScript statement in the page.
func exec(stmt string) step {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool]("(() => { "+stmt+"; return true; })()")(ctx, t)
		return chromedp.Void{}, err
	}
}

func percentile(ms []float64, p float64) float64 {
	s := slices.Clone(ms)
	slices.Sort(s)
	return s[min(len(s)-1, int(math.Ceil(p*float64(len(s))))-1)]
}

// BenchmarkChangeToBrowser measures a PLC change until the browser shows
// it (the tag's detail view of the console), with 10,000 other tags
// changing per second: the PLC's memory is set, and the page records when
// its text changed (the browser's clock is the machine's).
func BenchmarkChangeToBrowser(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("tags=%d", n), func(b *testing.B) {
			e := newEnvWith(b, console.Config{}, consoletest.Config{Extra: n}, nil)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			go churn(ctx, e.plant, n, &wg)
			defer func() { cancel(); wg.Wait() }()
			br := newBrowser(b)
			br.login(e.url, "vera")
			const temp = "Line1.Kiln.Zone1.Temp"
			br.run("open the tag", chromedp.Navigate(e.url+"/#/tags/"+temp), waitText("#detail-quality", "good"))
			eval[bool](br, "observe", `(() => { window.__seen = {}; const el = document.querySelector("#detail-value");
				new MutationObserver(() => { window.__seen[el.textContent] = Date.now(); }).observe(el, {childList: true, characterData: true, subtree: true}); return true; })()`)
			var lat []float64
			b.ResetTimer()
			for i := range b.N {
				v := 500 + float64(i%500) + 0.5
				t0 := time.Now()
				if err := e.plant.Set(temp, realValue(v)); err != nil {
					b.Fatal(err)
				}
				key := fmt.Sprintf("%.1f °C", v)
				seen := eval[float64](br, "wait", fmt.Sprintf(`new Promise(ok => { const f = () => window.__seen[%q] ? ok(window.__seen[%q]) : setTimeout(f, 5); f(); })`, key, key))
				lat = append(lat, seen-float64(t0.UnixMilli()))
			}
			b.StopTimer()
			b.ReportMetric(percentile(lat, 0.5), "p50-ms")
			b.ReportMetric(percentile(lat, 0.99), "p99-ms")
		})
	}
}

// BenchmarkTagBrowserFirstRender measures loading the page until the tag
// browser shows its first rows (the session, the whole tag list, the
// tree), from the start of navigation, by the page's clock.
func BenchmarkTagBrowserFirstRender(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("tags=%d", n), func(b *testing.B) {
			e := newEnvWith(b, console.Config{}, consoletest.Config{Extra: n, ExtraRate: 10 * time.Second}, nil)
			br := newBrowser(b)
			br.login(e.url, "vera")
			var took []float64
			for range b.N {
				br.run("load", chromedp.Navigate("about:blank"), chromedp.Navigate(e.url+"/#/tags"), chromedp.WaitVisible(chromedp.CSS("#tag-list .vrow")))
				// From the start of navigation to the rows (the page's clock).
				took = append(took, eval[float64](br, "time", `performance.getEntriesByName("kiln:rows")[0].startTime`))
			}
			b.ReportMetric(percentile(took, 0.5), "p50-ms")
			b.ReportMetric(percentile(took, 0.99), "p99-ms")
		})
	}
}

// BenchmarkTrendOneDay measures opening the trend of one tag over a day
// of 1 s samples (86,400) until its buckets are drawn (by the page's
// clock), and the history request alone.
func BenchmarkTrendOneDay(b *testing.B) {
	e := newEnvWith(b, console.Config{}, consoletest.Config{}, nil)
	const tag = "Line1.Kiln.Zone2.Temp"
	now := time.Now()
	day := make([]plc.Sample, 86400)
	for i := range day {
		day[i] = plc.Sample{Tag: tag, Time: now.Add(time.Duration(i-len(day)) * time.Second), Value: realValue(800 + 50*math.Sin(float64(i)/3600)), Quality: plc.Good}
	}
	e.plant.Backend.AddHistory(day)
	b.Run("http", func(b *testing.B) {
		vera := e.login("vera")
		from, to := now.Add(-24*time.Hour).UnixMilli(), now.UnixMilli()
		path := fmt.Sprintf("/api/history?tag=%s&from=%d&to=%d&buckets=600", tag, from, to)
		b.ResetTimer()
		for range b.N {
			if code, _ := vera.raw("GET", path, nil, nil); code != http.StatusOK {
				b.Fatal(code)
			}
		}
	})
	b.Run("browser", func(b *testing.B) {
		br := newBrowser(b)
		br.login(e.url, "vera")
		var took []float64
		for range b.N {
			br.run("elsewhere", chromedp.Navigate(e.url+"/#/status"), chromedp.WaitVisible(chromedp.CSS("#status")))
			br.run("open the trend", exec(`performance.clearMarks(); window.__t0 = performance.now(); location.hash = "#/trend?tags=`+tag+`&span=86400000"`),
				waitTrue(`Number((document.querySelector("#trend-canvas")||{dataset:{}}).dataset.buckets) > 100`))
			took = append(took, eval[float64](br, "time", `performance.getEntriesByName("kiln:trend-drawn").pop().startTime - window.__t0`))
		}
		b.ReportMetric(percentile(took, 0.5), "p50-ms-to-frame")
		b.ReportMetric(percentile(took, 0.99), "p99-ms-to-frame")
	})
}
