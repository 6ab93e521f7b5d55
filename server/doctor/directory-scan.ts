/**
 * The Active Directory half of `fedgate doctor`'s directory checks (issue 21): reads the users, groups and contacts
 * in scope with one paged subtree search and hands them to analyse.ts, which knows no LDAP.
 *
 * Read-only, as the service account: a bind, one rootDSE read and the paged search; nothing is ever written
 * ("fedgate never writes to AD from doctor"). The search is IdFix's Multi-Tenant one (adfs-reference.md §5 [IDF]):
 * filter `(|(objectCategory=Person)(objectCategory=Group))` over the nine checked attributes, with the simple paged
 * results control (RFC 2696) so a directory of any size comes back in pages the DC allows (AD's MaxPageSize, 1000 by
 * default, caps every page; without the control AD stops at MaxPageSize entries and the rest would be missed).
 *
 * DCs are tried in the order of directory.urls, with the same TLS rules as the sign-in path (server/directory/
 * ldap.ts; security-corpus C4.6: certificate checks always on, the configured CA and server name); the first that
 * answers is scanned. A refused service account stops at once: another DC would refuse it too, and every try
 * counts toward AD's lockout of the service account.
 */
import {
  Client,
  InsufficientAccessError,
  InvalidCredentialsError,
  NoSuchObjectError,
  type Entry,
} from 'ldapts';
import {
  describeError,
  readCa,
  texts,
  values,
  verifiedClient,
  verifiedTlsOptions,
} from './ldap-common.ts';
import type { Config, LdapDirectoryConfig } from '../config/schema.ts';
import { dnsDomainOf } from '../directory/ad-attributes.ts';
import { mapInvalidCredentials } from '../directory/ad-errors.ts';
import { failoverReason, firstRdnValue } from '../directory/ldap.ts';
import type { Clock } from '../lib/clock.ts';
import { analyse, isSkipped, type DirectoryObject } from './analyse.ts';
import { rulesUseConsistencyGuid } from './source-anchor.ts';
import {
  CHECKED_ATTRIBUTES,
  type CheckedAttribute,
  type DirectoryFinding,
  type ScanStats,
} from './types.ts';

export interface ScanOptions {
  clock: Clock;
  /** Entries per page of the paged search (default 500, under AD's default MaxPageSize of 1000). */
  pageSize?: number;
  /** Search base (default directory.baseDn). */
  base?: string;
}

export interface ScanResult {
  stats: ScanStats;
  findings: DirectoryFinding[];
}

/** The directory could not be scanned: one line for the admin (which DC, what failed), never a stack. */
export class DirectoryScanError extends Error {
  override name = 'DirectoryScanError';
}

/** IdFix's Multi-Tenant filter ([IDF] src/IdFix/Settings): every person (users, contacts) and group. */
export const SCAN_FILTER = '(|(objectCategory=Person)(objectCategory=Group))';
const BINARY = ['objectGUID', 'mS-DS-ConsistencyGuid'];
export const SCAN_ATTRIBUTES = [
  'cn',
  'objectClass',
  'isCriticalSystemObject',
  ...BINARY,
  ...CHECKED_ATTRIBUTES,
];
const DEFAULT_PAGE_SIZE = 500;

/** Win32 sub-codes of a refused bind (security-corpus C3), as the admin should read them. */
const BIND_REASONS: Record<string, string> = {
  'ad:52e': 'wrong password or unknown account (AD data 52e)',
  'ad:525': 'no such account (AD data 525)',
  'ad:530': 'not allowed to log on at this time (AD data 530)',
  'ad:531': 'not allowed to log on from this computer (AD data 531)',
  'ad:532': 'its password has expired (AD data 532)',
  'ad:533': 'the account is disabled (AD data 533)',
  'ad:701': 'the account has expired (AD data 701)',
  'ad:773': 'its password must be changed (AD data 773)',
  'ad:775': 'the account is locked out (AD data 775)',
};

/**
 * Scans config.directory (kind ldap) and returns the findings of analyse.ts with the scan's figures. Throws
 * DirectoryScanError when no DC could be scanned.
 */
export async function scanDirectory(config: Config, opts: ScanOptions): Promise<ScanResult> {
  const dir = config.directory;
  if (dir.kind !== 'ldap')
    throw new DirectoryScanError(
      `directory.kind is ${dir.kind}: only an Active Directory (kind ldap) can be scanned`,
    );
  const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1)
    throw new DirectoryScanError(`page size must be a positive integer, not ${String(pageSize)}`);
  const base = opts.base ?? dir.baseDn;
  let tlsOptions;
  try {
    tlsOptions = verifiedTlsOptions(dir, readCa(dir, config.baseDir));
  } catch (err) {
    throw new DirectoryScanError(
      `cannot read directory.tls.ca (${dir.tls.ca ?? ''}): ${describeError(err)}`,
    );
  }
  // Before any DC is contacted: a rule file that cannot be read is a configuration problem, not a DC failure.
  let checkSourceAnchor: boolean;
  try {
    checkSourceAnchor = rulesUseConsistencyGuid(config);
  } catch (err) {
    throw new DirectoryScanError(
      `cannot read the Microsoft 365 issuance rules: ${describeError(err)}`,
    );
  }
  const failures: string[] = [];
  for (const url of dir.urls) {
    let client: Client | undefined;
    try {
      client = verifiedClient(url, dir, tlsOptions);
      return await scanOne(client, dir, base, pageSize, config, checkSourceAnchor, opts.clock);
    } catch (err) {
      if (err instanceof DirectoryScanError) throw err;
      if (err instanceof InvalidCredentialsError) {
        const { reason } = mapInvalidCredentials(err.message);
        throw new DirectoryScanError(
          `${url} refused the service account ${dir.bindDn}: ${BIND_REASONS[reason] ?? `invalid credentials (${reason})`}; check directory.bindDn and directory.bindPassword`,
        );
      }
      // Connection, TLS, timeout, busy/unavailable: this DC, not the request, failed; the next may answer.
      if (failoverReason(err) !== undefined) {
        failures.push(`${url}: ${describeError(err)}`);
        continue;
      }
      // Anything else would fail on every DC alike.
      if (err instanceof NoSuchObjectError)
        throw new DirectoryScanError(
          `${url}: the search base ${base} does not exist (check directory.baseDn)`,
        );
      if (err instanceof InsufficientAccessError)
        throw new DirectoryScanError(
          `${url}: the service account ${dir.bindDn} may not search ${base} (${describeError(err)})`,
        );
      throw new DirectoryScanError(`${url}: the scan of ${base} failed: ${describeError(err)}`);
    } finally {
      await client?.unbind().catch(() => undefined);
    }
  }
  throw new DirectoryScanError(`no domain controller answered (${failures.join('; ')})`);
}

async function scanOne(
  client: Client,
  dir: LdapDirectoryConfig,
  base: string,
  pageSize: number,
  config: Config,
  checkSourceAnchor: boolean,
  clock: Clock,
): Promise<ScanResult> {
  await client.bind(dir.bindDn, dir.bindPassword);
  const started = clock.now().getTime();
  // rootDSE: the forest's DNS domain names the implicit UPNs (sAMAccountName@domain) the ambiguity check needs.
  const { searchEntries: root } = await client.search('', {
    scope: 'base',
    filter: '(objectClass=*)',
    attributes: ['defaultNamingContext'],
  });
  const naming = root[0] === undefined ? undefined : texts(root[0], 'defaultNamingContext')[0];
  const adDnsDomain =
    naming === undefined || naming === '' ? undefined : dnsDomainOf(naming).toLowerCase();

  const objects: DirectoryObject[] = [];
  const stats: ScanStats = {
    bases: [base],
    objects: 0,
    users: 0,
    groups: 0,
    contacts: 0,
    skipped: 0,
    pages: 0,
    elapsedMs: 0,
  };
  const pages = client.searchPaginated(base, {
    scope: 'sub',
    filter: SCAN_FILTER,
    attributes: SCAN_ATTRIBUTES,
    explicitBufferAttributes: BINARY,
    paged: { pageSize },
  });
  for await (const page of pages) {
    stats.pages += 1;
    // Search references (other partitions under the base) are not followed: the scope is this domain.
    for (const entry of page.searchEntries) {
      stats.objects += 1;
      const o = toDirectoryObject(entry);
      if (isSkipped(o)) {
        stats.skipped += 1;
        continue;
      }
      if (o.objectClass === 'user') stats.users += 1;
      else if (o.objectClass === 'group') stats.groups += 1;
      else if (o.objectClass === 'contact') stats.contacts += 1;
      objects.push(o);
    }
  }
  const findings = analyse(objects, {
    federatedDomains: config.microsoft365.federatedDomains,
    adDnsDomain,
    checkSourceAnchor,
  });
  stats.elapsedMs = Math.max(0, clock.now().getTime() - started);
  return { stats, findings };
}

/** One search entry as analyse.ts sees it. */
export function toDirectoryObject(entry: Entry): DirectoryObject {
  const values: Partial<Record<CheckedAttribute, string[]>> = {};
  for (const a of CHECKED_ATTRIBUTES) {
    const v = texts(entry, a);
    if (v.length > 0) values[a] = v;
  }
  return {
    dn: entry.dn,
    commonName: texts(entry, 'cn')[0] ?? firstRdnValue(entry.dn),
    objectClass: structuralClass(texts(entry, 'objectClass')),
    container: parentOf(entry.dn),
    isCriticalSystemObject: texts(entry, 'isCriticalSystemObject')[0]?.toUpperCase() === 'TRUE',
    values,
    objectGuid: binary(entry, 'objectGUID'),
    consistencyGuid: binary(entry, 'mS-DS-ConsistencyGuid'),
  };
}

/**
 * IdFix's OBJECTCLASS column: the most specific class the filter can return. AD lists an object's class chain
 * (top, person, organizationalPerson, user); inetOrgPerson is a kind of user.
 */
function structuralClass(classes: readonly string[]): string {
  const lower = new Set(classes.map((c) => c.toLowerCase()));
  if (lower.has('contact')) return 'contact';
  if (lower.has('group')) return 'group';
  if (lower.has('user') || lower.has('inetorgperson')) return 'user';
  return classes.at(-1) ?? '';
}

/** The DN of the OU or container an object is in: its DN without the first RDN (RFC 4514: `\,` is not a separator). */
function parentOf(dn: string): string {
  for (let i = 0; i < dn.length; i++) {
    const ch = dn.charAt(i);
    if (ch === '\\') i += 1;
    else if (ch === ',') return dn.slice(i + 1).trimStart();
  }
  return '';
}

function binary(entry: Entry, name: string): Buffer | undefined {
  const [v] = values(entry, name);
  if (v === undefined) return undefined;
  return Buffer.isBuffer(v) ? v : Buffer.from(v, 'binary');
}
