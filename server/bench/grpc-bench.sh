#!/usr/bin/env bash
# gRPC rows of the overhead benchmark (../shared/bench covers HTTP only): the
# same question through each door of server/bench/doors.sh, back to back,
# with one load generator for all doors so the comparison is the gateway's.
#
#   server/bench/grpc-bench.sh [CONCS] [SECONDS]     e.g. server/bench/grpc-bench.sh "1 16 64" 10
#
# Needs h2load (Debian nghttp2-client), buf (`.ci/test` installs it into
# target/ci-tools) and the nginx mock upstream from ../shared/bench
# (upstream.sh start). Starts the release gateway with
# deploy/examples/bench.yaml on a free port of 127.0.0.1. For each
# concurrency C, the doors of server/bench/doors.sh: http (C HTTP/1.1
# connections), h2 (the same JSON over one h2c connection with C streams:
# the HTTP/2 transport without gRPC) and grpc (one h2c connection with C
# streams). DOORS="http grpc" picks a subset.
# ghz, the usual gRPC load generator, is written in Go and needs far more CPU
# per call than the gateway; on a 2-core box it measures itself.
#
# Every gRPC call must succeed: an error is a trailers-only response with no
# DATA, so the DATA bytes h2load received must equal the calls it counted
# times the size of one good answer (taken with curl first).
set -euo pipefail
cd "$(dirname "$0")/../.."
concs="${1:-1 16 64}"
seconds="${2:-10}"
doors=${DOORS:-http h2 grpc}
bin=${SWITCHBOARD_BIN:-target/pgo/release/switchboard}  # deploy/build-release.sh; another build: SWITCHBOARD_BIN=/tmp/old
source server/bench/doors.sh
require_bench "$bin"
work=$(mktemp -d)
gw=
trap '[[ -n $gw ]] && kill -TERM $gw 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"' EXIT
grpc=false
[[ " $doors " == *" grpc "* ]] && grpc=true
$grpc && grpc_request "$work/request.grpc"
start_gateway "$work/gateway.log" -- "$bin" serve --config deploy/examples/bench.yaml --listen 127.0.0.1:0
good_answer=
$grpc && good_answer=$(grpc_answer_bytes "$work/request.grpc")

load() { drive "$1" "$2" "$work/request.grpc" -D "$3"; }  # DOOR CONC SECONDS
rss_kb() { awk '/VmHWM/ {print $2}' /proc/$gw/status; }
hz=$(getconf CLK_TCK)

for door in $doors; do load $door 4 3 >/dev/null; done  # warm-up: connections, allocator
echo "| door | conc | rps | mean ms | failed | gateway CPU ms/req | peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for c in $concs; do
  for door in $doors; do
    before=$(cpu_ticks $gw)
    out=$(load $door "$c" "$seconds")
    after=$(cpu_ticks $gw)
    rps=$(awk '/^finished in/ {print int($4)}' <<<"$out")
    done_n=$(awk '/^requests:/ {print $8}' <<<"$out")
    failed=$(awk '/^requests:/ {print $12 + $14 + $16}' <<<"$out")
    non2xx=$(awk '/^status codes:/ {print $5 + $7 + $9}' <<<"$out")
    mean=$(awk '/^time for request:/ {print $6}' <<<"$out")
    if [[ $door == grpc ]]; then
      ok=$(grpc_whole_answers "$out" "$good_answer") \
        || { echo "gRPC DATA bytes ($(data_bytes "$out")) are not whole answers of $good_answer bytes" >&2; exit 1; }
      # Streams still open at the deadline can deliver whole answers h2load
      # does not count as done; they are not failures.
      (( ok > done_n )) && ok=$done_n
      failed=$(( failed + done_n - ok ))
    fi
    failed=$(( failed + non2xx ))
    cpu=$(awk -v t="$((after - before))" -v hz="$hz" -v n="$done_n" 'BEGIN {printf "%.3f", t / hz * 1000 / n}')
    echo "| $door | $c | $rps | $mean | $failed | $cpu | $(( $(rss_kb) / 1024 )) |"
  done
done
