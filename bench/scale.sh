#!/usr/bin/env bash
# Scale (issue 17): Valet with an empty store and a large one, on SQLite and PostgreSQL,
# beside the peer (node-oidc-provider from ../shared/peers) in the same window, and one
# table of ratios: Valet / peer, large / empty, PostgreSQL / SQLite; peak RSS; Valet's CPU
# per request outside the signature.
#
#   bench/scale.sh                         # SCALE=full: 1M refresh tokens, 100k users and
#                                          # grants, 10k applications (and 100k for Origin)
#   SCALE=small DURATION=3 bench/scale.sh  # 20k tokens, 2k users/grants, 1k/10k apps
#
# The large store is made with Valet's own code (`valet seed`: applications through the
# admin model, the rest through the store's inserts), never hand-written SQL. Scenarios, each
# `wrk -d DURATION` (bench/refresh.lua, the peers' token.lua and introspect.lua,
# bench/scale.lua): client_credentials without and with a registered SPA's `Origin` (also
# at 256 connections), introspection, UserInfo, the refresh grant (`api:read`, and `openid`
# with an RS256 ID token; also at 256 connections), rotation of 16 chains without an ID
# token, and the code round trip (bench/flows.py). Every answer must be 2xx and Valet's log
# free of errors, or the script fails saying which.
#
# Env: SCALE (full | small), DURATION (10 s), DATABASES ("sqlite postgres"), BENCH_POSTGRES
# (postgres://postgres@127.0.0.1:5432/postgres; a fresh database per store, dropped after),
# VALET_PORT (8283), PEER_PORT (3283), CARGO_TARGET_DIR.
# Needs: wrk, node + npm (the peer), curl, python3, openssl, psql.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
peers=${PEERS:-$(cd "$repo/../shared/peers" && pwd)}
scale=${SCALE:-full}
duration=${DURATION:-10}
databases=${DATABASES:-sqlite postgres}
bench_pg=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
vport=${VALET_PORT:-8283}
pport=${PEER_PORT:-3283}
# Valet refuses VALET_* variables it does not know: this one is the script's.
unset VALET_PORT
export PEER_DIR=${PEER_DIR:-/tmp/valet-peer-op-scale}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
case $scale in
  full) apps=10000 apps_many=100000 users=100000 grants=100000 tokens=1000000 revoked=100000 ;;
  small) apps=1000 apps_many=10000 users=2000 grants=2000 tokens=20000 revoked=2000 ;;
  *) echo "SCALE must be full or small" >&2; exit 1 ;;
esac
work=$(mktemp -d)
valet_pid=""
peer_pid=""
dbs_made=()
cleanup() {
  [ -n "$valet_pid" ] && kill "$valet_pid" 2>/dev/null || true
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null || true
  "$peers/peer-op" stop >/dev/null 2>&1 || true
  for db in "${dbs_made[@]}"; do
    psql "$bench_pg" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
# A failing step says why: the setup commands' and Valet's own messages.
trap 'echo "failed at line $LINENO" >&2; tail -20 "$work/setup.err" "$work"/*/valet.log 2>/dev/null >&2' ERR

for tool in wrk curl python3 openssl; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install -y $tool)" >&2; exit 1; }
done
(cd "$repo" && cargo build --release -q -p valet)
valet="$CARGO_TARGET_DIR/release/valet"
flows="python3 $here/flows.py"
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }
rss() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
cpu() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; } # utime + stime, ticks
results="$work/results.tsv"
: >"$results"

# The cost of the signatures, per core, on this machine: subtracted from Valet's CPU per
# request to give the CPU outside the crypto.
es256_us=$(openssl speed -seconds 1 ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {print 1e6 / $(NF-1)}')
rsa_sign_s=$(openssl speed -seconds 1 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $(NF-1)}')
printf 'crypto\t%s\t%s\n' "$es256_us" "$rsa_sign_s" >>"$results"

# wrk with a script; records req/s, p50, p99 and the requests; fails on any non-2xx.
run() { # label server url script threads connections [env...]
  local label=$1 server=$2 url=$3 script=$4 t=$5 c=$6; shift 6
  local out c0=0 c1=0
  [ "$server" = valet ] && c0=$(cpu "$valet_pid")
  out=$(env "$@" wrk -t"$t" -c"$c" -d"${duration}s" --latency -s "$script" "$url")
  [ "$server" = valet ] && c1=$(cpu "$valet_pid")
  local rps p50 p99 reqs non2xx bad
  rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(printf '%s\n' "$out" | sed -n 's/^EXTRA p50=\(.*\)ms/\1/p')
  p99=$(printf '%s\n' "$out" | sed -n 's/^EXTRA p99=\(.*\)ms/\1/p')
  reqs=$(printf '%s\n' "$out" | sed -n 's/^EXTRA requests=\([0-9]*\).*/\1/p')
  non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $5}')
  bad=$(printf '%s\n' "$out" | sed -n 's/^EXTRA .*non200=\([0-9]*\).*/\1/p')
  if [ -n "$non2xx" ] || [ "${bad:-0}" != 0 ]; then
    echo "$server $label ($store_label): non-2xx responses" >&2
    printf '%s\n' "$out" >&2
    exit 1
  fi
  printf 'wrk\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$store_label" "$label" \
    "$rps" "$p50" "$p99" "$reqs" "$((c1 - c0))" >>"$results"
}

# The peer: started once, measured in the same window as each Valet store.
"$peers/peer-op" start "$pport" >"$work/peer-op.out" 2>&1
peer_pid=$(pgrep -P "$(cat "$PEER_DIR/server.pid")" node || cat "$PEER_DIR/server.pid")
mkdir -p "$work/peer"
(cd "$work/peer" && $flows signin-peer peer.json "http://127.0.0.1:$pport")
peer_token=$(curl -s -u bench:bench-secret -d grant_type=client_credentials -d scope=api:read \
  -d resource=urn:example:opaque "http://127.0.0.1:$pport/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
peer_run() {
  local purl="http://127.0.0.1:$pport"
  run client_credentials peer "$purl/token" "$peers/token.lua" 2 16
  run introspection peer "$purl/token/introspection" "$peers/introspect.lua" 2 16 TOKEN="$peer_token"
  run refresh_openid peer "$purl/token" "$here/refresh.lua" 2 16 \
    AUTH="$(basic web web-secret)" TOKEN="$(field "$work/peer/peer.json" refresh_token)"
  run refresh_api peer "$purl/token" "$here/refresh.lua" 2 16 \
    AUTH="$(basic web web-secret)" TOKEN="$(field "$work/peer/peer.json" refresh_token_api)"
  printf 'rt\tpeer\t%s\t%s\n' "$store_label" "$($flows roundtrip "$work/peer/peer.json" web 300 50)" >>"$results"
}

# One Valet store: `database` (sqlite | postgres), `size` (empty | large | many: the large
# one with apps_many applications, for the Origin scenario only).
valet_run() { # database size
  local database=$1 size=$2 dir="$work/$1-$2"
  store_label="$database-$size"
  mkdir -p "$dir" && cd "$dir"
  export VALET_ISSUER="http://127.0.0.1:$vport" VALET_LISTEN="127.0.0.1:$vport"
  unset VALET_DATABASE VALET_MASTER_KEY
  if [ "$database" = postgres ]; then
    local db="valet_scale_$$_${size}"
    psql "$bench_pg" -qc "CREATE DATABASE $db" >/dev/null
    dbs_made+=("$db")
    export VALET_DATABASE="${bench_pg%/*}/$db"
    VALET_MASTER_KEY=$(openssl rand -hex 32)
    export VALET_MASTER_KEY
  fi
  local n_apps=$apps
  [ "$size" = many ] && n_apps=$apps_many
  if [ "$size" != empty ]; then
    "$valet" seed --apps "$n_apps" --users "$users" --grants "$grants" \
      --refresh-tokens "$tokens" --revoked "$revoked" 2>"$dir/seed.log" \
      || { echo "valet seed failed:" >&2; tail "$dir/seed.log" >&2; exit 1; }
  fi
  local password=bench-password-correct-horse redirect=http://127.0.0.1:8080/cb
  {
    printf '%s\n' "$password" | "$valet" user create --username alice --password-stdin >/dev/null
    "$valet" api create --audience https://api.example --scope "api:read=Read" >/dev/null
    "$valet" client create --name bench --profile service --scope api:read --json >svc.json
    "$valet" client create --name web --profile web --redirect-uri "$redirect" --json >web.json
    "$valet" client create --name web-api --profile web --redirect-uri "$redirect" --scope api:read --json >web-api.json
    "$valet" client create --name spa-api --profile spa --redirect-uri "$redirect" --scope api:read \
      --redirect-uri https://spa.bench.example/cb --json >spa-api.json
  } 2>>"$work/setup.err"
  VALET_LOG=warn "$valet" serve >"$dir/valet.log" 2>&1 &
  valet_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$vport/health/ready" >/dev/null && break; sleep 0.1; done
  kill -0 "$valet_pid" 2>/dev/null || { echo "Valet did not start:" >&2; cat "$dir/valet.log" >&2; exit 1; }
  local url="http://127.0.0.1:$vport"
  local svc_auth
  svc_auth=$(basic "$(field svc.json client_id)" "$(field svc.json client_secret)")
  local origin_env=(AUTH="$svc_auth" ORIGIN=https://spa.bench.example)
  if [ "$size" = many ]; then
    run cc_origin valet "$url/oauth2/token" "$here/scale.lua" 2 16 "${origin_env[@]}"
    run cc_origin_256 valet "$url/oauth2/token" "$here/scale.lua" 2 256 "${origin_env[@]}"
  else
    $flows signin-valet valet.json "$url" alice "$password" web=web.json web-api=web-api.json spa-api=spa-api.json
    local at
    at=$(curl -s -H "Authorization: $svc_auth" -d grant_type=client_credentials -d scope=api:read "$url/oauth2/token" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    local user_at
    user_at=$(python3 - valet.json <<'PY'
import json, sys, urllib.request, base64, urllib.parse as u
st = json.load(open(sys.argv[1]))
c = st["clients"]["web"]
body = u.urlencode({"grant_type": "refresh_token", "refresh_token": st["refresh_token"]}).encode()
req = urllib.request.Request(st["base"] + "/oauth2/token", data=body)
req.add_header("Authorization", "Basic " + base64.b64encode(f'{u.quote(c["id"], safe="")}:{u.quote(c["secret"], safe="")}'.encode()).decode())
print(json.load(urllib.request.urlopen(req))["access_token"])
PY
)
    local web_auth web_api_auth
    web_auth=$(basic "$(field web.json client_id)" "$(field web.json client_secret)")
    web_api_auth=$(basic "$(field web-api.json client_id)" "$(field web-api.json client_secret)")
    run client_credentials valet "$url/oauth2/token" "$peers/token.lua" 2 16 AUTH="$svc_auth"
    run cc_origin valet "$url/oauth2/token" "$here/scale.lua" 2 16 "${origin_env[@]}"
    run cc_origin_256 valet "$url/oauth2/token" "$here/scale.lua" 2 256 "${origin_env[@]}"
    run introspection valet "$url/oauth2/introspect" "$peers/introspect.lua" 2 16 AUTH="$svc_auth" TOKEN="$at"
    run userinfo valet "$url/userinfo" "$here/scale.lua" 2 16 BEARER="$user_at"
    run refresh_api valet "$url/oauth2/token" "$here/refresh.lua" 2 16 AUTH="$web_api_auth" \
      TOKEN="$(field valet.json refresh_token_api)"
    run refresh_api_256 valet "$url/oauth2/token" "$here/refresh.lua" 2 256 AUTH="$web_api_auth" \
      TOKEN="$(field valet.json refresh_token_api)"
    run refresh_openid valet "$url/oauth2/token" "$here/refresh.lua" 2 16 AUTH="$web_auth" \
      TOKEN="$(field valet.json refresh_token)"
    local chains
    chains=$($flows refresh-tokens valet.json spa-api 16 api:read)
    run rotate_api_16 valet "$url/oauth2/token" "$here/refresh.lua" 16 16 TOKENS="$chains" \
      CLIENT_ID="$(field spa-api.json client_id)"
    printf 'rt\tvalet\t%s\t%s\n' "$store_label" "$($flows roundtrip valet.json web 300 50)" >>"$results"
    peer_run
  fi
  printf 'rss\tvalet\t%s\t%s\n' "$store_label" "$(rss "$valet_pid")" >>"$results"
  if grep -qE ' ERROR |panicked' "$dir/valet.log"; then
    echo "Valet logged errors ($store_label):" >&2
    grep -E ' ERROR |panicked' "$dir/valet.log" | head -20 >&2
    exit 1
  fi
  kill "$valet_pid" && wait "$valet_pid" 2>/dev/null || true
  valet_pid=""
  cd "$work"
}

echo "load before: $(uptime)" >&2
for database in $databases; do
  for size in empty large many; do
    valet_run "$database" "$size"
  done
done
printf 'rss\tpeer\t-\t%s\n' "$(rss "$peer_pid")" >>"$results"
echo "load after: $(uptime)" >&2

python3 "$here/scale.py" "$results" "$scale" "$duration" "$apps" "$apps_many" "$tokens" "$users"
