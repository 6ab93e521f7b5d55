/**
 * Connection facts for the Samba AD DC started by tests/setup/samba.sh (one per machine, shared by every
 * test file), and independent reads through the OpenLDAP `ldapsearch` CLI.
 *
 * Lockout budget: the domain locks an account after 5 bad passwords within 30 minutes, and samba.sh clears
 * every test account's badPwdCount on each run. A full test run must fail at most 2 binds per account
 * (other than locked1); a later successful bind resets the count.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LdapDirectoryConfig } from '../../server/config/schema.ts';

export const SAMBA_STATE_DIR = '/var/tmp/fedgate-test/samba';

export type SambaUserName =
  | 'svc-fedgate'
  | 'jdoe' // John Doe: displayName, givenName, sn, mail; member of Finance (itself in Staff)
  | 'jsmith'
  | 'disabled1'
  | 'mustchange1' // pwdLastSet 0 → 773
  | 'expired1' // pwdLastSet in 2012 → 532
  | 'acctexpired1' // accountExpires now → 701
  | 'locked1' // locked out by samba.sh on every run → 775
  | 'consistency1' // mS-DS-ConsistencyGuid set
  | 'fabrikam1' // UPN in the second suffix: fabrikam1@fabrikam.test
  | 'subdomain1' // UPN in a subdomain of it: subdomain1@eu.fabrikam.test
  | 'inject1' // UPN with LDAP filter syntax: j*)(sAMAccountName=*@corp.example.test
  | 'wstrust1' // WS-Trust tests: successful sign-ins only
  | 'wstrust2' // WS-Trust tests: at most one wrong password per run
  | 'spray1' // smart-lockout spray target (PSO: AD lockout threshold 10)
  | 'spray2' // smart-lockout tests (PSO: AD lockout threshold 10)
  | 'pwchg1' // must change password at next logon (773); tests reset it as Administrator
  | 'pwchg2' // password expired (532, pwdLastSet backdated); tests reset it
  | 'pwchg3' // normal account for /adfs/portal/updatepassword/ (PSO: min age 0, length 8, complexity)
  | 'spray3' // lockout counters shared by two instances on one Redis (PSO: AD lockout threshold 10)
  | 'cert1' // certificate sign-in users: tests set altSecurityIdentities / use the SID or UPN mapping
  | 'cert2'
  | 'cert3'
  | 'cert4'
  | 'certoff1' // disabled: a valid certificate must still be refused
  | 'mfa1' // MFA enrolment records in msDS-cloudExtensionAttribute10 (svc-fedgate may write that attribute only)
  | 'mfa2'
  | 'mfa3';

export interface SambaUser {
  password: string;
  upn: string;
  dn: string;
}

export interface SambaEnv {
  urls: string[];
  baseDn: string;
  bindDn: string;
  bindPassword: string;
  netbiosDomain: string;
  realm: string;
  upnSuffix: string;
  /** A second UPN suffix (fabrikam.test), registered in uPNSuffixes. */
  secondUpnSuffix: string;
  caFile: string;
  adminDn: string;
  adminPassword: string;
  /** base64 of the mS-DS-ConsistencyGuid samba.sh wrote on consistency1. */
  consistencyGuid: string;
  stateDir: string;
  users: Record<SambaUserName, SambaUser>;
}

/** Reads env.json; throws (never skips) when the DC was not prepared. */
export function sambaEnv(): SambaEnv {
  const file = join(SAMBA_STATE_DIR, 'env.json');
  if (!existsSync(file)) {
    throw new Error(`Samba AD DC not prepared: ${file} is missing. Run: bash tests/setup/samba.sh`);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as SambaEnv;
}

/** An ldap directory config for the test DC (paths absolute, so baseDir does not matter). */
export function sambaLdapConfig(
  env: SambaEnv,
  overrides: Partial<LdapDirectoryConfig> = {},
): LdapDirectoryConfig {
  return {
    ...sambaOperatorDirectory(env),
    upnSuffixes: [],
    connectTimeoutMs: 3000,
    timeoutMs: 5000,
    poolSize: 4,
    maxQueueWaitMs: 2000,
    // The directory cache off unless a test turns it on: these tests count and time the DC's own operations.
    cache: { maxStalenessSeconds: 0, maxUsers: 20_000 },
    ...overrides,
  };
}

/**
 * The directory section an operator writes in fedgate.yaml for the test DC: only the keys that must be set, the
 * rest left to the defaults (for configs the spawned CLI reads, unlike sambaLdapConfig's tuned test values).
 */
export function sambaOperatorDirectory(env: SambaEnv) {
  return {
    kind: 'ldap' as const,
    urls: env.urls,
    baseDn: env.baseDn,
    bindDn: env.bindDn,
    bindPassword: env.bindPassword,
    netbiosDomain: env.netbiosDomain,
    tls: { ca: env.caFile },
  };
}

/** The DC's own certificate and key, for test servers that must pass verification with the test CA. */
export function sambaTlsFiles(env: SambaEnv): { cert: string; key: string } {
  return { cert: join(env.stateDir, 'tls', 'dc.pem'), key: join(env.stateDir, 'tls', 'dc.key') };
}

/** Who an ldapsearch binds as: Administrator (its password from the state folder) unless a DN and password are given. */
export interface LdapsearchQuery {
  bindDn?: string;
  password?: string;
  base?: string;
  scope?: 'base' | 'one' | 'sub';
  filter: string;
  attributes: readonly string[];
  /** Request controls, each as ldapsearch's `-E` takes it (e.g. EXTENDED_DN_CLI). */
  controls?: readonly string[];
}

/**
 * ldapsearch's `-E` for the extended DN control, string form (1.2.840.113556.1.4.529, value SEQUENCE { INTEGER 1 }):
 * DNs and DN values read `<GUID=…>;<SID=…>;CN=…` ([MS-ADTS] §3.1.1.3.4.1.5).
 */
export const EXTENDED_DN_CLI = '!1.2.840.113556.1.4.529=::MAMCAQE=';

/** One entry of ldapsearch's LDIF: attribute names lowercased, values as bytes. */
export interface LdifEntry {
  dn: string;
  attrs: Map<string, Buffer[]>;
}

/** ldapsearch -LLL -o ldif-wrap=no output (RFC 2849: `attr: text` or `attr:: base64`), read by the test itself. */
export function parseLdifEntries(text: string): LdifEntry[] {
  const out: LdifEntry[] = [];
  for (const block of text.split(/\n\n+/)) {
    let dn: string | undefined;
    const attrs = new Map<string, Buffer[]>();
    for (const line of block.split('\n')) {
      const m = /^([A-Za-z0-9;-]+):(:?) ?(.*)$/.exec(line);
      if (m === null) continue;
      const value = m[2] === ':' ? Buffer.from(m[3] ?? '', 'base64') : Buffer.from(m[3] ?? '');
      const name = (m[1] ?? '').toLowerCase();
      if (name === 'dn') dn = value.toString('utf8');
      else attrs.set(name, [...(attrs.get(name) ?? []), value]);
    }
    if (dn !== undefined) out.push({ dn, attrs });
  }
  return out;
}

/** Every value of an LDIF entry's attribute as text. */
export function ldifTexts(e: LdifEntry, name: string): string[] {
  return (e.attrs.get(name.toLowerCase()) ?? []).map((v) => v.toString('utf8'));
}

/** `<GUID=…>;<SID=…>;CN=…` split (GUID lowercased: the .NET form); throws on anything else. */
export function splitExtendedDn(value: string): {
  guid: string;
  sid: string | undefined;
  dn: string;
} {
  const m = /^<GUID=([0-9a-fA-F-]{36})>;(?:<SID=(S-[0-9-]+)>;)?(.*)$/.exec(value);
  if (m === null) throw new Error(`not an extended DN: ${value}`);
  return { guid: (m[1] ?? '').toLowerCase(), sid: m[2], dn: m[3] ?? '' };
}

/** The OpenLDAP CLIs' environment: LDAPS verified against the test CA, nothing else trusted. */
export function ldapCliEnv(env: SambaEnv): NodeJS.ProcessEnv {
  return { ...process.env, LDAPTLS_CACERT: env.caFile, LDAPTLS_REQCERT: 'demand' };
}

/**
 * The LDIF the ldapsearch CLI (OpenLDAP, not ldapts) prints over LDAPS with the test CA, lines unwrapped: an
 * independent read of what the DC holds. Bound as Administrator unless `bindDn`/`password` say otherwise.
 */
export function ldapsearchCli(env: SambaEnv, q: LdapsearchQuery): string {
  const bind =
    q.bindDn === undefined
      ? ['-D', env.adminDn, '-y', join(env.stateDir, 'admin.pw')]
      : ['-D', q.bindDn, '-w', q.password ?? ''];
  return execFileSync(
    'ldapsearch',
    [
      '-LLL',
      '-x',
      '-o',
      'ldif-wrap=no',
      '-H',
      env.urls[0] ?? '',
      ...bind,
      ...(q.controls ?? []).flatMap((c) => ['-E', c]),
      '-b',
      q.base ?? env.baseDn,
      ...(q.scope === undefined ? [] : ['-s', q.scope]),
      q.filter,
      ...q.attributes,
    ],
    { env: ldapCliEnv(env), encoding: 'utf8' },
  );
}

/**
 * The LDIF ldapsearch (the OpenLDAP CLI, not ldapts) prints for one account, read as Administrator over LDAPS
 * with the test CA: an independent read of what the DC holds. `attribute` '1.1' asks for the DN alone.
 */
export function ldapsearchAsAdmin(
  env: SambaEnv,
  sAMAccountName: string,
  attribute: string,
): string {
  return ldapsearchCli(env, {
    filter: `(sAMAccountName=${sAMAccountName})`,
    attributes: [attribute],
  });
}

/**
 * The first value of `attribute` in ldapsearch's LDIF as text, undefined when absent. RFC 2849: `attr:: base64`
 * unless every byte is a SAFE-CHAR (`attr: value`).
 */
export function ldifTextValue(ldif: string, attribute: string): string | undefined {
  const prefix = `${attribute.toLowerCase()}:`;
  const line = ldif.split('\n').find((l) => l.toLowerCase().startsWith(prefix));
  if (line === undefined) return undefined;
  const rest = line.slice(prefix.length);
  return rest.startsWith(': ')
    ? Buffer.from(rest.slice(2), 'base64').toString('utf8')
    : rest.trim();
}

/**
 * One binary attribute of a user, read as Administrator with the ldapsearch CLI (not ldapts), so tests can
 * compare what the provider computes with an independent read. undefined when the attribute is not set.
 */
export function readBinaryAttributeWithCli(
  env: SambaEnv,
  sAMAccountName: string,
  attribute: string,
): Buffer | undefined {
  if (!/^[a-z0-9-]+$/i.test(sAMAccountName) || !/^[a-z-]+$/i.test(attribute))
    throw new Error('unexpected name');
  const out = ldapsearchAsAdmin(env, sAMAccountName, attribute);
  // RFC 2849: `attr:: base64` unless every byte happens to be a SAFE-CHAR (`attr: value`).
  const prefix = `${attribute.toLowerCase()}:`;
  const line = out.split('\n').find((l) => l.toLowerCase().startsWith(prefix));
  if (line === undefined) return undefined;
  const rest = line.slice(prefix.length);
  return rest.startsWith(': ')
    ? Buffer.from(rest.slice(2), 'base64')
    : Buffer.from(rest.slice(1), 'utf8');
}

export function readObjectGuidWithCli(env: SambaEnv, sAMAccountName: string): Buffer {
  const guid = readBinaryAttributeWithCli(env, sAMAccountName, 'objectGUID');
  if (guid === undefined) throw new Error(`ldapsearch found no objectGUID for ${sAMAccountName}`);
  return guid;
}

/**
 * Replaces (or, with no values, clears) a text attribute of a test user as Administrator with the ldapmodify CLI,
 * the way an AD administrator sets altSecurityIdentities.
 */
export function replaceAttributeWithCli(
  env: SambaEnv,
  user: SambaUserName,
  attribute: string,
  values: readonly string[],
): void {
  if (!/^[a-z-]+$/i.test(attribute)) throw new Error('unexpected attribute name');
  const ldif = [
    `dn: ${env.users[user].dn}`,
    'changetype: modify',
    `replace: ${attribute}`,
    // base64 (`::`) so any character in a value is carried as is (RFC 2849).
    ...values.map((v) => `${attribute}:: ${Buffer.from(v, 'utf8').toString('base64')}`),
    '-',
    '',
  ].join('\n');
  execFileSync(
    'ldapmodify',
    ['-x', '-H', env.urls[0] ?? '', '-D', env.adminDn, '-y', join(env.stateDir, 'admin.pw')],
    { input: ldif, env: ldapCliEnv(env), encoding: 'utf8' },
  );
}

/**
 * OpenLDAP's ldapmodify or ldapdelete as Administrator over LDAPS with the test CA, input on stdin; the exit status
 * and output are returned, not thrown (a test may expect a refusal). Throws only when the tool is missing.
 */
export function ldapToolAsAdmin(
  env: SambaEnv,
  tool: 'ldapmodify' | 'ldapdelete',
  args: readonly string[] = [],
  input?: string,
): SpawnSyncReturns<string> {
  const r = spawnSync(
    tool,
    [
      '-x',
      '-H',
      env.urls[0] ?? '',
      '-D',
      env.adminDn,
      '-y',
      join(env.stateDir, 'admin.pw'),
      ...args,
    ],
    { env: ldapCliEnv(env), encoding: 'utf8', ...(input === undefined ? {} : { input }) },
  );
  if (r.error !== undefined) throw r.error;
  return r;
}
