package file

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// reserveSpace allocates n bytes after off in f without changing its size, so
// that the write that follows finds the room it needs or fails before
// writing anything: a full disk fails the batch here, and no reader sees part
// of it. A filesystem that cannot reserve is no error; appendWhole then cuts
// a failed write off instead.
func reserveSpace(f *os.File, off, n int64) error {
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, off, n)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return nil
	}
	return err
}
