/**
 * The directory cache benchmark's directory (issue 22: "Report RSS with 10,000 users and 2,000 groups"), seeded once
 * in OU=CacheScale on the Samba test DC and kept:
 *  - 10,000 enabled users csu00000..csu09999 with one known password, for sign-ins. OU=DoctorScale's 10,000 users
 *    (bench/doctor.ts) are disabled accounts without a password, so they can be members but never sign in;
 *  - 2,000 groups csg0000..csg1999 (1 in 10 a distribution group), every 4th group nested in another one and one
 *    two-group cycle (legal in AD), holding every DoctorScale and CacheScale user 1–3 times (membership is written on
 *    the group side only: no DoctorScale user attribute is touched).
 * Idempotent and fast: what exists is listed first, the missing entries go to OpenLDAP's ldapadd as one LDIF batch
 * as Administrator (Samba commits adds one at a time; one connection avoids per-add connection setup).
 *   node --import tsx bench/seed-groups.ts     (also called by bench/directory-cache.ts)
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from 'ldapts';
import { adminClient } from '../tests/helpers/doctor-seed.ts';
import { ldapCliEnv, sambaEnv, type SambaEnv } from '../tests/helpers/samba.ts';
import { SCALE_OU, SCALE_USERS } from './doctor.ts';

export const CACHE_OU = 'OU=CacheScale';
export const CACHE_USERS = 10_000;
export const CACHE_GROUPS = 2_000;
/** The CacheScale users' password (a throwaway test DC; meets the domain's complexity rule). */
export const CACHE_USER_PASSWORD = 'Aa1-cachescale-bench';

export const cacheUser = (i: number): string => `csu${String(i).padStart(5, '0')}`;
export const cacheGroup = (i: number): string => `csg${String(i).padStart(4, '0')}`;
const doctorUser = (i: number): string => `scale${String(i).padStart(5, '0')}`;

/** The groups user number `i` belongs to directly: 1 to 3 distinct groups, spread over all of them. */
export function groupsOfUser(i: number, salt: number): number[] {
  const n = 1 + ((i + salt) % 3);
  const out = new Set<number>();
  for (let k = 0; out.size < n; k++) out.add((i * 7 + salt * 31 + k * 997) % CACHE_GROUPS);
  return [...out];
}

/** The group that group `g` is nested in (a member of), when it is nested: every 4th group from 8 on. */
export function parentOf(g: number): number | undefined {
  return g >= 8 && g % 4 === 0 ? g / 4 : undefined;
}

/** A two-group cycle: csg1999 is a member of csg1995 and csg1995 of csg1999. */
const CYCLE: [number, number] = [1995, 1999];

function ldif(records: string[]): string {
  return `${records.join('\n\n')}\n`;
}

function runLdapadd(env: SambaEnv, text: string, tool: 'ldapadd' | 'ldapmodify'): void {
  if (text.trim() === '') return;
  const r = spawnSync(
    tool,
    ['-c', '-x', '-H', env.urls[0] ?? '', '-D', env.adminDn, '-y', join(env.stateDir, 'admin.pw')],
    { input: text, env: ldapCliEnv(env), encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  if (r.error !== undefined) throw r.error;
  // -c continues past entries that already exist (68) or values already present (20); anything else is fatal.
  const bad = r.stderr
    .split('\n')
    .filter((l) => /ldap_\w+: /.test(l) && !/Already exists|Type or value exists/i.test(l));
  if (r.status !== 0 && bad.length > 0) throw new Error(`${tool} failed: ${bad.join('; ')}`);
}

async function namesIn(client: Client, ou: string, filter: string): Promise<Set<string>> {
  try {
    const { searchEntries } = await client.search(ou, {
      scope: 'one',
      filter,
      attributes: ['sAMAccountName'],
      paged: { pageSize: 1000 },
    });
    return new Set(
      searchEntries.map((e) =>
        String(Object.entries(e).find(([k]) => k.toLowerCase() === 'samaccountname')?.[1]),
      ),
    );
  } catch {
    return new Set();
  }
}

export interface CacheSeedResult {
  ou: string;
  usersAdded: number;
  groupsAdded: number;
  seconds: number;
}

/** Adds what is missing of OU=CacheScale (users, then groups with their members, then the cycle). */
export async function seedCacheScale(env: SambaEnv = sambaEnv()): Promise<CacheSeedResult> {
  const t0 = performance.now();
  const ou = `${CACHE_OU},${env.baseDn}`;
  const doctorOu = `${SCALE_OU},${env.baseDn}`;
  const client = await adminClient(env);
  let users: Set<string>;
  let groups: Set<string>;
  let doctorUsers: Set<string>;
  try {
    users = await namesIn(client, ou, '(objectClass=user)');
    groups = await namesIn(client, ou, '(objectClass=group)');
    doctorUsers = await namesIn(client, doctorOu, '(objectClass=user)');
    if (users.size === 0 && groups.size === 0) {
      await client.add(ou, { objectClass: ['top', 'organizationalUnit'] }).catch(() => undefined);
    }
  } finally {
    await client.unbind().catch(() => undefined);
  }
  if (doctorUsers.size < SCALE_USERS) {
    throw new Error(
      `OU=DoctorScale holds ${String(doctorUsers.size)} users, not ${String(SCALE_USERS)}: run the doctor bench (bench/doctor.ts seedScaleOu) first`,
    );
  }
  const pwd = Buffer.from(`"${CACHE_USER_PASSWORD}"`, 'utf16le').toString('base64');
  const userRecords: string[] = [];
  for (let i = 0; i < CACHE_USERS; i++) {
    const s = cacheUser(i);
    if (users.has(s)) continue;
    userRecords.push(
      [
        `dn: CN=${s},${ou}`,
        'objectClass: top',
        'objectClass: person',
        'objectClass: organizationalPerson',
        'objectClass: user',
        `sAMAccountName: ${s}`,
        `userPrincipalName: ${s}@${env.upnSuffix}`,
        `displayName: Cache ${s}`,
        'givenName: Cache',
        `sn: ${s}`,
        `unicodePwd:: ${pwd}`,
        // NORMAL_ACCOUNT (enabled), with the password above: signs in.
        'userAccountControl: 512',
      ].join('\n'),
    );
  }
  runLdapadd(env, ldif(userRecords), 'ldapadd');

  // Members of each group, from both OUs (1–3 groups per user), and nested groups.
  const members: string[][] = Array.from({ length: CACHE_GROUPS }, () => []);
  for (let i = 0; i < SCALE_USERS; i++)
    for (const g of groupsOfUser(i, 0)) members[g]!.push(`CN=${doctorUser(i)},${doctorOu}`);
  for (let i = 0; i < CACHE_USERS; i++)
    for (const g of groupsOfUser(i, 1)) members[g]!.push(`CN=${cacheUser(i)},${ou}`);
  for (let g = 0; g < CACHE_GROUPS; g++) {
    const p = parentOf(g);
    if (p !== undefined) members[p]!.push(`CN=${cacheGroup(g)},${ou}`);
  }
  members[CYCLE[0]]!.push(`CN=${cacheGroup(CYCLE[1])},${ou}`);
  // Children (higher numbers) are added before their parents so every member value names an existing entry.
  const groupRecords: string[] = [];
  for (let g = CACHE_GROUPS - 1; g >= 0; g--) {
    const s = cacheGroup(g);
    if (groups.has(s)) continue;
    groupRecords.push(
      [
        `dn: CN=${s},${ou}`,
        'objectClass: top',
        'objectClass: group',
        `sAMAccountName: ${s}`,
        // Global security group (-2147483646), or global distribution group (2) for 1 in 10.
        `groupType: ${g % 10 === 9 ? '2' : '-2147483646'}`,
        ...members[g]!.map((m) => `member: ${m}`),
      ].join('\n'),
    );
  }
  runLdapadd(env, ldif(groupRecords), 'ldapadd');
  // Closes the cycle (csg1995 ∈ csg1999 ∈ csg1995); -c keeps it idempotent.
  runLdapadd(
    env,
    ldif([
      [
        `dn: CN=${cacheGroup(CYCLE[1])},${ou}`,
        'changetype: modify',
        'add: member',
        `member: CN=${cacheGroup(CYCLE[0])},${ou}`,
        '-',
      ].join('\n'),
    ]),
    'ldapmodify',
  );
  return {
    ou,
    usersAdded: userRecords.length,
    groupsAdded: groupRecords.length,
    seconds: (performance.now() - t0) / 1000,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await seedCacheScale();
  console.log(
    `${r.ou}: ${String(r.usersAdded)} users and ${String(r.groupsAdded)} groups added in ${r.seconds.toFixed(1)} s`,
  );
}
