package volgen

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/graph"
)

// DaemonOption is a volume option the daemon applies itself (to the gateway's export table or
// to which processes run) instead of placing it in a volfile: GlusterFS's server.* squash
// options and the gNFS nfs.* options (glusterd-volume-set.c).
type DaemonOption struct {
	Key         string
	Default     string
	Description string
	Check       func(string) error
}

func checkBool(v string) error {
	_, err := graph.ParseBool(v)
	return err
}

func checkID(v string) error {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n > 4294967294 {
		return fmt.Errorf("%q is not a uid/gid (0-4294967294)", v)
	}
	return nil
}

// ClientList splits a GlusterFS client list ("all", or comma-separated addresses, CIDRs,
// host names and wildcards). "all" and "*" become "*".
func ClientList(v string) []string {
	var out []string
	for _, c := range strings.Split(v, ",") {
		c = strings.TrimSpace(c)
		switch c {
		case "":
			continue
		case "all", "*":
			c = "*"
		}
		out = append(out, c)
	}
	return out
}

func checkClients(v string) error {
	cs := ClientList(v)
	if len(cs) == 0 {
		return fmt.Errorf("empty client list")
	}
	for _, c := range cs {
		if err := configs.ValidateClientMatch(c); err != nil {
			return err
		}
	}
	return nil
}

// DaemonOptions are the daemon's own volume options, with GlusterFS's defaults (gNFS: no root
// squash, every client allowed, privileged client ports required).
var DaemonOptions = map[string]DaemonOption{
	"server.root-squash": {Key: "server.root-squash", Default: "off", Check: checkBool,
		Description: "map uid/gid 0 of NFS clients to server.anonuid/anongid"},
	"server.all-squash": {Key: "server.all-squash", Default: "off", Check: checkBool,
		Description: "map every uid/gid of NFS clients to server.anonuid/anongid"},
	"server.anonuid": {Key: "server.anonuid", Default: "65534", Check: checkID, Description: "uid squashed clients get"},
	"server.anongid": {Key: "server.anongid", Default: "65534", Check: checkID, Description: "gid squashed clients get"},
	"nfs.rpc-auth-allow": {Key: "nfs.rpc-auth-allow", Default: "all", Check: checkClients,
		Description: "clients allowed to mount: all, or comma-separated addresses, CIDRs, host names, wildcards"},
	"nfs.rpc-auth-reject": {Key: "nfs.rpc-auth-reject", Default: "none", Check: checkReject,
		Description: "clients refused even when allowed: none, or comma-separated addresses and CIDRs (reject wins over allow)"},
	"nfs.ports-insecure": {Key: "nfs.ports-insecure", Default: "off", Check: checkBool,
		Description: "allow NFS clients from unprivileged source ports (>= 1024)"},
	"nfs.disable": {Key: "nfs.disable", Default: "off", Check: checkBool,
		Description: "do not serve this volume over NFS"},
	"cluster.heal-timeout": {Key: "cluster.heal-timeout", Default: "600", Check: func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > 86400 {
			return fmt.Errorf("%q: want seconds between 5 and 86400", v)
		}
		return nil
	}, Description: "seconds between the self-heal daemons' index sweeps (they also sweep when a brick comes back)"},
}

// HealInterval returns cluster.heal-timeout of v.
func HealInterval(v *Volume) time.Duration {
	n, err := strconv.Atoi(DaemonOptionValue(v, "cluster.heal-timeout"))
	if err != nil || n < 5 {
		n = 600
	}
	return time.Duration(n) * time.Second
}

// IsDaemonOption reports whether key is one of DaemonOptions.
func IsDaemonOption(key string) bool {
	_, ok := DaemonOptions[key]
	return ok
}

// DaemonOptionValue returns the value of a daemon option of v (its default when unset).
func DaemonOptionValue(v *Volume, key string) string {
	if x, ok := v.Options[key]; ok {
		return x
	}
	return DaemonOptions[key].Default
}

func daemonBool(v *Volume, key string) bool {
	b, _ := graph.ParseBool(DaemonOptionValue(v, key))
	return b
}

// NFSDisabled reports whether nfs.disable is on for v.
func NFSDisabled(v *Volume) bool { return daemonBool(v, "nfs.disable") }

// Exports returns the gateway export table of v from its daemon options.
func Exports(v *Volume) *configs.ExportsConfig {
	squash := configs.SquashNoRoot
	switch {
	case daemonBool(v, "server.all-squash"):
		squash = configs.SquashAll
	case daemonBool(v, "server.root-squash"):
		squash = configs.SquashRoot
	}
	uid, _ := strconv.ParseUint(DaemonOptionValue(v, "server.anonuid"), 10, 32)
	gid, _ := strconv.ParseUint(DaemonOptionValue(v, "server.anongid"), 10, 32)
	u, g := uint32(uid), uint32(gid)
	secure := !daemonBool(v, "nfs.ports-insecure")
	e := configs.Export{Path: "/" + v.Name, Volume: v.Name, Access: configs.AccessRW, Squash: squash,
		AnonUID: &u, AnonGID: &g, Secure: &secure}
	for _, c := range allowedClients(DaemonOptionValue(v, "nfs.rpc-auth-allow"), DaemonOptionValue(v, "nfs.rpc-auth-reject")) {
		e.Clients = append(e.Clients, configs.ClientRule{Match: c})
	}
	return &configs.ExportsConfig{Exports: []configs.Export{e}}
}
