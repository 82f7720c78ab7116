//go:build linux

package rpc

func testTransports() []Transport { return []Transport{NetTransport(), EpollTransport()} }
