#!/usr/bin/env bash
# Instructions the gateway executes per request, counted by valgrind's
# callgrind. The count repeats to within a fraction of a percent whatever
# else this noisy 2-core box is doing, so it compares two builds where timed
# runs need many alternating rounds. It says nothing about syscalls, cache
# misses or waiting: ab.sh and grpc-bench.sh measure those.
#
#   server/bench/instructions.sh ["DOOR ..."="http h2 grpc"] [CONC=16] [REQUESTS=4000]
#
# Doors as in server/bench/doors.sh. Needs valgrind, h2load, buf (for grpc)
# and the nginx mock upstream (../shared/bench/upstream.sh start). Runs
# SWITCHBOARD_BIN (default target/pgo/release/switchboard, from
# deploy/build-release.sh) under callgrind,
# counts only the REQUESTS after a 500-request warm-up, and keeps each
# profile in $OUT (default target/instructions) for
#   callgrind_annotate --inclusive=yes target/instructions/http.out
set -euo pipefail
cd "$(dirname "$0")/../.."
doors=${1:-http h2 grpc}
conc=${2:-16}
requests=${3:-4000}
bin=${SWITCHBOARD_BIN:-target/pgo/release/switchboard}
out=${OUT:-target/instructions}
command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install valgrind" >&2; exit 2; }
source server/bench/doors.sh
require_bench "$bin"
mkdir -p "$out"
grpc_file="$out/request.grpc"
[[ " $doors " == *" grpc "* ]] && grpc_request "$grpc_file"

gw=
trap '[[ -n $gw ]] && kill $gw 2>/dev/null; wait 2>/dev/null || true' EXIT
echo "| door | conc | instructions per request |"
echo "|---|---:|---:|"
for door in $doors; do
  rm -f "$out/$door.run"*
  # Counting starts switched off: startup and warm-up are not requests.
  start_gateway "$out/$door.log" 300 -- valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/$door.run" \
    "$bin" serve --config deploy/examples/bench.yaml --listen 127.0.0.1:0
  [[ $door == grpc ]] && answer=$(grpc_answer_bytes "$grpc_file")
  drive "$door" "$conc" "$grpc_file" -n 500 >/dev/null
  callgrind_control -i on $gw >/dev/null 2>&1
  result=$(drive "$door" "$conc" "$grpc_file" -n "$requests")
  callgrind_control -i off $gw >/dev/null 2>&1
  callgrind_control -d $gw >/dev/null 2>&1  # writes $door.run.1: the counted part
  kill $gw; wait $gw 2>/dev/null || true; gw=
  ok=$(awk '/^status codes:/ {print $3}' <<<"$result")
  if [[ $door == grpc ]]; then
    # A failed call is a 200 with no DATA (trailers only): count whole answers.
    ok=$(grpc_whole_answers "$result" "$answer") || ok=0
  fi
  [[ $ok == "$requests" ]] || { echo "$door: only $ok of $requests requests succeeded" >&2; exit 1; }
  mv "$out/$door.run.1" "$out/$door.out"; rm -f "$out/$door.run"*
  total=$(awk '/^totals:/ {print $2}' "$out/$door.out")
  echo "| $door | $conc | $(( total / requests )) |"
done
