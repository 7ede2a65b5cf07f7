#!/usr/bin/env bash
# The verification scenarios on real Spin (the figures that open docs/performance.md) come
# from the Rust driver: cargo run --release -p bench -- [--store spin|redis].
# This script runs the older in-process and topology benchmarks of the dated log:
#   1. domain micro-benchmarks (criterion, native): cargo bench -p keys-domain --bench verify
#   2. component benchmark (test host, release):   cargo bench -p spin-test-host --bench component
#      sections: sizes, components, growth, memory, http (wrk), admin
#   3. edge topology on real Spin:                  scripts/bench-edge.sh (verification
#      throughput by store: SQLite, Redis via Spin's key-value API, Redis direct; the
#      rebuild's time for 100,000 keys)
#
# Not part of scripts/test.sh or CI: about 10 minutes (plus a first release build of the test
# host, ~10-15 minutes on 2 cores), and the figures only mean something on an otherwise idle
# machine. Usage:
#   scripts/bench.sh                 # everything
#   scripts/bench.sh --quick         # smoke run with small sizes (figures not meaningful)
#   scripts/bench.sh components      # only some sections of the component benchmark
# Extra arguments go to the component benchmark (see tests/host/benches/component.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

# The release .wasm files spin.toml names, and the baseline fixture.
scripts/build-components.sh >/dev/null

# The HTTP section drives the test host's server mode with Debian's wrk; it is skipped
# (with a note) when wrk is missing and cannot be installed here.
if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing wrk (apt-get)"
        apt-get update -qq && apt-get install -y -qq wrk >/dev/null
    else
        echo "warning: wrk not found; the HTTP section will be skipped" >&2
    fi
fi

# `cargo bench` uses the `bench` profile, i.e. the workspace's `release` profile (opt-level
# "z", fat LTO, one codegen unit). Only symbol stripping is turned off, so that `perf` can
# name the host's functions: stripping does not change the generated code.
export CARGO_PROFILE_BENCH_STRIP=false

echo "==> machine"
echo "cores: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); kernel: $(uname -r)"
echo "rustc: $(rustc --version)"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"

quick=()
for arg in "$@"; do
    if [ "$arg" = "--quick" ]; then
        quick=(--warm-up-time 0.2 --measurement-time 0.5)
    fi
done

echo "==> domain micro-benchmarks (criterion)"
cargo bench --quiet -p keys-domain --bench verify -- "${quick[@]}" 2>&1 \
    | grep -vE '^(Benchmarking|Found|  [0-9]+ \(|Gnuplot|WARNING)|change:|Performance has|No change in|Change within' \
    || true

echo "==> component benchmark (test host)"
# The server mode reports every connection wrk closes at the end of a run: not an error.
cargo bench --quiet -p spin-test-host --bench component -- "$@" \
    2> >(grep -v 'connection closed before message completed' >&2)

echo "==> edge topology on real Spin (scripts/bench-edge.sh)"
if [ ${#quick[@]} -gt 0 ]; then
    scripts/bench-edge.sh --rounds 1 --secs 1 --keys 1000
else
    scripts/bench-edge.sh
fi

echo "==> admin calls by identity-token kind on real Spin (scripts/bench-identity.sh)"
if [ ${#quick[@]} -gt 0 ]; then
    scripts/bench-identity.sh --rounds 1 --secs 1
else
    scripts/bench-identity.sh
fi
