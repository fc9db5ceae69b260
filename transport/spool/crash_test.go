package spool

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The crash test re-executes the test binary as a child that appends with
// SyncAlways and reports each record whose Append returned; the parent
// SIGKILLs it at a random moment and checks what a restart finds.
const (
	crashDirEnv   = "KILN_SPOOL_CRASH_DIR"
	crashStartEnv = "KILN_SPOOL_CRASH_START"
)

func crashConfig(dir string) Config {
	return Config{Dir: dir, SegmentBytes: 4096, MaxBytes: 64 << 20, Sync: SyncAlways}
}

// crashRecord is record i's content: its index and a filler of a length
// that varies with i.
func crashRecord(i int) []byte {
	b := fmt.Appendf(nil, "%d:", i)
	return append(b, bytes.Repeat([]byte{byte('a' + i%26)}, i%300)...)
}

// crashChild runs the child's side when the environment asks for it, and
// then never returns: the parent kills it.
func crashChild() bool {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return false
	}
	start, err := strconv.Atoi(os.Getenv(crashStartEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	s, err := Open(crashConfig(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	for i := start; ; i++ {
		if err := s.Append(context.Background(), crashRecord(i)); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stdout, i) // unbuffered: one write per record
	}
}

// startCrashChild starts the test binary as a crash child appending to
// dir from record start; it returns the command, its stdout (one line per
// record appended) and what it writes to stderr.
func startCrashChild(t *testing.T, dir string, start int) (*exec.Cmd, io.Reader, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashStartEnv+"="+strconv.Itoa(start))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(bytes.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out, stderr
}

func TestCrashKillRestartLosesNothing(t *testing.T) {
	dir := t.TempDir()
	rounds := 40
	if testing.Short() {
		rounds = 5
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	next := 0 // index of the first record the child of this round appends
	firstUnacked := 0
	for round := range rounds {
		cmd, out, stderr := startCrashChild(t, dir, next)
		confirmed := make(chan int, 1)
		started := make(chan struct{})
		go func() {
			last := next - 1
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if v, err := strconv.Atoi(sc.Text()); err == nil {
					if last < next {
						close(started)
					}
					last = v
				}
			}
			if last < next {
				close(started)
			}
			confirmed <- last
		}()
		// once it appends, let it write a while, then kill it mid-stride
		<-started
		time.Sleep(time.Duration(5+rnd.IntN(40)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		last := <-confirmed
		cmd.Wait()
		if stderr.Len() > 0 {
			t.Fatalf("round %d: child said %s", round, stderr.String())
		}

		s := mustOpen(t, crashConfig(dir))
		got := readAll(t, s)
		// every confirmed record is there, once, in order, from the
		// first unacknowledged one; at most the two records whose
		// Append may have completed unreported follow; nothing else
		if len(got) == 0 && last >= firstUnacked {
			t.Fatalf("round %d: nothing read, %d confirmed", round, last)
		}
		for i, r := range got {
			want := crashRecord(firstUnacked + i)
			if !bytes.Equal(r.Data, want) {
				t.Fatalf("round %d: record %d = %.20q…, want %.20q…", round, firstUnacked+i, r.Data, want)
			}
		}
		end := firstUnacked + len(got) - 1
		if end < last || end > last+2 {
			t.Fatalf("round %d: read up to %d, child confirmed up to %d", round, end, last)
		}
		if st := s.Stats(); st.CorruptBytes != 0 {
			t.Fatalf("round %d: corruption after a crash: %+v", round, st)
		}
		// acknowledge a random prefix; the rest must come back next round
		if k := rnd.IntN(len(got) + 1); k > 0 {
			r, _ := s.OpenReader()
			if _, err := r.Next(context.Background(), k); err != nil {
				t.Fatal(err)
			}
			if err := r.Ack(got[k-1].Seq); err != nil {
				t.Fatal(err)
			}
			r.Close()
			firstUnacked += k
		}
		next = end + 1
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d confirmed, %d read, %d acknowledged so far", round, last+1, len(got), firstUnacked)
	}
	if next < rounds {
		t.Fatalf("children appended only %d records in %d rounds", next, rounds)
	}
}

// TestAnotherProcessHoldsTheLockUntilItDies opens a directory that a
// child process holds: Open fails with ErrLocked while the child runs,
// and succeeds once it is killed (no stale lock is left behind).
func TestAnotherProcessHoldsTheLockUntilItDies(t *testing.T) {
	dir := t.TempDir()
	cmd, out, stderr := startCrashChild(t, dir, 0)
	sc := bufio.NewScanner(out)
	if !sc.Scan() { // the child has the spool open and appends
		cmd.Wait()
		t.Fatalf("the child did not append: %s", stderr.String())
	}
	if s, err := Open(crashConfig(dir)); !errors.Is(err, ErrLocked) {
		if err == nil {
			s.Close()
		}
		t.Errorf("Open while another process holds the directory: %v, want ErrLocked", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // to the end of what the killed child wrote
	}
	cmd.Wait()
	s := mustOpen(t, crashConfig(dir))
	s.Close()
}
