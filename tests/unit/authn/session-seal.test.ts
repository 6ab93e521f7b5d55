import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionManager } from '../../../server/authn/session.ts';
import { FixedClock } from '../../../server/lib/clock.ts';
import { cryptoRandom } from '../../../server/lib/random.ts';
import { MemoryStore } from '../../../server/stores/memory.ts';
import { RedisStore } from '../../../server/stores/redis.ts';
import { resolveConfig } from '../../../server/config/load.ts';
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

function manager(store: MemoryStore | RedisStore, secrets: string[], clock = new FixedClock()) {
  return new SessionManager({ store, clock, random: cryptoRandom, lifetimeMinutes: 60, secrets });
}

test('session cookie and record are sealed; rotation keeps sessions; an unknown secret or tampering is refused', async () => {
  const clock = new FixedClock();
  const store = new MemoryStore(clock);
  const before = manager(store, [OLD], clock);
  const s = await before.create(init);
  // The stored record is not readable (no UPN in clear).
  const raw = await store.find<unknown>('session', s.id);
  assert.equal(typeof raw, 'string');
  assert.doesNotMatch(String(raw), /alice/);
  // Rotation: the new secret first, the old one kept → the session survives; new sessions use the new secret.
  const rotated = manager(store, [NEW, OLD], clock);
  assert.equal((await rotated.find(s.id))?.userPrincipalName, 'alice@corp.example.test');
  const s2 = await rotated.create(init);
  assert.equal((await manager(store, [NEW], clock).find(s2.id))?.windowsAccountName, 'CORP\\alice');
  // Old secret dropped → the old cookie no longer opens.
  assert.equal(await manager(store, [NEW], clock).find(s.id), undefined);
  // Tampered or forged ids are refused before any store look-up.
  const flipped = s.id.slice(0, -2) + (s.id.endsWith('AA') ? 'BB' : 'AA');
  assert.equal(await rotated.find(flipped), undefined);
  assert.equal(await rotated.find('abcdefghijklmnopqrstuv'), undefined);
  // A record copied under another id does not open (bound to its id).
  await store.put('session', s2.id, await store.find('session', s.id));
  assert.equal(await rotated.find(s2.id), undefined);
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
