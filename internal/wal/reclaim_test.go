package wal

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/heraldmq/herald/internal/wal/walfs"
)

func TestReleaseDeletesEndedSegments(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentSize: 512})
	payload := strings.Repeat("p", 100)
	var pos []Pos
	for range 20 {
		pos = append(pos, mustAppend(t, l, 1, payload))
	}
	if n := len(segmentFiles(t, dir)); n < 4 {
		t.Fatalf("%d segments, want several", n)
	}
	for _, p := range pos {
		if err := l.Release(p); err != nil {
			t.Fatal(err)
		}
		// A released segment goes at once, unless it is the active one.
		for _, s := range segmentFiles(t, dir) {
			if id, _ := parseSegmentName(s[len(dir)+1:]); id < p.Segment {
				t.Fatalf("after releasing every record of segment %d, %s is still there", id, s)
			}
		}
	}
	files := segmentFiles(t, dir)
	if len(files) != 1 || files[0] != segmentPath(dir, pos[len(pos)-1].Segment) {
		t.Fatalf("segments left: %v, want only the active one", files)
	}
	if st := l.Stats(); st.Live != 0 || st.LiveBytes != 0 || st.Segments != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestAnOlderLiveSegmentKeepsLaterOnes(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentSize: 512})
	payload := strings.Repeat("p", 100)
	straggler := mustAppend(t, l, 1, payload)
	var rest []Pos
	for range 20 {
		rest = append(rest, mustAppend(t, l, 1, payload))
	}
	for _, p := range rest {
		if err := l.Release(p); err != nil {
			t.Fatal(err)
		}
	}
	// The later segments may hold the settle notes of the straggler's
	// neighbours: deleting them first would bring those back on recovery.
	before := len(segmentFiles(t, dir))
	if before < 4 {
		t.Fatalf("%d segments, want the straggler's to keep several", before)
	}
	if err := l.Release(straggler); err != nil {
		t.Fatal(err)
	}
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Fatalf("after the straggler's release %d segments remain, want 1", n)
	}
}

func TestReleaseOfARecordThatIsNotLive(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	pos := mustAppend(t, l, 1, "x")
	for _, bad := range []Pos{
		{Segment: 99, Offset: pos.Offset, Size: pos.Size},
		{Segment: pos.Segment, Offset: pos.Offset, Size: 1},
		{Segment: pos.Segment, Offset: 1 << 30, Size: pos.Size},
		{},
	} {
		if err := l.Release(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Release(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := l.Release(pos); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(pos); !errors.Is(err, ErrInvalid) {
		t.Errorf("second Release = %v, want ErrInvalid", err)
	}
}

func TestRecoveredRecordsAreLiveUntilReleased(t *testing.T) {
	dir := t.TempDir()
	recs := writeLog(t, dir, Options{SegmentSize: 512}, 30)
	l := openLog(t, dir, Options{SegmentSize: 512})
	if st := l.Stats(); st.Live != len(recs) {
		t.Fatalf("Stats.Live = %d after recovering %d records", st.Live, len(recs))
	}
	for _, r := range replayAll(t, l) {
		if err := l.Release(r.pos); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Fatalf("%d segments after releasing every recovered record", n)
	}
}

func TestReplayHoldsSegments(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentSize: 512})
	payload := strings.Repeat("p", 100)
	var pos []Pos
	for range 10 {
		pos = append(pos, mustAppend(t, l, 1, payload))
	}
	n := 0
	err := l.Replay(func(p Pos, _ byte, got []byte) error {
		if string(got) != payload {
			t.Fatalf("record at %+v = %q", p, got)
		}
		// Releasing the record being read, and all before it, must not
		// delete a file under the Replay.
		if err := l.Release(p); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil || n != len(pos) {
		t.Fatalf("Replay = %v after %d records", err, n)
	}
	if files := segmentFiles(t, dir); len(files) != 1 {
		t.Fatalf("after the Replay: %d segments, want the dead ones deleted", len(files))
	}
}

func TestReplayStopsAtTheCallersError(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	for i := range 5 {
		mustAppend(t, l, 1, payloadOf(i))
	}
	stop := errors.New("stop")
	n := 0
	if err := l.Replay(func(Pos, byte, []byte) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("Replay = %v after %d calls, want stop after 1", err, n)
	}
}

// TestDiskStaysBounded runs steady traffic in which most records end soon
// and a few never do, copying those forward when Stragglers asks. Without
// the copying the log grows without bound; with it, disk use stays within
// the bound Stragglers keeps.
func TestDiskStaysBounded(t *testing.T) {
	const (
		segSize  = 4096
		records  = 6000
		lag      = 50  // a record ends this many appends later...
		every    = 400 // ...except one in every, which never does
		maxFiles = 8
	)
	payload := strings.Repeat("m", 88) // 100-byte frames
	run := func(t *testing.T, copyForward bool) (maxSegs int, maxBytes int64) {
		dir := t.TempDir()
		l := openLog(t, dir, Options{SegmentSize: segSize, Sync: SyncNever()})
		var window []Pos
		stragglers := map[int]Pos{}
		for i := range records {
			pos := mustAppend(t, l, 1, payload)
			if i%every == 0 {
				stragglers[i] = pos
			} else {
				window = append(window, pos)
			}
			if len(window) > lag {
				if err := l.Release(window[0]); err != nil {
					t.Fatal(err)
				}
				window = window[1:]
			}
			if below := l.Stragglers(); copyForward && below != 0 {
				for id, old := range stragglers {
					if old.Segment >= below {
						continue
					}
					stragglers[id] = mustAppend(t, l, 1, payload)
					if err := l.Release(old); err != nil {
						t.Fatal(err)
					}
				}
			}
			st := l.Stats()
			maxSegs = max(maxSegs, st.Segments)
			maxBytes = max(maxBytes, st.Bytes)
			if st.Live != len(window)+len(stragglers) {
				t.Fatalf("Stats.Live = %d, want %d", st.Live, len(window)+len(stragglers))
			}
		}
		if got := len(segmentFiles(t, dir)); got != l.Stats().Segments {
			t.Fatalf("%d files, Stats says %d", got, l.Stats().Segments)
		}
		return maxSegs, maxBytes
	}
	t.Run("copied forward", func(t *testing.T) {
		segs, bytes := run(t, true)
		t.Logf("at most %d segments, %d bytes", segs, bytes)
		if segs > maxFiles || bytes > maxFiles*segSize {
			t.Fatalf("disk use reached %d segments, %d bytes; want at most %d segments", segs, bytes, maxFiles)
		}
	})
	t.Run("left in place", func(t *testing.T) {
		segs, _ := run(t, false)
		if segs < records*100/segSize/2 {
			t.Fatalf("without copying forward the log peaked at %d segments: the test does not pin", segs)
		}
	})
}

func TestStragglersLeavesALiveBacklogInPlace(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{SegmentSize: 4096, Sync: SyncNever()})
	payload := strings.Repeat("b", 88)
	for range 2000 { // a backlog of 50 segments, all live
		mustAppend(t, l, 1, payload)
	}
	if below := l.Stragglers(); below != 0 {
		t.Fatalf("Stragglers = %d for a log that is all live, want 0", below)
	}
}

func TestRemoveErrorIsReported(t *testing.T) {
	dir := t.TempDir()
	fsys := faulty()
	l := openLog(t, dir, Options{SegmentSize: 512, FS: fsys})
	payload := strings.Repeat("p", 100)
	var pos []Pos
	for range 10 {
		pos = append(pos, mustAppend(t, l, 1, payload))
	}
	failNext(fsys, walfs.OpRemove, 0, errInjected)
	var err error
	for _, p := range pos[:5] {
		if e := l.Release(p); e != nil {
			err = e
		}
	}
	if !errors.Is(err, errInjected) {
		t.Fatalf("Release whose segment deletion failed = %v", err)
	}
	if _, serr := os.Stat(segmentPath(dir, 1)); serr != nil {
		t.Fatalf("segment 1 is gone although its removal failed: %v", serr)
	}
}

// TestConcurrentUse appends, releases, replays and asks for stragglers from
// many goroutines at once, with small segments, then checks the log's
// counts against what the goroutines kept: a test for the race detector
// and for the bookkeeping under contention.
func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentSize: 2048, Sync: SyncNever()})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 300
	kept := make([][]Pos, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				pos, err := l.Append(1, []byte(payloadOf(i)))
				if err != nil {
					t.Error(err)
					return
				}
				if i%4 == 0 {
					kept[w] = append(kept[w], pos)
				} else if err := l.Release(pos); err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 {
					if err := l.AppendNoWait(2, []byte("note")); err != nil {
						t.Error(err)
						return
					}
				}
				l.Stragglers()
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if err := l.Replay(func(Pos, byte, []byte) error { return nil }); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	want := 0
	for _, k := range kept {
		want += len(k)
	}
	if st := l.Stats(); st.Live != want {
		t.Fatalf("Stats.Live = %d, want %d", st.Live, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, Options{SegmentSize: 2048})
	found := map[Pos]bool{}
	for _, r := range replayAll(t, l) {
		found[r.pos] = true
	}
	for _, k := range kept {
		for _, p := range k {
			if !found[p] {
				t.Fatalf("kept record at %+v not recovered", p)
			}
		}
	}
}
