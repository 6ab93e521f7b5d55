/**
 * A small, strict DER reader and writer (ITU-T X.690 §8, §10): enough to read certificates, CRLs and OCSP
 * responses and to write OCSP requests, with no ASN.1 schema machinery. Every length is checked against the
 * buffer it lives in; indefinite lengths (BER), long-form lengths that DER forbids, and multi-byte tag numbers
 * beyond 2^21 are refused, so a hostile input fails with DerError instead of reading out of bounds.
 */

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

export const TagClass = { universal: 0, application: 1, context: 2, private: 3 } as const;

/** Universal tag numbers used in PKIX. */
export const Tag = {
  boolean: 1,
  integer: 2,
  bitString: 3,
  octetString: 4,
  null: 5,
  oid: 6,
  enumerated: 10,
  utf8String: 12,
  sequence: 16,
  set: 17,
  printableString: 19,
  t61String: 20,
  ia5String: 22,
  utcTime: 23,
  generalizedTime: 24,
  visibleString: 26,
  universalString: 28,
  bmpString: 30,
} as const;

/** One TLV element; `raw` is the whole encoding (tag + length + value), `value` the contents octets. */
export interface DerNode {
  cls: number;
  constructed: boolean;
  tag: number;
  raw: Buffer;
  value: Buffer;
}

const MAX_DEPTH = 64;

/** Reads one element at `offset`; returns it and the offset just after it. */
export function readElement(buf: Buffer, offset = 0): { node: DerNode; next: number } {
  let p = offset;
  const byte = (): number => {
    if (p >= buf.length) throw new DerError('truncated DER element');
    return buf[p++] as number;
  };
  const first = byte();
  const cls = first >> 6;
  const constructed = (first & 0x20) !== 0;
  let tag = first & 0x1f;
  if (tag === 0x1f) {
    tag = 0;
    for (let i = 0; ; i++) {
      if (i >= 3) throw new DerError('tag number too large');
      const b = byte();
      if (i === 0 && b === 0x80) throw new DerError('non-minimal tag number');
      tag = (tag << 7) | (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
    if (tag < 0x1f) throw new DerError('non-minimal tag number');
  }
  let length = byte();
  if (length === 0x80) throw new DerError('indefinite length is not DER');
  if (length > 0x80) {
    const n = length & 0x7f;
    if (n > 4) throw new DerError('length too large');
    length = 0;
    for (let i = 0; i < n; i++) {
      const b = byte();
      if (i === 0 && b === 0) throw new DerError('non-minimal length');
      length = length * 256 + b;
    }
    if (length < 0x80) throw new DerError('non-minimal length');
  }
  const end = p + length;
  if (end > buf.length) throw new DerError('DER length exceeds the input');
  return {
    node: { cls, constructed, tag, raw: buf.subarray(offset, end), value: buf.subarray(p, end) },
    next: end,
  };
}

/** Parses exactly one element filling the whole buffer. */
export function parseDer(buf: Buffer): DerNode {
  const { node, next } = readElement(buf, 0);
  if (next !== buf.length) throw new DerError('trailing data after DER element');
  return node;
}

/** The elements inside a constructed element. */
export function children(node: DerNode, depth = 0): DerNode[] {
  if (!node.constructed) throw new DerError('expected a constructed element');
  if (depth > MAX_DEPTH) throw new DerError('DER nested too deeply');
  const out: DerNode[] = [];
  let p = 0;
  while (p < node.value.length) {
    const { node: child, next } = readElement(node.value, p);
    out.push(child);
    p = next;
  }
  return out;
}

export function isUniversal(node: DerNode, tag: number): boolean {
  return node.cls === TagClass.universal && node.tag === tag;
}

export function isContext(node: DerNode, tag: number): boolean {
  return node.cls === TagClass.context && node.tag === tag;
}

/** Asserts a universal tag and returns the node (for readable parsers). */
export function expect(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (node === undefined || !isUniversal(node, tag)) throw new DerError(`expected ${what}`);
  return node;
}

export function sequence(node: DerNode | undefined, what: string): DerNode[] {
  return children(expect(node, Tag.sequence, what));
}

/** Dotted OID from an OBJECT IDENTIFIER's contents. */
export function readOid(node: DerNode | undefined, what = 'OBJECT IDENTIFIER'): string {
  const v = expect(node, Tag.oid, what).value;
  if (v.length === 0) throw new DerError('empty OID');
  const parts: number[] = [];
  let acc = 0;
  for (let i = 0; i < v.length; i++) {
    const b = v[i] as number;
    if (acc === 0 && b === 0x80) throw new DerError('non-minimal OID arc');
    acc = acc * 128 + (b & 0x7f);
    if (acc > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large');
    if ((b & 0x80) === 0) {
      parts.push(acc);
      acc = 0;
    } else if (i === v.length - 1) {
      throw new DerError('truncated OID');
    }
  }
  const first = parts.shift() as number;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}

/** The contents octets of an INTEGER (two's complement, big-endian, as encoded). */
export function readIntegerBytes(node: DerNode | undefined, what = 'INTEGER'): Buffer {
  const v = expect(node, Tag.integer, what).value;
  if (v.length === 0) throw new DerError('empty INTEGER');
  return v;
}

/** A small non-negative INTEGER (versions, path lengths). */
export function readSmallInteger(node: DerNode | undefined, what = 'INTEGER'): number {
  const v = readIntegerBytes(node, what);
  if (v.length > 4 || ((v[0] as number) & 0x80) !== 0) throw new DerError(`${what} out of range`);
  return v.readUIntBE(0, v.length);
}

export function readBoolean(node: DerNode | undefined, what = 'BOOLEAN'): boolean {
  const v = expect(node, Tag.boolean, what).value;
  if (v.length !== 1) throw new DerError('bad BOOLEAN');
  return v[0] !== 0;
}

/** BIT STRING contents without the unused-bits octet, and the unused-bit count. */
export function readBitString(
  node: DerNode | undefined,
  what = 'BIT STRING',
): { bytes: Buffer; unused: number } {
  const v = expect(node, Tag.bitString, what).value;
  const unused = v[0];
  if (unused === undefined || unused > 7 || (v.length === 1 && unused !== 0))
    throw new DerError('bad BIT STRING');
  return { bytes: v.subarray(1), unused };
}

/** UTCTime / GeneralizedTime (RFC 5280 §4.1.2.5: UTC, with seconds, Z). */
export function readTime(node: DerNode | undefined, what = 'Time'): Date {
  if (node === undefined) throw new DerError(`expected ${what}`);
  const s = node.value.toString('latin1');
  let m: RegExpExecArray | null;
  if (isUniversal(node, Tag.utcTime)) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (m === null) throw new DerError(`bad UTCTime in ${what}`);
    const yy = Number(m[1]);
    // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, else 20YY.
    const year = yy >= 50 ? 1900 + yy : 2000 + yy;
    return utc(year, m, what);
  }
  if (isUniversal(node, Tag.generalizedTime)) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d{1,9})?Z$/.exec(s);
    if (m === null) throw new DerError(`bad GeneralizedTime in ${what}`);
    return utc(Number(m[1]), m, what);
  }
  throw new DerError(`expected ${what}`);
}

function utc(year: number, m: RegExpExecArray, what: string): Date {
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const t = Date.UTC(year, mo - 1, d, h, mi, se);
  const back = new Date(t);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || se > 59)
    throw new DerError(`invalid date in ${what}`);
  return back;
}

/** A directory string (PrintableString, UTF8String, IA5String, BMPString, T61 as latin1, …) as text. */
export function readString(node: DerNode | undefined, what = 'string'): string {
  if (node === undefined || node.cls !== TagClass.universal) throw new DerError(`expected ${what}`);
  switch (node.tag) {
    case Tag.utf8String:
      return node.value.toString('utf8');
    case Tag.printableString:
    case Tag.ia5String:
    case Tag.visibleString:
    case Tag.t61String:
      return node.value.toString('latin1');
    case Tag.bmpString: {
      if (node.value.length % 2 !== 0) throw new DerError('bad BMPString');
      const swapped = Buffer.from(node.value);
      swapped.swap16();
      return swapped.toString('utf16le');
    }
    case Tag.universalString: {
      if (node.value.length % 4 !== 0) throw new DerError('bad UniversalString');
      let out = '';
      for (let i = 0; i < node.value.length; i += 4)
        out += String.fromCodePoint(node.value.readUInt32BE(i));
      return out;
    }
    default:
      throw new DerError(`expected ${what}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writing

function lengthOctets(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A TLV with a single-octet tag (tag numbers < 31). */
export function tlv(
  tag: number,
  value: Buffer,
  opts: { cls?: number; constructed?: boolean } = {},
): Buffer {
  if (tag >= 0x1f) throw new DerError('tag number too large for tlv()');
  const first = ((opts.cls ?? 0) << 6) | (opts.constructed === true ? 0x20 : 0) | tag;
  return Buffer.concat([Buffer.from([first]), lengthOctets(value.length), value]);
}

export function derSequence(...items: Buffer[]): Buffer {
  return tlv(Tag.sequence, Buffer.concat(items), { constructed: true });
}

export function derOctetString(v: Buffer): Buffer {
  return tlv(Tag.octetString, v);
}

export function derNull(): Buffer {
  return Buffer.from([0x05, 0x00]);
}

/** INTEGER from already-encoded two's complement contents (e.g. a certificate serial as read). */
export function derIntegerBytes(v: Buffer): Buffer {
  return tlv(Tag.integer, v);
}

export function derOid(oid: string): Buffer {
  const arcs = oid.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0))
    throw new DerError(`bad OID ${oid}`);
  const [a, b, ...rest] = arcs as [number, number, ...number[]];
  const out: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    const bytes = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128))
      bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return tlv(Tag.oid, Buffer.from(out));
}

/** [n] EXPLICIT wrapper. */
export function derExplicit(n: number, inner: Buffer): Buffer {
  return tlv(n, inner, { cls: TagClass.context, constructed: true });
}
