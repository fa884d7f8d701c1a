package pipelinetest

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// Tmpfs mounts a tmpfs of size bytes on a new temporary directory and
// returns the directory; the test's cleanup unmounts it. Where mounting is
// not allowed (not root, no CAP_SYS_ADMIN) the test is skipped, saying why:
// a full disk is tested on a small tmpfs.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Skipf("cannot mount a %d-byte tmpfs for a full-disk test (needs root or CAP_SYS_ADMIN): %v", size, err)
	}
	// Detached, so that a file still open cannot keep it mounted; registered
	// after TempDir's cleanup, it runs before it.
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
