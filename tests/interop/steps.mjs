// What the interop scripts share: numbered steps and their failures, waiting, free ports,
// and running the valet binary (its admin commands, stopping a served node). Imported by
// openid-client.mjs and mcp.mjs, and by the browser suites (tests/browser), which also
// take its TOTP helpers.

import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import net from 'node:net';

// Where the run is: the step being run (for failure messages), how many passed.
export const progress = { started: Date.now(), current: 'setup', stepNo: 0 };

export async function step(name, fn) {
  progress.current = name;
  progress.stepNo += 1;
  const t0 = Date.now();
  const result = await fn();
  console.log(`ok ${String(progress.stepNo).padStart(2)} - ${name} (${Date.now() - t0} ms)`);
  return result;
}

export class Failure extends Error {}
export function fail(message) {
  throw new Failure(message);
}
export function check(cond, message) {
  if (!cond) fail(message);
}
export function equal(actual, expected, what) {
  if (actual !== expected) {
    fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Failure(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function freePort() {
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
export function valetEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('VALET_') || k === 'VALET_LOG') env[k] = v;
  }
  return { ...env, ...extra };
}

// One admin command of `bin` (`valet client create …`) on the data files of `dataArgs`.
export function valetAdmin(bin, args, input, dataArgs, timeout) {
  const r = spawnSync(bin, [...args, ...dataArgs], { input, env: valetEnv(), encoding: 'utf8', timeout });
  if (r.error) fail(`valet ${args.slice(0, 2).join(' ')}: ${r.error.message}`);
  if (r.status !== 0) fail(`valet ${args.slice(0, 2).join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

// SIGTERM, then SIGKILL after 5 s.
export async function stopValet(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  if (await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])) return;
  child.kill('SIGKILL');
  await exited;
}

// RFC 4648 base32 (no padding) and RFC 6238 TOTP (HMAC-SHA-1, 6 digits), for the test's
// own authenticator app.
export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/=+$/, '').toUpperCase()) {
    const i = alphabet.indexOf(ch);
    if (i < 0) fail(`not base32: ${text}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

export function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = crypto.createHmac('sha1', secret).update(counter).digest();
  const o = h[h.length - 1] & 0x0f;
  const n = ((h[o] & 0x7f) << 24 | h[o + 1] << 16 | h[o + 2] << 8 | h[o + 3]) % 1_000_000;
  return String(n).padStart(6, '0');
}
