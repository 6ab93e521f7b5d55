// The directory cache's user LRU (server/directory/cache/user-lru.ts): the bound, recency, the max-age backstop, and
// the secondary keys (lowercased UPN and sAMAccountName) never outliving or pointing past their entry.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserLru, type CachedUserEntry } from '../../../server/directory/cache/user-lru.ts';

function entry(guid: string, sam: string, upn: string | undefined, readAt = 0): CachedUserEntry {
  return {
    guid,
    user: {
      dn: `CN=${sam},DC=x`,
      objectGuid: Buffer.alloc(16),
      immutableId: '',
      sAMAccountName: sam,
      userPrincipalName: upn,
      netbiosDomain: 'X',
      windowsAccountName: `X\\${sam}`,
      groups: [],
      enabled: true,
    },
    values: {},
    dc: 'ldaps://dc1',
    readAt,
  };
}

describe('UserLru', () => {
  it('holds at most maxEntries, dropping the least recently used (a get counts as use)', () => {
    const lru = new UserLru({ maxEntries: 2, maxAgeMs: 60_000 });
    lru.set(entry('g1', 'a', 'a@x.test'));
    lru.set(entry('g2', 'b', 'b@x.test'));
    assert.ok(lru.get('g1', 0)); // g2 is now the least recently used
    lru.set(entry('g3', 'c', 'c@x.test'));
    assert.equal(lru.size, 2);
    assert.equal(lru.get('g2', 0), undefined);
    assert.equal(lru.bySam('B', 0), undefined, 'its secondary keys went with it');
    assert.equal(lru.byUpn('b@X.TEST', 0), undefined);
    assert.deepEqual(lru.indexSizes(), { guids: 2, upns: 2, sams: 2 });
  });

  it('finds entries by UPN and sAMAccountName case-insensitively', () => {
    const lru = new UserLru({ maxEntries: 10, maxAgeMs: 60_000 });
    lru.set(entry('g1', 'JDoe', 'John.Doe@Corp.Test'));
    assert.equal(lru.bySam('jdoe', 0)?.guid, 'g1');
    assert.equal(lru.byUpn('john.doe@corp.test', 0)?.guid, 'g1');
    assert.equal(lru.byUpn('jdoe', 0), undefined);
  });

  it('replacing an entry drops its old names; a name taken by another account drops the older holder', () => {
    const lru = new UserLru({ maxEntries: 10, maxAgeMs: 60_000 });
    lru.set(entry('g1', 'a', 'old@x.test'));
    lru.set(entry('g1', 'a', 'new@x.test')); // UPN renamed
    assert.equal(lru.byUpn('old@x.test', 0), undefined);
    assert.equal(lru.byUpn('new@x.test', 0)?.guid, 'g1');
    lru.set(entry('g2', 'b', 'new@x.test')); // the UPN now belongs to another account
    assert.equal(lru.get('g1', 0), undefined, 'the older holder of the name is out of date');
    assert.equal(lru.byUpn('new@x.test', 0)?.guid, 'g2');
    lru.set(entry('g3', 'B', undefined)); // same sAMAccountName, other case
    assert.equal(lru.get('g2', 0), undefined);
    assert.deepEqual(lru.indexSizes(), { guids: 1, upns: 0, sams: 1 });
  });

  it('delete, deleteByName and clear keep the three indexes consistent', () => {
    const lru = new UserLru({ maxEntries: 10, maxAgeMs: 60_000 });
    lru.set(entry('g1', 'a', 'a@x.test'));
    lru.set(entry('g2', 'b', 'b@x.test'));
    lru.set(entry('g3', 'c', undefined));
    assert.equal(lru.delete('g1'), true);
    assert.equal(lru.delete('g1'), false);
    lru.deleteByName({ upn: 'B@x.test' });
    lru.deleteByName({ sAMAccountName: 'C' });
    assert.deepEqual(lru.indexSizes(), { guids: 0, upns: 0, sams: 0 });
    lru.set(entry('g4', 'd', 'd@x.test'));
    lru.clear();
    assert.deepEqual(lru.indexSizes(), { guids: 0, upns: 0, sams: 0 });
  });

  it('an entry older than maxAge is gone (and dropped), whichever key finds it', () => {
    const lru = new UserLru({ maxEntries: 10, maxAgeMs: 1000 });
    lru.set(entry('g1', 'a', 'a@x.test', 5000));
    assert.ok(lru.bySam('a', 6000), 'exactly maxAge old: still served');
    assert.equal(lru.byUpn('a@x.test', 6001), undefined);
    assert.equal(lru.size, 0);
    lru.set(entry('g2', 'b', undefined, 5000));
    assert.equal(
      lru.get('g2', 3999),
      undefined,
      'a read from the future (clock set back) is not trusted',
    );
    assert.ok(lru.peek('g2') === undefined);
  });

  it('refuses a bound below one', () => {
    assert.throws(() => new UserLru({ maxEntries: 0, maxAgeMs: 1 }), RangeError);
  });
});
