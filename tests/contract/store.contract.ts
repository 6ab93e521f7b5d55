import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ArtifactStore } from '../../server/stores/types.ts';

export interface StoreHarness {
  store: ArtifactStore;
  /** Moves time forward by ms (a frozen clock for memory; a real wait for Redis is not allowed: use TTLs in seconds and the store's own expiry). */
  advance(ms: number): Promise<void>;
}

/** The ArtifactStore contract. Every implementation runs this suite against its real backend. */
export function storeContract(name: string, make: () => Promise<StoreHarness>): void {
  test(`${name}: put/find returns a copy of the value`, async () => {
    const { store } = await make();
    const v = { a: 1, nested: { b: 'x' } };
    await store.put('session', 'k1', v);
    const got = await store.find<typeof v>('session', 'k1');
    assert.deepEqual(got, v);
    assert.notEqual(got, v);
    assert.equal(await store.find('session', 'missing'), undefined);
    await store.close();
  });

  test(`${name}: kinds are separate namespaces`, async () => {
    const { store } = await make();
    await store.put('session', 'same', 'S');
    await store.put('pendingSignIn', 'same', 'R');
    assert.equal(await store.find('session', 'same'), 'S');
    assert.equal(await store.find('pendingSignIn', 'same'), 'R');
    await store.close();
  });

  test(`${name}: consume is read-once even when raced`, async () => {
    const { store } = await make();
    await store.put('pendingSignIn', 'once', { x: 1 });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => store.consume('pendingSignIn', 'once')),
    );
    assert.equal(results.filter((r) => r !== undefined).length, 1);
    assert.equal(await store.find('pendingSignIn', 'once'), undefined);
    await store.close();
  });

  test(`${name}: markSeen is true once, false on replay, even when raced`, async () => {
    const { store } = await make();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => store.markSeen('replay', 'id-1', 60)),
    );
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal(await store.markSeen('replay', 'id-1', 60), false);
    assert.equal(await store.markSeen('replay', 'id-2', 60), true);
    await store.close();
  });

  test(`${name}: incr counts atomically`, async () => {
    const { store } = await make();
    const results = await Promise.all(
      Array.from({ length: 25 }, () => store.incr('lockoutCounter', 'c', 60)),
    );
    assert.deepEqual(
      [...results].sort((a, b) => a - b),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    await store.close();
  });

  test(`${name}: entries expire after their TTL; incr keeps the first TTL`, async () => {
    const h = await make();
    const { store } = h;
    await store.put('session', 'ttl', 1, 2);
    await store.markSeen('replay', 'ttl', 2);
    await store.incr('lockoutCounter', 'ttl', 2);
    await h.advance(1000);
    assert.equal(await store.incr('lockoutCounter', 'ttl', 60), 2);
    await h.advance(1500);
    assert.equal(await store.find('session', 'ttl'), undefined);
    assert.equal(await store.markSeen('replay', 'ttl', 2), true);
    assert.equal(await store.incr('lockoutCounter', 'ttl', 60), 1);
    await store.close();
  });

  test(`${name}: destroy removes; ping answers`, async () => {
    const { store } = await make();
    await store.put('session', 'd', 1);
    await store.destroy('session', 'd');
    assert.equal(await store.find('session', 'd'), undefined);
    assert.equal(await store.ping(), true);
    await store.close();
  });

  test(`${name}: rejects a non-positive TTL`, async () => {
    const { store } = await make();
    await assert.rejects(store.put('session', 'bad', 1, 0));
    await store.close();
  });
}
