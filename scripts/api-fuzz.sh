#!/usr/bin/env bash
# Fuzzes the HTTP API against its own OpenAPI document, on real Spin.
#
# Installs schemathesis (pinned) into target/api-fuzz-venv when missing, mints an identity
# token for a random identity-token secret, and starts several runs at once. Each run starts
# the app with `spin up` on 127.0.0.1 (its own free port and fresh state directory) and runs
# schemathesis against the served /api/v1/openapi.json with every check, the stateful phase
# (OpenAPI links) included, within a bounded number of examples and a bounded time. Exits
# non-zero when any run finds a failure. Every Spin is always stopped, by the process group
# this script started.
#
# Why several runs: schemathesis spends its time budget generating cases in Python on one
# core, and Spin answers them with a fifth of another. On 2 cores, two runs of 75 s generated
# 16,979-22,578 cases in all (three runs of the test command), two of 85 s 24,992-25,536, one
# run of 150 s 20,133: the default of 80 s each makes up for the slower runs in about half the
# time. Each run has its
# own seed (the seed given, plus the run's number), so they explore different cases.
#
# Every check runs: it is schemathesis's default. `--checks all` is not passed because a
# check named on the command line overrides the per-operation settings of
# scripts/api-fuzz.toml, which say which documented answers a schema-valid request may get.
#
# Assumes the components are built (scripts/build-components.sh); set API_FUZZ_BUILD=1 to
# build them first. Knobs: API_FUZZ_RUNS (runs at once, default 2), API_FUZZ_MAX_TIME (seconds
# of schemathesis per run, default 80), API_FUZZ_MAX_EXAMPLES (per operation and phase,
# default 25), API_FUZZ_WORKERS (per run, default 1), API_FUZZ_SEED (default random),
# API_FUZZ_PORT (default: the first free port from 3200).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SCHEMATHESIS_VERSION=4.32.5
VENV=target/api-fuzz-venv
SPIN=${SPIN_BIN:-$(scripts/ensure-spin.sh)}
HOST=127.0.0.1
MAX_EXAMPLES=${API_FUZZ_MAX_EXAMPLES:-25}
RUNS=${API_FUZZ_RUNS:-2}
MAX_TIME=${API_FUZZ_MAX_TIME:-80}
# Operations fuzzed at once. One: with two, Hypothesis parses lambdas' source in parallel
# threads and CPython 3.11's parser can fail with "SystemError: AST constructor recursion
# depth mismatch" (a schemathesis error, not an API failure; seen once in a CI run).
WORKERS=${API_FUZZ_WORKERS:-1}
# Seconds to wait for Spin to answer after starting it.
STARTUP_TIMEOUT=60

if [[ "${API_FUZZ_BUILD:-0}" == 1 ]]; then
    scripts/build-components.sh
fi

if [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != *" $SCHEMATHESIS_VERSION" ]]; then
    echo "api-fuzz: installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# A free port on the loopback interface (bind-checked; nothing else is ever targeted).
free_port() {
    python3 - "$1" <<'EOF'
import socket, sys
for port in range(int(sys.argv[1]), 65536):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        break
EOF
}
PORT=${API_FUZZ_PORT:-$(free_port 3200)}
SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/api-fuzz-state.XXXXXX")
REPORT_DIR="target/api-fuzz-report"
KEYS_PID=
RUN_PIDS=()

stop_all() {
    for pid in "${RUN_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${RUN_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$KEYS_PID" ]]; then
        kill -TERM "$KEYS_PID" 2>/dev/null || true
    fi
    rm -rf "$STATE_DIR"
}
trap stop_all EXIT
# Interrupted or terminated: exit, so that the EXIT trap stops the runs.
trap 'exit 130' INT TERM

# Without `-p keys-domain`: the workspace's selection, whose features `cargo test` built the
# example with, so that nothing is compiled again (with `-p`, 14 s on a fresh clone).
TOKEN=$(cargo run --locked -q --example mint_token -- "$SECRET" api-fuzz "API fuzzer" 60)

# The secret scanners' public keys: a P-256 key made for this run, published by a static
# server on the loopback interface as GitHub's (GitLab's is the same document, inline), so that
# the scanning routes answer unsigned requests with their documented 400s rather than with a
# 503 for keys they cannot fetch.
KEYS_DIR="$STATE_DIR/scanner-keys"
mkdir -p "$KEYS_DIR"
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl ec -pubout 2>/dev/null >"$KEYS_DIR/key.pem"
KEYS_DOC=$(python3 -c 'import json, sys; print(json.dumps({"public_keys": [{"key_identifier": "api-fuzz-1", "key": open(sys.argv[1]).read(), "is_current": True}]}))' "$KEYS_DIR/key.pem")
printf '%s' "$KEYS_DOC" >"$KEYS_DIR/keys.json"
KEYS_PORT=$(free_port $((PORT + 1)))
setsid python3 -m http.server "$KEYS_PORT" --bind "$HOST" --directory "$KEYS_DIR" >/dev/null 2>&1 &
KEYS_PID=$!

# Stops the run's schemathesis and Spin (in a run's subshell, on its exit).
stop_run() {
    if [[ -n "${fuzz_pid:-}" ]]; then
        kill -TERM "$fuzz_pid" 2>/dev/null || true
    fi
    if [[ -n "${spin_pid:-}" ]] && kill -0 "$spin_pid" 2>/dev/null; then
        # `spin up` runs `spin trigger http` as a child: stop the whole group it leads.
        kill -TERM -- "-$spin_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$spin_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$spin_pid" 2>/dev/null || true
    fi
}

# Run $1 on port $2: its own `spin up` with its own state directory, the scanners' keys above, and
# schemathesis with seed $API_FUZZ_SEED + $1 (when a seed is set), its output kept in the run's
# state directory.
fuzz_run() {
    local run=$1 port=$2
    local base="http://$HOST:$port" state="$STATE_DIR/run-$run" status=0
    local log="$state/spin.log" out="$state/schemathesis.log" report="$ROOT/$REPORT_DIR/run-$run"
    mkdir -p "$state" "$report"
    # Globals of the run's subshell, read by its EXIT trap once the function has returned.
    spin_pid=
    fuzz_pid=
    trap stop_run EXIT
    trap 'exit 130' INT TERM

    setsid "$SPIN" up --from spin.toml --listen "$HOST:$port" --state-dir "$state" \
        --variable "identity_token_secret=$SECRET" \
        --variable "github_secret_scanning_keys_url=http://$HOST:$KEYS_PORT/keys.json" \
        --variable "github_secret_scanning_keys_origin=http://$HOST:$KEYS_PORT" \
        --variable "gitlab_secret_scanning_keys=$KEYS_DOC" \
        --variable "webhook_encryption_key=$(head -c 32 /dev/urandom | base64)" \
        --variable "webhook_origin=http://$HOST:9" >"$log" 2>&1 &
    spin_pid=$!
    for _ in $(seq $((STARTUP_TIMEOUT * 5))); do
        if curl -fsS -o /dev/null "$base/api/v1/openapi.json" 2>/dev/null; then
            break
        fi
        if ! kill -0 "$spin_pid" 2>/dev/null; then
            echo "api-fuzz[$run]: Spin exited before answering:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.2
    done
    if ! curl -fsS -o /dev/null "$base/api/v1/openapi.json"; then
        echo "api-fuzz[$run]: Spin did not answer within ${STARTUP_TIMEOUT}s:" >&2
        cat "$log" >&2
        return 1
    fi

    local seed_args=()
    if [[ -n "${API_FUZZ_SEED:-}" ]]; then
        seed_args=(--seed "$((API_FUZZ_SEED + run))")
    fi
    # Run from the report directory: schemathesis and Hypothesis keep their caches in the
    # working directory, and they belong under target/, not in the work tree.
    (cd "$report" && export HYPOTHESIS_STORAGE_DIRECTORY=.hypothesis && exec "$ROOT/$VENV/bin/schemathesis" \
        --config-file "$ROOT/scripts/api-fuzz.toml" run "$base/api/v1/openapi.json" \
        --phases examples,coverage,fuzzing,stateful \
        --max-examples "$MAX_EXAMPLES" \
        --max-time "$MAX_TIME" \
        --request-timeout 10 \
        --workers "$WORKERS" \
        --generation-database none \
        --header "Authorization: Bearer $TOKEN" \
        --report junit --report-dir . \
        --no-color \
        "${seed_args[@]}") >"$out" 2>&1 &
    # In the background and waited for, so that an interruption reaches the trap at once.
    fuzz_pid=$!
    wait "$fuzz_pid" || status=$?
    fuzz_pid=
    return "$status"
}

echo "api-fuzz: $RUNS runs at once, schemathesis $SCHEMATHESIS_VERSION, every check, ≤ $MAX_EXAMPLES examples, ≤ ${MAX_TIME}s each, $WORKERS workers each"
mkdir -p "$REPORT_DIR"
port=$PORT
for run in $(seq 0 $((RUNS - 1))); do
    (fuzz_run "$run" "$port") &
    RUN_PIDS+=($!)
    port=$(free_port $((port + 1)))
    while [[ $port == "$KEYS_PORT" ]]; do port=$(free_port $((port + 1))); done
done
# Each run's output in turn, with Spin's log where it failed; then the cases of all runs.
status=0
total=0
for run in $(seq 0 $((RUNS - 1))); do
    run_status=0
    wait "${RUN_PIDS[$run]}" || run_status=$?
    state="$STATE_DIR/run-$run"
    echo "==> api-fuzz run $run"
    cat "$state/schemathesis.log" 2>/dev/null || true
    if [[ $run_status -ne 0 ]]; then
        echo "api-fuzz run $run: failed (exit $run_status); Spin's log:" >&2
        tail -n 50 "$state/spin.log" >&2 || true
        status=1
    fi
    n=$(grep -oE '^  [0-9]+ generated' "$state/schemathesis.log" 2>/dev/null | grep -oE '[0-9]+' || echo 0)
    total=$((total + n))
done
RUN_PIDS=()
echo "api-fuzz: $total test cases generated by $RUNS runs"
exit "$status"
