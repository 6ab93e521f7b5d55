/**
 * The seeded directory of `fedgate doctor`'s tests (issue 21; the table "The seeded directory" in the helpers'
 * brief): one OU per test file on the Samba test DC, re-created from scratch as Administrator over LDAPS (ldapts),
 * holding users with each IdFix error class and federation problem, clean users and one clean group.
 *
 * Needs mailNickname/targetAddress in the DC's schema: tests/setup/doctor-schema.sh (run after samba.sh).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Attribute, Change, Client, NoSuchObjectError, type Entry } from 'ldapts';
import { resolveConfig } from '../../server/config/load.ts';
import type { Config } from '../../server/config/schema.ts';
import { sambaLdapConfig, type SambaEnv } from './samba.ts';

export const DOCTOR_USERS = [
  'clean1',
  'clean2',
  'localupn',
  'space1',
  'umlaut1',
  'dupproxy1',
  'dupproxy2',
  'dupupn1',
  'dupmail1',
  'blankmail1',
  'longnick1',
  'anchor1',
  'noanchor1',
  'ambig1',
  'ambig2',
] as const;
export type DoctorUser = (typeof DOCTOR_USERS)[number];

export const DOCTOR_GROUP = 'doctor-group';
/** The federated domain of the seed's config (microsoft365.federatedDomains). */
export const FEDERATED_DOMAIN = 'contoso.com';
/** anchor1's mS-DS-ConsistencyGuid: 16 bytes that are not its objectGUID (fixed, so tests can name it). */
export const ANCHOR1_CONSISTENCY_GUID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
/** longnick1's mailNickname: one over IdFix's 64 (Exchange's rangeUpper, left out of the test schema). */
export const LONG_NICKNAME = 'n'.repeat(65);

export interface DoctorSeed {
  /** The OU's DN (the scan base). */
  ou: string;
  /**
   * Appended to every name and local part of this OU's seed ('' for OU=DoctorScan, whose names are the table's own):
   * sAMAccountName and userPrincipalName are unique in the whole domain (Samba enforces both), so two test files
   * seeding their own OUs at once need their own names.
   */
  suffix: string;
  /** Keyed by the table's name; `sam` is the sAMAccountName and cn actually used (table name + suffix). */
  users: Record<DoctorUser, { sam: string; dn: string; objectGuid: Buffer }>;
  group: { sam: string; dn: string; objectGuid: Buffer };
  /** A full configuration: the test DC as an ldap directory with baseDn = the OU, contoso.com federated. */
  config: Config;
}

/** What each seeded user holds besides cn, sAMAccountName, displayName, givenName and sn. */
interface UserSpec {
  upn: string;
  mail?: string;
  mailNickname?: string;
  proxyAddresses?: string[];
  /** 'own' (the default): its objectGUID; 'none': not set; a Buffer: that value. */
  consistencyGuid?: 'own' | 'none' | Buffer;
}

/** The suffix of an OU's names: none for OU=DoctorScan, `-<short name>` otherwise (sAMAccountName stays <= 20). */
export function suffixOf(ou: string): string {
  const name = ou.replace(/^OU=/i, '');
  if (name === 'DoctorScan') return '';
  return `-${
    name
      .replace(/^Doctor/i, '')
      .toLowerCase()
      .slice(0, 8) || 'x'
  }`;
}

function specs(x: string): Record<DoctorUser, UserSpec> {
  const at = (local: string): string => `${local}${x}@${FEDERATED_DOMAIN}`;
  return {
    clean1: {
      upn: at('clean1'),
      mail: at('clean1'),
      mailNickname: `clean1${x}`,
      proxyAddresses: [`SMTP:${at('clean1')}`, `smtp:${at('c1')}`],
    },
    clean2: { upn: at('clean2') },
    localupn: { upn: `localupn${x}@corp.local` },
    space1: { upn: at('john smith') },
    umlaut1: { upn: at('jürgen') },
    dupproxy1: {
      upn: at('dupproxy1'),
      mail: at('dupproxy1'),
      proxyAddresses: [`SMTP:${at('dupproxy1')}`, `smtp:${at('shared')}`],
    },
    dupproxy2: {
      upn: at('dupproxy2'),
      mail: at('dupproxy2'),
      proxyAddresses: [`SMTP:${at('dupproxy2')}`, `smtp:${at('shared')}`],
    },
    dupupn1: { upn: at('dupe') },
    dupmail1: { upn: at('dupmail1'), mail: at('dupe') },
    blankmail1: { upn: at('blankmail1'), proxyAddresses: [`SMTP:${at('blankmail1')}`] },
    longnick1: { upn: at('longnick1'), mailNickname: LONG_NICKNAME },
    anchor1: { upn: at('anchor1'), consistencyGuid: ANCHOR1_CONSISTENCY_GUID },
    noanchor1: { upn: at('noanchor1'), consistencyGuid: 'none' },
    // Created with a placeholder; the real UPN (ambig1Upn) is written behind Samba's clash check once ambig2 exists.
    ambig1: { upn: at('ambig1') },
    ambig2: { upn: at('ambig2x') },
  };
}

/** ambig1's UPN: ambig2's implicit UPN (its sAMAccountName @ the AD DNS domain). */
export function ambig1Upn(suffix: string): string {
  return `ambig2${suffix}@corp.example.test`;
}

/** One expected finding, as the table gives it (cn = the seeded name). */
export interface ExpectedFinding {
  commonName: string;
  attribute: string;
  class: string;
  severity: string;
  value: string;
  update: string | undefined;
}

/** Classes without a safe automatic fix: what remains after the fix LDIF is applied. */
export const UNFIXABLE_CLASSES: ReadonlySet<string> = new Set([
  'duplicate',
  'source-anchor-mismatch',
  'source-anchor-missing',
]);

/**
 * The exact findings the table "The seeded directory" gives for a seed (names and values with its suffix). Clean
 * users (clean1, clean2, ambig2) and the group have none.
 */
export function expectedFindings(seed: Pick<DoctorSeed, 'suffix'>): ExpectedFinding[] {
  const x = seed.suffix;
  const c = `@${FEDERATED_DOMAIN}`;
  const UPN = 'userPrincipalName';
  const ANCHOR = 'mS-DS-ConsistencyGuid';
  const f = (
    user: DoctorUser,
    attribute: string,
    cls: string,
    value: string,
    update: string | undefined,
    severity = 'error',
  ): ExpectedFinding => ({ commonName: user + x, attribute, class: cls, severity, value, update });
  const ambig = ambig1Upn(x);
  return [
    f('localupn', UPN, 'topleveldomain', `localupn${x}@corp.local`, `localupn${x}${c}`),
    f('localupn', UPN, 'upn-suffix-not-federated', `localupn${x}@corp.local`, undefined),
    f('space1', UPN, 'character', `john smith${x}${c}`, `johnsmith${x}${c}`),
    f('umlaut1', UPN, 'character', `jürgen${x}${c}`, `jurgen${x}${c}`),
    f('dupproxy1', 'proxyAddresses', 'duplicate', `smtp:shared${x}${c}`, undefined),
    f('dupproxy2', 'proxyAddresses', 'duplicate', `smtp:shared${x}${c}`, undefined),
    f('dupupn1', UPN, 'duplicate', `dupe${x}${c}`, undefined),
    f('dupmail1', 'mail', 'duplicate', `dupe${x}${c}`, undefined),
    f('blankmail1', 'mail', 'blank', '', `blankmail1${x}${c}`),
    f('longnick1', 'mailNickname', 'length', LONG_NICKNAME, LONG_NICKNAME.slice(0, 64)),
    f(
      'anchor1',
      ANCHOR,
      'source-anchor-mismatch',
      ANCHOR1_CONSISTENCY_GUID.toString('base64'),
      undefined,
    ),
    f('noanchor1', ANCHOR, 'source-anchor-missing', '', undefined, 'warning'),
    f('ambig1', UPN, 'topleveldomain', ambig, `ambig2${x}${c}`),
    f('ambig1', UPN, 'upn-suffix-not-federated', ambig, undefined),
    f('ambig1', UPN, 'ambiguous-upn', ambig, undefined),
  ];
}

/** An Administrator connection to the test DC over LDAPS, verified with the test CA. */
export async function adminClient(env: SambaEnv, url = env.urls[0] ?? ''): Promise<Client> {
  const client = new Client({
    url,
    timeout: 30_000,
    connectTimeout: 5000,
    tlsOptions: { ca: readFileSync(env.caFile), rejectUnauthorized: true, minVersion: 'TLSv1.2' },
  });
  await client.bind(env.adminDn, env.adminPassword);
  return client;
}

/** Fails (never skips) with the fix when the DC lacks mailNickname/targetAddress (tests/setup/doctor-schema.sh). */
export async function requireExchangeSchema(client: Client, env: SambaEnv): Promise<void> {
  const { searchEntries } = await client.search(`CN=Schema,CN=Configuration,${env.baseDn}`, {
    scope: 'one',
    filter: '(|(lDAPDisplayName=mailNickname)(lDAPDisplayName=targetAddress))',
    attributes: ['1.1'],
  });
  if (searchEntries.length !== 2)
    throw new Error(
      "the test DC's schema lacks mailNickname/targetAddress: run bash tests/setup/doctor-schema.sh",
    );
}

/** Deletes `dn` and everything under it (deepest first), when it exists. */
export async function deleteSubtree(client: Client, dn: string): Promise<void> {
  let entries: Entry[];
  try {
    ({ searchEntries: entries } = await client.search(dn, {
      scope: 'sub',
      filter: '(objectClass=*)',
      attributes: ['1.1'],
      paged: { pageSize: 500 },
    }));
  } catch (err) {
    if (err instanceof NoSuchObjectError) return;
    throw err;
  }
  const depth = (d: string): number => d.split(/(?<!\\),/).length;
  const dns = entries.map((e) => e.dn).sort((a, b) => depth(b) - depth(a));
  for (const d of dns) await client.del(d);
}

/** The first value of an attribute as bytes, whatever case the DC spelled its name in. */
export function binaryOf(entry: Entry, name: string): Buffer | undefined {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === name.toLowerCase());
  const v = key === undefined ? undefined : entry[key];
  const first = Array.isArray(v) ? v[0] : v;
  return Buffer.isBuffer(first) ? first : undefined;
}

async function objectGuidOf(client: Client, dn: string): Promise<Buffer> {
  const { searchEntries } = await client.search(dn, {
    scope: 'base',
    attributes: ['objectGUID'],
    explicitBufferAttributes: ['objectGUID'],
  });
  const [entry] = searchEntries;
  const guid = entry === undefined ? undefined : binaryOf(entry, 'objectGUID');
  if (guid?.length !== 16) throw new Error(`no objectGUID read back for ${dn}`);
  return guid;
}

/**
 * Replaces one text attribute of an entry in the test DC's domain partition file with ldbmodify, past Samba's samldb
 * module. Only for what Windows AD accepts and Samba 4.17 alone refuses: a UPN equal to another account's implicit
 * UPN (samldb_sam_account_upn_clash, the CVE-2020-25722 hardening). The running DC sees the change at once (tdb).
 */
export function writeBehindSamldb(
  env: SambaEnv,
  dn: string,
  attribute: string,
  value: string,
): void {
  if (!/^[A-Za-z-]+$/.test(attribute)) throw new Error('unexpected attribute name');
  const partition = join(
    env.stateDir,
    'dc',
    'private',
    'sam.ldb.d',
    `${env.baseDn.toUpperCase()}.ldb`,
  );
  const ldif = [
    `dn: ${dn}`,
    'changetype: modify',
    `replace: ${attribute}`,
    `${attribute}:: ${Buffer.from(value, 'utf8').toString('base64')}`,
    '-',
    '',
  ].join('\n');
  execFileSync('ldbmodify', ['-H', partition], { input: ldif, encoding: 'utf8' });
}

/** The user entry's attributes as an LDAP add (no password: the account is created disabled, which doctor ignores). */
export function userAttributes(
  sam: string,
  spec: Omit<UserSpec, 'consistencyGuid'>,
): Record<string, string | string[]> {
  return {
    objectClass: ['top', 'person', 'organizationalPerson', 'user'],
    cn: sam,
    sAMAccountName: sam,
    userPrincipalName: spec.upn,
    displayName: `Doctor ${sam}`,
    givenName: 'Doctor',
    sn: sam,
    ...(spec.mail === undefined ? {} : { mail: spec.mail }),
    ...(spec.mailNickname === undefined ? {} : { mailNickname: spec.mailNickname }),
    ...(spec.proxyAddresses === undefined ? {} : { proxyAddresses: spec.proxyAddresses }),
  };
}

/**
 * Re-creates `ou` (e.g. `OU=DoctorScan`) under the domain root with exactly the seeded users and group;
 * mS-DS-ConsistencyGuid is written after creation from the objectGUID the DC assigned (read back), as Entra Connect
 * does on first sync. Names carry the OU's suffix (suffixOf; none for OU=DoctorScan); expectedFindings(seed) gives
 * the findings a scan of it must produce. Each test file seeds its own OU: they may run at the same time.
 */
export async function seedDoctorOu(env: SambaEnv, ou: string): Promise<DoctorSeed> {
  if (!/^OU=[A-Za-z0-9-]+$/.test(ou)) throw new Error(`unexpected OU name: ${ou}`);
  const ouDn = `${ou},${env.baseDn}`;
  const suffix = suffixOf(ou);
  const spec = specs(suffix);
  const client = await adminClient(env);
  try {
    await requireExchangeSchema(client, env);
    await deleteSubtree(client, ouDn);
    await client.add(ouDn, { objectClass: ['top', 'organizationalUnit'] });
    const users = {} as DoctorSeed['users'];
    for (const user of DOCTOR_USERS) {
      const sam = user + suffix;
      const dn = `CN=${sam},${ouDn}`;
      await client.add(dn, userAttributes(sam, spec[user]));
      const objectGuid = await objectGuidOf(client, dn);
      const anchor = spec[user].consistencyGuid ?? 'own';
      if (anchor !== 'none') {
        await client.modify(
          dn,
          new Change({
            operation: 'replace',
            modification: new Attribute({
              type: 'mS-DS-ConsistencyGuid',
              values: [anchor === 'own' ? objectGuid : anchor],
            }),
          }),
        );
      }
      users[user] = { sam, dn, objectGuid };
    }
    // ambig1's UPN is ambig2's implicit one: Windows AD accepts it, Samba (since CVE-2020-25722) refuses it over
    // LDAP, so it is written as AD would hold it, straight into the domain partition.
    writeBehindSamldb(env, users.ambig1.dn, 'userPrincipalName', ambig1Upn(suffix));
    const groupSam = DOCTOR_GROUP + suffix;
    const groupDn = `CN=${groupSam},${ouDn}`;
    await client.add(groupDn, {
      objectClass: ['top', 'group'],
      cn: groupSam,
      sAMAccountName: groupSam,
      displayName: 'Doctor group',
    });
    const group = { sam: groupSam, dn: groupDn, objectGuid: await objectGuidOf(client, groupDn) };
    const config = resolveConfig(
      {
        directory: sambaLdapConfig(env, { baseDn: ouDn }),
        microsoft365: { federatedDomains: [FEDERATED_DOMAIN] },
      },
      { baseDir: process.cwd(), source: 'doctor-seed', embeddedDefaults: false },
    );
    return { ou: ouDn, suffix, users, group, config };
  } finally {
    await client.unbind();
  }
}
