package sqlitestore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store/sqlitestore"
)

// Keep a week of samples in a file and read a tag's range back.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "kiln-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(dir, "samples.db"), Retention: 7 * 24 * time.Hour})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	now := time.Now().Truncate(time.Second)
	var batch []plc.Sample
	for i := 0; i < 5; i++ {
		batch = append(batch, plc.Sample{Tag: "Pump.Speed", Value: plc.IntValue(plc.Int, int64(1400+i)), Quality: plc.Good, Time: now.Add(time.Duration(i) * time.Second)})
	}
	if _, err := s.Write(ctx, "acme", batch); err != nil {
		fmt.Println(err)
		return
	}
	page, _ := s.Range(ctx, "acme", "Pump.Speed", now.Add(time.Second), now.Add(time.Hour), 3)
	for _, smp := range page {
		fmt.Println(smp.Value)
	}
	// Output:
	// 1401
	// 1402
	// 1403
}
