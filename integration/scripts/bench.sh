#!/usr/bin/env bash
# The benchmarks the issues ask for, each reporting ratios against a baseline measured in the
# same run (graph vs direct syscalls, epoll vs net.Conn, wire vs direct posix, cluster vs one
# leaf). Absolute figures move with the machine's load; read the ratios.
set -euo pipefail
run() { echo "== $*"; go test -run '^$' "$@"; }
run -bench 'Overhead' -benchtime 300x -count 3 ./bricks/posix/
run -bench 'Echo' -benchtime 3000x ./graph/rpc/
# The brick wire table: 4 KiB and 1 MiB write and read, and stat, at 1/16/256 callers over
# 1/64/1024 connections, epoll and net.Conn alternating in the same run (median of
# WEFT_BENCH_ROUNDS rounds of WEFT_BENCH_SECS each), then 1 MiB writes against direct posix and
# a plain-TCP reference, 1 MiB O_DSYNC writes direct, through both wires and to a real
# `weft brick` process, and 1 MiB writes streamed over spans larger than the CPU caches next to
# the loopback TCP ceiling. Three to four minutes on 2 cores.
echo "== brick wire table"
WEFT_BENCH_TABLE=1 WEFT_BENCH_SECS=${WEFT_BENCH_SECS:-0.1} WEFT_BENCH_ROUNDS=${WEFT_BENCH_ROUNDS:-3} \
	go test -count=1 -timeout 20m -run '^TestWireBenchTable$' -v ./bricks/server/ | grep -v '^=== RUN' | sed -e 's/^        //' -e 's/^    bench_test.go:[0-9]*: *$//'
run -bench 'Gateway' -benchtime 1s ./gateway/server/
run -bench . -benchtime 300x -count 3 ./graph/xlators/cluster/clustertest/
