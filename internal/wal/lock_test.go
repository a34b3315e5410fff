package wal

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestSecondOpenInTheSameProcessIsLocked(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l2, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		if l2 != nil {
			l2.Close()
		}
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	openLog(t, dir, Options{}) // Close released the directory
}

// lockChildEnv names the directory a child process of
// TestOpenInAnotherProcessIsLocked opens; it prints what happened.
const lockChildEnv = "HERALD_WAL_LOCK_CHILD"

func TestOpenInAnotherProcessIsLocked(t *testing.T) {
	if dir := os.Getenv(lockChildEnv); dir != "" {
		l, err := Open(dir, Options{})
		switch {
		case errors.Is(err, ErrLocked):
			fmt.Println("locked:", err)
		case err != nil:
			fmt.Println("error:", err)
		default:
			l.Close()
			fmt.Println("opened")
		}
		return
	}
	dir := t.TempDir()
	child := func() string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestOpenInAnotherProcessIsLocked$")
		// The race detector would sleep a second at exit.
		cmd.Env = append(os.Environ(), lockChildEnv+"="+dir, "GORACE=atexit_sleep_ms=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return string(out)
	}
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := child()
	if !strings.Contains(out, "locked:") || !strings.Contains(out, fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("child opening a held directory said:\n%s\nwant locked, naming process %d", out, os.Getpid())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if out := child(); !strings.Contains(out, "opened") {
		t.Fatalf("child opening a released directory said:\n%s", out)
	}
}
