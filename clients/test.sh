#!/usr/bin/env bash
# The clients' test command, runnable from a fresh clone (Go, Java 11+ with
# Maven, Node 20+ with npm on PATH):
#   1. installs the pinned generators and grpcurl (cached in target/ci-tools),
#   2. regenerates all generated code into a temporary directory and fails if
#      the committed copy differs,
#   3. runs `buf breaking` against the previous commit's proto/,
#   4. starts the replay upstream and two gateways on 127.0.0.1,
#   5. runs the Go, Java and TypeScript suites and the README's grpcurl
#      commands against them, then stops the servers.
# Set SWITCHBOARD_BREAKING_AGAINST to another git ref (e.g. origin/main on a
# branch) to change the baseline of step 3; see clients/README.md.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$root"

section_start=$SECONDS
section() {
  if [ -n "${section_name:-}" ]; then
    printf -- '-- %s: %ss\n' "$section_name" "$((SECONDS - section_start))"
  fi
  section_name=$*
  section_start=$SECONDS
  printf '\n== %s\n' "$*"
}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-clients.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section "tools: buf, protoc-gen-go(-grpc), grpcurl, protoc + grpc-java (Maven), npm packages"
install_generators
install_grpcurl

section "generated code is up to date with proto/"
generate "$scratch/generated"
stale=0
for dir in "${GENERATED_DIRS[@]}"; do
  if ! diff -r "$scratch/generated/$dir" "$dir" >"$scratch/generated.diff" 2>&1; then
    echo "stale: $dir"
    head -n 40 "$scratch/generated.diff"
    stale=1
  fi
done
if [ "$stale" != 0 ]; then
  echo "generated code differs from proto/; run clients/generate.sh and commit the result" >&2
  exit 1
fi
echo "up to date: ${GENERATED_DIRS[*]}"

section "buf breaking against the previous commit's proto/"
against=${SWITCHBOARD_BREAKING_AGAINST:-HEAD~1}
if ! git rev-parse --verify --quiet "$against^{commit}" >/dev/null &&
  [ "$(git rev-parse --is-shallow-repository)" = true ]; then
  # CI clones are often shallow; one more commit is all this needs.
  echo "shallow clone without $against; fetching one more commit"
  git fetch --quiet --deepen=1 || true
fi
if ! git rev-parse --verify --quiet "$against^{commit}" >/dev/null; then
  if [ "$against" = HEAD~1 ] && [ "$(git rev-parse --is-shallow-repository)" = false ] &&
    [ "$(git rev-list --count HEAD)" = 1 ]; then
    echo "NOT CHECKED: HEAD is the repository's first commit; there is no earlier proto/ to compare with"
  else
    echo "cannot resolve $against: the clone lacks the history buf breaking needs." >&2
    echo "Fetch it (git fetch --deepen=1) or set SWITCHBOARD_BREAKING_AGAINST to a ref that exists." >&2
    exit 1
  fi
elif ! git cat-file -e "$against:proto/buf.yaml" 2>/dev/null; then
  echo "NOT CHECKED: $against has no proto/ module yet; nothing to be compatible with"
else
  echo "proto/ (working tree) against $against ($(git rev-parse --short "$against"))"
  "$buf" breaking proto --against ".git#ref=$(git rev-parse "$against"),subdir=proto"
  echo "no breaking changes"
fi

section "gateway binaries"
bin=$root/target/debug
if [ ! -x "$bin/switchboard" ] || [ ! -x "$bin/switchboard-replay" ]; then
  cargo build --locked --bins -p switchboard -p switchboard-conformance
fi
ls -l "$bin/switchboard" "$bin/switchboard-replay" | awk '{print $6, $7, $8, $9}'

section "servers: replay upstream, test gateway, quickstart gateway (127.0.0.1)"
# wait_for LOG PATTERN: prints the first match of PATTERN (an extended regex)
# in LOG once it appears, ANSI colours stripped; fails after 20 s.
wait_for() {
  local log=$1 pattern=$2 match
  for _ in $(seq 200); do
    match=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -Eo "$pattern" | head -n 1 || true)
    if [ -n "$match" ]; then
      echo "$match"
      return 0
    fi
    sleep 0.1
  done
  echo "timed out waiting for /$pattern/ in $log:" >&2
  cat "$log" >&2
  return 1
}
# start_gateway NAME CONFIG: starts a gateway on a port the OS picks (in this
# shell, so the trap can stop it), waits until it is ready, sets gateway_addr.
start_gateway() {
  local name=$1 config=$2
  "$bin/switchboard" serve --config "$config" --listen 127.0.0.1:0 >"$scratch/$name.log" 2>&1 &
  pids+=($!)
  gateway_addr=$(wait_for "$scratch/$name.log" 'listening .*addr=127\.0\.0\.1:[0-9]+' | grep -Eo '127\.0\.0\.1:[0-9]+')
  for _ in $(seq 100); do
    if curl -sf "http://$gateway_addr/health/readiness" >/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "$name on $gateway_addr never became ready" >&2
  return 1
}

"$bin/switchboard-replay" --fixtures "$root/conformance/fixtures/upstream" --listen 127.0.0.1:0 \
  >"$scratch/replay.log" 2>&1 &
pids+=($!)
replay=$(wait_for "$scratch/replay.log" 'http://127\.0\.0\.1:[0-9]+')
sed "s|{{replay}}|$replay|g" clients/testdata/gateway.yaml >"$scratch/gateway.yaml"
start_gateway gateway "$scratch/gateway.yaml"
SWITCHBOARD_ADDR=$gateway_addr
SWITCHBOARD_API_KEY=$(sed -n 's/^ *master_key: *\([^ #]*\).*/\1/p' clients/testdata/gateway.yaml)
export SWITCHBOARD_ADDR SWITCHBOARD_API_KEY
start_gateway quickstart deploy/examples/quickstart.yaml
quickstart=$gateway_addr
echo "replay $replay, test gateway $SWITCHBOARD_ADDR, quickstart gateway $quickstart"

section "Go: go vet, go test"
(cd clients/go && go vet ./... && go test -count=1 ./...)

section "Java: mvn test"
mvn_quiet -f clients/java/pom.xml test
# -q hides surefire's summary; print it from the reports.
cat clients/java/target/surefire-reports/TEST-*.xml | grep -o '<testsuite [^>]*>' |
  sed -E 's/.* name="([^"]*)".* tests="([0-9]+)".* errors="([0-9]+)".* skipped="([0-9]+)".* failures="([0-9]+)".*/\1: \2 tests, \5 failures, \3 errors, \4 skipped/'

section "TypeScript: tsc, node --test (gRPC and gRPC-Web)"
(cd clients/ts && npm test --silent)

section "grpcurl: the README's commands against the quickstart gateway"
grpcurl=$tools/bin/grpcurl
# The README's grpcurl block, continuation lines joined, pointed at our
# gateway and our pinned grpcurl: if the README changes, this runs the change.
mapfile -t commands < <(
  sed -n '/^gRPC with grpcurl/,/^```$/p' README.md | grep -v '^```' | sed -e ':a' -e '/\\$/N; s/\\\n *//; ta' |
    grep '^grpcurl ' | sed "s|127\.0\.0\.1:4000|$quickstart|g; s|^grpcurl |\"\$grpcurl\" |"
)
if [ "${#commands[@]}" -lt 3 ]; then
  echo "expected the README's grpcurl block (list, describe, Complete, ...); found ${#commands[@]} commands" >&2
  exit 1
fi
# check_output NAME PATTERN...: each pattern (fixed string) must occur in the output.
check_output() {
  local name=$1 output=$scratch/grpcurl.out pattern
  shift
  for pattern in "$@"; do
    if ! grep -qF -- "$pattern" "$output"; then
      echo "grpcurl $name: output lacks '$pattern':" >&2
      cat "$output" >&2
      exit 1
    fi
  done
  echo "ok: grpcurl $name"
  checked+=("$name")
}
checked=()
for command in "${commands[@]}"; do
  eval "$command" >"$scratch/grpcurl.out" 2>&1 || {
    echo "failed: $command" >&2
    cat "$scratch/grpcurl.out" >&2
    exit 1
  }
  case "$command" in
    *" list") check_output list grpc.health.v1.Health grpc.reflection.v1.ServerReflection \
      switchboard.v1.ChatService switchboard.v1.EmbeddingService ;;
    *" describe switchboard.v1.ChatService") check_output describe \
      'rpc Complete ( .switchboard.v1.ChatRequest ) returns ( .switchboard.v1.ChatResponse );' \
      'rpc StreamComplete ( .switchboard.v1.ChatRequest ) returns ( stream .switchboard.v1.ChatChunk );' \
      'rpc ListModels ( .switchboard.v1.ListModelsRequest ) returns ( .switchboard.v1.ListModelsResponse );' ;;
    *"ChatService/Complete") check_output Complete '"text": "Mock reply to: hello"' '"finishReason": "FINISH_REASON_STOP"' \
      '"modelGroup": "demo"' ;;
    *"ChatService/StreamComplete") check_output StreamComplete '"content": " hello"' '"finishReason": "FINISH_REASON_STOP"' ;;
    *"Health/Check") check_output Health/Check '"status": "SERVING"' ;;
    *) echo "ran (no expectations): $command" ;;
  esac
done
for name in list describe Complete; do
  if [[ " ${checked[*]} " != *" $name "* ]]; then
    echo "the README's grpcurl block no longer shows '$name' (checked: ${checked[*]})" >&2
    exit 1
  fi
done
# With a master key set, as the README says: -H authorization, and without it UNAUTHENTICATED.
"$grpcurl" -plaintext -H "authorization: Bearer $SWITCHBOARD_API_KEY" \
  -d '{"model": "demo", "messages": [{"role": "ROLE_USER", "text": "hello"}]}' \
  "$SWITCHBOARD_ADDR" switchboard.v1.ChatService/Complete >"$scratch/grpcurl.out" 2>&1
check_output "Complete with -H authorization" '"text": "Mock reply to: hello"'
if "$grpcurl" -plaintext -d '{"model": "demo"}' "$SWITCHBOARD_ADDR" switchboard.v1.ChatService/Complete \
  >"$scratch/grpcurl.out" 2>&1; then
  echo "grpcurl without a key succeeded against a gateway with a master key" >&2
  exit 1
fi
check_output "Complete without a key" 'Code: Unauthenticated'

section "done"
echo "clients: all checks passed in ${SECONDS}s"
