// The web console (/admin, issue 15) in a real browser: Debian's Chromium, driven by
// playwright-core.
//
//   VALET_BIN=/path/to/valet node tests/browser/console.mjs
//
// Starts Valet in a fresh temporary folder, makes an admin and a viewer with the CLI
// (`valet user create`, then `valet user update NAME --role admin|viewer`) and a plain
// user. The admin opens /admin, is sent to the login page and back, is told the console
// needs a second factor, sets up an authenticator app and gives its code, and registers a `web`
// application from the console whose redirect URI is a small HTTP server of this
// script's own; then, in a second browser, the plain user signs in with that application
// through the authorization code flow (PKCE S256) and the code is redeemed with the
// secret the console showed once. The admin visits every console page (a screenshot of
// each). Then a viewer signs in: every page is readable, no form posts anywhere but
// sign-out, and a forged POST (with the viewer's own CSRF token) is refused with 403 and
// changes nothing. One line per step; exits 1 with the reason on the first failure.
//
// Environment: VALET_BIN (required), CHROMIUM (default /usr/bin/chromium),
// SCREENSHOT_DIR (optional: console-*.png, and console-failure.png on a failure).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  Failure, base32Decode, check, equal, fail, freePort, progress, sleep, step, stopValet, totp, valetAdmin, valetEnv,
  withTimeout,
} from '../interop/steps.mjs';

const VALET_BIN = process.env.VALET_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';
const STEP_TIMEOUT_MS = 15_000;
const TOTAL_TIMEOUT_MS = 120_000;
const PASSWORD = 'correct horse battery staple';
const APP_NAME = 'Console-made App';

const resources = { valet: null, server: null, contexts: [], tmp: null, page: null };

async function cleanup() {
  for (const c of resources.contexts) await c.close().catch(() => {});
  if (resources.server) {
    resources.server.closeAllConnections?.();
    await new Promise((r) => resources.server.close(() => r()));
  }
  if (resources.valet) await stopValet(resources.valet);
  if (resources.tmp) fs.rmSync(resources.tmp, { recursive: true, force: true });
}
process.on('exit', () => {
  const v = resources.valet;
  if (v && v.exitCode === null && v.signalCode === null) v.kill('SIGKILL');
});

const admin = (args, input, dataArgs) => valetAdmin(VALET_BIN, args, input, dataArgs, STEP_TIMEOUT_MS);

async function startValet(dir, dataArgs) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const issuer = `http://localhost:${port}`;
    const logFile = path.join(dir, `valet-${attempt}.log`);
    const out = fs.openSync(logFile, 'w');
    const child = spawn(VALET_BIN,
      ['serve', '--listen', `127.0.0.1:${port}`, '--issuer', issuer, '--shutdown-grace', '1', ...dataArgs],
      { cwd: dir, env: valetEnv(), stdio: ['ignore', out, out] });
    fs.closeSync(out);
    resources.valet = child;
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (Date.now() < deadline && child.exitCode === null) {
      await sleep(100);
      try {
        const r = await fetch(`${issuer}/health/ready`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) return { issuer };
      } catch {
        // not listening yet
      }
    }
    const log = fs.readFileSync(logFile, 'utf8');
    if (child.exitCode !== null && /address.*in use/i.test(log) && attempt < 3) continue;
    fail(`Valet did not become ready on ${issuer}:\n${log.trim()}`);
  }
}

// The application's redirect URI: records each callback.
function startCallbackServer() {
  const waiters = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/callback') waiters.splice(0).forEach((w) => w(url.searchParams));
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>Test app</title><h1>Callback received</h1>');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resources.server = server;
      resolve({ origin: `http://127.0.0.1:${server.address().port}`, next: () => new Promise((r) => waiters.push(r)) });
    });
  });
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
    fail(`${what} not found (at ${locator.page().url()})`);
  }
}

async function browser(tmp, name) {
  const ctx = await chromium.launchPersistentContext(path.join(tmp, `chromium-${name}`), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  resources.contexts.push(ctx);
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  resources.page = page;
  return page;
}

// /admin → the login page → back to /admin. Administration needs two factors (issue 15):
// the first time, the console says to set one up, so the person sets up an authenticator
// app on /account (its code computed here, RFC 6238), and the console then asks for the
// next code (a step-up) and lands on the overview.
async function signInToConsole(page, issuer, username) {
  await page.goto(`${issuer}/admin`);
  check(new URL(page.url()).pathname === '/login', `expected the login page, at ${page.url()}`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${issuer}/admin`);
  await visible(page.getByRole('heading', { name: 'Two-step verification needed' }), 'the console asking for a second factor');
  await shoot(page, 'console-needs-mfa.png');
  await page.goto(`${issuer}/account/authenticator`);
  const uri = (await page.locator('.totp-uri').textContent()).trim();
  const secret = base32Decode(new URL(uri).searchParams.get('secret'));
  const used = Math.floor(Date.now() / 30_000);
  await page.getByLabel('Six-digit code').fill(totp(secret, used));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await visible(page.getByRole('heading', { name: 'Your recovery codes', level: 1 }), 'the recovery codes');
  await page.goto(`${issuer}/admin`);
  await visible(page.getByRole('heading', { name: 'Two-step verification', level: 1 }), 'the console\'s step-up');
  // The enrolment's step is spent: the next one (one step of drift is accepted).
  await page.getByLabel('Code').fill(totp(secret, Math.max(Math.floor(Date.now() / 30_000), used + 1)));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(`${issuer}/admin`);
  await visible(page.getByRole('heading', { name: 'Overview', level: 1 }), '"Overview" heading');
}

const PAGES = [
  ['home', '/admin', 'Overview'],
  ['applications', '/admin/applications', 'Applications'],
  ['apis', '/admin/apis', 'APIs'],
  ['users', '/admin/users', 'Users'],
  ['user', '/admin/users/alice', 'alice'],
  ['grants', '/admin/grants', 'Grants'],
  ['keys', '/admin/keys', 'Signing keys'],
  ['audit', '/admin/audit', 'Audit trail'],
];

async function main() {
  check(VALET_BIN && fs.existsSync(VALET_BIN), `VALET_BIN=${VALET_BIN} is not a built valet binary`);
  check(fs.existsSync(CHROMIUM), `${CHROMIUM} does not exist: apt-get install -y chromium`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'valet-console-'));
  resources.tmp = tmp;
  const dataArgs = ['--database', `sqlite://${path.join(tmp, 'valet.db')}`, '--master-key-file', path.join(tmp, 'valet.master-key')];

  await step('an admin, a viewer and a user made with the CLI', () => {
    for (const [name, role] of [['root', 'admin'], ['vera', 'viewer'], ['alice', null]]) {
      admin(['user', 'create', '--username', name, '--name', `${name} Example`, '--email', `${name}@example.com`, '--password-stdin'], `${PASSWORD}\n`, dataArgs);
      if (role) admin(['user', 'update', name, '--role', role], '', dataArgs);
    }
  });
  const cb = await step('callback server listening', startCallbackServer);
  const redirectUri = `${cb.origin}/callback`;
  const { issuer } = await step('Valet serving', () => startValet(tmp, dataArgs));

  const page = await step('the admin signs in to /admin through the login page', async () => {
    const p = await browser(tmp, 'admin');
    await signInToConsole(p, issuer, 'root');
    await shoot(p, 'console-home.png');
    return p;
  });

  const created = await step('the admin registers a web application from the console', async () => {
    await page.goto(`${issuer}/admin/applications`);
    await page.getByRole('link', { name: 'New application' }).click();
    await page.getByLabel('Name', { exact: true }).fill(APP_NAME);
    await page.locator('input[name=profile][value=web]').check();
    await page.getByLabel('Redirect URIs, one per line').fill(redirectUri);
    await shoot(page, 'console-new-application.png');
    await page.getByRole('button', { name: 'Create the application' }).click();
    await visible(page.getByText('it is shown this once'), 'the one-time secret page');
    const clientId = (await page.locator('#client-id').textContent()).trim();
    const secret = (await page.locator('#client-secret').textContent()).trim();
    check(clientId && secret.length > 30, `client_id ${clientId}, secret of ${secret.length} characters`);
    check(!page.url().includes(secret), 'the secret is in the URL');
    await shoot(page, 'console-secret.png');
    await page.getByRole('link', { name: /go to the application/ }).click();
    await visible(page.getByRole('heading', { name: APP_NAME, level: 1 }), 'the application page');
    await shoot(page, 'console-application.png');
    return { clientId, secret };
  });

  await step('a field error shows beside its field, the value kept', async () => {
    await page.getByLabel('Add a redirect URI').fill('http://not-loopback.example/cb');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await visible(page.locator('#add-err'), 'the error beside "Add a redirect URI"');
    equal(await page.getByLabel('Add a redirect URI').inputValue(), 'http://not-loopback.example/cb', 'the entered URI');
  });

  await step('a user signs in with the console-made application (code flow, PKCE)', async () => {
    const p = await browser(tmp, 'alice');
    const verifier = crypto.randomBytes(32).toString('base64url');
    const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
    const state = crypto.randomBytes(8).toString('base64url');
    const url = `${issuer}/oauth2/authorize?${new URLSearchParams({
      response_type: 'code', client_id: created.clientId, redirect_uri: redirectUri, scope: 'openid profile email',
      state, code_challenge: challenge, code_challenge_method: 'S256',
    })}`;
    await p.goto(url);
    await p.getByLabel('Username').fill('alice');
    await p.getByLabel('Password').fill(PASSWORD);
    await p.getByRole('button', { name: 'Sign in', exact: true }).click();
    const hit = cb.next();
    await p.getByRole('button', { name: 'Allow' }).click();
    const params = await withTimeout(hit, STEP_TIMEOUT_MS, 'the callback');
    await p.waitForURL((u) => u.href.startsWith(redirectUri), { timeout: STEP_TIMEOUT_MS });
    equal(params.get('state'), state, 'state');
    const basic = 'Basic ' + Buffer.from(`${encodeURIComponent(created.clientId)}:${encodeURIComponent(created.secret)}`).toString('base64');
    const r = await fetch(`${issuer}/oauth2/token`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: params.get('code'), redirect_uri: redirectUri, code_verifier: verifier }),
    });
    const body = await r.json();
    check(r.status === 200 && body.id_token && body.access_token, `token: ${r.status} ${JSON.stringify(body)}`);
  });

  await step('a key rotation from the console draws a second ES256 timeline', async () => {
    await page.goto(`${issuer}/admin/keys`);
    await page.getByLabel('Algorithm').selectOption('ES256');
    await page.getByRole('button', { name: 'Rotate' }).click();
    await visible(page.getByText('A new key was created'), 'the rotation notice');
    // One timeline per key: ES256, RS256, PS256 and EdDSA, then the new ES256 one.
    equal(await page.locator('svg.timeline').count(), 5, 'timelines drawn');
    await visible(page.locator('svg.timeline rect.t-pending'), 'a key published, not signing yet');
  });

  await step('the grant shows in the console; every page renders (screenshots)', async () => {
    await page.goto(`${issuer}/admin/grants?client=${encodeURIComponent(created.clientId)}`);
    await visible(page.getByRole('button', { name: 'Revoke' }), 'the user\'s grant with a Revoke button');
    for (const [name, p, heading] of PAGES) {
      const resp = await page.goto(`${issuer}${p}`);
      equal(resp.status(), 200, `GET ${p}`);
      await visible(page.getByRole('heading', { name: heading, level: 1 }), `"${heading}" on ${p}`);
      await shoot(page, `console-${name}.png`);
    }
    await visible(page.getByText('client.create'), 'client.create in the audit trail');
    await visible(page.getByText('user:root').first(), 'the admin as the actor');
  });

  await step('a viewer reads every page and sees no forms', async () => {
    const p = await browser(tmp, 'viewer');
    await signInToConsole(p, issuer, 'vera');
    for (const [name, path_, heading] of [...PAGES, ['application', `/admin/applications/${created.clientId}`, APP_NAME]]) {
      const resp = await p.goto(`${issuer}${path_}`);
      equal(resp.status(), 200, `GET ${path_} as a viewer`);
      await visible(p.getByRole('heading', { name: heading, level: 1 }), `"${heading}" on ${path_}`);
      const posts = await p.locator('form[method=post]').evaluateAll((fs_) => fs_.map((f) => f.getAttribute('action')));
      check(posts.every((a) => a === '/oauth2/logout'), `forms a viewer could post on ${path_}: ${posts}`);
      if (name === 'application') await shoot(p, 'console-viewer-application.png');
    }
    resources.viewer = p;
  });

  await step('a forged POST from the viewer is refused with 403 and changes nothing', async () => {
    const p = resources.viewer;
    await p.goto(`${issuer}/admin`);
    const csrf = await p.locator('input[name=csrf]').first().inputValue();
    // The page's own CSP forbids fetch(); the context's request client sends the
    // browser's cookies just the same.
    const r = await p.context().request.post(`${issuer}/admin/applications/${created.clientId}/delete`, {
      form: { csrf }, maxRedirects: 0,
    });
    const status = r.status();
    equal(status, 403, 'a viewer deleting an application');
    const resp = await p.goto(`${issuer}/admin/applications/${created.clientId}`);
    equal(resp.status(), 200, 'the application is still there');
  });
}

const timer = setTimeout(async () => {
  console.error(`FAILED: the run took longer than ${TOTAL_TIMEOUT_MS} ms (during: ${progress.current})`);
  await cleanup();
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

try {
  await main();
  clearTimeout(timer);
  await cleanup();
  console.log(`browser console: ${progress.stepNo} steps passed in ${Date.now() - progress.started} ms`);
} catch (e) {
  clearTimeout(timer);
  if (resources.page) await shoot(resources.page, 'console-failure.png').catch(() => {});
  if (resources.valet?.spawnfile && resources.tmp) {
    const logs = fs.readdirSync(resources.tmp).filter((f) => f.endsWith('.log'));
    for (const l of logs) console.error(fs.readFileSync(path.join(resources.tmp, l), 'utf8').split('\n').slice(-20).join('\n'));
  }
  console.error(`FAILED: ${progress.current}: ${e instanceof Failure ? e.message : e.stack || e}`);
  await cleanup();
  process.exit(1);
}
