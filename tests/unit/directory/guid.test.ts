// objectGUID / objectSid conversions ([MS-DTYP] §2.3.4.2, §2.4.2.2).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bytesToGuid, guidToBytes, sidToString } from '../../../server/directory/guid.ts';

describe('GUID bytes', () => {
  it('uses the .NET mixed-endian layout', () => {
    const bytes = guidToBytes('00112233-4455-6677-8899-aabbccddeeff');
    assert.equal(bytes?.toString('hex'), '33221100554477668899aabbccddeeff');
    assert.equal(
      bytesToGuid(Buffer.from('33221100554477668899aabbccddeeff', 'hex')),
      '00112233-4455-6677-8899-aabbccddeeff',
    );
  });

  it('round-trips, accepts braces and case, rejects junk', () => {
    const g = '086ffe47-984f-4734-bd0d-b90223cff0b0';
    assert.equal(bytesToGuid(guidToBytes(`{${g.toUpperCase()}}`) ?? Buffer.alloc(0)), g);
    for (const bad of ['', 'not-a-guid', `${g}0`, g.replaceAll('-', '')])
      assert.equal(guidToBytes(bad), undefined, bad);
    assert.throws(() => bytesToGuid(Buffer.alloc(15)), RangeError);
  });
});

describe('sidToString', () => {
  it('decodes a domain SID', () => {
    // A Samba DC's objectSid bytes (ldapsearch) and its string form (samba-tool user show).
    const sid = Buffer.from('AQUAAAAAAAUVAAAAXUsjqsKchcAp5+yLTwQAAA==', 'base64');
    assert.equal(sidToString(sid), 'S-1-5-21-2854439773-3229981890-2347558697-1103');
    assert.equal(sidToString(Buffer.from('010100000000000512000000', 'hex')), 'S-1-5-18');
    assert.equal(
      sidToString(Buffer.from('01020000000000052000000020020000', 'hex')),
      'S-1-5-32-544',
    );
  });

  it('rejects malformed input', () => {
    assert.equal(sidToString(Buffer.alloc(4)), undefined);
    assert.equal(
      sidToString(Buffer.from('0102000000000005120000', 'hex')),
      undefined,
      'count says 2, one present',
    );
    assert.equal(
      sidToString(Buffer.from('020100000000000512000000', 'hex')),
      undefined,
      'revision 2',
    );
  });
});
