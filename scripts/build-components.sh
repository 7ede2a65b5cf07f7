#!/usr/bin/env bash
# Builds every Spin component of the app (and the test host's fixtures) for wasm32-wasip2,
# in release mode: the artifacts spin.toml and the test host load. `spin build` runs the
# same cargo commands, one per component.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null 2>&1; then
    rustup target add wasm32-wasip2 >/dev/null
fi

APP_COMPONENTS=(manage-keys manage-permissions key-usage verify-key kv-proxy rebuild-records identity admin-ui webhooks ext-authz)
# Built on its own, as `spin build` builds it: p256's dependencies would otherwise unify
# features (sha2's) into the other components and grow them.
SCANNING=(secret-scanning)
FIXTURES=(baseline probe)
# The benchmark's floor of a verification (tests/bench): built with the app's components so
# that its dependencies (keys-spin, spin-sdk) get the same features as verify-key's.
APP_FIXTURES=(one-read)

# Separate invocations so the fixtures' spin-sdk features, and secret-scanning's
# dependencies, are not unified into the app's.
build() {
    local args=()
    for p in "$@"; do args+=(-p "$p"); done
    cargo build --locked --target wasm32-wasip2 --release "${args[@]}"
}
build "${APP_COMPONENTS[@]}" "${APP_FIXTURES[@]}"
build "${SCANNING[@]}"
build "${FIXTURES[@]}"

for p in "${APP_COMPONENTS[@]}" "${SCANNING[@]}"; do
    f="target/wasm32-wasip2/release/${p//-/_}.wasm"
    printf '%-28s %7d bytes\n' "$(basename "$f")" "$(stat -c %s "$f")"
done
