"""The report of bench/scale.sh, from its results file: one Markdown table, then the targets
of issue 17 with what this run measured.

Usage: scale.py RESULTS SCALE DURATION APPS APPS_MANY TOKENS USERS REVOKED ROTATIONS
"""
import json
import os
import statistics
import sys

path, scale, duration, apps, apps_many, tokens, users, revoked, rotations = sys.argv[1:]
wrk, rt, rss, seed, storage = {}, {}, {}, {}, None
es256_us = rsa_sign_s = None
for line in open(path):
    f = line.rstrip("\n").split("\t")
    if f[0] == "crypto":
        es256_us, rsa_sign_s = float(f[1]), float(f[2])
    elif f[0] == "wrk":
        server, store, label = f[1:4]
        rps, p50, p99 = map(float, f[4:7])
        reqs, ticks, sockerr = int(f[7] or 0), int(f[8] or 0), int(f[9] or 0)
        wrk[(server, store, label)] = (rps, p50, p99, reqs, ticks, sockerr)
    elif f[0] == "rt":
        r = json.loads(f[3])
        rt[(f[1], f[2])] = (r["per_s"], r["p50"], r["p99"])
    elif f[0] == "rss":
        rss[(f[1], f[2])] = float(f[3])
    elif f[0] == "seed":
        seed[f[1]] = float(f[2])
    elif f[0] == "storage":
        storage = json.loads(f[2])

STORES = ("sqlite-empty", "sqlite-large", "postgres-empty", "postgres-large")
stores = [s for s in STORES if any(k[1] == s for k in wrk)]
SCENARIOS = [
    ("client_credentials", "client_credentials"),
    ("cc_origin", "client_credentials + Origin"),
    ("cc_origin_256", "client_credentials + Origin, 256 conns"),
    ("introspection", "introspection"),
    ("userinfo", "UserInfo"),
    ("refresh_api", "refresh, api:read (no ID token)"),
    ("refresh_api_256", "refresh, api:read, 256 conns"),
    ("refresh_openid", "refresh, openid (RS256 ID token)"),
    ("rotate_api_16", "rotation api:read, 16 chains"),
    ("rotate_openid_16", "rotation openid, 16 chains"),
    ("roundtrip", "code round trip (1 conn, trips/s)"),
]


def get(server, store, label):
    """(req/s, p50 ms, p99 ms) or None."""
    if label == "roundtrip":
        return rt.get((server, store))
    r = wrk.get((server, store, label))
    return r[:3] if r else None


def ratio(a, b):
    return a[0] / b[0] if a and b else None


def fmt_ratio(x):
    return f"{x:.2f}" if x is not None else "–"


def cell(v):
    return f"{v[0]:,.0f}/s {v[1]:.2f}/{v[2]:.1f}" if v else "–"


names = {"sqlite-empty": "SQLite empty", "sqlite-large": "SQLite large",
         "postgres-empty": "PG empty", "postgres-large": "PG large"}
print(f"\nbench/scale.sh, SCALE={scale}, DURATION={duration} s per run, {os.cpu_count()} CPUs.")
print(f"Large store: {int(tokens):,} refresh tokens, {int(users):,} users and grants, "
      f"{int(revoked):,} revoked access tokens, {int(apps):,} applications; "
      f"the many-applications store: {int(apps_many):,} applications only.")
print("Cells: req/s p50/p99 in ms (wrk -t2 -c16 unless named; the peer = node-oidc-provider, "
      "measured beside each store, its median). Ratios on req/s: V/peer is the lowest..highest "
      "over the four stores, each against the peer run in its own window.\n")
head = ["scenario"] + [names[s] for s in stores] + ["peer", "V/peer", "L/E SQLite", "L/E PG",
                                                    "PG/SQ empty", "PG/SQ large"]
print("| " + " | ".join(head) + " |")
print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
worst = {"vp": [], "le": [], "pgsq": []}
for label, name in SCENARIOS:
    row = [name] + [cell(get("valet", s, label)) for s in stores]
    peers = [get("peer", s, label) for s in stores]
    peers = [p for p in peers if p]
    pmed = tuple(statistics.median(p[i] for p in peers) for i in range(3)) if peers else None
    row.append(cell(pmed))
    vps = [(ratio(get("valet", s, label), get("peer", s, label)), s) for s in stores]
    vps = [v for v in vps if v[0] is not None]
    row.append(f"{min(vps)[0]:.1f}..{max(vps)[0]:.1f}" if vps else "–")
    worst["vp"] += [(v, f"{name}, {s}") for v, s in vps]
    se, sl, pe, pl = (get("valet", s, label) for s in STORES)
    for a, b, key, what in ((sl, se, "le", "SQLite"), (pl, pe, "le", "PG"),
                            (pe, se, "pgsq", "empty"), (pl, sl, "pgsq", "large")):
        r = ratio(a, b)
        row.append(fmt_ratio(r))
        if r is not None:
            worst[key].append((r, f"{name}, {what}"))
    print("| " + " | ".join(row) + " |")
rss_row = ["peak RSS (VmHWM), MB"] + [f"{rss[('valet', s)]:.1f}" if ("valet", s) in rss else "–" for s in stores]
rss_row += [f"{rss.get(('peer', '-'), 0):.1f} (whole run)"] + [""] * 5
print("| " + " | ".join(rss_row) + " |")

errs = [(k, v[5]) for k, v in wrk.items() if v[5]]
if errs:
    print("\nSocket errors (connect/read/write/timeout; not answers, so not counted as non-2xx): "
          + ", ".join(f"{k[0]} {k[2]} {k[1]}: {n}" for k, n in errs))
if seed:
    print("\nSeeding (valet seed, s): " + ", ".join(f"{k} {v:.1f}" for k, v in seed.items() if v > 0.5))

print("\nMany applications, Origin on every request (client_credentials; few = the empty store, "
      "with only the bench's own applications):")
for db in ("sqlite", "postgres"):
    for label, conns in (("cc_origin", 16), ("cc_origin_256", 256)):
        few, large, many = (get("valet", f"{db}-{s}", label) for s in ("empty", "large", "many"))
        if few and many:
            print(f"  {db}, {conns} conns: p99 {few[2]:.2f} ms few apps, "
                  + (f"{large[2]:.2f} ms with {int(apps):,}, " if large else "")
                  + f"{many[2]:.2f} ms with {int(apps_many):,} (x{many[2] / few[2]:.2f} of few; target <= 2): "
                  + ("met" if many[2] <= 2 * few[2] else "NOT met"))
    m = rss.get(("valet", f"{db}-many"))
    if m is not None:
        print(f"  {db}: peak RSS with {int(apps_many):,} applications {m:.1f} MB (target <= 40): "
              + ("met" if m <= 40 else "NOT met"))

tck = os.sysconf("SC_CLK_TCK")
print(f"\nValet's CPU per request (utime+stime over the run / requests); one ES256 signature costs "
      f"{es256_us:.1f} us here (openssl speed), one RS256 {1e6 / rsa_sign_s:.0f} us:")
for label, sigs, target in (("client_credentials", "es", 45), ("cc_origin", "es", None),
                            ("refresh_api", "es", 70), ("rotate_api_16", "es", None),
                            ("refresh_openid", "es+rsa", None)):
    for s in stores:
        r = wrk.get(("valet", s, label))
        if not r or not r[3]:
            continue
        us = r[4] * 1e6 / tck / r[3]
        sig = es256_us + (1e6 / rsa_sign_s if sigs == "es+rsa" else 0)
        t = f" (target <= {target}: {'met' if us - sig <= target else 'NOT met'})" if target else ""
        print(f"  {label:<20}{s:<16}{us:7.1f} us, outside the signature{'s' if sigs != 'es' else ''} {us - sig:6.1f} us{t}")

if storage:
    at = storage["at"]
    print(f"\nStorage, one chain rotated {storage['rotations']} times (SQLite, the empty store):")
    print("| after rotations | chain rows | chain bytes (row payload) | refresh_tokens + indexes, bytes of pages | database in use, bytes |")
    print("|---:|---:|---:|---:|---:|")
    for k in sorted(at, key=int):
        m = at[k]
        print(f"| {k} | {m['chain_rows']} | {m['chain_bytes']} | {m['refresh_table_bytes']:,} | {m['db_bytes_in_use']:,} |")
    first, last = at[min(at, key=int)], at[max(at, key=int)]
    ref = at.get("10", first)
    d = last["chain_bytes"] / ref["chain_bytes"] - 1
    print(f"  bytes per grant after {max(at, key=int)} rotations vs after {10 if '10' in at else min(at, key=int)}: "
          f"{d:+.1%} (target within ±10 %): {'met' if abs(d) <= 0.10 else 'NOT met'}")

print("\nTargets:")
rot = get("valet", "sqlite-empty", "rotate_api_16")
if rot:
    print(f"  rotation without an ID token, SQLite (empty store, 16 chains): {rot[0]:,.0f}/s "
          f"(target >= 3,000): {'met' if rot[0] >= 3000 else 'NOT met'}")
ceiling = rsa_sign_s * os.cpu_count()
for label in ("refresh_openid", "rotate_openid_16"):
    r = get("valet", "sqlite-empty", label)
    if r:
        print(f"  {label} (SQLite, empty): {r[0]:,.0f}/s = {100 * r[0] / ceiling:.0f} % of the RSA ceiling "
              f"{ceiling:,.0f}/s (openssl speed rsa2048 x {os.cpu_count()} cores; target >= 85 %)")
for key, name, target in (("vp", "Valet / peer", 3.0), ("le", "large / empty", 0.9),
                          ("pgsq", "PostgreSQL / SQLite", 0.5)):
    if worst[key]:
        low = min(worst[key])
        bad = sorted(w for w in worst[key] if w[0] < target)
        print(f"  {name}: lowest {low[0]:.2f} ({low[1]}); target >= {target}: "
              + ("met everywhere" if not bad else f"NOT met in {len(bad)} of {len(worst[key])}: "
                 + "; ".join(f"{w[1]} {w[0]:.2f}" for w in bad)))
cc = [(ratio(get("valet", s, "client_credentials"), get("peer", s, "client_credentials")), s) for s in stores]
cc = [c for c in cc if c[0] is not None]
if cc:
    print(f"  client_credentials / peer: lowest {min(cc)[0]:.1f} ({min(cc)[1]}); target >= 10: "
          + ("met" if min(cc)[0] >= 10 else "NOT met"))
rtv = get("valet", "sqlite-empty", "roundtrip")
if rtv:
    print(f"  code round trip p50 (SQLite, empty): {rtv[1]:.2f} ms (target <= 2 ms): {'met' if rtv[1] <= 2 else 'NOT met'}")
