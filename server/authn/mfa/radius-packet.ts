/**
 * The RADIUS codec for the third-party-MFA client (issue 16; `radius.ts` is the client): just what an
 * authentication client needs from RFC 2865 (packet format §3, User-Password hiding §5.2, Response Authenticator
 * §3) and RFC 3579 §3.2 (Message-Authenticator, HMAC-MD5).
 *
 * Written here rather than taken from npm: the `radius` package, the only common one, has been unmaintained since
 * 2018 and does not require Message-Authenticator on responses, which is the whole defence against Blast-RADIUS
 * (CVE-2024-3596: an attacker on the path forges an Access-Accept by an MD5 collision on the Response Authenticator;
 * a response that must carry a valid HMAC over the whole packet cannot be forged that way). Nothing here throws on
 * bytes received from the network: `decodePacket` returns a reason instead.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Packet codes (RFC 2865 §3, §4). */
export const Code = Object.freeze({
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccessChallenge: 11,
});

/** Attribute types used by the client (RFC 2865 §5, RFC 3579 §3.2). */
export const Attr = Object.freeze({
  UserName: 1,
  UserPassword: 2,
  ReplyMessage: 18,
  State: 24,
  NasIdentifier: 32,
  MessageAuthenticator: 80,
});

const HEADER = 20;
/** RFC 2865 §3: "The maximum length is 4096". */
export const MAX_PACKET = 4096;
/** RFC 2865 §5.2: the hidden password is at most 128 octets. */
export const MAX_PASSWORD = 128;
/** An attribute's value: 253 octets at most (one octet of length, two of header). */
export const MAX_VALUE = 253;

export interface Attribute {
  type: number;
  value: Buffer;
}

export interface Packet {
  code: number;
  identifier: number;
  /** The 16-octet Authenticator field as received. */
  authenticator: Buffer;
  attributes: Attribute[];
  /** The packet's bytes up to its Length field (octets past it are padding, RFC 2865 §3). */
  raw: Buffer;
}

export type DecodeFailure =
  'short' | 'too-large' | 'bad-length' | 'bad-attribute' | 'duplicate-message-authenticator';

/**
 * User-Password hiding (RFC 2865 §5.2): the password padded with NULs to a multiple of 16, each 16-octet block
 * XORed with MD5(secret + previous block), the first "previous block" being the Request Authenticator. The caller
 * checks the 128-octet limit (`MAX_PASSWORD`); a longer password is refused here, not truncated.
 */
export function hidePassword(
  password: Buffer,
  secret: Buffer,
  requestAuthenticator: Buffer,
): Buffer {
  if (password.length > MAX_PASSWORD) throw new RangeError('RADIUS password over 128 octets');
  const padded = Buffer.alloc(Math.max(16, Math.ceil(password.length / 16) * 16));
  password.copy(padded);
  const out = Buffer.alloc(padded.length);
  let previous = requestAuthenticator;
  for (let i = 0; i < padded.length; i += 16) {
    const b = createHash('md5').update(secret).update(previous).digest();
    for (let j = 0; j < 16; j++) out[i + j] = (padded[i + j] ?? 0) ^ (b[j] ?? 0);
    previous = out.subarray(i, i + 16);
  }
  return out;
}

/** The reverse of `hidePassword` (for the tests and a responder; the client never needs it). */
export function revealPassword(
  hidden: Buffer,
  secret: Buffer,
  requestAuthenticator: Buffer,
): Buffer {
  const out = Buffer.alloc(hidden.length);
  let previous = requestAuthenticator;
  for (let i = 0; i + 16 <= hidden.length; i += 16) {
    const b = createHash('md5').update(secret).update(previous).digest();
    for (let j = 0; j < 16; j++) out[i + j] = (hidden[i + j] ?? 0) ^ (b[j] ?? 0);
    previous = hidden.subarray(i, i + 16);
  }
  const end = out.indexOf(0);
  return end === -1 ? out : out.subarray(0, end);
}

function encodeAttributes(attributes: readonly Attribute[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attributes) {
    if (a.value.length > MAX_VALUE)
      throw new RangeError(`RADIUS attribute ${a.type} over 253 octets`);
    parts.push(Buffer.from([a.type, a.value.length + 2]), a.value);
  }
  return Buffer.concat(parts);
}

/**
 * An Access-Request (RFC 2865 §4.1) with a Message-Authenticator (RFC 3579 §3.2) as its FIRST attribute: first,
 * as the Blast-RADIUS write-up recommends, so that no attacker-chosen bytes precede it. Its value is HMAC-MD5 keyed
 * with the shared secret over the whole packet with the Message-Authenticator's own value as 16 zero octets.
 * A User-Password in `attributes` holds the password in clear: it is hidden here (§5.2), in place.
 */
export function encodeAccessRequest(p: {
  identifier: number;
  requestAuthenticator: Buffer;
  secret: Buffer;
  attributes: readonly Attribute[];
}): Buffer {
  const attrs: Attribute[] = [{ type: Attr.MessageAuthenticator, value: Buffer.alloc(16) }];
  for (const a of p.attributes) {
    attrs.push(
      a.type === Attr.UserPassword
        ? { type: a.type, value: hidePassword(a.value, p.secret, p.requestAuthenticator) }
        : a,
    );
  }
  const body = encodeAttributes(attrs);
  const length = HEADER + body.length;
  if (length > MAX_PACKET) throw new RangeError('RADIUS packet over 4096 octets');
  const packet = Buffer.alloc(length);
  packet[0] = Code.AccessRequest;
  packet[1] = p.identifier & 0xff;
  packet.writeUInt16BE(length, 2);
  p.requestAuthenticator.copy(packet, 4);
  body.copy(packet, HEADER);
  // The Message-Authenticator value sits right after its two header octets, at the start of the attributes.
  createHmac('md5', p.secret)
    .update(packet)
    .digest()
    .copy(packet, HEADER + 2);
  return packet;
}

/**
 * Parses a received packet. Any defect gives a reason, never an exception: the length field must be within the
 * datagram and 20..4096 (octets past it are ignored as padding, §3), every attribute length at least 2 and
 * inside the packet, and at most one Message-Authenticator (RFC 3579 §3.2: "MUST NOT" appear more than once).
 */
export function decodePacket(datagram: Buffer): Packet | DecodeFailure {
  if (datagram.length < HEADER) return 'short';
  if (datagram.length > MAX_PACKET) return 'too-large';
  const length = datagram.readUInt16BE(2);
  if (length < HEADER || length > datagram.length) return 'bad-length';
  const raw = datagram.subarray(0, length);
  const attributes: Attribute[] = [];
  let seenMessageAuthenticator = false;
  for (let off = HEADER; off < length;) {
    if (off + 2 > length) return 'bad-attribute';
    const type = raw[off] ?? 0;
    const len = raw[off + 1] ?? 0;
    if (len < 2 || off + len > length) return 'bad-attribute';
    if (type === Attr.MessageAuthenticator) {
      if (seenMessageAuthenticator) return 'duplicate-message-authenticator';
      seenMessageAuthenticator = true;
    }
    attributes.push({ type, value: raw.subarray(off + 2, off + len) });
    off += len;
  }
  return {
    code: raw[0] ?? 0,
    identifier: raw[1] ?? 0,
    authenticator: raw.subarray(4, HEADER),
    attributes,
    raw,
  };
}

/** The Response Authenticator a reply must carry (RFC 2865 §3): MD5(Code+ID+Length+RequestAuth+Attributes+Secret). */
export function responseAuthenticator(
  raw: Buffer,
  requestAuthenticator: Buffer,
  secret: Buffer,
): Buffer {
  return createHash('md5')
    .update(raw.subarray(0, 4))
    .update(requestAuthenticator)
    .update(raw.subarray(HEADER))
    .update(secret)
    .digest();
}

/**
 * The Message-Authenticator a reply must carry (RFC 3579 §3.2): HMAC-MD5 keyed with the secret over the reply with
 * its Authenticator field replaced by the Request Authenticator it answers and the Message-Authenticator value
 * zeroed. `valueOffset` is the offset of that value in `raw`. For a request, pass its own authenticator.
 */
export function messageAuthenticator(
  raw: Buffer,
  requestAuthenticator: Buffer,
  secret: Buffer,
  valueOffset: number,
): Buffer {
  const copy = Buffer.from(raw);
  requestAuthenticator.copy(copy, 4);
  copy.fill(0, valueOffset, valueOffset + 16);
  return createHmac('md5', secret).update(copy).digest();
}

export type ReplyCheck =
  | 'ok'
  | 'bad-response-authenticator'
  | 'missing-message-authenticator'
  | 'bad-message-authenticator';

/**
 * Checks a decoded reply against the request it answers: the Response Authenticator (RFC 2865 §3) and a
 * Message-Authenticator that is REQUIRED on every reply (RFC 3579 §3.2 makes it mandatory only with EAP; we require
 * it always, the Blast-RADIUS defence; FreeRADIUS ≥ 3.2.5 and current MFA servers send it on every reply).
 */
export function checkReply(
  packet: Packet,
  requestAuthenticator: Buffer,
  secret: Buffer,
): ReplyCheck {
  const expected = responseAuthenticator(packet.raw, requestAuthenticator, secret);
  if (!timingSafeEqual(expected, packet.authenticator)) return 'bad-response-authenticator';
  let off = HEADER;
  for (const a of packet.attributes) {
    if (a.type === Attr.MessageAuthenticator) {
      if (a.value.length !== 16) return 'bad-message-authenticator';
      const mac = messageAuthenticator(packet.raw, requestAuthenticator, secret, off + 2);
      return timingSafeEqual(mac, a.value) ? 'ok' : 'bad-message-authenticator';
    }
    off += a.value.length + 2;
  }
  return 'missing-message-authenticator';
}
