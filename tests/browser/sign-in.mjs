// End-to-end sign-in through Valet's own pages in a real browser: Debian's Chromium,
// driven by playwright-core (no browser download).
//
//   VALET_BIN=/path/to/valet node tests/browser/sign-in.mjs
//
// Starts Valet in a fresh temporary folder on a free port, registers a user and a `web`
// application whose redirect URI is a small HTTP server of this script's own, then walks
// the authorization code flow (PKCE S256) in headless Chromium: login page, consent page,
// callback; redeems the code, reads /userinfo, withdraws one scope of the application on
// /account, then removes its access and checks the token died, signs out and checks the
// next authorization asks for a password again. Then the device flow (RFC 8628) of a `device` application: the
// complete verification URI prefills the one code field, Enter continues to the login
// page, then the confirmation page (the code to compare, Allow / Deny), then "go back to
// your device", while the script polls the token endpoint as the device until it gets
// tokens. Then an authenticator app set up on /account (codes computed here, RFC 6238)
// and a sign-in that asks for its code after the password, then the account page at 390 px
// wide (this browser listed with its address and last use) and "Sign out everywhere". One
// line per step; exits 1 with the reason on the first failure.
//
// Environment: VALET_BIN (required), CHROMIUM (default /usr/bin/chromium),
// SCREENSHOT_DIR (optional: login.png, consent.png, device-code.png, device-confirm.png,
// totp-enrol.png, account-390.png, and failure.png on a failure).

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { base32Decode, totp } from '../interop/steps.mjs';

const VALET_BIN = process.env.VALET_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';
const STEP_TIMEOUT_MS = 15_000; // any one browser action or HTTP call
const TOTAL_TIMEOUT_MS = 120_000; // the whole run, as a last resort against a hang

const USER = { username: 'alice', email: 'alice@example.com', name: 'Alice Example', password: 'correct horse battery staple' };
const APP_NAME = 'Browser Test App';
const DEVICE_NAME = 'Browser Test TV';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const SCOPE = 'openid profile email';
const SCOPE_DESCRIPTIONS = [
  'Know who you are (your account identifier)',
  'See your name and profile details',
  'See your e-mail address',
];

// ---------------------------------------------------------------------------------------
// Steps, failures and cleanup

const started = Date.now();
let current = 'setup';
let stepNo = 0;

async function step(name, fn) {
  current = name;
  stepNo += 1;
  const t0 = Date.now();
  const result = await fn();
  console.log(`ok ${String(stepNo).padStart(2)} - ${name} (${Date.now() - t0} ms)`);
  return result;
}

class Failure extends Error {}
function fail(message) {
  throw new Failure(message);
}
function check(cond, message) {
  if (!cond) fail(message);
}
function equal(actual, expected, what) {
  if (actual !== expected) {
    fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

const resources = { valet: null, callbackServer: null, context: null, tmp: null };
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

// Whatever happens, never leave Valet behind.
process.on('exit', () => {
  const v = resources.valet;
  if (v && v.exitCode === null && v.signalCode === null) v.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    console.error(`FAILED: interrupted by ${sig} during: ${current}`);
    await cleanup();
    process.exit(1);
  });
}

// ---------------------------------------------------------------------------------------
// Helpers

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Valet refuses VALET_* variables it does not know (VALET_BIN among them), so its
// children get a clean environment: nothing of ours leaks into the server under test.
function valetEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('VALET_') || k === 'VALET_LOG') env[k] = v;
  }
  return env;
}

function valetAdmin(args, input, dataArgs) {
  const r = spawnSync(VALET_BIN, [...args, ...dataArgs], {
    input,
    env: valetEnv(),
    encoding: 'utf8',
    timeout: STEP_TIMEOUT_MS,
  });
  if (r.error) fail(`valet ${args.slice(0, 2).join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    fail(`valet ${args.slice(0, 2).join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}

async function startValet(dir, dataArgs) {
  // A port found free can be taken before Valet binds it: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const issuer = `http://localhost:${port}`;
    const logFile = path.join(dir, `valet-${attempt}.log`);
    const out = fs.openSync(logFile, 'w');
    const child = spawn(
      VALET_BIN,
      ['serve', '--listen', `127.0.0.1:${port}`, '--issuer', issuer, '--shutdown-grace', '1', ...dataArgs],
      { cwd: dir, env: valetEnv(), stdio: ['ignore', out, out] },
    );
    fs.closeSync(out);
    child.logFile = logFile;
    resources.valet = child;
    const spawnError = new Promise((resolve) => child.once('error', resolve));
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      const err = await Promise.race([spawnError, sleep(100).then(() => null)]);
      if (err) fail(`cannot start ${VALET_BIN}: ${err.message}`);
      try {
        const r = await fetch(`${issuer}/health/ready`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) return { child, issuer, port };
      } catch {
        // not listening yet
      }
    }
    const log = fs.readFileSync(logFile, 'utf8');
    if (child.exitCode !== null && /address.*in use/i.test(log) && attempt < 3) continue;
    fail(`Valet did not become ready on ${issuer} (exit ${child.exitCode ?? 'none'}):\n${log.trim()}`);
  }
}

async function stopValet(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  if (await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])) return;
  child.kill('SIGKILL');
  await exited;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// The application's redirect URI: records each callback and answers a small page.
function startCallbackServer() {
  const hits = [];
  const waiters = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/callback') {
      const hit = {
        url: req.url,
        code: url.searchParams.get('code'),
        state: url.searchParams.get('state'),
        iss: url.searchParams.get('iss'),
        error: url.searchParams.get('error'),
        error_description: url.searchParams.get('error_description'),
      };
      hits.push(hit);
      waiters.splice(0).forEach((w) => w(hit));
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test app</title></head>'
      + '<body><h1>Callback received</h1></body></html>');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resources.callbackServer = server;
      resolve({
        origin: `http://127.0.0.1:${server.address().port}`,
        hits,
        next: () => new Promise((r) => waiters.push(r)),
      });
    });
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Failure(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function pkce() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

function authorizeRequest(issuer, clientId, redirectUri) {
  const { verifier, challenge } = pkce();
  // Characters that break careless encoding: '+' (space in forms), '/', '=', '%', '&'.
  const state = `st+/=%41%&x=${crypto.randomBytes(6).toString('base64url')}`;
  const nonce = crypto.randomBytes(16).toString('base64url');
  const url = `${issuer}/oauth2/authorize?${new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: SCOPE,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  })}`;
  return { url, state, nonce, verifier };
}

function basic(id, secret) {
  const enc = (s) => encodeURIComponent(s); // RFC 6749 §2.3.1: form-encode, then Basic
  return 'Basic ' + Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64');
}

async function http_(method, url, { headers = {}, form } = {}) {
  const init = { method, headers: { ...headers }, redirect: 'manual', signal: AbortSignal.timeout(STEP_TIMEOUT_MS) };
  if (form) {
    init.headers['content-type'] = 'application/x-www-form-urlencoded';
    init.body = new URLSearchParams(form).toString();
  }
  const r = await fetch(url, init);
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json, describe: () => `${method} ${url} -> ${r.status} ${text.slice(0, 500)}` };
}

function decodeJwt(jwt) {
  const parts = String(jwt).split('.');
  check(parts.length === 3, `not a JWS compact serialization: ${String(jwt).slice(0, 40)}…`);
  const [h, p, s] = parts;
  return {
    header: JSON.parse(Buffer.from(h, 'base64url')),
    payload: JSON.parse(Buffer.from(p, 'base64url')),
    signingInput: `${h}.${p}`,
    signature: Buffer.from(s, 'base64url'),
  };
}

function verifyJws(jwt, jwks) {
  const alg = { ES256: ['sha256', { dsaEncoding: 'ieee-p1363' }], RS256: ['sha256', {}], PS256: ['sha256', { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }], EdDSA: [null, {}] };
  const { header, signingInput, signature } = jwt;
  check(alg[header.alg], `ID token alg ${header.alg} is not one this test verifies`);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  check(jwk, `no key with kid ${header.kid} in the JWKS`);
  const [hash, opts] = alg[header.alg];
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  return crypto.verify(hash, Buffer.from(signingInput), { key, ...opts }, signature);
}

async function shoot(page, name) {
  if (!SCREENSHOT_DIR) return;
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, name), fullPage: true });
}

async function expectVisible(locator, what) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  } catch {
    fail(`${what} not found`);
  }
}

// Where the browser is, for failure messages.
async function whereIs(page) {
  const title = await page.title().catch(() => '?');
  const h1 = await page.locator('h1').first().textContent({ timeout: 1000 }).catch(() => null);
  return `${page.url()} (title ${JSON.stringify(title)}${h1 ? `, h1 ${JSON.stringify(h1.trim())}` : ''})`;
}

// ---------------------------------------------------------------------------------------
// The test

async function main() {
  check(VALET_BIN, 'VALET_BIN is not set: point it at a built valet binary (cargo build --release)');
  check(fs.existsSync(VALET_BIN), `VALET_BIN=${VALET_BIN} does not exist`);
  check(fs.existsSync(CHROMIUM), `${CHROMIUM} does not exist: apt-get install -y chromium`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'valet-browser-'));
  resources.tmp = tmp;
  const dataArgs = ['--database', `sqlite://${path.join(tmp, 'valet.db')}`, '--master-key-file', path.join(tmp, 'valet.master-key')];

  const cb = await step('callback server listening', startCallbackServer);
  const redirectUri = `${cb.origin}/callback`;

  const client = await step('user and web application registered', () => {
    valetAdmin(
      ['user', 'create', '--username', USER.username, '--email', USER.email, '--name', USER.name, '--password-stdin'],
      `${USER.password}\n`,
      dataArgs,
    );
    const out = valetAdmin(
      ['client', 'create', '--name', APP_NAME, '--profile', 'web', '--redirect-uri', redirectUri,
        '--post-logout-redirect-uri', `${cb.origin}/signed-out`, '--json'],
      '',
      dataArgs,
    );
    let c;
    try {
      c = JSON.parse(out);
    } catch {
      fail(`client create --json printed no JSON: ${out}`);
    }
    check(c.client_id && c.client_secret, `client create --json lacks client_id/client_secret: ${out}`);
    return c;
  });

  const tv = await step('device application registered (no redirect URI)', () => {
    const out = valetAdmin(['client', 'create', '--name', DEVICE_NAME, '--profile', 'device', '--json'], '', dataArgs);
    let c;
    try {
      c = JSON.parse(out);
    } catch {
      fail(`client create --profile device --json printed no JSON: ${out}`);
    }
    check(c.client_id && !c.client_secret, `a device application is public: ${out}`);
    return c;
  });

  const { issuer } = await step('Valet serving', () => startValet(tmp, dataArgs));

  const discovery = await step('discovery document', async () => {
    const r = await http_('GET', `${issuer}/.well-known/openid-configuration`);
    equal(r.status, 200, 'discovery status');
    equal(r.json.issuer, issuer, 'discovery issuer');
    for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri']) {
      check(r.json[k], `discovery lacks ${k}: ${r.text}`);
    }
    return r.json;
  });

  const context = await step('Chromium started', async () => {
    const ctx = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    resources.context = ctx;
    return ctx;
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  resources.page = page;

  const auth = authorizeRequest(issuer, client.client_id, redirectUri);

  await step('authorize shows the login page', async () => {
    const resp = await page.goto(auth.url);
    check(resp && resp.ok(), `GET ${auth.url} -> ${resp && resp.status()} at ${await whereIs(page)}`);
    check(new URL(page.url()).pathname === '/login' || (await page.title()).startsWith('Sign in'),
      `expected the login page, at ${await whereIs(page)}`);
    await expectVisible(page.getByRole('heading', { name: 'Sign in', level: 1 }), `"Sign in" heading at ${await whereIs(page)}`);
    await expectVisible(page.getByText(APP_NAME), `application name "${APP_NAME}" on the login page`);
    await expectVisible(page.getByLabel('Username'), 'field labelled "Username"');
    await expectVisible(page.getByLabel('Password'), 'field labelled "Password"');
    await shoot(page, 'login.png');
  });

  await step('sign in shows the consent page with the application and its scopes', async () => {
    await page.getByLabel('Username').fill(USER.username);
    await page.getByLabel('Password').fill(USER.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expectVisible(page.getByRole('button', { name: 'Allow' }), `"Allow" button after signing in, at ${await whereIs(page)}`);
    await expectVisible(page.getByRole('button', { name: 'Deny' }), '"Deny" button on the consent page');
    await expectVisible(page.getByRole('heading', { name: APP_NAME, level: 1 }), `application name "${APP_NAME}" as the consent heading`);
    for (const d of SCOPE_DESCRIPTIONS) {
      await expectVisible(page.getByText(d), `scope description "${d}" on the consent page`);
    }
    await shoot(page, 'consent.png');
  });

  const callback = await step('Allow redirects to the application with code, exact state and iss', async () => {
    const before = cb.hits.length;
    const hitPromise = cb.next();
    await page.getByRole('button', { name: 'Allow' }).click();
    const hit = await withTimeout(hitPromise, STEP_TIMEOUT_MS, `the callback at ${redirectUri} (browser at ${await whereIs(page)})`);
    equal(cb.hits.length, before + 1, 'callbacks received');
    check(!hit.error, `callback carried error=${hit.error} ${hit.error_description || ''}`);
    check(hit.code, `callback without a code: ${hit.url}`);
    equal(hit.state, auth.state, `state in the callback (${hit.url})`);
    equal(hit.iss, issuer, `iss in the callback (${hit.url})`);
    await page.waitForURL((u) => u.href.startsWith(redirectUri));
    await expectVisible(page.getByRole('heading', { name: 'Callback received' }), 'the callback page in the browser');
    return hit;
  });

  const tokens = await step('code redeemed at the token endpoint', async () => {
    const r = await http_('POST', discovery.token_endpoint, {
      headers: { authorization: basic(client.client_id, client.client_secret) },
      form: { grant_type: 'authorization_code', code: callback.code, redirect_uri: redirectUri, code_verifier: auth.verifier },
    });
    check(r.status === 200 && r.json, `token request failed: ${r.describe()}`);
    check(String(r.json.token_type).toLowerCase() === 'bearer', `token_type ${r.json.token_type}`);
    check(r.json.access_token, `no access_token: ${r.text}`);
    check(r.json.id_token, `no id_token: ${r.text}`);
    check(/no-store/.test(r.headers.get('cache-control') || ''), 'token response lacks Cache-Control: no-store');
    return r.json;
  });

  const idToken = await step('ID token: signature, iss, aud, nonce, exp', async () => {
    const jwt = decodeJwt(tokens.id_token);
    const jwks = await http_('GET', discovery.jwks_uri);
    equal(jwks.status, 200, 'JWKS status');
    check(verifyJws(jwt, jwks.json), `ID token signature does not verify (kid ${jwt.header.kid}, alg ${jwt.header.alg})`);
    const c = jwt.payload;
    equal(c.iss, issuer, 'ID token iss');
    const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
    check(aud.includes(client.client_id), `ID token aud ${JSON.stringify(c.aud)} lacks ${client.client_id}`);
    if (aud.length > 1) equal(c.azp, client.client_id, 'ID token azp');
    equal(c.nonce, auth.nonce, 'ID token nonce');
    check(typeof c.sub === 'string' && c.sub.length > 0, `ID token sub ${JSON.stringify(c.sub)}`);
    const now = Math.floor(Date.now() / 1000);
    check(c.exp > now && c.iat <= now + 60, `ID token exp/iat out of range: exp ${c.exp}, iat ${c.iat}, now ${now}`);
    return c;
  });

  await step('userinfo answers with the user\'s claims', async () => {
    const r = await http_('GET', discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    check(r.status === 200 && r.json, `userinfo failed: ${r.describe()}`);
    equal(r.json.sub, idToken.sub, 'userinfo sub');
    equal(r.json.email, USER.email, 'userinfo email');
    equal(r.json.name, USER.name, 'userinfo name');
  });

  const introspect = () => http_('POST', `${issuer}/oauth2/introspect`, {
    headers: { authorization: basic(client.client_id, client.client_secret) },
    form: { token: tokens.access_token },
  });

  await step('access token active at introspection', async () => {
    const r = await introspect();
    check(r.status === 200 && r.json, `introspection failed: ${r.describe()}`);
    equal(r.json.active, true, `introspection of the fresh access token (${r.text})`);
    equal(r.json.client_id, client.client_id, 'introspection client_id');
  });

  await step('account page lists the application', async () => {
    const resp = await page.goto(`${issuer}/account`);
    check(resp && resp.ok(), `GET /account -> ${resp && resp.status()} at ${await whereIs(page)}`);
    await expectVisible(page.getByRole('heading', { name: 'Your account', level: 1 }), `"Your account" heading at ${await whereIs(page)}`);
    await expectVisible(page.getByRole('heading', { name: APP_NAME, level: 3 }), `"${APP_NAME}" among the allowed applications`);
  });

  await step('one permission withdrawn: the application keeps the others', async () => {
    const grant = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: APP_NAME, level: 3 }) });
    check(await grant.getByRole('button', { name: /^Remove openid/ }).count() === 0, 'openid offered alone');
    await grant.getByRole('button', { name: `Remove email from ${APP_NAME}` }).click();
    await expectVisible(page.getByRole('status').filter({ hasText: `${APP_NAME} no longer has email.` }), `"no longer has email" notice at ${await whereIs(page)}`);
    check(await page.getByText(SCOPE_DESCRIPTIONS[2]).count() === 0, 'the e-mail scope still listed after withdrawing it');
    await expectVisible(page.getByText(SCOPE_DESCRIPTIONS[1]), 'the profile scope kept');
  });

  await step('Remove access takes the application off the account page', async () => {
    const grant = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: APP_NAME, level: 3 }) });
    await grant.getByRole('button', { name: /^Remove access/ }).click();
    await expectVisible(page.getByRole('status').filter({ hasText: `Access removed for ${APP_NAME}.` }), `"Access removed" notice at ${await whereIs(page)}`);
    await expectVisible(page.getByText('No applications yet.'), 'the empty list after removing access');
    check(await page.getByRole('heading', { name: APP_NAME, level: 3 }).count() === 0, `"${APP_NAME}" still listed after Remove access`);
  });

  await step('access token inactive at introspection', async () => {
    const r = await introspect();
    check(r.status === 200 && r.json, `introspection failed: ${r.describe()}`);
    check(JSON.stringify(r.json) === '{"active":false}', `after Remove access, introspection of the access token should be {"active":false}: ${r.describe()}`);
  });

  await step('authorize again while signed in asks for consent again, not a password', async () => {
    const again = authorizeRequest(issuer, client.client_id, redirectUri);
    await page.goto(again.url);
    await expectVisible(page.getByRole('button', { name: 'Allow' }), `the consent page again, at ${await whereIs(page)}`);
    check(await page.getByLabel('Password').count() === 0, 'asked for a password while still signed in');
  });

  await step('Sign out from the account page', async () => {
    await page.goto(`${issuer}/account`);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await expectVisible(page.getByRole('heading', { name: 'You are signed out' }), `"You are signed out" at ${await whereIs(page)}`);
  });

  await step('authorize after signing out shows the login page', async () => {
    const before = cb.hits.length;
    const again = authorizeRequest(issuer, client.client_id, redirectUri);
    await page.goto(again.url);
    await expectVisible(page.getByRole('heading', { name: 'Sign in', level: 1 }), `the login page after signing out, at ${await whereIs(page)}`);
    await expectVisible(page.getByLabel('Password'), 'field labelled "Password" after signing out');
    equal(cb.hits.length, before, 'callbacks received after signing out');
  });

  // The device flow: the script is the device, Chromium the person's phone.
  const pollDevice = (deviceCode) => http_('POST', discovery.token_endpoint, {
    form: { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: tv.client_id },
  });
  const device = await step('device authorization: a user code and the verification URIs', async () => {
    check(discovery.device_authorization_endpoint, `discovery lacks device_authorization_endpoint: ${JSON.stringify(discovery)}`);
    check(discovery.grant_types_supported.includes(DEVICE_GRANT), 'discovery lacks the device grant');
    const r = await http_('POST', discovery.device_authorization_endpoint, {
      form: { client_id: tv.client_id, scope: 'openid profile' },
    });
    check(r.status === 200 && r.json, `device authorization failed: ${r.describe()}`);
    check(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/.test(r.json.user_code), `user_code ${r.json.user_code}`);
    equal(r.json.verification_uri, `${issuer}/device`, 'verification_uri');
    equal(r.json.interval, 5, 'interval');
    return { ...r.json, interval: r.json.interval };
  });

  await step('the complete URI prefills the one code field and approves nothing', async () => {
    const resp = await page.goto(device.verification_uri_complete);
    check(resp && resp.ok(), `GET ${device.verification_uri_complete} -> ${resp && resp.status()}`);
    await expectVisible(page.getByRole('heading', { name: 'Connect a device', level: 1 }), `"Connect a device" at ${await whereIs(page)}`);
    equal(await page.getByLabel('Code').inputValue(), device.user_code, 'the prefilled code');
    equal(await page.locator('input:not([type=hidden])').count(), 1, 'visible fields on the code page');
    await shoot(page, 'device-code.png');
    const r = await pollDevice(device.device_code);
    check(r.status === 400 && ['authorization_pending', 'slow_down'].includes(r.json?.error), `a poll before any answer: ${r.describe()}`);
    if (r.json.error === 'slow_down') device.interval += 5;
    device.lastPoll = Date.now();
  });

  await step('Enter on the code page leads to sign-in, then the confirmation', async () => {
    await page.getByLabel('Code').press('Enter');
    await expectVisible(page.getByRole('heading', { name: 'Sign in', level: 1 }), `the login page for the device, at ${await whereIs(page)}`);
    await expectVisible(page.getByText(DEVICE_NAME), `"${DEVICE_NAME}" on the login page`);
    await page.getByLabel('Username').fill(USER.username);
    await page.getByLabel('Password').fill(USER.password);
    await page.getByLabel('Password').press('Enter');
    await expectVisible(page.getByRole('button', { name: 'Allow' }), `"Allow" on the device confirmation, at ${await whereIs(page)}`);
    await expectVisible(page.getByRole('button', { name: 'Deny' }), '"Deny" on the device confirmation');
    await expectVisible(page.getByRole('heading', { name: DEVICE_NAME, level: 1 }), `"${DEVICE_NAME}" as the heading`);
    await expectVisible(page.getByText(device.user_code), 'the code to compare with the device');
    await expectVisible(page.getByText(/matches the one on your device/), 'the "make sure the code matches" warning');
    await shoot(page, 'device-confirm.png');
  });

  await step('Allow says to go back to the device', async () => {
    await page.getByRole('button', { name: 'Allow' }).click();
    await expectVisible(page.getByRole('heading', { name: 'You are all set', level: 1 }), `"You are all set" at ${await whereIs(page)}`);
    await expectVisible(page.getByText(/Go back to your device/), '"Go back to your device"');
  });

  await step('the device polls and gets tokens once', async () => {
    const deadline = Date.now() + 60_000;
    let tokens;
    while (!tokens) {
      check(Date.now() < deadline, 'no tokens within a minute of polling');
      const wait = device.lastPoll + device.interval * 1000 + 200 - Date.now();
      if (wait > 0) await sleep(wait);
      const r = await pollDevice(device.device_code);
      device.lastPoll = Date.now();
      if (r.status === 200) {
        tokens = r.json;
      } else if (r.json?.error === 'slow_down') {
        device.interval += 5;
      } else {
        check(r.json?.error === 'authorization_pending', `an unexpected poll answer: ${r.describe()}`);
      }
    }
    check(tokens.access_token && tokens.refresh_token && tokens.id_token, `device tokens lack something: ${JSON.stringify(Object.keys(tokens))}`);
    const who = await http_('GET', discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    equal(who.json?.sub, idToken.sub, 'the device acts as the user who allowed it');
    await sleep(device.interval * 1000 + 200);
    const again = await pollDevice(device.device_code);
    check(again.status === 400 && again.json?.error === 'invalid_grant', `a poll after redemption: ${again.describe()}`);
  });

  // Second factors (issue 16): an authenticator app set up on /account, its codes computed
  // here with Node's crypto (RFC 6238), then a sign-in that asks for one after the password.
  const enrolled = await step('the account page sets up an authenticator app with a QR code and its URI', async () => {
    await page.goto(`${issuer}/account`);
    await page.getByRole('link', { name: 'Set up an authenticator app' }).click();
    await expectVisible(page.getByRole('heading', { name: 'Set up an authenticator app', level: 1 }), `the enrolment page, at ${await whereIs(page)}`);
    await expectVisible(page.getByRole('img', { name: /QR code/ }), 'the QR code');
    const uri = (await page.locator('.totp-uri').textContent()).trim();
    check(uri.startsWith(`otpauth://totp/Valet:${USER.username}?secret=`), `the otpauth URI as text: ${uri}`);
    const field = page.getByLabel('Six-digit code');
    equal(await field.getAttribute('autocomplete'), 'one-time-code', 'the code field\'s autocomplete');
    equal(await field.getAttribute('inputmode'), 'numeric', 'the code field\'s inputmode');
    await shoot(page, 'totp-enrol.png');
    const secret = base32Decode(new URL(uri).searchParams.get('secret'));
    const used = Math.floor(Date.now() / 30_000);
    await field.fill(totp(secret, used));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await expectVisible(page.getByRole('heading', { name: 'Your recovery codes', level: 1 }), `the recovery codes, at ${await whereIs(page)}`);
    equal(await page.locator('.recovery-codes li').count(), 10, 'recovery codes shown');
    await page.getByRole('link', { name: 'Back to your account' }).click();
    await expectVisible(page.getByText(/An authenticator app is set up/), 'the account page says so');
    return { secret, used };
  });

  await step('signing in again asks for the code after the password; the ID token says mfa', async () => {
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await expectVisible(page.getByRole('heading', { name: 'You are signed out' }), `"You are signed out" at ${await whereIs(page)}`);
    const again = authorizeRequest(issuer, client.client_id, redirectUri);
    await page.goto(again.url);
    await page.getByLabel('Username').fill(USER.username);
    await page.getByLabel('Password').fill(USER.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expectVisible(page.getByRole('heading', { name: 'Two-step verification', level: 1 }), `the second-factor page, at ${await whereIs(page)}`);
    // The step the enrolment used is spent: the next one (one step of drift is accepted).
    const stepNow = Math.max(Math.floor(Date.now() / 30_000), enrolled.used + 1);
    await page.getByLabel('Code').fill(totp(enrolled.secret, stepNow));
    const hitPromise = cb.next();
    await page.getByRole('button', { name: 'Verify' }).click();
    const allow = page.getByRole('button', { name: 'Allow' });
    await expectVisible(allow, `the consent page after the code, at ${await whereIs(page)}`);
    await allow.click();
    const hit = await withTimeout(hitPromise, STEP_TIMEOUT_MS, `the callback (browser at ${await whereIs(page)})`);
    await page.waitForURL((u) => u.href.startsWith(redirectUri));
    check(hit.code, `callback without a code: ${hit.url}`);
    const r = await http_('POST', discovery.token_endpoint, {
      headers: { authorization: basic(client.client_id, client.client_secret) },
      form: { grant_type: 'authorization_code', code: hit.code, redirect_uri: redirectUri, code_verifier: again.verifier },
    });
    check(r.status === 200 && r.json?.id_token, `token request failed: ${r.describe()}`);
    const c = decodeJwt(r.json.id_token).payload;
    equal(JSON.stringify(c.amr), '["pwd","otp","mfa"]', 'ID token amr');
    equal(c.acr, 'urn:valet:acr:mfa', 'ID token acr');
  });

  await step('account page at 390 px: this browser listed with its address and last use', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const resp = await page.goto(`${issuer}/account`);
    check(resp && resp.ok(), `GET /account -> ${resp && resp.status()} at ${await whereIs(page)}`);
    await expectVisible(page.getByRole('heading', { name: 'Where you are signed in', level: 2 }), 'the sessions section');
    const mine = page.getByRole('listitem').filter({ hasText: 'This browser' });
    await expectVisible(mine, '"This browser" among the sessions');
    await expectVisible(mine.getByText('127.0.0.1'), 'the session\'s address');
    await expectVisible(mine.getByText(/Last used \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/), 'when the session was last used');
    await expectVisible(mine.getByText(/Chrome on Linux/), 'the browser named from its User-Agent');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `the account page is ${overflow} px wider than 390 px`);
    await shoot(page, 'account-390.png');
  });

  await step('Sign out everywhere ends the session', async () => {
    await page.getByRole('button', { name: 'Sign out everywhere' }).click();
    await expectVisible(page.getByRole('heading', { name: 'You are signed out everywhere' }), `"You are signed out everywhere" at ${await whereIs(page)}`);
    await page.goto(`${issuer}/account`);
    await expectVisible(page.getByRole('heading', { name: 'Sign in', level: 1 }), `the login page after signing out everywhere, at ${await whereIs(page)}`);
  });
}

const watchdog = setTimeout(async () => {
  console.error(`FAILED: ${current}: the whole run took longer than ${TOTAL_TIMEOUT_MS / 1000} s`);
  await cleanup();
  process.exit(1);
}, TOTAL_TIMEOUT_MS);
watchdog.unref();

let exitCode = 0;
try {
  await main();
  console.log(`browser sign-in: all ${stepNo} steps passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  exitCode = 1;
  console.error(`FAILED: ${current}: ${e instanceof Failure ? e.message : e.stack || e}`);
  if (resources.page && SCREENSHOT_DIR) {
    await shoot(resources.page, 'failure.png').catch(() => {});
  }
  const log = resources.valet?.logFile;
  if (log && fs.existsSync(log)) {
    const lines = fs.readFileSync(log, 'utf8').trimEnd().split('\n');
    console.error(`--- last lines of Valet's log (${log}) ---\n${lines.slice(-30).join('\n')}`);
  }
} finally {
  await cleanup();
}
process.exit(exitCode);
