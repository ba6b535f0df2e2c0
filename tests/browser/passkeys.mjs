// Passkeys (issue 16) in a real browser: Debian's Chromium, driven by playwright-core,
// with Chrome's virtual authenticator (DevTools protocol `WebAuthn.addVirtualAuthenticator`:
// a platform authenticator with resident keys and user verification).
//
//   VALET_BIN=/path/to/valet node tests/browser/passkeys.mjs
//
// Starts Valet on http://localhost:PORT (a WebAuthn RP ID is a host name; localhost is a
// secure context), makes a user and a `web` application whose redirect URI is a small
// HTTP server of this script's own. The user signs in with the password and adds a
// passkey from /account (named; recovery codes shown once, as it is the first second
// factor); the authenticator holds one discoverable credential. Signed out, the user
// signs in to the application with no username, once through the username field's
// autofill (conditional mediation, which the virtual authenticator answers at once) and
// once with "Sign in with a passkey": the ID token says `amr` hwk, user, mfa. Then a password sign-in asks for the passkey as the
// second factor ("Use a passkey"). Then the passkey is renamed and removed on /account,
// and signing in with it fails. The account page is also shot at 390 px wide. One line
// per step; exits 1 with the reason on the first failure.
//
// Environment: VALET_BIN (required), CHROMIUM (default /usr/bin/chromium),
// SCREENSHOT_DIR (optional: passkey-*.png, and passkey-failure.png on a failure).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  Failure, check, equal, fail, freePort, progress, sleep, step, stopValet, valetAdmin, valetEnv, withTimeout,
} from '../interop/steps.mjs';

const VALET_BIN = process.env.VALET_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';
const STEP_TIMEOUT_MS = 15_000;
const TOTAL_TIMEOUT_MS = 120_000;
const USER = { username: 'pat', password: 'correct horse battery staple' };
const APP_NAME = 'Passkey Test App';

const resources = { valet: null, server: null, context: null, tmp: null, page: null };

async function cleanup() {
  if (resources.context) await resources.context.close().catch(() => {});
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
    child.logFile = logFile;
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

function pkce() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
}

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(String(jwt).split('.')[1], 'base64url'));
}

async function main() {
  check(VALET_BIN && fs.existsSync(VALET_BIN), `VALET_BIN=${VALET_BIN} does not exist`);
  check(fs.existsSync(CHROMIUM), `${CHROMIUM} does not exist: apt-get install -y chromium`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'valet-passkeys-'));
  resources.tmp = tmp;
  const dataArgs = ['--database', `sqlite://${path.join(tmp, 'valet.db')}`, '--master-key-file', path.join(tmp, 'valet.master-key')];
  const cb = await step('callback server listening', startCallbackServer);
  const redirectUri = `${cb.origin}/callback`;
  const client = await step('user and web application registered', () => {
    admin(['user', 'create', '--username', USER.username, '--name', 'Pat Example', '--password-stdin'], `${USER.password}\n`, dataArgs);
    return JSON.parse(admin(['client', 'create', '--name', APP_NAME, '--profile', 'web', '--redirect-uri', redirectUri, '--json'], '', dataArgs));
  });
  const { issuer } = await step('Valet serving on localhost', () => startValet(tmp, dataArgs));

  const page = await step('Chromium with a virtual authenticator', async () => {
    const ctx = await chromium.launchPersistentContext(path.join(tmp, 'chromium'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    resources.context = ctx;
    const p = ctx.pages()[0] || (await ctx.newPage());
    p.setDefaultTimeout(STEP_TIMEOUT_MS);
    p.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
    resources.page = p;
    const cdp = await ctx.newCDPSession(p);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
        hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
      },
    });
    p.authenticator = { cdp, authenticatorId };
    return p;
  });
  const credentials = async () => (await page.authenticator.cdp.send('WebAuthn.getCredentials',
    { authenticatorId: page.authenticator.authenticatorId })).credentials;

  await step('password sign-in, then /account offers to add a passkey', async () => {
    await page.goto(`${issuer}/login`);
    await page.getByLabel('Username').fill(USER.username);
    await page.getByLabel('Password').fill(USER.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${issuer}/account`);
    await visible(page.getByRole('heading', { name: 'Passkeys', level: 2 }), '"Passkeys" section');
    await visible(page.getByRole('button', { name: 'Add a passkey' }), '"Add a passkey" button');
  });

  await step('adding a passkey: recovery codes shown once, the passkey listed by its name', async () => {
    await page.getByLabel('Name').fill('This laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await visible(page.locator('li code'), 'the recovery codes');
    equal(await page.locator('li code').count(), 10, 'recovery codes shown');
    await shoot(page, 'passkey-recovery-codes.png');
    await page.goto(`${issuer}/account`);
    await visible(page.getByRole('heading', { name: 'This laptop', level: 3 }), 'the passkey "This laptop"');
    await visible(page.getByText('Not used yet'), '"Not used yet"');
    const creds = await credentials();
    equal(creds.length, 1, 'credentials in the authenticator');
    check(creds[0].isResidentCredential, 'the passkey is a discoverable credential');
    await shoot(page, 'passkey-account.png');
    await page.setViewportSize({ width: 390, height: 844 });
    await shoot(page, 'passkey-account-390.png');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    check(!overflow, 'the account page is wider than 390 px');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  const signOut = async () => {
    await page.context().clearCookies();
  };

  // The authorization code flow with no username typed: the passkey answers (on its own
  // through the autofill's conditional mediation, or by the button), then Allow.
  const passkeySignIn = async (button) => {
    await signOut();
    const { verifier, challenge } = pkce();
    const url = `${issuer}/oauth2/authorize?${new URLSearchParams({
      response_type: 'code', client_id: client.client_id, redirect_uri: redirectUri, scope: 'openid profile',
      state: 'st1', nonce: 'n1', code_challenge: challenge, code_challenge_method: 'S256',
    })}`;
    const callback = cb.next();
    await page.goto(url);
    if (button) {
      await visible(page.getByRole('button', { name: 'Sign in with a passkey' }), '"Sign in with a passkey"');
      await shoot(page, 'passkey-login.png');
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    }
    // The consent page the first time; the application was allowed before after that.
    const allow = page.getByRole('button', { name: 'Allow' });
    const consent = allow.waitFor({ state: 'visible' }).then(() => 'consent', () => null);
    const first = await withTimeout(Promise.race([consent, callback.then(() => 'callback')]), STEP_TIMEOUT_MS, 'consent or callback');
    if (first === 'consent') await allow.click();
    const params = await withTimeout(callback, STEP_TIMEOUT_MS, 'the callback');
    // The callback server has answered; let the browser finish that navigation before the
    // next step starts its own (else the next page.goto is "interrupted by another navigation").
    await page.waitForURL((u) => u.href.startsWith(redirectUri), { timeout: STEP_TIMEOUT_MS });
    const r = await fetch(`${issuer}/oauth2/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: 'Basic ' + Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64'),
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: params.get('code'), redirect_uri: redirectUri, code_verifier: verifier }),
    });
    const body = await r.json();
    equal(r.status, 200, `token endpoint: ${JSON.stringify(body)}`);
    const claims = claimsOf(body.id_token);
    equal(JSON.stringify(claims.amr), JSON.stringify(['hwk', 'user', 'mfa']), 'amr of a passkey sign-in');
  };

  await step('signed out, the login page\'s autofill (conditional mediation) signs in with the passkey', () => passkeySignIn(false));

  await step('without autofill, "Sign in with a passkey" signs in to the application with no username', async () => {
    // A browser without conditional mediation: the button is the way.
    await page.addInitScript(() => {
      if (window.PublicKeyCredential) window.PublicKeyCredential.isConditionalMediationAvailable = async () => false;
    });
    await passkeySignIn(true);
  });

  await step('after a password, the passkey is the second factor', async () => {
    await signOut();
    await page.goto(`${issuer}/login`);
    await page.getByLabel('Username').fill(USER.username);
    await page.getByLabel('Password').fill(USER.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await visible(page.getByRole('heading', { name: 'Two-step verification' }), 'the second-factor page');
    await visible(page.getByRole('button', { name: 'Use a passkey' }), '"Use a passkey"');
    const code = page.getByLabel('Recovery code');
    await visible(code, 'the recovery code field');
    await shoot(page, 'passkey-second-factor.png');
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.waitForURL(`${issuer}/account`);
    await visible(page.getByText('Last used'), '"Last used" of the passkey');
  });

  await step('renamed, then removed: the passkey no longer signs in', async () => {
    await page.getByLabel('New name for This laptop').fill('Old laptop');
    await page.getByRole('button', { name: 'Rename This laptop' }).click();
    await visible(page.getByText('Passkey renamed “Old laptop”.'), 'the rename notice');
    await page.getByRole('button', { name: 'Remove Old laptop' }).click();
    await visible(page.getByText('Passkey “Old laptop” removed.'), 'the removal notice');
    await signOut();
    await page.goto(`${issuer}/login`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await visible(page.getByText('That passkey could not be used to sign in.'), 'the refusal');
    await shoot(page, 'passkey-refused.png');
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
  console.log(`browser passkeys: ${progress.stepNo} steps passed in ${Date.now() - progress.started} ms`);
} catch (e) {
  clearTimeout(timer);
  if (resources.page) await shoot(resources.page, 'passkey-failure.png').catch(() => {});
  const log = resources.valet?.logFile;
  if (log && fs.existsSync(log)) console.error(fs.readFileSync(log, 'utf8').split('\n').slice(-20).join('\n'));
  console.error(`FAILED: ${progress.current}: ${e instanceof Failure ? e.message : e.stack || e}`);
  await cleanup();
  process.exit(1);
}
