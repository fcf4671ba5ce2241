#!/usr/bin/env bash
# The training run of the profile-guided release build (deploy/build-release.sh):
# drives a gateway binary through every front door and every provider adapter
# with recorded provider payloads, then stops it with SIGTERM so an
# instrumented binary writes its profile.
#
#   deploy/pgo/train.sh GATEWAY_BIN REPLAY_BIN [REQUESTS=2000]
#   deploy/pgo/train.sh --check      # only checks that the tools are there
#
# REPLAY_BIN is conformance's switchboard-replay; the deployments are in
# deploy/pgo/train.yaml. Each workload sends REQUESTS requests over 4
# connections (gRPC: 4 streams on one connection); the run fails if any
# request does not succeed, because a profile of error paths would optimise
# the wrong code. Needs h2load (Debian nghttp2-client), curl and buf (on PATH,
# or in target/ci-tools as .ci/test installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
buf=$(command -v buf || echo "$PWD/target/ci-tools/node_modules/.bin/buf")
command -v h2load >/dev/null || { echo "train.sh needs h2load: apt-get install nghttp2-client" >&2; exit 2; }
command -v curl >/dev/null || { echo "train.sh needs curl" >&2; exit 2; }
[[ -x $buf ]] || { echo "train.sh needs buf: run .ci/test once, or put buf on PATH" >&2; exit 2; }
[[ ${1:-} == --check ]] && exit 0
gateway_bin=$1 replay_bin=$2 requests=${3:-2000}

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# started LOG PATTERN: waits (10 s at most) for PATTERN in LOG; prints the match.
started() {
  for _ in $(seq 100); do
    grep -Eo "$2" "$1" && return 0
    sleep 0.1
  done
  echo "not started; its log:" >&2
  cat "$1" >&2
  return 1
}

"$replay_bin" >"$work/replay.log" 2>&1 &
pids+=($!)
replay=$(started "$work/replay.log" 'http://127\.0\.0\.1:[0-9]+')
sed "s|{{replay}}|$replay|g" deploy/pgo/train.yaml >"$work/train.yaml"
"$gateway_bin" serve --config "$work/train.yaml" --listen 127.0.0.1:0 2>"$work/gateway.log" &
gateway_pid=$!
pids+=("$gateway_pid")
gateway=http://$(started "$work/gateway.log" 'addr=127\.0\.0\.1:[0-9]+' | cut -d= -f2)

chat_body() { # MODEL [stream]
  local stream=
  [[ ${2:-} == stream ]] && stream=',"stream":true,"stream_options":{"include_usage":true}'
  printf '{"model":"%s","messages":[{"role":"system","content":"You are a helpful assistant. Answer concisely."},{"role":"user","content":"What is the capital of France? Answer in two sentences."}],"max_tokens":64,"temperature":0.2%s}' \
    "$1" "$stream"
}

# http DOOR PATH MODEL BODY_FILE: REQUESTS calls over HTTP/1.1 (h1) or h2c
# (h2). h2load only sees the status, so one call is checked first with curl:
# a stream must end with [DONE] and carry no error event.
http() {
  curl -sf -d @"$4" -H 'content-type: application/json' -o "$work/answer" "$gateway$2" \
    || { echo "$1 $3: the first call failed" >&2; exit 1; }
  if grep -q '"stream":true' "$4" && { grep -q '^data: {"error"' "$work/answer" || [[ $(tail -n 2 "$work/answer") != "data: [DONE]" ]]; }; then
    echo "$1 $3: the stream did not end well:" >&2; tail -n 5 "$work/answer" >&2; exit 1
  fi
  local mode=(--h1 -c 4 -m 1)
  [[ $1 == h2 ]] && mode=(-c 1 -m 4)
  local out
  out=$(h2load "${mode[@]}" -t 1 -n "$requests" -d "$4" -H 'content-type: application/json' "$gateway$2")
  check "$1 $3" "$out"
}

# grpc METHOD MESSAGE_TYPE JSON: REQUESTS calls of METHOD (one checked first
# with curl: a failed call is still HTTP 200, with a non-zero grpc-status).
grpc() {
  local label="grpc $1 $(grep -o '"model":"[^"]*"' <<<"$3")"
  local message=$work/message.binpb frame=$work/request.grpc url=$gateway/switchboard.v1.$1
  (cd proto && "$buf" convert . --type "switchboard.v1.$2" --from -#format=json --to -#format=binpb <<<"$3") >"$message"
  # gRPC framing: a zero flag byte, the length in four big-endian bytes, the message.
  local n header
  n=$(stat -c %s "$message")
  header=$(printf '\\x00\\x%02x\\x%02x\\x%02x\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)))
  { printf "$header"; cat "$message"; } >"$frame"
  curl -sf --http2-prior-knowledge --data-binary @"$frame" -H 'content-type: application/grpc' -H 'te: trailers' \
    -D "$work/headers" -o /dev/null "$url"
  grep -qi '^grpc-status: 0' "$work/headers" || { echo "$label failed:" >&2; cat "$work/headers" >&2; exit 1; }
  check "$label" "$(h2load -c 1 -m 4 -t 1 -n "$requests" -d "$frame" \
    -H 'content-type: application/grpc' -H 'te: trailers' "$url")"
}

# check LABEL H2LOAD_OUTPUT: every request answered 2xx.
check() {
  local ok
  ok=$(awk '/^status codes:/ {print $3}' <<<"$2")
  [[ $ok == "$requests" ]] || { echo "$1: $ok of $requests succeeded" >&2; echo "$2" >&2; exit 1; }
  echo "trained: $1 ($requests)"
}

for model in openai openai-tools azure mistral anthropic bedrock gemini cohere ollama; do
  chat_body "$model" >"$work/$model.json"
  http h1 /v1/chat/completions "$model" "$work/$model.json"
done
for model in openai-stream mistral-stream anthropic-stream bedrock-stream gemini-stream cohere-stream ollama-stream; do
  chat_body "$model" stream >"$work/$model.json"
  http h1 /v1/chat/completions "$model" "$work/$model.json"
done
for model in openai-embed bedrock-embed gemini-embed cohere-embed ollama-embed; do
  printf '{"model":"%s","input":"What is the capital of France?"}' "$model" >"$work/$model.json"
  http h1 /v1/embeddings "$model" "$work/$model.json"
done
http h2 /v1/chat/completions openai "$work/openai.json"
http h2 /chat/completions openai-stream "$work/openai-stream.json"

question='"messages":[{"role":"ROLE_SYSTEM","text":"You are a helpful assistant. Answer concisely."},{"role":"ROLE_USER","text":"What is the capital of France? Answer in two sentences."}],"max_tokens":64,"temperature":0.2'
for model in openai anthropic bedrock gemini; do
  grpc ChatService/Complete ChatRequest "{\"model\":\"$model\",$question}"
  grpc ChatService/StreamComplete ChatRequest "{\"model\":\"$model-stream\",$question}"
done
grpc EmbeddingService/Embed EmbedRequest '{"model":"openai-embed","input":["What is the capital of France?"]}'

# An instrumented binary writes its profile as it exits.
kill -TERM "$gateway_pid"
wait "$gateway_pid"
