// Package wire holds what inputs and outputs share to move bytes between
// the pipeline and the outside world: reading newline-delimited lines
// (ReadLines), binding the sockets of inputs so that a reload can overlap
// two instances of one (Listen, ListenPacket), serving TCP connections
// within limits (TCPServer) and UDP datagrams (ServeUDP), and writing
// messages as lines in an output format (LineWriter, LineFormatter,
// AppendFormatted).
//
// It is named for the wire, the bytes as they arrive and leave, where
// package pipeline is the runtime and the messages it passes between
// plugins. wire imports pipeline, never the reverse; a helper the runtime
// uses itself (pipeline.LogThrottle) stays in pipeline.
package wire
