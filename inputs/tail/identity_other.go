//go:build !unix

package tail

import "io/fs"

// keyOf has no device and inode to give outside Unix: no file is followed
// there (the README says so).
func keyOf(fs.FileInfo) (fileKey, bool) { return fileKey{}, false }
