#!/usr/bin/env bash
# Real-Spin benchmark of the edge topology (docs/deployment.md), all on 127.0.0.1:
#   - edge verification throughput by store, in alternating rounds of one run: a whole-app
#     node on Spin's default SQLite key-value store; an edge (`spin up -c verify-key -c kv-proxy`) on
#     Redis through Spin's key-value API; an edge on Redis with `kv_backend = redis`;
#   - the rebuild's time for N keys (default 100,000) written straight into the admin
#     node's SQLite file, into Redis.
# Starts its own redis-server and Spin processes and stops them by the PIDs it started.
# Not part of scripts/test.sh or CI (a few minutes; figures mean something only on an idle
# machine). Usage:
#   scripts/bench-edge.sh [--rounds N] [--secs S] [--keys N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

rounds=3 secs=3 keys=100000
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift ;;
        --secs) secs=$2; shift ;;
        --keys) keys=$2; shift ;;
        *) echo "usage: $0 [--rounds N] [--secs S] [--keys N]" >&2; exit 2 ;;
    esac
    shift
done

if ! command -v wrk >/dev/null 2>&1; then
    echo "==> installing wrk (apt-get)"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
spin=$(scripts/ensure-spin.sh)
redis_server=$(scripts/ensure-redis.sh)
scripts/build-components.sh >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 1200); do curl -sf -o /dev/null "$1/.well-known/spin/health" && return; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

redis_port=$(free_port)
setsid "$redis_server" --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
printf '[key_value_store.default]\ntype = "redis"\nurl = "redis://127.0.0.1:%s"\n' "$redis_port" >"$work/redis.toml"

secret=bench-identity-secret
token=$(cargo run -q --locked -p keys-domain --example mint_token -- "$secret" bench-admin "Bench" 600)

# node NAME BACKEND [spin up arguments...]: starts a node (state in $work/NAME, or $STATE),
# sets $base_NAME.
node() {
    local name=$1 backend=$2; shift 2
    local port state=${STATE:-$work/$name}
    port=$(free_port)
    mkdir -p "$state"
    setsid "$spin" up --from spin.toml --listen "127.0.0.1:$port" --state-dir "$state" \
        --variable "identity_token_secret=$secret" --variable "kv_backend=$backend" \
        --variable "redis_host=127.0.0.1:$redis_port" "$@" >"$work/$name.log" 2>&1 &
    pids+=($!)
    wait_http "http://127.0.0.1:$port"
    printf -v "base_${name//-/_}" '%s' "http://127.0.0.1:$port"
}
node single spin
node admin spin -c manage-keys -c manage-permissions -c key-usage -c rebuild-records -c identity -c admin-ui --runtime-config-file "$work/redis.toml"
node edge-spin-kv spin -c verify-key -c kv-proxy --runtime-config-file "$work/redis.toml"
node edge-direct redis -c verify-key -c kv-proxy --runtime-config-file "$work/redis.toml"

api() { curl -sf -X "$2" "$1/api/v1$3" -H "authorization: Bearer $token" -H 'content-type: application/json' ${4:+-d "$4"}; }
new_key() { api "$1" POST /keys '{"label":"Bench","methods":["employees.read","absences.*"],"companies":"all"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'; }
key_single=$(new_key "$base_single")
key_redis=$(new_key "$base_admin")

cat >"$work/verify.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY")
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %d %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status))
end
LUA
# run BASE KEY CONNECTIONS -> "rps p50 p99 errors"
run() {
    local threads=2; [ "$3" = 1 ] && threads=1
    BENCH_BODY="{\"key\":\"$2\",\"method\":\"employees.read\",\"company\":\"ACME\"}" \
        wrk -t"$threads" -c"$3" -d"${secs}s" -s "$work/verify.lua" "$1/api/v1/verify" | awk '/^RESULT/ {print $2, $3, $4, $5}'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

names=(sqlite-default redis-spin-kv redis-direct)
declare -A base=([sqlite-default]=$base_single [redis-spin-kv]=$base_edge_spin_kv [redis-direct]=$base_edge_direct)
declare -A key=([sqlite-default]=$key_single [redis-spin-kv]=$key_redis [redis-direct]=$key_redis)
for n in "${names[@]}"; do
    answer=$(curl -sf -X POST "${base[$n]}/api/v1/verify" -H "content-type: application/json" -d "{\"key\":\"${key[$n]}\"}")
    [[ $answer == *'"VALID"'* ]] || { echo "$n does not verify: $answer" >&2; exit 1; }
    secs=1 run "${base[$n]}" "${key[$n]}" 4 >/dev/null
done

echo "==> machine: $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $("$spin" --version); $("$redis_server" --version | cut -d' ' -f1-3)"
echo "==> POST /api/v1/verify (VALID), $rounds rounds of ${secs}s, wrk over keep-alive"
declare -A rps=() p50=() p99=() p50c1=() errs=() ratio=()
for r in $(seq 1 "$rounds"); do
    for n in "${names[@]}"; do
        read -r s_rps s_p50 s_p99 s_err <<<"$(run "${base[$n]}" "${key[$n]}" 16)"
        read -r _ c_p50 _ _ <<<"$(run "${base[$n]}" "${key[$n]}" 1)"
        rps[$n]+="$s_rps "; p50[$n]+="$s_p50 "; p99[$n]+="$s_p99 "; p50c1[$n]+="$c_p50 "; errs[$n]+="$s_err "
        [ "$n" = sqlite-default ] && round_sqlite=$s_rps
        ratio[$n]+="$(awk -v a="$s_rps" -v b="$round_sqlite" 'BEGIN{printf "%.3f", a/b}') "
    done
done
m() { tr ' ' '\n' <<<"$1" | grep . | median; }
printf '%-16s %10s %16s %9s %9s %9s %7s\n' store "req/s@16" "ratio to sqlite" "p50@16" "p99@16" "p50@1" errors
for n in "${names[@]}"; do
    printf '%-16s %10s %16s %9s %9s %9s %7s\n' "$n" "$(m "${rps[$n]}")" "$(m "${ratio[$n]}")" \
        "$(m "${p50[$n]}")us" "$(m "${p99[$n]}")us" "$(m "${p50c1[$n]}")us" \
        "$(tr ' ' '\n' <<<"${errs[$n]}" | grep . | awk '{s+=$1} END {print s+0}')"
done

echo "==> rebuild of $keys keys into Redis (admin node; every record rewritten, every key listed)"
kill -TERM -- "-${pids[2]}" 2>/dev/null || true
wait "${pids[2]}" 2>/dev/null || true
python3 - "$work/admin/sqlite_db.db" "$keys" <<'EOF'
import hashlib, sqlite3, sys, time
db, n, now = sqlite3.connect(sys.argv[1]), int(sys.argv[2]), int(time.time())
db.executemany(
    "INSERT INTO api_keys (id, label, hint, status, methods, companies, metadata, expires_at, "
    "created_at, created_by_id, created_by_name, updated_at) VALUES (?, ?, 'ingk_...bnch', 'active', "
    "'[\"employees.read\",\"absences.*\"]', '[\"ACME\"]', NULL, NULL, ?, 'bench', 'Bench', ?)",
    ((f"key_bench{i:07d}", f"Bench {i}", now, now) for i in range(n)))
db.executemany(
    "INSERT INTO key_secrets (hash, key_id, created_at, valid_until) VALUES (?, ?, ?, NULL)",
    ((hashlib.sha256(f"bench-{i}".encode()).hexdigest(), f"key_bench{i:07d}", now) for i in range(n)))
db.commit()
EOF
# rebuild NAME BACKEND: starts an admin node on the filled database, times the rebuild.
rebuild() {
    STATE=$work/admin node "$1" "$2" -c manage-keys -c manage-permissions -c key-usage -c rebuild-records -c identity -c admin-ui \
        --runtime-config-file "$work/redis.toml"
    local base_var="base_$1" started finished report
    started=$(date +%s.%N)
    report=$(curl -s -m 600 -X POST "${!base_var}/api/v1/verification-records/rebuild" -H "authorization: Bearer $token")
    finished=$(date +%s.%N)
    awk -v a="$started" -v b="$finished" -v n="$keys" -v r="$report" -v how="$3" \
        'BEGIN {printf "rebuild, %s: %.2f s for %d keys (%.0f keys/s): %s\n", how, b - a, n, n / (b - a), r}'
    kill -TERM -- "-${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
}
rebuild admin2 spin "Spin's key-value API"
rebuild admin3 redis "kv_backend = redis"
echo "redis entries: $(redis-cli -p "$redis_port" dbsize 2>/dev/null || echo "(redis-cli missing)")"
