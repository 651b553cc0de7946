#!/usr/bin/env bash
# Scale benchmark (issue 15, point 7): the same measurements on a small PostgreSQL database
# and after seeding it to a Land's size (bench/seed_scale.sql: by default 1,000,000 accounts
# with pairwise subjects, 100,000 clients, 10,000,000 mailbox messages). Measures, with wrk
# on loopback for DUR seconds each: the login page, the SSO round trip, client_credentials,
# the citizen's inbox page and a 10 KB send; and the server's resident memory. JSON lines.
#
#   bench/scale.sh [DURATION_SECONDS]          (default 10)
#   SCALE_ACCOUNTS / SCALE_CLIENTS / SCALE_MESSAGES   seed sizes
#   BENCH_BIN=PATH                             another build
#   SCALE_REUSE=1   measure again on the seeded bk_scale (after VACUUM and CHECKPOINT), with
#                   a tenant, systems and citizen of its own, without seeding
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379;
# drops and recreates the database bk_scale. Seeding 10M messages takes a while and ~15 GB.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/buergerkonto-target}"
WORK=$(mktemp -d /tmp/bk-scale.XXXXXX)
ADDR=127.0.0.1:3500
PG=postgres://postgres@127.0.0.1:5432
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -n "${BENCH_BIN:-}" ]; then BIN="$BENCH_BIN"; else
  cargo build --release --quiet
  BIN="$CARGO_TARGET_DIR/release/buergerkonto"
fi
REUSE=${SCALE_REUSE:-}
if [ -z "$REUSE" ]; then
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS bk_scale" && psql "$PG/postgres" -qc "CREATE DATABASE bk_scale"
fi
export BUERGERKONTO_LISTEN=$ADDR BUERGERKONTO_ISSUER=http://$ADDR
# The database on this host: no TLS on loopback (docs/performance.md).
export BUERGERKONTO_DATABASE_URL="$PG/bk_scale?sslmode=disable" BUERGERKONTO_REDIS_URL=redis://127.0.0.1:6379
export BUERGERKONTO_REDIS_PREFIX="scale-$$:"
export BUERGERKONTO_KEYS_DIR="$WORK/keys" BUERGERKONTO_OUTBOX_DIR="$WORK/outbox"
export BUERGERKONTO_TOKEN_TTL_SECS=3600 BUERGERKONTO_SESSION_TTL_SECS=28800
"$BIN" migrate >/dev/null
json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
SLUG=scale-$$
TENANT=$("$BIN" tenant add --slug "$SLUG" --name "Landkreis Skala")
PORTAL=$("$BIN" client add --tenant "$SLUG" --name Portal --redirect-uri http://127.0.0.1:3501/cb --scope openid --scope email --scope mailbox.read)
AUTH=$("$BIN" client add --tenant "$SLUG" --name Fachverfahren --scope mailbox.send)
EMAIL=bench-$$@example.org PW='ein langes Passwort'
printf '%s' "$PW" | "$BIN" user add --email "$EMAIL" --password-stdin >/dev/null
RUST_LOG=warn "$BIN" serve > "$WORK/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -fs "http://$ADDR/readyz" >/dev/null && break; sleep 0.1; done
# (assigned first, so that a failed setup stops the script)
setup=$(python3 bench/mailbox_setup.py "http://$ADDR" "$(json "$PORTAL" client_id)" "$(json "$PORTAL" client_secret)" \
  http://127.0.0.1:3501/cb "$(json "$AUTH" client_id)" "$(json "$AUTH" client_secret)" "$EMAIL" "$PW")
eval "$setup"
setup=$(python3 bench/sso_setup.py ours "http://$ADDR" "$(json "$PORTAL" client_id)" http://127.0.0.1:3501/cb "$EMAIL" "$PW")
eval "$setup"
export BK_COOKIE BK_AUTHORITY_TOKEN SSO_BASIC
SSO_BASIC=$(printf '%s:%s' "$(json "$PORTAL" client_id)" "$(json "$PORTAL" client_secret)" | base64 -w0)
export CC_BASIC=$(printf '%s:%s' "$(json "$AUTH" client_id)" "$(json "$AUTH" client_secret)" | base64 -w0)
export BK_MESSAGE_FILE="$WORK/message.json"
python3 - "$BK_SUB" > "$BK_MESSAGE_FILE" <<'PY'
import json, sys
body = ("Sehr geehrte Bürgerin, sehr geehrter Bürger,\n" + "Ihr Antrag wird bearbeitet. " * 400)[:10240]
print(json.dumps({"recipient_sub": sys.argv[1], "subject": "Bescheid", "body": body, "reply_allowed": True}))
PY
# The citizen's own mailbox: 200 messages in both phases.
for _ in $(seq 200); do
  curl -fs -o /dev/null -H "Authorization: Bearer $BK_AUTHORITY_TOKEN" -H 'Content-Type: application/json' \
    --data-binary "@$BK_MESSAGE_FILE" "http://$ADDR/api/v1/mailbox/messages"
done
SHARED=../shared/bench/loadtest
measure() { # measure PHASE
  local p=$1
  wrk -t1 -c16 -d"${DUR}s" --latency -s "$SHARED/get.lua" "http://$ADDR/login" | python3 bench/wrk_json.py "${p}_login_page_c16"
  wrk -t1 -c16 -d"${DUR}s" --latency -s bench/sso.lua "http://$ADDR/" | python3 bench/wrk_json.py "${p}_sso_round_trip_c16"
  wrk -t1 -c16 -d"${DUR}s" --latency -s "$SHARED/token_cc.lua" "http://$ADDR/token" | python3 bench/wrk_json.py "${p}_client_credentials_c16"
  wrk -t1 -c8 -d"${DUR}s" --latency -s bench/mailbox_get.lua "http://$ADDR/postfach" | python3 bench/wrk_json.py "${p}_inbox_page_c8"
  wrk -t1 -c16 -d"${DUR}s" --latency -s bench/mailbox_send.lua "http://$ADDR/api/v1/mailbox/messages" | python3 bench/wrk_json.py "${p}_send_10kb_c16"
  echo "{\"bench\":\"${p}_memory\",\"rss_kib\":$(awk '/VmRSS/ {print $2}' /proc/$pid/status),\"peak_rss_kib\":$(awk '/VmHWM/ {print $2}' /proc/$pid/status)}"
}
if [ -n "$REUSE" ]; then
  # Freshly seeded tables keep autovacuum and the checkpointer busy for a while: settle first.
  psql "$PG/bk_scale" -qc "VACUUM (ANALYZE)" && psql "$PG/bk_scale" -qc "CHECKPOINT"
  measure large 2>/dev/null
  exit 0
fi
measure small 2>/dev/null
t0=$(date +%s)
psql "$PG/bk_scale" -q -v accounts="${SCALE_ACCOUNTS:-1000000}" -v clients="${SCALE_CLIENTS:-100000}" \
  -v messages="${SCALE_MESSAGES:-10000000}" -v tenant="$(json "$TENANT" id)" \
  -v authority="$(json "$AUTH" client_id)" -v hash_from="$EMAIL" -f bench/seed_scale.sql >&2
psql "$PG/bk_scale" -qc "VACUUM (ANALYZE)" && psql "$PG/bk_scale" -qc "CHECKPOINT"
echo "{\"bench\":\"seeded\",\"seconds\":$(( $(date +%s) - t0 )),\"accounts\":$(psql "$PG/bk_scale" -Atc 'SELECT count(*) FROM accounts'),\"clients\":$(psql "$PG/bk_scale" -Atc 'SELECT count(*) FROM clients'),\"messages\":$(psql "$PG/bk_scale" -Atc 'SELECT count(*) FROM mailbox_messages'),\"database\":\"$(psql "$PG/bk_scale" -Atc "SELECT pg_size_pretty(pg_database_size('bk_scale'))")\"}"
measure large 2>/dev/null
