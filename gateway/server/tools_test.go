package server_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/gateway/nfstest"
	"github.com/weftfs/weft/gateway/server"
)

// netns is a named network namespace (ip netns) for running the gateway on the well-known
// portmap port 111 and the system's tools against it.
type netns struct{ name string }

func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) not installed")
	}
	n := &netns{name: fmt.Sprintf("weftgw-test-%d", os.Getpid())}
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.name).Run() })
	if out, err := exec.Command("ip", "netns", "exec", n.name, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	return n
}

// do runs f with the calling OS thread inside the namespace: the sockets f creates (the
// gateway's listeners) belong to it for good, while the rest of the test process stays outside.
func (n *netns) do(t *testing.T, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + n.name)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("setns: %v", err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			panic(fmt.Sprintf("setns back to the original namespace: %v", err)) // the thread is unusable
		}
	}()
	f()
}

// run runs a command inside the namespace and returns its combined output.
func (n *netns) run(t *testing.T, wantOK bool, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name}, args...)...).CombinedOutput()
	if wantOK && err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	if !wantOK && err == nil {
		t.Fatalf("%v succeeded:\n%s", args, out)
	}
	return string(out)
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, b := range tools {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed (the Makefile installs rpcbind, nfs-common and libnfs-utils): %v", b, err)
		}
	}
}

// TestSystemTools runs Debian's rpcinfo, showmount and libnfs-utils against a gateway that
// embeds the port mapper on port 111 in a network namespace of its own. What they send (found
// with strace): rpcinfo -p talks portmap v2 over UDP and TCP (GETPORT, DUMP); rpcinfo without
// -p, -l and showmount use rpcbind v4/v3 (DUMP, GETADDR, GETADDRLIST) over TCP and portmap v2
// GETPORT over UDP, then MOUNT EXPORT/DUMP.
func TestSystemTools(t *testing.T) {
	needTools(t, "rpcinfo", "showmount", "nfs-ls", "nfs-cat")
	ns := newNetns(t)
	f := false
	exps := &configs.ExportsConfig{Exports: []configs.Export{{Path: "/gv0", Squash: configs.SquashNoRoot, Secure: &f,
		Clients: []configs.ClientRule{{Match: "127.0.0.0/8"}, {Match: "*.example.com", Access: "ro"}}}}}
	var env *nfstest.Env
	ns.do(t, func() {
		var err error
		env, err = nfstest.StartPosixErr(context.Background(), t.TempDir(), &nfstest.Options{Portmap: true, Exports: exps,
			Config: func(c *server.Config) { c.PortmapPort = 111 }})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(env.Stop)
	if a := env.Gateway.PortmapAddr(); a == nil || !strings.HasSuffix(a.String(), ":111") {
		t.Fatalf("port mapper at %v, want port 111", a)
	}
	nfsPort := portOf(env.NFS)
	mountPort := portOf(env.Mount)

	// rpcinfo -p: portmap v2 DUMP.
	out := ns.run(t, true, "rpcinfo", "-p", "127.0.0.1")
	for _, want := range []string{
		`100000\s+2\s+tcp\s+111\s+portmapper`, `100000\s+2\s+udp\s+111\s+portmapper`,
		`100003\s+3\s+tcp\s+` + nfsPort + `\s+nfs`,
		`100005\s+1\s+tcp\s+` + mountPort + `\s+mountd`, `100005\s+3\s+tcp\s+` + mountPort + `\s+mountd`,
		`100005\s+1\s+udp\s+` + mountPort + `\s+mountd`, `100005\s+3\s+udp\s+` + mountPort + `\s+mountd`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("rpcinfo -p: no line matching %q in\n%s", want, out)
		}
	}
	// rpcinfo: rpcbind v4 DUMP with netids and universal addresses.
	out = ns.run(t, true, "rpcinfo", "127.0.0.1")
	hi, lo := portBytes(nfsPort)
	if !regexp.MustCompile(fmt.Sprintf(`100003\s+3\s+tcp\s+127\.0\.0\.1\.%d\.%d\s+nfs\s+weft`, hi, lo)).MatchString(out) {
		t.Errorf("rpcinfo (rpcbind v4 DUMP): no NFS entry in\n%s", out)
	}
	// rpcinfo -l: rpcbind v4 GETADDRLIST.
	out = ns.run(t, true, "rpcinfo", "-l", "127.0.0.1", "100005", "3")
	if !strings.Contains(out, "inet/udp/clts") || !strings.Contains(out, "inet/tcp/cots_ord") {
		t.Errorf("rpcinfo -l: %s", out)
	}
	// Pings through rpcbind GETADDR: MOUNT over UDP and TCP, NFS v3 over TCP; v4 is a version
	// mismatch reporting the range 3..3.
	for _, args := range [][]string{{"-T", "udp", "127.0.0.1", "100005", "3"}, {"-t", "127.0.0.1", "100005", "1"}, {"-t", "127.0.0.1", "nfs", "3"}} {
		if out := ns.run(t, true, append([]string{"rpcinfo"}, args...)...); !strings.Contains(out, "ready and waiting") {
			t.Errorf("rpcinfo %v: %s", args, out)
		}
	}
	if out := ns.run(t, false, "rpcinfo", "-t", "127.0.0.1", "nfs", "4"); !strings.Contains(out, "low version = 3, high version = 3") {
		t.Errorf("rpcinfo -t nfs 4: %s", out)
	}

	// showmount -e: MOUNT EXPORT with the client patterns as groups.
	out = ns.run(t, true, "showmount", "-e", "127.0.0.1")
	if !regexp.MustCompile(`(?m)^/gv0\s+127\.0\.0\.0/8,\*\.example\.com$`).MatchString(out) {
		t.Errorf("showmount -e:\n%s", out)
	}
	// libnfs finds MOUNT and NFS through the port mapper (no ports in the URL), and a mount
	// shows up in showmount -a (MOUNT DUMP).
	ns.run(t, true, "nfs-ls", "nfs://127.0.0.1/gv0")
	if out := ns.run(t, true, "nfs-ls", "-D", "nfs://127.0.0.1"); strings.TrimSpace(out) != "nfs://127.0.0.1/gv0" {
		t.Errorf("nfs-ls -D (export discovery): %q", out)
	}
	ns.do(t, func() { env.Client(t, "/gv0") }) // dialled from inside the namespace
	out = ns.run(t, true, "showmount", "--no-headers", "-a", "127.0.0.1")
	if !strings.Contains(out, "127.0.0.1:/gv0") {
		t.Errorf("showmount -a:\n%s", out)
	}
}

func portOf(hostport string) string {
	i := strings.LastIndexByte(hostport, ':')
	return hostport[i+1:]
}

func portBytes(p string) (int, int) {
	var n int
	fmt.Sscan(p, &n)
	return n >> 8, n & 0xff
}
