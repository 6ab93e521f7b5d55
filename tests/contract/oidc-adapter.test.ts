/**
 * The oidc-provider storage adapter (server/protocols/oidc/adapter.ts) against both ArtifactStore implementations:
 * the memory store and a real redis-server. The adapter contract first (upsert/find, expiry, one-use consume and
 * its race, revocation by grant, the uid and user-code indexes, clients from configuration, hostile ids), then
 * panva's oidc-provider itself on top of the adapter answering real token requests: two redemptions of one code
 * or one refresh token racing (on two provider "nodes" sharing one Redis in the farm case) give exactly one 200
 * and 400 invalid_grant for the rest, never a 5xx.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import Provider, { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { createClient } from 'redis';
import { resolveConfig } from '../../server/config/load.ts';
import type { RedisStoreConfig } from '../../server/config/schema.ts';
import { FixedClock, systemClock, type Clock } from '../../server/lib/clock.ts';
import { storeAdapter, type StoreAdapterOptions } from '../../server/protocols/oidc/adapter.ts';
import { MemoryStore } from '../../server/stores/memory.ts';
import { RedisStore } from '../../server/stores/redis.ts';
import type { ArtifactStore } from '../../server/stores/types.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';

let redis: TestRedis;
let prefixes = 0;

before(async () => {
  redis = await startRedis({ password: 'oidc-adapter-secret' });
});
after(async () => {
  await redis.stop();
});

interface Harness {
  /** A store on the backend; on Redis every call gives a new client (another "node") on the same keyspace. */
  store(): ArtifactStore;
  clock: FixedClock;
  /** Moves the adapter's clock and the store's expiry forward by ms (no sleeping). */
  advance(ms: number): Promise<void>;
  /** Every raw key and value of this harness's keyspace (Redis only: what an operator or intruder reads). */
  dump?(): Promise<Map<string, string>>;
  close(): Promise<void>;
}

function redisConfig(): RedisStoreConfig {
  const c = resolveConfig(
    { store: { kind: 'redis', url: redis.url, keyPrefix: `oidc-t${++prefixes}:` } },
    { env: {}, baseDir: '/', source: 'test', embeddedDefaults: false },
  ).store;
  assert.equal(c.kind, 'redis');
  return c;
}

const newAdmin = () => createClient({ url: redis.url });

async function withAdmin<T>(fn: (admin: ReturnType<typeof newAdmin>) => Promise<T>): Promise<T> {
  const admin = newAdmin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

const backends: Record<string, () => Harness> = {
  memory: () => {
    const clock = new FixedClock();
    const store = new MemoryStore(clock);
    return {
      store: () => store,
      clock,
      advance: (ms) => {
        clock.advance(ms);
        return Promise.resolve();
      },
      close: () => store.close(),
    };
  },
  redis: () => {
    const clock = new FixedClock();
    const config = redisConfig();
    const opened: RedisStore[] = [];
    return {
      store: () => {
        const s = RedisStore.create(config, { baseDir: '/' });
        opened.push(s);
        return s;
      },
      clock,
      // Redis's own expiry, moved forward: every key of this prefix loses `ms` of its remaining TTL.
      advance: async (ms) => {
        clock.advance(ms);
        await withAdmin(async (admin) => {
          for await (const keys of admin.scanIterator({ MATCH: `${config.keyPrefix}*` })) {
            for (const key of keys) {
              const left = await admin.pTTL(key);
              if (left < 0) continue;
              if (left - ms <= 0) await admin.del(key);
              else await admin.pExpire(key, left - ms);
            }
          }
        });
      },
      dump: () =>
        withAdmin(async (admin) => {
          const out = new Map<string, string>();
          for await (const keys of admin.scanIterator({ MATCH: `${config.keyPrefix}*` })) {
            for (const key of keys) out.set(key, (await admin.get(key)) ?? '');
          }
          return out;
        }),
      close: async () => {
        await Promise.all(opened.map((s) => s.close()));
      },
    };
  },
};

/** A random 43-character id, like oidc-provider's (256 bits, base64url). */
function rid(): string {
  return createHash('sha256')
    .update(String(Math.random()))
    .update(String(process.hrtime.bigint()))
    .digest('base64url');
}

function tokenPayload(
  clock: Clock,
  kind: string,
  jti: string,
  extra: Partial<AdapterPayload> = {},
): AdapterPayload {
  const iat = Math.floor(clock.now().getTime() / 1000);
  return { iat, exp: iat + 600, kind, jti, clientId: 'app', accountId: 'alice', ...extra };
}

function adapters(
  store: ArtifactStore,
  h: Harness,
  opts: StoreAdapterOptions = {},
): (name: string) => Adapter {
  const A = storeAdapter(store, { clock: h.clock, ...opts });
  return (name) => new A(name);
}

/** Settles every promise; the number fulfilled and the rejections. */
async function race(ps: Promise<unknown>[]): Promise<{ won: number; errors: unknown[] }> {
  const rs = await Promise.allSettled(ps);
  return {
    won: rs.filter((r) => r.status === 'fulfilled').length,
    errors: rs.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : [])),
  };
}

function assertInvalidGrant(e: unknown): void {
  assert.ok(e instanceof errors.InvalidGrant, `expected InvalidGrant, got ${String(e)}`);
  assert.equal(e.statusCode, 400, 'invalid_grant is a 400');
  assert.equal(e.error, 'invalid_grant', 'error code');
}

for (const [backend, make] of Object.entries(backends)) {
  const name = `oidc adapter on the ${backend} store`;

  test(`${name}: upsert/find round trip; unknown ids are undefined`, async () => {
    const h = make();
    try {
      const m = adapters(h.store(), h);
      const at = m('AccessToken');
      const id = rid();
      const payload = tokenPayload(h.clock, 'AccessToken', id, { grantId: rid(), scope: 'openid' });
      await at.upsert(id, payload, 600);
      assert.deepEqual(
        await at.find(id),
        payload,
        'the payload as the provider wrote it, jti included',
      );
      assert.equal(await at.find(rid()), undefined, 'unknown id');
      assert.equal(await m('RefreshToken').find(id), undefined, 'models are separate');
      const session = m('Session');
      const sid = rid();
      const sPayload = {
        iat: 1,
        exp: 2,
        kind: 'Session',
        jti: sid,
        uid: rid(),
        accountId: 'alice',
      };
      await session.upsert(sid, sPayload, 600);
      assert.deepEqual(await session.find(sid), sPayload);
    } finally {
      await h.close();
    }
  });

  test(`${name}: records expire with the expiresIn the provider gave, indexes too`, async () => {
    const h = make();
    try {
      const m = adapters(h.store(), h);
      const code = rid();
      const sid = rid();
      const uid = rid();
      const dc = rid();
      await m('AuthorizationCode').upsert(
        code,
        tokenPayload(h.clock, 'AuthorizationCode', code),
        2,
      );
      await m('Session').upsert(sid, { kind: 'Session', jti: sid, uid }, 2);
      await m('DeviceCode').upsert(
        dc,
        tokenPayload(h.clock, 'DeviceCode', dc, { userCode: 'BCDF-GHJK' }),
        2,
      );
      await h.advance(1000);
      assert.notEqual(await m('AuthorizationCode').find(code), undefined, 'alive after 1 s');
      assert.notEqual(await m('Session').findByUid(uid), undefined, 'uid index alive after 1 s');
      assert.notEqual(
        await m('DeviceCode').findByUserCode('BCDF-GHJK'),
        undefined,
        'user code alive',
      );
      await h.advance(1500);
      assert.equal(await m('AuthorizationCode').find(code), undefined, 'gone after 2.5 s');
      assert.equal(await m('Session').find(sid), undefined, 'session gone');
      assert.equal(await m('Session').findByUid(uid), undefined, 'uid index gone');
      // A device code may be kept a grace period past its expiry (expired_token for a late poll): within an hour.
      await h.advance(3600_000);
      assert.equal(await m('DeviceCode').find(dc), undefined, 'device code gone');
      assert.equal(await m('DeviceCode').findByUserCode('BCDF-GHJK'), undefined, 'user code gone');
    } finally {
      await h.close();
    }
  });

  test(`${name}: consume stamps consumed (epoch seconds); a second consume is refused`, async () => {
    const h = make();
    try {
      const m = adapters(h.store(), h);
      const code = rid();
      const grantId = rid();
      await m('AuthorizationCode').upsert(
        code,
        tokenPayload(h.clock, 'AuthorizationCode', code, { grantId }),
        60,
      );
      assert.equal((await m('AuthorizationCode').find(code))?.consumed, undefined, 'fresh code');
      h.clock.advance(5000);
      await m('AuthorizationCode').consume(code);
      const after = await m('AuthorizationCode').find(code);
      assert.equal(after?.consumed, Math.floor(h.clock.now().getTime() / 1000), 'consumed = now');
      await assert.rejects(m('AuthorizationCode').consume(code), (e) => {
        assertInvalidGrant(e);
        return true;
      });
      // Unknown or hostile ids: a refusal the provider renders as 400, never a crash.
      for (const odd of [rid(), '', 'x'.repeat(600)]) {
        await assert.rejects(m('RefreshToken').consume(odd), (e) => {
          assertInvalidGrant(e);
          return true;
        });
      }
    } finally {
      await h.close();
    }
  });

  test(`${name}: N concurrent consumes of one code or refresh token, on N nodes: exactly one wins, the grant dies`, async () => {
    const h = make();
    try {
      for (const model of ['AuthorizationCode', 'RefreshToken']) {
        const grantId = rid();
        const id = rid();
        const otherAt = rid();
        // Each racer is its own adapter over its own store client: on Redis, separate connections (farm nodes).
        const nodes = Array.from({ length: 12 }, () => adapters(h.store(), h));
        const first = nodes[0];
        assert.ok(first);
        await first(model).upsert(id, tokenPayload(h.clock, model, id, { grantId }), 600);
        await first('AccessToken').upsert(
          otherAt,
          tokenPayload(h.clock, 'AccessToken', otherAt, { grantId }),
          600,
        );
        await first('Grant').upsert(
          grantId,
          { kind: 'Grant', jti: grantId, accountId: 'alice' },
          600,
        );
        const r = await race(nodes.map((n) => n(model).consume(id)));
        assert.equal(r.won, 1, `${model}: exactly one consume succeeds`);
        assert.equal(r.errors.length, nodes.length - 1);
        for (const e of r.errors) assertInvalidGrant(e);
        // A reuse kills the grant: its tokens and the Grant record are gone for the provider.
        assert.equal(
          await first('AccessToken').find(otherAt),
          undefined,
          `${model}: grant's AT dead`,
        );
        assert.equal(await first(model).find(id), undefined, `${model}: the raced credential dead`);
        assert.equal(await first('Grant').find(grantId), undefined, `${model}: Grant destroyed`);
        const later = rid();
        await first('AccessToken').upsert(
          later,
          tokenPayload(h.clock, 'AccessToken', later, { grantId }),
          600,
        );
        assert.equal(
          await first('AccessToken').find(later),
          undefined,
          'and stays dead for new tokens',
        );
      }
    } finally {
      await h.close();
    }
  });

  test(`${name}: revokeByGrantId makes every token of the grant unfindable, not another grant's`, async () => {
    const h = make();
    try {
      const m = adapters(h.store(), h);
      const [gA, gB] = [rid(), rid()];
      const models = ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode'];
      const ids = new Map<string, { a: string; b: string }>();
      for (const model of models) {
        const a = rid();
        const b = rid();
        ids.set(model, { a, b });
        await m(model).upsert(a, tokenPayload(h.clock, model, a, { grantId: gA }), 600);
        await m(model).upsert(b, tokenPayload(h.clock, model, b, { grantId: gB }), 600);
      }
      await m('Grant').upsert(gA, { kind: 'Grant', jti: gA, accountId: 'alice' }, 600);
      // As oidc-provider's revoke helper does: each token model's adapter, concurrently.
      await Promise.all(models.map((model) => m(model).revokeByGrantId(gA)));
      for (const model of models) {
        const { a, b } = ids.get(model) ?? assert.fail();
        assert.equal(await m(model).find(a), undefined, `${model} of the revoked grant`);
        assert.notEqual(await m(model).find(b), undefined, `${model} of the other grant`);
      }
      // The Grant record is the provider's to destroy (revokeGrantPolicy): kept, and a token issued on it after
      // the revocation (e.g. the revocation of one access token, then a new authorization) works.
      assert.notEqual(await m('Grant').find(gA), undefined, 'Grant record kept');
      const fresh = rid();
      await m('AccessToken').upsert(
        fresh,
        tokenPayload(h.clock, 'AccessToken', fresh, { grantId: gA }),
        600,
      );
      assert.notEqual(
        await m('AccessToken').find(fresh),
        undefined,
        'token issued after the revocation',
      );
      await m('RefreshToken').revokeByGrantId(gA);
      assert.equal(await m('AccessToken').find(fresh), undefined, 'a second revocation covers it');
    } finally {
      await h.close();
    }
  });

  test(`${name}: findByUid and findByUserCode; destroy drops record and index`, async () => {
    const h = make();
    try {
      const m = adapters(h.store(), h);
      const sid = rid();
      const uid = rid();
      await m('Session').upsert(sid, { kind: 'Session', jti: sid, uid, accountId: 'alice' }, 600);
      assert.equal((await m('Session').findByUid(uid))?.jti, sid);
      assert.equal(await m('Session').findByUid(rid()), undefined);
      // A renewed session id keeps its uid (Session.resetIdentifier): the old id's destroy leaves the index alone.
      const sid2 = rid();
      await m('Session').upsert(sid2, { kind: 'Session', jti: sid2, uid, accountId: 'alice' }, 600);
      await m('Session').destroy(sid);
      assert.equal((await m('Session').findByUid(uid))?.jti, sid2);
      await m('Session').destroy(sid2);
      assert.equal(await m('Session').findByUid(uid), undefined);

      const dc = rid();
      await m('DeviceCode').upsert(
        dc,
        tokenPayload(h.clock, 'DeviceCode', dc, { userCode: 'WXYZ-BCDF' }),
        600,
      );
      const found = await m('DeviceCode').findByUserCode('WXYZ-BCDF');
      assert.equal(
        found?.jti,
        dc,
        'the device code id comes back (the provider saves the approval on it)',
      );
      assert.equal(await m('DeviceCode').findByUserCode('WXYZ-BCDG'), undefined);
      await m('DeviceCode').destroy(dc);
      assert.equal(await m('DeviceCode').findByUserCode('WXYZ-BCDF'), undefined);
    } finally {
      await h.close();
    }
  });

  test(`${name}: Client is read from the configuration, never written`, async () => {
    const h = make();
    try {
      const apps: Record<string, Record<string, unknown>> = {
        app: { client_id: 'app', redirect_uris: ['https://app.example/cb'] },
        // A lookup answering for another id must not hand that client out.
        alias: { client_id: 'app' },
      };
      const lookups: string[] = [];
      const m = adapters(h.store(), h, {
        clients: (id) => {
          lookups.push(id);
          return apps[id];
        },
      });
      const client = m('Client');
      assert.deepEqual(await client.find('app'), apps.app);
      assert.equal(await client.find('nobody'), undefined);
      assert.equal(await client.find('alias'), undefined);
      // A plain-object lookup answers for inherited names: refused.
      assert.equal(await client.find('constructor'), undefined);
      assert.equal(await client.find('__proto__'), undefined);
      assert.equal(await client.find('x'.repeat(600)), undefined, 'over-long id: no lookup');
      assert.ok(!lookups.includes('x'.repeat(600)));
      await client.upsert(
        'evil',
        { client_id: 'evil', redirect_uris: ['https://evil.example'] },
        600,
      );
      await client.consume('app');
      await client.destroy('app');
      await client.revokeByGrantId('app');
      assert.equal(await client.find('evil'), undefined, 'upsert wrote nothing');
      assert.deepEqual(await client.find('app'), apps.app, 'destroy removed nothing');
      if (h.dump) assert.equal((await h.dump()).size, 0, 'nothing in Redis');
    } finally {
      await h.close();
    }
  });

  test(`${name}: hostile ids never throw from find and never reach a key`, async () => {
    const h = make();
    try {
      const m = adapters(h.store(), h);
      const odd = [
        '',
        'x'.repeat(513),
        '__proto__',
        'constructor',
        '*',
        'a:b:c',
        '\u0000\r\n',
        '💥'.repeat(100),
        'grant-revoked:x',
      ];
      for (const model of ['AccessToken', 'Session', 'Grant', 'DeviceCode', 'ReplayDetection']) {
        for (const id of odd) {
          if (model !== 'ReplayDetection')
            assert.equal(await m(model).find(id), undefined, `${model} ${id}`);
          assert.equal(await m(model).findByUid(id), undefined);
          assert.equal(await m(model).findByUserCode(id), undefined);
          await m(model).destroy(id);
          await m(model).revokeByGrantId(id);
        }
        for (const id of [1, null, undefined, {}, ['a']] as unknown[]) {
          assert.equal(await m(model).find(id as string), undefined, `${model} non-string`);
        }
      }
      // A 512-character id is accepted; 513 is refused by find (and by upsert, loudly: ids come from the provider).
      const long = 'y'.repeat(512);
      await m('Interaction').upsert(long, { kind: 'Interaction', jti: long }, 60);
      assert.equal((await m('Interaction').find(long))?.jti, long);
      await assert.rejects(
        m('Interaction').upsert('y'.repeat(513), { kind: 'Interaction' }, 60),
        TypeError,
      );
    } finally {
      await h.close();
    }
  });

  test(`${name}: ReplayDetection is atomic: N concurrent checks of one jti, exactly one "not seen"`, async () => {
    const h = make();
    try {
      const nodes = Array.from({ length: 12 }, () => adapters(h.store(), h)('ReplayDetection'));
      const id = rid();
      const found = await Promise.all(nodes.map((n) => n.find(id)));
      assert.equal(found.filter((f) => f === undefined).length, 1, 'exactly one first use');
      assert.equal(await nodes[0]?.find(id).then((f) => f === undefined), false, 'and later: seen');
    } finally {
      await h.close();
    }
  });

  test(`${name}: while only the winner's consumed marker exists, find already reports consumed`, async () => {
    const h = make();
    try {
      const store = h.store();
      const m = adapters(store, h);
      const code = rid();
      await m('AuthorizationCode').upsert(
        code,
        tokenPayload(h.clock, 'AuthorizationCode', code),
        60,
      );
      // The window between a winner's set-if-absent and its rewrite of the record (the documented key layout).
      const sha = createHash('sha256').update(code).digest('base64url');
      assert.equal(await store.markSeen('oidc', `consumed:AuthorizationCode:${sha}`, 60), true);
      const found = await m('AuthorizationCode').find(code);
      assert.equal(typeof found?.consumed, 'number', 'consumed reported from the marker');
    } finally {
      await h.close();
    }
  });

  if (backend === 'redis') {
    test(`${name}: Redis holds no token, code or session key in clear (corpus C7.2), every key has a TTL`, async () => {
      const h = make();
      try {
        const m = adapters(h.store(), h);
        const secrets: string[] = [];
        for (const model of ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode']) {
          const id = rid();
          secrets.push(id);
          await m(model).upsert(id, tokenPayload(h.clock, model, id, { grantId: rid() }), 600);
        }
        const rt = secrets[1] ?? assert.fail();
        await m('RefreshToken').consume(rt);
        await m('AccessToken').revokeByGrantId(rid());
        const sid = rid();
        await m('Session').upsert(sid, { kind: 'Session', jti: sid, uid: rid() }, 600);
        const dump = await h.dump?.();
        assert.ok(dump && dump.size >= 6, `keys written: ${dump?.size}`);
        for (const [key, value] of dump) {
          for (const s of secrets) {
            assert.ok(!key.includes(s), `key ${key} holds a credential`);
            assert.ok(!value.includes(s), `value of ${key} holds a credential`);
          }
          assert.ok(!key.includes(sid), `key ${key} holds the session id`);
        }
        await withAdmin(async (admin) => {
          for (const key of dump.keys()) assert.ok((await admin.ttl(key)) > 0, `${key} has a TTL`);
        });
        // And the provider still gets its ids back.
        assert.equal((await m('RefreshToken').find(rt))?.jti, rt);
      } finally {
        await h.close();
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// oidc-provider itself on the adapter: real token requests.

const REDIRECT = 'https://app.example/cb';

const CLIENT = {
  client_id: 'app',
  client_secret: 'app-secret-0123456789abcdef0123456789abcdef',
  redirect_uris: [REDIRECT],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_post',
};

const signingJwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
  format: 'jwk',
});

interface Node {
  provider: Provider;
  url: string;
  server: Server;
}

async function startNode(store: ArtifactStore): Promise<Node> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(url, {
    adapter: storeAdapter(store, {
      clock: systemClock,
      clients: (id) => (id === CLIENT.client_id ? { ...CLIENT } : undefined),
    }),
    jwks: { keys: [{ ...signingJwk, kid: 'k1', alg: 'RS256', use: 'sig' }] },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    scopes: ['openid', 'offline_access'],
    pkce: { required: () => false },
    rotateRefreshToken: true,
    issueRefreshToken: () => true,
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, RefreshToken: 3600 },
    features: { devInteractions: { enabled: false } },
  });
  const handle = provider.callback();
  server.on('request', (req, res) => {
    void handle(req, res);
  });
  return { provider, url, server };
}

async function stopNode(n: Node): Promise<void> {
  await new Promise<void>((r) => {
    n.server.close(() => {
      r();
    });
  });
}

/** A code as the authorization endpoint would leave it: a Grant and an AuthorizationCode, saved by the provider. */
async function issueCode(n: Node): Promise<{ code: string; grantId: string }> {
  const { provider } = n;
  const grant = new provider.Grant({ accountId: 'alice', clientId: CLIENT.client_id });
  grant.addOIDCScope('openid offline_access');
  const grantId = await grant.save();
  const client = await provider.Client.find(CLIENT.client_id);
  assert.ok(client, 'client from the configuration');
  const code = await new provider.AuthorizationCode({
    accountId: 'alice',
    grantId,
    client,
    redirectUri: REDIRECT,
    scope: 'openid offline_access',
    gty: 'authorization_code',
  }).save();
  return { code, grantId };
}

async function tokenRequest(
  n: Node,
  params: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${n.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: CLIENT.client_id,
      client_secret: CLIENT.client_secret,
      ...params,
    }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const providerBackends: Record<
  string,
  () => { stores: () => ArtifactStore; close(): Promise<void> }
> = {
  memory: () => {
    const store = new MemoryStore(systemClock);
    return { stores: () => store, close: () => store.close() };
  },
  redis: () => {
    const config = redisConfig();
    const opened: RedisStore[] = [];
    return {
      stores: () => {
        const s = RedisStore.create(config, { baseDir: '/' });
        opened.push(s);
        return s;
      },
      close: async () => {
        await Promise.all(opened.map((s) => s.close()));
      },
    };
  },
};

for (const [backend, make] of Object.entries(providerBackends)) {
  // One provider on the memory store; on Redis two providers (two farm nodes), requests alternating between them.
  const nodeCount = backend === 'redis' ? 2 : 1;
  const name = `oidc-provider on the adapter (${backend} store, ${nodeCount} node${nodeCount > 1 ? 's' : ''})`;

  test(`${name}: one code redeemed by 10 concurrent token requests: one 200, the rest 400 invalid_grant`, async () => {
    const b = make();
    const nodes = await Promise.all(Array.from({ length: nodeCount }, () => startNode(b.stores())));
    try {
      const first = nodes[0] ?? assert.fail();
      const { code } = await issueCode(first);
      const responses = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          tokenRequest(nodes[i % nodes.length] ?? first, {
            grant_type: 'authorization_code',
            code,
            redirect_uri: REDIRECT,
          }),
        ),
      );
      const statuses = responses.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses ${statuses.join(',')}`);
      for (const r of responses.filter((x) => x.status !== 200)) {
        assert.equal(r.status, 400, `statuses ${statuses.join(',')}`);
        assert.equal(r.body.error, 'invalid_grant');
      }
      // The code was used more than once: its grant is revoked (RFC 6749 §4.1.2), the winner's tokens too.
      const won = responses.find((r) => r.status === 200)?.body ?? assert.fail();
      assert.equal(typeof won.access_token, 'string');
      assert.equal(await first.provider.AccessToken.find(won.access_token as string), undefined);
      const refreshed = await tokenRequest(first, {
        grant_type: 'refresh_token',
        refresh_token: won.refresh_token as string,
      });
      assert.equal(refreshed.status, 400);
      assert.equal(refreshed.body.error, 'invalid_grant');
    } finally {
      await Promise.all(nodes.map(stopNode));
      await b.close();
    }
  });

  test(`${name}: one refresh token rotated by 10 concurrent requests: one 200, the rest 400 invalid_grant`, async () => {
    const b = make();
    const nodes = await Promise.all(Array.from({ length: nodeCount }, () => startNode(b.stores())));
    try {
      const first = nodes[0] ?? assert.fail();
      const { code } = await issueCode(first);
      const exchanged = await tokenRequest(first, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
      });
      assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
      const rt = exchanged.body.refresh_token;
      assert.equal(typeof rt, 'string');
      // Sequential reuse first is the provider's own check; here every request races past it.
      const responses = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          tokenRequest(nodes[i % nodes.length] ?? first, {
            grant_type: 'refresh_token',
            refresh_token: rt as string,
          }),
        ),
      );
      const statuses = responses.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses ${statuses.join(',')}`);
      for (const r of responses.filter((x) => x.status !== 200)) {
        assert.equal(r.status, 400, `statuses ${statuses.join(',')}`);
        assert.equal(r.body.error, 'invalid_grant');
      }
      const won = responses.find((r) => r.status === 200)?.body ?? assert.fail();
      const next = await tokenRequest(first, {
        grant_type: 'refresh_token',
        refresh_token: won.refresh_token as string,
      });
      assert.equal(next.status, 400, 'the reuse revoked the grant: the rotated token is dead too');
    } finally {
      await Promise.all(nodes.map(stopNode));
      await b.close();
    }
  });

  test(`${name}: one client-assertion jti checked by 10 concurrent requests: ReplayDetection.unique true once`, async () => {
    const b = make();
    const nodes = await Promise.all(Array.from({ length: nodeCount }, () => startNode(b.stores())));
    try {
      const jti = rid();
      const exp = Math.floor(Date.now() / 1000) + 60;
      const unique = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (nodes[i % nodes.length] ?? assert.fail()).provider.ReplayDetection.unique(
            'app',
            jti,
            exp,
          ),
        ),
      );
      assert.equal(unique.filter(Boolean).length, 1, `unique: ${unique.join(',')}`);
      const again = await (nodes[0] ?? assert.fail()).provider.ReplayDetection.unique(
        'app',
        jti,
        exp,
      );
      assert.equal(again, false, 'and seen afterwards');
    } finally {
      await Promise.all(nodes.map(stopNode));
      await b.close();
    }
  });

  test(`${name}: a code used twice in sequence: 400 and the grant revoked (the provider's own check sees consumed)`, async () => {
    const b = make();
    const nodes = await Promise.all(Array.from({ length: nodeCount }, () => startNode(b.stores())));
    try {
      const first = nodes[0] ?? assert.fail();
      const last = nodes[nodes.length - 1] ?? first;
      const { code, grantId } = await issueCode(first);
      const params = {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
      };
      const one = await tokenRequest(first, params);
      assert.equal(one.status, 200, JSON.stringify(one.body));
      const two = await tokenRequest(last, params);
      assert.equal(two.status, 400);
      assert.equal(two.body.error, 'invalid_grant');
      assert.equal(
        await first.provider.AccessToken.find(one.body.access_token as string),
        undefined,
      );
      assert.equal(await first.provider.Grant.find(grantId), undefined, 'grant destroyed');
    } finally {
      await Promise.all(nodes.map(stopNode));
      await b.close();
    }
  });
}
