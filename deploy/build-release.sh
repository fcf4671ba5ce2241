#!/usr/bin/env bash
# Builds the release gateway with profile-guided optimisation (PGO):
#   1. an instrumented build counts how often each branch and function runs;
#   2. deploy/pgo/train.sh drives it through every door and every provider
#      adapter but Vertex AI's with recorded provider payloads
#      (switchboard-replay);
#   3. the release build uses those counts to lay out hot code together,
#      inline along hot paths and keep cold paths out of the way.
# It executes a quarter fewer instructions per request than
# `cargo build --release` and needs about 13 % less CPU (BENCHMARKS.md,
# session 15); its behaviour is the same, only the code layout differs.
#
#   deploy/build-release.sh        # → target/pgo/release/switchboard
#
# Needs what deploy/pgo/train.sh needs, and llvm-profdata from rustup's
# llvm-tools component (added here when missing). Takes about 10 minutes on
# two cores: two fat-LTO release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
profdata=$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata
[[ -x $profdata ]] || rustup component add llvm-tools
pgo=$PWD/target/pgo
deploy/pgo/train.sh --check  # before ten minutes of building

RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$pgo/profiles" \
  cargo build --release --locked -p switchboard --target-dir "$pgo/instrumented"
# A plain debug build: the replay server's own code must not enter the profile.
cargo build --locked -p switchboard-conformance --bin switchboard-replay
# The instrumented build scripts and proc macros wrote profiles of their own.
rm -rf "$pgo/profiles"
deploy/pgo/train.sh "$pgo/instrumented/release/switchboard" target/debug/switchboard-replay
"$profdata" merge -o "$pgo/switchboard.profdata" "$pgo/profiles"

RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$pgo/switchboard.profdata" \
  cargo build --release --locked -p switchboard --target-dir "$pgo"
echo "built $pgo/release/switchboard"
