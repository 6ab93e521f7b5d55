import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { EmbeddedDirectoryConfig } from '../config/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { DEMO_DIRECTORY } from './demo-directory.ts';
import { guidToBytes } from './guid.ts';
import type { DirectoryDeps, DirectoryOperation } from './index.ts';
import type {
  AuthFailureKind,
  AuthResult,
  DirectoryHealth,
  DirectoryProvider,
  DirectoryUser,
} from './types.ts';
import { parseSignInName, type SignInNameRules } from './username.ts';

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
});

const fileSchema = z.strictObject({
  upnSuffix: z.string().min(1).optional(),
  users: z.array(userSchema),
});

interface EmbeddedUser {
  user: DirectoryUser;
  hash: PasswordHash;
  locked: boolean;
  mustChangePassword: boolean;
  passwordExpired: boolean;
  accountExpires: Date | undefined;
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
    let raw: unknown = DEMO_DIRECTORY;
    this.#source = 'embedded:demo';
    if (config.file !== undefined) {
      const path = resolve(deps.baseDir, config.file);
      this.#source = `embedded:${path}`;
      raw = parseYaml(readFileSync(path, 'utf8'));
    }
    const parsed = fileSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`${this.#source}: ${z.prettifyError(parsed.error)}`);
    const { upnSuffix, users } = parsed.data;
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
        },
        hash: parseHash(u.passwordHash) as PasswordHash,
        locked: u.locked,
        mustChangePassword: u.mustChangePassword,
        passwordExpired: u.passwordExpired,
        accountExpires: u.accountExpires,
      };
      // AD keeps these unique; a file that does not would make sign-in names ambiguous.
      this.#index(this.#bySam, u.sAMAccountName.toLowerCase(), entry, 'sAMAccountName');
      if (upn !== undefined)
        this.#index(this.#byUpn, upn.toLowerCase(), entry, 'userPrincipalName');
      this.#index(this.#byGuid, objectGuid.toString('hex'), entry, 'objectGuid');
    }
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
