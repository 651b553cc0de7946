#!/usr/bin/env bash
# Mailbox benchmark (issue "Secure mailbox"): messages sent per second with a 10 KB body, and
# the inbox listing's latency with 10,000 messages in one mailbox. Our release build on the
# embedded default (SQLite, in-process store), or on PostgreSQL + Redis with
# BENCH_DATABASE_URL / BENCH_REDIS_URL. wrk on loopback; prints JSON lines.
#
#   bench/mailbox.sh [DURATION_SECONDS]     (default 10)
#   BENCH_ONLY=send   only the sends (single at c16, then bulk), without filling the mailbox
#   BENCH_BIN=PATH    another build of buergerkonto (a before/after pair)
#   (PostgreSQL on this host: add ?sslmode=disable or use the socket, and set the database's
#   backend_flush_after = 256kB, else a checkpoint stalls commits: see docs/performance.md)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/buergerkonto-target}"
WORK=$(mktemp -d /tmp/bk-mailbench.XXXXXX)
ADDR=127.0.0.1:3300
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; }
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
export BUERGERKONTO_TOKEN_TTL_SECS=3600 BUERGERKONTO_SESSION_TTL_SECS=7200
"$BIN" migrate >/dev/null
"$BIN" tenant add --slug bench-$$ --name "Gemeinde Bench" >/dev/null
json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
PORTAL=$("$BIN" client add --tenant bench-$$ --name Portal --redirect-uri http://127.0.0.1:3301/cb --scope openid --scope mailbox.read)
AUTH=$("$BIN" client add --tenant bench-$$ --name Fachverfahren --scope mailbox.send)
EMAIL="bench-$$@example.org"
printf 'ein langes Passwort' | "$BIN" user add --email "$EMAIL" --password-stdin >/dev/null
RUST_LOG=${BENCH_LOG:-warn} "$BIN" serve > "$WORK/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -fs "http://$ADDR/healthz" >/dev/null && break; sleep 0.1; done
eval "$(python3 bench/mailbox_setup.py "http://$ADDR" "$(json "$PORTAL" client_id)" "$(json "$PORTAL" client_secret)" \
  http://127.0.0.1:3301/cb "$(json "$AUTH" client_id)" "$(json "$AUTH" client_secret)" "$EMAIL" 'ein langes Passwort')"
export BK_COOKIE BK_AUTHORITY_TOKEN
# A 10 KB body (and a subject, a reference), the issue's benchmark message.
export BK_MESSAGE_FILE="$WORK/message.json"
python3 - "$BK_SUB" > "$BK_MESSAGE_FILE" <<'PY'
import json, sys
body = ("Sehr geehrte Bürgerin, sehr geehrter Bürger,\n" + "Ihr Antrag wird bearbeitet. " * 400)[:10240]
print(json.dumps({"recipient_sub": sys.argv[1], "subject": "Bescheid zu Ihrem Antrag", "body": body,
                  "reference": "32-1234/2026", "reply_allowed": True}))
PY

wrk_json() { python3 bench/wrk_json.py "$1"; }

if [ "${BENCH_ONLY:-}" != send ]; then
# 1. Fill the mailbox to 10,000 messages.
python3 - "http://$ADDR" <<'PY'
import concurrent.futures, json, os, sqlite3, sys, urllib.request
base = sys.argv[1]
db = os.environ.get("BUERGERKONTO_DATABASE_URL", "")
body = open(os.environ["BK_MESSAGE_FILE"], "rb").read()
def have():
    if db.startswith("sqlite://"):
        return sqlite3.connect(db[len("sqlite://"):]).execute("SELECT count(*) FROM mailbox_messages").fetchone()[0]
    import subprocess
    return int(subprocess.check_output(["psql", db, "-tAc", "SELECT count(*) FROM mailbox_messages"]).strip())
def send(_):
    req = urllib.request.Request(base + "/api/v1/mailbox/messages", data=body, headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + os.environ["BK_AUTHORITY_TOKEN"]})
    return urllib.request.urlopen(req).status
missing = 10000 - have()
if missing > 0:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(s == 201 for s in pool.map(send, range(missing)))
print(json.dumps({"bench": "mailbox_size", "messages": have()}), file=sys.stderr)
PY
# 2. Listing: the citizen's inbox page and the portal's JSON, with ~10,000 messages.
wrk -t2 -c8 -d"${DUR}s" --latency -s bench/mailbox_get.lua "http://$ADDR/postfach" | wrk_json inbox_page_10k_c8
BK_BEARER="$BK_PORTAL_TOKEN" wrk -t2 -c8 -d"${DUR}s" --latency -s bench/mailbox_get.lua "http://$ADDR/api/v1/mailbox/inbox" | BK_BEARER="$BK_PORTAL_TOKEN" wrk_json inbox_api_10k_c8
fi
# 3. Sending: c=16 for DUR seconds (the mailbox grows past 10,000 here).
wrk -t2 -c16 -d"${DUR}s" --latency -s bench/mailbox_send.lua "http://$ADDR/api/v1/mailbox/messages" | wrk_json send_10kb_c16
# 4. Bulk: one call with 1,000 recipients (the same citizen) and the 10 KB body, three times.
python3 - "http://$ADDR" <<'PY'
import json, os, sys, time, urllib.request
base = sys.argv[1]
m = json.load(open(os.environ["BK_MESSAGE_FILE"]))
sub = m.pop("recipient_sub")
body = json.dumps({"message": m, "recipients": [{"recipient_sub": sub} for _ in range(1000)]}).encode()
for run in range(3):
    t = time.monotonic()
    req = urllib.request.Request(base + "/api/v1/mailbox/bulk", data=body, headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + os.environ["BK_AUTHORITY_TOKEN"]})
    out = json.load(urllib.request.urlopen(req))
    secs = time.monotonic() - t
    assert out["sent"] == 1000, out
    print(json.dumps({"bench": "bulk_1000_10kb", "run": run, "seconds": round(secs, 3),
                      "messages_per_second": round(1000 / secs)}))
PY
echo "server log: $WORK/server.log" >&2
