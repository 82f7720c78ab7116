//go:build linux

package client

import "github.com/weftfs/weft/graph/rpc"

const defaultTransport = "epoll"

func epollTransport() (rpc.Transport, error) { return rpc.EpollTransport(), nil }
