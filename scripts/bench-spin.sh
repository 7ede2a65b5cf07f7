#!/usr/bin/env bash
# Real-Spin benchmark: the app and the `baseline` fixture (the cheapest possible component:
# instantiate, answer 204) served by ONE `spin up`, driven by Debian's wrk over keep-alive
# connections on 127.0.0.1, in alternating rounds (baseline, scenario, baseline, scenario…),
# so every ratio compares figures of the same run and the same Spin.
#
# For each scenario it prints the median over rounds of: requests/s at 16 connections and its
# ratio to the baseline of the same round; p50 and p99 latency at 16 connections and one
# request at a time (one connection). With `--nodelay` it runs everything again on the same
# Spin build plus TCP_NODELAY on accepted sockets (`spin-nodelay`, from install-spin.sh
# --nodelay), to show the component's own cost apart from Spin's socket handling.
#
# Not part of scripts/test.sh or CI (a few minutes; figures mean something only on an idle
# machine). Usage:
#   scripts/bench-spin.sh [--nodelay] [--rounds N] [--secs S]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

rounds=3 secs=3 nodelay=0
while [ $# -gt 0 ]; do
    case "$1" in
        --nodelay) nodelay=1 ;;
        --rounds) rounds=$2; shift ;;
        --secs) secs=$2; shift ;;
        *) echo "usage: $0 [--nodelay] [--rounds N] [--secs S]" >&2; exit 2 ;;
    esac
    shift
done

if ! command -v wrk >/dev/null 2>&1; then
    echo "==> installing wrk (apt-get)"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
spins=("$(scripts/ensure-spin.sh)")
if [ "$nodelay" = 1 ]; then
    tools=${SPIN_TOOLS_DIR:-$root/../shared/tools}
    spins+=("$("$tools/install-spin.sh" --nodelay "$root/.tools/bin")")
fi
scripts/build-components.sh >/dev/null

work=$(mktemp -d)
spin_pid=""
stop_spin() {
    if [ -n "$spin_pid" ]; then
        kill -TERM -- "-$spin_pid" 2>/dev/null || true
        wait "$spin_pid" 2>/dev/null || true
        spin_pid=""
    fi
}
trap 'stop_spin; rm -rf "$work"' EXIT

# The app's manifest with absolute sources, plus the baseline at /bench/baseline.
sed "s#^source = \"target/#source = \"$root/target/#" spin.toml > "$work/spin.toml"
cat >> "$work/spin.toml" <<EOF

[[trigger.http]]
route = "/bench/baseline"
component = "bench-baseline"

[component.bench-baseline]
source = "$root/target/wasm32-wasip2/release/baseline.wasm"
EOF

secret=bench-identity-secret
token=$(cargo run -q --locked -p keys-domain --example mint_token -- "$secret" bench-admin "Bench" 600)

# wrk's Lua for a scenario: its request, and a one-line result (rps, p50 and p99 in µs,
# requests, socket errors).
write_lua() { # name method path body [header...]
    local name=$1 method=$2 path=$3 body=$4; shift 4
    {
        echo "wrk.method = \"$method\""
        echo "wrk.path = \"$path\""
        if [ -n "$body" ]; then
            echo "wrk.body = [[$body]]"
            echo 'wrk.headers["content-type"] = "application/json"'
        fi
        for h in "$@"; do
            echo "wrk.headers[\"${h%%: *}\"] = \"${h#*: }\""
        done
        cat <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %d %d %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
    } > "$work/$name.lua"
}

# One wrk run: prints "rps p50 p99 requests socket_errors".
run_wrk() { # name connections
    local threads=2
    [ "$2" = 1 ] && threads=1
    wrk -t"$threads" -c"$2" -d"${secs}s" -s "$work/$1.lua" "$base" | awk '/^RESULT/ {print $2, $3, $4, $5, $6}'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

scenarios=(verify-valid verify-malformed verify-unknown authorize-valid authorize-malformed
           authorize-unknown admin-create admin-list)

echo "==> machine: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); load $(cut -d' ' -f1-3 /proc/loadavg)"
for spin in "${spins[@]}"; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    base="http://127.0.0.1:$port"
    rm -rf "$work/state"; mkdir -p "$work/state"
    setsid "$spin" up --from "$work/spin.toml" --listen "127.0.0.1:$port" --state-dir "$work/state" \
        --variable "identity_token_secret=$secret" >"$work/spin.log" 2>&1 &
    spin_pid=$!
    for _ in $(seq 1 1200); do
        curl -sf -o /dev/null "$base/.well-known/spin/health" && break
        sleep 0.1
    done
    api() { curl -sf -X "$1" "$base/api/v1$2" -H "authorization: Bearer $token" -H 'content-type: application/json' ${3:+-d "$3"}; }
    api PUT /companies/ACME '{"name":"Acme"}' >/dev/null
    valid=$(api POST /keys '{"label":"Bench","methods":["employees.read","absences.*"],"companies":["ACME"]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
    gone=$(api POST /keys '{"label":"Gone"}')
    unknown=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["key"])' "$gone")
    api DELETE "/keys/$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$gone")" >/dev/null || true
    malformed="${valid:0:10}$([ "${valid:10:1}" = A ] && echo B || echo A)${valid:11}"
    for i in $(seq 1 30); do api POST /keys "{\"label\":\"Listed $i\"}" >/dev/null; done

    write_lua baseline GET /bench/baseline ""
    write_lua verify-valid POST /api/v1/verify "{\"key\":\"$valid\",\"method\":\"employees.read\",\"company\":\"ACME\"}"
    write_lua verify-malformed POST /api/v1/verify "{\"key\":\"$malformed\",\"method\":\"employees.read\"}"
    write_lua verify-unknown POST /api/v1/verify "{\"key\":\"$unknown\",\"method\":\"employees.read\"}"
    write_lua authorize-valid GET /api/v1/authorize "" "x-api-key: $valid" "x-api-method: employees.read" "x-api-company: ACME"
    write_lua authorize-malformed GET /api/v1/authorize "" "x-api-key: $malformed" "x-api-method: employees.read"
    write_lua authorize-unknown GET /api/v1/authorize "" "x-api-key: $unknown" "x-api-method: employees.read"
    write_lua admin-create POST /api/v1/keys '{"label":"Bench load"}' "authorization: Bearer $token"
    write_lua admin-list GET "/api/v1/keys?limit=20" "" "authorization: Bearer $token"

    echo "==> $("$spin" --version) [$(basename "$spin")], $rounds rounds of ${secs}s per run, wrk over keep-alive"
    # Warm-up: every component compiled and instantiated once.
    for s in baseline "${scenarios[@]}"; do secs=1 run_wrk "$s" 4 >/dev/null; done
    declare -A rps=() ratio=() p50=() p99=() p50c1=() p99c1=() errs=()
    for r in $(seq 1 "$rounds"); do
        for s in "${scenarios[@]}"; do
            read -r b_rps _ <<<"$(run_wrk baseline 16)"
            read -r s_rps s_p50 s_p99 _ s_err <<<"$(run_wrk "$s" 16)"
            read -r _ c_p50 c_p99 _ _ <<<"$(run_wrk "$s" 1)"
            rps[$s]+="$s_rps "; ratio[$s]+="$(awk -v a="$s_rps" -v b="$b_rps" 'BEGIN{printf "%.3f", a/b}') "
            p50[$s]+="$s_p50 "; p99[$s]+="$s_p99 "; p50c1[$s]+="$c_p50 "; p99c1[$s]+="$c_p99 "
            errs[$s]+="$s_err "
            rps[baseline]+="$b_rps "
        done
        read -r _ c_p50 c_p99 _ _ <<<"$(run_wrk baseline 1)"
        p50c1[baseline]+="$c_p50 "; p99c1[baseline]+="$c_p99 "
    done
    printf '%-20s %10s %7s %9s %9s %9s %9s %6s\n' scenario "req/s@16" ratio "p50@16" "p99@16" "p50@1" "p99@1" errors
    printf '%-20s %10s %7s %9s %9s %9s %9s %6s\n' baseline "$(tr ' ' '\n' <<<"${rps[baseline]}" | grep . | median)" 1 - - \
        "$(tr ' ' '\n' <<<"${p50c1[baseline]}" | grep . | median)us" "$(tr ' ' '\n' <<<"${p99c1[baseline]}" | grep . | median)us" -
    for s in "${scenarios[@]}"; do
        m() { tr ' ' '\n' <<<"$1" | grep . | median; }
        printf '%-20s %10s %7s %9s %9s %9s %9s %6s\n' "$s" "$(m "${rps[$s]}")" "$(m "${ratio[$s]}")" \
            "$(m "${p50[$s]}")us" "$(m "${p99[$s]}")us" "$(m "${p50c1[$s]}")us" "$(m "${p99c1[$s]}")us" \
            "$(tr ' ' '\n' <<<"${errs[$s]}" | grep . | awk '{s+=$1} END {print s+0}')"
    done
    unset rps ratio p50 p99 p50c1 p99c1 errs
    stop_spin
done
