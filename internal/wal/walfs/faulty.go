package walfs

import (
	"io"
	"io/fs"
	"sync"
)

// Op names an operation that [Faulty] counts and can fail.
type Op uint8

// The operations of an FS and its Files.
const (
	OpOpen Op = iota
	OpRemove
	OpReadDir
	OpMkdir
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpClose
	numOps
)

var opNames = [numOps]string{"open", "remove", "readdir", "mkdir", "read", "write", "sync", "truncate", "close"}

func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "op?"
}

// Call describes an operation about to run, for the injector to judge.
type Call struct {
	Op   Op
	Name string // the path the operation acts on
	N    int    // 1 for the first call of Op since the Faulty was made, 2 for the next, ...
	Len  int    // bytes to write, for OpWrite
}

// Fault is what the injector wants to happen to a call. The zero Fault lets
// the call through unchanged.
type Fault struct {
	// Err fails the call. The real operation is not performed, except for
	// the first Short bytes of a write.
	Err error
	// Short, for OpWrite, writes only the first Short bytes for real
	// before failing with Err (io.ErrShortWrite if Err is nil).
	Short int
}

// Faulty wraps an FS and lets a test fail chosen calls. It also counts every
// call by Op, which is how tests see, for example, how many fsyncs a group
// of appends cost. It is safe for concurrent use.
type Faulty struct {
	fs FS

	mu     sync.Mutex // guards the fields below
	inject func(Call) Fault
	counts [numOps]int
}

// NewFaulty returns a Faulty over fsys with no fault injected.
func NewFaulty(fsys FS) *Faulty { return &Faulty{fs: fsys} }

// Inject sets the function that decides the fate of each later call; nil
// lets every call through. The function may block, which holds up the call
// it judges (and so, for example, a log's leader in its fsync); calls from
// several goroutines reach it concurrently.
func (f *Faulty) Inject(fn func(Call) Fault) {
	f.mu.Lock()
	f.inject = fn
	f.mu.Unlock()
}

// Count returns how many calls of op have been made.
func (f *Faulty) Count(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

func (f *Faulty) judge(op Op, name string, n int) Fault {
	f.mu.Lock()
	f.counts[op]++
	inject, c := f.inject, Call{Op: op, Name: name, N: f.counts[op], Len: n}
	f.mu.Unlock()
	if inject == nil {
		return Fault{}
	}
	return inject(c)
}

// OpenFile implements FS.
func (f *Faulty) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if ft := f.judge(OpOpen, name, 0); ft.Err != nil {
		return nil, ft.Err
	}
	file, err := f.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{f: f, file: file, name: name}, nil
}

// Remove implements FS.
func (f *Faulty) Remove(name string) error {
	if ft := f.judge(OpRemove, name, 0); ft.Err != nil {
		return ft.Err
	}
	return f.fs.Remove(name)
}

// ReadDir implements FS.
func (f *Faulty) ReadDir(name string) ([]fs.DirEntry, error) {
	if ft := f.judge(OpReadDir, name, 0); ft.Err != nil {
		return nil, ft.Err
	}
	return f.fs.ReadDir(name)
}

// MkdirAll implements FS.
func (f *Faulty) MkdirAll(name string, perm fs.FileMode) error {
	if ft := f.judge(OpMkdir, name, 0); ft.Err != nil {
		return ft.Err
	}
	return f.fs.MkdirAll(name, perm)
}

type faultyFile struct {
	f    *Faulty
	file File
	name string
}

func (ff *faultyFile) ReadAt(p []byte, off int64) (int, error) {
	if ft := ff.f.judge(OpRead, ff.name, len(p)); ft.Err != nil {
		return 0, ft.Err
	}
	return ff.file.ReadAt(p, off)
}

func (ff *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	ft := ff.f.judge(OpWrite, ff.name, len(p))
	if ft.Err == nil && ft.Short == 0 {
		return ff.file.WriteAt(p, off)
	}
	err := ft.Err
	if err == nil {
		err = io.ErrShortWrite
	}
	short := min(max(ft.Short, 0), len(p))
	if short == 0 {
		return 0, err
	}
	n, werr := ff.file.WriteAt(p[:short], off)
	if werr != nil {
		return n, werr
	}
	return n, err
}

func (ff *faultyFile) Sync() error {
	if ft := ff.f.judge(OpSync, ff.name, 0); ft.Err != nil {
		return ft.Err
	}
	return ff.file.Sync()
}

func (ff *faultyFile) Truncate(size int64) error {
	if ft := ff.f.judge(OpTruncate, ff.name, 0); ft.Err != nil {
		return ft.Err
	}
	return ff.file.Truncate(size)
}

func (ff *faultyFile) Stat() (fs.FileInfo, error) { return ff.file.Stat() }

func (ff *faultyFile) Close() error {
	if ft := ff.f.judge(OpClose, ff.name, 0); ft.Err != nil {
		ff.file.Close() // the descriptor must not leak; the caller sees the fault
		return ft.Err
	}
	return ff.file.Close()
}
