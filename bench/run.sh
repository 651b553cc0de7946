#!/usr/bin/env bash
# Side-by-side benchmark: our release build against the peer provider (node-oidc-provider from
# ../shared/bench/node-oidc-provider), in one run, on loopback, with wrk through the shared
# driver (../shared/bench/loadtest/bench.py). Writes JSON lines and prints the ratios table
# that docs/performance.md quotes.
#
#   bench/run.sh [RUNS] [DURATION_SECONDS]       (defaults: 3 runs of 10 s per point)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
DUR=${2:-10}
SHARED=$(cd ../shared/bench && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/buergerkonto-target}"
WORK=$(mktemp -d /tmp/bk-bench.XXXXXX)
OUT="$WORK/results.jsonl"
OURS=127.0.0.1:3200
PEER=127.0.0.1:3100
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/buergerkonto"

# --- our server, embedded defaults in a scratch folder
export BUERGERKONTO_LISTEN=$OURS BUERGERKONTO_ISSUER=http://$OURS
export BUERGERKONTO_DATABASE_URL="sqlite://$WORK/ours/db.sqlite" BUERGERKONTO_KEYS_DIR="$WORK/ours/keys" BUERGERKONTO_OUTBOX_DIR="$WORK/ours/outbox"
mkdir -p "$WORK/ours"
"$BIN" tenant add --slug bench --name Bench >/dev/null
CC=$("$BIN" client add --tenant bench --name bench-cc --scope api:read --scope api:write)
WEB=$("$BIN" client add --tenant bench --name bench-web --redirect-uri http://127.0.0.1:3101/cb)
WEB_ES=$("$BIN" client add --tenant bench --name bench-web-es --redirect-uri http://127.0.0.1:3101/cb --id-token-alg ES256)
printf 'ein langes Passwort' | "$BIN" user add --email bench@example.org --password-stdin >/dev/null
json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
RUST_LOG=warn "$BIN" serve > "$WORK/ours.log" 2>&1 &
OURS_PID=$!; pids+=("$OURS_PID")

# --- the peer, copied out of the read-only shared folder
cp -r "$SHARED/node-oidc-provider" "$WORK/peer"
# The peer's copy gets a second browser client whose ID tokens are ES256 (its JWKS has a P-256
# key already), so that both sides are measured with the same signature algorithm too.
python3 - "$WORK/peer/server.js" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
anchor = "  ],\n  jwks: { keys: keys.keys },"
assert anchor in s, "peer server.js changed: the clients array is not where it was"
es = """    {
      client_id: 'bench-web-es',
      client_secret: 'bench-web-es-secret-0123456789abcdef0123456789abcdef',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1:3101/cb'],
      scope: 'openid profile email offline_access api:read',
      id_token_signed_response_alg: 'ES256',
    },
"""
open(p, "w").write(s.replace(anchor, es + anchor, 1))
PY
(cd "$WORK/peer" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1)
(cd "$WORK/peer" && NODE_ENV=production KEYS_FILE="$WORK/peer/keys.json" exec node server.js > "$WORK/peer.log" 2>&1) &
PEER_PID=$!; pids+=("$PEER_PID")
for _ in $(seq 1 60); do
  curl -fs "http://$OURS/readyz" >/dev/null 2>&1 && curl -fs "http://$PEER/.well-known/openid-configuration" >/dev/null 2>&1 && break
  sleep 0.5
done
PEER_PID=$(pgrep -f "node server.js" -n)

idle() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
echo "{\"label\":\"idle\",\"ours_rss_kib\":$(idle "$OURS_PID"),\"peer_rss_kib\":$(idle "$PEER_PID")}" >> "$OUT"

B="python3 $SHARED/loadtest/bench.py --runs $RUNS --duration $DUR --out $OUT --conc 16,64 --threads 2"
# BENCH_ONLY=sso measures only the SSO round trips (RS256 and ES256 ID tokens).
if [ "${BENCH_ONLY:-}" != sso ]; then
# client_credentials, ES256 JWT access tokens on both sides
export CC_SCOPE='api:read api:write'
CC_BASIC=$(printf '%s:%s' "$(json "$CC" client_id)" "$(json "$CC" client_secret)" | base64 -w0) \
  $B --label ours-cc --pid "$OURS_PID" --url "http://$OURS/token" --script token_cc.lua
CC_BASIC=$(printf 'bench-cc:bench-cc-secret-0123456789abcdef0123456789abcdef' | base64 -w0) \
  $B --label peer-cc --pid "$PEER_PID" --url "http://$PEER/token" --script token_cc.lua
# discovery and JWKS
$B --label ours-discovery --pid "$OURS_PID" --url "http://$OURS/.well-known/openid-configuration" --script get.lua
$B --label peer-discovery --pid "$PEER_PID" --url "http://$PEER/.well-known/openid-configuration" --script get.lua
$B --label ours-jwks --pid "$OURS_PID" --url "http://$OURS/jwks.json" --script get.lua
$B --label peer-jwks --pid "$PEER_PID" --url "http://$PEER/jwks" --script get.lua
fi
# SSO round trip: authorize with an existing session -> code -> token (two requests per round).
# First with RS256 ID tokens (OpenID Connect's default for a client that names none), then
# with ES256 ID tokens on both sides.
SSO="$(pwd)/bench/sso.lua"
eval "$(python3 bench/sso_setup.py ours "http://$OURS" "$(json "$WEB" client_id)" http://127.0.0.1:3101/cb bench@example.org 'ein langes Passwort')"
SSO_BASIC=$(printf '%s:%s' "$(json "$WEB" client_id)" "$(json "$WEB" client_secret)" | base64 -w0) \
  $B --label ours-sso --pid "$OURS_PID" --url "http://$OURS/" --script "$SSO"
eval "$(python3 bench/sso_setup.py peer "http://$PEER" bench-web http://127.0.0.1:3101/cb)"
SSO_BASIC=$(printf 'bench-web:bench-web-secret-0123456789abcdef0123456789abcdef' | base64 -w0) \
  $B --label peer-sso --pid "$PEER_PID" --url "http://$PEER/" --script "$SSO"
eval "$(python3 bench/sso_setup.py ours "http://$OURS" "$(json "$WEB_ES" client_id)" http://127.0.0.1:3101/cb bench@example.org 'ein langes Passwort')"
SSO_BASIC=$(printf '%s:%s' "$(json "$WEB_ES" client_id)" "$(json "$WEB_ES" client_secret)" | base64 -w0) \
  $B --label ours-sso-es --pid "$OURS_PID" --url "http://$OURS/" --script "$SSO"
eval "$(python3 bench/sso_setup.py peer "http://$PEER" bench-web-es http://127.0.0.1:3101/cb)"
SSO_BASIC=$(printf 'bench-web-es:bench-web-es-secret-0123456789abcdef0123456789abcdef' | base64 -w0) \
  $B --label peer-sso-es --pid "$PEER_PID" --url "http://$PEER/" --script "$SSO"

echo "{\"label\":\"after\",\"ours_rss_kib\":$(idle "$OURS_PID"),\"peer_rss_kib\":$(idle "$PEER_PID")}" >> "$OUT"
cp "$OUT" bench/last-results.jsonl
python3 bench/summarize.py "$OUT"
