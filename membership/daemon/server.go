package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/membership/api"
)

type ctxKey int

const credKey ctxKey = 1

// peerCred returns the credentials of the process at the other end of a unix socket.
func peerCred(c net.Conn) (*unix.Ucred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, errors.New("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

// handler is an API endpoint: the request body in, a JSON-encodable reply or an error out.
type handler func(ctx context.Context, r *http.Request, body []byte) (any, error)

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("malformed request: %v", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// serve wraps a handler: body read (bounded), auth check, JSON reply or {"error": ...}.
func (d *Daemon) serve(h handler, auth func(r *http.Request, body []byte) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
		if err != nil || len(body) > 1<<20 {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "request body too large or unreadable"})
			return
		}
		if auth != nil {
			if err := auth(r, body); err != nil {
				writeJSON(w, http.StatusUnauthorized, api.Error{Error: err.Error()})
				return
			}
		}
		out, err := h(r.Context(), r, body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// rootOnly admits unix-socket callers that are root or the daemon's own user.
func rootOnly(r *http.Request, _ []byte) error {
	cred, _ := r.Context().Value(credKey).(*unix.Ucred)
	if cred == nil {
		return errors.New("permission denied: caller credentials unknown")
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("permission denied: uid %d is not root", cred.Uid)
	}
	return nil
}

func (d *Daemon) peerAuth(r *http.Request, body []byte) error {
	return api.Verify(r, d.secret(), body, time.Now())
}

func (d *Daemon) startAPI() error {
	// The CLI's unix socket.
	if err := os.MkdirAll(filepath.Dir(d.cfg.Socket), 0o755); err != nil {
		return fmt.Errorf("daemon: socket dir: %w", err)
	}
	if c, err := net.DialTimeout("unix", d.cfg.Socket, 200*time.Millisecond); err == nil {
		c.Close()
		return fmt.Errorf("daemon: another daemon serves %s", d.cfg.Socket)
	}
	_ = os.Remove(d.cfg.Socket)
	old := syscall.Umask(0o077)
	uln, err := net.Listen("unix", d.cfg.Socket)
	syscall.Umask(old)
	if err != nil {
		return fmt.Errorf("daemon: socket: %w", err)
	}
	d.unixLn = uln
	cli := http.NewServeMux()
	for pattern, h := range d.cliRoutes() {
		cli.Handle(pattern, d.serve(h, rootOnly))
	}
	d.unixSrv = &http.Server{Handler: cli, ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			cred, err := peerCred(c)
			if err != nil {
				return ctx
			}
			return context.WithValue(ctx, credKey, cred)
		}}

	// Peers' TCP API.
	tln, err := net.Listen("tcp", hostPort(d.bindHost(), d.cfg.MgmtPort))
	if err != nil {
		uln.Close()
		return fmt.Errorf("daemon: management port %d: %w", d.cfg.MgmtPort, err)
	}
	d.tcpLn = tln
	peer := http.NewServeMux()
	peer.Handle("GET /v1/internal/hello", d.serve(d.hHello, nil))
	peer.Handle("POST /v1/internal/join", d.serve(d.hJoin, nil))
	for pattern, h := range d.peerRoutes() {
		peer.Handle(pattern, d.serve(h, d.peerAuth))
	}
	d.tcpSrv = &http.Server{Handler: peer, ReadHeaderTimeout: 10 * time.Second}
	for _, s := range []struct {
		srv *http.Server
		ln  net.Listener
	}{{d.unixSrv, uln}, {d.tcpSrv, tln}} {
		go func() {
			if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("api server", zap.Error(err))
			}
		}()
	}
	return nil
}

func (d *Daemon) cliRoutes() map[string]handler {
	return map[string]handler{
		"GET /v1/peers":                  d.hPeers,
		"POST /v1/peers/probe":           d.hProbe,
		"POST /v1/peers/detach":          d.hDetach,
		"GET /v1/volumes":                d.hVolumes,
		"POST /v1/volumes/create":        d.hCreate,
		"POST /v1/volumes/start":         d.hStart,
		"POST /v1/volumes/stop":          d.hStop,
		"POST /v1/volumes/delete":        d.hDelete,
		"POST /v1/volumes/set":           d.hSet,
		"POST /v1/volumes/reset":         d.hReset,
		"GET /v1/volumes/status":         d.hStatus,
		"POST /v1/volumes/add-brick":     d.hAddBrick,
		"POST /v1/volumes/remove-brick":  d.hRemoveBrick,
		"POST /v1/volumes/replace-brick": d.hReplaceBrick,
		"POST /v1/volumes/statedump":     d.hStatedump,
		"POST /v1/volumes/unsupported":   d.hUnsupported,
		"POST /v1/volumes/rebalance":     d.hRebalance,
		"POST /v1/volumes/heal":          d.hHeal,
		"POST /v1/volumes/profile":       d.hProfile,
		"GET /v1/volfile":                d.hVolfile,
	}
}

func (d *Daemon) peerRoutes() map[string]handler {
	return map[string]handler{
		"POST /v1/internal/apply":        d.hInternalApply,
		"POST /v1/internal/add-peer":     d.hInternalAddPeer,
		"POST /v1/internal/remove-voter": d.hInternalRemoveVoter,
		"POST /v1/internal/check-bricks": d.hInternalCheckBricks,
		"GET /v1/internal/local-status":  d.hInternalLocalStatus,
		"POST /v1/internal/statedump":    d.hInternalStatedump,
		"POST /v1/internal/task":         d.hInternalTask,
		"POST /v1/internal/profile":      d.hInternalProfile,
		"GET /v1/volfile":                d.hVolfile,
	}
}
