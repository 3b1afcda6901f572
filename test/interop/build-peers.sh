#!/usr/bin/env bash
# Builds the two reference MetalBond peers that tsbond's interop tests talk to:
#
#   <cache>/metalbond       Go MetalBond v0.5.0 CLI (main package .../cmd)
#   <cache>/rustbond-peer   our driver around the rustbond 0.1.3 crate
#                           (test/interop/rustbond-peer)
#
# <cache> is $TSBOND_PEERS_DIR, default <repo>/.peers (git-ignored).
# Needs go (>= 1.25) and cargo; fetches only from the Go module proxy and
# crates.io. Safe to run repeatedly: a peer that is already up to date is skipped.
#
# usage: test/interop/build-peers.sh [--force] [go|rust]...
#   --force   rebuild even if up to date
#   go|rust   build only that peer (default: both)
set -euo pipefail

readonly GO_MODULE=github.com/ironcore-dev/metalbond
readonly GO_VERSION_PIN=v0.5.0
readonly RUSTBOND_VERSION_PIN=0.1.3

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
peers="${TSBOND_PEERS_DIR:-$repo/.peers}"

step() { printf '[build-peers] %s\n' "$*"; }
fail() { printf '[build-peers] FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

force=0
want_go=0
want_rust=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    go) want_go=1 ;;
    rust) want_rust=1 ;;
    -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) fail "unknown argument '$arg' (expected --force, go, rust)" ;;
  esac
done
if [[ $want_go == 0 && $want_rust == 0 ]]; then want_go=1; want_rust=1; fi

mkdir -p "$peers" || fail "cannot create $peers"
peers="$(cd "$peers" && pwd)"
# The cache ignores itself, so it stays out of git even before .gitignore knows it.
[[ -f "$peers/.gitignore" ]] || printf '*\n' > "$peers/.gitignore"

# Serialise concurrent runs (e.g. several test workers calling this at once).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$peers/.lock"
  flock 9
fi

# ---------------------------------------------------------------------------
# Go MetalBond
# ---------------------------------------------------------------------------
# `GOBIN=... go install github.com/ironcore-dev/metalbond/cmd@v0.5.0` would be
# the obvious command, but `pkg@version` makes the go command look up the
# module's latest version (deprecation check) through @v/list, which the
# reachable module proxy refuses (403), and sum.golang.org has no record of
# metalbond v0.5.0. So the version is pinned in test/interop/go-peer/go.mod and
# its checksums (metalbond's own included) in go.sum; `go install` runs inside
# that module with -mod=readonly, which verifies every download against go.sum.
build_go() {
  local bin="$peers/metalbond" stamp="$peers/metalbond.stamp"
  local want_stamp="$GO_MODULE $GO_VERSION_PIN"
  if [[ $force == 0 && -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want_stamp" ]]; then
    step "go: $bin is $GO_VERSION_PIN already, skipping"
    return
  fi
  command -v go >/dev/null 2>&1 || fail "go: 'go' not found in PATH"
  step "go: using $(go version)"
  local t0; t0="$(now)"
  step "go: downloading $GO_MODULE $GO_VERSION_PIN and its dependencies"
  (cd "$here/go-peer" && GOFLAGS=-mod=readonly go mod download "$GO_MODULE") \
    || fail "go: module download failed"
  step "go: building $GO_MODULE/cmd into $peers/go-bin"
  (cd "$here/go-peer" && GOFLAGS=-mod=readonly GOBIN="$peers/go-bin" go install "$GO_MODULE/cmd") \
    || fail "go: build failed"
  [[ -x "$peers/go-bin/cmd" ]] || fail "go: expected binary $peers/go-bin/cmd is missing"
  cp "$peers/go-bin/cmd" "$bin.tmp" && mv -f "$bin.tmp" "$bin" || fail "go: cannot copy binary"
  "$bin" --help >/dev/null 2>&1 || fail "go: $bin --help does not run"
  printf '%s\n' "$want_stamp" > "$stamp"
  step "go: built $bin in $(elapsed "$t0")s"
}

# ---------------------------------------------------------------------------
# rustbond driver
# ---------------------------------------------------------------------------
# rustbond's build script runs prost-build, which needs a `protoc` binary. The
# driver crate lists protoc-bin-vendored (a crates.io crate that ships protoc)
# as a build-dependency so its version is locked in Cargo.lock; we point
# rustbond's build at that binary via PROTOC (unless PROTOC is already set).
find_vendored_protoc() {
  local suffix
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) suffix=linux-x86_64 ;;
    Linux-aarch64|Linux-arm64) suffix=linux-aarch_64 ;;
    Linux-i?86) suffix=linux-x86_32 ;;
    Linux-ppc64le) suffix=linux-ppcle_64 ;;
    Linux-s390x) suffix=linux-s390_64 ;;
    Darwin-x86_64) suffix=macos-x86_64 ;;
    Darwin-arm64) suffix=macos-aarch_64 ;;
    *) return 1 ;;
  esac
  local manifest
  manifest="$(cargo metadata --locked --format-version 1 --manifest-path "$crate/Cargo.toml" \
    | grep -o "\"manifest_path\":\"[^\"]*/protoc-bin-vendored-$suffix-[^\"/]*/Cargo.toml\"" \
    | head -n 1 | sed 's/^"manifest_path":"//; s/"$//')" || return 1
  [[ -n "$manifest" && -f "$(dirname "$manifest")/bin/protoc" ]] || return 1
  printf '%s\n' "$(dirname "$manifest")/bin/protoc"
}

build_rust() {
  crate="$here/rustbond-peer"
  local bin="$peers/rustbond-peer"
  local target="$peers/cargo-target"
  if [[ $force == 0 && -x "$bin" ]]; then
    local newer
    newer="$(find "$crate" -path "$crate/target" -prune -o -type f -newer "$bin" -print | head -n 1)"
    if [[ -z "$newer" ]]; then
      step "rust: $bin is newer than its sources, skipping"
      return
    fi
    step "rust: $newer changed, rebuilding"
  fi
  command -v cargo >/dev/null 2>&1 || fail "rust: 'cargo' not found in PATH"
  grep -q "^rustbond = \"=$RUSTBOND_VERSION_PIN\"" "$crate/Cargo.toml" \
    || fail "rust: $crate/Cargo.toml does not pin rustbond =$RUSTBOND_VERSION_PIN"
  step "rust: using $(cargo --version)"
  local t0; t0="$(now)"
  step "rust: fetching crates (Cargo.lock, --locked)"
  cargo fetch --locked --manifest-path "$crate/Cargo.toml" || fail "rust: cargo fetch failed"
  local protoc="${PROTOC:-}"
  if [[ -z "$protoc" ]]; then
    protoc="$(find_vendored_protoc)" || fail "rust: cannot locate vendored protoc"
    [[ -x "$protoc" ]] || chmod +x "$protoc" 2>/dev/null || fail "rust: $protoc is not executable"
  fi
  step "rust: protoc for rustbond's build script: $protoc"
  step "rust: cargo build --release (target dir $target)"
  PROTOC="$protoc" CARGO_TARGET_DIR="$target" \
    cargo build --release --locked --manifest-path "$crate/Cargo.toml" \
    || fail "rust: cargo build failed"
  cp "$target/release/rustbond-peer" "$bin.tmp" && mv -f "$bin.tmp" "$bin" \
    || fail "rust: cannot copy binary"
  "$bin" --help >/dev/null 2>&1 || fail "rust: $bin --help does not run"
  step "rust: built $bin in $(elapsed "$t0")s"
}

t_all="$(now)"
step "cache: $peers"
[[ $want_go == 1 ]] && build_go
[[ $want_rust == 1 ]] && build_rust
step "done in $(elapsed "$t_all")s"
