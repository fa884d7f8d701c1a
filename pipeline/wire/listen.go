package wire

import (
	"context"
	"net"
)

// Listen is net.Listen for the listening socket of an input, and
// ListenPacket net.ListenPacket for its datagram socket: on Linux both set
// SO_REUSEADDR and SO_REUSEPORT before they bind.
//
// Why: a reload replaces an input whose table changed by a new instance,
// which must bind its address before the old instance closes, even when
// the address is the same. While both are open the kernel spreads new
// connections (datagrams) between them, so none is refused; once the old
// one closes, the new one takes them all. What the old socket holds when
// it closes (connections not yet accepted, datagrams not yet read) is lost
// with it, as at any stop: Linux hands none of it to the other.
//
// The caveat: any process of the same user that sets SO_REUSEPORT too (a
// second pipeline with the same address, say) can bind the same address
// and take a share of the traffic instead of failing with "address in
// use". A socket bound without SO_REUSEPORT, or by another user, still
// makes the bind fail. Elsewhere than on Linux these are net.Listen and
// net.ListenPacket: a reload that keeps the address fails to bind it.
func Listen(network, address string) (net.Listener, error) {
	lc := net.ListenConfig{Control: reusePort}
	return lc.Listen(context.Background(), network, address)
}

// ListenPacket is net.ListenPacket with SO_REUSEADDR and SO_REUSEPORT set on
// Linux; see Listen for why.
func ListenPacket(network, address string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: reusePort}
	return lc.ListenPacket(context.Background(), network, address)
}
