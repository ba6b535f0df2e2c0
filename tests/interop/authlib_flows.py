"""Valet driven by Python's authlib, with joserfc checking every signature.

    REQUESTS_CA_BUNDLE=ca.pem INTEROP_CA=ca.pem INTEROP_TLS_CERT=... INTEROP_TLS_KEY=... \\
    VALET_BIN=/path/to/valet tests/interop/.venv/bin/python tests/interop/authlib_flows.py

(tests/interop/run.sh makes the certificate authority and sets all that.)

Starts Valet over HTTPS in a fresh temporary folder, registers a user, an API, a
`service`, a `web` (client_secret_basic) and a `spa` (public) application, and checks:
  - discovery: both metadata documents pass authlib's own validators (OpenID Connect
    Discovery 1.0, RFC 8414);
  - client_credentials through authlib's OAuth2Session (client_secret_basic, and
    client_secret_post for a second service); the access token verifies against
    /oauth2/jwks with joserfc as an RFC 9068 token (typ at+jwt, iss, aud, sub, client_id,
    iat, exp, jti, scope); introspection and revocation through OAuth2Session;
  - the authorization code flow with PKCE S256: OAuth2Session builds the URL, state and
    challenge; a plain `requests` session plays the browser (login and consent forms, with
    their hidden `csrf` and `interaction` fields); OAuth2Session checks the state of the
    redirect and redeems the code; the ID token verifies against /oauth2/jwks (joserfc)
    and passes authlib's OpenID Connect claim checks (CodeIDToken: iss, aud, nonce, azp,
    at_hash); the user's access token verifies as RFC 9068; UserInfo, refresh (and, for
    the spa, rotation), revocation;
  - `valet explain --json` on the revoked service token: state `revoked`, and why;
  - /metrics, on the --metrics-listen port only, parsed by prometheus_client's OpenMetrics
    parser: the tokens just issued counted by grant, the latency histogram by route, key
    ages, and no client_id or username among the labels.
One line per step; exits 1 with the reason on the first failure.

Environment: VALET_BIN (required), INTEROP_TLS_CERT / INTEROP_TLS_KEY (PEM files for
Valet), INTEROP_CA (the CA that signed them; every HTTPS request verifies against it).
"""

from __future__ import annotations

import html.parser
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families

VALET_BIN = os.environ.get("VALET_BIN", "")
TLS_CERT = os.environ.get("INTEROP_TLS_CERT", "")
TLS_KEY = os.environ.get("INTEROP_TLS_KEY", "")
CA = os.environ.get("INTEROP_CA", "")
TIMEOUT = 15  # seconds, any one HTTP call or command
TOTAL_TIMEOUT = 120  # the whole run, as a last resort against a hang

USER = {"username": "bob", "email": "bob@example.com", "name": "Bob Example", "password": "tr0ub4dor&3 but longer"}
API = {"audience": "https://inventory.interop.test", "scope": "inventory.read"}
SCOPE = "openid profile email offline_access"
# Nothing listens here: the "browser" stops at the redirect and hands its URL over.
REDIRECT = {"web": "https://web.interop.test/callback", "spa": "https://spa.interop.test/callback"}


# ---------------------------------------------------------------------------------------
# Steps and failures (as tests/browser/sign-in.mjs)


class Failure(Exception):
    pass


started = time.monotonic()
current = "setup"
step_no = 0


def step(name):
    """Decorator-free step: `with step("..."):` prints `ok N - name (ms)` on success."""

    class _Step:
        def __enter__(self):
            global current, step_no
            current = name
            step_no += 1
            self.t0 = time.monotonic()
            return self

        def __exit__(self, kind, value, tb):
            if kind is None:
                ms = round((time.monotonic() - self.t0) * 1000)
                print(f"ok {step_no:2d} - {name} ({ms} ms)", flush=True)
            return False

    return _Step()


def check(cond, message):
    if not cond:
        raise Failure(message)


def equal(actual, expected, what):
    if actual != expected:
        raise Failure(f"{what}: expected {expected!r}, got {actual!r}")


def describe(r: requests.Response) -> str:
    return f"{r.request.method} {r.url} -> {r.status_code} {r.text[:500]}"


# ---------------------------------------------------------------------------------------
# Valet


class Valet:
    def __init__(self, tmp):
        self.tmp = tmp
        self.data_args = ["--database", f"sqlite://{tmp}/valet.db", "--master-key-file", f"{tmp}/valet.master-key"]
        self.proc = None
        self.log = None
        self.issuer = None
        self.metrics = None

    @staticmethod
    def env():
        # Valet refuses VALET_* variables it does not know (VALET_BIN among them).
        return {k: v for k, v in os.environ.items() if not k.startswith("VALET_") or k == "VALET_LOG"}

    def admin(self, args, stdin=""):
        r = subprocess.run([VALET_BIN, *args, *self.data_args], input=stdin, capture_output=True, text=True,
                           env=self.env(), timeout=TIMEOUT)
        if r.returncode != 0:
            raise Failure(f"valet {' '.join(args[:2])} exited {r.returncode}: {(r.stderr or r.stdout).strip()}")
        return r.stdout

    def client(self, name, profile, *extra):
        out = self.admin(["client", "create", "--name", name, "--profile", profile, *extra, "--json"])
        try:
            return json.loads(out)
        except ValueError:
            raise Failure(f"client create --json printed no JSON: {out}") from None

    def start(self):
        for attempt in range(1, 4):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.metrics = f"http://127.0.0.1:{s.getsockname()[1]}/metrics"
            self.issuer = f"https://localhost:{port}"
            self.log = os.path.join(self.tmp, f"valet-{attempt}.log")
            with open(self.log, "wb") as out:
                self.proc = subprocess.Popen(
                    [VALET_BIN, "serve", "--listen", f"127.0.0.1:{port}", "--issuer", self.issuer,
                     "--shutdown-grace", "1", "--tls-cert", TLS_CERT, "--tls-key", TLS_KEY,
                     "--metrics-listen", self.metrics.removeprefix("http://").removesuffix("/metrics"),
                     *self.data_args],
                    cwd=self.tmp, env=self.env(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + TIMEOUT
            last = ""
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    # verify=CA: a TLS failure here is a failure of the run.
                    if requests.get(f"{self.issuer}/health/ready", timeout=1, verify=CA).ok:
                        return
                except requests.RequestException as e:
                    last = str(e)
                time.sleep(0.1)
            log = open(self.log, encoding="utf-8", errors="replace").read()
            if self.proc.poll() is not None and "in use" in log and attempt < 3:
                continue
            raise Failure(f"Valet did not become ready on {self.issuer} (last error: {last}):\n{log.strip()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, n=30):
        if not self.log or not os.path.exists(self.log):
            return ""
        lines = open(self.log, encoding="utf-8", errors="replace").read().rstrip().split("\n")
        return "\n".join(lines[-n:])


# ---------------------------------------------------------------------------------------
# The "browser": a requests session that submits Valet's forms


class Forms(html.parser.HTMLParser):
    """The forms of a page: action, method, fields (inputs) and submit buttons."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": (a.get("method") or "get").lower(),
                               "fields": {}, "buttons": []})
        elif self.forms and tag == "input" and a.get("name") is not None:
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""
        elif self.forms and tag == "button":
            self.forms[-1]["buttons"].append((a.get("name"), a.get("value")))


def form_of(r: requests.Response, action: str):
    parser = Forms()
    parser.feed(r.text)
    found = [f for f in parser.forms if f["action"] == action]
    check(len(found) == 1, f"expected one form posting to {action} on {r.url} ({r.status_code}); "
                           f"forms: {[f['action'] for f in parser.forms]}")
    f = found[0]
    for hidden in ("csrf", "interaction"):
        check(f["fields"].get(hidden), f"the {action} form lacks its hidden {hidden} field")
    return f


def browser_authorize(browser: requests.Session, url: str, redirect_uri: str, login: bool, consent: bool) -> str:
    """Walks the pages from the authorization URL to the redirect; returns its URL."""
    r = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
    if login:
        check(r.status_code == 200, f"the authorization URL did not show the login page: {describe(r)}")
        f = form_of(r, "/login")
        check("username" in f["fields"] and "password" in f["fields"], "the login form lacks username/password")
        data = {**f["fields"], "username": USER["username"], "password": USER["password"]}
        r = browser.post(urljoin(r.url, f["action"]), data=data, allow_redirects=False, timeout=TIMEOUT)
    if consent:
        check(r.status_code == 200, f"no consent page: {describe(r)}")
        f = form_of(r, "/consent")
        check(("decision", "allow") in f["buttons"], f"the consent form has no Allow button: {f['buttons']}")
        r = browser.post(urljoin(r.url, f["action"]), data={**f["fields"], "decision": "allow"},
                         allow_redirects=False, timeout=TIMEOUT)
    check(r.status_code in (302, 303), f"expected a redirect to the application: {describe(r)}")
    location = r.headers.get("location", "")
    check(location.startswith(redirect_uri + "?"), f"redirect to {location!r}, not to {redirect_uri}")
    return location


# ---------------------------------------------------------------------------------------
# Tokens, checked with joserfc against the JWKS


def jwks_key_set(metadata) -> tuple[KeySet, dict]:
    r = requests.get(metadata["jwks_uri"], timeout=TIMEOUT, verify=CA)
    check(r.status_code == 200, f"JWKS: {describe(r)}")
    doc = r.json()
    kids = [k.get("kid") for k in doc.get("keys", [])]
    check(kids and len(set(kids)) == len(kids) and all(kids), f"JWKS kids missing or repeated: {kids}")
    return KeySet.import_key_set(doc), doc


def verify_access_token(token: str, keys: KeySet, jwks: dict, issuer: str, **expected):
    """RFC 9068: a signed JWT with typ at+jwt and iss, exp, aud, sub, client_id, iat, jti."""
    algs = sorted({k["alg"] for k in jwks["keys"] if k.get("alg")})
    check(algs, f"no key of the JWKS names its alg: {jwks}")
    t = jose_jwt.decode(token, keys, algorithms=algs)  # raises on a bad signature
    typ = str(t.header.get("typ", "")).lower()
    check(typ in ("at+jwt", "application/at+jwt"), f"access token typ {t.header.get('typ')!r} (RFC 9068 §2.1)")
    check(t.header.get("alg") != "none" and t.header.get("kid"), f"access token header {t.header}")
    options = {name: {"essential": True} for name in ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")}
    options["iss"]["value"] = issuer
    for name, value in expected.items():
        options.setdefault(name, {"essential": True})["value"] = value
    jose_jwt.JWTClaimsRegistry(leeway=5, **options).validate(t.claims)
    return t


def verify_id_token(id_token: str, keys: KeySet, metadata, client_id: str, nonce: str, access_token: str):
    """As authlib's OpenID Connect clients do (OpenIDMixin.parse_id_token), and stricter on
    the audience: the signature with joserfc, then authlib's CodeIDToken claim checks."""
    registry = JWSRegistry(algorithms=metadata["id_token_signing_alg_values_supported"])
    t = jose_jwt.decode(id_token, keys, registry=registry)
    claims = CodeIDToken(
        t.claims, t.header,
        {"iss": {"essential": True, "value": metadata["issuer"]},
         "aud": {"essential": True, "value": client_id},
         "sub": {"essential": True}},
        {"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    claims.validate(leeway=5)
    return claims


def expect_oauth_error(what, code, fn):
    try:
        result = fn()
    except OAuthError as e:
        equal(e.error, code, f"{what}: error ({e.description})")
        return
    raise Failure(f"{what}: expected error={code}, but it succeeded: {result}")


# ---------------------------------------------------------------------------------------
# The test


def main(valet: Valet):
    check(VALET_BIN and os.path.exists(VALET_BIN), f"VALET_BIN={VALET_BIN!r} is not a built valet binary")
    check(TLS_CERT and TLS_KEY and CA, "INTEROP_TLS_CERT, INTEROP_TLS_KEY and INTEROP_CA must be set: run tests/interop/run.sh")

    with step("user, API and service, web and spa applications registered"):
        valet.admin(["user", "create", "--username", USER["username"], "--email", USER["email"],
                     "--name", USER["name"], "--password-stdin"], USER["password"] + "\n")
        valet.admin(["api", "create", "--audience", API["audience"], "--scope", f"{API['scope']}=Read the inventory"])
        service = valet.client("Authlib Service", "service", "--scope", API["scope"])
        service_post = valet.client("Authlib Service (form post)", "service", "--scope", API["scope"],
                                    "--auth-method", "client_secret_post")
        apps = {
            "web": valet.client("Authlib Web App", "web", "--redirect-uri", REDIRECT["web"]),
            "spa": valet.client("Authlib Single-Page App", "spa", "--redirect-uri", REDIRECT["spa"]),
        }
        check(service.get("client_secret") and apps["web"].get("client_secret"), "a confidential client got no secret")

    with step("Valet serving HTTPS with the test CA's certificate"):
        valet.start()
    issuer = valet.issuer

    with step("discovery documents pass authlib's validators (OIDC Discovery, RFC 8414)"):
        r = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT, verify=CA)
        check(r.status_code == 200, describe(r))
        metadata = OpenIDProviderMetadata(r.json())
        metadata.validate()
        equal(metadata["issuer"], issuer, "issuer")
        r = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=TIMEOUT, verify=CA)
        check(r.status_code == 200, describe(r))
        as_metadata = AuthorizationServerMetadata(r.json())
        as_metadata.validate()
        equal(as_metadata["issuer"], issuer, "RFC 8414 issuer")
        check("S256" in metadata["code_challenge_methods_supported"], "PKCE S256 not advertised")
        keys, jwks = jwks_key_set(metadata)

    # ----- client_credentials

    with step("service: client_credentials (OAuth2Session, client_secret_basic)"):
        s = OAuth2Session(service["client_id"], service["client_secret"], token_endpoint_auth_method="client_secret_basic",
                          scope=API["scope"], verify=CA, default_timeout=TIMEOUT)
        tok = s.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        equal(str(tok.get("token_type", "")).lower(), "bearer", "token_type")
        check(tok.get("expires_in", 0) > 0 and tok.get("expires_at"), f"expires_in: {tok}")
        check("refresh_token" not in tok and "id_token" not in tok, "client_credentials gave a refresh or ID token")

    with step("service: client_credentials with client_secret_post"):
        sp = OAuth2Session(service_post["client_id"], service_post["client_secret"],
                           token_endpoint_auth_method="client_secret_post", scope=API["scope"], verify=CA,
                           default_timeout=TIMEOUT)
        tok_post = sp.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        verify_access_token(tok_post["access_token"], keys, jwks, issuer, aud=API["audience"],
                            client_id=service_post["client_id"], sub=service_post["client_id"], scope=API["scope"])

    with step("service: the access token verifies as RFC 9068 (joserfc, /oauth2/jwks)"):
        verify_access_token(tok["access_token"], keys, jwks, issuer, aud=API["audience"],
                            client_id=service["client_id"], sub=service["client_id"], scope=API["scope"])

    with step("service: introspection and revocation (OAuth2Session)"):
        r = s.introspect_token(metadata["introspection_endpoint"], token=tok["access_token"])
        check(r.status_code == 200, describe(r))
        i = r.json()
        equal(i.get("active"), True, "introspection active")
        equal(i.get("client_id"), service["client_id"], "introspection client_id")
        r = s.revoke_token(metadata["revocation_endpoint"], token=tok["access_token"], token_type_hint="access_token")
        check(r.status_code == 200, describe(r))
        r = s.introspect_token(metadata["introspection_endpoint"], token=tok["access_token"])
        equal(r.json(), {"active": False}, "introspection after revocation")

    with step("service: valet explain says the revoked token is revoked, and why"):
        out = json.loads(valet.admin(["--issuer", issuer, "explain", "-", "--json"], tok["access_token"] + "\n"))
        equal(out.get("state"), "revoked", f"explain state ({out})")
        check("revocation list" in out.get("reason", ""), f"explain reason: {out}")
        equal(out.get("client_id"), service["client_id"], "explain client_id")

    # ----- the code flow, for a confidential and a public application

    browser = requests.Session()
    browser.verify = CA
    subs = set()
    for kind in ("web", "spa"):
        app = apps[kind]
        if kind == "web":
            s = OAuth2Session(app["client_id"], app["client_secret"], token_endpoint_auth_method="client_secret_basic",
                              scope=SCOPE, redirect_uri=REDIRECT[kind], code_challenge_method="S256",
                              verify=CA, default_timeout=TIMEOUT)
        else:
            s = OAuth2Session(app["client_id"], token_endpoint_auth_method="none", scope=SCOPE,
                              redirect_uri=REDIRECT[kind], code_challenge_method="S256",
                              verify=CA, default_timeout=TIMEOUT)
        s.metadata["token_endpoint"] = metadata["token_endpoint"]

        with step(f"{kind}: authorization URL, state and PKCE S256 by OAuth2Session"):
            verifier = secrets.token_urlsafe(48)
            nonce = secrets.token_urlsafe(16)
            url, state = s.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
            q = parse_qs(urlsplit(url).query)
            equal(q.get("code_challenge_method"), ["S256"], "code_challenge_method in the URL")

        first = kind == "web"
        label = "login and consent forms" if first else "still signed in: consent form only"
        with step(f"{kind}: the pages ({label}, hidden csrf and interaction fields)"):
            callback = browser_authorize(browser, url, REDIRECT[kind], login=first, consent=True)
            cq = parse_qs(urlsplit(callback).query)
            equal(cq.get("iss"), [issuer], "iss in the authorization response (RFC 9207)")

        with step(f"{kind}: OAuth2Session checks the state and redeems the code with the verifier"):
            tok = s.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state,
                                code_verifier=verifier)
            for k in ("access_token", "id_token", "refresh_token"):
                check(tok.get(k), f"the code grant lacks {k}: {sorted(tok)}")
            equal(str(tok.get("token_type", "")).lower(), "bearer", "token_type")

        with step(f"{kind}: the ID token verifies (joserfc, /oauth2/jwks) and passes authlib's CodeIDToken checks"):
            claims = verify_id_token(tok["id_token"], keys, metadata, app["client_id"], nonce, tok["access_token"])
            subs.add(claims["sub"])

        with step(f"{kind}: the user's access token verifies as RFC 9068"):
            at = verify_access_token(tok["access_token"], keys, jwks, issuer, sub=claims["sub"], client_id=app["client_id"])
            check("openid" in str(at.claims.get("scope", "")).split(), f"access token scope {at.claims.get('scope')!r}")

        with step(f"{kind}: UserInfo with the token (OAuth2Session)"):
            r = s.get(metadata["userinfo_endpoint"])
            check(r.status_code == 200, describe(r))
            u = r.json()
            equal(u.get("sub"), claims["sub"], "UserInfo sub")
            equal(u.get("email"), USER["email"], "UserInfo email")
            equal(u.get("name"), USER["name"], "UserInfo name")

        with step(f"{kind}: refresh (OAuth2Session.refresh_token)"):
            old = dict(s.token)
            new = s.refresh_token(metadata["token_endpoint"])
            check(new.get("access_token") and new["access_token"] != old["access_token"], "refresh gave no new access token")
            verify_access_token(new["access_token"], keys, jwks, issuer, sub=claims["sub"], client_id=app["client_id"])
            if kind == "spa":
                check(new.get("refresh_token") and new["refresh_token"] != old["refresh_token"],
                      "a public application's refresh token did not rotate")
            else:
                check(new.get("refresh_token") in (None, old["refresh_token"]),
                      "a confidential application's refresh token rotated (rotation defaults to public)")
            if new.get("id_token"):
                c = verify_id_token(new["id_token"], keys, metadata, app["client_id"], None, new["access_token"])
                equal(c["sub"], claims["sub"], "refreshed ID token sub")

        with step(f"{kind}: revoking the refresh token (OAuth2Session) ends the grant"):
            rt = s.token["refresh_token"]
            r = s.revoke_token(metadata["revocation_endpoint"], token=rt, token_type_hint="refresh_token")
            check(r.status_code == 200, describe(r))
            expect_oauth_error("refresh with the revoked token", "invalid_grant",
                               lambda: s.refresh_token(metadata["token_endpoint"], refresh_token=rt))
            r = requests.get(metadata["userinfo_endpoint"], headers={"authorization": f"Bearer {s.token['access_token']}"},
                             timeout=TIMEOUT, verify=CA)
            equal(r.status_code, 401, f"UserInfo with an access token of the revoked grant ({r.text[:200]})")

    equal(len(subs), 1, "the same user's sub for both applications")

    with step("metrics: /metrics on its own port parses as OpenMetrics (prometheus_client)"):
        r = requests.get(f"{issuer}/metrics", timeout=TIMEOUT, verify=CA)
        equal(r.status_code, 404, "/metrics on the public port")
        r = requests.get(valet.metrics, timeout=TIMEOUT)
        check(r.status_code == 200, describe(r))
        families = {f.name: f for f in text_string_to_metric_families(r.text)}
        issued = families.get("valet_tokens_issued")
        check(issued is not None and issued.type == "counter", f"valet_tokens_issued: {sorted(families)}")
        cc = sum(s.value for s in issued.samples
                 if s.name == "valet_tokens_issued_total" and s.labels.get("grant") == "client_credentials"
                 and s.labels.get("token") == "access")
        equal(cc, 2.0, "client_credentials access tokens counted")
        codes = sum(s.value for s in issued.samples
                    if s.labels.get("grant") == "authorization_code" and s.labels.get("token") == "id")
        equal(codes, 2.0, "ID tokens from the code flow (web and spa)")
        latency = families.get("valet_http_request_duration_seconds")
        check(latency is not None and latency.type == "histogram", "the request latency histogram")
        routes = {s.labels.get("route") for s in latency.samples}
        check("/oauth2/token" in routes and "/login" in routes, f"routes: {sorted(r for r in routes if r)}")
        ages = [s for s in families["valet_signing_key_age_seconds"].samples]
        check(ages and all(s.value >= 0 for s in ages), f"key ages: {ages}")
        labels = {v for f in families.values() for s in f.samples for v in s.labels.values()}
        check(service["client_id"] not in labels and USER["username"] not in labels,
              "a client_id or a user as a label")


def run():
    tmp = tempfile.mkdtemp(prefix="valet-interop-py-")
    valet = Valet(tmp)

    def on_alarm(signum, frame):
        raise Failure(f"the whole run took longer than {TOTAL_TIMEOUT} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TOTAL_TIMEOUT)
    code = 0
    try:
        main(valet)
        print(f"authlib: all {step_no} steps passed in {time.monotonic() - started:.1f} s", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported the same way
        code = 1
        if isinstance(e, Failure):
            print(f"FAILED: {current}: {e}", file=sys.stderr)
        else:  # a client library refused something: what it said, then where
            print(f"FAILED: {current}: {type(e).__name__}: {e}", file=sys.stderr)
            print("".join(traceback.format_exception(e)).rstrip(), file=sys.stderr)
        tail = valet.log_tail()
        if tail:
            print(f"--- last lines of Valet's log ({valet.log}) ---\n{tail}", file=sys.stderr)
    finally:
        signal.alarm(0)
        valet.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(run())
