package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestLoadDaemonLayers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "weft.yaml")
	if err := os.WriteFile(file, []byte("bind: 127.0.0.2\nstate-dir: /srv/weft\nmgmt-port: 30007\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WEFT_MGMT_PORT", "30008")
	t.Setenv("WEFT_NFS_PORT", "3049")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.Int("nfs-port", DefaultNFSPort, "")
	fs.String("socket", DefaultSocket, "")
	if err := fs.Parse([]string{"--nfs-port", "4049"}); err != nil {
		t.Fatal(err)
	}
	d, err := LoadDaemon(file, fs)
	if err != nil {
		t.Fatal(err)
	}
	// file < env < flags; unset flags do not override.
	if d.Bind != "127.0.0.2" || d.Advertise != "127.0.0.2" || d.StateDir != "/srv/weft" || d.MgmtPort != 30008 || d.NFSPort != 4049 || d.Socket != DefaultSocket || d.RaftPort != DefaultRaftPort {
		t.Fatalf("loaded %+v", d)
	}
}

func TestLoadDaemonErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ body, want string }{
		{"bogus-key: 1\n", "bogus-key"},
		{"bind: not-an-ip\n", "not an IP"},
		{"mgmt-port: 70000\n", "not a port"},
		{"state-dir: relative\n", "absolute"},
		{"raft-port: 24007\n", "must differ"},
		{"log-level: loud\n", "log-level"},
		{"brick-port-base: 65500\nbrick-port-range: 100\n", "65535"},
		{": : :\n", "config"},
	} {
		file := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(file, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadDaemon(file, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.body, err, tc.want)
		}
	}
	if _, err := LoadDaemon(filepath.Join(dir, "missing.yaml"), nil); err == nil {
		t.Error("explicit missing config file: no error")
	}
}

func TestExampleConfigLoads(t *testing.T) {
	d, err := LoadDaemon("weft.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultDaemon()
	if d.StateDir != def.StateDir || d.MgmtPort != def.MgmtPort || d.Gateway != def.Gateway {
		t.Fatalf("example differs from defaults: %+v", d)
	}
}

func TestSocketFromEnv(t *testing.T) {
	t.Setenv("WEFT_SOCKET", "/tmp/x.sock")
	if SocketFromEnv("") != "/tmp/x.sock" || SocketFromEnv("/a") != "/a" {
		t.Fatal("socket precedence")
	}
	t.Setenv("WEFT_SOCKET", "")
	if SocketFromEnv("") != DefaultSocket {
		t.Fatal("default socket")
	}
}
