#!/usr/bin/env python3
"""Helper of bench/scale.sh: bytes stored per refresh grant as one chain rotates.

  storage.py STATE CLIENT SQLITE_FILE N

Takes a fresh grant of CLIENT (a public `spa` client of STATE, from flows.py signin-valet:
its refresh tokens rotate), then rotates its chain N times in a row over one keep-alive
connection, each refresh sending the newest token. After 1, 10, 100 and N rotations it reads
the SQLite file (while Valet runs; WAL readers do not block it):

  - the chain's rows in refresh_tokens and their payload (the sum of the columns' lengths);
  - refresh_tokens with its indexes, in bytes of pages in use (the dbstat table);
  - the whole database in use: (page_count - freelist_count) * page_size.

Prints one JSON line. Standard library only (Python's sqlite3 has dbstat here).
"""

import hashlib
import json
import sqlite3
import sys

import flows


def measure(db_path, token):
    db = sqlite3.connect(db_path, timeout=30)
    try:
        h = hashlib.sha256(token.encode()).digest()
        row = db.execute("SELECT chain FROM refresh_tokens WHERE hash = ?", (h,)).fetchone()
        if row is None or row[0] is None:
            sys.exit("storage.py: the current refresh token has no chain row (hash or schema changed?)")
        chain = row[0]
        rows, payload = db.execute(
            """SELECT count(*), coalesce(sum(length(hash) + length(grant_id) + length(client_id)
                 + length(user_id) + length(details) + 8 + 8 + 8 + coalesce(length(successor), 0)
                 + length(chain) + 8), 0)
               FROM refresh_tokens WHERE chain = ?""",
            (chain,),
        ).fetchone()
        table = db.execute(
            """SELECT sum(pgsize) FROM dbstat WHERE name = 'refresh_tokens'
               OR name IN (SELECT name FROM sqlite_master WHERE tbl_name = 'refresh_tokens')"""
        ).fetchone()[0]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        in_use = (db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]) * page_size
        return {"chain_rows": rows, "chain_bytes": payload, "refresh_table_bytes": table, "db_bytes_in_use": in_use}
    finally:
        db.close()


def main(state_path, client, db_path, n):
    st = json.load(open(state_path))
    conn = flows.Conn(st)
    _, _, tokens = flows.one_roundtrip(st, conn, client, scope="api:read")
    token = tokens["refresh_token"]
    checkpoints = sorted({c for c in (1, 10, 100, n) if c <= n})
    out = {"rotations": n, "at": {}}
    for i in range(1, n + 1):
        body, headers = flows.token_request(st, client, {"grant_type": "refresh_token", "refresh_token": token})
        r, data = conn.request("POST", st["token_path"], body=body, headers=headers)
        if r.status != 200:
            sys.exit(f"storage.py: rotation {i}: {r.status} {data[:500]!r}")
        new = json.loads(data)["refresh_token"]
        if new == token:
            sys.exit("storage.py: the refresh token did not rotate (is CLIENT public?)")
        token = new
        if i in checkpoints:
            out["at"][str(i)] = measure(db_path, token)
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
