/**
 * LDAP pieces the change tracker needs beyond plain searches: AD's extended DN control, the extended DN string form it
 * makes the DC return, and ranged attribute retrieval ([MS-ADTS] §3.1.1.3.1.3.3), which AD uses for any attribute
 * with more values than MaxValRange (1500 by default) and which Samba never does unless a range is asked for.
 */
import { Control, type BerWriter, type Entry } from 'ldapts';

/** LDAP_SERVER_EXTENDED_DN_OID ([MS-ADTS] §3.1.1.3.4.1.5). */
export const EXTENDED_DN_OID = '1.2.840.113556.1.4.529';

/** ExtendedDNRequestValue SEQUENCE { Flag INTEGER 1 }: GUID and SID as strings, not hex ([MS-ADTS] §3.1.1.3.4.1.5). */
const EXTENDED_DN_STRING_FORM = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]);

/**
 * The extended DN control, sent critical: a DC that does not support it must refuse the search (result 12) rather
 * than answer with plain DNs, whose members the tracker could not key by objectGUID.
 */
export class ExtendedDnControl extends Control {
  constructor() {
    super(EXTENDED_DN_OID, { critical: true });
  }

  protected override writeControl(writer: BerWriter): void {
    // The control value is an OCTET STRING (tag 4) holding the BER of the request value (RFC 4511 §4.1.11).
    writer.writeBuffer(EXTENDED_DN_STRING_FORM, 4);
  }
}

export interface ExtendedDn {
  /** Lowercase .NET string form (as bytesToGuid gives it); undefined when the value carried no <GUID=…>. */
  guid: string | undefined;
  /** S-1-5-…; undefined for objects without a SID (contacts, OUs, distribution lists keep theirs). */
  sid: string | undefined;
  /** The plain DN after the <…> parts. */
  dn: string;
}

const GUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SID_TEXT = /^S-1-\d+(?:-\d+){0,15}$/;

/**
 * Splits `<GUID=…>;<SID=…>;CN=…` ([MS-ADTS] §3.1.1.3.4.1.5, string form). A value without the prefix parts is a plain
 * DN (guid undefined). A malformed GUID or SID part is treated as absent, never guessed.
 */
export function parseExtendedDn(value: string): ExtendedDn {
  let rest = value;
  let guid: string | undefined;
  let sid: string | undefined;
  // At most a handful of prefix parts exist (GUID, SID); the bound keeps a hostile value from looping long.
  for (let parts = 0; parts < 4 && rest.startsWith('<'); parts++) {
    const close = rest.indexOf('>');
    if (close < 0) break;
    const part = rest.slice(1, close);
    const eq = part.indexOf('=');
    const key = eq < 0 ? '' : part.slice(0, eq).toUpperCase();
    const v = eq < 0 ? '' : part.slice(eq + 1);
    if (key === 'GUID' && GUID_TEXT.test(v)) guid = v.toLowerCase();
    else if (key === 'SID' && SID_TEXT.test(v)) sid = v;
    rest = rest.slice(close + 1);
    if (rest.startsWith(';')) rest = rest.slice(1);
  }
  return { guid, sid, dn: rest };
}

export interface RangedKey {
  /** The attribute name before `;range=`. */
  attribute: string;
  start: number;
  /** undefined for `*`: these were the last values. */
  end: number | undefined;
}

/** `member;range=0-1499` → { member, 0, 1499 }; `member;range=1500-*` → end undefined; anything else undefined. */
export function parseRangedKey(key: string): RangedKey | undefined {
  const m = /^([A-Za-z][A-Za-z0-9-]*);range=(\d{1,9})-(\d{1,9}|\*)$/i.exec(key);
  if (m === null) return undefined;
  const start = Number(m[2]);
  const end = m[3] === '*' ? undefined : Number(m[3]);
  if (end !== undefined && end < start) return undefined;
  return { attribute: m[1] ?? '', start, end };
}

/** The ranged part of `attribute` in an entry, when the DC returned one instead of the plain attribute. */
export function rangedPart(
  entry: Entry,
  attribute: string,
): { range: RangedKey; values: (string | Buffer)[] } | undefined {
  const lower = attribute.toLowerCase();
  for (const [key, value] of Object.entries(entry)) {
    const range = parseRangedKey(key);
    if (range?.attribute.toLowerCase() !== lower) continue;
    return { range, values: Array.isArray(value) ? value : [value] };
  }
  return undefined;
}

/** One base read of `dn` asking for the attribute option `attr;range=start-*` (or `start-end`), entry or undefined. */
export type RangeReader = (dn: string, rangedAttribute: string) => Promise<Entry | undefined>;

/** Most base reads one ranged attribute may take: 10 million values at AD's 1500 a read. */
const MAX_RANGE_READS = 7000;

/**
 * Every value of a ranged attribute ([MS-ADTS] §3.1.1.3.1.3.3): starting from the values a search returned under
 * `attr;range=0-N`, reads `attr;range=N+1-*` by base reads until the DC answers with an end of `*`. Iterative, and
 * each step must move forward, so a DC answering the same range again cannot make it loop. `step` asks for explicit
 * ranges (start-(start+step-1)); the DC answers with the end it chose either way (tests use it on Samba, which
 * returns everything for `start-*`).
 */
export async function readRangedValues(
  read: RangeReader,
  dn: string,
  attribute: string,
  first: { range: RangedKey; values: (string | Buffer)[] },
  step?: number,
): Promise<(string | Buffer)[]> {
  if (first.range.start !== 0)
    throw new Error(`${attribute} of ${dn}: the first range starts at ${first.range.start}`);
  const out = [...first.values];
  let end = first.range.end;
  for (let reads = 0; end !== undefined; reads++) {
    if (reads >= MAX_RANGE_READS) throw new Error(`${attribute} of ${dn}: too many ranges`);
    const start = end + 1;
    const wanted = `${attribute};range=${start}-${step === undefined ? '*' : start + step - 1}`;
    const entry = await read(dn, wanted);
    const part = entry === undefined ? undefined : rangedPart(entry, attribute);
    if (part === undefined) {
      // No ranged part at all: the values ran out exactly at the previous end (the group shrank meanwhile).
      break;
    }
    if (part.range.start !== start)
      throw new Error(
        `${attribute} of ${dn}: asked for range ${start}-, the DC answered ${part.range.start}-`,
      );
    if (part.range.end !== undefined && part.values.length === 0)
      throw new Error(`${attribute} of ${dn}: an empty range that is not the last`);
    out.push(...part.values);
    end = part.range.end;
  }
  return out;
}
