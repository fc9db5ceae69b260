package codec

import (
	"fmt"
	"strings"

	"github.com/kiln-iot/kiln/plc"
)

// The SQL the decoded views of both backends are built from: kind,
// status and reason numbers as plc names them, and the kinds by class.

// KindName returns a CASE expression naming the kind in column col.
func KindName(col string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CASE %s", col)
	for k := plc.KindInvalid + 1; k <= plc.ByteString; k++ {
		fmt.Fprintf(&b, " WHEN %d THEN '%s'", k, k)
	}
	b.WriteString(" END")
	return b.String()
}

// StatusName returns a CASE expression naming the status in column col.
func StatusName(col string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CASE %s", col)
	for _, s := range []plc.Status{plc.StatusBad, plc.StatusUncertain, plc.StatusGood} {
		fmt.Fprintf(&b, " WHEN %d THEN '%s'", s, s)
	}
	b.WriteString(" END")
	return b.String()
}

// ReasonName returns a CASE expression naming the reason in column col.
func ReasonName(col string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CASE %s", col)
	for r := plc.ReasonNotRead; r <= plc.ReasonStale; r++ {
		fmt.Fprintf(&b, " WHEN %d THEN '%s'", r, r)
	}
	b.WriteString(" END")
	return b.String()
}

// Kinds returns the SQL list "(a, b, …)" of the kinds for which keep
// holds.
func Kinds(keep func(plc.Kind) bool) string {
	var list []string
	for k := plc.KindInvalid + 1; k <= plc.ByteString; k++ {
		if keep(k) {
			list = append(list, fmt.Sprint(int(k)))
		}
	}
	return "(" + strings.Join(list, ", ") + ")"
}
