#!/usr/bin/env bash
# Side-by-side benchmark: Valet and the peer (node-oidc-provider from ../shared/peers),
# loaded by the same generator (wrk, the peers' Lua scripts) in alternating runs.
# Prints req/s, p50/p99 latency and peak RSS per server and scenario, and Valet/peer ratios.
#
#   bench/run.sh                    # 3 rounds of 20 s per scenario and server
#   ROUNDS=1 DURATION=5 bench/run.sh
#
# Needs: wrk (apt-get install wrk), node + npm (for the peer), curl, python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
peers=${PEERS:-$(cd "$repo/../shared/peers" && pwd)}
rounds=${ROUNDS:-3}
duration=${DURATION:-20}
conns=${CONNECTIONS:-16}
vport=${VALET_PORT:-8081}
# Valet refuses VALET_* variables it does not know (issue 17): this one is the script's.
unset VALET_PORT
pport=${PEER_PORT:-3000}
work=$(mktemp -d)
valet_pid=""
peer_pid=""
cleanup() {
  [ -n "$valet_pid" ] && kill "$valet_pid" 2>/dev/null || true
  # peer-op stop ends the shell that started node; end node itself too.
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null || true
  "$peers/peer-op" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# A failing step says why: the setup commands' and Valet's own messages.
trap 'echo "failed at line $LINENO" >&2; cat "$work/setup.err" "$work/valet.log" 2>/dev/null | tail -20 >&2' ERR

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
(cd "$repo" && cargo build --release -q)
valet="${CARGO_TARGET_DIR:-$repo/target}/release/valet"

# Valet: an API with the peer's scope names, and a service client.
cd "$work"
export VALET_ISSUER="http://127.0.0.1:$vport" VALET_LISTEN="127.0.0.1:$vport"
"$valet" api create --audience https://api.example --scope "api:read=Read" --scope "api:write=Write" >/dev/null 2>>"$work/setup.err"
creds=$("$valet" client create --name bench --profile service --scope api:read --scope api:write --json 2>>"$work/setup.err")
id=$(printf '%s' "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
secret=$(printf '%s' "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
valet_auth="Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
VALET_LOG=warn "$valet" serve >"$work/valet.log" 2>&1 &
valet_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$vport/health/ready" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$vport/health/ready" >/dev/null || { echo "Valet did not start:" >&2; cat "$work/valet.log" >&2; exit 1; }

# peer-op keeps its stdout open while the peer runs, so its output goes to a file.
"$peers/peer-op" start "$pport" >"$work/peer-op.out" 2>&1
peer_dir=${PEER_DIR:-/tmp/valet-peer-op}
peer_pid=$(pgrep -P "$(cat "$peer_dir/server.pid")" node || cat "$peer_dir/server.pid")

valet_token=$(curl -s -u "$id:$secret" -d grant_type=client_credentials -d scope=api:read "http://127.0.0.1:$vport/oauth2/token" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
peer_token=$(curl -s -u bench:bench-secret -d grant_type=client_credentials -d scope=api:read -d resource=urn:example:opaque \
  "http://127.0.0.1:$pport/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

results="$work/results.tsv"
: >"$results"
load() { # name scenario url script [env...]
  local name=$1 scenario=$2 url=$3 script=$4; shift 4
  local out
  out=$(env "$@" wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$peers/$script" "$url")
  local rps p50 p99 non2xx
  rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(printf '%s\n' "$out" | sed -n 's/^EXTRA p50=\(.*\)ms/\1/p')
  p99=$(printf '%s\n' "$out" | sed -n 's/^EXTRA p99=\(.*\)ms/\1/p')
  non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $5}')
  if [ -n "$non2xx" ]; then echo "$name $scenario: $non2xx non-2xx responses" >&2; exit 1; fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$scenario" "$rps" "$p50" "$p99" >>"$results"
}

for r in $(seq "$rounds"); do
  load valet client_credentials "http://127.0.0.1:$vport/oauth2/token" token.lua AUTH="$valet_auth"
  load peer  client_credentials "http://127.0.0.1:$pport/token" token.lua
  load valet introspection "http://127.0.0.1:$vport/oauth2/introspect" introspect.lua AUTH="$valet_auth" TOKEN="$valet_token"
  load peer  introspection "http://127.0.0.1:$pport/token/introspection" introspect.lua TOKEN="$peer_token"
done

rss() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
valet_rss=$(rss "$valet_pid")
peer_rss=$(rss "$peer_pid")

python3 - "$results" "$valet_rss" "$peer_rss" "$rounds" "$duration" "$conns" <<'PY'
import sys, statistics
path, vrss, prss, rounds, dur, conns = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
def med(name, scen, col):
    return statistics.median(float(r[col]) for r in rows if r[0] == name and r[1] == scen)
print(f"wrk -t2 -c{conns} -d{dur}s, {rounds} alternating round(s); medians")
print(f"{'scenario':<20}{'server':<8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
for scen in ("client_credentials", "introspection"):
    for name in ("valet", "peer"):
        print(f"{scen:<20}{name:<8}{med(name,scen,2):>10.0f}{med(name,scen,3):>9.2f}{med(name,scen,4):>9.2f}")
    print(f"{'':<20}{'ratio':<8}{med('valet',scen,2)/med('peer',scen,2):>9.1f}x")
print(f"peak RSS (whole run): valet {vrss} MB, peer {prss} MB")
PY
