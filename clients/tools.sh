# Sourced by clients/generate.sh and clients/test.sh: the pinned code-generation
# tools and idempotent installers. Everything lands in target/ci-tools (or the
# clients' own gitignored node_modules); a second run installs nothing.
#
# Versions pinned here; the Java ones (protoc, protoc-gen-grpc-java, the
# google.rpc protos) are pom.xml properties, the TypeScript ones are in
# clients/ts/package-lock.json.

BUF_VERSION=1.75.0                   # keep equal to .ci/test's buf_version
PROTOC_GEN_GO_VERSION=v1.36.12       # google.golang.org/protobuf
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2    # google.golang.org/grpc/cmd/protoc-gen-go-grpc
GRPCURL_VERSION=v1.9.4               # github.com/fullstorydev/grpcurl

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=$root/target/ci-tools
buf=$tools/node_modules/.bin/buf

# buf from npm, as .ci/test installs it.
install_buf() {
  if [ "$("$buf" --version 2>/dev/null)" != "$BUF_VERSION" ]; then
    mkdir -p "$tools"
    npm install --silent --no-audit --no-fund --prefix "$tools" "@bufbuild/buf@$BUF_VERSION"
  fi
}

# go_install PACKAGE VERSION: `go install` into target/ci-tools/bin unless that
# version is already there.
go_install() {
  local package=$1 version=$2
  local name=${package##*/}
  local stamp=$tools/bin/.$name.version
  if [ ! -x "$tools/bin/$name" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$version" ]; then
    GOBIN=$tools/bin go install "$package@$version"
    echo "$version" >"$stamp"
  fi
}

install_go_plugins() {
  go_install google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
  go_install google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
}

install_grpcurl() {
  go_install github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
}

# mvn_quiet ARGS...: Maven in batch mode, errors only (jansi.noreset: Debian's
# Maven 3.8 otherwise prints stray colour resets even in batch mode).
mvn_quiet() {
  MAVEN_OPTS="${MAVEN_OPTS:-} -Djansi.noreset=true" mvn -q -B -ntp "$@"
}

# Maven Central's classifier for this machine's protoc builds.
protoc_classifier() {
  local os arch
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=osx ;;
    *) echo "unsupported OS $(uname -s) for protoc from Maven Central" >&2; return 1 ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch_64 ;;
    *) echo "unsupported CPU $(uname -m) for protoc from Maven Central" >&2; return 1 ;;
  esac
  echo "$os-$arch"
}

# protoc, protoc-gen-grpc-java and the google.rpc protos, fetched by Maven at
# the pom's versions into target/ci-tools/codegen (skipped when the pom's
# versions have not changed since the last fetch).
install_codegen() {
  local pom=$root/clients/java/pom.xml
  local stamp=$tools/codegen/.versions
  local versions
  versions=$(grep -E '<(protobuf|grpc|common-protos)\.version>' "$pom")
  if [ "$(cat "$stamp" 2>/dev/null)" != "$versions" ] || [ ! -x "$tools/codegen/protoc" ]; then
    mvn_quiet -f "$pom" -Pcodegen initialize \
      -Dcodegen.dir="$tools/codegen" -Dcodegen.classifier="$(protoc_classifier)"
    chmod +x "$tools/codegen/protoc" "$tools/codegen/protoc-gen-grpc-java"
    echo "$versions" >"$stamp"
  fi
}

# The TypeScript package's dependencies (protoc-gen-es among them), from its
# lockfile; `npm ci` again only when the lockfile changed.
install_ts_deps() {
  local dir=$root/clients/ts
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.switchboard-lock"; then
    (cd "$dir" && npm ci --silent --no-audit --no-fund)
    cp "$dir/package-lock.json" "$dir/node_modules/.switchboard-lock"
  fi
}

install_generators() {
  install_buf
  install_go_plugins
  install_codegen
  install_ts_deps
}

# generate [OUTPUT_DIR]: runs both templates from the repository root, into
# the tree (default) or under OUTPUT_DIR, with the pinned plugins first on PATH.
generate() {
  local out=()
  if [ $# -gt 0 ]; then out=(-o "$1"); fi
  (
    cd "$root"
    export PATH=$tools/codegen:$tools/bin:$root/clients/ts/node_modules/.bin:$PATH
    "$buf" generate --template proto/buf.gen.yaml "${out[@]}"
    "$buf" generate --template clients/ts/buf.gen.yaml "${out[@]}"
  )
}

# The directories generate() writes, relative to the repository root.
GENERATED_DIRS=(
  clients/go/gen
  clients/java/src/generated
  clients/ts/src/gen
  clients/ts/src/googleapis
)
