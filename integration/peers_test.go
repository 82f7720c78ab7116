//go:build integration && peers

package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestKernelClientAgainstGanesha runs the NFSv3 kernel-client script against NFS-Ganesha (FSAL
// VFS) from Debian: it validates the harness and the script themselves on a known server, and is
// the side-by-side reference. Run with: go test -tags 'integration peers' -run Ganesha ./integration/
func TestKernelClientAgainstGanesha(t *testing.T) {
	ns := newNetNS(t)
	dir := t.TempDir()
	exp := filepath.Join(dir, "exp")
	if err := os.Mkdir(exp, 0o777); err != nil {
		t.Fatal(err)
	}
	conf := `NFS_CORE_PARAM { NFS_Port = 2049; MNT_Port = 20048; NLM_Port = 32803; Enable_RQUOTA = false; Protocols = 3, 4; Mount_Path_Pseudo = true; }
NFSV4 { Grace_Period = 5; Lease_Lifetime = 5; Graceless = true; }
EXPORT { Export_Id = 1; Path = ` + exp + `; Pseudo = /vol; Access_Type = RW; Squash = No_Root_Squash; SecType = sys; FSAL { Name = VFS; } Protocols = 3, 4; Transports = TCP; }
LOG { Default_Log_Level = WARN; }
`
	cf := filepath.Join(dir, "ganesha.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	startProc(t, nsCommand(ctx, ns, "rpcbind", "-f", "-w"))
	waitTCP(t, ns, "127.0.0.1:111", 5*time.Second)
	g := startProc(t, nsCommand(ctx, ns, "ganesha.nfsd", "-F", "-f", cf, "-L", filepath.Join(dir, "ganesha.log"), "-p", filepath.Join(dir, "pid")))
	waitTCP(t, ns, "127.0.0.1:2049", 20*time.Second)
	m := guestMachine(t)
	res, err := m.Run(ctx, vmJob(t, guestScript(t, "kernel-nfs3.sh", map[string]string{"NFILES": "300", "BIG_MB": "64"}), ns, 111, 2049, 20048, 32803))
	if err != nil {
		t.Fatalf("%v\n%s\nganesha:\n%s", err, res.Output, g.log())
	}
	if res.Status != 0 {
		t.Fatalf("guest script failed (%d):\n%s", res.Status, res.Output)
	}
	t.Logf("guest run %v\n%s", res.Elapsed, res.Output)
}
