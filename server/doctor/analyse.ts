/**
 * The directory-independent half of `fedgate doctor`'s directory checks (issue 21): objects in, findings out.
 * directory-scan.ts reads AD with paged searches and hands every object here; nothing in this file talks LDAP.
 *
 * - IdFix's per-value rules (Multi-Tenant mode, adfs-reference.md §5 [IDF]) for the nine checked attributes, with
 *   IdFix's skip rules (well-known system accounts by cn prefix, cn ending `$`, replication conflicts `\0ACNF:`,
 *   critical system objects);
 * - IdFix's duplicate rule across the whole scope, and across attributes where Entra ID needs one owner per address
 *   (userPrincipalName, mail, smtp proxyAddresses and targetAddress share one namespace, compared without the
 *   `smtp:` prefix and ignoring case; mailNickname, sAMAccountName and non-SMTP proxy addresses each have their
 *   own). The same value twice on one object (mail = primary SMTP address = UPN) is normal, not a duplicate;
 * - the federation classes: a UPN suffix outside microsoft365.federatedDomains, a source anchor the rules would issue
 *   differently from what Entra Connect synchronised, and an explicit UPN that hides another user's implicit UPN.
 *
 * Linear in the number of values (Maps keyed by the normalised value; no pairwise loops), no recursion, and no
 * input string makes it throw.
 */
import { checkBlank, checkValue, MULTI_VALUED } from './idfix-rules.ts';
import {
  CHECKED_ATTRIBUTES,
  type CheckedAttribute,
  type DirectoryFinding,
  type FindingClass,
  type Severity,
} from './types.ts';

export interface DirectoryObject {
  dn: string;
  commonName: string;
  /** 'user' | 'group' | 'contact' */
  objectClass: string;
  container: string;
  isCriticalSystemObject: boolean;
  /** Absent or empty = blank. */
  values: Partial<Record<CheckedAttribute, string[]>>;
  objectGuid: Buffer | undefined;
  consistencyGuid: Buffer | undefined;
  /** Optional, may be ignored. */
  sAMAccountType?: number;
}

export interface AnalysisContext {
  /** microsoft365.federatedDomains */
  federatedDomains: readonly string[];
  /** e.g. corp.example.test (the implicit-UPN namespace: sAMAccountName@adDnsDomain). */
  adDnsDomain: string | undefined;
  /** The Microsoft 365 rules use mS-DS-ConsistencyGuid (source-anchor.ts). */
  checkSourceAnchor: boolean;
}

/** IdFix's well-known exclusions: accounts whose cn starts with these are system or service accounts. */
const SKIPPED_CN_PREFIXES = [
  'Admini',
  'CAS_{',
  'DiscoverySearchMailbox',
  'FederatedEmail',
  'Guest',
  'HTTPConnector',
  'krbtgt',
  'iusr_',
  'iwam',
  'msol',
  'support_',
  'SystemMailbox',
  'WWIOadmini',
  'HealthMailbox',
  'Exchange Online-ApplicationAccount',
].map((p) => p.toLowerCase());

/** IdFix's skip rules: system accounts by cn prefix, cn ending `$`, replication conflict objects, critical objects. */
export function isSkipped(o: DirectoryObject): boolean {
  if (o.isCriticalSystemObject) return true;
  const cn = o.commonName.toLowerCase();
  if (cn.endsWith('$')) return true;
  for (const p of SKIPPED_CN_PREFIXES) if (cn.startsWith(p)) return true;
  // A conflict object's RDN gets "\nCNF:<guid>" appended; DCs return the newline escaped as \0A.
  const dn = o.dn.toUpperCase();
  return dn.includes('\\0ACNF:') || dn.includes('\nCNF:');
}

const ANCHOR_ATTRIBUTE = 'mS-DS-ConsistencyGuid';

const DETAIL: Record<'duplicate' | 'upn-suffix-not-federated' | 'ambiguous-upn', string> = {
  duplicate:
    'another object in scope has this value (UPN, mail, smtp proxy addresses and targetAddress share one namespace): Entra Connect cannot synchronise both',
  'upn-suffix-not-federated':
    'the UPN suffix is not in microsoft365.federatedDomains: Entra ID never sends this user to fedgate',
  'ambiguous-upn':
    "this UPN equals another user's implicit UPN (sAMAccountName@AD DNS domain): a sign-in with it is ambiguous",
};

/** The duplicate namespace and key of one value, or undefined when it takes no part. */
function duplicateKey(attribute: CheckedAttribute, value: string): string | undefined {
  const lower = value.toLowerCase();
  switch (attribute) {
    case 'userPrincipalName':
    case 'mail':
      return `a\u0000${lower}`;
    case 'proxyAddresses':
    case 'targetAddress':
      return lower.startsWith('smtp:')
        ? `a\u0000${lower.slice(5)}`
        : `p:${attribute}\u0000${lower}`;
    case 'mailNickname':
      return `n\u0000${lower}`;
    case 'sAMAccountName':
      return `s\u0000${lower}`;
    default:
      return undefined;
  }
}

/** The first non-empty value. */
function firstValue(values: readonly string[] | undefined): string | undefined {
  if (values !== undefined) for (const v of values) if (v !== '') return v;
  return undefined;
}

/** The DNS suffix after the last `@`, lower case; undefined without one. */
function suffixOf(upn: string): string | undefined {
  const at = upn.lastIndexOf('@');
  return at < 0 ? undefined : upn.slice(at + 1).toLowerCase();
}

function isFederatedSuffix(suffix: string, federated: readonly string[]): boolean {
  for (const d of federated) {
    const f = d.toLowerCase();
    if (suffix === f || suffix.endsWith(`.${f}`)) return true;
  }
  return false;
}

function compare(a: DirectoryFinding, b: DirectoryFinding): number {
  const keys: (keyof DirectoryFinding)[] = ['dn', 'attribute', 'class', 'value'];
  for (const k of keys) {
    const x = a[k] as string;
    const y = b[k] as string;
    if (x < y) return -1;
    if (x > y) return 1;
  }
  const ux = a.update ?? '';
  const uy = b.update ?? '';
  return ux < uy ? -1 : ux > uy ? 1 : 0;
}

/** Every finding for the objects in scope, sorted by (dn, attribute, class, value). Skipped objects give nothing. */
export function analyse(
  objects: readonly DirectoryObject[],
  ctx: AnalysisContext,
): DirectoryFinding[] {
  const findings: DirectoryFinding[] = [];
  const finding = (
    o: DirectoryObject,
    attribute: string,
    cls: FindingClass,
    value: string,
    update: string | undefined,
    detail: string,
    severity: Severity = 'error',
  ): void => {
    findings.push({
      dn: o.dn,
      commonName: o.commonName,
      objectClass: o.objectClass,
      container: o.container,
      attribute,
      class: cls,
      severity,
      value,
      update,
      multiValued: MULTI_VALUED.has(attribute as CheckedAttribute),
      detail,
    });
  };

  const inScope = objects.filter((o) => !isSkipped(o));
  /** key → index of the first owning object, or -1 once a second object has it. */
  const owners = new Map<string, number>();
  /** Every keyed value, for pass 2: object index, attribute, value, key. */
  const keyed: { i: number; attribute: CheckedAttribute; value: string; key: string }[] = [];
  /** Implicit UPNs (sAMAccountName@adDnsDomain, lower case) → the owning user's index. */
  const implicit = new Map<string, number>();
  const dnsDomain = ctx.adDnsDomain?.toLowerCase();
  const federated = ctx.federatedDomains;

  // Pass 1: per-value rules, blanks, federation classes; collect the duplicate namespaces.
  for (const [i, o] of inScope.entries()) {
    const isUser = o.objectClass.toLowerCase() === 'user';
    const opts = { federatedDomains: federated, objectClass: o.objectClass };
    for (const attribute of CHECKED_ATTRIBUTES) {
      const values = o.values[attribute] ?? [];
      let seen: Set<string> | undefined;
      let any = false;
      for (const value of values) {
        if (value === '') continue;
        any = true;
        if (values.length > 1) {
          seen ??= new Set();
          if (seen.has(value)) continue;
          seen.add(value);
        }
        const check = checkValue(attribute, value, opts);
        for (const p of check.problems)
          finding(o, attribute, p.class, value, check.update, p.detail);
        const key = duplicateKey(attribute, value);
        if (key !== undefined) {
          keyed.push({ i, attribute, value, key });
          const owner = owners.get(key);
          if (owner === undefined) owners.set(key, i);
          else if (owner !== i) owners.set(key, -1);
        }
      }
      if (!any) {
        const blank = checkBlank(attribute, o);
        if (blank !== undefined) finding(o, attribute, 'blank', '', blank.update, blank.detail);
      }
    }
    if (!isUser) continue;
    const upn = firstValue(o.values.userPrincipalName);
    if (upn !== undefined && federated.length > 0) {
      const suffix = suffixOf(upn);
      if (suffix === undefined || !isFederatedSuffix(suffix, federated))
        finding(
          o,
          'userPrincipalName',
          'upn-suffix-not-federated',
          upn,
          undefined,
          DETAIL['upn-suffix-not-federated'],
        );
    }
    if (ctx.checkSourceAnchor) {
      if (o.consistencyGuid === undefined || o.consistencyGuid.length === 0)
        finding(
          o,
          ANCHOR_ATTRIBUTE,
          'source-anchor-missing',
          '',
          undefined,
          'mS-DS-ConsistencyGuid is not set although the issuance rules read it: the ImmutableID falls back to objectGUID, which may not be the anchor Entra Connect synchronised',
          'warning',
        );
      else if (o.objectGuid !== undefined && !o.consistencyGuid.equals(o.objectGuid))
        finding(
          o,
          ANCHOR_ATTRIBUTE,
          'source-anchor-mismatch',
          o.consistencyGuid.toString('base64'),
          undefined,
          "mS-DS-ConsistencyGuid differs from objectGUID: check it is the anchor Entra Connect synchronised, or the user's ImmutableID will not match",
        );
    }
    const sam = firstValue(o.values.sAMAccountName);
    if (sam !== undefined && dnsDomain !== undefined) {
      const key = `${sam.toLowerCase()}@${dnsDomain}`;
      if (!implicit.has(key)) implicit.set(key, i);
    }
  }

  // Pass 2: duplicates (every owner of a shared key) and ambiguous UPNs.
  for (const k of keyed) {
    const o = inScope[k.i];
    if (o !== undefined && owners.get(k.key) === -1)
      finding(o, k.attribute, 'duplicate', k.value, undefined, DETAIL.duplicate);
  }
  if (implicit.size > 0)
    for (const [i, o] of inScope.entries()) {
      if (o.objectClass.toLowerCase() !== 'user') continue;
      const upn = firstValue(o.values.userPrincipalName);
      if (upn === undefined) continue;
      const other = implicit.get(upn.toLowerCase());
      if (other !== undefined && other !== i)
        finding(o, 'userPrincipalName', 'ambiguous-upn', upn, undefined, DETAIL['ambiguous-upn']);
    }

  return findings.sort(compare);
}
