import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { EmbeddedDirectoryConfig } from '../config/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { MAX_QUERY_ENTRIES, sidToBytes } from './ad-attributes.ts';
import { DEMO_DIRECTORY } from './demo-directory.ts';
import { guidToBytes } from './guid.ts';
import {
  matchesFilter,
  parseLdapFilter,
  type EntryValues,
  type MatchContext,
} from './ldap-filter.ts';
import type {
  AttributeQuery,
  AttributeValue,
  AttributeValues,
  AuthFailureKind,
  AuthResult,
  CertificateAccount,
  CertificateMappingQuery,
  PasswordChangeResult,
  DirectoryDeps,
  DirectoryHealth,
  DirectoryOperation,
  DirectoryProvider,
  DirectoryUser,
} from './types.ts';
import { MAX_CERTIFICATE_ACCOUNTS } from './types.ts';
import { accountName, parseSignInName, type SignInNameRules } from './username.ts';

/*
 * Users file format (YAML or JSON; `directory.file`, relative to the config file). Same shape as
 * demo-directory.ts:
 *
 *   upnSuffix: example.com              # optional; userPrincipalName defaults to <sAMAccountName>@<upnSuffix>
 *   users:
 *     - sAMAccountName: alice
 *       objectGuid: 086ffe47-984f-4734-bd0d-b90223cff0b0   # .NET GUID string; ImmutableID = base64 of its bytes
 *       passwordHash: "scrypt$16384$8$1$<salt base64>$<key base64>"   # from hashPassword() below
 *       userPrincipalName: alice@example.com   # optional
 *       consistencyGuid: <GUID>                # optional; when set it is the ImmutableID (as mS-DS-ConsistencyGuid)
 *       objectSid: S-1-5-21-…-1101             # optional
 *       displayName / givenName / surname / mail: optional strings
 *       groups: [Finance, Staff]               # optional
 *       enabled: true                          # false = disabled (AD 533)
 *       locked: false                          # true = locked out (AD 775)
 *       mustChangePassword: false              # AD 773
 *       passwordExpired: false                 # AD 532
 *       accountExpires: 2030-01-01T00:00:00Z   # optional; in the past = AD 701
 *       altSecurityIdentities: ["X509:<SKI>…"] # optional: certificate mappings (KB5014754 strong forms)
 *   groups:                             # optional: group objects (claim rules read tokenGroups, member, memberOf)
 *     - name: Finance                   # the group's CN and sAMAccountName; users list it under `groups`
 *       objectSid: S-1-5-21-…-1201      # optional; only groups with a SID appear in tokenGroups / groupsid
 *       objectGuid: <GUID>              # optional
 *       memberOf: [Staff]               # optional: nesting (Finance is a member of Staff)
 *   primaryGroup: Domain Users          # optional: every user's primary group (AD's primaryGroupID, usually 513)
 *
 * A group named by a user but not listed under `groups` still exists as an entry (without a SID).
 */

const HASH_RE = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$/;
/** scrypt cost for new hashes (RFC 7914 §2 interactive-login parameters). */
const DEFAULT_PARAMS = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;

interface PasswordHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function parseHash(value: string): PasswordHash | undefined {
  const m = HASH_RE.exec(value);
  if (!m) return undefined;
  const [N, r, p] = [m[1], m[2], m[3]].map(Number) as [number, number, number];
  const key = Buffer.from(m[5] ?? '', 'base64');
  // Bounds keep a hostile file from making every sign-in allocate gigabytes.
  if (
    N < 2 ||
    N > 2 ** 20 ||
    (N & (N - 1)) !== 0 ||
    r < 1 ||
    r > 32 ||
    p < 1 ||
    p > 16 ||
    key.length < 16
  ) {
    return undefined;
  }
  return { N, r, p, salt: Buffer.from(m[4] ?? '', 'base64'), key };
}

function derive(
  password: string,
  params: Omit<PasswordHash, 'key'>,
  length: number,
): Promise<Buffer> {
  const { N, r, p, salt } = params;
  const options: ScryptOptions = { N, r, p, maxmem: 256 * N * r };
  return new Promise((ok, fail) => {
    scrypt(password, salt, length, options, (err, key) => {
      if (err) fail(err);
      else ok(key);
    });
  });
}

/** Hash for a users file: `scrypt$N$r$p$salt$key` with a random 16-byte salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, { ...DEFAULT_PARAMS, salt }, KEY_LENGTH);
  const { N, r, p } = DEFAULT_PARAMS;
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

const guidString = z
  .string()
  .refine(
    (s) => guidToBytes(s) !== undefined,
    'must be a GUID like 086ffe47-984f-4734-bd0d-b90223cff0b0',
  );

const userSchema = z.strictObject({
  sAMAccountName: z.string().min(1).max(64),
  userPrincipalName: z.string().includes('@').optional(),
  objectGuid: guidString,
  consistencyGuid: guidString.optional(),
  objectSid: z
    .string()
    .regex(/^S-1-\d+(-\d+)+$/, 'must be an SID like S-1-5-21-…')
    .optional(),
  displayName: z.string().optional(),
  givenName: z.string().optional(),
  surname: z.string().optional(),
  mail: z.string().optional(),
  groups: z.array(z.string().min(1)).default([]),
  passwordHash: z
    .string()
    .refine((s) => parseHash(s) !== undefined, 'must be scrypt$N$r$p$salt$key (hashPassword())'),
  enabled: z.boolean().default(true),
  locked: z.boolean().default(false),
  mustChangePassword: z.boolean().default(false),
  passwordExpired: z.boolean().default(false),
  accountExpires: z.coerce.date().optional(),
  altSecurityIdentities: z.array(z.string().min(1).max(1024)).default([]),
});

const sidString = z.string().regex(/^S-1-\d+(-\d+)+$/, 'must be an SID like S-1-5-21-…');

const groupSchema = z.strictObject({
  name: z.string().min(1).max(256),
  objectSid: sidString.optional(),
  objectGuid: guidString.optional(),
  memberOf: z.array(z.string().min(1)).default([]),
});

const fileSchema = z.strictObject({
  upnSuffix: z.string().min(1).optional(),
  primaryGroup: z.string().min(1).optional(),
  groups: z.array(groupSchema).default([]),
  users: z.array(userSchema),
});

/** An entry as claim-rule queries see it: attribute values keyed by lower-case attribute name. */
interface DirectoryEntry {
  sAMAccountName: string;
  dn: string;
  values: Map<string, AttributeValue[]>;
}

interface EmbeddedUser {
  user: DirectoryUser;
  hash: PasswordHash;
  locked: boolean;
  mustChangePassword: boolean;
  passwordExpired: boolean;
  accountExpires: Date | undefined;
  altSecurityIdentities: string[];
}

/** RFC 4514 §2.4 escaping for a DN attribute value we build ourselves. */
function escapeRdnValue(value: string): string {
  return value
    .replace(/[,+"\\<>;=]/g, '\\$&')
    .replace(/^[ #]/, '\\$&')
    .replace(/ $/, '\\ ');
}

/**
 * DirectoryProvider over a static list of users: the bundled demo directory or a users file. Same
 * semantics as AD: the result kinds follow AD's bind sub-codes, a locked account is refused whatever the
 * password, the other states are reported only after the right password. Every attempt with a well-formed
 * name and non-empty password costs exactly one scrypt, unknown users included (security-corpus C2.2), and
 * keys are compared in constant time.
 */
export class EmbeddedDirectory implements DirectoryProvider {
  readonly kind = 'embedded' as const;
  readonly #clock: Clock;
  readonly #onOperation: ((op: DirectoryOperation) => void) | undefined;
  readonly #rules: SignInNameRules;
  readonly #source: string;
  readonly #bySam = new Map<string, EmbeddedUser>();
  readonly #byUpn = new Map<string, EmbeddedUser>();
  readonly #byGuid = new Map<string, EmbeddedUser>();
  /** Users and groups as claim-rule queries see them. */
  readonly #entries: DirectoryEntry[] = [];
  readonly #entryBySam = new Map<string, DirectoryEntry>();
  readonly #entryByDn = new Map<string, DirectoryEntry>();
  readonly #netbiosDomain: string;
  /** Verified on the unknown-user path: same cost, never matches. */
  readonly #decoy: PasswordHash = {
    ...DEFAULT_PARAMS,
    salt: randomBytes(16),
    key: randomBytes(KEY_LENGTH),
  };

  constructor(config: EmbeddedDirectoryConfig, deps: DirectoryDeps) {
    this.#clock = deps.clock;
    this.#onOperation = deps.onOperation;
    this.#rules = { netbiosDomain: config.netbiosDomain };
    this.#netbiosDomain = config.netbiosDomain;
    let raw: unknown = DEMO_DIRECTORY;
    this.#source = 'embedded:demo';
    if (config.file !== undefined) {
      const path = resolve(deps.baseDir, config.file);
      this.#source = `embedded:${path}`;
      raw = parseYaml(readFileSync(path, 'utf8'));
    }
    const parsed = fileSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`${this.#source}: ${z.prettifyError(parsed.error)}`);
    const { upnSuffix, users, groups, primaryGroup } = parsed.data;
    const baseDn = (upnSuffix ?? config.netbiosDomain.toLowerCase())
      .split('.')
      .map((dc) => `DC=${escapeRdnValue(dc)}`)
      .join(',');
    for (const u of users) {
      const objectGuid = guidToBytes(u.objectGuid) as Buffer;
      const consistencyGuid =
        u.consistencyGuid === undefined ? undefined : guidToBytes(u.consistencyGuid);
      const upn =
        u.userPrincipalName ??
        (upnSuffix === undefined ? undefined : `${u.sAMAccountName}@${upnSuffix}`);
      const entry: EmbeddedUser = {
        user: {
          dn: `CN=${escapeRdnValue(u.sAMAccountName)},CN=Users,${baseDn}`,
          objectGuid,
          consistencyGuid,
          immutableId: (consistencyGuid ?? objectGuid).toString('base64'),
          objectSid: u.objectSid,
          sAMAccountName: u.sAMAccountName,
          userPrincipalName: upn,
          netbiosDomain: config.netbiosDomain,
          windowsAccountName: `${config.netbiosDomain}\\${u.sAMAccountName}`,
          displayName: u.displayName,
          givenName: u.givenName,
          surname: u.surname,
          mail: u.mail,
          groups: u.groups,
          enabled: u.enabled,
          // A version stamp standing in for pwdLastSet: it changes whenever the password does.
          passwordLastSet: '1',
        },
        hash: parseHash(u.passwordHash) as PasswordHash,
        locked: u.locked,
        mustChangePassword: u.mustChangePassword,
        passwordExpired: u.passwordExpired,
        accountExpires: u.accountExpires,
        altSecurityIdentities: u.altSecurityIdentities,
      };
      // AD keeps these unique; a file that does not would make sign-in names ambiguous.
      this.#index(this.#bySam, u.sAMAccountName.toLowerCase(), entry, 'sAMAccountName');
      if (upn !== undefined)
        this.#index(this.#byUpn, upn.toLowerCase(), entry, 'userPrincipalName');
      this.#index(this.#byGuid, objectGuid.toString('hex'), entry, 'objectGuid');
    }
    this.#buildEntries(baseDn, groups, primaryGroup);
  }

  /**
   * Builds the AD-shaped entries claim rules query: users with objectGUID, objectSid, memberOf (direct groups) and
   * tokenGroups (the SIDs of every group reached through nesting, primary group included, as AD computes it), and
   * groups with member / memberOf.
   */
  #buildEntries(
    baseDn: string,
    groups: z.output<typeof groupSchema>[],
    primaryGroup: string | undefined,
  ): void {
    const groupDn = (name: string): string => `CN=${escapeRdnValue(name)},CN=Users,${baseDn}`;
    const defined = new Map(groups.map((g) => [g.name.toLowerCase(), g]));
    if (defined.size !== groups.length) throw new Error(`${this.#source}: a group is listed twice`);
    const names = new Map<string, string>(); // lower → as written
    const note = (n: string): void => {
      if (!names.has(n.toLowerCase())) names.set(n.toLowerCase(), n);
    };
    groups.forEach((g) => {
      note(g.name);
      g.memberOf.forEach(note);
    });
    for (const u of this.#bySam.values()) u.user.groups.forEach(note);
    if (primaryGroup !== undefined) note(primaryGroup);
    const parents = (name: string): string[] =>
      (defined.get(name.toLowerCase())?.memberOf ?? []).map((p) => p.toLowerCase());
    const closure = (start: string[]): Set<string> => {
      const seen = new Set<string>();
      const todo = start.map((g) => g.toLowerCase());
      for (let g = todo.pop(); g !== undefined; g = todo.pop()) {
        if (seen.has(g)) continue;
        seen.add(g);
        todo.push(...parents(g));
      }
      return seen;
    };
    const sidOf = (lowerName: string): Buffer | undefined => {
      const sid = defined.get(lowerName)?.objectSid;
      return sid === undefined ? undefined : sidToBytes(sid);
    };
    const members = new Map<string, string[]>(); // group (lower) → member DNs
    const addMember = (group: string, dn: string): void => {
      const list = members.get(group.toLowerCase()) ?? [];
      list.push(dn);
      members.set(group.toLowerCase(), list);
    };
    for (const u of this.#bySam.values()) for (const g of u.user.groups) addMember(g, u.user.dn);
    for (const g of groups) for (const p of g.memberOf) addMember(p, groupDn(g.name));

    const primary = primaryGroup?.toLowerCase();
    const primarySid = primary === undefined ? undefined : defined.get(primary)?.objectSid;
    for (const u of this.#bySam.values()) {
      const user = u.user;
      const reached = closure([
        ...user.groups,
        ...(primaryGroup === undefined ? [] : [primaryGroup]),
      ]);
      const v = new Map<string, AttributeValue[]>();
      const set = (k: string, vals: (AttributeValue | undefined)[]): void => {
        const kept = vals.filter((x): x is AttributeValue => x !== undefined);
        if (kept.length > 0) v.set(k.toLowerCase(), kept);
      };
      set('objectClass', ['top', 'person', 'organizationalPerson', 'user']);
      set('objectCategory', ['person', `CN=Person,CN=Schema,CN=Configuration,${baseDn}`]);
      set('cn', [user.sAMAccountName]);
      set('name', [user.sAMAccountName]);
      set('distinguishedName', [user.dn]);
      set('sAMAccountName', [user.sAMAccountName]);
      set('userPrincipalName', [user.userPrincipalName]);
      set('objectGUID', [user.objectGuid]);
      set('mS-DS-ConsistencyGuid', [user.consistencyGuid]);
      set('objectSid', [user.objectSid === undefined ? undefined : sidToBytes(user.objectSid)]);
      set('displayName', [user.displayName]);
      set('givenName', [user.givenName]);
      set('sn', [user.surname]);
      set('mail', [user.mail]);
      set('memberOf', user.groups.map(groupDn));
      set('userAccountControl', [String(0x200 | (user.enabled ? 0 : 0x2))]);
      set('primaryGroupID', [primarySid?.split('-').at(-1)]);
      set('tokenGroups', [...reached].map(sidOf));
      this.#addEntry({ sAMAccountName: user.sAMAccountName, dn: user.dn, values: v });
    }
    for (const [lowerName, name] of names) {
      if (this.#entryBySam.has(lowerName))
        throw new Error(`${this.#source}: group ${name} has the sAMAccountName of a user`);
      const g = defined.get(lowerName);
      const v = new Map<string, AttributeValue[]>();
      const set = (k: string, vals: (AttributeValue | undefined)[]): void => {
        const kept = vals.filter((x): x is AttributeValue => x !== undefined);
        if (kept.length > 0) v.set(k.toLowerCase(), kept);
      };
      set('objectClass', ['top', 'group']);
      set('objectCategory', ['group', `CN=Group,CN=Schema,CN=Configuration,${baseDn}`]);
      set('cn', [name]);
      set('name', [name]);
      set('distinguishedName', [groupDn(name)]);
      set('sAMAccountName', [name]);
      set('objectSid', [sidOf(lowerName)]);
      set('objectGUID', [g?.objectGuid === undefined ? undefined : guidToBytes(g.objectGuid)]);
      set('member', members.get(lowerName) ?? []);
      set('memberOf', (g?.memberOf ?? []).map(groupDn));
      this.#addEntry({ sAMAccountName: name, dn: groupDn(name), values: v });
    }
  }

  #addEntry(e: DirectoryEntry): void {
    this.#entries.push(e);
    this.#entryBySam.set(e.sAMAccountName.toLowerCase(), e);
    this.#entryByDn.set(e.dn.toLowerCase(), e);
  }

  async authenticate(username: string, password: string): Promise<AuthResult> {
    const name = this.#lookup(username);
    if (typeof name === 'string') return { ok: false, kind: 'bad_credentials', reason: name };
    if (typeof password !== 'string' || password.trim() === '') {
      return { ok: false, kind: 'bad_credentials', reason: 'empty_password' };
    }
    const entry = name.entry;
    this.#onOperation?.({ url: 'embedded', op: 'verify_password' });
    const hash = entry?.hash ?? this.#decoy;
    const key = await derive(password, hash, hash.key.length);
    const match = timingSafeEqual(key, hash.key);
    if (entry === undefined) return { ok: false, kind: 'bad_credentials', reason: 'no_such_user' };
    const user = copy(entry.user);
    const fail = (kind: AuthFailureKind): AuthResult => ({ ok: false, kind, reason: kind, user });
    if (entry.locked) return fail('locked'); // AD answers 775 whatever the password
    if (!match) return { ok: false, kind: 'bad_credentials', reason: 'wrong_password', user };
    // After the right password, in the order Samba's authsam_account_ok checks them.
    if (!entry.user.enabled) return fail('disabled');
    if (entry.accountExpires !== undefined && entry.accountExpires <= this.#clock.now())
      return fail('account_expired');
    if (entry.mustChangePassword) return fail('must_change_password');
    if (entry.passwordExpired) return fail('password_expired');
    return { ok: true, user };
  }

  /**
   * Password change in memory (a users file is never rewritten: the change lasts until restart). Policy like AD's
   * defaults: at least 8 characters, three of upper/lower/digit/other, not the current password.
   */
  async changePassword(
    username: string,
    oldPassword: string,
    newPassword: string,
  ): Promise<PasswordChangeResult> {
    const name = this.#lookup(username);
    if (typeof name === 'string') return { ok: false, kind: 'bad_credentials', reason: name };
    if (oldPassword.trim() === '' || newPassword.trim() === '')
      return { ok: false, kind: 'bad_credentials', reason: 'empty_password' };
    const entry = name.entry;
    this.#onOperation?.({ url: 'embedded', op: 'verify_password' });
    const hash = entry?.hash ?? this.#decoy;
    const match = timingSafeEqual(await derive(oldPassword, hash, hash.key.length), hash.key);
    if (entry === undefined) return { ok: false, kind: 'bad_credentials', reason: 'no_such_user' };
    if (!match || entry.locked)
      return { ok: false, kind: 'bad_credentials', reason: 'wrong_password' };
    const classes = [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(newPassword));
    if (Array.from(newPassword).length < 8)
      return { ok: false, kind: 'policy', reason: 'policy', violation: 'too_short' };
    if (classes.length < 3)
      return { ok: false, kind: 'policy', reason: 'policy', violation: 'complexity' };
    if (newPassword === oldPassword)
      return { ok: false, kind: 'policy', reason: 'policy', violation: 'history' };
    entry.hash = parseHash(await hashPassword(newPassword)) as PasswordHash;
    entry.user.passwordLastSet = String(Number(entry.user.passwordLastSet ?? '0') + 1);
    entry.mustChangePassword = false;
    entry.passwordExpired = false;
    return { ok: true };
  }

  findUser(username: string): Promise<DirectoryUser | undefined> {
    const name = this.#lookup(username);
    return Promise.resolve(
      typeof name === 'string' || name.entry === undefined ? undefined : copy(name.entry.user),
    );
  }

  findByObjectGuid(guid: Buffer): Promise<DirectoryUser | undefined> {
    const entry = guid.length === 16 ? this.#byGuid.get(guid.toString('hex')) : undefined;
    return Promise.resolve(entry === undefined ? undefined : copy(entry.user));
  }

  findByCertificate(query: CertificateMappingQuery): Promise<CertificateAccount[]> {
    const wantAlt = new Set(query.altSecurityIdentities.map((v) => v.toLowerCase()));
    const wantUpn = new Set(query.upns.map((v) => v.toLowerCase()));
    const wantSid = query.sid?.toUpperCase();
    const out: CertificateAccount[] = [];
    for (const e of this.#bySam.values()) {
      const u = e.user;
      const hit =
        (wantSid !== undefined && u.objectSid?.toUpperCase() === wantSid) ||
        e.altSecurityIdentities.some((v) => wantAlt.has(v.toLowerCase())) ||
        (u.userPrincipalName !== undefined && wantUpn.has(u.userPrincipalName.toLowerCase()));
      if (!hit) continue;
      out.push({
        user: copy(u),
        altSecurityIdentities: [...e.altSecurityIdentities],
        state: {
          disabled: !u.enabled,
          locked: e.locked,
          expired: e.accountExpires !== undefined && e.accountExpires <= this.#clock.now(),
        },
      });
    }
    if (out.length > MAX_CERTIFICATE_ACCOUNTS)
      return Promise.reject(
        new Error(`more than ${MAX_CERTIFICATE_ACCOUNTS} accounts match the certificate`),
      );
    return Promise.resolve(out);
  }

  queryAttributes(query: AttributeQuery): Promise<AttributeValues[]> {
    try {
      const sam = accountName(query.account, this.#netbiosDomain);
      let matched: DirectoryEntry[];
      if (query.filter === undefined) {
        const e = this.#entryBySam.get(sam.toLowerCase());
        matched = e === undefined ? [] : [e];
      } else {
        const filter = parseLdapFilter(query.filter);
        const ctx = this.#matchContext();
        matched = this.#entries.filter((e) => matchesFilter(filter, e.values, ctx));
        if (matched.length > MAX_QUERY_ENTRIES)
          throw new Error(`the filter matches more than ${MAX_QUERY_ENTRIES} entries`);
      }
      return Promise.resolve(
        matched.map((e) => {
          const row: AttributeValues = {};
          for (const a of query.attributes) {
            row[a] = (e.values.get(a.toLowerCase()) ?? []).map((x) =>
              Buffer.isBuffer(x) ? Buffer.from(x) : x,
            );
          }
          return row;
        }),
      );
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #matchContext(): MatchContext {
    const values = (entry: EntryValues, attribute: string): readonly AttributeValue[] =>
      entry.get(attribute) ?? [];
    return {
      values,
      // LDAP_MATCHING_RULE_IN_CHAIN: follow DN-valued `attribute` (member / memberOf) transitively.
      inChain: (entry, attribute, target) => {
        const goal = target.toLowerCase();
        const seen = new Set<string>();
        const todo = [...values(entry, attribute)];
        for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
          const dn = (typeof next === 'string' ? next : next.toString('utf8')).toLowerCase();
          if (dn === goal) return true;
          if (seen.has(dn)) continue;
          seen.add(dn);
          const e = this.#entryByDn.get(dn);
          if (e !== undefined) todo.push(...values(e.values, attribute));
        }
        return false;
      },
    };
  }

  healthCheck(): Promise<DirectoryHealth> {
    return Promise.resolve({ ok: true, servers: [{ url: this.#source, ok: true }] });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Parsed and looked up; a string is the rejection reason. */
  #lookup(username: string): { entry: EmbeddedUser | undefined } | string {
    const parsed = parseSignInName(username, this.#rules);
    if (!parsed.ok) return parsed.reason;
    const { name } = parsed;
    return {
      entry:
        name.form === 'upn'
          ? this.#byUpn.get(name.upn.toLowerCase())
          : this.#bySam.get(name.sAMAccountName.toLowerCase()),
    };
  }

  #index(map: Map<string, EmbeddedUser>, key: string, entry: EmbeddedUser, what: string): void {
    if (map.has(key)) throw new Error(`${this.#source}: duplicate ${what} ${key}`);
    map.set(key, entry);
  }
}

function copy(user: DirectoryUser): DirectoryUser {
  return {
    ...user,
    objectGuid: Buffer.from(user.objectGuid),
    consistencyGuid:
      user.consistencyGuid === undefined ? undefined : Buffer.from(user.consistencyGuid),
    groups: [...user.groups],
  };
}
