//go:build !linux

package rpc

// DefaultTransport returns the transport used when none is configured: NetTransport on
// systems without epoll.
func DefaultTransport() Transport { return NetTransport() }
