//go:build !linux

package server

import (
	"fmt"

	"github.com/weftfs/weft/graph/rpc"
)

const defaultTransport = "netconn"

func epollTransport() (rpc.Transport, error) {
	return nil, fmt.Errorf("protocol/server: the epoll transport exists only on Linux")
}
