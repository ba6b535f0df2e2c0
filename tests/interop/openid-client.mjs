// Valet driven by npm `openid-client` (v6, an OpenID Certified relying party), with sign-in,
// consent and sign-out in Debian's Chromium through playwright-core. Nothing here speaks
// OAuth by hand: every protocol message is built and checked by openid-client.
//
//   NODE_EXTRA_CA_CERTS=ca.pem INTEROP_TLS_CERT=… INTEROP_TLS_KEY=… INTEROP_TLS_SPKI=… \
//   VALET_BIN=/path/to/valet node tests/interop/openid-client.mjs
//
// (tests/interop/run.sh makes the certificate authority and sets all that.)
//
// Starts Valet over HTTPS in a fresh temporary folder with --refresh-retry-window 0,
// registers a user, an API, a `service`, a `web` (client_secret_basic), a `spa`
// (public, PKCE, rotating refresh tokens) and a `device` application, and walks, through openid-client:
//   - discovery (OpenID Connect and RFC 8414 documents);
//   - client_credentials for the service, its introspection and revocation;
//   - for `web` and for `spa`: authorization code + PKCE with state and nonce in the
//     browser, the code grant with ID token validation including its signature against
//     the JWKS (enableNonRepudiationChecks), the `iss` authorization response parameter
//     (RFC 9207), UserInfo, introspection, refresh, revocation, and RP-initiated logout
//     (end-session URL → confirmation page → post_logout_redirect_uri with state);
//   - for `web`: response_mode=form_post, Valet's auto-submitting page in the browser;
//   - for `spa`: the refresh token rotates, and replaying the old one (no retry window)
//     fails and kills the new one and the grant's access tokens; prompt=none with max_age
//     while signed in (openid-client checks auth_time), and login_required after logout;
//   - the spa for real: openid-client itself running in Chromium at the application's
//     origin (code grant, ID token signature, UserInfo, introspection, rotation,
//     revocation), so every call crosses origins under the browser's CORS rules; and the
//     same call from an origin nobody registered cannot read the answer;
//   - Valet's cookies on an https issuer: __Host-, Secure, HttpOnly, SameSite=Lax;
//   - for a `device` application (public, no redirect URI): the device authorization
//     grant (RFC 8628): initiateDeviceAuthorization, the person allowing it on /device in
//     Chromium, pollDeviceAuthorizationGrant (ID token checked), a rotating refresh.
// One line per step; exits 1 with the reason on the first failure.
//
// Environment: VALET_BIN (required), INTEROP_TLS_CERT / INTEROP_TLS_KEY (PEM files for
// Valet), INTEROP_TLS_SPKI (base64 SHA-256 of the certificate's public key: the one key
// Chromium accepts without a trusted chain), NODE_EXTRA_CA_CERTS (the CA that signed it,
// so openid-client verifies TLS for real), CHROMIUM (default /usr/bin/chromium),
// SCREENSHOT_DIR (optional: failure.png on a failure).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { chromium } from 'playwright-core';
import { Failure, check, equal, fail, freePort, progress, sleep, step, stopValet, valetAdmin, valetEnv, withTimeout } from './steps.mjs';

const VALET_BIN = process.env.VALET_BIN;
const TLS_CERT = process.env.INTEROP_TLS_CERT;
const TLS_KEY = process.env.INTEROP_TLS_KEY;
const TLS_SPKI = process.env.INTEROP_TLS_SPKI;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';
const STEP_TIMEOUT_MS = 15_000; // any one browser action or HTTP call
const TOTAL_TIMEOUT_MS = 180_000; // the whole run, as a last resort against a hang

const USER = { username: 'alice', email: 'alice@example.com', name: 'Alice Example', password: 'correct horse battery staple' };
const API = { audience: 'https://reports.interop.test', scope: 'reports.read' };
const SCOPE = 'openid profile email offline_access';
const APPS = {
  web: { name: 'Interop Web App', profile: 'web' },
  spa: { name: 'Interop Single-Page App', profile: 'spa' },
  service: { name: 'Interop Service', profile: 'service' },
  device: { name: 'Interop TV', profile: 'device' },
};

// ---------------------------------------------------------------------------------------
// Steps, failures and cleanup (as tests/browser/sign-in.mjs)

const resources = { valet: null, callbackServer: null, context: null, page: null, tmp: null };
let cleaning = null;

async function cleanup() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    if (resources.context) await resources.context.close().catch(() => {});
    if (resources.callbackServer) {
      resources.callbackServer.closeAllConnections?.();
      await new Promise((r) => resources.callbackServer.close(() => r()));
    }
    if (resources.valet) await stopValet(resources.valet);
    if (resources.tmp) fs.rmSync(resources.tmp, { recursive: true, force: true });
  })();
  return cleaning;
}

process.on('exit', () => {
  const v = resources.valet;
  if (v && v.exitCode === null && v.signalCode === null) v.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    console.error(`FAILED: interrupted by ${sig} during: ${progress.current}`);
    await cleanup();
    process.exit(1);
  });
}

// ---------------------------------------------------------------------------------------
// Valet, the callback server, the browser

function admin(args, input, dataArgs) {
  return valetAdmin(VALET_BIN, args, input, dataArgs, STEP_TIMEOUT_MS);
}

function registerClient(app, extra, dataArgs) {
  const out = admin(['client', 'create', '--name', app.name, '--profile', app.profile, ...extra, '--json'], '', dataArgs);
  let c;
  try {
    c = JSON.parse(out);
  } catch {
    fail(`client create --json printed no JSON: ${out}`);
  }
  check(c.client_id, `client create --json lacks client_id: ${out}`);
  return c;
}

async function startValet(dir, dataArgs) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const issuer = `https://localhost:${port}`;
    const logFile = path.join(dir, `valet-${attempt}.log`);
    const out = fs.openSync(logFile, 'w');
    const child = spawn(VALET_BIN, [
      'serve', '--listen', `127.0.0.1:${port}`, '--issuer', issuer, '--shutdown-grace', '1',
      '--tls-cert', TLS_CERT, '--tls-key', TLS_KEY,
      // No grace for a rotated refresh token: a replay is a reuse at once.
      '--refresh-retry-window', '0',
      ...dataArgs,
    ], { cwd: dir, env: valetEnv(), stdio: ['ignore', out, out] });
    fs.closeSync(out);
    child.logFile = logFile;
    resources.valet = child;
    const spawnError = new Promise((resolve) => child.once('error', resolve));
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    let lastError = '';
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      const err = await Promise.race([spawnError, sleep(100).then(() => null)]);
      if (err) fail(`cannot start ${VALET_BIN}: ${err.message}`);
      try {
        // Through the CA of NODE_EXTRA_CA_CERTS: a TLS error here fails the run below.
        const r = await fetch(`${issuer}/health/ready`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) return { child, issuer, port };
      } catch (e) {
        lastError = `${e.message}${e.cause ? `: ${e.cause.code || e.cause.message}` : ''}`;
      }
    }
    const log = fs.readFileSync(logFile, 'utf8');
    if (child.exitCode !== null && /address.*in use/i.test(log) && attempt < 3) continue;
    fail(`Valet did not become ready on ${issuer} (exit ${child.exitCode ?? 'none'}; last error: ${lastError}):\n${log.trim()}`);
  }
}

// The single-page application: openid-client itself, loaded as ES modules from this
// folder's node_modules, in a page at the spa's redirect origin. An import map resolves
// the bare imports (openid-client, oauth4webapi, jose's subpaths) as Node does.
const MODULES = path.join(path.dirname(new URL(import.meta.url).pathname), 'node_modules');
const SERVED_PACKAGES = ['openid-client', 'oauth4webapi', 'jose'];
function importMap() {
  const imports = {};
  const add = (specifier) => {
    if (imports[specifier]) return;
    const file = new URL(import.meta.resolve(specifier)).pathname;
    check(file.startsWith(`${MODULES}/`), `${specifier} resolves outside node_modules: ${file}`);
    imports[specifier] = `/modules/${path.relative(MODULES, file).split(path.sep).join('/')}`;
    // The bare imports of that module (openid-client's of oauth4webapi and jose).
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+['"]([^'"./][^'"]*)['"]/gm)) {
      add(m[1]);
    }
  };
  add('openid-client');
  return { imports };
}
const SPA_PAGE = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Interop SPA</title>'
  + `<script type="importmap">${JSON.stringify(importMap())}</script>`
  + '<script type="module">import * as client from "openid-client"; window.openidClient = client;</script>'
  + '</head><body><h1>Interop SPA</h1></body></html>';

function serveModule(pathname, res) {
  const rel = path.posix.normalize(decodeURIComponent(pathname.slice('/modules/'.length)));
  const file = path.join(MODULES, rel);
  const allowed = SERVED_PACKAGES.some((p) => rel.startsWith(`${p}/`)) && !rel.includes('..') && rel.endsWith('.js');
  if (!allowed || !fs.existsSync(file)) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
  res.end(fs.readFileSync(file));
}

// The applications' redirect and post-logout URIs: records each hit, answers a small page
// (the spa's pages load openid-client), and serves the modules of the spa.
function startCallbackServer() {
  const hits = [];
  const waiters = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    if (url.pathname.startsWith('/modules/')) {
      serveModule(url.pathname, res);
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      // A form_post response arrives as a POST with a form body.
      const hit = { url, path: url.pathname, method: req.method, contentType: req.headers['content-type'] || '',
        body: Buffer.concat(chunks).toString('utf8') };
      hits.push(hit);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].path === hit.path) waiters.splice(i, 1)[0].resolve(hit);
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(url.pathname.startsWith('/spa/') ? SPA_PAGE
        : '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Interop app</title></head>'
          + `<body><h1>Reached ${url.pathname.replace(/[^a-z/-]/g, '')}</h1></body></html>`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resources.callbackServer = server;
      resolve({
        origin: `http://127.0.0.1:${server.address().port}`,
        hits,
        next: (p) => new Promise((r) => waiters.push({ path: p, resolve: r })),
      });
    });
  });
}

async function expectVisible(locator, what) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  } catch {
    fail(`${what} not found`);
  }
}

async function whereIs(page) {
  const title = await page.title().catch(() => '?');
  const h1 = await page.locator('h1').first().textContent({ timeout: 1000 }).catch(() => null);
  return `${page.url()} (title ${JSON.stringify(title)}${h1 ? `, h1 ${JSON.stringify(h1.trim())}` : ''})`;
}

async function shoot(page, name) {
  if (!SCREENSHOT_DIR) return;
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, name), fullPage: true });
}

// ---------------------------------------------------------------------------------------
// openid-client helpers

// Every request openid-client makes goes through this fetch, so the test can tell that
// it fetched the JWKS (ID token signatures are really checked) and over what.
const fetched = [];
function recordingFetch(url, options) {
  fetched.push(`${options?.method || 'GET'} ${url}`);
  return fetch(url, options);
}
const rpOptions = { timeout: STEP_TIMEOUT_MS / 1000, [oidc.customFetch]: recordingFetch };

// What an openid-client error says, for failure messages.
function describeError(e) {
  if (!e) return String(e);
  const parts = [e.constructor?.name || 'Error'];
  if (e.code) parts.push(e.code);
  if (e.status) parts.push(`HTTP ${e.status}`);
  if (e.error) parts.push(`error=${e.error}`);
  if (e.error_description) parts.push(`error_description=${JSON.stringify(e.error_description)}`);
  parts.push(e.message);
  if (e.cause && !(e.cause instanceof URLSearchParams)) {
    parts.push(`cause: ${e.cause.message || JSON.stringify(e.cause)}`);
  }
  return parts.join(' ');
}

// Runs an openid-client call; a thrown error fails the step with what the client said.
async function rp(what, fn) {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Failure) throw e;
    fail(`openid-client rejected ${what}: ${describeError(e)}`);
  }
}

// The call must fail with this OAuth error code in a JSON error response.
async function expectOAuthError(what, code, fn) {
  let result;
  try {
    result = await fn();
  } catch (e) {
    check(e instanceof oidc.ResponseBodyError, `${what}: expected an OAuth error response, got ${describeError(e)}`);
    equal(e.error, code, `${what}: error code (${describeError(e)})`);
    check(e.status === 400 || (code === 'invalid_client' && e.status === 401), `${what}: HTTP status ${e.status}`);
    return e;
  }
  fail(`${what}: expected error=${code}, but it succeeded: ${JSON.stringify(result)}`);
}

// The Bearer token must be refused at a protected resource (RFC 6750 §3.1 invalid_token).
async function expectInvalidToken(what, fn) {
  try {
    await fn();
  } catch (e) {
    check(e instanceof oidc.WWWAuthenticateChallengeError, `${what}: expected a WWW-Authenticate challenge, got ${describeError(e)}`);
    equal(e.status, 401, `${what}: status`);
    const bearer = e.cause.find((c) => c.scheme === 'bearer');
    check(bearer, `${what}: no Bearer challenge in ${JSON.stringify(e.cause)}`);
    equal(bearer.parameters.error, 'invalid_token', `${what}: challenge error`);
    return;
  }
  fail(`${what}: the token was accepted`);
}

// Authorization request with PKCE S256, state (with characters that break careless
// encoding) and nonce, all made by openid-client.
async function authorizationRequest(config, redirectUri, extra = {}) {
  const pkceCodeVerifier = oidc.randomPKCECodeVerifier();
  const expectedState = `${oidc.randomState()} +/=%41&x`;
  const expectedNonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: SCOPE,
    state: expectedState,
    nonce: expectedNonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  return { url, checks: { pkceCodeVerifier, expectedState, expectedNonce } };
}

// ---------------------------------------------------------------------------------------
// The test

async function main() {
  check(VALET_BIN, 'VALET_BIN is not set: point it at a built valet binary (cargo build --release)');
  check(fs.existsSync(VALET_BIN), `VALET_BIN=${VALET_BIN} does not exist`);
  check(TLS_CERT && TLS_KEY && TLS_SPKI, 'INTEROP_TLS_CERT, INTEROP_TLS_KEY and INTEROP_TLS_SPKI must be set: run tests/interop/run.sh');
  check(process.env.NODE_EXTRA_CA_CERTS, 'NODE_EXTRA_CA_CERTS must name the test CA: run tests/interop/run.sh');
  check(fs.existsSync(CHROMIUM), `${CHROMIUM} does not exist: apt-get install -y chromium`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'valet-interop-node-'));
  resources.tmp = tmp;
  const dataArgs = ['--database', `sqlite://${path.join(tmp, 'valet.db')}`, '--master-key-file', path.join(tmp, 'valet.master-key')];

  const cb = await step('callback server listening', startCallbackServer);
  const uris = (name) => ({ redirect: `${cb.origin}/${name}/callback`, postLogout: `${cb.origin}/${name}/signed-out` });

  const apps = await step('user, API and service, web and spa applications registered', () => {
    admin(['user', 'create', '--username', USER.username, '--email', USER.email, '--name', USER.name, '--password-stdin'],
      `${USER.password}\n`, dataArgs);
    admin(['api', 'create', '--audience', API.audience, '--scope', `${API.scope}=Read reports`], '', dataArgs);
    const registered = {};
    for (const [key, app] of Object.entries(APPS)) {
      const plain = key === 'service' || key === 'device';
      const extra = key === 'service'
        ? ['--scope', API.scope]
        : key === 'device'
          ? []
          : ['--redirect-uri', uris(key).redirect, '--post-logout-redirect-uri', uris(key).postLogout];
      registered[key] = { ...app, ...registerClient(app, extra, dataArgs), ...(plain ? {} : uris(key)) };
    }
    check(registered.web.client_secret && registered.service.client_secret, 'a confidential application got no client_secret');
    check(!registered.spa.client_secret, 'the spa application got a client_secret');
    equal(registered.spa.token_endpoint_auth_method, 'none', 'spa token_endpoint_auth_method');
    return registered;
  });

  const { issuer } = await step('Valet serving HTTPS with the test CA\'s certificate', () => startValet(tmp, dataArgs));

  // ----- discovery

  const configs = {};
  await step('openid-client discovery (/.well-known/openid-configuration)', async () => {
    configs.web = await rp('discovery', () => oidc.discovery(new URL(issuer), apps.web.client_id, undefined,
      oidc.ClientSecretBasic(apps.web.client_secret), rpOptions));
    const m = configs.web.serverMetadata();
    equal(m.issuer, issuer, 'discovered issuer');
    check(m.supportsPKCE('S256'), `the discovery document does not advertise PKCE S256: ${JSON.stringify(m.code_challenge_methods_supported)}`);
    for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'introspection_endpoint', 'revocation_endpoint', 'end_session_endpoint']) {
      check(typeof m[k] === 'string' && m[k].startsWith(`${issuer}/`), `discovery ${k}: ${m[k]}`);
    }
    equal(m.authorization_response_iss_parameter_supported, true, 'authorization_response_iss_parameter_supported');
    // ID tokens are checked with their signature too, against the discovered JWKS.
    oidc.enableNonRepudiationChecks(configs.web);
  });

  await step('openid-client discovery (RFC 8414 /.well-known/oauth-authorization-server)', async () => {
    const c = await rp('RFC 8414 discovery', () => oidc.discovery(new URL(issuer), apps.service.client_id, undefined,
      oidc.ClientSecretBasic(apps.service.client_secret), { ...rpOptions, algorithm: 'oauth2' }));
    equal(c.serverMetadata().issuer, issuer, 'RFC 8414 issuer');
    equal(c.serverMetadata().token_endpoint, configs.web.serverMetadata().token_endpoint, 'RFC 8414 token_endpoint');
    configs.service = c;
  });

  // ----- client_credentials

  await step('service: client_credentials, introspection, revocation', async () => {
    const c = configs.service;
    const t = await rp('client_credentials', () => oidc.clientCredentialsGrant(c, { scope: API.scope }));
    equal(t.token_type, 'bearer', 'token_type (openid-client lower-cases it)');
    check(t.access_token && t.expiresIn() > 0, `client_credentials response: ${JSON.stringify(t)}`);
    check(!t.refresh_token && !t.id_token, 'client_credentials returned a refresh or ID token');
    const i = await rp('introspection', () => oidc.tokenIntrospection(c, t.access_token));
    equal(i.active, true, 'introspection of the service token');
    equal(i.client_id, apps.service.client_id, 'introspection client_id');
    equal(i.scope, API.scope, 'introspection scope');
    equal(i.iss, issuer, 'introspection iss');
    check([i.aud].flat().includes(API.audience), `introspection aud ${JSON.stringify(i.aud)} lacks ${API.audience}`);
    await rp('revocation', () => oidc.tokenRevocation(c, t.access_token, { token_type_hint: 'access_token' }));
    const after = await rp('introspection after revocation', () => oidc.tokenIntrospection(c, t.access_token));
    equal(JSON.stringify(after), '{"active":false}', 'introspection after revocation');
  });

  // ----- the browser

  const context = await step('Chromium started', async () => {
    const ctx = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        // The test CA is not in Chromium's store: accept exactly the test certificate's key.
        `--ignore-certificate-errors-spki-list=${TLS_SPKI}`],
    });
    resources.context = ctx;
    return ctx;
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  resources.page = page;
  // The page's own errors (the spa's modules), for failure messages.
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });

  // Opens the authorization URL; signs in and/or allows as the pages ask. Returns the
  // callback URL the browser reached, and what it had to do.
  async function authorizeInBrowser(app, url, { expectLogin, expectConsent }) {
    const hitPromise = cb.next(new URL(app.redirect).pathname);
    const resp = await page.goto(url.href);
    check(resp, `no response for ${url.href}`);
    if (expectLogin) {
      await expectVisible(page.getByRole('heading', { name: 'Sign in', level: 1 }), `the login page at ${await whereIs(page)}`);
      await expectVisible(page.getByText(app.name), `"${app.name}" on the login page`);
      await page.getByLabel('Username').fill(USER.username);
      await page.getByLabel('Password').fill(USER.password);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    }
    if (expectConsent) {
      await expectVisible(page.getByRole('button', { name: 'Allow' }), `the consent page, at ${await whereIs(page)}`);
      await expectVisible(page.getByRole('heading', { name: app.name, level: 1 }), `"${app.name}" as the consent heading`);
      await page.getByRole('button', { name: 'Allow' }).click();
    }
    const hit = await withTimeout(hitPromise, STEP_TIMEOUT_MS, `the callback ${app.redirect} (browser at ${await whereIs(page)})`);
    if (expectLogin) {
      // On an https issuer every cookie of Valet's is __Host- (so Secure, host-only, Path=/).
      const cookies = await context.cookies(url.origin);
      check(cookies.some((c) => c.name.includes('session')), `no session cookie after signing in: ${cookies.map((c) => c.name)}`);
      for (const c of cookies) {
        check(c.name.startsWith('__Host-') && c.secure && c.path === '/', `cookie ${JSON.stringify(c)} is not a __Host- cookie`);
        check(c.httpOnly && c.sameSite === 'Lax', `cookie ${c.name} is not HttpOnly and SameSite=Lax: ${JSON.stringify(c)}`);
      }
    }
    // The callback URL exactly as the application received it (ours listens on http).
    return new URL(hit.url.pathname + hit.url.search, app.redirect);
  }

  async function signOutInBrowser(app, config, idToken, expectConfirmation = true) {
    const state = `${oidc.randomState()} +/=%41&x`;
    const url = oidc.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: app.postLogout, state });
    equal(url.searchParams.get('client_id'), app.client_id, 'client_id in the end-session URL');
    const hitPromise = cb.next(new URL(app.postLogout).pathname);
    await page.goto(url.href);
    if (expectConfirmation) {
      await expectVisible(page.getByRole('heading', { name: 'Sign out of Valet?' }), `the sign-out confirmation, at ${await whereIs(page)}`);
      await expectVisible(page.getByText(app.name), `"${app.name}" on the sign-out confirmation`);
      await page.getByRole('button', { name: 'Sign out' }).click();
    }
    const hit = await withTimeout(hitPromise, STEP_TIMEOUT_MS, `${app.postLogout} (browser at ${await whereIs(page)})`);
    equal(hit.url.searchParams.get('state'), state, `state at the post_logout_redirect_uri (${hit.url.href})`);
  }

  // ----- web: a confidential application

  const web = apps.web;
  const webAuth = await authorizationRequest(configs.web, web.redirect);
  const webCallback = await step('web: authorize in the browser: login page, consent, callback', () =>
    authorizeInBrowser(web, webAuth.url, { expectLogin: true, expectConsent: true }));

  const webTokens = await step('web: authorization code grant (state, iss, PKCE, ID token with signature)', async () => {
    const jwksBefore = fetched.filter((f) => f === `GET ${configs.web.serverMetadata().jwks_uri}`).length;
    const t = await rp('the authorization code grant', () => oidc.authorizationCodeGrant(configs.web, webCallback, webAuth.checks));
    check(fetched.filter((f) => f === `GET ${configs.web.serverMetadata().jwks_uri}`).length > jwksBefore,
      `openid-client did not fetch the JWKS to check the ID token signature; it fetched: ${fetched.join(', ')}`);
    equal(t.token_type, 'bearer', 'token_type');
    check(t.access_token && t.refresh_token && t.id_token, `code grant lacks a token: ${Object.keys(t)}`);
    check(t.expiresIn() > 0, `expires_in ${t.expires_in}`);
    const c = t.claims();
    equal(c.iss, issuer, 'ID token iss');
    equal(c.aud === web.client_id || (Array.isArray(c.aud) && c.aud.includes(web.client_id)), true, 'ID token aud');
    equal(c.nonce, webAuth.checks.expectedNonce, 'ID token nonce');
    check(typeof c.sub === 'string' && c.sub, `ID token sub ${c.sub}`);
    return t;
  });
  const sub = webTokens.claims().sub;

  await step('web: UserInfo', async () => {
    const u = await rp('UserInfo', () => oidc.fetchUserInfo(configs.web, webTokens.access_token, sub));
    equal(u.sub, sub, 'UserInfo sub');
    equal(u.email, USER.email, 'UserInfo email');
    equal(u.name, USER.name, 'UserInfo name');
  });

  await step('web: introspection of the access and refresh tokens', async () => {
    const a = await rp('introspection', () => oidc.tokenIntrospection(configs.web, webTokens.access_token));
    equal(a.active, true, 'access token active');
    equal(a.sub, sub, 'introspection sub');
    equal(a.client_id, web.client_id, 'introspection client_id');
    equal(a.iss, issuer, 'introspection iss');
    check(String(a.scope).split(' ').includes('openid'), `introspection scope ${a.scope}`);
    const r = await rp('introspection of the refresh token', () =>
      oidc.tokenIntrospection(configs.web, webTokens.refresh_token, { token_type_hint: 'refresh_token' }));
    equal(r.active, true, 'refresh token active');
    equal(r.client_id, web.client_id, 'refresh token client_id');
  });

  const webRefreshed = await step('web: refresh (a new access token; the refresh token does not rotate)', async () => {
    const t = await rp('the refresh grant', () => oidc.refreshTokenGrant(configs.web, webTokens.refresh_token));
    check(t.access_token && t.access_token !== webTokens.access_token, 'refresh gave no new access token');
    check(t.refresh_token === undefined || t.refresh_token === webTokens.refresh_token,
      'a confidential application\'s refresh token rotated (refresh_token_rotation defaults to public)');
    if (t.id_token) equal(t.claims().sub, sub, 'refreshed ID token sub');
    const u = await rp('UserInfo with the refreshed token', () => oidc.fetchUserInfo(configs.web, t.access_token, sub));
    equal(u.sub, sub, 'UserInfo sub with the refreshed token');
    // Not rotated: it still works.
    await rp('a second refresh with the same token', () => oidc.refreshTokenGrant(configs.web, webTokens.refresh_token));
    return t;
  });

  await step('web: response_mode=form_post: the auto-submitting page posts the code back (SSO, consent remembered)', async () => {
    const auth = await authorizationRequest(configs.web, web.redirect, { response_mode: 'form_post' });
    const hitPromise = cb.next(new URL(web.redirect).pathname);
    await page.goto(auth.url.href);
    const hit = await withTimeout(hitPromise, STEP_TIMEOUT_MS, `the form_post to ${web.redirect} (browser at ${await whereIs(page)})`);
    equal(hit.method, 'POST', `form_post arrived as ${hit.method} ${hit.url.href}`);
    check(hit.contentType.startsWith('application/x-www-form-urlencoded'), `form_post content-type ${hit.contentType}`);
    equal(hit.url.search, '', 'query of the form_post target');
    // openid-client reads the POSTed form itself (a Request), with its state and iss checks.
    const request = new Request(web.redirect, { method: 'POST', headers: { 'content-type': hit.contentType }, body: hit.body });
    const t = await rp('the form_post code grant', () => oidc.authorizationCodeGrant(configs.web, request, auth.checks));
    equal(t.claims().sub, sub, 'sub of the form_post ID token');
    await rp('revoking that grant', () => oidc.tokenRevocation(configs.web, t.refresh_token));
  });

  await step('web: revoking the access token', async () => {
    await rp('revocation', () => oidc.tokenRevocation(configs.web, webRefreshed.access_token, { token_type_hint: 'access_token' }));
    const i = await rp('introspection', () => oidc.tokenIntrospection(configs.web, webRefreshed.access_token));
    equal(JSON.stringify(i), '{"active":false}', 'introspection of the revoked access token');
    await expectInvalidToken('UserInfo with the revoked access token', () => oidc.fetchUserInfo(configs.web, webRefreshed.access_token, sub));
  });

  await step('web: revoking the refresh token ends its grant', async () => {
    await rp('revocation', () => oidc.tokenRevocation(configs.web, webTokens.refresh_token, { token_type_hint: 'refresh_token' }));
    await expectOAuthError('refresh with the revoked refresh token', 'invalid_grant', () =>
      oidc.refreshTokenGrant(configs.web, webTokens.refresh_token));
    const i = await rp('introspection', () => oidc.tokenIntrospection(configs.web, webTokens.access_token));
    equal(JSON.stringify(i), '{"active":false}', 'introspection of the grant\'s first access token (RFC 7009 §2.1)');
  });

  await step('web: RP-initiated logout: confirmation page, then post_logout_redirect_uri with state', () =>
    signOutInBrowser(web, configs.web, webTokens.id_token));

  await step('web: after logout, authorize asks for a password again', async () => {
    const again = await authorizationRequest(configs.web, web.redirect);
    await page.goto(again.url.href);
    await expectVisible(page.getByRole('heading', { name: 'Sign in', level: 1 }), `the login page after logout, at ${await whereIs(page)}`);
  });

  await step('web: RP-initiated logout when already signed out goes straight to post_logout_redirect_uri', () =>
    signOutInBrowser(web, configs.web, webTokens.id_token, false));

  // ----- spa: a public application

  const spa = apps.spa;
  await step('spa: openid-client discovery as a public client (token_endpoint_auth_method none)', async () => {
    configs.spa = await rp('discovery', () => oidc.discovery(new URL(issuer), spa.client_id, undefined, oidc.None(), rpOptions));
    oidc.enableNonRepudiationChecks(configs.spa);
  });

  async function spaSignIn(label, expect) {
    const auth = await authorizationRequest(configs.spa, spa.redirect);
    const callback = await step(`spa: ${label}`, () => authorizeInBrowser(spa, auth.url, expect));
    return step('spa: authorization code grant without a secret (PKCE, ID token with signature)', async () => {
      const t = await rp('the authorization code grant', () => oidc.authorizationCodeGrant(configs.spa, callback, auth.checks));
      check(t.access_token && t.refresh_token && t.id_token, `code grant lacks a token: ${Object.keys(t)}`);
      equal(t.claims().sub, sub, 'the same user\'s sub for the spa');
      equal(t.claims().nonce, auth.checks.expectedNonce, 'ID token nonce');
      return t;
    });
  }

  const spaTokens = await spaSignIn('authorize in the browser: login page, consent, callback', { expectLogin: true, expectConsent: true });

  await step('spa: UserInfo and introspection of its own token', async () => {
    const u = await rp('UserInfo', () => oidc.fetchUserInfo(configs.spa, spaTokens.access_token, sub));
    equal(u.email, USER.email, 'UserInfo email');
    const i = await rp('introspection', () => oidc.tokenIntrospection(configs.spa, spaTokens.access_token));
    equal(i.active, true, 'the spa\'s own access token at introspection');
    equal(i.client_id, spa.client_id, 'introspection client_id');
  });

  const rotated = await step('spa: refresh rotates the refresh token', async () => {
    const t = await rp('the refresh grant', () => oidc.refreshTokenGrant(configs.spa, spaTokens.refresh_token));
    check(t.access_token && t.access_token !== spaTokens.access_token, 'refresh gave no new access token');
    check(t.refresh_token, 'a public application\'s refresh got no new refresh token');
    check(t.refresh_token !== spaTokens.refresh_token, 'the refresh token did not change');
    const u = await rp('UserInfo with the refreshed token', () => oidc.fetchUserInfo(configs.spa, t.access_token, sub));
    equal(u.sub, sub, 'UserInfo sub');
    return t;
  });

  await step('spa: replaying the rotated refresh token fails and kills the new one too', async () => {
    await expectOAuthError('refresh with the old (rotated) refresh token', 'invalid_grant', () =>
      oidc.refreshTokenGrant(configs.spa, spaTokens.refresh_token));
    await expectOAuthError('refresh with the new refresh token after the reuse', 'invalid_grant', () =>
      oidc.refreshTokenGrant(configs.spa, rotated.refresh_token));
    const i = await rp('introspection', () => oidc.tokenIntrospection(configs.spa, rotated.access_token));
    equal(JSON.stringify(i), '{"active":false}', 'the family\'s latest access token after the reuse');
    await expectInvalidToken('UserInfo with the family\'s latest access token', () =>
      oidc.fetchUserInfo(configs.spa, rotated.access_token, sub));
  });

  // Still signed in, and the consent is remembered (a reuse revokes the grant, not the
  // consent): prompt=none must come straight back with a code (OIDC Core §3.1.2.1), and
  // max_age makes openid-client require and check auth_time.
  const spaAgain = await (async () => {
    const auth = await authorizationRequest(configs.spa, spa.redirect, { prompt: 'none', max_age: '3600' });
    const callback = await step('spa: prompt=none while signed in comes straight back with a code', async () => {
      const hitPromise = cb.next(new URL(spa.redirect).pathname);
      await page.goto(auth.url.href);
      const hit = await withTimeout(hitPromise, STEP_TIMEOUT_MS, `the callback ${spa.redirect} (browser at ${await whereIs(page)})`);
      return new URL(hit.url.pathname + hit.url.search, spa.redirect);
    });
    return step('spa: code grant with max_age (openid-client checks auth_time)', async () => {
      const t = await rp('the authorization code grant', () =>
        oidc.authorizationCodeGrant(configs.spa, callback, { ...auth.checks, maxAge: 3600 }));
      check(typeof t.claims().auth_time === 'number', `auth_time ${t.claims().auth_time}`);
      return t;
    });
  })();

  await step('spa: revoking the refresh token without a secret', async () => {
    await rp('revocation', () => oidc.tokenRevocation(configs.spa, spaAgain.refresh_token));
    await expectOAuthError('refresh with the revoked refresh token', 'invalid_grant', () =>
      oidc.refreshTokenGrant(configs.spa, spaAgain.refresh_token));
    const i = await rp('introspection', () => oidc.tokenIntrospection(configs.spa, spaAgain.access_token));
    equal(JSON.stringify(i), '{"active":false}', 'introspection of the grant\'s access token');
  });

  // ----- spa, for real: openid-client running in Chromium at the application's origin.
  // Every call crosses origins (http://127.0.0.1:… → https://localhost:…), so this is
  // also Valet's CORS as a browser enforces it, on discovery, JWKS, token, UserInfo,
  // introspection and revocation.

  const inPage = async (what, fn, arg) => {
    await page.waitForFunction(() => window.openidClient, null, { timeout: STEP_TIMEOUT_MS })
      .catch(async () => fail(`openid-client did not load in ${await whereIs(page)}: ${pageErrors.slice(-5).join(' | ')}`));
    const r = await page.evaluate(fn, arg);
    if (r && r.failed) fail(`in the browser, ${what}: ${r.failed}`);
    return r;
  };
  const pageArg = { issuer, clientId: spa.client_id, redirect: spa.redirect, sub };

  await step('spa in Chromium: openid-client loads at the application\'s origin, discovers, builds the URL', async () => {
    await page.goto(`${cb.origin}/spa/app`);
    const url = await inPage('discovery', async ({ issuer: iss, clientId, redirect }) => {
      const c = window.openidClient;
      try {
        const config = await c.discovery(new URL(iss), clientId, undefined, c.None());
        const verifier = c.randomPKCECodeVerifier();
        const checks = { pkceCodeVerifier: verifier, expectedState: c.randomState(), expectedNonce: c.randomNonce() };
        sessionStorage.setItem('checks', JSON.stringify(checks));
        return c.buildAuthorizationUrl(config, {
          redirect_uri: redirect, scope: 'openid profile email offline_access', state: checks.expectedState,
          nonce: checks.expectedNonce, code_challenge: await c.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
        }).href;
      } catch (e) {
        return { failed: `${e.name} ${e.code || ''} ${e.message} ${e.cause?.message || ''}` };
      }
    }, pageArg);
    const hitPromise = cb.next(new URL(spa.redirect).pathname);
    await page.goto(url);
    await withTimeout(hitPromise, STEP_TIMEOUT_MS, `the callback (still signed in, consent remembered), browser at ${await whereIs(page)}`);
  });

  await step('spa in Chromium: code grant, ID token signature, UserInfo, refresh rotation, revocation (CORS)', async () => {
    const r = await inPage('the flow', async ({ issuer: iss, clientId, sub: expectedSub }) => {
      const c = window.openidClient;
      const out = {};
      try {
        const config = await c.discovery(new URL(iss), clientId, undefined, c.None());
        c.enableNonRepudiationChecks(config);
        const checks = JSON.parse(sessionStorage.getItem('checks'));
        const t = await c.authorizationCodeGrant(config, new URL(location.href), checks);
        out.sub = t.claims().sub;
        out.userinfoEmail = (await c.fetchUserInfo(config, t.access_token, expectedSub)).email;
        out.introspected = (await c.tokenIntrospection(config, t.access_token)).active;
        const r2 = await c.refreshTokenGrant(config, t.refresh_token);
        out.rotated = Boolean(r2.refresh_token) && r2.refresh_token !== t.refresh_token;
        await c.tokenRevocation(config, r2.refresh_token);
        try {
          await c.refreshTokenGrant(config, r2.refresh_token);
          out.afterRevocation = 'accepted';
        } catch (e) {
          out.afterRevocation = e.error || `${e.name} ${e.message}`;
        }
        return out;
      } catch (e) {
        return { failed: `${e.name} ${e.code || ''} ${e.error || ''} ${e.message} ${e.cause?.message || ''} (so far ${JSON.stringify(out)})` };
      }
    }, pageArg);
    equal(r.sub, sub, 'sub of the ID token checked in the browser');
    equal(r.userinfoEmail, USER.email, 'UserInfo email in the browser');
    equal(r.introspected, true, 'introspection of its own token in the browser');
    equal(r.rotated, true, 'the refresh token rotated in the browser');
    equal(r.afterRevocation, 'invalid_grant', 'refresh after revocation in the browser');
  });

  await step('spa in Chromium: from an origin nobody registered, the token endpoint\'s answer is unreadable', async () => {
    // The same page at http://localhost:… instead of http://127.0.0.1:…: a different origin.
    const stranger = new URL('/spa/app', cb.origin);
    stranger.hostname = 'localhost';
    await page.goto(stranger.href);
    const probe = async ({ metadata, clientId }) => {
      const c = window.openidClient;
      const config = new c.Configuration(metadata, clientId, undefined, c.None());
      try {
        await c.refreshTokenGrant(config, 'not-a-refresh-token');
        return { outcome: 'succeeded' };
      } catch (e) {
        return { outcome: e.error ? `OAuth error ${e.error}` : `${e.name}: ${e.message}` };
      }
    };
    const arg = { metadata: configs.spa.serverMetadata(), clientId: spa.client_id };
    const r = await inPage('the probe', probe, arg);
    check(/^TypeError/.test(r.outcome), `from ${stranger.origin} the token endpoint answered readably: ${r.outcome}`);
    // And from the registered origin the same call reads Valet's error: the difference is CORS.
    await page.goto(`${cb.origin}/spa/app`);
    const ok = await inPage('the probe', probe, arg);
    equal(ok.outcome, 'OAuth error invalid_grant', `the same call from ${cb.origin}`);
  });

  await step('spa: RP-initiated logout: confirmation page, then post_logout_redirect_uri with state', () =>
    signOutInBrowser(spa, configs.spa, spaAgain.id_token));

  await step('spa: after logout, prompt=none answers login_required (openid-client checks state and iss)', async () => {
    const again = await authorizationRequest(configs.spa, spa.redirect, { prompt: 'none' });
    const hitPromise = cb.next(new URL(spa.redirect).pathname);
    await page.goto(again.url.href);
    const hit = await withTimeout(hitPromise, STEP_TIMEOUT_MS, `the callback ${spa.redirect} (browser at ${await whereIs(page)})`);
    const callback = new URL(hit.url.pathname + hit.url.search, spa.redirect);
    try {
      await oidc.authorizationCodeGrant(configs.spa, callback, again.checks);
    } catch (e) {
      check(e instanceof oidc.AuthorizationResponseError, `expected an authorization error response, got ${describeError(e)}`);
      equal(e.error, 'login_required', `error in ${callback.href}`);
      return;
    }
    fail(`prompt=none after logout got a code: ${callback.href}`);
  });

  // ----- device: the device authorization grant (RFC 8628), openid-client as the device

  const tv = apps.device;
  const tvDevice = await step('device: openid-client discovers the device endpoint and starts a device authorization', async () => {
    configs.device = await rp('discovery', () => oidc.discovery(new URL(issuer), tv.client_id, undefined, oidc.None(), rpOptions));
    const m = configs.device.serverMetadata();
    equal(m.device_authorization_endpoint, `${issuer}/oauth2/device_authorization`, 'device_authorization_endpoint');
    check(m.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:device_code'), 'grant_types_supported lacks the device grant');
    const d = await rp('the device authorization request', () => oidc.initiateDeviceAuthorization(configs.device, { scope: 'openid profile' }));
    check(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/.test(d.user_code), `user_code ${d.user_code}`);
    equal(d.verification_uri, `${issuer}/device`, 'verification_uri');
    equal(d.interval, 5, 'interval');
    return d;
  });

  await step('device: the person allows it in Chromium (code prefilled, sign-in, confirmation)', async () => {
    await page.goto(tvDevice.verification_uri_complete);
    await expectVisible(page.getByRole('heading', { name: 'Connect a device' }), `the code page, at ${await whereIs(page)}`);
    equal(await page.getByLabel('Code').inputValue(), tvDevice.user_code, 'the prefilled code');
    await page.getByRole('button', { name: 'Continue' }).click();
    await expectVisible(page.getByLabel('Password'), `the login page for the device, at ${await whereIs(page)}`);
    await page.getByLabel('Username').fill(USER.username);
    await page.getByLabel('Password').fill(USER.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expectVisible(page.getByText(tvDevice.user_code), `the code to compare, at ${await whereIs(page)}`);
    await expectVisible(page.getByRole('heading', { name: tv.name }), `"${tv.name}" on the confirmation`);
    await page.getByRole('button', { name: 'Allow' }).click();
    await expectVisible(page.getByRole('heading', { name: 'You are all set' }), `"You are all set", at ${await whereIs(page)}`);
  });

  await step('device: openid-client polls until it gets tokens (ID token checked), then refreshes (rotating)', async () => {
    const t = await rp('the device code grant', () => oidc.pollDeviceAuthorizationGrant(configs.device, tvDevice));
    check(t.access_token && t.refresh_token && t.id_token, `device grant lacks a token: ${Object.keys(t)}`);
    equal(t.claims().sub, sub, 'the device acts as the user who allowed it');
    const u = await rp('UserInfo for the device', () => oidc.fetchUserInfo(configs.device, t.access_token, sub));
    equal(u.sub, sub, 'UserInfo sub for the device');
    const r = await rp('the device\'s refresh', () => oidc.refreshTokenGrant(configs.device, t.refresh_token));
    check(r.refresh_token && r.refresh_token !== t.refresh_token, 'a device application\'s refresh token did not rotate');
  });
}

const watchdog = setTimeout(async () => {
  console.error(`FAILED: ${progress.current}: the whole run took longer than ${TOTAL_TIMEOUT_MS / 1000} s`);
  await cleanup();
  process.exit(1);
}, TOTAL_TIMEOUT_MS);
watchdog.unref();

let exitCode = 0;
try {
  await main();
  console.log(`openid-client: all ${progress.stepNo} steps passed in ${((Date.now() - progress.started) / 1000).toFixed(1)} s`);
} catch (e) {
  exitCode = 1;
  console.error(`FAILED: ${progress.current}: ${e instanceof Failure ? e.message : e.stack || e}`);
  if (resources.page && SCREENSHOT_DIR) await shoot(resources.page, 'failure.png').catch(() => {});
  const log = resources.valet?.logFile;
  if (log && fs.existsSync(log)) {
    const lines = fs.readFileSync(log, 'utf8').trimEnd().split('\n');
    console.error(`--- last lines of Valet's log (${log}) ---\n${lines.slice(-30).join('\n')}`);
  }
} finally {
  await cleanup();
}
process.exit(exitCode);
