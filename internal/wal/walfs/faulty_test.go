package walfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

var errInjected = errors.New("injected")

func TestFaultyPassesThroughAndCounts(t *testing.T) {
	f := NewFaulty(OS())
	name := filepath.Join(t.TempDir(), "x")
	file, err := f.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteAt([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	if err := file.Sync(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := file.ReadAt(buf, 0); err != nil || string(buf) != "hello" {
		t.Fatalf("ReadAt = %q, %v", buf, err)
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
	for op, want := range map[Op]int{OpOpen: 1, OpWrite: 1, OpSync: 1, OpRead: 1, OpClose: 1, OpRemove: 0} {
		if got := f.Count(op); got != want {
			t.Errorf("Count(%v) = %d, want %d", op, got, want)
		}
	}
}

func TestFaultyShortWriteWritesThePrefix(t *testing.T) {
	f := NewFaulty(OS())
	f.Inject(func(c Call) Fault {
		if c.Op == OpWrite && c.N == 2 {
			return Fault{Short: 3}
		}
		return Fault{}
	})
	name := filepath.Join(t.TempDir(), "x")
	file, err := f.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := file.WriteAt([]byte("ab"), 0); err != nil {
		t.Fatal(err)
	}
	n, err := file.WriteAt([]byte("cdefg"), 2)
	if n != 3 || !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short WriteAt = %d, %v; want 3, io.ErrShortWrite", n, err)
	}
	got, _ := os.ReadFile(name)
	if string(got) != "abcde" {
		t.Fatalf("file = %q, want %q", got, "abcde")
	}
}

func TestFaultyFailsChosenCalls(t *testing.T) {
	f := NewFaulty(OS())
	f.Inject(func(c Call) Fault {
		if c.Op == OpSync || c.Op == OpRemove {
			return Fault{Err: errInjected}
		}
		return Fault{}
	})
	dir := t.TempDir()
	name := filepath.Join(dir, "x")
	file, err := f.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if err := file.Sync(); !errors.Is(err, errInjected) {
		t.Errorf("Sync = %v, want injected", err)
	}
	if err := f.Remove(name); !errors.Is(err, errInjected) {
		t.Errorf("Remove = %v, want injected", err)
	}
	if _, err := os.Stat(name); err != nil {
		t.Errorf("a failed Remove removed the file: %v", err)
	}
	f.Inject(nil)
	if err := file.Sync(); err != nil {
		t.Errorf("Sync after Inject(nil) = %v", err)
	}
}
