#!/usr/bin/env bash
# Scale (issue 17): Valet with an empty store and a large one, on SQLite and PostgreSQL,
# beside the peer (node-oidc-provider from ../shared/peers) in the same window, and one
# table of ratios: Valet / peer, large / empty, PostgreSQL / SQLite; peak RSS; Valet's CPU
# per request outside the signature; bytes stored per grant as one chain rotates.
#
#   bench/scale.sh                         # SCALE=full: 1M refresh tokens, 100k users and
#                                          # grants, 100k revoked tokens, 10k applications
#                                          # (and a store of 100k for the Origin rows)
#   SCALE=small DURATION=3 bench/scale.sh  # 20k tokens, 2k users/grants/revoked, 1k/10k apps
#
# The large store is made with Valet's own code (`valet seed`, hidden: applications through
# the admin model the CLI uses, the rest through the store's own inserts), never
# hand-written SQL. The "many" store holds only the many applications (it serves the Origin
# rows). Per store, Valet and the peer in turn, each `wrk -d DURATION`, 16 connections unless
# named (bench/refresh.lua, the peers' token.lua and introspect.lua, bench/scale.lua):
#   client_credentials; the same with a registered SPA's `Origin` (Valet only; also at 256
#   connections); introspection; UserInfo; the refresh grant (`api:read`: no ID token, also
#   at 256 connections; `openid`: an RS256 ID token); rotation, 16 closed-loop chains, with
#   and without `openid` (Valet only: the peer rotates only public clients' tokens and has
#   none); the code round trip, sequential on one connection (bench/flows.py).
# On the empty SQLite store first: one chain rotated ROTATIONS times, and the bytes it
# keeps (bench/storage.py). Every answer must be 2xx and Valet's log free of ERROR lines,
# or the script fails saying which, with Valet's own messages.
#
# Env: SCALE (full | small), DURATION (10 s), DATABASES ("sqlite postgres"), SIZES ("empty
# large many": a subset reruns part, e.g. SIZES="empty many" for the Origin rows), ROTATIONS
# (1000), N (round trips, 300), BENCH_POSTGRES (postgres://postgres@127.0.0.1:5432/postgres;
# a fresh database per store, dropped after), VALET_PORT (8283), PEER_PORT (3283),
# PEER_DIR (/tmp/valet-peer-op-scale), CARGO_TARGET_DIR.
# Needs: wrk, node + npm (the peer), curl, python3, openssl, psql.
set -Eeuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
peers=${PEERS:-$(cd "$repo/../shared/peers" && pwd)}
scale=${SCALE:-full}
duration=${DURATION:-10}
databases=${DATABASES:-sqlite postgres}
sizes=${SIZES:-empty large many}
rotations=${ROTATIONS:-1000}
n_rt=${N:-300}
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
dir="$work"
store_label=setup
dbs_made=()
cleanup() {
  [ -n "$valet_pid" ] && kill "$valet_pid" 2>/dev/null || true
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null || true
  "$peers/peer-op" stop >/dev/null 2>&1 || true
  sleep 0.3
  for db in "${dbs_made[@]}"; do
    psql "$bench_pg" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
# A failing step says why: the setup commands' and Valet's own messages (errtrace, -E
# above, makes this trap fire inside functions too).
trap 'echo "failed at line $LINENO ($store_label)" >&2; tail -n 20 "$dir/setup.err" "$dir/seed.log" "$dir/valet.log" >&2 2>/dev/null' ERR

for tool in wrk curl python3 openssl psql; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install -y $tool)" >&2; exit 1; }
done
for port in "$vport" "$pport"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use (another benchmark?): set VALET_PORT / PEER_PORT" >&2
    exit 1
  fi
done
(cd "$repo" && cargo build --release -q -p valet)
# A copy of its own: the target directory may be shared, and rebuilt during the run.
cp "$CARGO_TARGET_DIR/release/valet" "$work/valet"
valet="$work/valet"
flows="python3 $here/flows.py"
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }
rss() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
cpu() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; } # utime + stime, ticks
# An access token of the state's `web` client, from a refresh of its `openid` grant.
user_token() { # state.json
  python3 - "$1" <<'PY'
import json, sys, urllib.request, base64, urllib.parse as u
st = json.load(open(sys.argv[1]))
c = st["clients"]["web"]
body = u.urlencode({"grant_type": "refresh_token", "refresh_token": st["refresh_token"]}).encode()
req = urllib.request.Request(st["base"] + st["token_path"], data=body)
req.add_header("Authorization", "Basic " + base64.b64encode(f'{u.quote(c["id"], safe="")}:{u.quote(c["secret"], safe="")}'.encode()).decode())
print(json.load(urllib.request.urlopen(req))["access_token"])
PY
}
results="$work/results.tsv"
: >"$results"

# The cost of the signatures, per core, on this machine: subtracted from Valet's CPU per
# request to give the CPU outside the crypto.
speed=$(openssl speed -seconds 1 ecdsap256 rsa2048 2>/dev/null)
es256_us=$(printf '%s\n' "$speed" | awk '/256 bits ecdsa/ {print 1e6 / $(NF-1)}')
rsa_sign_s=$(printf '%s\n' "$speed" | awk '/^rsa 2048 bits/ {print $(NF-1)}')
[ -n "$es256_us" ] && [ -n "$rsa_sign_s" ] || { echo "could not read openssl speed:" >&2; printf '%s\n' "$speed" >&2; exit 1; }
printf 'crypto\t%s\t%s\n' "$es256_us" "$rsa_sign_s" >>"$results"

# wrk with a script; records req/s, p50, p99, requests, Valet's CPU ticks and socket
# errors; fails on any non-2xx answer (wrk's count, or the chains' own in refresh.lua).
run() { # label server url script threads connections [env...]
  local label=$1 server=$2 url=$3 script=$4 t=$5 c=$6; shift 6
  local out c0=0 c1=0
  [ "$server" = valet ] && c0=$(cpu "$valet_pid")
  out=$(env "$@" wrk -t"$t" -c"$c" -d"${duration}s" --latency -s "$script" "$url")
  [ "$server" = valet ] && c1=$(cpu "$valet_pid")
  local rps p50 p99 reqs non2xx bad sockerr
  rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(printf '%s\n' "$out" | sed -n 's/^EXTRA p50=\(.*\)ms/\1/p')
  p99=$(printf '%s\n' "$out" | sed -n 's/^EXTRA p99=\(.*\)ms/\1/p')
  reqs=$(printf '%s\n' "$out" | sed -n 's/^EXTRA requests=\([0-9]*\).*/\1/p')
  non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $5}')
  bad=$(printf '%s\n' "$out" | sed -n 's/^EXTRA .*non200=\([0-9]*\).*/\1/p')
  sockerr=$(printf '%s\n' "$out" | sed -n 's/^EXTRA requests=.*errors_connect=\([0-9]*\) read=\([0-9]*\) write=\([0-9]*\).* timeout=\([0-9]*\).*/\1 \2 \3 \4/p' \
    | awk '{print $1 + $2 + $3 + $4}')
  if [ -n "$non2xx" ] || [ "${bad:-0}" != 0 ] || [ -z "$rps" ]; then
    echo "$server $label ($store_label): non-2xx responses" >&2
    printf '%s\n' "$out" >&2
    [ "$server" = valet ] && tail -n 20 "$dir/valet.log" >&2
    exit 1
  fi
  printf 'wrk\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$store_label" "$label" \
    "$rps" "$p50" "$p99" "$reqs" "$((c1 - c0))" "${sockerr:-0}" >>"$results"
  echo "  $server $label: $rps req/s, p50 $p50 ms, p99 $p99 ms" >&2
}

# The peer: started once, measured beside each Valet store in its window.
"$peers/peer-op" start "$pport" >"$work/peer-op.out" 2>&1 || { cat "$work/peer-op.out" >&2; exit 1; }
peer_pid=$(pgrep -P "$(cat "$PEER_DIR/server.pid")" node || cat "$PEER_DIR/server.pid")
mkdir -p "$work/peer"
purl="http://127.0.0.1:$pport"
peer_token=$(curl -s -u bench:bench-secret -d grant_type=client_credentials -d scope=api:read \
  -d resource=urn:example:opaque "$purl/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# One Valet store: `database` (sqlite | postgres), `size` (empty | large | many).
valet_run() { # database size
  local database=$1 size=$2
  dir="$work/$1-$2"
  store_label="$database-$size"
  echo "$store_label: $(uptime)" >&2
  mkdir -p "$dir" && cd "$dir"
  export VALET_ISSUER="http://127.0.0.1:$vport" VALET_LISTEN="127.0.0.1:$vport"
  unset VALET_DATABASE VALET_MASTER_KEY
  if [ "$database" = postgres ]; then
    local db="valet_bench_$$_${size}"
    psql "$bench_pg" -qc "CREATE DATABASE $db" >/dev/null
    dbs_made+=("$db")
    # A database on this host: no TLS (docs/deploy.md).
    export VALET_DATABASE="${bench_pg%/*}/$db?sslmode=disable"
    VALET_MASTER_KEY=$(openssl rand -hex 32)
    export VALET_MASTER_KEY
  fi
  local t0 t1
  t0=$(date +%s.%N)
  case $size in
    large) "$valet" seed --apps "$apps" --users "$users" --grants "$grants" \
      --refresh-tokens "$tokens" --revoked "$revoked" 2>"$dir/seed.log" ;;
    many) "$valet" seed --apps "$apps_many" 2>"$dir/seed.log" ;;
  esac
  t1=$(date +%s.%N)
  printf 'seed\t%s\t%s\n' "$store_label" "$(python3 -c "print($t1 - $t0)")" >>"$results"
  local password=bench-password-correct-horse redirect=http://127.0.0.1:8080/cb
  printf '%s\n' "$password" | "$valet" user create --username alice --password-stdin >/dev/null 2>>"$dir/setup.err"
  "$valet" api create --audience https://api.example --scope "api:read=Read" >/dev/null 2>>"$dir/setup.err"
  "$valet" client create --name bench --profile service --scope api:read --json >svc.json 2>>"$dir/setup.err"
  "$valet" client create --name web --profile web --redirect-uri "$redirect" --json >web.json 2>>"$dir/setup.err"
  "$valet" client create --name web-api --profile web --redirect-uri "$redirect" --scope api:read --json >web-api.json 2>>"$dir/setup.err"
  "$valet" client create --name spa --profile spa --redirect-uri "$redirect" --json >spa.json 2>>"$dir/setup.err"
  "$valet" client create --name spa-api --profile spa --redirect-uri "$redirect" --scope api:read \
    --redirect-uri https://spa.bench.example/cb --json >spa-api.json 2>>"$dir/setup.err"
  VALET_LOG=warn "$valet" serve >"$dir/valet.log" 2>&1 &
  valet_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$vport/health/ready" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$vport/health/ready" >/dev/null || { echo "Valet did not start ($store_label):" >&2; cat "$dir/valet.log" >&2; exit 1; }
  local url="http://127.0.0.1:$vport"
  local svc_auth
  svc_auth=$(basic "$(field svc.json client_id)" "$(field svc.json client_secret)")
  local origin_env=(AUTH="$svc_auth" ORIGIN=https://spa.bench.example)
  # The Origin rows measure a CORS answer: the origin must be found.
  local cors
  cors=$(curl -s -D - -o /dev/null -H "Authorization: $svc_auth" -H "Origin: https://spa.bench.example" \
    -d grant_type=client_credentials -d scope=api:read "$url/oauth2/token")
  case ${cors,,} in
    *"access-control-allow-origin: https://spa.bench.example"*) ;;
    *) echo "no CORS answer for the SPA's origin ($store_label):" >&2; printf '%s\n' "$cors" >&2; exit 1 ;;
  esac
  if [ "$size" = many ]; then
    run cc_origin valet "$url/oauth2/token" "$here/scale.lua" 2 16 "${origin_env[@]}"
    run cc_origin_256 valet "$url/oauth2/token" "$here/scale.lua" 2 256 "${origin_env[@]}"
  else
    $flows signin-valet valet.json "$url" alice "$password" web=web.json web-api=web-api.json \
      spa=spa.json spa-api=spa-api.json
    if [ "$store_label" = sqlite-empty ]; then
      printf 'storage\t%s\t%s\n' "$store_label" \
        "$(cd "$here" && python3 storage.py "$dir/valet.json" spa-api "$dir/valet.db" "$rotations")" >>"$results"
    fi
    # The peer keeps its tokens in a 1,000-entry LRU that earlier round trips overflow:
    # a fresh sign-in per store.
    $flows signin-peer "$work/peer/peer.json" "$purl"
    local at user_at peer_user_at=""
    at=$(curl -s -H "Authorization: $svc_auth" -d grant_type=client_credentials -d scope=api:read "$url/oauth2/token" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    user_at=$(user_token valet.json)
    # The peer's UserInfo (/me), if it takes the access token its refresh gives.
    peer_user_at=$(user_token "$work/peer/peer.json" 2>/dev/null || true)
    if [ -n "$peer_user_at" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $peer_user_at" "$purl/me")" != 200 ]; then
      peer_user_at=""
    fi
    local web_auth web_api_auth peer_web
    web_auth=$(basic "$(field web.json client_id)" "$(field web.json client_secret)")
    web_api_auth=$(basic "$(field web-api.json client_id)" "$(field web-api.json client_secret)")
    peer_web=$(basic web web-secret)
    run client_credentials valet "$url/oauth2/token" "$peers/token.lua" 2 16 AUTH="$svc_auth"
    run client_credentials peer "$purl/token" "$peers/token.lua" 2 16
    run cc_origin valet "$url/oauth2/token" "$here/scale.lua" 2 16 "${origin_env[@]}"
    run cc_origin_256 valet "$url/oauth2/token" "$here/scale.lua" 2 256 "${origin_env[@]}"
    run introspection valet "$url/oauth2/introspect" "$peers/introspect.lua" 2 16 AUTH="$svc_auth" TOKEN="$at"
    run introspection peer "$purl/token/introspection" "$peers/introspect.lua" 2 16 TOKEN="$peer_token"
    run userinfo valet "$url/userinfo" "$here/scale.lua" 2 16 BEARER="$user_at"
    [ -n "$peer_user_at" ] && run userinfo peer "$purl/me" "$here/scale.lua" 2 16 BEARER="$peer_user_at"
    run refresh_api valet "$url/oauth2/token" "$here/refresh.lua" 2 16 AUTH="$web_api_auth" \
      TOKEN="$(field valet.json refresh_token_api)"
    run refresh_api peer "$purl/token" "$here/refresh.lua" 2 16 AUTH="$peer_web" \
      TOKEN="$(field "$work/peer/peer.json" refresh_token_api)"
    run refresh_api_256 valet "$url/oauth2/token" "$here/refresh.lua" 2 256 AUTH="$web_api_auth" \
      TOKEN="$(field valet.json refresh_token_api)"
    run refresh_api_256 peer "$purl/token" "$here/refresh.lua" 2 256 AUTH="$peer_web" \
      TOKEN="$(field "$work/peer/peer.json" refresh_token_api)"
    run refresh_openid valet "$url/oauth2/token" "$here/refresh.lua" 2 16 AUTH="$web_auth" \
      TOKEN="$(field valet.json refresh_token)"
    run refresh_openid peer "$purl/token" "$here/refresh.lua" 2 16 AUTH="$peer_web" \
      TOKEN="$(field "$work/peer/peer.json" refresh_token)"
    local chains
    chains=$($flows refresh-tokens valet.json spa-api 16 api:read)
    run rotate_api_16 valet "$url/oauth2/token" "$here/refresh.lua" 16 16 TOKENS="$chains" \
      CLIENT_ID="$(field spa-api.json client_id)"
    chains=$($flows refresh-tokens valet.json spa 16)
    run rotate_openid_16 valet "$url/oauth2/token" "$here/refresh.lua" 16 16 TOKENS="$chains" \
      CLIENT_ID="$(field spa.json client_id)"
    printf 'rt\tvalet\t%s\t%s\n' "$store_label" "$($flows roundtrip valet.json web "$n_rt" 50)" >>"$results"
    printf 'rt\tpeer\t%s\t%s\n' "$store_label" "$($flows roundtrip "$work/peer/peer.json" web "$n_rt" 50)" >>"$results"
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
  if [ "$database" = postgres ]; then
    psql "$bench_pg" -qc "DROP DATABASE IF EXISTS valet_bench_$$_${size} WITH (FORCE)" >/dev/null
  fi
}

echo "load before: $(uptime)" >&2
for database in $databases; do
  for size in $sizes; do
    valet_run "$database" "$size"
  done
done
store_label=report
printf 'rss\tpeer\t-\t%s\n' "$(rss "$peer_pid")" >>"$results"
echo "load after: $(uptime)" >&2

python3 "$here/scale.py" "$results" "$scale" "$duration" "$apps" "$apps_many" "$tokens" "$users" "$revoked" "$rotations"
