#!/usr/bin/env bash
# Side-by-side benchmark of the user flows: Valet and the peer (node-oidc-provider from
# ../shared/peers), in alternating runs, after one scripted browser sign-in to each.
#
#   a. authorization-code round trip with the session and the consent in place:
#      GET authorize (303 with a code) + POST token, N times, one keep-alive connection,
#      sequential (bench/flows.py); latency p50/p90/p99 of the pair, client-side;
#   b. refresh grant, one refresh token that does not rotate (confidential `web` client),
#      wrk -t2 -cCONNECTIONS (bench/refresh.lua): req/s and latency; once for a grant of
#      scope `openid` (each refresh signs a new RS256 ID token, on both servers) and once
#      for a grant of an API scope only (`api:read`: an ES256 access token only); and the
#      `openid` one over a single connection (wrk -t1 -c1), the baseline of c.;
#   c. refresh grant with rotation (Valet's `spa` client; public clients rotate): K
#      closed-loop chains, each always sending the newest token (wrk -tK -cK). Valet only:
#      the peer rotates only public clients' tokens and its configuration has none.
#
#   bench/flows.sh                          # 3 rounds, N=2000, 10 s per wrk run
#   ROUNDS=1 N=500 DURATION=5 bench/flows.sh
#
# Env: DATABASE (sqlite, or postgres: a fresh database on BENCH_POSTGRES, default
# postgres://postgres@127.0.0.1:5432/postgres, dropped at the end), ROUNDS (3), N (2000 round trips), WARMUP (200), DURATION (10 s), CONNECTIONS (16),
# CHAINS ("1 4 16"), VALET_PORT (8183), PEER_PORT (3183), PEER_DIR (/tmp/valet-peer-op-flows),
# CARGO_TARGET_DIR (/var/tmp/valet-helper-bench).
# Needs: wrk (apt-get install wrk), node + npm (for the peer), curl, python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
peers=${PEERS:-$(cd "$repo/../shared/peers" && pwd)}
rounds=${ROUNDS:-3}
n=${N:-2000}
warmup=${WARMUP:-200}
duration=${DURATION:-10}
conns=${CONNECTIONS:-16}
chains=${CHAINS:-1 4 16}
vport=${VALET_PORT:-8183}
# Valet refuses VALET_* variables it does not know (issue 17): this one is the script's.
unset VALET_PORT
pport=${PEER_PORT:-3183}
# A peer of its own, so that `peer-op stop` never ends one that bench/run.sh started.
export PEER_DIR=${PEER_DIR:-/tmp/valet-peer-op-flows}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/valet-helper-bench}
redirect=http://127.0.0.1:8080/cb
work=$(mktemp -d)
valet_pid=""
peer_pid=""
database=${DATABASE:-sqlite}
bench_pg=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
bench_db=valet_bench_$$
cleanup() {
  [ -n "$valet_pid" ] && kill "$valet_pid" 2>/dev/null || true
  if [ "$database" = postgres ]; then
    sleep 0.5
    psql "$bench_pg" -qc "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null || true
  "$peers/peer-op" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# A failing step says why: the setup commands' and Valet's own messages.
trap 'echo "failed at line $LINENO" >&2; cat "$work/setup.err" "$work/valet.log" 2>/dev/null | tail -20 >&2' ERR

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
for port in "$vport" "$pport"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use (another benchmark?): set VALET_PORT / PEER_PORT" >&2
    exit 1
  fi
done
(cd "$repo" && cargo build --release -q)
valet="$CARGO_TARGET_DIR/release/valet"
flows="python3 $here/flows.py"
echo "load before: $(uptime)"

# Valet: a fresh SQLite file, one user, an API (the peer's scope name), a web client (code +
# refresh, the defaults), the same allowed the API scope, a web client without the refresh
# grant (the peer's round trip issues no refresh token: see docs/benchmarks.md) and an SPA
# (public: its refresh tokens rotate).
cd "$work"
export VALET_ISSUER="http://127.0.0.1:$vport" VALET_LISTEN="127.0.0.1:$vport"
case $database in
  sqlite) ;;
  postgres)
    psql "$bench_pg" -qc "CREATE DATABASE $bench_db" >/dev/null
    export VALET_DATABASE="${bench_pg%/*}/$bench_db"
    # Valet makes a key file only beside a new SQLite file; a PostgreSQL store needs one given.
    VALET_MASTER_KEY=$(openssl rand -hex 32)
    export VALET_MASTER_KEY
    ;;
  *) echo "DATABASE must be sqlite or postgres" >&2; exit 1 ;;
esac
echo "Valet's database: $database"
password=bench-password-correct-horse
printf '%s\n' "$password" | "$valet" user create --username alice --password-stdin >/dev/null 2>>"$work/setup.err"
"$valet" api create --audience https://api.example --scope "api:read=Read" >/dev/null 2>>"$work/setup.err"
"$valet" client create --name web --profile web --redirect-uri "$redirect" --json >web.json 2>>"$work/setup.err"
"$valet" client create --name web-api --profile web --redirect-uri "$redirect" --scope api:read \
  --json >web-api.json 2>>"$work/setup.err"
"$valet" client create --name web-code --profile web --redirect-uri "$redirect" \
  --grant authorization_code --json >web-code.json 2>>"$work/setup.err"
"$valet" client create --name spa --profile spa --redirect-uri "$redirect" --json >spa.json 2>>"$work/setup.err"
"$valet" client create --name spa-api --profile spa --redirect-uri "$redirect" --scope api:read \
  --json >spa-api.json 2>>"$work/setup.err"
spa_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' spa.json)
spa_api_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' spa-api.json)
VALET_LOG=warn "$valet" serve >"$work/valet.log" 2>&1 &
valet_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$vport/health/ready" >/dev/null && break; sleep 0.1; done
kill -0 "$valet_pid" 2>/dev/null || { echo "Valet did not start:" >&2; cat "$work/valet.log" >&2; exit 1; }

# peer-op keeps its stdout open while the peer runs, so its output goes to a file.
"$peers/peer-op" start "$pport" >"$work/peer-op.out" 2>&1
peer_pid=$(pgrep -P "$(cat "$PEER_DIR/server.pid")" node || cat "$PEER_DIR/server.pid")

# One browser sign-in each (login page, password, consent), the only password hash.
$flows signin-valet valet.json "http://127.0.0.1:$vport" alice "$password" \
  web=web.json web-api=web-api.json web-code=web-code.json spa=spa.json spa-api=spa-api.json
$flows signin-peer peer.json "http://127.0.0.1:$pport"
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
valet_rt=$(field valet.json refresh_token)
valet_rt_api=$(field valet.json refresh_token_api)
basic() { python3 -c 'import json,sys,base64,urllib.parse as u; c=json.load(open(sys.argv[1]))["clients"][sys.argv[2]]; print("Basic "+base64.b64encode((u.quote(c["id"],safe="")+":"+u.quote(c["secret"],safe="")).encode()).decode())' valet.json "$1"; }
valet_auth=$(basic web)
valet_auth_api=$(basic web-api)
peer_auth="Basic $(printf 'web:web-secret' | base64 -w0)"

results="$work/results.tsv"
: >"$results"
roundtrip() { # server client
  local out
  out=$($flows roundtrip "$1.json" "$2" "$n" "$warmup")
  printf 'rt\t%s\t%s\t%s\n' "$1" "$2" "$out" >>"$results"
}
wrk_run() { # label server url threads connections [env...]
  local label=$1 server=$2 url=$3 t=$4 c=$5; shift 5
  local out
  out=$(env "$@" wrk -t"$t" -c"$c" -d"${duration}s" --latency -s "$here/refresh.lua" "$url")
  local rps p50 p90 p99 non2xx bad
  rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(printf '%s\n' "$out" | sed -n 's/^EXTRA p50=\(.*\)ms/\1/p')
  p90=$(printf '%s\n' "$out" | sed -n 's/^EXTRA p90=\(.*\)ms/\1/p')
  p99=$(printf '%s\n' "$out" | sed -n 's/^EXTRA p99=\(.*\)ms/\1/p')
  non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $5}')
  bad=$(printf '%s\n' "$out" | sed -n 's/^EXTRA .*non200=\([0-9]*\).*/\1/p')
  if [ -n "$non2xx" ] || [ "${bad:-0}" != 0 ]; then
    echo "$server $label: non-2xx responses" >&2
    printf '%s\n' "$out" >&2
    exit 1
  fi
  printf 'wrk\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$label" "$rps" "$p50" "$p90" "$p99" >>"$results"
}

# CPU ticks: busy on the whole machine, and used by this benchmark (the two servers, plus
# wrk and the Python client, counted in this shell's waited-for children). The load average
# counts the benchmark itself, so the summary reports the others' share of the CPUs instead.
cpu_ticks() {
  local busy ours
  busy=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9}' /proc/stat)
  ours=$(for p in $$ "$valet_pid" "$peer_pid"; do cat "/proc/$p/stat"; done |
    awk '{sub(/^.*\) /, ""); t += $12 + $13; if ($0 != "" && NR == 1) t += $14 + $15} END {print t}')
  printf '%s %s %s' "$busy" "$ours" "$(date +%s.%N)"
}

for r in $(seq "$rounds"); do
  echo "round $r/$rounds: $(uptime)"
  printf 'load\t%s\n' "$(cut -d' ' -f1 /proc/loadavg)" >>"$results"
  before=$(cpu_ticks)
  $flows probe valet.json 1000 | sed 's/^/probe\tvalet\t-\t/' >>"$results"
  $flows probe peer.json 1000 | sed 's/^/probe\tpeer\t-\t/' >>"$results"
  roundtrip valet web
  roundtrip peer web
  roundtrip valet web-code
  # The peer keeps tokens in its development store, an LRU of 1,000 entries that the round
  # trips above overflow: sign in there again for refresh tokens that are still stored.
  $flows signin-peer peer.json "http://127.0.0.1:$pport"
  peer_rt=$(field peer.json refresh_token)
  peer_rt_api=$(field peer.json refresh_token_api)
  wrk_run refresh valet "http://127.0.0.1:$vport/oauth2/token" 2 "$conns" AUTH="$valet_auth" TOKEN="$valet_rt"
  wrk_run refresh peer "http://127.0.0.1:$pport/token" 2 "$conns" AUTH="$peer_auth" TOKEN="$peer_rt"
  wrk_run refresh-1 valet "http://127.0.0.1:$vport/oauth2/token" 1 1 AUTH="$valet_auth" TOKEN="$valet_rt"
  wrk_run refresh-1 peer "http://127.0.0.1:$pport/token" 1 1 AUTH="$peer_auth" TOKEN="$peer_rt"
  wrk_run refresh-api valet "http://127.0.0.1:$vport/oauth2/token" 2 "$conns" AUTH="$valet_auth_api" TOKEN="$valet_rt_api"
  wrk_run refresh-api peer "http://127.0.0.1:$pport/token" 2 "$conns" AUTH="$peer_auth" TOKEN="$peer_rt_api"
  for k in $chains; do
    tokens=$($flows refresh-tokens valet.json spa "$k")
    wrk_run "rotate-$k" valet "http://127.0.0.1:$vport/oauth2/token" "$k" "$k" TOKENS="$tokens" CLIENT_ID="$spa_id"
    tokens=$($flows refresh-tokens valet.json spa-api "$k" api:read)
    wrk_run "rotate_api-$k" valet "http://127.0.0.1:$vport/oauth2/token" "$k" "$k" TOKENS="$tokens" CLIENT_ID="$spa_api_id"
  done
  printf 'cpu\t%s\t%s\n' "$before" "$(cpu_ticks)" >>"$results"
done
echo "load after: $(uptime)"

# PostgreSQL: the database's own count of what one code round trip (authorize + token with a
# refresh token) costs it: transactions committed and rows written, over 500 round trips.
if [ "$database" = postgres ]; then
  pg_stats() {
    sleep 2 # backends report their statistics at most once a second
    psql "$VALET_DATABASE" -Atc "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted \
      FROM pg_stat_database WHERE datname = current_database()"
  }
  s0=$(pg_stats)
  $flows roundtrip valet.json web 500 0 >/dev/null
  s1=$(pg_stats)
  python3 - "$s0" "$s1" <<'PY'
import sys
(x0, w0), (x1, w1) = (map(int, s.split("|")) for s in sys.argv[1:])
print(f"PostgreSQL per code round trip: {(x1 - x0) / 500:.1f} transactions, {(w1 - w0) / 500:.1f} rows written")
PY
  # Storage: the average row of each table a grant occupies (row data, no index).
  for t in grants refresh_tokens consents sessions authorization_codes; do
    psql "$VALET_DATABASE" -Atc "SELECT '$t', count(*), round(avg(pg_column_size(t.*))) FROM $t t"
  done | awk -F'|' '{printf "PostgreSQL %-20s rows %6d, %4d bytes per row\n", $1, $2, $3}'
fi

rss() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
valet_rss=$(rss "$valet_pid")
peer_rss=$(rss "$peer_pid")
if grep -qiE 'error|panic' "$work/valet.log"; then
  echo "Valet logged errors:" >&2
  grep -iE 'error|panic' "$work/valet.log" | head -20 >&2
fi

python3 - "$results" "$valet_rss" "$peer_rss" "$rounds" "$n" "$duration" "$conns" <<'PY'
import json, os, statistics, sys
path, vrss, prss, rounds, n, dur, conns = sys.argv[1:]
rt, wrk, probe, load, others = {}, {}, {}, [], []
for line in open(path):
    f = line.rstrip("\n").split("\t")
    if f[0] == "load":
        load.append(f[1])
    elif f[0] == "cpu":
        b0, o0, t0 = map(float, f[1].split())
        b1, o1, t1 = map(float, f[2].split())
        hz, ncpu = 100, os.cpu_count()
        others.append(100 * max(0, (b1 - b0) - (o1 - o0)) / hz / ((t1 - t0) * ncpu))
    elif f[0] == "rt":
        rt.setdefault((f[1], f[2]), []).append(json.loads(f[3]))
    elif f[0] == "probe":
        probe.setdefault(f[1], []).append(json.loads(f[3])["probe_p50"])
    elif f[0] == "wrk":
        wrk.setdefault((f[1], f[2]), []).append([float(x) for x in f[3:7]])
med = statistics.median
def rtm(key, field):
    return med(r[field] for r in rt[key])
def wm(key, col):
    return med(r[col] for r in wrk[key])

print(f"\n{rounds} alternating round(s); medians over rounds")
print(f"machine: 1-minute load average at the start of each round {', '.join(load)}; "
      f"CPU used by other processes during each round {', '.join(f'{x:.0f}%' for x in others)} of {os.cpu_count()} CPUs")
print(f"a. authorization-code round trip (authorize with session + consent -> code -> token), "
      f"{n} sequential, one keep-alive connection; ms, client-side")
print(f"{'server / client':<22}{'p50':>7}{'p90':>7}{'p99':>7}{'auth p50':>10}{'token p50':>10}{'trips/s':>9}  tokens")
for key, label in ((("valet", "web"), "valet web"), (("valet", "web-code"), "valet web-code"), (("peer", "web"), "peer web")):
    kinds = sorted({k for r in rt[key] for k in r["tokens"]})
    print(f"{label:<22}{rtm(key,'p50'):>7.2f}{rtm(key,'p90'):>7.2f}{rtm(key,'p99'):>7.2f}"
          f"{rtm(key,'authorize_p50'):>10.2f}{rtm(key,'token_p50'):>10.2f}{rtm(key,'per_s'):>9.0f}  {' '.join(kinds)}")
print(f"  floor (GET of the JWKS, same client, p50): valet {med(probe['valet']):.3f} ms, peer {med(probe['peer']):.3f} ms")
print(f"  ratio peer/valet p50: {rtm(('peer','web'),'p50')/rtm(('valet','web'),'p50'):.1f}x (valet web), "
      f"{rtm(('peer','web'),'p50')/rtm(('valet','web-code'),'p50'):.1f}x (valet web-code, like for like)")
print(f"  target p50 <= 2 ms (valet web): {'met' if rtm(('valet','web'),'p50') <= 2 else 'NOT met'}")

print(f"\nb. refresh grant, one non-rotating token, wrk -t2 -c{conns} -d{dur}s; ms")
print(f"{'grant scope / server':<22}{'req/s':>9}{'p50':>7}{'p90':>7}{'p99':>7}")
for scen, label in (("refresh", "openid (+ID token)"), ("refresh-api", "api:read (no ID token)")):
    print(label)
    for s in ("valet", "peer"):
        k = (s, scen)
        print(f"  {s:<20}{wm(k,0):>9.0f}{wm(k,1):>7.2f}{wm(k,2):>7.2f}{wm(k,3):>7.2f}")
    r = wm(('valet', scen), 0)
    print(f"  ratio valet/peer: {r/wm(('peer',scen),0):.1f}x; target >= 3,000/s on SQLite: {'met' if r >= 3000 else 'NOT met'}")
print(f"openid, one connection (wrk -t1 -c1)")
for s in ("valet", "peer"):
    k = (s, "refresh-1")
    print(f"  {s:<20}{wm(k,0):>9.0f}{wm(k,1):>7.2f}{wm(k,2):>7.2f}{wm(k,3):>7.2f}")
print(f"  ratio valet/peer: {wm(('valet','refresh-1'),0)/wm(('peer','refresh-1'),0):.1f}x")

print(f"\nc. refresh grant with rotation (valet spa), closed-loop chains, wrk -tK -cK -d{dur}s (valet only); ms")
print(f"{'scope / chains':<22}{'refreshes/s':>12}{'p50':>7}{'p90':>7}{'p99':>7}")
for prefix, label in (("rotate-", "openid"), ("rotate_api-", "api:read")):
    for key in sorted((k for k in wrk if k[1].startswith(prefix)), key=lambda k: int(k[1].split("-")[1])):
        print(f"{label + ' ' + key[1].split('-')[1]:<22}{wm(key,0):>12.0f}{wm(key,1):>7.2f}{wm(key,2):>7.2f}{wm(key,3):>7.2f}")
    if prefix == "rotate_api-" and any(k[1] == "rotate_api-16" for k in wrk):
        r = wm(("valet", "rotate_api-16"), 0)
        print(f"  target >= 3,000/s without an ID token, 16 chains: {'met' if r >= 3000 else 'NOT met'}")
print(f"\npeak RSS (whole run): valet {vrss} MB, peer {prss} MB")
PY
