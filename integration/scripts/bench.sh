#!/usr/bin/env bash
# The benchmarks the issues ask for, each reporting ratios against a baseline measured in the
# same run (graph vs direct syscalls, epoll vs net.Conn, wire vs direct posix, cluster vs one
# leaf). Absolute figures move with the machine's load; read the ratios.
set -euo pipefail
run() { echo "== $*"; go test -run '^$' "$@"; }
run -bench 'Overhead' -benchtime 300x -count 3 ./bricks/posix/
run -bench 'Echo' -benchtime 3000x ./graph/rpc/
echo "== brick wire table"; WEFT_BENCH_TABLE=1 WEFT_BENCH_SECS=${WEFT_BENCH_SECS:-0.5} go test -run TestWireBenchTable -v ./bricks/server/ | grep -v '^=== RUN'
run -bench 'Gateway' -benchtime 1s ./gateway/server/
run -bench . -benchtime 300x ./graph/xlators/cluster/clustertest/
