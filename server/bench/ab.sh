#!/usr/bin/env bash
# A/B two gateway binaries at saturation: each serves deploy/examples/bench.yaml
# in turn (A, B, A, B, ...), h2load drives it for SECONDS after a 2 s warm-up,
# and the gateway's own CPU time (utime + stime from /proc) is divided by the
# requests served. On a noisy box, only alternating runs of the two binaries
# compare; a single pair says little.
#
#   server/bench/ab.sh OLD_BIN NEW_BIN [ROUNDS=3] [CONC=16] [SECONDS=6]
#
# Needs ../shared/bench/upstream.sh running (nginx playing OpenAI) and h2load
# (Debian nghttp2-client). Build the old binary from a worktree, e.g.
#   git worktree add /tmp/base HEAD~1 && (cd /tmp/base && CARGO_TARGET_DIR=/tmp/base-target cargo build --release -p switchboard)
set -euo pipefail
cd "$(dirname "$0")/../.."
a=$1 b=$2 rounds=${3:-3} conc=${4:-16} secs=${5:-6}
tick_ms=$((1000 / $(getconf CLK_TCK)))
source server/bench/doors.sh
require_bench "$a"
require_bench "$b"

log=$(mktemp)
gw=
trap '[[ -n $gw ]] && kill "$gw" 2>/dev/null; rm -f "$log"' EXIT

load() { drive http "$conc" "" -D "$1" 2>&1; }  # SECONDS

run() { # BINARY LABEL
  start_gateway "$log" -- "$1" serve --config deploy/examples/bench.yaml --listen 127.0.0.1:0
  load 2 >/dev/null
  local t0 out t1
  t0=$(cpu_ticks "$gw")
  out=$(load "$secs")
  t1=$(cpu_ticks "$gw")
  kill "$gw"; wait "$gw" 2>/dev/null || true; gw=
  local served rps
  served=$(awk '/^requests:/ {print $8}' <<<"$out")
  rps=$(awk '/^finished in/ {print int($4)}' <<<"$out")
  awk -v t=$((t1 - t0)) -v ms="$tick_ms" -v n="$served" -v r="$rps" -v name="$2" \
    'BEGIN {printf "%s rps=%d cpu_ms_per_req=%.4f\n", name, r, t * ms / n}'
}

for _ in $(seq "$rounds"); do run "$a" A; run "$b" B; done
