package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/membership/api"
)

// mgmtFlags are the flags every management CLI command takes.
type mgmtFlags struct {
	socket string
	json   bool
}

// addMgmtFlags adds --socket and --json as persistent flags of a command group.
func addMgmtFlags(c *cobra.Command, f *mgmtFlags) {
	c.PersistentFlags().StringVar(&f.socket, "socket", "", "management socket (default $WEFT_SOCKET or "+configs.DefaultSocket+")")
	c.PersistentFlags().BoolVar(&f.json, "json", false, "print the reply as JSON (read commands)")
}

func (f *mgmtFlags) client() *api.Client {
	return api.UnixClient(configs.SocketFromEnv(f.socket), 2*time.Minute)
}

func (f *mgmtFlags) get(ctx context.Context, path string, out any) error {
	return f.client().Do(ctx, http.MethodGet, path, nil, out)
}

// post sends a write request and prints the daemon's one-line message.
func (f *mgmtFlags) post(ctx context.Context, w io.Writer, path string, in any) error {
	var m api.Message
	if err := f.client().Do(ctx, http.MethodPost, path, in, &m); err != nil {
		return err
	}
	if f.json {
		return printJSON(w, m)
	}
	fmt.Fprintln(w, m.Message)
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
