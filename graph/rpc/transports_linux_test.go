//go:build linux

package rpc

func testTransports() []Transport { return []Transport{NetTransport(), EpollTransport()} }

// benchTransports returns the baseline first, then epoll.
func benchTransports() []Transport { return []Transport{NetTransport(), EpollTransport()} }
