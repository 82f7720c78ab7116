//go:build !linux

package rpc

func testTransports() []Transport { return []Transport{NetTransport()} }

func benchTransports() []Transport { return []Transport{NetTransport()} }
