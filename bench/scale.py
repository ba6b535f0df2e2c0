"""The table of bench/scale.sh, from its results file.

Usage: scale.py RESULTS SCALE DURATION APPS APPS_MANY TOKENS USERS
"""
import json
import os
import statistics
import sys

path, scale, duration, apps, apps_many, tokens, users = sys.argv[1:]
wrk, rt, rss = {}, {}, {}
es256_us = rsa_sign_s = None
for line in open(path):
    f = line.rstrip("\n").split("\t")
    if f[0] == "crypto":
        es256_us, rsa_sign_s = float(f[1]), float(f[2])
    elif f[0] == "wrk":
        server, store, label = f[1:4]
        rps, p50, p99 = map(float, f[4:7])
        reqs, ticks = int(f[7] or 0), int(f[8] or 0)
        wrk.setdefault((server, store, label), []).append((rps, p50, p99, reqs, ticks))
    elif f[0] == "rt":
        r = json.loads(f[3])
        rt.setdefault((f[1], f[2]), []).append((r["per_s"], r["p50"], r["p99"]))
    elif f[0] == "rss":
        rss[(f[1], f[2])] = float(f[3])

med = statistics.median
stores = [s for s in ("sqlite-empty", "sqlite-large", "postgres-empty", "postgres-large")
          if any(k[1] == s for k in wrk)]


def get(server, store, label, col):
    if label == "roundtrip":
        rows = rt.get((server, store))
        idx = {0: 0, 1: 1, 2: 2}[col]
        return med(r[idx] for r in rows) if rows else None
    rows = wrk.get((server, store, label))
    return med(r[col] for r in rows) if rows else None


def peer(label, col):
    if label == "roundtrip":
        vals = [r[col] for k, rows in rt.items() if k[0] == "peer" for r in rows]
    else:
        vals = [r[col] for k, rows in wrk.items() if k[0] == "peer" and k[2] == label for r in rows]
    return med(vals) if vals else None


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


scenarios = [
    ("client_credentials", "client_credentials, 16 conns"),
    ("cc_origin", "client_credentials + Origin, 16"),
    ("cc_origin_256", "client_credentials + Origin, 256"),
    ("introspection", "introspection, 16"),
    ("userinfo", "UserInfo, 16"),
    ("refresh_api", "refresh api:read, 16"),
    ("refresh_api_256", "refresh api:read, 256"),
    ("refresh_openid", "refresh openid (RS256), 16"),
    ("rotate_api_16", "rotation api:read, 16 chains"),
    ("roundtrip", "code round trip (trips/s)"),
]
print(f"\nbench/scale.sh SCALE={scale} DURATION={duration}: large store = {tokens} refresh tokens, "
      f"{users} users and grants, {apps} applications; the Origin rows also with {apps_many}")
print(f"{os.cpu_count()} CPUs; req/s (p99 ms); peer = node-oidc-provider, median of its runs\n")
head = f"{'scenario':<34}" + "".join(f"{s:>20}" for s in stores) + f"{'peer':>16}"
head += f"{'V/peer':>8}{'L/E sq':>8}{'L/E pg':>8}{'PG/SQ E':>8}{'PG/SQ L':>8}"
print(head)
worst = {"vp": [], "le": [], "pgsq": []}
for label, name in scenarios:
    cells = ""
    for s in stores:
        v, p = get("valet", s, label, 0), get("valet", s, label, 2)
        cells += f"{(f'{v:,.0f} ({p:.1f})' if v else '-'):>20}"
    pv = peer(label, 0)
    cells += f"{(f'{pv:,.0f}' if pv else '-'):>16}"
    se, sl = get("valet", "sqlite-empty", label, 0), get("valet", "sqlite-large", label, 0)
    pe, pl = get("valet", "postgres-empty", label, 0), get("valet", "postgres-large", label, 0)
    vp = ratio(se, pv)
    cells += f"{vp:>8}{ratio(sl, se):>8}{ratio(pl, pe):>8}{ratio(pe, se):>8}{ratio(pl, sl):>8}"
    print(f"{name:<34}{cells}")
    if se and pv:
        worst["vp"].append((se / pv, name))
    for a, b in ((sl, se), (pl, pe)):
        if a and b:
            worst["le"].append((a / b, name))
    for a, b in ((pe, se), (pl, sl)):
        if a and b:
            worst["pgsq"].append((a / b, name))

print("\nMany applications, Origin on every request (client_credentials, 16 connections):")
for db in ("sqlite", "postgres"):
    few, many = get("valet", f"{db}-large", "cc_origin", 2), get("valet", f"{db}-many", "cc_origin", 2)
    if few and many:
        print(f"  {db}: p99 {few:.2f} ms with {apps} apps, {many:.2f} ms with {apps_many} "
              f"(x{many / few:.2f}; target <= 2), peak RSS {rss.get(('valet', f'{db}-many'), 0):.1f} MB (target <= 40)")

print("\nPeak RSS (MB): " + ", ".join(f"{k[1]} {v:.1f}" for k, v in sorted(rss.items()) if k[0] == "valet")
      + f"; peer {rss.get(('peer', '-'), 0):.1f}")

print(f"\nValet's CPU per request (utime+stime / requests; one ES256 signature = {es256_us:.1f} us here):")
for label, target in (("client_credentials", 45), ("refresh_api", 70)):
    for s in stores:
        rows = wrk.get(("valet", s, label))
        if not rows:
            continue
        ticks, reqs = sum(r[4] for r in rows), sum(r[3] for r in rows)
        us = ticks * 1e6 / os.sysconf("SC_CLK_TCK") / max(reqs, 1)
        print(f"  {label:<20}{s:<16} {us:6.1f} us, outside the signature {us - es256_us:6.1f} us (target <= {target})")

rot = get("valet", "sqlite-empty", "rotate_api_16", 0)
ro = get("valet", "sqlite-empty", "refresh_openid", 0)
print("\nTargets:")
if rot:
    print(f"  rotation without an ID token on SQLite: {rot:,.0f}/s (target >= 3,000): {'met' if rot >= 3000 else 'NOT met'}")
if ro and rsa_sign_s:
    ceiling = rsa_sign_s * os.cpu_count()
    print(f"  refresh with an RS256 ID token: {ro:,.0f}/s, {100 * ro / ceiling:.0f} % of the RSA ceiling "
          f"{ceiling:,.0f}/s (openssl speed rsa2048 x {os.cpu_count()} cores; target >= 85 %)")
for key, name, target in (("vp", "Valet / peer", 3.0), ("le", "large / empty", 0.9), ("pgsq", "PostgreSQL / SQLite", 0.5)):
    if worst[key]:
        low = min(worst[key])
        print(f"  lowest {name}: {low[0]:.2f} ({low[1]}); target >= {target}: {'met' if low[0] >= target else 'NOT met'}")
