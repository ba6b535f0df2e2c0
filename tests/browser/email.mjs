// The email flows of Valet's pages in a real browser, against a real SMTP server: Debian's
// Chromium driven by playwright-core, and the npm package smtp-server listening on
// loopback, to which Valet delivers (--smtp-url smtp://127.0.0.1:PORT?tls=none).
//
//   VALET_BIN=/path/to/valet node tests/browser/email.mjs
//
// Steps: sign up from the login page's "Create an account" (a common password refused
// first, the page at 390 px), the message arrives, signing in before following its link
// says to confirm first, the link's button makes the account ready, then it signs in.
// Forgot password from the login page: the message, its link, a new password; the old
// one no longer signs in, the new one does. The account page's "verify it" for a user
// made by the CLI: the message, its link, the address confirmed. One line per step;
// exits 1 with the reason on the first failure.
//
// Environment: VALET_BIN (required), CHROMIUM (default /usr/bin/chromium),
// SCREENSHOT_DIR (optional: login.png, signup.png, signup-error-390.png, signup-sent.png,
// signup-pending.png, signup-confirm.png, signup-ready.png, reset.png, email-verified.png,
// and failure.png on a failure).

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { SMTPServer } from 'smtp-server';

const VALET_BIN = process.env.VALET_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';
const STEP_TIMEOUT_MS = 15_000; // any one browser action, HTTP call or message
const TOTAL_TIMEOUT_MS = 120_000; // the whole run, as a last resort against a hang

const NEWCOMER = { username: 'newcomer', email: 'newcomer@example.com', name: 'Nia Newcomer', password: 'plum orchard lantern' };
const NEW_PASSWORD = 'quiet harbour morning';
const ALICE = { username: 'alice', email: 'alice@example.com', password: 'correct horse battery staple' };

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

const resources = { valet: null, smtp: null, context: null, tmp: null, page: null };
let cleaning = null;

async function cleanup() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    if (resources.context) await resources.context.close().catch(() => {});
    if (resources.smtp) await new Promise((r) => resources.smtp.close(() => r()));
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
    console.error(`FAILED: interrupted by ${sig} during: ${current}`);
    await cleanup();
    process.exit(1);
  });
}

// ---------------------------------------------------------------------------------------
// Helpers

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

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

// Valet refuses VALET_* variables it does not know (VALET_BIN among them).
function valetEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('VALET_') || k === 'VALET_LOG') env[k] = v;
  }
  return env;
}

function valetAdmin(args, input, dataArgs) {
  const r = spawnSync(VALET_BIN, [...args, ...dataArgs], { input, env: valetEnv(), encoding: 'utf8', timeout: STEP_TIMEOUT_MS });
  if (r.error) fail(`valet ${args.slice(0, 2).join(' ')}: ${r.error.message}`);
  if (r.status !== 0) fail(`valet ${args.slice(0, 2).join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

async function startValet(dir, args) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const issuer = `http://localhost:${port}`;
    const logFile = path.join(dir, `valet-${attempt}.log`);
    const out = fs.openSync(logFile, 'w');
    const child = spawn(
      VALET_BIN,
      ['serve', '--listen', `127.0.0.1:${port}`, '--issuer', issuer, '--shutdown-grace', '1', ...args],
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
        if (r.ok) return { issuer };
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

// A real SMTP server on loopback (plain: Valet allows ?tls=none to loopback only), keeping
// every message; `next(to)` waits for the next one to that address.
function startSmtp() {
  const messages = [];
  const waiters = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    banner: 'valet browser test',
    size: 1024 * 1024,
    onData(stream, session, callback) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const m = {
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          from: session.envelope.mailFrom && session.envelope.mailFrom.address,
          raw,
          subject: (raw.match(/^Subject: (.*)$/im) || [])[1] || '',
        };
        messages.push(m);
        waiters.splice(0).forEach((w) => w());
        callback();
      });
    },
  });
  server.on('error', (e) => console.error(`smtp: ${e.message}`));
  return new Promise((resolve, reject) => {
    server.listen(0, '127.0.0.1', () => {
      resources.smtp = server;
      const seen = new Map();
      resolve({
        port: server.server.address().port,
        messages,
        async next(to) {
          const deadline = Date.now() + STEP_TIMEOUT_MS;
          for (;;) {
            const from = seen.get(to) || 0;
            const i = messages.findIndex((m, n) => n >= from && m.to.includes(to));
            if (i >= 0) {
              seen.set(to, i + 1);
              return messages[i];
            }
            if (Date.now() > deadline) fail(`no message to ${to} arrived (${messages.length} in all)`);
            await Promise.race([new Promise((r) => waiters.push(r)), sleep(500)]);
          }
        },
      });
    });
    server.server.once('error', reject);
  });
}

// The first link to `pathPrefix` in a message, quoted-printable soft breaks undone.
function linkIn(message, issuer, pathPrefix) {
  const text = message.raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
  const at = text.indexOf(`${issuer}${pathPrefix}`);
  check(at >= 0, `no ${pathPrefix} link in the message "${message.subject}"`);
  return text.slice(at).match(/^[^\s"<]+/)[0];
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
    fail(`${what} not found at ${await whereIs(resources.page)}`);
  }
}

async function whereIs(page) {
  const title = await page.title().catch(() => '?');
  const h1 = await page.locator('h1').first().textContent({ timeout: 1000 }).catch(() => null);
  return `${page.url()} (title ${JSON.stringify(title)}${h1 ? `, h1 ${JSON.stringify(h1.trim())}` : ''})`;
}

const heading = (page, name) => page.getByRole('heading', { name, level: 1 });

async function signIn(page, issuer, username, password) {
  await page.goto(`${issuer}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

async function signOut(page, issuer) {
  await page.goto(`${issuer}/account`);
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expectVisible(page.getByRole('heading', { name: 'You are signed out' }), '"You are signed out"');
}

async function noWiderThan(page, width) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `${page.url()} is ${overflow} px wider than ${width} px`);
}

// ---------------------------------------------------------------------------------------
// The test

async function main() {
  check(VALET_BIN, 'VALET_BIN is not set: point it at a built valet binary (cargo build --release)');
  check(fs.existsSync(VALET_BIN), `VALET_BIN=${VALET_BIN} does not exist`);
  check(fs.existsSync(CHROMIUM), `${CHROMIUM} does not exist: apt-get install -y chromium`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'valet-email-'));
  resources.tmp = tmp;
  const dataArgs = ['--database', `sqlite://${path.join(tmp, 'valet.db')}`, '--master-key-file', path.join(tmp, 'valet.master-key')];

  const smtp = await step('SMTP server listening on loopback', startSmtp);
  await step('a user made by the CLI, address not verified', () => {
    valetAdmin(['user', 'create', '--username', ALICE.username, '--email', ALICE.email, '--password-stdin'], `${ALICE.password}\n`, dataArgs);
  });
  const { issuer } = await step('Valet serving with mail and sign-up on', () => startValet(tmp, [
    ...dataArgs, '--smtp-url', `smtp://127.0.0.1:${smtp.port}?tls=none`, '--mail-from', 'Valet <id@valet.test>', '--self-registration',
  ]));
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

  // Sign-up.
  await step('the login page links "Create an account" to the sign-up form', async () => {
    await page.goto(`${issuer}/login`);
    await shoot(page, 'login.png');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await expectVisible(heading(page, 'Create an account'), 'the sign-up page');
    for (const label of ['Username', 'Email address', 'Name (optional)', 'Password']) {
      await expectVisible(page.getByLabel(label, { exact: true }), `field "${label}"`);
    }
    await shoot(page, 'signup.png');
  });
  await step('a common password is refused, by its field, at 390 px', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByLabel('Username').fill(NEWCOMER.username);
    await page.getByLabel('Email address').fill(NEWCOMER.email);
    await page.getByLabel('Name (optional)').fill(NEWCOMER.name);
    await page.getByLabel('Password', { exact: true }).fill('Password123');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expectVisible(page.getByText(/too common/), 'the "too common" message');
    check(await page.getByLabel('Email address').inputValue() === NEWCOMER.email, 'the address typed is kept');
    check(await page.getByLabel('Password', { exact: true }).inputValue() === '', 'the password is not sent back');
    await noWiderThan(page, 390);
    await shoot(page, 'signup-error-390.png');
    await page.setViewportSize({ width: 1280, height: 720 });
  });
  await step('a good password: "Check your email"', async () => {
    await page.getByLabel('Password', { exact: true }).fill(NEWCOMER.password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expectVisible(heading(page, 'Check your email'), '"Check your email"');
    await expectVisible(page.getByText(NEWCOMER.email), 'the address on the page');
    await shoot(page, 'signup-sent.png');
  });
  const signupMail = await step('the confirmation message arrives', async () => {
    const m = await smtp.next(NEWCOMER.email);
    check(/Confirm your new Valet account/.test(m.subject), `subject: ${m.subject}`);
    check(m.from === 'id@valet.test', `from: ${m.from}`);
    return m;
  });
  await step('signing in before confirming says to confirm first', async () => {
    await signIn(page, issuer, NEWCOMER.username, NEWCOMER.password);
    await expectVisible(heading(page, 'Confirm your email address'), 'the pending page');
    await expectVisible(page.getByRole('button', { name: 'Email me a new link' }), 'a way to resend');
    await shoot(page, 'signup-pending.png');
    await signIn(page, issuer, NEWCOMER.username, 'not the password at all');
    await expectVisible(page.getByText('The username or password is not right.'), 'the usual message for a wrong password');
  });
  await step('the link asks to confirm; the button makes the account ready', async () => {
    await page.goto(linkIn(signupMail, issuer, '/signup/verify?token='));
    await expectVisible(page.getByText(NEWCOMER.email), 'the address to confirm');
    await shoot(page, 'signup-confirm.png');
    await page.getByRole('button', { name: 'Yes, confirm it' }).click();
    await expectVisible(heading(page, 'Your account is ready'), '"Your account is ready"');
    await shoot(page, 'signup-ready.png');
  });
  await step('the new account signs in', async () => {
    await page.getByRole('link', { name: 'Sign in', exact: true }).click();
    await page.getByLabel('Username').fill(NEWCOMER.username);
    await page.getByLabel('Password').fill(NEWCOMER.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${issuer}/account`);
    await expectVisible(page.getByText(NEWCOMER.email), 'the address on the account page');
    await expectVisible(page.getByRole('link', { name: 'verified' }), 'the address shown verified');
    await signOut(page, issuer);
  });

  // Forgot password.
  await step('forgot password from the login page: "Check your email"', async () => {
    await page.goto(`${issuer}/login`);
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.getByLabel('Username or email').fill(NEWCOMER.email);
    await page.getByRole('button', { name: 'Email me a link' }).click();
    await expectVisible(heading(page, 'Check your email'), '"Check your email"');
  });
  await step('the reset message arrives; its link sets a new password', async () => {
    const m = await smtp.next(NEWCOMER.email);
    check(/Reset your Valet password/.test(m.subject), `subject: ${m.subject}`);
    await page.goto(linkIn(m, issuer, '/password/reset?token='));
    await expectVisible(heading(page, 'Choose a new password'), 'the new-password form');
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await page.getByLabel('The same again').fill(NEW_PASSWORD);
    await shoot(page, 'reset.png');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await expectVisible(heading(page, 'Your password is changed'), '"Your password is changed"');
  });
  await step('the old password no longer signs in, the new one does', async () => {
    await signIn(page, issuer, NEWCOMER.username, NEWCOMER.password);
    await expectVisible(page.getByText('The username or password is not right.'), 'the old password refused');
    await signIn(page, issuer, NEWCOMER.username, NEW_PASSWORD);
    await page.waitForURL(`${issuer}/account`);
    await signOut(page, issuer);
  });

  // Verify an address from the account page.
  await step('the account page offers to verify an address; the link confirms it', async () => {
    await signIn(page, issuer, ALICE.username, ALICE.password);
    await page.waitForURL(`${issuer}/account`);
    await page.getByRole('link', { name: 'verify it' }).click();
    await page.getByRole('button', { name: 'Email me a link to confirm it' }).click();
    await expectVisible(page.getByText(/on its way to/), 'the link on its way');
    const m = await smtp.next(ALICE.email);
    await page.goto(linkIn(m, issuer, '/email/verify?token='));
    await page.getByRole('button', { name: 'Yes, confirm it' }).click();
    await expectVisible(heading(page, 'Your email address is confirmed'), '"Your email address is confirmed"');
    await shoot(page, 'email-verified.png');
    await page.goto(`${issuer}/account`);
    await expectVisible(page.getByRole('link', { name: 'verified' }), 'the address shown verified');
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
  console.log(`browser email: all ${stepNo} steps passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  exitCode = 1;
  console.error(`FAILED: ${current}: ${e instanceof Failure ? e.message : e.stack || e}`);
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
