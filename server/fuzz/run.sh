#!/usr/bin/env bash
# Runs every provider decoder's fuzz target for a bounded time each
# (default 60 s): `server/fuzz/run.sh [SECONDS]`. Needs the nightly toolchain
# (rustup) and installs cargo-fuzz when it is missing. A crash leaves its
# input under server/fuzz/artifacts/<target>/ and fails the run.
set -euo pipefail
seconds="${1:-60}"
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p corpus
for target in openai anthropic gemini vertex cohere ollama bedrock; do
    # Seed each target with the recorded provider payloads.
    mkdir -p "corpus/$target"
    fixtures="../../conformance/fixtures/upstream/${target/vertex/vertex_ai}"
    [ -d "$fixtures" ] && find "$fixtures" -name '*.response.*' -exec cp {} "corpus/$target/" \;
    if [ "$target" = openai ]; then # and with every client request, for the facade's parser
        for request in ../../conformance/cases/*/*/*/client-request.json; do
            cp "$request" "corpus/openai/$(tr / _ <<<"${request#../../conformance/cases/}")"
        done
    fi
    echo "== $target ($seconds s)"
    cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
