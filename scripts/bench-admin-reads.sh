#!/usr/bin/env bash
# Real-Spin benchmark of the admin reads an administrator's screen makes most: `GET /keys`
# (a page of N keys, each with its `requests_24h` and `last_used_at`) and `GET /keys/{id}`,
# for the app as it was at BASE_REV (built from git into target/bench-base) and as it is,
# each on its own `spin up` (selective deployment: manage-keys, identity, verify-key).
# Every key is verified a few times first, so that the usage counters and last-use entries
# the list reads exist. Measured with Debian's wrk on one keep-alive connection on 127.0.0.1
# (like the screen, and like the keep-alive test), in alternating rounds of one run; prints
# the median over rounds of each round's p50, p99 and req/s.
#
# Not part of scripts/test.sh or CI (figures mean something only on an otherwise idle
# machine). Usage:
#   scripts/bench-admin-reads.sh [--keys N] [--rounds R] [--secs S]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The last commit before the key list counted each key's requests of the last 24 hours.
BASE_REV=${BASE_REV:-fab3cf2}

keys=20 rounds=5 secs=3
while [ $# -gt 0 ]; do
    case "$1" in
        --keys) keys=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        --secs) secs=$2; shift ;;
        *) echo "usage: $0 [--keys N] [--rounds R] [--secs S]" >&2; exit 2 ;;
    esac
    shift
done

if ! command -v wrk >/dev/null 2>&1; then
    echo "==> installing wrk (apt-get)"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
spin=$(scripts/ensure-spin.sh)
scripts/build-components.sh >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    git worktree remove --force "$work/base" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "==> building $BASE_REV (manage-keys, identity, verify-key) into target/bench-base"
git worktree add -q --detach "$work/base" "$BASE_REV"
(cd "$work/base" && CARGO_TARGET_DIR="$root/target/bench-base" \
    cargo build -q --locked --target wasm32-wasip2 --release -p manage-keys -p identity -p verify-key)
sed "s#^source = \"target/#source = \"$root/target/bench-base/#" "$work/base/spin.toml" > "$work/before.toml"
sed "s#^source = \"target/#source = \"$root/target/#" spin.toml > "$work/now.toml"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secret=bench-identity-secret
token=$(cargo run -q --locked -p keys-domain --example mint_token -- "$secret" bench-admin "Bench" 600)

start_app() { # name manifest -> sets port_<name>
    local port proxy=()
    # Builds since the edge hang fix chain verify-key's increments to kv-proxy.
    if grep -q '^\[component.kv-proxy\]' "$2"; then proxy=(-c kv-proxy); fi
    port=$(free_port)
    mkdir -p "$work/$1-state"
    setsid "$spin" up --from "$2" --listen "127.0.0.1:$port" --state-dir "$work/$1-state" \
        -c manage-keys -c identity -c verify-key "${proxy[@]}" \
        --variable "identity_token_secret=$secret" >"$work/$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 1200); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/.well-known/spin/health" && break
        sleep 0.1
    done
    eval "port_$1=$port"
}
start_app before "$work/before.toml"
start_app now "$work/now.toml"

# Creates the keys and verifies each 3 times; prints the last key's id.
populate() { # port
    local id="" created secret
    for i in $(seq 1 "$keys"); do
        created=$(curl -sf -X POST "http://127.0.0.1:$1/api/v1/keys" -H "authorization: Bearer $token" \
            -H 'content-type: application/json' -d "{\"label\":\"Bench $i\",\"methods\":[\"employees.read\"]}")
        id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$created")
        secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])' <<<"$created")
        for _ in 1 2 3; do
            curl -sf -o /dev/null -X POST "http://127.0.0.1:$1/api/v1/verify" \
                -H 'content-type: application/json' -d "{\"key\":\"$secret\",\"method\":\"employees.read\"}"
        done
    done
    echo "$id"
}
id_before=$(populate "$port_before")
id_now=$(populate "$port_now")
sleep 1 # the usage batches are written 500 ms after their first verification

write_lua() { # name path
    cat > "$work/$1.lua" <<LUA
wrk.path = "$2"
wrk.headers["authorization"] = "Bearer $token"
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %d %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
    + summary.errors.status))
end
LUA
}
write_lua list /api/v1/keys
write_lua before-one "/api/v1/keys/$id_before"
write_lua now-one "/api/v1/keys/$id_now"

# One wrk run on one connection: "rps p50 p99 errors" (errors: socket errors and non-2xx).
run_wrk() { # script port
    wrk -t1 -c1 -d"${secs}s" -s "$work/$1.lua" "http://127.0.0.1:$2" | awk '/^RESULT/ {print $2, $3, $4, $5}'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# scenario = build:route; each round runs every scenario once, in this order.
scenarios=(before:list now:list before:one now:one)
echo "==> machine: $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $("$spin" --version)"
echo "==> $keys keys per app; $rounds rounds of ${secs}s; wrk -t1 -c1 (one keep-alive connection)"
declare -A rps=() p50=() p99=() errs=()
for _ in $(seq 1 "$rounds"); do
    for s in "${scenarios[@]}"; do
        build=${s%%:*} route=${s##*:}
        port=$([ "$build" = before ] && echo "$port_before" || echo "$port_now")
        script=$([ "$route" = list ] && echo list || echo "$build-one")
        read -r s_rps s_p50 s_p99 s_err <<<"$(run_wrk "$script" "$port")"
        rps[$s]+="$s_rps "; p50[$s]+="$s_p50 "; p99[$s]+="$s_p99 "; errs[$s]+="$s_err "
    done
done
m() { tr ' ' '\n' <<<"$1" | grep . | median; }
printf '%-22s %9s %9s %9s %7s\n' "build, route" "req/s" "p50" "p99" errors
for s in "${scenarios[@]}"; do
    label="${s%%:*}, $([ "${s##*:}" = list ] && echo "GET /keys" || echo "GET /keys/{id}")"
    printf '%-22s %9s %9s %9s %7s\n' "$label" "$(m "${rps[$s]}")" "$(m "${p50[$s]}")us" \
        "$(m "${p99[$s]}")us" "$(tr ' ' '\n' <<<"${errs[$s]}" | grep . | awk '{s+=$1} END {print s+0}')"
done
echo "(before = $BASE_REV; medians over rounds)"
