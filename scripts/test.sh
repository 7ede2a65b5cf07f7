#!/usr/bin/env bash
# The project's test command (what CI runs): from a clean checkout, installs the wasm
# target and tools, checks formatting, builds the components for wasm32-wasip2, runs
# clippy on native and wasm crates, then every test (domain unit tests, the test host's
# own tests, the end-to-end suite against the built components, and the browser tests of
# the admin UI).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null
    rustup target add wasm32-wasip2 >/dev/null
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> build components (wasm32-wasip2, release)"
scripts/build-components.sh

echo "==> clippy (wasm components)"
cargo clippy --locked --target wasm32-wasip2 -p keys-spin -p manage-keys -p manage-permissions -p verify-key -p rebuild-records -p admin-ui -- -D warnings
cargo clippy --locked --target wasm32-wasip2 -p baseline -p probe -- -D warnings

echo "==> clippy (native crates)"
cargo clippy --locked --all-targets -- -D warnings

echo "==> tests"
cargo test --locked

echo "==> browser tests"
scripts/ui-test.sh
