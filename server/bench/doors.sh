# Sourced by the bench scripts (run from the repository root, with $port
# set): the bench question through each front door, driven by h2load.
#
#   http  ../shared/bench/bodies/chat.json over C keep-alive HTTP/1.1
#         connections (as oha runs it in ../shared/bench);
#   h2    the same JSON over one h2c connection with C concurrent streams;
#   grpc  ChatService/Complete with the same question, over one h2c
#         connection with C concurrent streams (as gRPC clients multiplex).

json_body=../shared/bench/bodies/chat.json
grpc_url() { echo "http://127.0.0.1:$port/switchboard.v1.ChatService/Complete"; }
grpc_headers=(-H 'content-type: application/grpc' -H 'te: trailers')

# grpc_request FILE: writes the bench question as a ChatRequest in gRPC
# framing (flag byte, big-endian length, message). Needs buf.
grpc_request() {
  local buf message
  buf=$(command -v buf || echo "$PWD/target/ci-tools/node_modules/.bin/buf")
  [[ -x $buf ]] || { echo "buf missing: run .ci/test once, or put buf on PATH" >&2; return 2; }
  message=$(mktemp)
  (cd proto && "$buf" convert . --type switchboard.v1.ChatRequest --from -#format=json --to -#format=binpb \
    <<<'{"model":"bench-model","messages":[{"role":"ROLE_SYSTEM","text":"You are a helpful assistant. Answer concisely."},{"role":"ROLE_USER","text":"What is the capital of France? Answer in two sentences."}],"max_tokens":64,"temperature":0.2}') >"$message"
  { printf '\x00'; printf "%08x" "$(stat -c %s "$message")" | xxd -r -p; cat "$message"; } >"$1"
  rm -f "$message"
}

# drive DOOR CONC GRPC_REQUEST_FILE H2LOAD_LIMIT...: one h2load run through
# DOOR, bounded by the remaining h2load arguments (-D seconds or -n requests).
drive() {
  local door=$1 conc=$2 grpc_file=$3
  shift 3
  case $door in
    http) h2load --h1 -c "$conc" -m 1 -t 1 "$@" -d "$json_body" -H 'content-type: application/json' \
            "http://127.0.0.1:$port/v1/chat/completions" ;;
    h2) h2load -c 1 -m "$conc" -t 1 "$@" -d "$json_body" -H 'content-type: application/json' \
          "http://127.0.0.1:$port/v1/chat/completions" ;;
    grpc) h2load -c 1 -m "$conc" -t 1 "$@" -d "$grpc_file" "${grpc_headers[@]}" "$(grpc_url)" ;;
    *) echo "unknown door $door (http, h2 or grpc)" >&2; return 2 ;;
  esac
}

# wait_ready: until the gateway on $port answers its readiness probe
# (TRIES tenths of a second; a gateway under valgrind needs many).
wait_ready() {
  for _ in $(seq "${1:-50}"); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/health/readiness" && return 0
    sleep 0.1
  done
  echo "the gateway on port $port did not become ready" >&2
  return 1
}
