#!/usr/bin/env bash
# Builds every Spin component of the app (and the test host's fixtures) for wasm32-wasip2,
# in release mode: the artifacts spin.toml and the test host load. The components are built
# by `cargo build-app` (.cargo/config.toml), the command `spin build` runs, so a `spin build`
# afterwards finds nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null 2>&1; then
    rustup target add wasm32-wasip2 >/dev/null
fi

# The benchmark's floor of a verification (tests/bench): built in the same invocation, so that
# its dependencies (keys-spin, spin-sdk) are verify-key's very artifacts; it adds no feature.
APP_FIXTURES=(one-read)
# Built apart: their spin-sdk features are not unified into the app's.
FIXTURES=(baseline probe)

args=()
for p in "${APP_FIXTURES[@]}"; do args+=(-p "$p"); done
cargo build-app --locked "${args[@]}"
args=()
for p in "${FIXTURES[@]}"; do args+=(-p "$p"); done
cargo build --locked --target wasm32-wasip2 --release "${args[@]}"

# Each component's size, from the files spin.toml loads.
for f in $(sed -n 's/^source = "\(target\/[^"]*\.wasm\)"$/\1/p' spin.toml); do
    printf '%-28s %7d bytes\n' "$(basename "$f")" "$(stat -c %s "$f")"
done
