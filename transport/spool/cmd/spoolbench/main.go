// Command spoolbench measures the spool: append throughput of 200-byte
// records at batch sizes 1, 64 and 1024 with an fsync per batch, beside a
// plain sequential write+fsync of the same bytes in the same run, and the
// time to open (recover) a spool of 1 GiB.
//
//	go run ./transport/spool/cmd/spoolbench [-dir /var/tmp] [-recovery 1GiB] [-time 2s] [-drop-caches]
//
// It prints a Markdown table. Run it on the disk the spool will use.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-iot/kiln/transport/spool"
)

const recordSize = 200

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "spoolbench:", err)
		os.Exit(1)
	}
}

// run measures as the command line args ask and prints the tables to out.
func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("spoolbench", flag.ContinueOnError)
	dir := fs.String("dir", os.TempDir(), "directory on the disk to measure")
	recovery := fs.String("recovery", "1GiB", "size of the spool whose recovery is timed (0 to skip)")
	budget := fs.Duration("time", 2*time.Second, "time spent on each append measurement")
	dropCaches := fs.Bool("drop-caches", false, "as root, also time recovery after dropping the page cache (affects the whole machine)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	recBytes, err := parseSize(*recovery)
	if err != nil {
		return fmt.Errorf("-recovery: %w", err)
	}
	if *budget <= 0 {
		return fmt.Errorf("-time: %v is not positive", *budget)
	}
	work, err := os.MkdirTemp(*dir, "spoolbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	fmt.Fprintln(out, "| batch | spool records/s | spool MB/s | plain write+fsync MB/s | ratio |")
	fmt.Fprintln(out, "|---:|---:|---:|---:|---:|")
	for _, batch := range []int{1, 64, 1024} {
		// alternate the two so that both see the same disk weather
		var sp, pl result
		for round := range 2 {
			s, err := appendSpool(filepath.Join(work, fmt.Sprintf("spool-%d-%d", batch, round)), batch, *budget/2)
			if err != nil {
				return err
			}
			p, err := plainWrite(filepath.Join(work, fmt.Sprintf("plain-%d-%d", batch, round)), batch, *budget/2)
			if err != nil {
				return err
			}
			sp, pl = sp.add(s), pl.add(p)
		}
		fmt.Fprintf(out, "| %d | %.0f | %.2f | %.2f | %.2f |\n", batch, sp.recordsPerSec(), sp.mbPerSec(), pl.mbPerSec(), sp.mbPerSec()/pl.mbPerSec())
	}
	if recBytes > 0 {
		return recoveryTime(out, filepath.Join(work, "recovery"), recBytes, *dropCaches)
	}
	return nil
}

type result struct {
	records int
	elapsed time.Duration
}

func (r result) add(o result) result {
	return result{r.records + o.records, r.elapsed + o.elapsed}
}
func (r result) recordsPerSec() float64 { return float64(r.records) / r.elapsed.Seconds() }
func (r result) mbPerSec() float64 {
	return float64(r.records*recordSize) / 1e6 / r.elapsed.Seconds()
}

func records(batch int) [][]byte {
	recs := make([][]byte, batch)
	for i := range recs {
		recs[i] = make([]byte, recordSize)
		for j := range recs[i] {
			recs[i][j] = byte(i + j)
		}
	}
	return recs
}

// appendSpool appends batches of 200-byte records, SyncBatch, for d.
func appendSpool(dir string, batch int, d time.Duration) (result, error) {
	s, err := spool.Open(spool.Config{Dir: dir, MaxBytes: 8 << 30, Sync: spool.SyncBatch})
	if err != nil {
		return result{}, err
	}
	defer s.Close()
	recs := records(batch)
	ctx := context.Background()
	var n int
	start := time.Now()
	for time.Since(start) < d {
		if err := s.Append(ctx, recs...); err != nil {
			return result{}, err
		}
		n += batch
	}
	return result{n, time.Since(start)}, nil
}

// plainWrite writes the same payload bytes per batch with one write and
// one fsync, for d.
func plainWrite(path string, batch int, d time.Duration) (result, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return result{}, err
	}
	defer f.Close()
	buf := make([]byte, 0, batch*recordSize)
	for _, r := range records(batch) {
		buf = append(buf, r...)
	}
	var n int
	start := time.Now()
	for time.Since(start) < d {
		if _, err := f.Write(buf); err != nil {
			return result{}, err
		}
		if err := f.Sync(); err != nil {
			return result{}, err
		}
		n += batch
	}
	return result{n, time.Since(start)}, nil
}

// recoveryTime fills a spool with size bytes of 200-byte records and
// times Open, and Open plus reading the first record, with the files in
// the page cache and, if asked, after dropping it.
func recoveryTime(out io.Writer, dir string, size int64, dropCaches bool) error {
	s, err := spool.Open(spool.Config{Dir: dir, MaxBytes: max(2*size, 1<<30), Sync: spool.SyncInterval})
	if err != nil {
		return err
	}
	recs := records(1024)
	for written := int64(0); written < size; written += 1024 * (recordSize + 28) {
		if err := s.Append(context.Background(), recs...); err != nil {
			return err
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	measure := func(label string) error {
		start := time.Now()
		s, err := spool.Open(spool.Config{Dir: dir, MaxBytes: max(2*size, 1<<30)})
		if err != nil {
			return err
		}
		opened := time.Since(start)
		r, err := s.OpenReader()
		if err != nil {
			return err
		}
		if _, err := r.Next(context.Background(), 1); err != nil {
			return err
		}
		first := time.Since(start)
		st := s.Stats()
		r.Close()
		s.Close()
		fmt.Fprintf(out, "| %s | %.2f GiB | %d | %d | %v | %v |\n", label, float64(st.Bytes)/(1<<30), st.Records, st.Segments, opened.Round(time.Millisecond), first.Round(time.Millisecond))
		return nil
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| recovery | spool size | records | segments | Open | Open + first record |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|")
	if err := measure("page cache warm"); err != nil {
		return err
	}
	if !dropCaches {
		return nil
	}
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
		return err
	}
	return measure("page cache dropped")
}

// parseSize reads a byte count with an optional KiB, MiB or GiB suffix.
func parseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q (want a count of bytes, optionally with KiB, MiB or GiB)", s)
	}
	return n * mult, nil
}
