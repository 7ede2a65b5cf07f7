#!/usr/bin/env bash
# The project's test command (what CI runs). From a clean checkout it installs what is
# missing (the wasm target, rustfmt and clippy; the Spin CLI, through scripts/ensure-spin.sh;
# Debian's redis-server, through scripts/ensure-redis.sh; Debian's chromium and the npm packages of tests/ui, through scripts/ui-test.sh), checks
# formatting, validates the deployment files of deploy/ (plain Kubernetes manifests against
# the Kubernetes schemas, Containerfile and spin.toml; SpinKube manifests against the SpinApp
# CRD and spin.toml; Spin runtime configs; scripts/validate-manifests.sh installs its pinned
# jsonschema, PyYAML and kubernetes-validate into target/manifests-venv), builds the app with
# `spin build`, then the container image with podman or buildah where one is installed
# (scripts/build-image.sh), and the test host's fixtures with cargo, runs clippy on the workspace,
# then every test:
#   - domain unit tests, the components' route tables against docs/openapi.json and
#     spin.toml, and the test host's own tests;
#   - the end-to-end suite against the app on `spin up` (the tests that inject store faults
#     or count store calls run in the in-process test host), including the multi-node
#     deployment (an admin node and two edges on one redis-server, with Redis outages);
#   - the browser tests of the admin screen, against `spin up`;
#   - the schema-driven API fuzzer (schemathesis) against `spin up`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage's duration, printed at the end (also when a stage fails).
durations=()
stage_name="set-up"
stage_start=$SECONDS
stage() { # the next stage's name
    durations+=("$(printf '%5d s  %s' $((SECONDS - stage_start)) "$stage_name")")
    stage_name=$1
    stage_start=$SECONDS
    echo "==> $1"
}
report_durations() {
    durations+=("$(printf '%5d s  %s' $((SECONDS - stage_start)) "$stage_name")")
    echo "==> stage durations (total $SECONDS s)"
    printf '%s\n' "${durations[@]}"
}
trap report_durations EXIT

if command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null
    rustup target add wasm32-wasip2 >/dev/null
fi
SPIN_BIN=$(scripts/ensure-spin.sh)
export SPIN_BIN
REDIS_SERVER=$(scripts/ensure-redis.sh)
export REDIS_SERVER
echo "==> $("$SPIN_BIN" --version) ($SPIN_BIN)"

stage "cargo fmt --check"
cargo fmt --all -- --check

stage "deployment manifests (Kubernetes schemas, SpinKube CRD)"
scripts/validate-manifests.sh

stage "spin build"
"$SPIN_BIN" build
stage "container image (Containerfile; skipped without podman/buildah or its base image)"
scripts/build-image.sh
stage "build the test host's fixtures (wasm32-wasip2, release)"
# Only the fixtures: the suites run the components `spin build` made, as users do.
cargo build --locked --target wasm32-wasip2 --release -p baseline -p probe

# One clippy run over the whole workspace, natively: the components and fixtures have no
# target-specific code, so their native build is the code `spin build` compiles for
# wasm32-wasip2 (which fails on any error of that target), and one run checks the
# dependencies once instead of once per target.
stage "clippy (the whole workspace)"
cargo clippy --locked --workspace --all-targets -- -D warnings

# The one test with a latency bound (no answer waits ~40 ms for the client's delayed ACK:
# every median under 5 ms on one keep-alive connection) runs on its own after the rest:
# beside the suite's concurrency tests on 2 cores it measures their load, not the stall.
TIMED=spin::keep_alive_answers_do_not_wait_for_the_clients_delayed_ack
# Four tests at a time: the end-to-end tests wait on Spin, Redis and the network more than they
# compute (two at a time kept 0.9 of the 2 cores busy).
stage "tests (end-to-end suite on spin up)"
cargo test --locked -- --skip "$TIMED" --test-threads 4
stage "the keep-alive latency test, alone (spin up)"
# The same packages as above, so that nothing is built again.
cargo test --locked --test e2e -- --exact "$TIMED"

stage "browser tests (spin up)"
scripts/ui-test.sh

stage "schema-driven API fuzzing (schemathesis, spin up)"
# A fixed seed, so that a run can be repeated; another one is a variable away.
export API_FUZZ_SEED=${API_FUZZ_SEED:-20261206}
echo "API_FUZZ_SEED=$API_FUZZ_SEED"
scripts/api-fuzz.sh
