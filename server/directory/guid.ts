/**
 * objectGUID and objectSid helpers. AD stores objectGUID as the 16 bytes of a .NET Guid, whose first three
 * fields are little-endian ([MS-DTYP] §2.3.4.2): the string 00112233-4455-6677-8899-aabbccddeeff is the bytes
 * 33 22 11 00 55 44 77 66 88 99 aa bb cc dd ee ff. Entra ImmutableID is base64 of those raw bytes.
 */

const GUID_RE = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;

/** Parses the .NET string form of a GUID into its 16 AD/.NET bytes; undefined when malformed. */
export function guidToBytes(guid: string): Buffer | undefined {
  const m = GUID_RE.exec(guid.trim());
  if (!m) return undefined;
  const [, a, b, c, d, e] = m as unknown as [string, string, string, string, string, string];
  return Buffer.concat([
    Buffer.from(a, 'hex').reverse(),
    Buffer.from(b, 'hex').reverse(),
    Buffer.from(c, 'hex').reverse(),
    Buffer.from(d + e, 'hex'),
  ]);
}

/** The .NET string form of 16 objectGUID bytes (what Get-ADUser shows). */
export function bytesToGuid(bytes: Buffer): string {
  if (bytes.length !== 16) throw new RangeError(`a GUID has 16 bytes, got ${bytes.length}`);
  const h = (start: number, end: number, reverse: boolean): string => {
    const part = Buffer.from(bytes.subarray(start, end));
    return (reverse ? part.reverse() : part).toString('hex');
  };
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`;
}

/**
 * Binary SID ([MS-DTYP] §2.4.2.2: revision, sub-authority count, 48-bit big-endian identifier authority,
 * 32-bit little-endian sub-authorities) to its S-1-5-21-… string; undefined when malformed.
 */
export function sidToString(sid: Buffer): string | undefined {
  if (sid.length < 8) return undefined;
  const revision = sid.readUInt8(0);
  const count = sid.readUInt8(1);
  if (revision !== 1 || sid.length !== 8 + 4 * count) return undefined;
  const authority = sid.readUIntBE(2, 6);
  const subs: number[] = [];
  for (let i = 0; i < count; i++) subs.push(sid.readUInt32LE(8 + 4 * i));
  return ['S', revision, authority, ...subs].join('-');
}
