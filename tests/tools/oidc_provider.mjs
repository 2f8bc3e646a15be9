// A real OpenID Connect provider (node-oidc-provider) for LEAP's tests: the portal signs in
// against it exactly as it would against a university's single sign-on.
//
// usage: node oidc_provider.mjs --port 9400 --users users.json --clients clients.json [--host 127.0.0.1]
//   (or OIDC_HOST, OIDC_PORT, OIDC_USERS, OIDC_CLIENTS in the environment)
// users.json:   [{"username": "s1001", "password": "...", "name": "Ada Lovelace",
//                 "email": "ada@example.ac.uk", "sub": "optional, defaults to username"}]
// clients.json: [{"client_id": "portal", "client_secret": "...",
//                 "redirect_uris": ["http://127.0.0.1:8000/auth/callback"],
//                 "post_logout_redirect_uris": ["http://127.0.0.1:8000/"],
//                 "token_endpoint_auth_method": "client_secret_basic" | "client_secret_post"}]
//   (any other client metadata the library knows is passed through)
//
// The issuer is http://HOST:PORT. Users sign in on a real login page that checks the password;
// consent is granted without a page for every configured client (they are all first-party).
// State is in memory: a restart forgets sessions and tokens.
import { generateKeyPairSync, randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import Provider from 'oidc-provider';

const fail = (message) => {
  console.error(`oidc_provider: error: ${message}`);
  process.exit(2);
};

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: process.env.OIDC_HOST ?? '127.0.0.1' },
    port: { type: 'string', default: process.env.OIDC_PORT },
    users: { type: 'string', default: process.env.OIDC_USERS },
    clients: { type: 'string', default: process.env.OIDC_CLIENTS },
  },
});
const port = Number(args.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535) fail(`--port must be 1-65535, got ${args.port}`);
if (!args.users) fail('--users FILE is required');
if (!args.clients) fail('--clients FILE is required');

function readJsonList(path, what) {
  let data;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    fail(`cannot read ${what} from ${path}: ${err.message}`);
  }
  const list = Array.isArray(data) ? data : [data];
  if (list.length === 0) fail(`${path} lists no ${what}`);
  return list;
}

// ------------------------------------------------------------------ users
const users = new Map();
for (const [i, user] of readJsonList(args.users, 'users').entries()) {
  for (const key of ['username', 'password', 'name', 'email']) {
    if (typeof user[key] !== 'string' || !user[key]) fail(`user #${i} in ${args.users} has no "${key}"`);
  }
  if (users.has(user.username)) fail(`user "${user.username}" is listed twice in ${args.users}`);
  users.set(user.username, { ...user, sub: user.sub ?? user.username });
}
const bySub = new Map([...users.values()].map((u) => [u.sub, u]));

// Compares digests so the time taken does not depend on how much of the password matched.
const digest = (s) => createHash('sha256').update(s, 'utf8').digest();
const passwordMatches = (user, given) => timingSafeEqual(digest(user.password), digest(given));

// ------------------------------------------------------------------ clients
const clients = readJsonList(args.clients, 'clients').map((client, i) => {
  for (const key of ['client_id', 'client_secret']) {
    if (typeof client[key] !== 'string' || !client[key]) fail(`client #${i} in ${args.clients} has no "${key}"`);
  }
  // A machine client (grant_types ["client_credentials"], as a Kafka client using OAUTHBEARER)
  // signs nobody in, so it needs no redirect URI.
  const machine = Array.isArray(client.grant_types) && client.grant_types.length === 1 && client.grant_types[0] === 'client_credentials';
  if (!machine && (!Array.isArray(client.redirect_uris) || client.redirect_uris.length === 0)) {
    fail(`client "${client.client_id}" has no redirect_uris`);
  }
  return {
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: machine ? [] : ['code'],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    post_logout_redirect_uris: [],
    ...client,
  };
});

// ------------------------------------------------------------------ provider
const issuer = `http://${args.host}:${port}`;
// A fresh signing key per start: tests fetch the JWKS, nothing outlives the process.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  // Put the scopes' claims in the ID token too (not only at userinfo): an RP such as Authlib's
  // Starlette client reads the signed-in user from the ID token.
  conformIdTokenClaims: false,
  // PKCE (S256) is accepted from every client and required only from public ones, as RFC 9700
  // asks; confidential clients may still send it (the portal does).
  pkce: { methods: ['S256'], required: (ctx, client) => client.clientAuthMethod === 'none' },
  async findAccount(ctx, sub) {
    const user = bySub.get(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, name: user.name, email: user.email, email_verified: true, preferred_username: user.username };
      },
    };
  },
  features: {
    devInteractions: { enabled: false }, // it would accept any username and password
    rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    clientCredentials: { enabled: true },
  },
  renderError,
  // Explicit lifetimes (hours for a test run) also silence the library's "set these" warnings.
  ttl: {
    AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600,
    Grant: 86400, Session: 86400, RefreshToken: 86400, ClientCredentials: 3600,
  },
});

// ------------------------------------------------------------------ pages
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Small, plain and accessible (the portal's browser tests run axe on whatever they pass through).
function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
label,input,button{display:block;font-size:1rem}input{margin:.25rem 0 1rem;padding:.4rem;width:100%;box-sizing:border-box}
button{padding:.5rem 1rem;margin-bottom:.5rem}.error{color:#a00000;border-left:4px solid #a00000;padding-left:.5rem}</style>
</head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;
}

function loginPage(uid, clientId, { username = '', error = '' } = {}) {
  const alert = error ? `<p class="error" role="alert" id="login-error">${escape(error)}</p>` : '';
  return page('Sign in to the test university', `<p>to continue to ${escape(clientId)}</p>${alert}
<form method="post" action="/interaction/${uid}/login">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required value="${escape(username)}"${error ? ' aria-describedby="login-error"' : ''}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>`);
}

async function logoutSource(ctx, form) {
  // `form` is the library's hidden form (id op.logoutForm) carrying the xsrf token.
  ctx.body = page('Sign out', `${form}<p>Do you want to sign out of the test university?</p>
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = page('Signed out', '<p>You have signed out of the test university.</p>');
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  const lines = Object.entries(out).map(([k, v]) => `<p><strong>${escape(k)}</strong>: ${escape(v)}</p>`);
  ctx.body = page('Sign-in error', lines.join(''));
}

// ------------------------------------------------------------------ interactions
async function formBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
}

// Grants what the client asked for: every configured client is first-party, so no consent page.
async function grantConsent(details) {
  const { prompt: { details: missing }, params, session: { accountId } } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return { consent: { grantId: await grant.save() } };
}

// /interaction/UID (GET: the login page or auto-consent), /interaction/UID/login and /abort (POST).
async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Sign-in error', '<p>This sign-in link has expired.</p>'));
  const clientId = details.params.client_id;
  if (req.method === 'GET' && !action) {
    if (details.prompt.name === 'consent') return provider.interactionFinished(req, res, await grantConsent(details));
    return send(res, 200, loginPage(uid, clientId));
  }
  if (req.method === 'POST' && action === 'abort') {
    const result = { error: 'access_denied', error_description: 'sign-in cancelled' };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await formBody(req);
    const username = form.get('username') ?? '';
    const user = users.get(username);
    if (!user || !passwordMatches(user, form.get('password') ?? '')) {
      return send(res, 200, loginPage(uid, clientId, { username, error: 'Wrong username or password.' }));
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
  }
  return send(res, 405, page('Sign-in error', '<p>Method not allowed.</p>'));
}

const providerCallback = provider.callback();
const server = createServer(async (req, res) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login|abort))?\/?$/.exec(new URL(req.url, issuer).pathname);
  if (!match) return providerCallback(req, res);
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (err) {
    // An unknown or expired interaction (no cookie, restarted provider) is the user's problem, not a crash.
    console.error(`oidc_provider: interaction ${match[1]}: ${err.message}`);
    if (!res.headersSent) send(res, 400, page('Sign-in error', `<p>${escape(err.message)}</p>`));
  }
});
server.on('error', (err) => fail(`cannot listen on ${args.host}:${port}: ${err.message}`));
server.listen(port, args.host, () => {
  const names = clients.map((c) => c.client_id).join(', ');
  console.log(`oidc_provider: listening on ${issuer} (issuer ${issuer}, ${users.size} users, clients: ${names})`);
});
// Everything is in memory, so stopping at once loses nothing worth keeping.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
