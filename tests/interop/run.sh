#!/usr/bin/env bash
# The interop suite: Valet driven only by clients nobody here wrote, over HTTPS.
#
#   VALET_BIN=/path/to/valet tests/interop/run.sh [openid-client] [authlib] [authlib-fapi2] [mcp]
#
# Makes a throwaway certificate authority and a certificate for localhost / 127.0.0.1
# signed by it, then runs each client against a Valet of its own that serves TLS with
# that certificate (each script starts Valet in a fresh temporary folder):
#   - openid-client.mjs: npm openid-client (an OpenID Certified relying party), with
#     Debian's Chromium through playwright-core for the sign-in, consent and logout pages;
#     trusts the CA through NODE_EXTRA_CA_CERTS;
#   - authlib_flows.py: Python authlib + joserfc, with requests for the pages; trusts the
#     CA through REQUESTS_CA_BUNDLE (and verify=);
#   - authlib_fapi2.py: the same libraries as a FAPI 2.0 client (private_key_jwt, PAR, a
#     signed request object, DPoP-bound tokens), trusting the CA the same way;
#   - mcp.mjs: the MCP TypeScript SDK's OAuth client (CIMD and dynamic registration)
#     against an MCP server protected by Valet tokens, the consent in Chromium; Valet
#     fetches the agent's metadata document trusting the CA through SSL_CERT_FILE.
# Needs: node_modules here (`npm ci`), the venv here (`python3 -m venv .venv &&
# .venv/bin/pip install -r requirements.txt`), openssl, /usr/bin/chromium. .ci/run does
# all of that. Exits non-zero on the first failing client.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${VALET_BIN:?set VALET_BIN to a built valet binary (cargo build --release --bin valet)}"
PYTHON=${PYTHON:-$here/.venv/bin/python}

work=$(mktemp -d "${TMPDIR:-/tmp}/valet-interop-ca.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A CA valid for one day, and a server certificate for localhost and 127.0.0.1 (P-256).
# Extensions as strict verifiers want them (Python 3.13's VERIFY_X509_STRICT, Chromium):
# CA:TRUE with keyCertSign, key identifiers, SANs, serverAuth.
openssl_quiet() { openssl "$@" 2>"$work/openssl.err" || { cat "$work/openssl.err" >&2; exit 1; }; }
openssl_quiet req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$work/ca.key" -out "$work/ca.pem" -days 1 -subj "/CN=Valet interop test CA $$" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash"
openssl_quiet req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$work/localhost.key" -out "$work/localhost.csr" -subj "/CN=localhost"
cat >"$work/leaf.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
openssl_quiet x509 -req -in "$work/localhost.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -CAcreateserial -days 1 -sha256 -extfile "$work/leaf.ext" -out "$work/localhost.pem"
# Chromium trusts exactly this key (see openid-client.mjs): the base64 SHA-256 of its SPKI.
spki=$(openssl x509 -in "$work/localhost.pem" -noout -pubkey | openssl pkey -pubin -outform DER \
  | openssl dgst -sha256 -binary | base64)

# Not VALET_*: Valet refuses variables it does not know (the scripts strip VALET_BIN too).
export INTEROP_CA="$work/ca.pem" INTEROP_TLS_CERT="$work/localhost.pem"
export INTEROP_TLS_KEY="$work/localhost.key" INTEROP_TLS_SPKI="$spki"

# Every client, or the ones named: run.sh [openid-client] [authlib] [authlib-fapi2] [mcp]
[ $# -gt 0 ] || set -- openid-client authlib authlib-fapi2 mcp
for client in "$@"; do
  case $client in
    openid-client) NODE_EXTRA_CA_CERTS="$work/ca.pem" node "$here/openid-client.mjs" ;;
    authlib) REQUESTS_CA_BUNDLE="$work/ca.pem" "$PYTHON" "$here/authlib_flows.py" ;;
    authlib-fapi2) REQUESTS_CA_BUNDLE="$work/ca.pem" "$PYTHON" "$here/authlib_fapi2.py" ;;
    mcp) NODE_EXTRA_CA_CERTS="$work/ca.pem" node "$here/mcp.mjs" ;;
    *) echo "run.sh: unknown client $client (openid-client, authlib, authlib-fapi2 or mcp)" >&2; exit 2 ;;
  esac
done
