// Sign-in through upstream identity providers in a real browser: Debian's Chromium,
// driven by playwright-core, against two providers this script starts in its own process
// (upstream-providers.mjs): "Corp", an OpenID provider (node-oidc-provider, with its
// development login and consent pages), and "Hub", a plain OAuth 2.0 server shaped like
// GitHub's (explicit endpoints, a numeric user id, no ID token, nothing said verified).
//
//   VALET_BIN=/path/to/valet node tests/browser/upstream.mjs
//
// Valet's port is picked first (the providers register its callbacks,
// {issuer}/login/upstream/{id}/callback), then the providers start, then Valet with a
// TOML file of two [[upstreams]]. A local user bob (bob@example.com, a password) and a
// `web` application whose redirect URI is a small HTTP server of this script's own.
// Steps: the login page offers "Continue with Corp" and "Continue with Hub"; Corp's round
// trip (PKCE S256, nonce, the exact callback; Corp's login as alice and its consent, then
// Valet's consent) ends at the application with a code whose ID token says corp:alice,
// and a second time in a fresh browser finds the same user, who, with no password, cannot
// unlink Corp; Hub's round trip (client_secret_post, the verifier, userinfo with Bearer,
// Accept and User-Agent) says hub:583231. Bob signs in with his password, links Corp from
// /account (as bobcorp there), signs out, and Continue with Corp then signs in as bob;
// he unlinks Corp. Hub's mallory, whose unverified address is bob's, is refused (an
// account with this address exists: sign in another way and link from the account page)
// and signed in as nobody. login_hint=carol@corp.example goes straight to Corp. With Corp
// stopped, Continue with Corp answers 503 "not answering", and bob's password still
// works. One line per step; exits 1 with the reason on the first failure.
//
// Environment: VALET_BIN (required), CHROMIUM (default /usr/bin/chromium),
// SCREENSHOT_DIR (optional: upstream-login.png, upstream-hub.png, upstream-account.png,
// upstream-refused.png, upstream-down.png, and upstream-failure.png on a failure).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  Failure, check, equal, fail, freePort, progress, sleep, step, stopValet, valetAdmin, valetEnv,
} from '../interop/steps.mjs';
import { HUB_CLIENT, HUB_USERS, startCorp, startHub } from './upstream-providers.mjs';

const VALET_BIN = process.env.VALET_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';
const STEP_TIMEOUT_MS = 15_000; // any one browser action or HTTP call
const TOTAL_TIMEOUT_MS = 180_000; // the whole run, as a last resort against a hang

const BOB = { username: 'bob', email: 'bob@example.com', name: 'Bob Example', password: 'correct horse battery staple' };
const APP_NAME = 'Upstream Test App';
const SCOPE = 'openid profile email';

const resources = { valet: null, callbackServer: null, corp: null, hub: null, browser: null, tmp: null, page: null };

async function cleanup() {
  if (resources.browser) await resources.browser.close().catch(() => {});
  if (resources.callbackServer) {
    resources.callbackServer.closeAllConnections?.();
    await new Promise((r) => resources.callbackServer.close(() => r()));
  }
  if (resources.valet) await stopValet(resources.valet);
  if (resources.corp) await resources.corp.stop();
  if (resources.hub) await resources.hub.stop();
  if (resources.tmp) fs.rmSync(resources.tmp, { recursive: true, force: true });
}
// Whatever happens, never leave Valet behind (the providers die with this process).
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

const admin = (args, input, dataArgs) => valetAdmin(VALET_BIN, args, input, dataArgs, STEP_TIMEOUT_MS);

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch {
    return fail(`${what} printed no JSON: ${text}`);
  }
}

// The [[upstreams]] of the configuration file: Corp by discovery, Hub by its endpoints.
function upstreamsToml(corp, hub) {
  return `# Written by tests/browser/upstream.mjs
[[upstreams]]
id = "corp"
name = "Corp"
issuer = "${corp.issuer}"
client_id = "valet"
client_secret = "valet-secret"
domains = ["corp.example"]
link_by_verified_email = false

[[upstreams]]
id = "hub"
name = "Hub"
client_id = "${HUB_CLIENT.id}"
client_secret = "${HUB_CLIENT.secret}"
auth_method = "client_secret_post"
authorization_endpoint = "${hub.origin}/login/oauth/authorize"
token_endpoint = "${hub.origin}/login/oauth/access_token"
userinfo_endpoint = "${hub.origin}/user"
scopes = "read:user user:email"
[upstreams.claims]
sub = "id"
preferred_username = "login"
`;
}

// Valet's port first, as the providers register its callbacks; then the providers, then
// Valet. A port found free can be taken before Valet binds it: try a few, anew each time.
async function startAll(dir, dataArgs) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const issuer = `http://localhost:${port}`;
    const corp = await startCorp({ redirectUri: `${issuer}/login/upstream/corp/callback` });
    resources.corp = corp;
    const hub = await startHub({ redirectUri: `${issuer}/login/upstream/hub/callback` });
    resources.hub = hub;
    const configFile = path.join(dir, 'valet.toml');
    fs.writeFileSync(configFile, upstreamsToml(corp, hub));
    const logFile = path.join(dir, `valet-${attempt}.log`);
    const out = fs.openSync(logFile, 'w');
    const child = spawn(VALET_BIN,
      ['serve', '--config', configFile, '--listen', `127.0.0.1:${port}`, '--issuer', issuer, '--shutdown-grace', '1', ...dataArgs],
      { cwd: dir, env: valetEnv(), stdio: ['ignore', out, out] });
    fs.closeSync(out);
    child.logFile = logFile;
    resources.valet = child;
    const spawnError = new Promise((resolve) => child.once('error', resolve));
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      const err = await Promise.race([spawnError, sleep(100).then(() => null)]);
      if (err) fail(`cannot start ${VALET_BIN}: ${err.message}`);
      try {
        const r = await fetch(`${issuer}/health/ready`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) return { issuer, corp, hub, configFile };
      } catch {
        // not listening yet
      }
    }
    const log = fs.readFileSync(logFile, 'utf8');
    await stopValet(child);
    await corp.stop();
    await hub.stop();
    if (/address.*in use/i.test(log) && attempt < 3) continue;
    fail(`Valet did not become ready on ${issuer} (exit ${child.exitCode ?? 'none'}) with ${configFile}:\n${fs.readFileSync(configFile, 'utf8')}\n${log.trim()}`);
  }
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

function authorizeRequest(issuer, clientId, redirectUri, extra = {}) {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
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
    ...extra,
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

function claimsOf(jwt) {
  const parts = String(jwt).split('.');
  check(parts.length === 3, `not a JWS compact serialization: ${String(jwt).slice(0, 40)}…`);
  return JSON.parse(Buffer.from(parts[1], 'base64url'));
}

async function shoot(page, name) {
  if (!SCREENSHOT_DIR) return;
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, name), fullPage: true });
}

async function visible(locator, what) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  } catch {
    fail(`${what} not found, at ${await whereIs(locator.page())}`);
  }
}

// Where the browser is, for failure messages.
async function whereIs(page) {
  const title = await page.title().catch(() => '?');
  const h1 = await page.locator('h1').first().textContent({ timeout: 1000 }).catch(() => null);
  return `${page.url()} (title ${JSON.stringify(title)}${h1 ? `, h1 ${JSON.stringify(h1.trim())}` : ''})`;
}

async function bodyText(page) {
  return (await page.locator('body').innerText({ timeout: STEP_TIMEOUT_MS }).catch(() => '')).replace(/\s+/g, ' ').trim();
}

// ---------------------------------------------------------------------------------------
// The test

async function main() {
  check(VALET_BIN, 'VALET_BIN is not set: point it at a built valet binary (cargo build --release)');
  check(fs.existsSync(VALET_BIN), `VALET_BIN=${VALET_BIN} does not exist`);
  check(fs.existsSync(CHROMIUM), `${CHROMIUM} does not exist: apt-get install -y chromium`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'valet-upstream-'));
  resources.tmp = tmp;
  const dataArgs = ['--database', `sqlite://${path.join(tmp, 'valet.db')}`, '--master-key-file', path.join(tmp, 'valet.master-key')];

  const cb = await step('callback server listening', startCallbackServer);
  const redirectUri = `${cb.origin}/callback`;

  const { bob, client } = await step('local user bob and a web application registered', () => {
    const u = parseJson(admin(
      ['user', 'create', '--username', BOB.username, '--email', BOB.email, '--email-verified', '--name', BOB.name, '--password-stdin', '--json'],
      `${BOB.password}\n`, dataArgs,
    ), 'user create --json');
    check(u.sub, `user create --json lacks sub: ${JSON.stringify(u)}`);
    const c = parseJson(admin(
      ['client', 'create', '--name', APP_NAME, '--profile', 'web', '--redirect-uri', redirectUri, '--json'], '', dataArgs,
    ), 'client create --json');
    check(c.client_id && c.client_secret, `client create --json lacks client_id/client_secret: ${JSON.stringify(c)}`);
    return { bob: u, client: c };
  });

  const { issuer, corp, hub } = await step('Corp (node-oidc-provider) and Hub up, then Valet with both as [[upstreams]]', async () => {
    const all = await startAll(tmp, dataArgs);
    const d = await http_('GET', `${all.corp.issuer}/.well-known/openid-configuration`);
    check(d.status === 200 && d.json?.issuer === all.corp.issuer, `Corp's discovery: ${d.describe()}`);
    return all;
  });
  const corpCallback = `${issuer}/login/upstream/corp/callback`;
  const hubCallback = `${issuer}/login/upstream/hub/callback`;

  const discovery = await step('Valet\'s discovery document', async () => {
    const r = await http_('GET', `${issuer}/.well-known/openid-configuration`);
    check(r.status === 200 && r.json, `discovery failed: ${r.describe()}`);
    equal(r.json.issuer, issuer, 'discovery issuer');
    return r.json;
  });

  const browser = await step('Chromium started', async () => {
    const b = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    resources.browser = b;
    return b;
  });

  // Each sign-in that must not know an earlier one gets a browser context of its own
  // (no cookies of Valet's nor of the providers'). Nothing leaves the loopback: the
  // development pages of node-oidc-provider would fetch a web font.
  const freshPage = async () => {
    if (resources.page) await resources.page.context().close().catch(() => {});
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.route(/^https?:\/\/(?!127\.0\.0\.1[:/]|localhost[:/])/, (route) => route.abort());
    const p = await ctx.newPage();
    p.setDefaultTimeout(STEP_TIMEOUT_MS);
    p.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
    resources.page = p;
    return p;
  };

  // A click that leads to another page: returns once the browser shows it (redirects
  // followed), with the responses of the main frame on the way and any request that
  // failed (a provider that is down).
  const clickAndLand = async (page, locator, what) => {
    const responses = [];
    const failed = [];
    const onResponse = (r) => {
      if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) responses.push(r);
    };
    const onFailed = (r) => {
      if (r.isNavigationRequest()) failed.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
    };
    page.on('response', onResponse);
    page.on('requestfailed', onFailed);
    try {
      const landed = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame(), timeout: STEP_TIMEOUT_MS });
      await locator.click();
      try {
        await landed;
      } catch {
        fail(`no new page after ${what}, at ${await whereIs(page)}`);
      }
      await page.waitForLoadState();
    } finally {
      page.off('response', onResponse);
      page.off('requestfailed', onFailed);
    }
    const shown = responses.filter((r) => r.status() < 300 || r.status() >= 400).at(-1) || null;
    return { responses, failed, shown };
  };

  // Through Corp's development pages: its login (any login name, any password) when it
  // asks, its consent when it asks, until the browser is back at a page of Valet's or at
  // the application (Corp may also send it straight back, remembering the user).
  const throughCorp = async (page, login) => {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    const field = page.locator('input[name=login]');
    const consent = page.getByRole('button', { name: 'Continue', exact: true });
    let signedIn = false;
    for (;;) {
      check(Date.now() < deadline, `not back at Valet from Corp within ${STEP_TIMEOUT_MS} ms, at ${await whereIs(page)}`);
      const url = page.url();
      if (url.startsWith(`${corp.issuer}/`)) {
        if (await field.isVisible().catch(() => false)) {
          check(!signedIn, `Corp asked to sign in a second time, at ${await whereIs(page)}`);
          await field.fill(login);
          await page.locator('input[name=password]').fill('any password will do');
          await page.getByRole('button', { name: 'Sign-in', exact: true }).click();
          await field.waitFor({ state: 'hidden' });
          signedIn = true;
          continue;
        }
        if (await consent.isVisible().catch(() => false)) {
          await consent.click();
          await consent.waitFor({ state: 'hidden' });
          continue;
        }
      } else if (url.startsWith(`${issuer}/`) || url.startsWith(redirectUri)) {
        // A page of Valet's, or the application's callback when it was allowed before.
        await page.waitForLoadState();
        return { signedIn };
      } else {
        fail(`expected Corp or Valet, at ${await whereIs(page)}`);
      }
      await sleep(100);
    }
  };

  // Waits for `promise`; on a timeout, fails saying where the browser is by then.
  const awaitAt = async (page, promise, what) => {
    let timer;
    const late = new Promise((resolve) => {
      timer = setTimeout(() => resolve(late), STEP_TIMEOUT_MS);
    });
    const v = await Promise.race([promise, late]).finally(() => clearTimeout(timer));
    if (v === late) fail(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}, at ${await whereIs(page)}`);
    return v;
  };

  // At Valet after a sign-in for the application: its consent page the first time (the
  // user allows), the callback straight away after that. Returns the callback's hit.
  const allowAndCallback = async (page, callback) => {
    const allow = page.getByRole('button', { name: 'Allow' });
    const consent = allow.waitFor({ state: 'visible' }).then(() => 'consent', () => new Promise(() => {}));
    const first = await awaitAt(page, Promise.race([consent, callback.then(() => 'callback')]),
      'Valet\'s consent page or the application\'s callback');
    if (first === 'consent') {
      await visible(page.getByRole('heading', { name: APP_NAME, level: 1 }), `"${APP_NAME}" as the consent heading`);
      await allow.click();
    }
    const hit = await awaitAt(page, callback, `the callback at ${redirectUri}`);
    // Let the browser finish that navigation before the next step starts its own.
    await page.waitForURL((u) => u.href.startsWith(redirectUri));
    return hit;
  };

  const redeem = async (hit, auth) => {
    check(!hit.error, `callback carried error=${hit.error} ${hit.error_description || ''}`);
    check(hit.code, `callback without a code: ${hit.url}`);
    equal(hit.state, auth.state, `state in the callback (${hit.url})`);
    const r = await http_('POST', discovery.token_endpoint, {
      headers: { authorization: basic(client.client_id, client.client_secret) },
      form: { grant_type: 'authorization_code', code: hit.code, redirect_uri: redirectUri, code_verifier: auth.verifier },
    });
    check(r.status === 200 && r.json?.id_token && r.json?.access_token, `token request failed: ${r.describe()}`);
    const c = claimsOf(r.json.id_token);
    equal(c.iss, issuer, 'ID token iss');
    const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
    check(aud.includes(client.client_id), `ID token aud ${JSON.stringify(c.aud)} lacks ${client.client_id}`);
    equal(c.nonce, auth.nonce, 'ID token nonce');
    // Valet puts the scopes' claims (email…) in the ID token only when no access token
    // lets the application ask UserInfo: it asks.
    const u = await http_('GET', discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${r.json.access_token}` } });
    check(u.status === 200 && u.json, `userinfo failed: ${u.describe()}`);
    equal(u.json.sub, c.sub, 'userinfo sub');
    if (c.email !== undefined) equal(c.email, u.json.email, 'ID token email');
    return { tokens: r.json, claims: c, info: u.json };
  };

  // The application's authorization request, and "Continue with NAME" on Valet's login page.
  const continueWith = async (page, name, extra) => {
    const auth = authorizeRequest(issuer, client.client_id, redirectUri, extra);
    const resp = await page.goto(auth.url);
    check(resp && resp.ok(), `GET ${auth.url} -> ${resp && resp.status()} at ${await whereIs(page)}`);
    const button = page.getByRole('button', { name: `Continue with ${name}`, exact: true });
    await visible(button, `"Continue with ${name}" on the login page`);
    await clickAndLand(page, button, `Continue with ${name}`);
    return auth;
  };

  const valetUsers = () => parseJson(admin(['user', 'list', '--json'], '', dataArgs), 'user list --json');

  // -------------------------------------------------------------------------------------
  // Corp: OpenID Connect, a user made just in time

  let page = await freshPage();
  const first = await step('the application\'s login page offers "Continue with Corp" and "Continue with Hub"', async () => {
    const auth = authorizeRequest(issuer, client.client_id, redirectUri);
    const resp = await page.goto(auth.url);
    check(resp && resp.ok(), `GET ${auth.url} -> ${resp && resp.status()} at ${await whereIs(page)}`);
    await visible(page.getByRole('heading', { name: 'Sign in', level: 1 }), '"Sign in" heading');
    await visible(page.getByLabel('Username'), 'field labelled "Username"');
    await visible(page.getByLabel('Password'), 'field labelled "Password"');
    await visible(page.getByRole('button', { name: 'Sign in', exact: true }), 'the password form\'s "Sign in"');
    for (const [id, name] of [['corp', 'Corp'], ['hub', 'Hub']]) {
      const button = page.getByRole('button', { name: `Continue with ${name}`, exact: true });
      await visible(button, `"Continue with ${name}"`);
      const form = page.locator(`form[action="/login/upstream/${id}"]`);
      equal(await form.count(), 1, `forms posting to /login/upstream/${id}`);
      equal((await form.getAttribute('method'))?.toLowerCase(), 'post', `the method of the ${name} form`);
      equal(await form.getByRole('button', { name: `Continue with ${name}`, exact: true }).count(), 1, `"Continue with ${name}" inside its form`);
    }
    await shoot(page, 'upstream-login.png');
    return auth;
  });

  await step('Continue with Corp: Corp\'s login page, asked with PKCE S256, a nonce and the exact callback', async () => {
    const asked = page.waitForRequest((req) => req.url().startsWith(`${corp.issuer}/auth?`) && req.isNavigationRequest(), { timeout: 0 });
    await page.getByRole('button', { name: 'Continue with Corp', exact: true }).click();
    const q = new URL((await awaitAt(page, asked, 'a request to Corp\'s /auth')).url()).searchParams;
    equal(q.get('response_type'), 'code', 'response_type sent to Corp');
    equal(q.get('client_id'), 'valet', 'client_id sent to Corp');
    equal(q.get('redirect_uri'), corpCallback, 'redirect_uri sent to Corp');
    const scopes = (q.get('scope') || '').split(' ');
    for (const s of ['openid', 'email', 'profile']) check(scopes.includes(s), `scope sent to Corp lacks ${s}: ${q.get('scope')}`);
    check((q.get('state') || '').length >= 16, `state sent to Corp: ${q.get('state')}`);
    check((q.get('nonce') || '').length >= 16, `nonce sent to Corp: ${q.get('nonce')}`);
    check(/^[A-Za-z0-9_-]{43}$/.test(q.get('code_challenge') || ''), `code_challenge sent to Corp: ${q.get('code_challenge')}`);
    equal(q.get('code_challenge_method'), 'S256', 'code_challenge_method sent to Corp');
    await visible(page.locator('input[name=login]'), 'Corp\'s login field');
    check(page.url().startsWith(`${corp.issuer}/`), `expected Corp's login page, at ${await whereIs(page)}`);
  });

  await step('signed in at Corp as alice and allowed there: back at Valet\'s consent page', async () => {
    const { signedIn } = await throughCorp(page, 'alice');
    check(signedIn, 'Corp did not ask alice to sign in');
    await visible(page.getByRole('button', { name: 'Allow' }), `Valet's consent page after Corp`);
    await visible(page.getByRole('heading', { name: APP_NAME, level: 1 }), `"${APP_NAME}" as the consent heading`);
    const errors = corp.errors.splice(0);
    check(errors.length === 0, `Corp's server errors: ${errors.map((e) => e.stack || e).join('; ')}`);
  });

  const alice = await step('Allow: a code at the application; its ID token says corp:alice, UserInfo alice@corp.example', async () => {
    const hit = await allowAndCallback(page, cb.next());
    const { tokens, claims, info } = await redeem(hit, first);
    equal(claims.sub, 'corp:alice', 'ID token sub');
    equal(info.email, 'alice@corp.example', 'UserInfo email');
    const tokenCalls = corp.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/token'));
    equal(tokenCalls.length, 1, 'token requests Valet made to Corp');
    check(/^Basic /.test(tokenCalls[0].headers.authorization || ''), `Valet's token request to Corp lacks client_secret_basic: ${JSON.stringify(tokenCalls[0].headers)}`);
    check(corp.requests.some((r) => r.path.startsWith('/me')), 'Valet did not call Corp\'s UserInfo (/me)');
    return { tokens, claims };
  });

  await step('/userinfo with the access token says corp:alice', async () => {
    const r = await http_('GET', discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${alice.tokens.access_token}` } });
    check(r.status === 200 && r.json, `userinfo failed: ${r.describe()}`);
    equal(r.json.sub, 'corp:alice', 'userinfo sub');
    equal(r.json.email, 'alice@corp.example', 'userinfo email');
  });

  await step('a fresh browser, Corp as alice again: the same user, made once', async () => {
    page = await freshPage();
    const callback = cb.next();
    const auth = await continueWith(page, 'Corp');
    const { signedIn } = await throughCorp(page, 'alice');
    check(signedIn, 'a fresh browser was not asked to sign in at Corp');
    const { claims } = await redeem(await allowAndCallback(page, callback), auth);
    equal(claims.sub, 'corp:alice', 'ID token sub the second time');
    const users = valetUsers();
    check(Array.isArray(users), `user list --json is not a list: ${JSON.stringify(users)}`);
    equal(users.filter((u) => u.sub === 'corp:alice').length, 1, `users corp:alice in ${JSON.stringify(users.map((u) => u.sub))}`);
    equal(users.filter((u) => String(u.sub).startsWith('corp:')).length, 1, `corp: users in ${JSON.stringify(users.map((u) => u.sub))}`);
  });

  await step('alice, who has no password, cannot unlink Corp, her only way to sign in', async () => {
    const resp = await page.goto(`${issuer}/account`);
    check(resp && resp.ok(), `GET /account -> ${resp && resp.status()} at ${await whereIs(page)}`);
    await visible(page.getByRole('heading', { name: 'Your account', level: 1 }), `"Your account" heading`);
    const unlink = page.getByRole('button', { name: 'Unlink Corp', exact: true });
    if (await unlink.count() > 0) {
      await clickAndLand(page, unlink, 'Unlink Corp');
      const refusal = await bodyText(page);
      await page.goto(`${issuer}/account`);
      check(await page.getByRole('button', { name: 'Unlink Corp', exact: true }).count() === 1
        && await page.getByRole('button', { name: 'Link Corp', exact: true }).count() === 0,
        `Corp unlinked from alice, who has no other way to sign in (the page after Unlink said: ${refusal.slice(0, 300)})`);
    }
    equal(await page.getByRole('button', { name: 'Link Corp', exact: true }).count(), 0, '"Link Corp" offered to alice, who is linked');
  });

  // -------------------------------------------------------------------------------------
  // Hub: plain OAuth 2.0, GitHub-shaped

  await step('Continue with Hub: Hub\'s page, asked with state, PKCE S256 and the exact callback', async () => {
    page = await freshPage();
    hub.requests.length = 0;
    const auth = await continueWith(page, 'Hub');
    await visible(page.getByRole('button', { name: 'Authorize' }), `Hub's "Authorize"`);
    const asked = hub.requests.find((r) => r.method === 'GET' && r.path === '/login/oauth/authorize');
    check(asked, 'no authorization request reached Hub');
    const q = asked.query;
    equal(q.response_type, 'code', 'response_type sent to Hub');
    equal(q.client_id, HUB_CLIENT.id, 'client_id sent to Hub');
    equal(q.redirect_uri, hubCallback, 'redirect_uri sent to Hub');
    equal(q.scope, 'read:user user:email', 'scope sent to Hub');
    check((q.state || '').length >= 16, `state sent to Hub: ${q.state}`);
    check(/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge || ''), `code_challenge sent to Hub: ${q.code_challenge}`);
    equal(q.code_challenge_method, 'S256', 'code_challenge_method sent to Hub');
    await shoot(page, 'upstream-hub.png');
    page.hubAuth = auth;
  });

  await step('Authorize at Hub as octo, Allow at Valet: the ID token says hub:583231', async () => {
    const callback = cb.next();
    equal(await page.getByLabel(/Sign in to Hub as/).inputValue(), 'octo', 'the Hub user prefilled');
    await page.getByRole('button', { name: 'Authorize' }).click();
    const { claims } = await redeem(await allowAndCallback(page, callback), page.hubAuth);
    equal(claims.sub, `hub:${HUB_USERS.octo.id}`, 'ID token sub');
    const token = hub.requests.find((r) => r.path === '/login/oauth/access_token');
    check(token, 'Valet did not call Hub\'s token endpoint');
    equal(token.form?.client_id, HUB_CLIENT.id, 'client_id in the body of the token request to Hub');
    equal(token.form?.client_secret, HUB_CLIENT.secret, 'client_secret in the body of the token request to Hub (client_secret_post)');
    check(token.form?.code_verifier, `no code_verifier in the token request to Hub: ${JSON.stringify(token.form)}`);
    equal(token.form?.redirect_uri ?? hubCallback, hubCallback, 'redirect_uri in the token request to Hub');
    check((token.headers.accept || '').includes('application/json'), `the token request to Hub lacks Accept: application/json: ${JSON.stringify(token.headers)}`);
    const user = hub.requests.find((r) => r.path === '/user');
    check(user, 'Valet did not call Hub\'s /user');
    check(/^Bearer \S+$/.test(user.headers.authorization || ''), `Hub's /user called without Authorization: Bearer: ${JSON.stringify(user.headers)}`);
    check((user.headers.accept || '').includes('application/json'), `Hub's /user called without Accept: application/json: ${JSON.stringify(user.headers)}`);
    check(user.headers['user-agent'], 'Hub\'s /user called without a User-Agent');
  });

  // -------------------------------------------------------------------------------------
  // Linking: bob, with a password, links Corp from /account, then signs in through it

  await step('bob signs in with his password on /login and /account offers "Link Corp"', async () => {
    page = await freshPage();
    await page.goto(`${issuer}/login`);
    await page.getByLabel('Username').fill(BOB.username);
    await page.getByLabel('Password').fill(BOB.password);
    await clickAndLand(page, page.getByRole('button', { name: 'Sign in', exact: true }), 'Sign in');
    if (new URL(page.url()).pathname !== '/account') await page.goto(`${issuer}/account`);
    await visible(page.getByRole('heading', { name: 'Your account', level: 1 }), '"Your account" heading');
    await visible(page.getByRole('button', { name: 'Link Corp', exact: true }), '"Link Corp"');
    await visible(page.getByRole('button', { name: 'Link Hub', exact: true }), '"Link Hub"');
    equal(await page.getByRole('button', { name: 'Unlink Corp', exact: true }).count(), 0, '"Unlink Corp" before linking');
  });

  await step('Link Corp, signed in at Corp as bobcorp: back on /account, which lists Corp', async () => {
    await clickAndLand(page, page.getByRole('button', { name: 'Link Corp', exact: true }), 'Link Corp');
    await throughCorp(page, 'bobcorp');
    // Valet answers the provider's callback with the account page itself (its notice says
    // Corp is linked), as its other account actions do, rather than a redirect to /account.
    const where = new URL(page.url());
    check(page.url().startsWith(`${issuer}/`) && ['/account', '/login/upstream/corp/callback'].includes(where.pathname),
      `expected the account page after linking, at ${await whereIs(page)}`);
    await visible(page.getByRole('heading', { name: 'Your account', level: 1 }), '"Your account" heading after linking');
    await visible(page.getByRole('button', { name: 'Unlink Corp', exact: true }), '"Unlink Corp" after linking');
    equal(await page.getByRole('button', { name: 'Link Corp', exact: true }).count(), 0, '"Link Corp" after linking');
    await visible(page.getByRole('button', { name: 'Link Hub', exact: true }), '"Link Hub" still offered');
    await shoot(page, 'upstream-account.png');
    const users = valetUsers();
    check(!users.some((u) => u.sub === 'corp:bobcorp'), `linking made a user corp:bobcorp: ${JSON.stringify(users.map((u) => u.sub))}`);
  });

  await step('signed out, Continue with Corp as bobcorp signs in to the application as bob', async () => {
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await visible(page.getByRole('heading', { name: 'You are signed out' }), '"You are signed out"');
    const callback = cb.next();
    const auth = await continueWith(page, 'Corp');
    await throughCorp(page, 'bobcorp'); // Corp may remember bobcorp from the linking
    const { claims, info } = await redeem(await allowAndCallback(page, callback), auth);
    equal(claims.sub, bob.sub, 'ID token sub (bob\'s, not corp:bobcorp)');
    equal(info.email, BOB.email, 'UserInfo email');
  });

  await step('bob, who has a password, unlinks Corp: no longer listed', async () => {
    await page.goto(`${issuer}/account`);
    const unlink = page.getByRole('button', { name: 'Unlink Corp', exact: true });
    await visible(unlink, '"Unlink Corp" on bob\'s account page');
    await clickAndLand(page, unlink, 'Unlink Corp');
    if (new URL(page.url()).pathname !== '/account') await page.goto(`${issuer}/account`);
    await visible(page.getByRole('button', { name: 'Link Corp', exact: true }), `"Link Corp" again after unlinking`);
    equal(await page.getByRole('button', { name: 'Unlink Corp', exact: true }).count(), 0, '"Unlink Corp" after unlinking');
  });

  // -------------------------------------------------------------------------------------
  // Refusals and discovery

  await step('Hub\'s mallory, whose unverified address is bob\'s, is refused and signed in as nobody', async () => {
    page = await freshPage();
    const before = cb.hits.length;
    await continueWith(page, 'Hub');
    await visible(page.getByRole('button', { name: 'Authorize' }), `Hub's "Authorize"`);
    await page.getByLabel(/Sign in to Hub as/).fill('mallory');
    const { shown } = await clickAndLand(page, page.getByRole('button', { name: 'Authorize' }), 'Authorize at Hub');
    await sleep(300); // anything on its way to the application
    const text = await bodyText(page);
    await shoot(page, 'upstream-refused.png');
    const status = shown ? shown.status() : 'unknown';
    check(await page.getByRole('button', { name: 'Allow' }).count() === 0,
      `mallory was signed in: Valet's consent page for the application, at ${await whereIs(page)} (status ${status})`);
    equal(cb.hits.length, before, `callbacks at the application after mallory (browser at ${await whereIs(page)}, status ${status})`);
    check(page.url().startsWith(`${issuer}/`), `expected a page of Valet's, at ${await whereIs(page)}`);
    check(/already exists/i.test(text) && /e-?mail/i.test(text), `the refusal should say an account with this email address already exists (status ${status}): ${text.slice(0, 400)}`);
    check(/account page/i.test(text) && /link/i.test(text), `the refusal should say to link Hub from the account page (status ${status}): ${text.slice(0, 400)}`);
    await page.goto(`${issuer}/account`);
    await visible(page.getByRole('heading', { name: 'Sign in', level: 1 }), `the login page at /account after the refusal (signed in as nobody)`);
    const users = valetUsers();
    check(!users.some((u) => u.sub === `hub:${HUB_USERS.mallory.id}`), `mallory was made a user: ${JSON.stringify(users.map((u) => u.sub))}`);
  });

  await step('login_hint=carol@corp.example goes straight to Corp\'s login page', async () => {
    page = await freshPage();
    const committed = [];
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) committed.push(f.url());
    });
    const auth = authorizeRequest(issuer, client.client_id, redirectUri, { login_hint: 'carol@corp.example' });
    await page.goto(auth.url);
    await visible(page.locator('input[name=login]'), `Corp's login field`);
    check(page.url().startsWith(`${corp.issuer}/`), `expected Corp's login page, at ${await whereIs(page)}`);
    const atValet = committed.filter((u) => u.startsWith(`${issuer}/`));
    check(atValet.length === 0, `pages of Valet's shown on the way to Corp: ${atValet.join(', ')}`);
  });

  await step('Corp stopped: Continue with Corp answers 503, Corp is not answering', async () => {
    await corp.stop();
    page = await freshPage();
    const auth = authorizeRequest(issuer, client.client_id, redirectUri);
    await page.goto(auth.url);
    const button = page.getByRole('button', { name: 'Continue with Corp', exact: true });
    await visible(button, '"Continue with Corp"');
    const { shown, failed } = await clickAndLand(page, button, 'Continue with Corp');
    check(failed.length === 0, `with Corp down, the browser was sent on to it: ${failed.join('; ')} (at ${await whereIs(page)})`);
    check(shown, `no page after Continue with Corp, at ${await whereIs(page)}`);
    const final = shown;
    const text = await bodyText(page);
    await shoot(page, 'upstream-down.png');
    check(final.url().startsWith(`${issuer}/`), `expected a page of Valet's, got ${final.status()} from ${final.url()} (browser at ${await whereIs(page)})`);
    equal(final.status(), 503, `status of Valet's answer with Corp down (${final.url()}: ${text.slice(0, 300)})`);
    check(/not answering/i.test(text) && /Corp/.test(text), `the page should say Corp is not answering: ${text.slice(0, 400)}`);
  });

  await step('Corp still down: bob\'s password signs in to the application', async () => {
    page = await freshPage();
    const auth = authorizeRequest(issuer, client.client_id, redirectUri);
    const resp = await page.goto(auth.url);
    check(resp && resp.ok(), `GET ${auth.url} -> ${resp && resp.status()} at ${await whereIs(page)}`);
    await page.getByLabel('Username').fill(BOB.username);
    await page.getByLabel('Password').fill(BOB.password);
    const callback = cb.next();
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const { claims } = await redeem(await allowAndCallback(page, callback), auth);
    equal(claims.sub, bob.sub, 'ID token sub');
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
  console.log(`browser upstream: ${progress.stepNo} steps passed in ${Date.now() - progress.started} ms`);
} catch (e) {
  exitCode = 1;
  console.error(`FAILED: ${progress.current}: ${e instanceof Failure ? e.message : e.stack || e}`);
  if (resources.page && SCREENSHOT_DIR) await shoot(resources.page, 'upstream-failure.png').catch(() => {});
  const log = resources.valet?.logFile;
  if (log && fs.existsSync(log)) {
    const lines = fs.readFileSync(log, 'utf8').trimEnd().split('\n');
    console.error(`--- last lines of Valet's log (${log}) ---\n${lines.slice(-30).join('\n')}`);
  }
} finally {
  await cleanup();
}
process.exit(exitCode);
