#!/usr/bin/env bash
# Overload benchmark (issue 15, point 3): client_credentials latency alone, then during a
# storm of 500 concurrent password logins (wrong passwords, so every one runs Argon2). Our
# release build on the embedded default, or PostgreSQL + Redis with BENCH_DATABASE_URL /
# BENCH_REDIS_URL. Prints JSON lines: the token endpoint's p50/p99 alone and in the storm,
# and how the storm's logins were answered (401 checked, 503 shed).
#
#   bench/storm.sh [DURATION_SECONDS]     (default 10)
#   BENCH_BIN=PATH   another build of buergerkonto (a before/after pair)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/buergerkonto-target}"
WORK=$(mktemp -d /tmp/bk-storm.XXXXXX)
ADDR=127.0.0.1:3400
pid=""; storm=""
cleanup() { for p in $pid $storm; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -n "${BENCH_BIN:-}" ]; then BIN="$BENCH_BIN"; else
  cargo build --release --quiet
  BIN="$CARGO_TARGET_DIR/release/buergerkonto"
fi
export BUERGERKONTO_LISTEN=$ADDR BUERGERKONTO_ISSUER=http://$ADDR
export BUERGERKONTO_DATABASE_URL="${BENCH_DATABASE_URL:-sqlite://$WORK/db.sqlite}"
[ -n "${BENCH_REDIS_URL:-}" ] && export BUERGERKONTO_REDIS_URL="$BENCH_REDIS_URL"
export BUERGERKONTO_KEYS_DIR="$WORK/keys" BUERGERKONTO_OUTBOX_DIR="$WORK/outbox"
# The storm comes from one address at one account: lift the failure limits so that only
# the overload shedding refuses (otherwise 429s would end the storm at once).
export BUERGERKONTO_LOGIN_MAX_FAILURES_PER_IP=1000000000 BUERGERKONTO_LOGIN_MAX_FAILURES_PER_ACCOUNT=1000000000
"$BIN" migrate >/dev/null
"$BIN" tenant add --slug storm-$$ --name "Gemeinde Sturm" >/dev/null
CC=$("$BIN" client add --tenant storm-$$ --name cc --scope mailbox.send)
export STORM_EMAIL="storm-$$@example.org"
printf 'ein langes Passwort' | "$BIN" user add --email "$STORM_EMAIL" --password-stdin >/dev/null
json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
export CC_BASIC=$(printf '%s:%s' "$(json "$CC" client_id)" "$(json "$CC" client_secret)" | base64 -w0)
RUST_LOG=${BENCH_LOG:-warn} "$BIN" serve > "$WORK/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -fs "http://$ADDR/readyz" >/dev/null && break; sleep 0.1; done
SHARED=../shared/bench/loadtest
cc() { wrk -t1 -c16 -d"${DUR}s" --latency -s "$SHARED/token_cc.lua" "http://$ADDR/token" | python3 bench/wrk_json.py "$1"; }

cc client_credentials_alone_c16
wrk -t1 -c500 -d"$((DUR + 4))s" --timeout 10s -s bench/login_storm.lua "http://$ADDR/login" > "$WORK/storm.txt" 2>&1 &
storm=$!
sleep 2
cc client_credentials_in_login_storm_c16
wait "$storm" || true
storm=""
python3 - "$WORK/storm.txt" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
sys.stderr.write(text)
counts = json.loads(re.search(r"STORM (\{.*\})", text).group(1))
lat = dict(re.findall(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M) and [("avg", re.search(r"^\s+Latency\s+(\S+)", text, re.M).group(1))])
print(json.dumps({"bench": "login_storm_c500", "answers_by_status": counts,
                  "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
                  "latency_avg": lat.get("avg")}))
PY
