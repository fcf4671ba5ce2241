#!/usr/bin/env bash
# The training run of the profile-guided release build (deploy/build-release.sh):
# drives a gateway binary through every front door and every provider
# adapter but Vertex AI's (its translation is Gemini's) with recorded
# provider payloads, then stops it with SIGTERM so an instrumented binary
# writes its profile.
#
#   deploy/pgo/train.sh GATEWAY_BIN REPLAY_BIN [REQUESTS=2000]
#   deploy/pgo/train.sh --check      # only checks that the tools are there
#
# REPLAY_BIN is conformance's switchboard-replay; the deployments are in
# deploy/pgo/train.yaml. Each workload sends REQUESTS requests over 4
# HTTP/1.1 connections (h2c and gRPC: 4 streams on one connection); the run
# fails if any request does not succeed, because a profile of error paths
# would optimise the wrong code. Needs h2load (Debian nghttp2-client), curl
# and buf (on PATH, or in target/ci-tools as .ci/test installs it). Starting
# the gateway and gRPC framing are server/bench/doors.sh's.
set -euo pipefail
cd "$(dirname "$0")/../.."
source server/bench/doors.sh  # checks for h2load
command -v curl >/dev/null || { echo "train.sh needs curl" >&2; exit 2; }
[[ -x $buf ]] || { echo "train.sh needs buf: run .ci/test once, or put buf on PATH" >&2; exit 2; }
[[ ${1:-} == --check ]] && exit 0
gateway_bin=${1:?usage: deploy/pgo/train.sh GATEWAY_BIN REPLAY_BIN [REQUESTS]}
replay_bin=${2:?usage: deploy/pgo/train.sh GATEWAY_BIN REPLAY_BIN [REQUESTS]}
requests=${3:-2000}

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

"$replay_bin" >"$work/replay.log" 2>&1 &
pids+=($!)
replay=$(await_line "$work/replay.log" 'http://127\.0\.0\.1:[0-9]+' "${pids[0]}")
sed "s|{{replay}}|$replay|g" deploy/pgo/train.yaml >"$work/train.yaml"
start_gateway "$work/gateway.log" -- "$gateway_bin" serve --config "$work/train.yaml" --listen 127.0.0.1:0
pids+=("$gw")
gateway=http://127.0.0.1:$port

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
  # Its output says why when it fails: check prints it.
  out=$(h2load "${mode[@]}" -t 1 -n "$requests" -d "$4" -H 'content-type: application/json' "$gateway$2") || true
  check "$1 $3" "$out"
}

# grpc METHOD MESSAGE_TYPE JSON: REQUESTS calls of METHOD (one checked first
# with curl: a failed call is still HTTP 200, with a non-zero grpc-status).
grpc() {
  local label="grpc $1 $(grep -o '"model":"[^"]*"' <<<"$3")"
  local frame=$work/request.grpc url=$gateway/switchboard.v1.$1
  grpc_frame "$frame" "$2" "$3"
  grpc_answer_bytes "$frame" "$url" >/dev/null || { echo "$label failed" >&2; exit 1; }
  check "$label" "$(h2load -c 1 -m 4 -t 1 -n "$requests" -d "$frame" "${grpc_headers[@]}" "$url" || true)"
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
kill -TERM "$gw"
wait "$gw"
