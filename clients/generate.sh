#!/usr/bin/env bash
# Regenerates every client's generated code from proto/ (Go, Java and
# TypeScript; see clients/README.md), installing the pinned generators first.
# Run it after changing a .proto file and commit the result with the change.
set -euo pipefail
source "$(dirname "$0")/tools.sh"

install_generators
generate
echo "regenerated: ${GENERATED_DIRS[*]}"
