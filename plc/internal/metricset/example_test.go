package metricset_test

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kiln-iot/kiln/plc/internal/metricset"
)

// A set registers as a whole: a second one of the same names is refused,
// and after Unregister the names are free again.
func Example() {
	newSet := func() metricset.Set {
		return metricset.Set{
			prometheus.NewCounter(prometheus.CounterOpts{Name: "requests_total", Help: "Requests."}),
			prometheus.NewGauge(prometheus.GaugeOpts{Name: "in_flight", Help: "Requests under way."}),
		}
	}
	reg := prometheus.NewRegistry()
	a := newSet()
	fmt.Println(reg.Register(a) == nil)
	fmt.Println(reg.Register(newSet()) == nil)
	fmt.Println(reg.Unregister(a))
	fmt.Println(reg.Register(newSet()) == nil)
	mfs, _ := reg.Gather()
	fmt.Println(len(mfs))
	// Output:
	// true
	// false
	// true
	// true
	// 2
}
