#!/usr/bin/env bash
# What checking a token costs an API: the contacts demo (examples/contacts) served with no
# token check; with valet-resource checking JWTs locally, first with its verified-token
# cache off (every request pays the ES256 verification), then on (the default); and in
# introspection mode (every request a cache hit after the first). Loaded by wrk in
# alternating runs with the same bearer token. Prints the median req/s, p50 and p99 of
# each over the rounds, and fails if any response was not 2xx.
#
#   bench/resource.sh                          # 3 rounds of 20 s per variant
#   ROUNDS=1 DURATION=5 bench/resource.sh
#
# Needs: wrk (apt-get install wrk), curl, python3. Everything listens on 127.0.0.1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
rounds=${ROUNDS:-3}
duration=${DURATION:-20}
conns=${CONNECTIONS:-16}
vport=${VALET_PORT:-8082}
# Valet refuses VALET_* variables it does not know (issue 17): this one is the script's.
unset VALET_PORT
open_port=9191
local_port=9192
intro_port=9193
verify_port=9194
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# A failing step says why: the setup commands' and Valet's own messages.
trap 'echo "failed at line $LINENO" >&2; cat "$work/setup.err" "$work/valet.log" 2>/dev/null | tail -20 >&2' ERR

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
(cd "$repo" && cargo build --release -q -p valet -p contacts-api)
bin="${CARGO_TARGET_DIR:-$repo/target}/release"

wait_for() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "no answer at $1:" >&2; cat "$work"/*.log >&2; exit 1; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

cd "$work"
export VALET_ISSUER="http://127.0.0.1:$vport" VALET_LISTEN="127.0.0.1:$vport"
# The introspecting API's own credentials, named as the API's introspector (without that
# Valet tells it nothing about the tokens: issue 12 item 6).
api_creds=$("$bin/valet" client create --name contacts-api --profile service --json 2>>"$work/setup.err")
api_id=$(printf '%s' "$api_creds" | json client_id)
api_secret=$(printf '%s' "$api_creds" | json client_secret)
# The API (its audience is the URL of the local variant; the others share it) and a client.
"$bin/valet" api create --audience "http://127.0.0.1:$local_port" \
  --scope contacts.read=Read --scope contacts.write=Write --introspector "$api_id" >/dev/null 2>>"$work/setup.err"
creds=$("$bin/valet" client create --name bench --profile service \
  --scope contacts.read --json 2>>"$work/setup.err")
id=$(printf '%s' "$creds" | json client_id)
secret=$(printf '%s' "$creds" | json client_secret)
VALET_LOG=warn "$bin/valet" serve >"$work/valet.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$vport/health/ready"

start_api() { # port [env...]
  local port=$1; shift
  env CONTACTS_LOG=warn CONTACTS_AUDIENCE="http://127.0.0.1:$local_port" \
    CONTACTS_LISTEN="127.0.0.1:$port" "$@" "$bin/contacts-api" >"$work/api-$port.log" 2>&1 &
  pids+=($!)
  wait_for "http://127.0.0.1:$port/.well-known/oauth-protected-resource"
}
start_api $open_port CONTACTS_UNPROTECTED=1
start_api $local_port
start_api $verify_port CONTACTS_JWT_CACHE=0
start_api $intro_port CONTACTS_CLIENT_ID="$api_id" CONTACTS_CLIENT_SECRET="$api_secret"

token=$(curl -s -u "$id:$secret" -d grant_type=client_credentials \
  "http://127.0.0.1:$vport/oauth2/token" | json access_token)
for port in $local_port $intro_port $verify_port; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$port/contacts")
  [ "$code" = 200 ] || { echo "the token was refused on port $port ($code)" >&2; exit 1; }
done

results="$work/results.tsv"
: >"$results"
ms() { # wrk latency ("812.00us", "1.20ms", "1.01s") in ms
  python3 -c "import sys; v=sys.argv[1]; print(float(v[:-2])/1000 if v.endswith('us') else float(v[:-2]) if v.endswith('ms') else float(v[:-1])*1000)" "$1"
}
load() { # variant port
  local out rps p50 p99 non2xx
  out=$(wrk -t2 -c"$conns" -d"${duration}s" --latency -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$2/contacts")
  rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(ms "$(printf '%s\n' "$out" | awk '$1 == "50%" {print $2}')")
  p99=$(ms "$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')")
  non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $5}')
  if [ -n "$non2xx" ]; then echo "$1: $non2xx non-2xx responses" >&2; exit 1; fi
  printf '%s\t%s\t%s\t%s\n' "$1" "$rps" "$p50" "$p99" >>"$results"
}

for _ in $(seq "$rounds"); do
  load "no check" $open_port
  load "local JWT, verified every time" $verify_port
  load "local JWT, cached (default)" $local_port
  load "introspection (cached)" $intro_port
done

python3 - "$results" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
variants = list(dict.fromkeys(r[0] for r in rows))
med = {v: [statistics.median(float(r[i]) for r in rows if r[0] == v) for i in (1, 2, 3)] for v in variants}
base = med[variants[0]][0]
print("| variant | req/s | p50 | p99 | vs no check |")
print("|---|---:|---:|---:|---:|")
for v in variants:
    rps, p50, p99 = med[v]
    print(f"| {v} | {rps:,.0f} | {p50:.2f} ms | {p99:.2f} ms | {rps / base:.0%} |")
EOF
