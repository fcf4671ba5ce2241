#!/usr/bin/env bash
# gRPC rows of the overhead benchmark (../shared/bench covers HTTP only).
#
#   server/bench/grpc-bench.sh [CONCS] [REQUESTS]     e.g. server/bench/grpc-bench.sh "1 16 64" 150000
#
# Starts the release gateway with deploy/examples/bench.yaml on 127.0.0.1:4100
# (the nginx mock upstream from ../shared/bench must be running: upstream.sh start),
# then for each concurrency runs ghz (ChatService/Complete, one HTTP/2 connection,
# as gRPC clients do) for a fixed number of requests (c=1 runs a fifth of them;
# ghz's duration mode counts the calls it cuts off at the deadline as errors)
# and prints one Markdown row: rps, p50/p99, and the gateway's CPU per request
# read from /proc before and after the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
concs="${1:-1 16 64}"
requests="${2:-150000}"
port=4100
bin=target/release/switchboard
command -v ghz >/dev/null || { echo "ghz missing: go install github.com/bojand/ghz/cmd/ghz@latest" >&2; exit 2; }
[[ -x $bin ]] || { echo "build first: cargo build --release -p switchboard" >&2; exit 2; }
curl -sf -o /dev/null http://127.0.0.1:18080/health || { echo "start the mock upstream: ../shared/bench/upstream.sh start" >&2; exit 2; }

$bin serve --config deploy/examples/bench.yaml --listen 127.0.0.1:$port 2>/dev/null &
gw=$!
trap 'kill -TERM $gw 2>/dev/null; wait $gw 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:$port/health/readiness && break; sleep 0.1; done

data='{"model":"bench-model","messages":[{"role":"ROLE_SYSTEM","text":"You are a helpful assistant. Answer concisely."},{"role":"ROLE_USER","text":"What is the capital of France? Answer in two sentences."}],"max_tokens":64,"temperature":0.2}'
cpu_ticks() { awk '{print $14 + $15}' /proc/$gw/stat; }
rss_kb() { awk '/VmHWM/ {print $2}' /proc/$gw/status; }
ghz_run() {
  ghz --insecure --call switchboard.v1.ChatService/Complete -d "$data" \
    --connections 1 -c "$1" -n "$2" --format json 127.0.0.1:$port
}

ghz_run 4 20000 >/dev/null  # warm-up: connections, reflection, allocator
hz=$(getconf CLK_TCK)
echo "| path | conc | rps | p50 ms | p99 ms | errors | gateway CPU ms/req | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
for c in $concs; do
  before=$(cpu_ticks)
  n=$requests; [[ $c -eq 1 ]] && n=$((requests / 5))
  out=$(ghz_run "$c" "$n")
  after=$(cpu_ticks)
  echo "$out" | jq -r --argjson c "$c" --argjson ticks "$((after - before))" --argjson hz "$hz" --argjson rss "$(rss_kb)" '
    (.statusCodeDistribution.OK // 0) as $ok
    | ([.latencyDistribution[] | select(.percentage == 50) | .latency][0] / 1e6) as $p50
    | ([.latencyDistribution[] | select(.percentage == 99) | .latency][0] / 1e6) as $p99
    | "| grpc Complete | \($c) | \(.rps | floor) | \($p50 * 100 | round / 100) | \($p99 * 100 | round / 100) | \(.count - $ok) | \(if $ok > 0 then ($ticks / $hz * 1000 / $ok * 1000 | round / 1000) else "n/a" end) | \($rss / 1024 | floor) |"'
done
