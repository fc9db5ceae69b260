package consoletest_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/console/consoletest"
	"github.com/kiln-iot/kiln/plc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestExtraTagsAreScannedInTheBulkGroup(t *testing.T) {
	ctx := context.Background()
	plant, err := consoletest.Start(ctx, consoletest.Config{Extra: 2000, ExtraRate: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer plant.Close()
	if len(plant.DB.Tags) != 7+2000 {
		t.Fatalf("%d tags", len(plant.DB.Tags))
	}
	const last = "Line1.Extra.T001999"
	if err := plant.Set(last, plc.FloatValue(plc.Real, 3.5)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ss, err := plant.Backend.Latest(ctx, []string{last})
		if err != nil {
			t.Fatal(err)
		}
		if ss[0].Quality.IsGood() && ss[0].Value.Float() == 3.5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("latest %+v", ss[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
