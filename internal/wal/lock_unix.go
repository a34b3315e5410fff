//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly || illumos

package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dirLock holds a directory with flock(2) on its LOCK file. The lock belongs
// to the open file description, so a second open of the file conflicts even
// in the same process, and the kernel drops it when the process dies, so a
// crash never leaves the directory locked.
type dirLock struct{ f *os.File }

func lockDir(dir string) (*dirLock, error) {
	name := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wal: lock %s: %w", dir, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		holder := "another log"
		if b, rerr := os.ReadFile(name); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = "process " + strconv.Itoa(pid)
			}
		}
		f.Close()
		return nil, fmt.Errorf("%w: %s is held by %s", ErrLocked, dir, holder)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: lock %s: %w", dir, err)
	}
	// The pid only names the holder in the error above; the lock is flock.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) unlock() error {
	return l.f.Close() // closing the last descriptor releases the flock
}
