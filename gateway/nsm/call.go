package nsm

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/gateway/portmap"
	"github.com/weftfs/weft/graph/rpc"
)

// LookupPort asks the port mapper at host:pmPort (RFC 1833 §3.2 PMAPPROC_GETPORT) for the TCP
// port of program prog version vers. A program that is not registered is an error wrapping
// EPROTONOSUPPORT.
func LookupPort(ctx context.Context, tr rpc.Transport, host string, pmPort int, prog, vers uint32) (int, error) {
	cl, err := rpc.Dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(pmPort)), &rpc.ClientOptions{Transport: tr})
	if err != nil {
		return 0, fmt.Errorf("port mapper at %s:%d: %w", host, pmPort, err)
	}
	defer cl.Close()
	m := portmap.Mapping{Prog: prog, Vers: vers, Prot: portmap.ProtoTCP}
	res, err := cl.Call(ctx, portmap.Program, portmap.Version, portmap.ProcGetport, m.Encode(), rpc.NoAuth)
	if err != nil {
		return 0, fmt.Errorf("port mapper at %s:%d: GETPORT %d/%d: %w", host, pmPort, prog, vers, err)
	}
	if len(res) != 4 {
		return 0, fmt.Errorf("port mapper at %s:%d: GETPORT reply of %d bytes: %w", host, pmPort, len(res), unix.EPROTO)
	}
	p := binary.BigEndian.Uint32(res)
	if p == 0 || p > 65535 {
		return 0, fmt.Errorf("port mapper at %s:%d: program %d version %d over TCP not registered (port %d): %w", host, pmPort, prog, vers, p, unix.EPROTONOSUPPORT)
	}
	return int(p), nil
}

// CallViaPortmap looks the program of req up in the port mapper at host:pmPort, connects to
// it over TCP and makes the call, returning the XDR-encoded results. Each call uses a fresh
// connection, closed before returning: callbacks are rare (a blocked lock granted, a host
// rebooted), and a cached connection to a client that went away would only go stale.
func CallViaPortmap(ctx context.Context, tr rpc.Transport, host string, pmPort int, req *rpc.Request) ([]byte, error) {
	port, err := LookupPort(ctx, tr, host, pmPort, req.Prog, req.Vers)
	if err != nil {
		return nil, err
	}
	cl, err := rpc.Dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)), &rpc.ClientOptions{Transport: tr})
	if err != nil {
		return nil, fmt.Errorf("program %d at %s:%d: %w", req.Prog, host, port, err)
	}
	defer cl.Close()
	res, err := cl.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("program %d/%d proc %d at %s:%d: %w", req.Prog, req.Vers, req.Proc, host, port, err)
	}
	return res, nil
}
