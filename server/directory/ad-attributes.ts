/**
 * What fedgate knows about AD attribute syntaxes when reading attributes for claim rules ([MS-ADA1..3]):
 * which come back as bytes, which of those are SIDs, and which are constructed (computed by the DC for one entry,
 * so they are only returned by a base-scope read of that entry, [MS-ADTS] §3.1.1.4.5).
 */
import { sidToString } from './guid.ts';

/** SID-syntax attributes (shown as S-1-5-21-… strings). */
const SID_ATTRIBUTES = [
  'objectSid',
  'tokenGroups',
  'tokenGroupsGlobalAndUniversal',
  'tokenGroupsNoGCAcceptable',
  'sIDHistory',
  'securityIdentifier',
  'msExchMasterAccountSid',
];

/** Octet-string attributes (shown base64, as AD FS issues objectGUID and mS-DS-ConsistencyGuid). */
const OCTET_ATTRIBUTES = [
  'objectGUID',
  'mS-DS-ConsistencyGuid',
  'msExchMailboxGuid',
  'msExchArchiveGUID',
  'thumbnailPhoto',
  'jpegPhoto',
  'userCertificate',
  'userSMIMECertificate',
];

const CONSTRUCTED_ATTRIBUTES = [
  'tokenGroups',
  'tokenGroupsGlobalAndUniversal',
  'tokenGroupsNoGCAcceptable',
  'msDS-UserPasswordExpiryTimeComputed',
  'msDS-User-Account-Control-Computed',
  'msDS-PrincipalName',
  'canonicalName',
  'allowedAttributes',
];

/** Most entries one claim-rule filter query may return; more is an error rather than a silently cut list. */
export const MAX_QUERY_ENTRIES = 1000;

const lower = (list: string[]): Set<string> => new Set(list.map((a) => a.toLowerCase()));
const SID = lower(SID_ATTRIBUTES);
const BINARY = lower([...SID_ATTRIBUTES, ...OCTET_ATTRIBUTES]);
const CONSTRUCTED = lower(CONSTRUCTED_ATTRIBUTES);

export const BINARY_ATTRIBUTE_NAMES: readonly string[] = [...SID_ATTRIBUTES, ...OCTET_ATTRIBUTES];

export function isSidAttribute(name: string): boolean {
  return SID.has(name.toLowerCase());
}
export function isBinaryAttribute(name: string): boolean {
  return BINARY.has(name.toLowerCase());
}
export function isConstructedAttribute(name: string): boolean {
  return CONSTRUCTED.has(name.toLowerCase());
}

/** How AD FS shows a value in a claim: SIDs as strings, other bytes base64, text as is. */
export function attributeText(name: string, value: string | Buffer): string {
  if (typeof value === 'string') return value;
  if (isSidAttribute(name)) return sidToString(value) ?? value.toString('base64');
  return value.toString('base64');
}

/** S-1-5-21-… to its binary form ([MS-DTYP] §2.4.2.2); undefined when malformed. */
export function sidToBytes(sid: string): Buffer | undefined {
  const m = /^S-1-(\d+)((?:-\d+){0,15})$/.exec(sid);
  if (m === null) return undefined;
  const authority = Number(m[1]);
  const subs = (m[2] ?? '').split('-').slice(1).map(Number);
  if (!Number.isSafeInteger(authority) || authority >= 2 ** 48) return undefined;
  if (subs.some((n) => !Number.isInteger(n) || n < 0 || n > 0xffffffff)) return undefined;
  const out = Buffer.alloc(8 + 4 * subs.length);
  out.writeUInt8(1, 0);
  out.writeUInt8(subs.length, 1);
  out.writeUIntBE(authority, 2, 6);
  subs.forEach((n, i) => out.writeUInt32LE(n, 8 + 4 * i));
  return out;
}

/** The domain naming context (DC=corp,DC=example,DC=test) a DN lives in; the DN itself when it has no DC parts. */
export function domainRootOf(dn: string): string {
  const parts = dn.split(/(?<!\\),(?=\s*DC=)/i);
  const idx = parts.findIndex((p) => /^\s*DC=/i.test(p));
  return idx <= 0 ? dn : parts.slice(idx).join(',');
}

/** corp.example.test for DC=corp,DC=example,DC=test (AD's DNS domain name is its DC components). */
export function dnsDomainOf(dn: string): string {
  return [...dn.matchAll(/(?:^|,)\s*DC=([^,]+)/gi)].map((m) => m[1] ?? '').join('.');
}
