// Package maintain runs a store backend's periodic maintenance, the loop
// behind pgstore's and sqlitestore's Serve:
//
//	return maintain.Loop(ctx, clk, cfg.MaintenanceInterval, func(ctx context.Context) error {
//		_, err := s.Maintain(ctx)
//		return err
//	})
package maintain
