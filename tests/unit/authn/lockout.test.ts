import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accountKey, SmartLockout } from '../../../server/authn/lockout.ts';
import { SprayGuard } from '../../../server/authn/spray.ts';
import { lockoutSchema } from '../../../server/config/schema.ts';
import { FixedClock } from '../../../server/lib/clock.ts';
import { MemoryStore } from '../../../server/stores/memory.ts';

function make(over: Record<string, unknown> = {}) {
  const clock = new FixedClock();
  const store = new MemoryStore(clock);
  const config = lockoutSchema.parse({ threshold: 3, observationWindowMinutes: 10, ...over });
  return { clock, store, lockout: new SmartLockout({ store, clock, config }), config };
}

test('threshold, one attempt after the window, then locked again at once (C1.3)', async () => {
  const { clock, lockout } = make();
  for (let i = 0; i < 3; i++) {
    assert.equal((await lockout.check('a', 'unknown')).allowed, true);
    await lockout.recordFailure('a', 'unknown');
  }
  assert.equal((await lockout.check('a', 'unknown')).allowed, false);
  assert.equal((await lockout.check('a', 'familiar')).allowed, true, 'familiar class unaffected');
  clock.advance(10 * 60_000 + 1000);
  const probe = await lockout.check('a', 'unknown');
  assert.deepEqual([probe.allowed, probe.windowProbe], [true, true]);
  assert.equal((await lockout.check('a', 'unknown')).allowed, false, 'only one probe per window');
  await lockout.recordFailure('a', 'unknown');
  clock.advance(5 * 60_000);
  assert.equal((await lockout.check('a', 'unknown')).allowed, false);
});

test('log-only mode reports the lock but lets the attempt through', async () => {
  const { lockout } = make({ mode: 'log-only' });
  for (let i = 0; i < 3; i++) await lockout.recordFailure('a', 'unknown');
  await lockout.check('a', 'unknown'); // takes the first probe
  const d = await lockout.check('a', 'unknown');
  assert.deepEqual([d.locked, d.allowed], [true, true]);
});

test('familiar locations: learned on success, at most N, every presented address must be familiar', async () => {
  const { lockout } = make({ maxFamiliarLocations: 2 });
  await lockout.recordSuccess('a', ['10.0.0.1'], 'unknown');
  await lockout.recordSuccess('a', ['::ffff:10.0.0.2'], 'unknown');
  assert.equal(await lockout.classify('a', ['10.0.0.2']), 'familiar');
  assert.equal(await lockout.classify('a', ['10.0.0.1', '10.0.0.2']), 'familiar');
  assert.equal(await lockout.classify('a', ['10.0.0.1', '10.9.9.9']), 'unknown');
  await lockout.recordSuccess('a', ['10.0.0.3'], 'unknown');
  assert.equal(await lockout.classify('a', ['10.0.0.1']), 'unknown', 'oldest evicted');
  assert.equal((await lockout.show('a')).familiarLocations.length, 2);
});

test('a success clears only its own class; admin reset clears both', async () => {
  const { lockout } = make();
  for (let i = 0; i < 3; i++) {
    await lockout.recordFailure('a', 'unknown');
    await lockout.recordFailure('a', 'familiar');
  }
  await lockout.recordSuccess('a', ['10.0.0.1'], 'familiar');
  const s = await lockout.show('a');
  assert.deepEqual([s.familiar.count, s.unknown.count], [0, 3]);
  await lockout.reset('a');
  assert.equal((await lockout.show('a')).unknown.count, 0);
});

test('unknown names are keyed by a normalised form (C1.6)', () => {
  for (const n of ['JDoe', 'jdoe', 'CORP\\jdoe', ' jdoe ', 'ｊｄｏｅ'])
    assert.equal(accountKey(undefined, n), 'name:jdoe', n);
});

test('banned lists: IPv4/IPv6/CIDR, invalid entries refused at start', () => {
  const clock = new FixedClock();
  // Entry-level parsing is tested in tests/unit/lib/ip.test.ts; here: a bad entry stops the guard being made.
  for (const bad of ['10.0.0.0/33', 'not-an-ip'])
    assert.throws(
      () =>
        new SprayGuard({
          store: new MemoryStore(clock),
          clock,
          config: lockoutSchema.parse({ bannedAddresses: [bad] }),
        }),
      new RegExp(`"${bad}"`),
    );
  const config = lockoutSchema.parse({
    bannedAddresses: ['10.1.0.0/16', '2001:db8::/32', '192.0.2.7'],
  });
  const g = new SprayGuard({ store: new MemoryStore(clock), clock, config });
  assert.equal(g.isBanned(['10.1.2.3']), true);
  assert.equal(g.isBanned(['::ffff:10.1.2.3']), true);
  assert.equal(g.isBanned(['2001:db8::1']), true);
  assert.equal(g.isBanned(['192.0.2.8', '10.2.0.1']), false);
  assert.equal(g.isBanned(['192.0.2.8', '192.0.2.7']), true, 'any presented address');
});

test('per-source budget: a source that spent its failures is refused for the rest of the window (C1.1)', async () => {
  const clock = new FixedClock();
  const store = new MemoryStore(clock);
  const config = lockoutSchema.parse({
    spray: { maxFailuresPerSource: 3, distinctAccountsAlert: 2, windowMinutes: 10 },
  });
  const g = new SprayGuard({ store, clock, config });
  const src = '192.0.2.50';
  const alerts: boolean[] = [];
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await g.check(src, [src]), { allowed: true });
    alerts.push((await g.recordFailure(src, `name:user${String(i)}`)).alert);
  }
  assert.deepEqual(alerts, [false, true, false], 'one fan-out alert per source and window');
  assert.deepEqual(await g.check(src, [src]), { allowed: false, reason: 'source_rate_limited' });
  // The same client in its IPv4-mapped form is the same source; another source is unaffected.
  assert.equal((await g.check(`::ffff:${src}`, [src])).allowed, false);
  assert.equal((await g.check('192.0.2.51', ['192.0.2.51'])).allowed, true);
  // The next window starts afresh.
  clock.advance(10 * 60_000);
  assert.equal((await g.check(src, [src])).allowed, true);
});
