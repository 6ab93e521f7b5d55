/**
 * The bind connection pool against the Samba AD DC: concurrency, connection reuse, and close() leaving no
 * open sockets (security-corpus E2, E6). No wrong passwords are used here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { pino } from 'pino';
import { createDirectory, type DirectoryOperation } from '../../server/directory/index.ts';
import type { DirectoryProvider } from '../../server/directory/types.ts';
import { systemClock } from '../../server/lib/clock.ts';
import { sambaEnv, sambaLdapConfig } from '../helpers/samba.ts';

const env = sambaEnv();
const { jdoe, jsmith } = env.users;

function open(poolSize: number): { dir: Promise<DirectoryProvider>; ops: DirectoryOperation[] } {
  const ops: DirectoryOperation[] = [];
  const dir = createDirectory(sambaLdapConfig(env, { poolSize }), {
    logger: pino({ level: 'silent' }),
    clock: systemClock,
    baseDir: '/',
    onOperation: (op) => ops.push(op),
  });
  return { dir, ops };
}

const sockets = (): number =>
  process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TLSWrap').length;

describe('LDAP bind pool (Samba AD DC)', () => {
  it('50 parallel sign-ins share poolSize connections plus one service connection', async (t) => {
    const before = sockets();
    const { dir: d, ops } = open(4);
    const dir = await d;
    const start = performance.now();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 2 === 0
          ? dir.authenticate('jdoe', jdoe.password)
          : dir.authenticate(env.users.jsmith.upn, jsmith.password),
      ),
    );
    t.diagnostic(`50 sign-ins in ${(performance.now() - start).toFixed(0)} ms`);
    for (const [i, r] of results.entries()) {
      assert.ok(r.ok, `#${i}: ${JSON.stringify(r)}`);
      assert.equal(
        r.user.sAMAccountName,
        i % 2 === 0 ? 'jdoe' : 'jsmith',
        'each result belongs to its own request',
      );
    }
    assert.equal(ops.filter((o) => o.op === 'bind').length, 50);
    assert.ok(
      ops.filter((o) => o.op === 'connect').length <= 5,
      `connections: ${ops.filter((o) => o.op === 'connect').length}`,
    );
    assert.ok(sockets() > before, 'pooled connections stay open between sign-ins');

    await dir.close();
    await tick();
    assert.equal(sockets(), before, 'close() leaves no socket open');
  });

  it('close() during sign-ins settles every call, then refuses new ones', async () => {
    const { dir: d } = open(2);
    const dir = await d;
    const pending = Array.from({ length: 10 }, () => dir.authenticate('jdoe', jdoe.password));
    await tick();
    await dir.close();
    for (const r of await Promise.all(pending))
      assert.ok(r.ok || r.kind === 'unavailable', JSON.stringify(r));
    const after = await dir.authenticate('jdoe', jdoe.password);
    assert.deepEqual(after.ok ? after : [after.kind, after.reason], ['unavailable', 'closed']);
  });
});
