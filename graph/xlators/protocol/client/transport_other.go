//go:build !linux

package client

import (
	"fmt"

	"github.com/weftfs/weft/graph/rpc"
)

const defaultTransport = "netconn"

func epollTransport() (rpc.Transport, error) {
	return nil, fmt.Errorf("protocol/client: the epoll transport exists only on Linux")
}
