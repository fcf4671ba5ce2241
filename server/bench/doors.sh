# Sourced by the bench scripts and deploy/pgo/train.sh (run from the
# repository root): starting a gateway (start_gateway), gRPC framing
# (grpc_frame) and the bench question through each front door, driven by
# h2load.
#
#   http  ../shared/bench/bodies/chat.json over C keep-alive HTTP/1.1
#         connections (as oha runs it in ../shared/bench);
#   h2    the same JSON over one h2c connection with C concurrent streams;
#   grpc  ChatService/Complete with the same question, over one h2c
#         connection with C concurrent streams (as gRPC clients multiplex);
#   stream ../shared/bench/bodies/chat-stream.json over C keep-alive
#         HTTP/1.1 connections: a streamed answer, ten SSE events.

command -v h2load >/dev/null || { echo "h2load missing: apt-get install nghttp2-client" >&2; exit 2; }
json_body=../shared/bench/bodies/chat.json
stream_body=../shared/bench/bodies/chat-stream.json
buf=$(command -v buf || echo "$PWD/target/ci-tools/node_modules/.bin/buf")
# require_bench BIN: the gateway binary BIN is built and the nginx mock
# upstream (../shared/bench/upstream.sh start) answers.
require_bench() {
  [[ -x $1 ]] || { echo "$1 is not built: deploy/build-release.sh builds the PGO binary (cargo build --release -p switchboard a plain one)" >&2; exit 2; }
  curl -sf -o /dev/null http://127.0.0.1:18080/health \
    || { echo "start the mock upstream: ../shared/bench/upstream.sh start" >&2; exit 2; }
}

# cpu_ticks PID: the user + system CPU time PID has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

grpc_url() { echo "http://127.0.0.1:$port/switchboard.v1.ChatService/Complete"; }
grpc_headers=(-H 'content-type: application/grpc' -H 'te: trailers')

# grpc_frame FILE TYPE JSON: writes JSON as the switchboard.v1 message TYPE
# in gRPC framing (a zero flag byte, the length in four big-endian bytes,
# the message). Needs buf.
grpc_frame() {
  [[ -x $buf ]] || { echo "buf missing: run .ci/test once, or put buf on PATH" >&2; return 2; }
  local message n header
  message=$(mktemp)
  (cd proto && "$buf" convert . --type "switchboard.v1.$2" --from -#format=json --to -#format=binpb <<<"$3") >"$message"
  n=$(stat -c %s "$message")
  header=$(printf '\\x00\\x%02x\\x%02x\\x%02x\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)))
  { printf "$header"; cat "$message"; } >"$1"
  rm -f "$message"
}

# grpc_request FILE: the bench question as a framed ChatRequest.
grpc_request() {
  grpc_frame "$1" ChatRequest '{"model":"bench-model","messages":[{"role":"ROLE_SYSTEM","text":"You are a helpful assistant. Answer concisely."},{"role":"ROLE_USER","text":"What is the capital of France? Answer in two sentences."}],"max_tokens":64,"temperature":0.2}'
}

# drive DOOR CONC GRPC_REQUEST_FILE H2LOAD_LIMIT...: one h2load run through
# DOOR, bounded by the remaining h2load arguments (-D seconds or -n requests).
drive() {
  local door=$1 conc=$2 grpc_file=$3
  shift 3
  case $door in
    http) h2load --h1 -c "$conc" -m 1 -t 1 "$@" -d "$json_body" -H 'content-type: application/json' \
            "http://127.0.0.1:$port/v1/chat/completions" ;;
    stream) h2load --h1 -c "$conc" -m 1 -t 1 "$@" -d "$stream_body" -H 'content-type: application/json' \
              "http://127.0.0.1:$port/v1/chat/completions" ;;
    h2) h2load -c 1 -m "$conc" -t 1 "$@" -d "$json_body" -H 'content-type: application/json' \
          "http://127.0.0.1:$port/v1/chat/completions" ;;
    grpc) h2load -c 1 -m "$conc" -t 1 "$@" -d "$grpc_file" "${grpc_headers[@]}" "$(grpc_url)" ;;
    *) echo "unknown door $door (http, h2, grpc or stream)" >&2; return 2 ;;
  esac
}

# grpc_answer_bytes FILE [URL]: sends the gRPC request in FILE once (to
# URL, default ChatService/Complete) and prints the size of its answer's
# DATA, after checking the call succeeded.
grpc_answer_bytes() {
  local headers
  headers=$(mktemp)
  local size
  size=$(curl -sf --http2-prior-knowledge --data-binary @"$1" "${grpc_headers[@]}" -D "$headers" \
    "${2:-$(grpc_url)}" | wc -c)
  grep -qi '^grpc-status: 0' "$headers" || { echo "a single gRPC call failed:" >&2; cat "$headers" >&2; rm -f "$headers"; return 1; }
  rm -f "$headers"
  echo "$size"
}

# data_bytes H2LOAD_OUTPUT: the DATA bytes h2load received, from its line
# "traffic: 380.96KB (390107) total, 2.96KB (3035) headers (...), 350.59KB (359000) data".
# A failed gRPC call is a trailers-only answer with no DATA.
data_bytes() { sed -n 's/^traffic:.*(\([0-9]*\)) data$/\1/p' <<<"$1"; }

# grpc_whole_answers H2LOAD_OUTPUT ANSWER_BYTES: how many whole gRPC answers
# the DATA bytes hold; fails (printing nothing) if they are not whole answers.
grpc_whole_answers() {
  local data
  data=$(data_bytes "$1")
  (( data % $2 == 0 )) || return 1
  echo $(( data / $2 ))
}

# await_line LOG PATTERN PID [TRIES]: waits (TRIES tenths of a second,
# default 50) for PATTERN in LOG, written by process PID, and prints the
# match; fails, showing LOG, if PID exits first or time runs out.
await_line() {
  for _ in $(seq "${4:-50}"); do
    grep -Eo "$2" "$1" && return 0
    kill -0 "$3" 2>/dev/null || break
    sleep 0.1
  done
  echo "no '$2' from process $3; its log:" >&2
  cat "$1" >&2
  return 1
}

# start_gateway LOG [TRIES] -- COMMAND...: starts COMMAND, a gateway told
# to listen on 127.0.0.1:0, in the background with its stderr in LOG; sets
# gw to its PID and port to the port it bound, read from its info-level
# "switchboard listening … addr=" line (so not with RUST_LOG=warn; TRIES as
# in await_line, under valgrind it needs many). A fixed port could be
# answered by a gateway left over from an earlier run.
start_gateway() {
  local log=$1 tries=50
  [[ $2 != -- ]] && tries=$2 && shift
  shift 2
  "$@" >/dev/null 2>"$log" &
  gw=$!
  port=$(await_line "$log" 'switchboard listening.*addr=127\.0\.0\.1:[0-9]+' "$gw" "$tries" | grep -Eo '[0-9]+$')
}
