//go:build integration

package integration

import (
	"testing"
	"time"

	"github.com/weftfs/weft/integration/vm"
)

func vmJob(t testing.TB, script, ns string, ports ...int) vm.Job {
	return vm.Job{Script: script, NetNS: ns, Relay: bins.relay, Forwards: forwards(ports...), Timeout: 15 * time.Minute, Dir: t.TempDir()}
}
