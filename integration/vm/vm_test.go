//go:build integration

package vm

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestGuestBootsWithNFSClient boots the guest and checks that the NFS client modules are loaded
// and the host's tools are usable: the foundation every kernel-client test stands on.
func TestGuestBootsWithNFSClient(t *testing.T) {
	m, err := Prepare(DefaultCacheDir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run(context.Background(), Job{
		Script:  "set -e\nuname -r\ngrep -w nfs /proc/filesystems\ngrep -w nfs4 /proc/filesystems\ncommand -v mount.nfs sha256sum dd flock\necho guest-ok > /job/marker\n",
		Timeout: 3 * time.Minute,
		Dir:     t.TempDir(),
	})
	if err != nil {
		t.Fatalf("%v\noutput:\n%s", err, res.Output)
	}
	if res.Status != 0 {
		t.Fatalf("job exit %d\noutput:\n%s\nconsole:\n%s", res.Status, res.Output, tail(res.Console, 30))
	}
	if !strings.Contains(res.Output, m.Kernel.Version) {
		t.Errorf("guest kernel is not %s: %s", m.Kernel.Version, res.Output)
	}
	b, err := os.ReadFile(res.JobDir + "/marker")
	if err != nil || strings.TrimSpace(string(b)) != "guest-ok" {
		t.Errorf("job share not writable from the guest: %v %q", err, b)
	}
	t.Logf("guest run took %v", res.Elapsed)
}
