"""Valet driven by Python's authlib as a FAPI 2.0 client, with joserfc for every JWT.

    REQUESTS_CA_BUNDLE=ca.pem INTEROP_CA=ca.pem INTEROP_TLS_CERT=... INTEROP_TLS_KEY=... \\
    VALET_BIN=/path/to/valet tests/interop/.venv/bin/python tests/interop/authlib_fapi2.py

(tests/interop/run.sh makes the certificate authority and sets all that.)

Starts Valet over HTTPS in a fresh temporary folder (as authlib_flows.py, whose helpers
it imports), registers a user and two `fapi2` applications with an EC P-256 key of their
own (`--jwks-file`; one with PS256 ID tokens, the default, one with `--id-token-alg
ES256`), and checks:
  - discovery: the document passes authlib's validators (OpenID Connect Discovery, with
    the RFC 9101 and RFC 9207 extensions) and advertises PAR, DPoP, private_key_jwt and
    request objects;
  - PAR (RFC 9126) with the parameters OAuth2Session builds (state, nonce, PKCE S256),
    client-authenticated by authlib's PrivateKeyJWT (RFC 7523; its audience the issuer,
    as FAPI 2.0 wants), with a DPoP proof (RFC 9449) that binds the code to the key; the
    pages (login, consent) through the request_uri; RFC 9207's iss in the redirect;
  - the code redeemed by OAuth2Session.fetch_token with private_key_jwt and a DPoP proof:
    a DPoP token whose access token (RFC 9068, joserfc against /oauth2/jwks) carries
    cnf.jkt = the key's RFC 7638 thumbprint, a PS256 ID token passing authlib's
    CodeIDToken checks, a refresh token;
  - refusals, each a step: authorization without PAR, a request_uri used twice, a token
    request without DPoP, a replayed DPoP proof, an assertion whose aud is the token
    endpoint (authlib's default), a replayed assertion, a proof of another key than the
    one the code is bound to, UserInfo with the DPoP token sent as Bearer;
  - UserInfo through OAuth2Session with a DPoP token (authlib 1.9 only signs Bearer
    tokens: a small OAuth2Auth subclass adds the `DPoP` scheme and proof with `ath`);
  - refresh with private_key_jwt and DPoP: a new DPoP-bound access token, the refresh token
    not rotated (it works again);
  - a signed request object (RFC 9101, typ oauth-authz-req+jwt) pushed through PAR for the
    second application, its ES256 ID token.
One line per step; exits 1 with the reason on the first failure.

Environment: VALET_BIN (required), INTEROP_TLS_CERT / INTEROP_TLS_KEY (PEM files for
Valet), INTEROP_CA (the CA that signed them; every HTTPS request verifies against it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import traceback
from urllib.parse import parse_qs, parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.requests_client.oauth2_session import OAuth2Auth
from authlib.oauth2.client import DEFAULT_HEADERS
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc9101 import AuthorizationServerMetadata as JARMetadata
from authlib.oauth2.rfc9207 import AuthorizationServerMetadata as IssMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey

# The helpers of the other authlib script (importing it runs nothing): steps, checks,
# Valet in a temporary folder, the forms of the pages, the JWKS and token checks.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import authlib_flows as flows  # noqa: E402
from authlib_flows import (  # noqa: E402
    CA, TIMEOUT, TLS_CERT, TLS_KEY, USER, VALET_BIN, Failure, Valet, Forms, check, describe, equal,
    form_of, jwks_key_set, step, verify_access_token, verify_id_token,
)

TOTAL_TIMEOUT = 120  # the whole run, as a last resort against a hang
SCOPE = "openid"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---------------------------------------------------------------------------------------
# DPoP (RFC 9449): authlib 1.9 has no client side of it, so the proofs are joserfc's


class DPoPKey:
    """A P-256 key of the client's and the proofs it signs (§4.2)."""

    def __init__(self):
        self.key = ECKey.generate_key("P-256")
        self.public = self.key.as_dict(private=False)
        self.jkt = self.key.thumbprint()  # RFC 7638, SHA-256

    def proof(self, htm: str, htu: str, access_token: str | None = None) -> str:
        parts = urlsplit(htu)  # §4.2: htu without query and fragment
        claims = {"jti": secrets.token_urlsafe(24), "htm": htm,
                  "htu": urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), "iat": int(time.time())}
        if access_token is not None:
            claims["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
        return jose_jwt.encode({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public}, claims, self.key,
                               algorithms=["ES256"])


class DPoPAuth(OAuth2Auth):
    """OAuth2Session's token auth, taught the DPoP scheme: authlib's TokenAuth signs only
    token_type Bearer (SIGN_METHODS), and its prepare() does not see the HTTP method a
    proof must name; so the DPoP case is done here, in the requests auth hook."""

    def __call__(self, req):
        if str(self.token.get("token_type", "")).lower() != "dpop":
            return super().__call__(req)
        self.ensure_active_token()
        access_token = self.token["access_token"]
        req.headers["Authorization"] = f"DPoP {access_token}"
        req.headers["DPoP"] = self.client.dpop.proof(req.method, req.url, access_token)
        return req


class FapiSession(OAuth2Session):
    token_auth_class = DPoPAuth

    def __init__(self, *args, dpop: DPoPKey, **kwargs):
        self.dpop = dpop
        super().__init__(*args, **kwargs)


def session_for(app, key: ECKey, kid: str, issuer: str, redirect_uri: str, dpop: DPoPKey) -> FapiSession:
    """OAuth2Session with authlib's PrivateKeyJWT. Its `token_endpoint` argument is the
    assertion's aud: authlib defaults it to the URL posted to (RFC 7523 §3's SHOULD), which
    FAPI 2.0 §5.3.2.1 forbids; the issuer is passed instead. No `claims` argument: authlib
    would add its jti to that very dict and send the same jti in every assertion."""
    auth = PrivateKeyJWT(issuer, headers={"kid": kid}, alg="ES256")
    s = FapiSession(app["client_id"], key, token_endpoint_auth_method=auth, scope=SCOPE,
                    redirect_uri=redirect_uri, code_challenge_method="S256", verify=CA,
                    default_timeout=TIMEOUT, dpop=dpop)
    return s


def with_dpop(proof: str | None) -> dict:
    headers = dict(DEFAULT_HEADERS)
    if proof is not None:
        headers["DPoP"] = proof
    return headers


def raw_post(s: OAuth2Session, url: str, data: dict, proof: str | None, auth="session") -> requests.Response:
    """A POST through the session (authlib signs the assertion unless auth is given), the
    response returned as it is: the refusals are checked on status and error."""
    if auth == "session":
        auth = s.client_auth(s.token_endpoint_auth_method)
    return s.post(url, data=data, headers=with_dpop(proof), auth=auth, withhold_token=True,
                  allow_redirects=False)


def refused(r: requests.Response, status: int, error: str | tuple):
    errors = (error,) if isinstance(error, str) else error
    try:
        body = r.json()
    except ValueError:
        body = {}
    got = body.get("error") if isinstance(body, dict) else None
    check(r.status_code == status and got in errors,
          f"expected {status} error={' or '.join(errors)}, got {describe(r)}")
    return body


# ---------------------------------------------------------------------------------------
# The browser part


def walk(browser: requests.Session, url: str, redirect_uri: str):
    """From the authorization URL to the redirect to the application, submitting the login
    and consent forms as they come (as authlib_flows.browser_authorize); returns the
    redirect's URL and the pages seen."""
    pages = []
    r = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
    for _ in range(5):
        if r.status_code in (302, 303):
            location = r.headers.get("location", "")
            if location.startswith(redirect_uri + "?"):
                return location, pages
            check(not location.startswith(redirect_uri), f"redirect to {location!r}, not to {redirect_uri}?...")
            r = browser.get(urljoin(r.url, location), allow_redirects=False, timeout=TIMEOUT)
            continue
        check(r.status_code == 200, f"expected the login or consent page: {describe(r)}")
        parser = Forms()
        parser.feed(r.text)
        actions = [f["action"] for f in parser.forms]
        if "/login" in actions:
            f = form_of(r, "/login")
            data = {**f["fields"], "username": USER["username"], "password": USER["password"]}
            pages.append("login")
        elif "/consent" in actions:
            f = form_of(r, "/consent")
            check(("decision", "allow") in f["buttons"], f"the consent form has no Allow button: {f['buttons']}")
            data = {**f["fields"], "decision": "allow"}
            pages.append("consent")
        else:
            raise Failure(f"neither a login nor a consent form on {r.url} ({r.status_code}): forms {actions}")
        r = browser.post(urljoin(r.url, f["action"]), data=data, allow_redirects=False, timeout=TIMEOUT)
    raise Failure(f"no redirect to the application after the pages {pages}: {describe(r)}")


def callback_params(location: str, state: str, issuer: str) -> dict:
    q = dict(parse_qsl(urlsplit(location).query))
    check("error" not in q, f"the authorization failed: {q}")
    check(q.get("code"), f"no code in the redirect: {location}")
    equal(q.get("state"), state, "state in the redirect")
    equal(q.get("iss"), issuer, "iss in the redirect (RFC 9207)")
    return q


def authorize_url(metadata, client_id: str, request_uri: str) -> str:
    return f"{metadata['authorization_endpoint']}?{urlencode({'client_id': client_id, 'request_uri': request_uri})}"


def pushed(r: requests.Response) -> str:
    check(r.status_code == 201, f"PAR: expected 201: {describe(r)}")
    body = r.json()
    uri = body.get("request_uri")
    check(isinstance(uri, str) and uri.startswith(REQUEST_URI_PREFIX), f"PAR request_uri: {body}")
    equal(body.get("expires_in"), 60, "PAR expires_in")
    return uri


# ---------------------------------------------------------------------------------------
# Tokens


def check_dpop_tokens(tok, keys, jwks, issuer, app, dpop: DPoPKey, sub=None):
    equal(tok.get("token_type"), "DPoP", "token_type")
    check(tok.get("expires_in", 0) > 0, f"expires_in: {tok.get('expires_in')!r}")
    expected = {"client_id": app["client_id"]}
    if sub is not None:
        expected["sub"] = sub
    at = verify_access_token(tok["access_token"], keys, jwks, issuer, **expected)
    cnf = at.claims.get("cnf")
    check(isinstance(cnf, dict), f"the access token has no cnf claim: {at.claims}")
    equal(cnf.get("jkt"), dpop.jkt, "access token cnf.jkt (the DPoP key's RFC 7638 thumbprint)")
    return at


def check_id_token(tok, keys, metadata, app, nonce, alg):
    check(tok.get("id_token"), f"no ID token: {sorted(tok)}")
    header = json.loads(base64.urlsafe_b64decode(tok["id_token"].split(".")[0] + "=="))
    equal(header.get("alg"), alg, "ID token alg")
    return verify_id_token(tok["id_token"], keys, metadata, app["client_id"], nonce, tok["access_token"])


# ---------------------------------------------------------------------------------------
# The test


def main(valet: Valet):
    check(VALET_BIN and os.path.exists(VALET_BIN), f"VALET_BIN={VALET_BIN!r} is not a built valet binary")
    check(TLS_CERT and TLS_KEY and CA, "INTEROP_TLS_CERT, INTEROP_TLS_KEY and INTEROP_CA must be set: run tests/interop/run.sh")

    # Valet's port is known once it listens; the redirect URIs only need to be https.
    redirect = {"bank": "https://127.0.0.1:8443/cb", "broker": "https://127.0.0.1:8443/broker/cb"}

    with step("user and two fapi2 applications registered (private_key_jwt, an EC key each by --jwks-file)"):
        valet.admin(["user", "create", "--username", USER["username"], "--email", USER["email"],
                     "--name", USER["name"], "--password-stdin"], USER["password"] + "\n")
        client_keys, apps = {}, {}
        for name, label, extra in (("bank", "Bank", []), ("broker", "Broker", ["--id-token-alg", "ES256"])):
            key = ECKey.generate_key("P-256")
            kid = key.thumbprint()
            public = {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": "ES256"}
            path = os.path.join(valet.tmp, f"{name}-keys.json")
            with open(path, "w") as f:
                json.dump({"keys": [public]}, f)
            client_keys[name] = (key, kid)
            apps[name] = valet.client(label, "fapi2", "--redirect-uri", redirect[name], "--jwks-file", path, *extra)
            check(apps[name].get("client_id"), f"client create printed no client_id: {apps[name]}")
            check(not apps[name].get("client_secret"), f"a private_key_jwt application got a secret: {apps[name]}")

    with step("Valet serving HTTPS with the test CA's certificate"):
        valet.start()
    issuer = valet.issuer

    with step("discovery passes authlib's validators (OIDC Discovery, RFC 9101, RFC 9207); PAR, DPoP, private_key_jwt"):
        r = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT, verify=CA)
        check(r.status_code == 200, describe(r))
        metadata = OpenIDProviderMetadata(r.json())
        metadata.validate(metadata_classes=[JARMetadata, IssMetadata])
        equal(metadata["issuer"], issuer, "issuer")
        equal(metadata.get("pushed_authorization_request_endpoint"), f"{issuer}/oauth2/par",
              "pushed_authorization_request_endpoint")
        equal(metadata["token_endpoint"], f"{issuer}/oauth2/token", "token_endpoint")
        equal(metadata.get("userinfo_endpoint"), f"{issuer}/userinfo", "userinfo_endpoint")
        check("ES256" in (metadata.get("dpop_signing_alg_values_supported") or []),
              f"dpop_signing_alg_values_supported: {metadata.get('dpop_signing_alg_values_supported')!r}")
        check("private_key_jwt" in metadata["token_endpoint_auth_methods_supported"],
              f"token_endpoint_auth_methods_supported: {metadata['token_endpoint_auth_methods_supported']}")
        signing = metadata.get("token_endpoint_auth_signing_alg_values_supported")
        check(signing is None or "ES256" in signing, f"token_endpoint_auth_signing_alg_values_supported: {signing}")
        equal(metadata.get("request_parameter_supported"), True, "request_parameter_supported")
        check("S256" in metadata["code_challenge_methods_supported"], "PKCE S256 not advertised")
        for alg in ("PS256", "ES256"):
            check(alg in metadata["id_token_signing_alg_values_supported"],
                  f"{alg} not in id_token_signing_alg_values_supported")
        keys, jwks = jwks_key_set(metadata)
    par_endpoint = metadata["pushed_authorization_request_endpoint"]
    token_endpoint = metadata["token_endpoint"]
    userinfo_endpoint = metadata["userinfo_endpoint"]

    browser = requests.Session()
    browser.verify = CA

    # ----- Bank: PAR with the plain parameters

    app = apps["bank"]
    key, kid = client_keys["bank"]
    dpop = DPoPKey()
    s = session_for(app, key, kid, issuer, redirect["bank"], dpop)
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = s.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    params = dict(parse_qsl(urlsplit(url).query))

    with step("bank: authorization without PAR redirects with error=invalid_request"):
        r = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
        check(r.status_code in (302, 303), f"expected a redirect to the application: {describe(r)}")
        location = r.headers.get("location", "")
        check(location.startswith(redirect["bank"] + "?"), f"redirect to {location!r}, not to {redirect['bank']}")
        q = dict(parse_qsl(urlsplit(location).query))
        equal(q.get("error"), "invalid_request", f"error ({q.get('error_description')})")
        equal(q.get("state"), state, "state in the error redirect")
        equal(q.get("iss"), issuer, "iss in the error redirect (RFC 9207)")

    with step("bank: PAR (OAuth2Session's parameters, PKCE S256; authlib's PrivateKeyJWT; DPoP proof) -> 201"):
        check(params.get("code_challenge_method") == "S256" and params.get("code_challenge"), f"PKCE in {params}")
        r = raw_post(s, par_endpoint, params, dpop.proof("POST", par_endpoint))
        request_uri = pushed(r)
        par_assertion = dict(parse_qsl(r.request.body))["client_assertion"]
        a = jose_jwt.decode(par_assertion, key, algorithms=["ES256"])
        equal(a.claims.get("aud"), issuer, "the assertion's aud (as authlib signed it)")

    with step("bank: the pages through the request_uri (login, consent) -> redirect with code, state, iss"):
        location, pages = walk(browser, authorize_url(metadata, app["client_id"], request_uri), redirect["bank"])
        equal(pages, ["login", "consent"], "pages shown")
        code = callback_params(location, state, issuer)["code"]

    with step("bank: the request_uri used a second time -> an error page (400)"):
        r = browser.get(authorize_url(metadata, app["client_id"], request_uri), allow_redirects=False, timeout=TIMEOUT)
        equal(r.status_code, 400, f"second use of the request_uri ({describe(r)[:300]})")

    code_request = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect["bank"],
                    "code_verifier": verifier}

    with step("bank: token request without a DPoP proof -> 400 invalid_dpop_proof"):
        refused(raw_post(s, token_endpoint, code_request, None), 400, "invalid_dpop_proof")

    with step("bank: token request with authlib's default assertion (aud = the token endpoint URL) -> 401 invalid_client"):
        default_auth = s.client_auth(PrivateKeyJWT(headers={"kid": kid}, alg="ES256"))
        r = raw_post(s, token_endpoint, code_request, dpop.proof("POST", token_endpoint), auth=default_auth)
        a = jose_jwt.decode(dict(parse_qsl(r.request.body))["client_assertion"], key, algorithms=["ES256"])
        equal(a.claims.get("aud"), token_endpoint, "authlib's default aud")
        refused(r, 401, "invalid_client")

    with step("bank: token request replaying the PAR request's assertion (same jti) -> 401 invalid_client"):
        replay = {**code_request, "client_assertion_type": ASSERTION_TYPE, "client_assertion": par_assertion}
        refused(raw_post(s, token_endpoint, replay, dpop.proof("POST", token_endpoint), auth=None), 401, "invalid_client")

    with step("bank: OAuth2Session redeems the code (state checked; private_key_jwt; DPoP proof)"):
        code_proof = dpop.proof("POST", token_endpoint)
        tok = s.fetch_token(token_endpoint, authorization_response=location, state=state, code_verifier=verifier,
                            headers=with_dpop(code_proof))
        for k in ("access_token", "id_token", "refresh_token"):
            check(tok.get(k), f"the code grant lacks {k}: {sorted(tok)}")
        equal(tok.get("token_type"), "DPoP", "token_type")

    with step("bank: the ID token is PS256, verifies (joserfc, /oauth2/jwks), passes authlib's CodeIDToken checks"):
        claims = check_id_token(tok, keys, metadata, app, nonce, "PS256")
        sub = claims["sub"]

    with step("bank: the access token verifies as RFC 9068, cnf.jkt = the DPoP key's thumbprint"):
        check_dpop_tokens(tok, keys, jwks, issuer, app, dpop, sub=sub)

    with step("bank: UserInfo through OAuth2Session (Authorization: DPoP, proof with ath) -> 200"):
        r = s.get(userinfo_endpoint)
        check(r.status_code == 200, describe(r))
        equal(r.json().get("sub"), sub, "UserInfo sub")
        check(r.request.headers["authorization"].startswith("DPoP ") and r.request.headers.get("dpop"),
              "the request did not go out with the DPoP scheme and proof")

    with step("bank: UserInfo with the DPoP-bound token as Bearer -> 401"):
        r = requests.get(userinfo_endpoint, headers={"authorization": f"Bearer {tok['access_token']}"},
                         timeout=TIMEOUT, verify=CA)
        equal(r.status_code, 401, f"UserInfo with the token as Bearer ({r.text[:200]}; "
                                  f"WWW-Authenticate: {r.headers.get('www-authenticate')})")

    first_refresh = tok["refresh_token"]
    refresh_request = {"grant_type": "refresh_token", "refresh_token": first_refresh}

    with step("bank: refresh replaying the code request's DPoP proof -> 400 invalid_dpop_proof"):
        refused(raw_post(s, token_endpoint, refresh_request, code_proof), 400, "invalid_dpop_proof")

    with step("bank: refresh (OAuth2Session.refresh_token, private_key_jwt, DPoP) -> a new DPoP token, no rotation"):
        old = dict(s.token)
        new = s.refresh_token(token_endpoint, headers=with_dpop(dpop.proof("POST", token_endpoint)))
        check(new.get("access_token") and new["access_token"] != old["access_token"], "refresh gave no new access token")
        check_dpop_tokens(new, keys, jwks, issuer, app, dpop, sub=sub)
        equal(new.get("refresh_token"), first_refresh, "the refresh token after refresh (fapi2: no rotation)")
        if new.get("id_token"):
            c = check_id_token(new, keys, metadata, app, None, "PS256")
            equal(c["sub"], sub, "refreshed ID token sub")
        r = s.get(userinfo_endpoint)
        check(r.status_code == 200, f"UserInfo with the refreshed token: {describe(r)}")

    with step("bank: the same refresh token works again"):
        again = s.refresh_token(token_endpoint, refresh_token=first_refresh,
                                headers=with_dpop(dpop.proof("POST", token_endpoint)))
        check_dpop_tokens(again, keys, jwks, issuer, app, dpop, sub=sub)

    # ----- Broker: a signed request object through PAR, ES256 ID tokens

    app = apps["broker"]
    key, kid = client_keys["broker"]

    def request_object(dpop_key: DPoPKey):
        """OAuth2Session makes the parameters; the request object (RFC 9101 §10.2's typ) is
        joserfc's, authlib having no client side of JAR."""
        s = session_for(app, key, kid, issuer, redirect["broker"], dpop_key)
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(16)
        url, state = s.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
        now = int(time.time())
        claims = {**dict(parse_qsl(urlsplit(url).query)), "iss": app["client_id"], "aud": issuer,
                  "iat": now, "nbf": now, "exp": now + 300, "jti": secrets.token_urlsafe(16)}
        jar = jose_jwt.encode({"typ": "oauth-authz-req+jwt", "alg": "ES256", "kid": kid}, claims, key,
                              algorithms=["ES256"])
        return s, verifier, nonce, state, jar

    dpop = DPoPKey()
    s, verifier, nonce, state, jar = request_object(dpop)

    with step("broker: PAR with a signed request object (typ oauth-authz-req+jwt) and a DPoP proof -> 201"):
        request_uri = pushed(raw_post(s, par_endpoint, {"request": jar}, dpop.proof("POST", par_endpoint)))

    with step("broker: the pages (still signed in) -> redirect with code, state, iss"):
        location, pages = walk(browser, authorize_url(metadata, app["client_id"], request_uri), redirect["broker"])
        check("login" not in pages, f"signed in again: {pages}")
        callback_params(location, state, issuer)

    with step("broker: OAuth2Session redeems the code; ES256 ID token, DPoP-bound access token"):
        tok = s.fetch_token(token_endpoint, authorization_response=location, state=state, code_verifier=verifier,
                            headers=with_dpop(dpop.proof("POST", token_endpoint)))
        claims = check_id_token(tok, keys, metadata, app, nonce, "ES256")
        check_dpop_tokens(tok, keys, jwks, issuer, app, dpop, sub=claims["sub"])
        r = s.get(userinfo_endpoint)
        check(r.status_code == 200, f"UserInfo: {describe(r)}")
        equal(r.json().get("sub"), claims["sub"], "UserInfo sub")

    with step("broker: a code bound by PAR's proof, redeemed with a proof of another key -> 400"):
        dpop = DPoPKey()
        s, verifier, nonce, state, jar = request_object(dpop)
        request_uri = pushed(raw_post(s, par_endpoint, {"request": jar}, dpop.proof("POST", par_endpoint)))
        location, _ = walk(browser, authorize_url(metadata, app["client_id"], request_uri), redirect["broker"])
        code = callback_params(location, state, issuer)["code"]
        other = DPoPKey()
        r = raw_post(s, token_endpoint, {"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": redirect["broker"], "code_verifier": verifier},
                     other.proof("POST", token_endpoint))
        refused(r, 400, ("invalid_dpop_proof", "invalid_grant"))


def run():
    tmp = tempfile.mkdtemp(prefix="valet-interop-fapi2-")
    valet = Valet(tmp)

    def on_alarm(signum, frame):
        raise Failure(f"the whole run took longer than {TOTAL_TIMEOUT} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TOTAL_TIMEOUT)
    code = 0
    try:
        main(valet)
        print(f"authlib-fapi2: all {flows.step_no} steps passed in {time.monotonic() - flows.started:.1f} s", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported the same way
        code = 1
        if isinstance(e, Failure):
            print(f"FAILED: {flows.current}: {e}", file=sys.stderr)
        else:  # a client library refused something: what it said, then where
            print(f"FAILED: {flows.current}: {type(e).__name__}: {e}", file=sys.stderr)
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
