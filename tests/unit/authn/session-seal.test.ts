import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionManager, sessionStoreKey } from '../../../server/authn/session.ts';
import { FixedClock } from '../../../server/lib/clock.ts';
import { cryptoRandom } from '../../../server/lib/random.ts';
import { MemoryStore } from '../../../server/stores/memory.ts';
import { RedisStore } from '../../../server/stores/redis.ts';
import { resolveConfig } from '../../../server/config/load.ts';
import type { ArtifactStore } from '../../../server/stores/types.ts';
import { startRedis } from '../../helpers/redis.ts';

const OLD = 'old-secret-old-secret-old-secret-0001';
const NEW = 'new-secret-new-secret-new-secret-0002';
const init = {
  objectGuid: 'AAAAAAAAAAAAAAAAAAAAAA==',
  windowsAccountName: 'CORP\\alice',
  userPrincipalName: 'alice@corp.example.test',
  authMethod: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
  authInstant: new Date().toISOString(),
};

function manager(store: ArtifactStore, secrets: string[], clock = new FixedClock()) {
  return new SessionManager({ store, clock, random: cryptoRandom, lifetimeMinutes: 60, secrets });
}

/**
 * The real store, wrapped: every call is counted by method and kind before it reaches the store. Lets a test
 * assert that a forged cookie never costs a store look-up (corpus C5.2), rather than inferring it.
 */
function spied(store: ArtifactStore): { store: ArtifactStore; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(`${String(prop)}:${String(args[0])}`);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

test('session cookie and record are sealed; rotation keeps sessions; an unknown secret or tampering is refused', async () => {
  const clock = new FixedClock();
  const store = new MemoryStore(clock);
  const before = manager(store, [OLD], clock);
  const s = await before.create(init);
  // The stored record is not readable (no UPN in clear).
  const raw = await store.find<unknown>('session', sessionStoreKey(s.id));
  assert.equal(typeof raw, 'string');
  assert.doesNotMatch(String(raw), /alice/);
  // Nothing is kept under the cookie value itself: a reader of the store cannot paste a key into a browser (C7.2).
  assert.equal(await store.find('session', s.id), undefined);
  assert.notEqual(sessionStoreKey(s.id), s.id);
  // Rotation: the new secret first, the old one kept → the session survives; new sessions use the new secret.
  const rotated = manager(store, [NEW, OLD], clock);
  assert.equal((await rotated.find(s.id))?.userPrincipalName, 'alice@corp.example.test');
  const s2 = await rotated.create(init);
  assert.equal((await manager(store, [NEW], clock).find(s2.id))?.windowsAccountName, 'CORP\\alice');
  // Old secret dropped → the old cookie no longer opens.
  assert.equal(await manager(store, [NEW], clock).find(s.id), undefined);
  // Tampered or forged ids are refused before any store look-up: the spy sees no call at all.
  const spy = spied(store);
  const watched = manager(spy.store, [NEW, OLD], clock);
  const flipped = s.id.slice(0, -2) + (s.id.endsWith('AA') ? 'BB' : 'AA');
  // A well-formed handle sealed by a secret this farm never had: right shape, wrong key.
  const foreign = (
    await manager(new MemoryStore(clock), ['foreign-secret-foreign-secret-0003'], clock).create(
      init,
    )
  ).id;
  for (const forged of [flipped, foreign, 'abcdefghijklmnopqrstuv']) {
    assert.equal(await watched.find(forged), undefined, forged);
    assert.equal(await watched.destroy(forged), undefined, forged);
  }
  assert.equal(spy.calls.length, 0, `forged ids reached the store: ${spy.calls.join(',')}`);
  // Control: a genuine id does reach the store through the same spy (the spy sees what it should).
  assert.equal((await watched.find(s.id))?.userPrincipalName, 'alice@corp.example.test');
  assert.ok(spy.calls.includes('find:session'), spy.calls.join(','));
  // A record copied under another id does not open (bound to its id).
  await store.put(
    'session',
    sessionStoreKey(s2.id),
    await store.find('session', sessionStoreKey(s.id)),
  );
  assert.equal(await rotated.find(s2.id), undefined);
});

test('a session past its lifetime is refused even when the store still holds the record', async () => {
  // The store's TTL is not the only guard: a record kept longer (a Redis replica with a lagging expiry, a
  // restored backup) must not revive the session (corpus C5.2). Only the record's TTL differs from normal.
  const clock = new FixedClock();
  const store = new MemoryStore(clock);
  const m = manager(store, [NEW], clock);
  const s = await m.create(init);
  await store.put(
    'session',
    sessionStoreKey(s.id),
    await store.find('session', sessionStoreKey(s.id)),
    24 * 3600,
  );
  clock.advance(59 * 60_000);
  assert.equal(
    (await m.find(s.id))?.windowsAccountName,
    'CORP\\alice',
    'still valid within its lifetime',
  );
  clock.advance(2 * 60_000);
  assert.ok(
    (await store.find('session', sessionStoreKey(s.id))) !== undefined,
    'the store still holds the record',
  );
  assert.equal(await m.find(s.id), undefined);
});

test('store outage: a session that cannot be checked counts as none (sign in again), never as valid', async () => {
  const redis = await startRedis();
  const cfg = resolveConfig(
    { store: { kind: 'redis', url: redis.url, commandTimeoutMs: 500 } },
    { env: {}, baseDir: '/', source: 'test', embeddedDefaults: false },
  ).store;
  assert.equal(cfg.kind, 'redis');
  const store = RedisStore.create(cfg, { baseDir: '/' });
  try {
    const m = manager(store, [NEW]);
    const s = await m.create(init);
    assert.ok((await m.find(s.id)) !== undefined);
    await redis.stop();
    assert.equal(await m.find(s.id), undefined);
    // Creating a session is a write: it fails closed with the 503 error.
    await assert.rejects(m.create(init), (e: unknown) => (e as { status?: number }).status === 503);
  } finally {
    await store.close();
    await redis.stop();
  }
});
