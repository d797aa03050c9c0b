// ClassLink-like OpenID Connect provider for the test suite, built on oidc-provider.
//
// Usage: node server.js CONFIG.json
//
// The configuration file (written by oidc_peer.py) holds:
//   host            address to listen on (127.0.0.1)
//   port            port to listen on (0: any free port)
//   client          {client_id, client_secret, redirect_uris, token_endpoint_auth_method}
//   accounts        {accountId: {claims: {sub, email, ...}, info: {UserId, TenantId, ...}}}
//   admin_token     secret for the /__peer/* routes used by the tests
//   cookie_keys     keys signing the provider's cookies
//   ttl             optional lifetimes in seconds (AuthorizationCode, AccessToken, IdToken, ...)
//   parent_pid      optional: exit when this process is gone
//
// Once listening it prints one line: OIDC_PEER_READY {"issuer": "...", "port": N}
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as querystring from 'node:querystring';

import Provider from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

const accounts = new Map(Object.entries(config.accounts ?? {}));
let client = { ...config.client };

function clientMetadata() {
  return {
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: client.token_endpoint_auth_method ?? 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  };
}

// The client is served through the adapter rather than as a static client so
// that its redirect URIs can be changed while the provider runs.
const memoryAdapter = createMemoryAdapter(15);
class ClientAdapter {
  async find(id) {
    return id === client.client_id ? clientMetadata() : undefined;
  }

  async upsert() {}

  async destroy() {}
}
const clientAdapter = new ClientAdapter();

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: crypto.randomUUID(),
  alg: 'RS256',
  use: 'sig',
};

function findAccount(ctx, sub) {
  const account = accounts.get(sub);
  if (!account) {
    return undefined;
  }
  return {
    accountId: sub,
    async claims() {
      // Read the account again: the tests may change it while the provider runs.
      const current = accounts.get(sub) ?? account;
      return { ...current.claims, sub };
    },
  };
}

function sendJson(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(body);
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function constantEquals(a, b) {
  const left = Buffer.from(String(a));
  const right = Buffer.from(String(b));
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}

const server = http.createServer();

server.listen(config.port ?? 0, config.host ?? '127.0.0.1', () => {
  const { address, port } = server.address();
  const issuer = `http://${address}:${port}`;

  const provider = new Provider(issuer, {
    adapter: (model) => (model === 'Client' ? clientAdapter : memoryAdapter(model)),
    findAccount,
    jwks: { keys: [signingKey] },
    cookies: { keys: config.cookie_keys },
    responseTypes: ['code'],
    scopes: ['openid', 'profile', 'email', 'oneroster'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    // Put the profile and email claims in the id_token too, not only at userinfo.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      userinfo: { enabled: true },
    },
    routes: {
      authorization: '/oauth2/v2/auth',
      token: '/oauth2/v2/token',
      userinfo: '/oauth2/v2/userinfo',
      jwks: '/oauth2/v2/jwks',
    },
    ttl: {
      AuthorizationCode: 300,
      AccessToken: 3600,
      IdToken: 3600,
      Grant: 3600,
      Interaction: 600,
      Session: 3600,
      ...(config.ttl ?? {}),
    },
  });

  // ClassLink's user info API: GET /v2/my/info with the access token as a bearer token.
  provider.use(async (ctx, next) => {
    if (ctx.path !== '/v2/my/info') {
      return next();
    }
    if (ctx.method !== 'GET') {
      ctx.set('Allow', 'GET');
      return sendJson(ctx, 405, { error: 'method_not_allowed' });
    }
    const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
    const token = match ? await provider.AccessToken.find(match[1]) : undefined;
    const account = token ? accounts.get(token.accountId) : undefined;
    if (!token || token.isExpired || !account) {
      ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      return sendJson(ctx, 401, { error: 'invalid_token' });
    }
    return sendJson(ctx, 200, account.info);
  });

  // Routes for the tests (guarded by the admin token): change accounts or the
  // client's redirect URIs while the provider runs.
  provider.use(async (ctx, next) => {
    if (!ctx.path.startsWith('/__peer/')) {
      return next();
    }
    if (!constantEquals(ctx.get('x-peer-admin'), config.admin_token)) {
      return sendJson(ctx, 403, { error: 'forbidden' });
    }
    const accountMatch = /^\/__peer\/accounts\/([^/]+)$/.exec(ctx.path);
    if (accountMatch && ctx.method === 'PUT') {
      const id = decodeURIComponent(accountMatch[1]);
      accounts.set(id, await readJson(ctx.req));
      return sendJson(ctx, 200, { ok: true });
    }
    if (accountMatch && ctx.method === 'DELETE') {
      accounts.delete(decodeURIComponent(accountMatch[1]));
      return sendJson(ctx, 200, { ok: true });
    }
    if (ctx.path === '/__peer/client' && ctx.method === 'PUT') {
      client = { ...client, ...(await readJson(ctx.req)) };
      return sendJson(ctx, 200, { ok: true });
    }
    return sendJson(ctx, 404, { error: 'not_found' });
  });

  // The dev sign-in page takes any login name; refuse names that are not accounts,
  // as a real identity provider would.
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && /^\/interaction\/[^/]+$/.test(ctx.path)
      && ctx.is('application/x-www-form-urlencoded')) {
      const chunks = [];
      for await (const chunk of ctx.req) {
        chunks.push(chunk);
      }
      const body = querystring.parse(Buffer.concat(chunks).toString('utf8'));
      if (body.prompt === 'login' && !accounts.has(String(body.login))) {
        ctx.status = 403;
        ctx.type = 'text/plain';
        ctx.body = 'Sign-in failed: unknown account';
        return undefined;
      }
      ctx.request.body = body;
    }
    return next();
  });

  server.on('request', provider.callback());
  console.log(`OIDC_PEER_READY ${JSON.stringify({ issuer, port })}`);
});

// Stop with the test process that started us, even if it could not stop us itself.
if (config.parent_pid) {
  setInterval(() => {
    try {
      process.kill(config.parent_pid, 0);
    } catch {
      process.exit(0);
    }
  }, 1000).unref();
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
