package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// glusterfsdServing returns the pids of GlusterFS brick processes (glusterfsd) on this node
// that serve directory path. Two servers over one brick would each trust its own view of the
// locks, the changelogs and the files, so a brick GlusterFS still serves is never taken —
// which happens when glusterd is stopped and its bricks are not (stopping the glusterd service
// leaves glusterfsd running). glusterfsd names its brick on its command line
// (--brick-name PATH, glusterd-utils.c glusterd_volume_start_glusterfs). procDir is /proc.
func glusterfsdServing(procDir, path string) []int {
	want := map[string]bool{filepath.Clean(path): true}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		want[real] = true
	}
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procDir, e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
		if filepath.Base(args[0]) != "glusterfsd" {
			continue
		}
		for i, a := range args[1:] {
			var brick string
			switch {
			case a == "--brick-name" && i+2 < len(args):
				brick = args[i+2]
			case strings.HasPrefix(a, "--brick-name="):
				brick = strings.TrimPrefix(a, "--brick-name=")
			default:
				continue
			}
			if want[filepath.Clean(brick)] {
				pids = append(pids, pid)
				break
			}
		}
	}
	sort.Ints(pids)
	return pids
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
