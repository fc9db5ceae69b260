package maintain

import (
	"context"
	"errors"
	"time"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/store"
)

// Loop calls run at once and then every interval of clk until ctx ends,
// when it returns nil. It returns run's error as soon as that is
// store.ErrClosed; other errors are run's to report, and the loop goes on.
func Loop(ctx context.Context, clk clock.Clock, interval time.Duration, run func(context.Context) error) error {
	t := clk.NewTicker(interval)
	defer t.Stop()
	for {
		if err := run(ctx); errors.Is(err, store.ErrClosed) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}
