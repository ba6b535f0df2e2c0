// The two upstream identity providers tests/browser/upstream.mjs signs in through, both
// in the test's own process on 127.0.0.1 with a port of their own:
//
// - `startCorp`: an OpenID provider, node-oidc-provider (v9) with its development login
//   and consent pages (any login name, any password). One confidential client, `valet`
//   (client_secret_basic, authorization code only, the one redirect URI given); scopes
//   openid, email and profile; the account of login X is sub X, email X@corp.example
//   (verified), name "X Corp". ID tokens RS256 with a key made at start. Scope claims
//   are served at UserInfo (node-oidc-provider puts them there, not in the ID token,
//   when an access token is issued).
//
// - `startHub`: a plain OAuth 2.0 server shaped like GitHub's OAuth apps: no discovery,
//   no ID token. GET /login/oauth/authorize shows who to sign in as and an "Authorize"
//   button, then redirects to the one registered redirect URI with code and state;
//   POST /login/oauth/access_token takes client_id and client_secret in the form body
//   (client_secret_post), the code once, and the PKCE verifier when a challenge was
//   sent, and answers JSON when asked with Accept: application/json (a form-encoded body
//   otherwise, and errors with status 200, as GitHub does); GET /user with a Bearer
//   token answers { login, id (a number), name, email } and, like GitHub, refuses a
//   request without a User-Agent. Users: octo (583231, octo@hub.example) and mallory
//   (666, whose address is bob@example.com, the test's local user's: a GitHub-shaped
//   provider asserts nothing about its verification).
//
// Each returns { issuer or origin, port, requests (what the server was sent: method,
// path, headers, query or form), stop() }.

import crypto from 'node:crypto';
import http from 'node:http';

// node-oidc-provider warns on stderr, and notices on stdout, of what a test does on
// purpose (development interactions, the in-memory adapter, default TTLs, a Node.js
// older than it likes), at import and at run time: its own lines are kept off the
// test's output, everything else goes through. (Hence also the dynamic import below,
// after these filters are in place.)
for (const level of ['warn', 'info']) {
  const original = console[level];
  console[level] = (...args) => {
    if (typeof args[0] === 'string' && /^oidc-provider (WARNING|NOTICE):/.test(args[0])) return;
    original(...args);
  };
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

function closer(server) {
  let closing = null;
  return () => {
    if (!closing) {
      closing = new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    }
    return closing;
  };
}

// ---------------------------------------------------------------------------------------
// Corp: node-oidc-provider

let providerModule = null;

export async function startCorp({ redirectUri, port = 0 }) {
  if (!providerModule) providerModule = await import('oidc-provider');
  const Provider = providerModule.default;
  const requests = [];
  const server = http.createServer();
  const actual = await listen(server, port);
  const issuer = `http://127.0.0.1:${actual}`;
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'valet',
      client_secret: 'valet-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [redirectUri],
    }],
    jwks: { keys: [{ ...rsa, kid: 'corp-rs256', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'email', 'profile'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: { devInteractions: { enabled: true } },
    findAccount: async (ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, email: `${id}@corp.example`, email_verified: true, name: `${id} Corp` }),
    }),
  });
  const errors = [];
  provider.on('server_error', (ctx, err) => errors.push(err));
  const callback = provider.callback();
  server.on('request', (req, res) => {
    requests.push({ method: req.method, path: req.url, headers: req.headers });
    callback(req, res);
  });
  return { issuer, port: actual, provider, requests, errors, stop: closer(server) };
}

// ---------------------------------------------------------------------------------------
// Hub: a GitHub-shaped OAuth 2.0 server

export const HUB_CLIENT = { id: 'hub-client', secret: 'hub-secret' };
export const HUB_USERS = {
  octo: { login: 'octo', id: 583231, name: 'The Octocat', email: 'octo@hub.example' },
  mallory: { login: 'mallory', id: 666, name: 'Mallory', email: 'bob@example.com' },
};

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 64 * 1024) {
        reject(new Error('body too large'));
        req.destroy();
      } else {
        chunks.push(c);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function page(res, status, title, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`
    + `<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`);
}

export async function startHub({ redirectUri, port = 0 }) {
  const requests = [];
  const codes = new Map(); // code -> { user, redirectUri, challenge, method, scope, expires }
  const tokens = new Map(); // access token -> user
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const seen = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers };
    requests.push(seen);
    try {
      let form = {};
      if (req.method === 'POST') {
        const type = req.headers['content-type'] || '';
        const text = await readBody(req);
        if (!type.startsWith('application/x-www-form-urlencoded')) {
          return page(res, 415, 'Unsupported media type', `<p>${escapeHtml(type)}</p>`);
        }
        form = Object.fromEntries(new URLSearchParams(text));
        seen.form = form;
      }

      if (url.pathname === '/login/oauth/authorize' && req.method === 'GET') {
        const q = Object.fromEntries(url.searchParams);
        if (q.client_id !== HUB_CLIENT.id) return page(res, 404, 'Not found', '<p>No application with this client_id.</p>');
        // The registered callback, exactly: GitHub says redirect_uri_mismatch otherwise.
        if (q.redirect_uri !== redirectUri) {
          return page(res, 400, 'Redirect URI mismatch', `<p>The redirect_uri ${escapeHtml(q.redirect_uri ?? '(none)')} is not the registered ${escapeHtml(redirectUri)}.</p>`);
        }
        const hidden = ['client_id', 'redirect_uri', 'state', 'scope', 'code_challenge', 'code_challenge_method']
          .filter((k) => q[k] !== undefined)
          .map((k) => `<input type="hidden" name="${k}" value="${escapeHtml(q[k])}">`).join('');
        return page(res, 200, 'Authorize Valet', `<form method="post" action="/login/oauth/authorize">${hidden}`
          + `<p><label>Sign in to Hub as <input name="login" value="octo" required></label></p>`
          + `<p>Valet would like to: ${escapeHtml(q.scope || '(no scope)')}</p>`
          + '<button type="submit">Authorize</button></form>');
      }

      if (url.pathname === '/login/oauth/authorize' && req.method === 'POST') {
        if (form.client_id !== HUB_CLIENT.id || form.redirect_uri !== redirectUri) return page(res, 400, 'Bad request', '<p>Wrong client or redirect_uri.</p>');
        const user = HUB_USERS[form.login];
        if (!user) return page(res, 400, 'No such user', `<p>No Hub user ${escapeHtml(form.login)}.</p>`);
        if (form.code_challenge && form.code_challenge_method !== 'S256') return page(res, 400, 'Bad request', '<p>Only S256.</p>');
        const code = crypto.randomBytes(20).toString('hex');
        codes.set(code, {
          user, redirectUri: form.redirect_uri, challenge: form.code_challenge, scope: form.scope || '', expires: Date.now() + 600_000,
        });
        const target = new URL(redirectUri);
        target.searchParams.set('code', code);
        if (form.state !== undefined) target.searchParams.set('state', form.state);
        res.writeHead(302, { location: target.href });
        return res.end();
      }

      if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
        const json = (req.headers.accept || '').includes('application/json');
        const answer = (obj) => {
          if (json) {
            res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
            res.end(JSON.stringify(obj));
          } else {
            res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
            res.end(new URLSearchParams(obj).toString());
          }
        };
        // GitHub answers errors with 200 and an `error` member.
        if (form.client_id !== HUB_CLIENT.id || form.client_secret !== HUB_CLIENT.secret) {
          return answer({ error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' });
        }
        const grant = codes.get(form.code);
        codes.delete(form.code); // once, whatever follows
        if (!grant || grant.expires < Date.now()) {
          return answer({ error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
        }
        if (form.redirect_uri !== undefined && form.redirect_uri !== grant.redirectUri) {
          return answer({ error: 'redirect_uri_mismatch', error_description: 'The redirect_uri MUST match the registered callback URL for this application.' });
        }
        if (grant.challenge) {
          const computed = form.code_verifier && crypto.createHash('sha256').update(form.code_verifier).digest('base64url');
          if (computed !== grant.challenge) {
            return answer({ error: 'bad_verification_code', error_description: 'The code_verifier does not match the code_challenge.' });
          }
        }
        const token = `gho_${crypto.randomBytes(18).toString('base64url')}`;
        tokens.set(token, grant.user);
        return answer({ access_token: token, token_type: 'bearer', scope: grant.scope.split(' ').filter(Boolean).join(',') });
      }

      if (url.pathname === '/user' && req.method === 'GET') {
        if (!req.headers['user-agent']) {
          return page(res, 403, 'Request forbidden by administrative rules', '<p>Please make sure your request has a User-Agent header.</p>');
        }
        const m = /^(?:Bearer|token)\s+(\S+)$/i.exec(req.headers.authorization || '');
        const user = m && tokens.get(m[1]);
        res.writeHead(user ? 200 : 401, { 'content-type': 'application/json; charset=utf-8' });
        if (!user) return res.end(JSON.stringify({ message: 'Bad credentials', status: '401' }));
        return res.end(JSON.stringify({
          login: user.login,
          id: user.id,
          node_id: Buffer.from(`04:User${user.id}`).toString('base64'),
          type: 'User',
          site_admin: false,
          name: user.name,
          email: user.email,
          created_at: '2011-01-25T18:44:36Z',
        }));
      }

      return page(res, 404, 'Not found', '');
    } catch (e) {
      if (!res.headersSent) page(res, 500, 'Server error', `<p>${escapeHtml(e.message)}</p>`);
      else res.destroy();
    }
  });
  const actual = await listen(server, port);
  return { origin: `http://127.0.0.1:${actual}`, port: actual, requests, stop: closer(server) };
}
