#!/usr/bin/env python3
"""Helper of bench/flows.sh: signs in to Valet or the peer (node-oidc-provider) the way a
browser does, and measures the authorization-code round trip with the session and the
consent in place. Standard library only.

  flows.py signin-valet STATE BASE USER PASSWORD NAME=CLIENT_JSON...  (NAME web first)
  flows.py signin-peer STATE BASE
  flows.py roundtrip STATE CLIENT N [WARMUP]    one connection, keep-alive, sequential
  flows.py refresh-tokens STATE CLIENT COUNT    fresh refresh tokens (one grant each)
  flows.py probe STATE N                        the floor: GET of the JWKS, same connection

STATE is a JSON file: the server's endpoints, its clients, the browser's cookies and two
refresh tokens of the `web` clients (scope `openid`, and an API scope only). `roundtrip` prints one JSON line of statistics.
"""

import base64
import hashlib
import html
import http.client
import http.cookiejar
import json
import os
import re
import statistics
import sys
import time
import urllib.parse as up
import urllib.request

REDIRECT_URI = "http://127.0.0.1:8080/cb"  # the peer's `web` client has this one


def pkce():
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def basic(client_id, secret):
    # RFC 6749 §2.3.1: form-urlencode both before base64.
    pair = f"{up.quote(client_id, safe='')}:{up.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie-keeping browser that does not follow redirects (the sign-in only)."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect
        )

    def go(self, url, data=None):
        body = up.urlencode(data).encode() if data is not None else None
        try:
            r = self.opener.open(urllib.request.Request(url, data=body), timeout=30)
        except urllib.error.HTTPError as e:  # 3xx (not followed) and 4xx/5xx land here
            r = e
        return r.status, r.headers.get("Location"), r.read().decode("utf-8", "replace")

    def cookies(self, path="/"):
        return {c.name: c.value for c in self.jar if c.path == path}


def hidden(page, name):
    m = re.search(r'<input[^>]*name="%s"[^>]*value="([^"]*)"' % re.escape(name), page)
    if not m:
        sys.exit(f"no hidden field {name!r} in the page:\n{page[:2000]}")
    return html.unescape(m.group(1))


def form_action(page):
    m = re.search(r'<form[^>]*action="([^"]+)"', page)
    if not m:
        sys.exit(f"no form in the page:\n{page[:2000]}")
    return html.unescape(m.group(1))


def code_of(location, state):
    if not location or not location.startswith(REDIRECT_URI):
        sys.exit(f"expected a redirect to {REDIRECT_URI} with a code, got Location: {location}")
    q = up.parse_qs(up.urlparse(location).query)
    if "code" not in q:
        sys.exit(f"no code in {location}")
    if q.get("state") != [state]:
        sys.exit(f"state mismatch in {location}")
    return q["code"][0]


def authorize_query(st, client, challenge, state, scope=None):
    return up.urlencode(
        {
            "client_id": st["clients"][client]["id"],
            "response_type": "code",
            "scope": scope or st["scope"],
            "redirect_uri": REDIRECT_URI,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )


def token_request(st, client, params):
    """Body and headers of a token request: Basic for confidential clients, client_id in
    the body for public ones."""
    c = st["clients"][client]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    params = dict(params)
    if c.get("secret"):
        headers["Authorization"] = basic(c["id"], c["secret"])
    else:
        params["client_id"] = c["id"]
    return up.urlencode(params), headers


def redeem(st, client, code, verifier):
    body, headers = token_request(
        st,
        client,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
    )
    req = urllib.request.Request(st["base"] + st["token_path"], data=body.encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        sys.exit(f"token request failed: {e.code} {e.read()[:500]!r}")


def client_json(path):
    with open(path) as f:
        c = json.load(f)
    return {"id": c["client_id"], "secret": c.get("client_secret")}


def consent_once(b, st, client, scope=None):
    """With the session in place: authorize, allow on the consent page, redeem the code."""
    verifier, challenge = pkce()
    base = st["base"]
    status, loc, page = b.go(f"{base}/oauth2/authorize?{authorize_query(st, client, challenge, 's1', scope)}")
    if status != 200:
        sys.exit(f"authorize ({client}): expected the consent page, got {status} {loc}\n{page[:1000]}")
    status, loc, page = b.go(
        f"{base}/consent",
        {"csrf": hidden(page, "csrf"), "interaction": hidden(page, "interaction"), "decision": "allow"},
    )
    return redeem(st, client, code_of(loc, "s1"), verifier)


def signin_valet(state_path, base, user, password, *clients):
    st = {
        "server": "valet",
        "base": base,
        "authorize_path": "/oauth2/authorize",
        "token_path": "/oauth2/token",
        "probe_path": "/oauth2/jwks",
        "scope": "openid",
        "clients": {},
    }
    for c in clients:  # NAME=client.json
        name, _, path = c.partition("=")
        st["clients"][name] = client_json(path)
    b = Browser()
    verifier, challenge = pkce()
    # 1. The login page (it sets the login CSRF cookie).
    status, loc, page = b.go(f"{base}/oauth2/authorize?{authorize_query(st, 'web', challenge, 's0')}")
    if status != 200:
        sys.exit(f"authorize: expected the login page (200), got {status} {loc}\n{page[:1000]}")
    # 2. Sign in: the answer is the consent page (and the session cookie).
    status, loc, page = b.go(
        f"{base}/login",
        {"username": user, "password": password, "csrf": hidden(page, "csrf"), "interaction": hidden(page, "interaction")},
    )
    if status != 200 or "valet-session" not in b.cookies():
        sys.exit(f"login: expected the consent page (200) and a session, got {status} {loc}\n{page[:1000]}")
    # 3. Consent: a 303 to the application with a code.
    status, loc, page = b.go(
        f"{base}/consent",
        {"csrf": hidden(page, "csrf"), "interaction": hidden(page, "interaction"), "decision": "allow"},
    )
    if status != 303:
        sys.exit(f"consent: expected 303, got {status}\n{page[:1000]}")
    st["refresh_token"] = redeem(st, "web", code_of(loc, "s0"), verifier)["refresh_token"]
    # The other applications: consent once each, with the session now in place.
    for client in st["clients"]:
        if client == "web-api":  # an API scope only: no ID token, at sign-in or refresh
            tokens = consent_once(b, st, client, scope="api:read")
            assert "id_token" not in tokens, tokens
            st["refresh_token_api"] = tokens["refresh_token"]
        elif client == "spa-api":  # rotation without an ID token
            assert "id_token" not in consent_once(b, st, client, scope="api:read")
        elif client != "web":
            consent_once(b, st, client)
    st["cookies"] = b.cookies()
    with open(state_path, "w") as f:
        json.dump(st, f)


def signin_peer(state_path, base):
    st = {
        "server": "peer",
        "base": base,
        "authorize_path": "/auth",
        "token_path": "/token",
        "probe_path": "/jwks",
        "scope": "openid",
        "clients": {"web": {"id": "web", "secret": "web-secret"}},
    }
    b = Browser()
    verifier, challenge = pkce()
    # offline_access (a refresh token) needs prompt=consent there, which forces the
    # consent page on every request: only this first sign-in asks for it.
    q = authorize_query(st, "web", challenge, "s0", scope="openid offline_access") + "&prompt=consent"
    status, loc, page = b.go(f"{base}/auth?{q}")  # 303 to /interaction/UID
    status, loc, page = b.go(up.urljoin(base, loc))  # the login page
    status, loc, page = b.go(form_action(page), {"prompt": "login", "login": "alice", "password": "any"})
    status, loc, page = b.go(up.urljoin(base, loc))  # back to /auth/UID: 303 to the consent interaction
    status, loc, page = b.go(up.urljoin(base, loc))  # the consent page
    status, loc, page = b.go(form_action(page), {"prompt": "consent"})
    status, loc, page = b.go(up.urljoin(base, loc))  # /auth/UID: 303 to the application
    st["refresh_token"] = redeem(st, "web", code_of(loc, "s0"), verifier)["refresh_token"]
    # An API scope only (no ID token), for the refresh without ID token: consent again.
    verifier, challenge = pkce()
    q = authorize_query(st, "web", challenge, "s1", scope="api:read offline_access") + "&prompt=consent"
    status, loc, page = b.go(f"{base}/auth?{q}")  # 303 to the consent interaction
    status, loc, page = b.go(up.urljoin(base, loc))  # the consent page
    status, loc, page = b.go(form_action(page), {"prompt": "consent"})
    status, loc, page = b.go(up.urljoin(base, loc))  # 303 to the application
    tokens = redeem(st, "web", code_of(loc, "s1"), verifier)
    assert "id_token" not in tokens, tokens
    st["refresh_token_api"] = tokens["refresh_token"]
    st["cookies"] = b.cookies("/")
    with open(state_path, "w") as f:
        json.dump(st, f)


class Conn:
    """One keep-alive connection with the browser's cookies (kept up to date)."""

    def __init__(self, st):
        u = up.urlparse(st["base"])
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        self.cookies = dict(st["cookies"])

    def cookie_header(self):
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        for line in r.headers.get_all("Set-Cookie") or []:
            pair = line.split(";", 1)[0]
            k, _, v = pair.partition("=")
            if k in self.cookies:
                self.cookies[k] = v
        return r, data


def one_roundtrip(st, conn, client, state="st", scope=None):
    """GET authorize (303 with a code) then POST token; returns (authorize ns, token ns, tokens)."""
    verifier, challenge = pkce()
    path = f"{st['authorize_path']}?{authorize_query(st, client, challenge, state, scope)}"
    t0 = time.perf_counter_ns()
    r, data = conn.request("GET", path, headers={"Cookie": conn.cookie_header()})
    t1 = time.perf_counter_ns()
    if r.status != 303:
        sys.exit(f"GET {path}: expected 303 with a code, got {r.status} {r.headers.get('Location')}\n{data[:1000]!r}")
    code = code_of(r.headers.get("Location"), state)
    body, headers = token_request(
        st,
        client,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
    )
    t2 = time.perf_counter_ns()
    r, data = conn.request("POST", st["token_path"], body=body, headers=headers)
    t3 = time.perf_counter_ns()
    if r.status != 200:
        sys.exit(f"POST {st['token_path']}: expected 200, got {r.status}\n{data[:1000]!r}")
    return t1 - t0, t3 - t2, json.loads(data)


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def roundtrip(state_path, client, n, warmup):
    st = json.load(open(state_path))
    conn = Conn(st)
    for _ in range(warmup):
        one_roundtrip(st, conn, client)
    total, auth, tok = [], [], []
    kinds = set()
    t_start = time.perf_counter_ns()
    for _ in range(n):
        a, t, tokens = one_roundtrip(st, conn, client)
        total.append((a + t) / 1e6)
        auth.append(a / 1e6)
        tok.append(t / 1e6)
        kinds.add(tuple(sorted(k for k in ("access_token", "id_token", "refresh_token") if k in tokens)))
    wall = (time.perf_counter_ns() - t_start) / 1e9
    print(
        json.dumps(
            {
                "server": st["server"],
                "client": client,
                "n": n,
                "p50": pct(total, 50),
                "p90": pct(total, 90),
                "p99": pct(total, 99),
                "mean": statistics.fmean(total),
                "authorize_p50": pct(auth, 50),
                "token_p50": pct(tok, 50),
                "per_s": n / wall,
                "tokens": sorted("+".join(k) for k in kinds),
            }
        )
    )


def refresh_tokens(state_path, client, count, scope=None):
    st = json.load(open(state_path))
    conn = Conn(st)
    out = []
    for i in range(count):
        _, _, tokens = one_roundtrip(st, conn, client, scope=scope)
        out.append(tokens["refresh_token"])
    print(",".join(out))


def probe(state_path, n):
    """The floor under every number: this client, one connection, a GET of the JWKS (a
    small, cached document on both servers)."""
    st = json.load(open(state_path))
    conn = Conn(st)
    xs = []
    for i in range(n + 100):
        t0 = time.perf_counter_ns()
        r, _ = conn.request("GET", st["probe_path"])
        if i >= 100:
            xs.append((time.perf_counter_ns() - t0) / 1e6)
        if r.status != 200:
            sys.exit(f"probe: {r.status}")
    print(json.dumps({"server": st["server"], "probe_p50": pct(xs, 50)}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "signin-valet":
        signin_valet(*args)
    elif cmd == "signin-peer":
        signin_peer(*args)
    elif cmd == "roundtrip":
        roundtrip(args[0], args[1], int(args[2]), int(args[3]) if len(args) > 3 else 100)
    elif cmd == "refresh-tokens":
        refresh_tokens(args[0], args[1], int(args[2]), args[3] if len(args) > 3 else None)
    elif cmd == "probe":
        probe(args[0], int(args[1]))
    else:
        sys.exit(__doc__)
