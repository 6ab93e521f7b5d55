// The RADIUS codec (issue 16) against vectors made by others: the packets of RFC 2865 §7.1 (PAP hiding and the
// Response Authenticator) and an Access-Request captured from FreeRADIUS's own `radclient` (User-Password hiding
// over several blocks and the Message-Authenticator of RFC 3579 §3.2). Reply checks use replies assembled here
// with node:crypto straight from the RFC text, not with the codec.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  Attr,
  checkReply,
  decodePacket,
  encodeAccessRequest,
  hidePassword,
  revealPassword,
  type Packet,
} from '../../../../server/authn/mfa/radius-packet.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 2865 §7.1: "nemo" / "arctangent", shared secret "xyzzy5461".
const RFC_SECRET = Buffer.from('xyzzy5461');
const RFC_REQUEST =
  hex(`01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb 98 f4 22 7a 01 06 6e 65 6d 6f
  02 12 0d be 70 8d 93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8 01 10 05 06 00 00 00 03`);
const RFC_ACCEPT =
  hex(`02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf 9b 55 e0 b2 06 06 00 00 00 01
  0f 06 00 00 00 00 0e 06 c0 a8 01 03`);

// Captured from `radclient 127.0.0.1:PORT auth vector-secret-9f` (FreeRADIUS 3.2.1) given
// Message-Authenticator=0x00, User-Name="alice@example.test",
// User-Password="a-longer-one-time-answer-0123456789", NAS-Identifier="fedgate-vector", State=0x0102030405.
const RADCLIENT_SECRET = Buffer.from('vector-secret-9f');
const RADCLIENT_REQUEST = hex(
  '018300839e1715cc09adde6b8508e99730cf52ab5012795e38cc8419925c775f8fe89ccee84c0114616c696365406578616d706c652e' +
    '746573740232ba8678ef130afe752ee4000efa3acb85f2f3bf894ea72f93f72246fa8e450a72097b9d25511d921283e8dad2fd8060' +
    '972010666564676174652d766563746f7218070102030405',
);

/** A reply assembled from the RFC text: attributes, then Response Authenticator, with or without a MA. */
function reply(opts: {
  code: number;
  id: number;
  requestAuthenticator: Buffer;
  secret: Buffer;
  attrs: Buffer;
  messageAuthenticator: 'valid' | 'wrong' | 'none';
}): Buffer {
  const ma =
    opts.messageAuthenticator === 'none'
      ? Buffer.alloc(0)
      : Buffer.concat([Buffer.from([80, 18]), Buffer.alloc(16)]);
  const body = Buffer.concat([ma, opts.attrs]);
  const p = Buffer.concat([
    Buffer.from([opts.code, opts.id, 0, 0]),
    opts.requestAuthenticator,
    body,
  ]);
  p.writeUInt16BE(p.length, 2);
  if (opts.messageAuthenticator !== 'none') {
    const mac = createHmac('md5', opts.secret).update(p).digest();
    if (opts.messageAuthenticator === 'wrong') mac[0] = (mac[0] ?? 0) ^ 1;
    mac.copy(p, 22);
  }
  createHash('md5').update(p).update(opts.secret).digest().copy(p, 4);
  return p;
}

function decoded(b: Buffer): Packet {
  const p = decodePacket(b);
  assert.ok(typeof p !== 'string', typeof p === 'string' ? `decodes: ${p}` : undefined);
  return p;
}

describe('RADIUS codec', () => {
  test('User-Password hiding matches RFC 2865 §7.1 and reverses', () => {
    const ra = RFC_REQUEST.subarray(4, 20);
    const hidden = hidePassword(Buffer.from('arctangent'), RFC_SECRET, ra);
    assert.deepEqual(hidden, RFC_REQUEST.subarray(28, 44));
    assert.equal(revealPassword(hidden, RFC_SECRET, ra).toString(), 'arctangent');
  });

  test('the Response Authenticator of the RFC 2865 §7.1 Access-Accept checks; it lacks a Message-Authenticator, so it is refused', () => {
    const ra = RFC_REQUEST.subarray(4, 20);
    const p = decoded(RFC_ACCEPT);
    assert.equal(checkReply(p, ra, RFC_SECRET), 'missing-message-authenticator');
    assert.equal(checkReply(p, ra, Buffer.from('xyzzy5462')), 'bad-response-authenticator');
  });

  test('an Access-Request is byte for byte what radclient sends (PAP over three blocks, Message-Authenticator)', () => {
    const p = decoded(RADCLIENT_REQUEST);
    const password = revealPassword(
      p.attributes.find((a) => a.type === Attr.UserPassword)?.value ?? Buffer.alloc(0),
      RADCLIENT_SECRET,
      p.authenticator,
    );
    assert.equal(password.toString(), 'a-longer-one-time-answer-0123456789');
    const ours = encodeAccessRequest({
      identifier: p.identifier,
      requestAuthenticator: Buffer.from(p.authenticator),
      secret: RADCLIENT_SECRET,
      attributes: [
        { type: Attr.UserName, value: Buffer.from('alice@example.test') },
        { type: Attr.UserPassword, value: Buffer.from('a-longer-one-time-answer-0123456789') },
        { type: Attr.NasIdentifier, value: Buffer.from('fedgate-vector') },
        { type: Attr.State, value: hex('0102030405') },
      ],
    });
    assert.equal(ours.toString('hex'), RADCLIENT_REQUEST.toString('hex'));
  });

  test('the Message-Authenticator of a request is HMAC-MD5 over the packet with its value zeroed (RFC 3579 §3.2)', () => {
    const zeroed = Buffer.from(RADCLIENT_REQUEST);
    zeroed.fill(0, 22, 38);
    const mac = createHmac('md5', RADCLIENT_SECRET).update(zeroed).digest();
    assert.deepEqual(RADCLIENT_REQUEST.subarray(22, 38), mac);
  });

  test('replies: valid Message-Authenticator passes; wrong or missing ones are refused; wrong secret fails', () => {
    const ra = Buffer.alloc(16, 7);
    const secret = Buffer.from('s3cret');
    const attrs = Buffer.concat([Buffer.from([18, 4]), Buffer.from('hi')]);
    const make = (m: 'valid' | 'wrong' | 'none'): Packet =>
      decoded(
        reply({ code: 2, id: 9, requestAuthenticator: ra, secret, attrs, messageAuthenticator: m }),
      );
    assert.equal(checkReply(make('valid'), ra, secret), 'ok');
    assert.equal(checkReply(make('wrong'), ra, secret), 'bad-message-authenticator');
    assert.equal(checkReply(make('none'), ra, secret), 'missing-message-authenticator');
    assert.equal(checkReply(make('valid'), ra, Buffer.from('other')), 'bad-response-authenticator');
    assert.equal(
      checkReply(make('valid'), Buffer.alloc(16, 8), secret),
      'bad-response-authenticator',
    );
  });

  test('malformed packets give a reason, never an exception', () => {
    const ok = reply({
      code: 2,
      id: 1,
      requestAuthenticator: Buffer.alloc(16),
      secret: Buffer.from('x'),
      attrs: Buffer.alloc(0),
      messageAuthenticator: 'valid',
    });
    assert.equal(decodePacket(ok.subarray(0, 19)), 'short');
    assert.equal(decodePacket(Buffer.alloc(4097)), 'too-large');
    const longLen = Buffer.from(ok);
    longLen.writeUInt16BE(ok.length + 1, 2);
    assert.equal(decodePacket(longLen), 'bad-length');
    const zeroAttr = Buffer.from(ok);
    zeroAttr[21] = 0;
    assert.equal(decodePacket(zeroAttr), 'bad-attribute');
    const overrun = Buffer.from(ok);
    overrun[21] = 200;
    assert.equal(decodePacket(overrun), 'bad-attribute');
    const twice = Buffer.concat([ok, ok.subarray(20)]);
    twice.writeUInt16BE(twice.length, 2);
    assert.equal(decodePacket(twice), 'duplicate-message-authenticator');
    // Octets past the Length field are padding (RFC 2865 §3) and do not count.
    assert.equal(decoded(Buffer.concat([ok, Buffer.from([1, 2, 3])])).raw.length, ok.length);
    for (let n = 0; n < 2000; n++) {
      const junk = Buffer.from(ok);
      junk[20 + (n % (ok.length - 20))] = (n * 37) & 0xff;
      assert.doesNotThrow(() => decodePacket(junk));
    }
  });
});
