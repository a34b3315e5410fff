package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/leak"
	"github.com/heraldmq/herald/internal/wal/walfs"
)

var errInjected = errors.New("injected I/O error")

// openLog opens a log that is closed when the test ends, after which the
// test fails if a goroutine of the log is still running.
func openLog(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		l.Close()
		if leaked := leak.Find(2 * time.Second); len(leaked) > 0 {
			t.Error(leak.Report(leaked))
		}
	})
	return l
}

// rec is a record as Replay shows it.
type rec struct {
	pos     Pos
	typ     byte
	payload string
}

func replayAll(t testing.TB, l *Log) []rec {
	t.Helper()
	var got []rec
	if err := l.Replay(func(pos Pos, typ byte, p []byte) error {
		got = append(got, rec{pos, typ, string(p)})
		return nil
	}); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return got
}

func mustAppend(t testing.TB, l *Log, typ byte, payload string) Pos {
	t.Helper()
	pos, err := l.Append(typ, []byte(payload))
	if err != nil {
		t.Fatalf("Append(%d, %q): %v", typ, payload, err)
	}
	return pos
}

// payloadOf returns a payload for record i whose size varies with i.
func payloadOf(i int) string {
	return fmt.Sprintf("record %d %s", i, bytes.Repeat([]byte{'a' + byte(i%26)}, i%97))
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func fileSize(t testing.TB, name string) int64 {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// faulty returns a fault-injecting FS over the OS.
func faulty() *walfs.Faulty { return walfs.NewFaulty(walfs.OS()) }
