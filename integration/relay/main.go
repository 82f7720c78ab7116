// Command relay connects its standard input and output to a TCP address. qemu's user-mode
// network runs one per guest connection (a guestfwd rule) so that a guest dialing 10.0.2.100:PORT
// reaches a server on the host's loopback. Go sets TCP_NODELAY on its TCP connections, which
// small RPCs need (a relay without it slows them down about 4×).
package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: relay HOST:PORT")
		os.Exit(2)
	}
	c, err := net.Dial("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(c, os.Stdin)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(os.Stdout, c)
		done <- struct{}{}
	}()
	<-done // either side finished: end the whole relay so the other side sees the close
	c.Close()
	os.Stdout.Close()
}
