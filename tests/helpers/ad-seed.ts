/**
 * Seeding the test DC for the directory cache's tests (and anything else that needs a few users and groups in its own
 * OU): as Administrator over ldapts, with the values decoded by the tests themselves, never by fedgate.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { Attribute, Change, Client } from 'ldapts';
import { binaryOf } from './doctor-seed.ts';
import type { SambaEnv } from './samba.ts';

/** objectSid bytes → S-1-… ([MS-DTYP] §2.4.2.2), decoded here so an expectation owes nothing to fedgate. */
export function sidText(b: Buffer): string {
  const subs: number[] = [];
  for (let i = 0; i < b.readUInt8(1); i++) subs.push(b.readUInt32LE(8 + 4 * i));
  return ['S', b.readUInt8(0), b.readUIntBE(2, 6), ...subs].join('-');
}

/** unicodePwd's value: the password in double quotes, UTF-16LE ([MS-ADTS] §3.1.1.3.1.5). */
export const unicodePwd = (password: string): Buffer => Buffer.from(`"${password}"`, 'utf16le');

/** A password the test DC's policy accepts. */
export const newPassword = (): string => `Aa1-${randomBytes(10).toString('hex')}`;

export const change = (
  operation: 'add' | 'delete' | 'replace',
  type: string,
  values: string[] | Buffer[],
): Change => new Change({ operation, modification: new Attribute({ type, values }) });

/** A global security group (in tokenGroups); resolves to its objectSid as S-1-… text. */
export async function addSecurityGroup(admin: Client, dn: string, sam: string): Promise<string> {
  await admin.add(dn, {
    objectClass: ['top', 'group'],
    cn: sam,
    sAMAccountName: sam,
    groupType: String(-2147483646),
  });
  const { searchEntries } = await admin.search(dn, {
    scope: 'base',
    attributes: ['objectSid'],
    explicitBufferAttributes: ['objectSid'],
  });
  const sid = searchEntries[0] === undefined ? undefined : binaryOf(searchEntries[0], 'objectSid');
  assert.ok(sid, `objectSid of ${sam}`);
  return sidText(sid);
}

/** An enabled user with a password (and any further attributes). */
export async function addUser(
  admin: Client,
  u: { dn: string; sam: string; upn: string; password: string },
  more: Record<string, string[]> = {},
): Promise<void> {
  const a = (type: string, values: string[] | Buffer[]): Attribute =>
    new Attribute({ type, values });
  await admin.add(u.dn, [
    a('objectClass', ['top', 'person', 'organizationalPerson', 'user']),
    a('cn', [u.sam]),
    a('sAMAccountName', [u.sam]),
    a('userPrincipalName', [u.upn]),
    ...Object.entries(more).map(([k, v]) => a(k, v)),
    a('userAccountControl', ['512']),
    a('unicodePwd', [unicodePwd(u.password)]),
  ]);
}

/**
 * A first logon, as every real user has had: the DC records lastLogonTimestamp then (measured on Samba: the first
 * successful bind moves the user's uSNChanged, later ones within 14 days do not). Done before an app starts, so the
 * only user changes change tracking sees are the test's own.
 */
export async function firstLogon(env: SambaEnv, dn: string, password: string): Promise<void> {
  const client = new Client({
    url: env.urls[0] ?? '',
    timeout: 30_000,
    connectTimeout: 5000,
    tlsOptions: { ca: readFileSync(env.caFile), rejectUnauthorized: true, minVersion: 'TLSv1.2' },
  });
  try {
    await client.bind(dn, password);
  } finally {
    await client.unbind();
  }
}
