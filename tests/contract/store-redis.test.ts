import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { createClient } from 'redis';
import { resolveConfig } from '../../server/config/load.ts';
import type { RedisStoreConfig } from '../../server/config/schema.ts';
import { RedisStore, StoreUnavailableError } from '../../server/stores/redis.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { storeContract } from './store.contract.ts';

const run = promisify(execFile);
let redis: TestRedis;
let prefixes = 0;

function storeConfig(over: Partial<RedisStoreConfig> = {}): RedisStoreConfig {
  const c = resolveConfig(
    { store: { kind: 'redis', url: redis.url, keyPrefix: `t${++prefixes}:`, ...over } },
    { env: {}, baseDir: '/', source: 'test', embeddedDefaults: false },
  ).store;
  assert.equal(c.kind, 'redis');
  return c;
}

before(async () => {
  redis = await startRedis({ password: 'contract-secret' });
});
after(async () => {
  await redis.stop();
});

/**
 * Time travel for Redis without sleeping: every key of this store's prefix has its remaining TTL cut by `ms`
 * (deleted at 0), which is what the passing of `ms` does to Redis's own expiry.
 */
async function advanceRedis(prefix: string, ms: number): Promise<void> {
  const admin = createClient({ url: redis.url });
  await admin.connect();
  try {
    for await (const keys of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) {
      for (const key of keys) {
        const left = await admin.pTTL(key);
        if (left < 0) continue;
        if (left - ms <= 0) await admin.del(key);
        else await admin.pExpire(key, left - ms);
      }
    }
  } finally {
    await admin.close();
  }
}

storeContract('redis store', () => {
  const config = storeConfig();
  const store = RedisStore.create(config, { baseDir: '/' });
  return Promise.resolve({ store, advance: (ms: number) => advanceRedis(config.keyPrefix, ms) });
});

test('redis store: keys carry the prefix and a TTL in Redis itself', async () => {
  const config = storeConfig();
  const store = RedisStore.create(config, { baseDir: '/' });
  await store.put('session', 's1', { a: 1 }, 120);
  await store.incr('lockoutCounter', 'c1', 30);
  await store.markSeen('replay', 'r1', 45);
  const admin = createClient({ url: redis.url });
  await admin.connect();
  const ttlS = await admin.ttl(`${config.keyPrefix}session:s1`);
  const ttlC = await admin.ttl(`${config.keyPrefix}counter:lockout:c1`);
  const ttlR = await admin.ttl(`${config.keyPrefix}replay:r1`);
  await admin.close();
  assert.ok(ttlS > 100 && ttlS <= 120, `session ttl ${ttlS}`);
  assert.ok(ttlC > 20 && ttlC <= 30, `counter ttl ${ttlC}`);
  assert.ok(ttlR > 30 && ttlR <= 45, `replay ttl ${ttlR}`);
  await store.close();
});

test('redis store: a wrong AUTH password fails closed with a 503 error, never a value', async () => {
  const url = redis.url.replace('contract-secret', 'wrong-secret');
  const config = storeConfig({ url, connectTimeoutMs: 500, commandTimeoutMs: 500 });
  const store = RedisStore.create(config, { baseDir: '/' });
  const err = await store.markSeen('replay', 'x', 60).then(
    () => assert.fail('markSeen must not succeed without AUTH'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof StoreUnavailableError);
  assert.equal(err.status, 503);
  assert.equal(await store.ping(), false);
  await store.close();
});

test('redis store: outage → StoreUnavailableError at once, recovery without a new client', async () => {
  const other = await startRedis();
  const errors: string[] = [];
  const events: string[] = [];
  const config = storeConfig({ url: other.url, commandTimeoutMs: 1000 });
  const store = RedisStore.create(config, {
    baseDir: '/',
    onError: (op) => errors.push(op),
    onConnectionEvent: (e) => events.push(e),
  });
  try {
    await store.put('pendingSignIn', 'a', { x: 1 });
    await other.stop();
    // Replay check fails closed: a rejection, never `true`.
    await assert.rejects(store.markSeen('replay', 'id', 60), StoreUnavailableError);
    await assert.rejects(store.consume('pendingSignIn', 'a'), StoreUnavailableError);
    assert.equal(await store.ping(), false);
    assert.ok(errors.includes('markSeen') && errors.includes('consume'));
    await other.start();
    // The same client reconnects on its own (capped back-off).
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = await store.ping();
      if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(ok, 'store reachable again without restart');
    assert.equal(await store.markSeen('replay', 'id', 60), true);
    assert.equal(await store.markSeen('replay', 'id', 60), false);
    assert.ok(events.includes('error'));
  } finally {
    await store.close();
    await other.stop();
  }
});

test('config: store.kind redis needs a redis:// URL', () => {
  assert.throws(
    () =>
      resolveConfig(
        { store: { kind: 'redis', url: 'http://x' } },
        { env: {}, baseDir: '/', source: 'test', embeddedDefaults: false },
      ),
    /store\.url/,
  );
  const c = resolveConfig(
    {},
    {
      env: { FEDGATE_STORE__KIND: 'redis', FEDGATE_STORE__URL: 'redis://127.0.0.1:6390' },
      baseDir: '/',
      source: 'test',
      embeddedDefaults: false,
    },
  );
  assert.equal(c.store.kind, 'redis');
});

test('redis store over TLS (rediss://) with the CA pinned; a wrong CA is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-redis-tls-'));
  const ossl = (...args: string[]) => run('openssl', args);
  for (const name of ['ca', 'other-ca']) {
    await ossl(
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`],
      ...['-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`)],
    );
  }
  await ossl(
    ...['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost'],
    ...['-keyout', join(dir, 'srv.key'), '-out', join(dir, 'srv.csr')],
  );
  writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await ossl(
    ...['x509', '-req', '-in', join(dir, 'srv.csr'), '-CA', join(dir, 'ca.pem')],
    ...[
      '-CAkey',
      join(dir, 'ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      join(dir, 'ext'),
    ],
    ...['-out', join(dir, 'srv.pem')],
  );
  const tlsRedis = await startRedis({
    password: 'tls-secret',
    tls: { cert: join(dir, 'srv.pem'), key: join(dir, 'srv.key'), ca: join(dir, 'ca.pem') },
  });
  try {
    assert.match(tlsRedis.url, /^rediss:/);
    const good = RedisStore.create(
      storeConfig({ url: tlsRedis.url, tls: { ca: join(dir, 'ca.pem') } }),
      { baseDir: '/' },
    );
    assert.equal(await good.markSeen('replay', 'tls-1', 60), true);
    assert.equal(await good.markSeen('replay', 'tls-1', 60), false);
    await good.close();
    const bad = RedisStore.create(
      storeConfig({
        url: tlsRedis.url,
        tls: { ca: join(dir, 'other-ca.pem') },
        connectTimeoutMs: 500,
        commandTimeoutMs: 500,
      }),
      { baseDir: '/' },
    );
    await assert.rejects(bad.markSeen('replay', 'tls-2', 60), StoreUnavailableError);
    await bad.close();
  } finally {
    await tlsRedis.stop();
  }
});
