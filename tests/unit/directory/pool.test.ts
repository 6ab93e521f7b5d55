// The bind pool's load shedding (corpus E9) in isolation: fake connections whose binds the test completes by hand,
// and an injected clock for the bind-time average. A fast supplement to tests/security/corpus-e9.test.ts, which
// proves the same against the real DC through a slow proxy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Client } from 'ldapts';
import { BindPool, DirectoryBusyError } from '../../../server/directory/pool.ts';

/** Connections whose bind resolves when the test says so. */
function fakeClients(): { create: () => Client; pending: (() => void)[] } {
  const pending: (() => void)[] = [];
  const create = (): Client =>
    ({
      bind: () =>
        new Promise<void>((ok) => {
          pending.push(ok);
        }),
      unbind: () => Promise.resolve(),
    }) as unknown as Client;
  return { create, pending };
}

const tick = (): Promise<void> => new Promise((ok) => setImmediate(ok));

test('binds beyond the free connections wait while the expected wait is short, and are shed once it is not', async () => {
  let now = 0;
  const { create, pending } = fakeClients();
  const pool = new BindPool(1, create, { maxWaitMs: 1000, now: () => now });
  // First bind: measured at 400 ms.
  const first = pool.bind('cn=a', 'p');
  await tick();
  now += 400;
  pending.shift()?.();
  await first;
  // Now the one connection is busy again; the average bind is 400 ms.
  const busy = pool.bind('cn=b', 'p');
  await tick();
  const waiting = [pool.bind('cn=c', 'p'), pool.bind('cn=d', 'p')]; // 400 and 800 ms expected: they queue
  await assert.rejects(pool.bind('cn=e', 'p'), DirectoryBusyError); // 1200 ms expected: shed at once
  // The queue drains in order; each waiter gets the connection.
  for (let i = 0; i < 3; i++) {
    await tick();
    now += 400;
    pending.shift()?.();
  }
  await Promise.all([busy, ...waiting]);
  await pool.close();
});

test('a waiter still queued at maxWaitMs is refused then; an idle pool never sheds', async () => {
  const { create, pending } = fakeClients();
  const pool = new BindPool(1, create, { maxWaitMs: 50, now: () => 0 });
  const held = pool.bind('cn=a', 'p');
  await tick();
  // No bind time measured yet (average 0): the second waits, and is refused when 50 ms pass.
  await assert.rejects(pool.bind('cn=b', 'p'), DirectoryBusyError);
  pending.shift()?.();
  await held;
  // Control: with the connection free again, a bind goes straight through.
  const next = pool.bind('cn=c', 'p');
  await tick();
  pending.shift()?.();
  await next;
  await pool.close();
});
