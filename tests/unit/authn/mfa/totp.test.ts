// TOTP second factor (issue 16): the verifier against codes made by an independent implementation, Debian's
// `oathtool` (tests/setup/prepare.sh installs it), and against the test vectors of RFC 6238 Appendix B. The
// replay cache and the MFA lockout run in the memory store here and in a real redis-server shared by two
// verifiers (two nodes of a farm).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TotpVerifier, newTotpSecret } from '../../../../server/authn/mfa/totp.ts';
import { resolveConfig } from '../../../../server/config/load.ts';
import { FixedClock } from '../../../../server/lib/clock.ts';
import { MemoryStore } from '../../../../server/stores/memory.ts';
import { RedisStore } from '../../../../server/stores/redis.ts';
// oathtool: the code Debian's oathtool computes for an instant (RFC 6238, SHA-1, 6 digits, 30 s steps).
import { oathtool } from '../../../helpers/mfa.ts';
import { startRedis, type TestRedis } from '../../../helpers/redis.ts';

const T0 = new Date('2026-12-06T01:00:10Z');
const ACCOUNT = 'guid:3f2a';

function setup(policy = {}) {
  const clock = new FixedClock(T0);
  const store = new MemoryStore(clock);
  const verifier = new TotpVerifier({ store, clock, policy });
  const secret = newTotpSecret();
  return { clock, store, verifier, secret };
}

const seconds = (d: Date, s: number): Date => new Date(d.getTime() + s * 1000);

test('RFC 6238 Appendix B test vectors (SHA-1, 8 digits) are accepted at their times', async () => {
  const secret = Buffer.from('12345678901234567890', 'ascii');
  const vectors: [number, string][] = [
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ];
  for (const [t, code] of vectors) {
    const clock = new FixedClock(new Date(t * 1000));
    const v = new TotpVerifier({
      store: new MemoryStore(clock),
      clock,
      policy: { digits: 8, driftSteps: 0 },
    });
    assert.equal((await v.verify(ACCOUNT, secret, code)).ok, true, `T=${String(t)}`);
  }
});

test('replay is per secret: a second authenticator app of the same account is not refused in the same time step, and the replay stays refused for each', async () => {
  const { verifier, secret } = setup();
  const other = newTotpSecret();
  assert.equal(
    (await verifier.verify(ACCOUNT, secret.bytes, oathtool(secret.base32, T0))).ok,
    true,
  );
  // Same account, same 30 s step, another secret (a second app, or a new one being confirmed after a step-up).
  assert.equal((await verifier.verify(ACCOUNT, other.bytes, oathtool(other.base32, T0))).ok, true);
  const again = await verifier.verify(ACCOUNT, other.bytes, oathtool(other.base32, T0));
  assert.deepEqual(again.ok ? 'ok' : again.reason, 'replayed');
  const first = await verifier.verify(ACCOUNT, secret.bytes, oathtool(secret.base32, T0));
  assert.deepEqual(first.ok ? 'ok' : first.reason, 'replayed');
});

test('the current code from oathtool is accepted once; the same code again is a replay', async () => {
  const { verifier, secret } = setup();
  const code = oathtool(secret.base32, T0);
  assert.deepEqual(await verifier.verify(ACCOUNT, secret.bytes, code), {
    ok: true,
    step: Math.floor(T0.getTime() / 30_000),
  });
  const again = await verifier.verify(ACCOUNT, secret.bytes, code);
  assert.deepEqual(again, { ok: false, reason: 'replayed', failures: 1 });
});

test('drift: one step either side is accepted, two steps are not (the window is the policy)', async () => {
  const { verifier, secret } = setup();
  assert.equal(
    (await verifier.verify('a', secret.bytes, oathtool(secret.base32, seconds(T0, -30)))).ok,
    true,
  );
  assert.equal(
    (await verifier.verify('b', secret.bytes, oathtool(secret.base32, seconds(T0, 30)))).ok,
    true,
  );
  const old = await verifier.verify('c', secret.bytes, oathtool(secret.base32, seconds(T0, -60)));
  assert.equal(!old.ok && old.reason, 'wrong');
  const early = await verifier.verify('d', secret.bytes, oathtool(secret.base32, seconds(T0, 60)));
  assert.equal(!early.ok && early.reason, 'wrong');
  const strict = setup({ driftSteps: 0 });
  const prev = await strict.verifier.verify(
    'e',
    strict.secret.bytes,
    oathtool(strict.secret.base32, seconds(T0, -30)),
  );
  assert.equal(!prev.ok && prev.reason, 'wrong');
});

test('after a code is used, a code of an earlier step is refused too (a code seen over a shoulder)', async () => {
  const { verifier, secret } = setup();
  const earlier = oathtool(secret.base32, seconds(T0, -30));
  assert.equal(
    (await verifier.verify(ACCOUNT, secret.bytes, oathtool(secret.base32, T0))).ok,
    true,
  );
  const r = await verifier.verify(ACCOUNT, secret.bytes, earlier);
  assert.equal(!r.ok && r.reason, 'replayed');
  // Another account's use does not consume this one's codes.
  assert.equal((await verifier.verify('other', secret.bytes, earlier)).ok, true);
});

test('wrong codes lock the factor after maxFailures, even for the right code; the lock ends; success resets', async () => {
  const { verifier, secret, clock } = setup({ maxFailures: 3, lockoutSeconds: 600 });
  const right = oathtool(secret.base32, T0);
  const wrong = right === '000000' ? '000001' : '000000';
  for (let i = 1; i <= 3; i++) {
    const r = await verifier.verify(ACCOUNT, secret.bytes, wrong);
    assert.deepEqual(r, { ok: false, reason: 'wrong', failures: i });
  }
  const locked = await verifier.verify(ACCOUNT, secret.bytes, right);
  assert.deepEqual(locked, { ok: false, reason: 'locked', failures: 3 });
  clock.advance(601_000);
  const later = seconds(T0, 601);
  assert.equal(
    (await verifier.verify(ACCOUNT, secret.bytes, oathtool(secret.base32, later))).ok,
    true,
  );
});

test('a correct code clears the wrong-code count', async () => {
  const { verifier, secret } = setup({ maxFailures: 3 });
  const right = oathtool(secret.base32, T0);
  const wrong = right === '000000' ? '000001' : '000000';
  await verifier.verify(ACCOUNT, secret.bytes, wrong);
  await verifier.verify(ACCOUNT, secret.bytes, wrong);
  assert.equal((await verifier.verify(ACCOUNT, secret.bytes, right)).ok, true);
  assert.deepEqual(await verifier.verify(ACCOUNT, secret.bytes, wrong), {
    ok: false,
    reason: 'wrong',
    failures: 1,
  });
});

test('the lockout lasts lockoutSeconds from the failure that reached the limit', async () => {
  const { verifier, secret, clock } = setup({ maxFailures: 2, lockoutSeconds: 600 });
  const wrong = oathtool(secret.base32, T0) === '000000' ? '000001' : '000000';
  await verifier.verify(ACCOUNT, secret.bytes, wrong);
  clock.advance(500_000);
  await verifier.verify(ACCOUNT, secret.bytes, wrong); // the limit, 500 s after the first failure
  clock.advance(200_000); // 700 s after the first, 200 s after the limit: still locked
  const at = seconds(T0, 700);
  const r = await verifier.verify(ACCOUNT, secret.bytes, oathtool(secret.base32, at));
  assert.equal(!r.ok && r.reason, 'locked');
});

test('a malformed code is refused without counting as a guess', async () => {
  const { verifier, secret } = setup({ maxFailures: 1 });
  for (const bad of ['', '12345', '1234567', '12a456', ' 123456', '１２３４５６']) {
    assert.deepEqual(await verifier.verify(ACCOUNT, secret.bytes, bad), {
      ok: false,
      reason: 'malformed',
      failures: 0,
    });
  }
  assert.equal(
    (await verifier.verify(ACCOUNT, secret.bytes, oathtool(secret.base32, T0))).ok,
    true,
  );
});

describe('two nodes sharing a real Redis', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });

  test('a code accepted on one node is a replay on the other, and failures add up across nodes', async () => {
    const config = resolveConfig(
      { store: { kind: 'redis', url: redis.url, keyPrefix: 'totp-test:' } },
      { env: {}, baseDir: '/', source: 'test', embeddedDefaults: false },
    ).store;
    assert.equal(config.kind, 'redis');
    const clock = new FixedClock(T0);
    const a = RedisStore.create(config, { baseDir: '/' });
    const b = RedisStore.create(config, { baseDir: '/' });
    try {
      const policy = { maxFailures: 2 };
      const nodeA = new TotpVerifier({ store: a, clock, policy });
      const nodeB = new TotpVerifier({ store: b, clock, policy });
      const secret = newTotpSecret();
      const code = oathtool(secret.base32, T0);
      const [r1, r2] = await Promise.all([
        nodeA.verify(ACCOUNT, secret.bytes, code),
        nodeB.verify(ACCOUNT, secret.bytes, code),
      ]);
      assert.deepEqual([r1.ok, r2.ok].sort(), [false, true], 'exactly one node accepts the code');
      const wrong = code === '000000' ? '000001' : '000000';
      await nodeA.verify('guid:x', secret.bytes, wrong);
      await nodeB.verify('guid:x', secret.bytes, wrong);
      const r = await nodeA.verify('guid:x', secret.bytes, oathtool(secret.base32, T0));
      assert.equal(!r.ok && r.reason, 'locked');
    } finally {
      await a.close();
      await b.close();
    }
  });
});
