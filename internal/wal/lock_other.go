//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || illumos)

package wal

import (
	"fmt"
	"path/filepath"
	"sync"
)

// Without flock(2) the lock only excludes a second Log of the same
// directory in this process; a second process is not kept out.
var (
	heldMu sync.Mutex
	held   = map[string]bool{}
)

type dirLock struct{ dir string }

func lockDir(dir string) (*dirLock, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: lock %s: %w", dir, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	heldMu.Lock()
	defer heldMu.Unlock()
	if held[abs] {
		return nil, fmt.Errorf("%w: %s is held by another log in this process", ErrLocked, dir)
	}
	held[abs] = true
	return &dirLock{dir: abs}, nil
}

func (l *dirLock) unlock() error {
	heldMu.Lock()
	delete(held, l.dir)
	heldMu.Unlock()
	return nil
}
