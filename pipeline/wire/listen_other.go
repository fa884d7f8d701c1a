//go:build !linux

package wire

import "syscall"

// reusePort is nil elsewhere than on Linux: sockets bind as net.Listen's do.
var reusePort func(network, address string, c syscall.RawConn) error
