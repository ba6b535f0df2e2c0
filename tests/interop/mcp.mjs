// An MCP client from the official TypeScript SDK (@modelcontextprotocol/sdk, its
// OAuthClientProvider machinery) connecting to an MCP server protected by Valet tokens,
// with no operator step for the client: once by a Client ID Metadata Document (the SDK's
// clientMetadataUrl), once by dynamic client registration (RFC 7591). The person signs in
// and consents in Debian's Chromium through playwright-core. Nothing here speaks OAuth by
// hand on the client side: discovery (RFC 9728 protected resource metadata, RFC 8414),
// registration, PKCE, the resource indicator (RFC 8707), the code exchange and the refresh
// are the SDK's.
//
//   NODE_EXTRA_CA_CERTS=ca.pem INTEROP_CA=ca.pem INTEROP_TLS_CERT=… INTEROP_TLS_KEY=… \
//   INTEROP_TLS_SPKI=… VALET_BIN=/path/to/valet node tests/interop/mcp.mjs
//
// (tests/interop/run.sh makes the certificate authority and sets all that.)
//
// The MCP server (here, on the SDK's server side) serves its RFC 9728 metadata naming
// Valet, answers 401 with a `resource_metadata` challenge, checks each bearer token by
// introspection at Valet (as an introspector of its API), and has one tool, `whoami`,
// answering the token's `sub`. Valet serves its metadata document fetches with
// --dev-allow-loopback-metadata (the document is on localhost) and trusts the test CA
// through SSL_CERT_FILE. Steps: discovery advertises registration and CIMD; for each of
// CIMD and DCR: the SDK is refused, registers (or names its document), the person sees
// the consent page marked "not verified" with the redirect host and allows, the SDK
// finishes, the tool answers alice's sub, a stale access token makes the SDK refresh
// (rotating), and a refresh for another API is refused.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { chromium } from 'playwright-core';
import { Failure, check, equal, fail, freePort, progress, sleep, step, stopValet, valetAdmin, valetEnv, withTimeout } from './steps.mjs';

const VALET_BIN = process.env.VALET_BIN;
const CA = process.env.INTEROP_CA;
const TLS_CERT = process.env.INTEROP_TLS_CERT;
const TLS_KEY = process.env.INTEROP_TLS_KEY;
const TLS_SPKI = process.env.INTEROP_TLS_SPKI;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';
const STEP_TIMEOUT_MS = 15_000;
const TOTAL_TIMEOUT_MS = 150_000;

const USER = { username: 'alice', name: 'Alice Example', password: 'correct horse battery staple' };
const MCP_SCOPE = 'mcp:tools';
const OTHER_API = { audience: 'https://other.interop.test', scope: 'other:read' };

const resources = { valet: null, servers: [], context: null, page: null, tmp: null };
async function cleanup() {
  if (resources.context) await resources.context.close().catch(() => {});
  for (const s of resources.servers) {
    s.closeAllConnections?.();
    await new Promise((r) => s.close(() => r()));
  }
  if (resources.valet) await stopValet(resources.valet);
  if (resources.tmp) fs.rmSync(resources.tmp, { recursive: true, force: true });
}
process.on('exit', () => {
  const v = resources.valet;
  if (v && v.exitCode === null && v.signalCode === null) v.kill('SIGKILL');
});

// ---------------------------------------------------------------------------------------
// Valet

function admin(args, input, dataArgs) {
  return valetAdmin(VALET_BIN, args, input, dataArgs, STEP_TIMEOUT_MS);
}

function json(out, what) {
  try {
    return JSON.parse(out);
  } catch {
    return fail(`${what} printed no JSON: ${out}`);
  }
}

async function startValet(dir, port, dataArgs) {
  const issuer = `https://localhost:${port}`;
  const logFile = path.join(dir, 'valet.log');
  const out = fs.openSync(logFile, 'w');
  const child = spawn(VALET_BIN, [
    'serve', '--listen', `127.0.0.1:${port}`, '--issuer', issuer, '--shutdown-grace', '1',
    '--tls-cert', TLS_CERT, '--tls-key', TLS_KEY, '--refresh-retry-window', '0',
    // The metadata documents of this run are on localhost: for tests only.
    '--dev-allow-loopback-metadata',
    ...dataArgs,
  ], { cwd: dir, env: valetEnv({ SSL_CERT_FILE: CA }), stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.logFile = logFile;
  resources.valet = child;
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    try {
      const r = await fetch(`${issuer}/health/ready`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return issuer;
    } catch (e) {
      lastError = `${e.message}${e.cause ? `: ${e.cause.code || e.cause.message}` : ''}`;
    }
    await sleep(100);
  }
  return fail(`Valet did not become ready on ${issuer} (exit ${child.exitCode ?? 'none'}; ${lastError}):\n${fs.readFileSync(logFile, 'utf8').trim()}`);
}

// ---------------------------------------------------------------------------------------
// The MCP server: RFC 9728 metadata, bearer tokens checked by introspection at Valet,
// one tool answering the token's `sub` (the SDK's server side does the MCP part).

function listen(server, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      resources.servers.push(server);
      resolve(server.address().port);
    });
  });
}

async function startMcpServer({ issuer, introspector }) {
  const calls = { unauthorized: 0, refused: 0, answered: 0 };
  let resource = '';
  let metadataUrl = '';
  const tls = { cert: fs.readFileSync(TLS_CERT), key: fs.readFileSync(TLS_KEY) };
  const server = https.createServer(tls, async (req, res) => {
    const url = new URL(req.url, resource || 'https://localhost');
    if (url.pathname === '/.well-known/oauth-protected-resource/mcp' || url.pathname === '/.well-known/oauth-protected-resource') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ resource, authorization_servers: [issuer], scopes_supported: [MCP_SCOPE], bearer_methods_supported: ['header'] }));
      return;
    }
    if (url.pathname !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    const challenge = (error) => {
      res.writeHead(401, {
        'www-authenticate': `Bearer resource_metadata="${metadataUrl}", scope="${MCP_SCOPE}"${error ? `, error="${error}"` : ''}`,
        'content-type': 'application/json',
      });
      res.end(JSON.stringify({ error: error || 'unauthorized' }));
    };
    const auth = req.headers.authorization || '';
    if (!auth.startsWith('Bearer ')) {
      calls.unauthorized += 1;
      challenge();
      return;
    }
    const token = auth.slice('Bearer '.length);
    const r = await fetch(`${issuer}/oauth2/introspect`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${introspector.client_id}:${introspector.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }),
    });
    const info = await r.json();
    const audiences = [info.aud].flat();
    const scopes = (info.scope || '').split(' ');
    if (!info.active || !audiences.includes(resource) || !scopes.includes(MCP_SCOPE)) {
      calls.refused += 1;
      challenge('invalid_token');
      return;
    }
    calls.answered += 1;
    req.auth = { token, clientId: info.client_id, scopes, extra: { sub: info.sub } };
    const mcp = new McpServer({ name: 'valet-interop-mcp', version: '1.0.0' });
    mcp.registerTool('whoami', { description: 'The signed-in user' }, async (extra) => ({
      content: [{ type: 'text', text: String(extra.authInfo?.extra?.sub) }],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      transport.close();
      mcp.close();
    });
    await mcp.connect(transport);
    await transport.handleRequest(req, res);
  });
  const port = await listen(server);
  resource = `https://localhost:${port}/mcp`;
  metadataUrl = `https://localhost:${port}/.well-known/oauth-protected-resource/mcp`;
  return { resource, port, calls };
}

// The agent's side: its loopback callback (RFC 8252 §7.3) and, for CIMD, its metadata
// document on HTTPS.
async function startCallbackServer() {
  const waiters = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    for (let i = waiters.length - 1; i >= 0; i--) waiters.splice(i, 1)[0](url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Agent</title></head><body><h1>You can close this page</h1></body></html>');
  });
  const port = await listen(server);
  return { redirect: `http://localhost:${port}/callback`, next: () => new Promise((r) => waiters.push(r)) };
}

async function startDocumentServer(documentFor) {
  const hits = [];
  const tls = { cert: fs.readFileSync(TLS_CERT), key: fs.readFileSync(TLS_KEY) };
  let base = '';
  const server = https.createServer(tls, (req, res) => {
    hits.push(req.url);
    if (req.url !== '/agent/client.json') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    res.end(JSON.stringify(documentFor(`${base}/agent/client.json`)));
  });
  const port = await listen(server);
  base = `https://localhost:${port}`;
  return { url: `${base}/agent/client.json`, hits };
}

// ---------------------------------------------------------------------------------------
// The SDK's OAuthClientProvider: kept in memory, as an agent would in its own store.

class AgentProvider {
  constructor({ redirect, clientMetadataUrl }) {
    this._redirect = redirect;
    if (clientMetadataUrl) this.clientMetadataUrl = clientMetadataUrl;
    this._info = undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this.authorizationUrl = undefined;
    this.saved = [];
  }
  get redirectUrl() {
    return this._redirect;
  }
  get clientMetadata() {
    return {
      client_name: 'Interop MCP Agent',
      redirect_uris: [this._redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    };
  }
  clientInformation() {
    return this._info;
  }
  saveClientInformation(info) {
    this._info = info;
  }
  tokens() {
    return this._tokens;
  }
  saveTokens(t) {
    this._tokens = t;
    this.saved.push(t);
  }
  redirectToAuthorization(url) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v) {
    this._verifier = v;
  }
  codeVerifier() {
    return this._verifier;
  }
}

// ---------------------------------------------------------------------------------------

async function main() {
  check(VALET_BIN && fs.existsSync(VALET_BIN), `VALET_BIN=${VALET_BIN} is not a built valet binary`);
  check(CA && TLS_CERT && TLS_KEY && TLS_SPKI, 'INTEROP_CA, INTEROP_TLS_CERT, INTEROP_TLS_KEY and INTEROP_TLS_SPKI must be set: run tests/interop/run.sh');
  check(process.env.NODE_EXTRA_CA_CERTS, 'NODE_EXTRA_CA_CERTS must name the test CA: run tests/interop/run.sh');
  check(fs.existsSync(CHROMIUM), `${CHROMIUM} does not exist: apt-get install -y chromium`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'valet-interop-mcp-'));
  resources.tmp = tmp;
  const dataArgs = ['--database', `sqlite://${path.join(tmp, 'valet.db')}`, '--master-key-file', path.join(tmp, 'valet.master-key')];
  const valetPort = await freePort();
  const issuer = `https://localhost:${valetPort}`;

  // The MCP server's address must be known to register its API: start it first; it only
  // talks to Valet once a token arrives.
  const introspector = {};
  const mcp = await step('MCP server (SDK server side) listening with RFC 9728 metadata', () => startMcpServer({ issuer, introspector }));

  const sub = await step('user, the MCP server\'s API (and its introspector), another API registered', () => {
    const user = json(admin(['user', 'create', '--username', USER.username, '--name', USER.name, '--password-stdin', '--json'],
      `${USER.password}\n`, dataArgs), 'user create');
    const svc = json(admin(['client', 'create', '--name', 'MCP server backend', '--profile', 'service', '--json'], '', dataArgs), 'client create');
    Object.assign(introspector, svc);
    admin(['api', 'create', '--audience', mcp.resource, '--scope', `${MCP_SCOPE}=Use the interop tools`,
      '--introspector', svc.client_id], '', dataArgs);
    admin(['api', 'create', '--audience', OTHER_API.audience, '--scope', `${OTHER_API.scope}=Read the other API`], '', dataArgs);
    check(user.sub, `user create --json lacks sub: ${JSON.stringify(user)}`);
    return user.sub;
  });

  await step('Valet serving HTTPS (metadata fetches trust the test CA)', () => startValet(tmp, valetPort, dataArgs));

  await step('discovery advertises dynamic registration and metadata documents', async () => {
    for (const doc of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const m = await (await fetch(`${issuer}${doc}`)).json();
      equal(m.registration_endpoint, `${issuer}/oauth2/register`, `${doc} registration_endpoint`);
      equal(m.client_id_metadata_document_supported, true, `${doc} client_id_metadata_document_supported`);
    }
  });

  const context = await step('Chromium started', async () => {
    const ctx = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        `--ignore-certificate-errors-spki-list=${TLS_SPKI}`],
    });
    resources.context = ctx;
    return ctx;
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  resources.page = page;

  let signedIn = false;
  async function connectAgent(label, provider, callback) {
    const serverUrl = new URL(mcp.resource);
    await step(`${label}: the SDK is refused, discovers Valet and gets an authorization URL`, async () => {
      const client = new Client({ name: `interop-${label}`, version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
      let refused = null;
      try {
        await client.connect(transport);
      } catch (e) {
        refused = e;
      }
      check(refused instanceof UnauthorizedError, `connect without a token: ${refused?.stack || 'it connected'}`);
      check(provider.authorizationUrl, 'the SDK did not ask to open an authorization URL');
      const u = provider.authorizationUrl;
      equal(u.origin, issuer, 'authorization URL origin');
      equal(u.searchParams.get('resource'), mcp.resource, 'resource indicator (RFC 8707)');
      equal(u.searchParams.get('code_challenge_method'), 'S256', 'PKCE');
      check(provider.clientInformation()?.client_id, 'no client_id after registration');
      await transport.close().catch(() => {});
      return transport;
    });
    const code = await step(`${label}: alice ${signedIn ? '' : 'signs in and '}allows in Chromium; the page says not verified and shows the redirect host`, async () => {
      const hit = callback.next();
      await page.goto(provider.authorizationUrl.href);
      if (!signedIn) {
        await page.getByLabel('Username').fill(USER.username);
        await page.getByLabel('Password').fill(USER.password);
        await page.getByRole('button', { name: 'Sign in', exact: true }).click();
        signedIn = true;
      }
      await page.getByRole('button', { name: 'Allow' }).waitFor({ state: 'visible' });
      const body = await page.locator('body').innerText();
      check(body.includes('Not verified by your administrator'), `the consent page does not say "not verified":\n${body}`);
      check(body.includes('localhost'), `the consent page does not show the redirect host:\n${body}`);
      if (SCREENSHOT_DIR) {
        fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
        await page.screenshot({ path: path.join(SCREENSHOT_DIR, `mcp-consent-${label}.png`), fullPage: true });
      }
      await page.getByRole('button', { name: 'Allow' }).click();
      const url = await withTimeout(hit, STEP_TIMEOUT_MS, 'the agent\'s loopback callback');
      equal(url.searchParams.get('iss'), issuer, 'iss in the authorization response (RFC 9207)');
      const c = url.searchParams.get('code');
      check(c, `no code in ${url}`);
      return c;
    });
    const client = await step(`${label}: the SDK finishes, connects and the tool answers alice's sub`, async () => {
      const first = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
      await first.finishAuth(code);
      const t = provider.tokens();
      check(t?.access_token && t.refresh_token, `tokens after finishAuth: ${JSON.stringify(Object.keys(t || {}))}`);
      const c = new Client({ name: `interop-${label}`, version: '1.0.0' });
      await c.connect(new StreamableHTTPClientTransport(serverUrl, { authProvider: provider }));
      const r = await c.callTool({ name: 'whoami', arguments: {} });
      equal(r.content?.[0]?.text, sub, 'whoami');
      return c;
    });
    await step(`${label}: a stale access token makes the SDK refresh (rotating) and call again`, async () => {
      const before = provider.tokens();
      provider.saveTokens({ ...before, access_token: 'stale' });
      const c = new Client({ name: `interop-${label}`, version: '1.0.0' });
      await c.connect(new StreamableHTTPClientTransport(serverUrl, { authProvider: provider }));
      const r = await c.callTool({ name: 'whoami', arguments: {} });
      equal(r.content?.[0]?.text, sub, 'whoami after the refresh');
      const after = provider.tokens();
      check(after.access_token !== 'stale' && after.access_token !== before.access_token, 'no new access token');
      check(after.refresh_token && after.refresh_token !== before.refresh_token, 'the refresh token did not rotate');
      await c.close();
    });
    await step(`${label}: a refresh for another API is refused, and nothing else was granted`, async () => {
      const t = provider.tokens();
      const r = await fetch(`${issuer}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token', refresh_token: t.refresh_token,
          client_id: provider.clientInformation().client_id, resource: OTHER_API.audience, scope: OTHER_API.scope,
        }),
      });
      check(r.status === 400, `refresh for ${OTHER_API.audience}: status ${r.status}`);
      const e = await r.json();
      check(['invalid_scope', 'invalid_target', 'invalid_grant'].includes(e.error), `refresh for another API: ${JSON.stringify(e)}`);
    });
    await client.close();
  }

  // ----- Client ID Metadata Document: the agent names its document by URL.
  const cbCimd = await startCallbackServer();
  const doc = await step('the agent\'s metadata document served over HTTPS', () => startDocumentServer((url) => ({
    client_id: url,
    client_name: 'Interop MCP Agent (CIMD)',
    redirect_uris: [cbCimd.redirect],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  })));
  const cimd = new AgentProvider({ redirect: cbCimd.redirect, clientMetadataUrl: doc.url });
  await connectAgent('cimd', cimd, cbCimd);
  equal(cimd.clientInformation().client_id, doc.url, 'the CIMD client_id is the document URL');
  check(doc.hits.length >= 1, 'Valet never fetched the metadata document');

  // ----- Dynamic registration: the same SDK without a document URL registers itself.
  const cbDcr = await startCallbackServer();
  const dcr = new AgentProvider({ redirect: cbDcr.redirect });
  await connectAgent('dcr', dcr, cbDcr);
  check(!dcr.clientInformation().client_secret, 'a public registration got a client_secret');
  check(dcr.clientInformation().client_id !== doc.url, 'dynamic registration reused the CIMD client_id');

  await step('the MCP server refused every call without a valid token', () => {
    check(mcp.calls.unauthorized >= 2, `unauthorized calls: ${mcp.calls.unauthorized}`);
    check(mcp.calls.refused >= 2, `stale tokens refused: ${mcp.calls.refused}`);
    check(mcp.calls.answered >= 4, `answered calls: ${mcp.calls.answered}`);
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
  console.log(`mcp: all ${progress.stepNo} steps passed in ${((Date.now() - progress.started) / 1000).toFixed(1)} s`);
} catch (e) {
  exitCode = 1;
  console.error(`FAILED: ${progress.current}: ${e instanceof Failure ? e.message : e.stack || e}`);
  if (resources.page && SCREENSHOT_DIR) {
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await resources.page.screenshot({ path: path.join(SCREENSHOT_DIR, 'mcp-failure.png'), fullPage: true }).catch(() => {});
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
