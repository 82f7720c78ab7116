//go:build linux

package rpc

// DefaultTransport returns the transport used when none is configured: EpollTransport on Linux.
func DefaultTransport() Transport { return EpollTransport() }
