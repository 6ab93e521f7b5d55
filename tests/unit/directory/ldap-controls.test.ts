// The change tracker's LDAP pieces: the extended DN control's encoding and value form ([MS-ADTS] §3.1.1.3.4.1.5) and
// ranged attribute retrieval ([MS-ADTS] §3.1.1.3.1.3.3). Samba never ranges an attribute unless asked, so the AD
// behaviour (member;range=0-1499 in a search, then base reads) is exercised here with AD-shaped answers; the
// integration test (directory-cache-tracker) runs readRangedValues against Samba with explicit ranges.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerReader, BerWriter, type Entry } from 'ldapts';
import {
  EXTENDED_DN_OID,
  ExtendedDnControl,
  parseExtendedDn,
  parseRangedKey,
  rangedPart,
  readRangedValues,
} from '../../../server/directory/cache/ldap-controls.ts';

describe('extended DN control', () => {
  it('is critical and carries SEQUENCE { INTEGER 1 } as its value', () => {
    const w = new BerWriter();
    new ExtendedDnControl().write(w);
    // Read it back with the BER reader, independently of how the class built it (RFC 4511 §4.1.11 Control).
    const r = new BerReader(w.buffer);
    assert.equal(r.readSequence(), 0x30);
    assert.equal(r.readString(), EXTENDED_DN_OID);
    assert.equal(r.readBoolean(), true);
    const value = r.readString(4, true);
    assert.ok(Buffer.isBuffer(value));
    assert.equal(value.toString('hex'), '3003020101');
    assert.equal(EXTENDED_DN_OID, '1.2.840.113556.1.4.529');
  });
});

describe('parseExtendedDn', () => {
  it('splits GUID, SID and DN as Samba and AD write them', () => {
    const v =
      '<GUID=575921FD-0414-46f3-a8bf-cc87631dc37c>;<SID=S-1-5-21-1684023893-1123836251-74492555-1357>;CN=Staff,CN=Users,DC=corp,DC=example,DC=test';
    assert.deepEqual(parseExtendedDn(v), {
      guid: '575921fd-0414-46f3-a8bf-cc87631dc37c',
      sid: 'S-1-5-21-1684023893-1123836251-74492555-1357',
      dn: 'CN=Staff,CN=Users,DC=corp,DC=example,DC=test',
    });
  });

  it('an object without a SID has only the GUID part', () => {
    const v = '<GUID=3fa9a10b-ddde-4fae-9013-ae55e076b317>;CN=Contact,OU=X,DC=corp';
    assert.deepEqual(parseExtendedDn(v), {
      guid: '3fa9a10b-ddde-4fae-9013-ae55e076b317',
      sid: undefined,
      dn: 'CN=Contact,OU=X,DC=corp',
    });
  });

  it('a plain DN has no GUID; a DN holding < or > characters is kept whole', () => {
    assert.deepEqual(parseExtendedDn('CN=a\\>b,DC=corp'), {
      guid: undefined,
      sid: undefined,
      dn: 'CN=a\\>b,DC=corp',
    });
  });

  it('malformed GUID or SID parts are not guessed', () => {
    for (const v of [
      '<GUID=not-a-guid>;CN=x,DC=corp',
      '<GUID=575921fd0414-46f3-a8bf-cc87631dc37c>;CN=x,DC=corp',
      '<GUID=575921fd-0414-46f3-a8bf-cc87631dc37c0>;CN=x,DC=corp',
      '<GUID=575921fd-0414-46f3-a8bf-cc87631dc37c;CN=x,DC=corp',
      // The hex form (flag 0) is not what the tracker asks for.
      '<GUID=fd21595714048f46a8bfcc87631dc37c>;CN=x,DC=corp',
    ])
      assert.equal(parseExtendedDn(v).guid, undefined, v);
    assert.equal(
      parseExtendedDn('<GUID=575921fd-0414-46f3-a8bf-cc87631dc37c>;<SID=S-1-x>;CN=x').sid,
      undefined,
    );
  });
});

describe('ranged attributes', () => {
  it('parseRangedKey reads AD attribute options', () => {
    assert.deepEqual(parseRangedKey('member;range=0-1499'), {
      attribute: 'member',
      start: 0,
      end: 1499,
    });
    assert.deepEqual(parseRangedKey('member;range=1500-*'), {
      attribute: 'member',
      start: 1500,
      end: undefined,
    });
    assert.deepEqual(parseRangedKey('Member;Range=3-4'), { attribute: 'Member', start: 3, end: 4 });
    for (const k of [
      'member',
      'member;range=5-4',
      'member;range=-1-*',
      'member;range=a-b',
      'member;binary',
    ])
      assert.equal(parseRangedKey(k), undefined, k);
  });

  it('rangedPart finds the ranged key of an attribute in an entry (AD returns it instead of member)', () => {
    const entry = {
      dn: 'CN=big',
      member: [],
      'member;range=0-1499': ['a', 'b'],
    } as unknown as Entry;
    assert.deepEqual(rangedPart(entry, 'member'), {
      range: { attribute: 'member', start: 0, end: 1499 },
      values: ['a', 'b'],
    });
    assert.equal(rangedPart({ dn: 'CN=small', member: ['a'] }, 'member'), undefined);
  });

  /** An AD-shaped DC holding `total` values and answering at most `maxValRange` per read. */
  function adGroup(total: number, maxValRange: number) {
    const values = Array.from({ length: total }, (_, i) => `v${i}`);
    const asked: string[] = [];
    const read = (dn: string, wanted: string): Promise<Entry | undefined> => {
      asked.push(wanted);
      const m = /^member;range=(\d+)-(\d+|\*)$/.exec(wanted);
      assert.ok(m !== null, wanted);
      const start = Number(m[1]);
      const hi = m[2] === '*' ? total - 1 : Math.min(Number(m[2]), total - 1);
      const end = Math.min(hi, start + maxValRange - 1);
      const key = `member;range=${start}-${end >= total - 1 ? '*' : end}`;
      return Promise.resolve({ dn, [key]: values.slice(start, end + 1) } as unknown as Entry);
    };
    return { values, asked, read };
  }

  it('reads every range of a 4000-member group, 1500 at a time, asking N-* each time', async () => {
    const g = adGroup(4000, 1500);
    const first = {
      range: { attribute: 'member', start: 0, end: 1499 },
      values: g.values.slice(0, 1500),
    };
    const all = await readRangedValues(g.read, 'CN=big', 'member', first);
    assert.deepEqual(all, g.values);
    assert.deepEqual(g.asked, ['member;range=1500-*', 'member;range=3000-*']);
  });

  it('a lowered MaxValRange (AD admins can set it) is followed by the end the DC chose', async () => {
    const g = adGroup(1000, 300);
    const first = {
      range: { attribute: 'member', start: 0, end: 299 },
      values: g.values.slice(0, 300),
    };
    assert.deepEqual(await readRangedValues(g.read, 'CN=big', 'member', first), g.values);
    assert.equal(g.asked.length, 3);
  });

  it('a DC answering the same range again, or an empty middle range, is an error, not a loop', async () => {
    const first = { range: { attribute: 'member', start: 0, end: 1 }, values: ['a', 'b'] };
    const again = (dn: string): Promise<Entry> =>
      Promise.resolve({ dn, 'member;range=0-1': ['a', 'b'] } as unknown as Entry);
    await assert.rejects(readRangedValues(again, 'CN=g', 'member', first), /answered 0-/);
    const empty = (dn: string): Promise<Entry> =>
      Promise.resolve({ dn, 'member;range=2-3': [] } as unknown as Entry);
    await assert.rejects(readRangedValues(empty, 'CN=g', 'member', first), /empty range/);
    await assert.rejects(
      readRangedValues(again, 'CN=g', 'member', {
        ...first,
        range: { ...first.range, start: 5, end: 6 },
      }),
      /first range starts at 5/,
    );
  });

  it('no ranged part in a follow-up read (the group shrank) ends the list', async () => {
    const first = { range: { attribute: 'member', start: 0, end: 1 }, values: ['a', 'b'] };
    const gone = (dn: string): Promise<Entry> => Promise.resolve({ dn } as unknown as Entry);
    assert.deepEqual(await readRangedValues(gone, 'CN=g', 'member', first), ['a', 'b']);
  });
});
