//go:build !linux

package pipelinetest

import "testing"

// Tmpfs skips the test: mounting a small tmpfs for a full-disk test is done
// on Linux only.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	t.Skip("full-disk tests mount a small tmpfs, which they do on Linux only")
	return ""
}
