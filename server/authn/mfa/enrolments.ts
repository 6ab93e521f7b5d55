import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import type { Config } from '../../config/schema.ts';
import type { DirectoryProvider, DirectoryUser } from '../../directory/types.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Random } from '../../lib/random.ts';
import { FederationError } from '../../lib/errors.ts';
import { Sealer } from '../../lib/sealer.ts';
import type { Enrolments, Factor } from './factors.ts';

/**
 * Where a user's MFA enrolments live (issue 16 "Where enrolments live"): durable and farm-wide without a new
 * database, in one Active Directory attribute the admin names (mfa.enrolment.attribute), or for the embedded demo
 * directory in its own JSON file (mfa.enrolment.file). Either way the whole record is sealed (AES-256-GCM, the farm's
 * MFA secret from keys/, lib/sealer.ts) with the account's objectGUID as associated data: a value that was edited,
 * copied from another account, or written by someone who can write the attribute but has no key does not open, so
 * write access to the attribute is not enough to plant an authenticator, and TOTP secrets are never in clear.
 */

/** Most factors one user may hold (bounds the record and what the MFA page lists). */
export const MAX_FACTORS = 10;
/** Longest factor name, characters (factors.ts). */
export const MAX_FACTOR_NAME = 64;
/**
 * The longest stored (sealed) value, characters, when the attribute's schema sets no rangeUpper (AD's and Samba's
 * msDS-cloudExtensionAttributeN set none; Exchange's extensionAttributeN set 1024, which then applies): ten large
 * security keys fit, and nothing bigger is ever read or replicated.
 */
export const MAX_VALUE_CHARS = 8192;

/**
 * `unreadable`: the stored value does not open (edited, copied from another account, sealed with a key this farm does
 * not hold) or is not a strict version 1 record; `too-large`: the record would not fit the attribute (or has more than
 * MAX_FACTORS factors); `not-configured`: the attribute is unusable (not in the schema, multi-valued, not a string) or
 * no secret was given. Directory outages are FederationError('directory_unavailable') instead.
 */
export class EnrolmentError extends Error {
  readonly kind: 'unreadable' | 'too-large' | 'not-configured';
  constructor(kind: EnrolmentError['kind'], message: string) {
    super(message);
    this.name = 'EnrolmentError';
    this.kind = kind;
  }
}

/** Raw storage of one sealed value per account: a directory attribute or the embedded directory's file. */
export interface EnrolmentBackend {
  /**
   * Checks the storage once (the attribute exists, is a single-valued Unicode string) and says how many characters
   * a value may have; rejects with EnrolmentError('not-configured') when it cannot hold the record.
   */
  limit(): Promise<number>;
  read(user: DirectoryUser): Promise<string | undefined>;
  /** Compare-and-swap when `expected` is given; `value` undefined clears. */
  write(
    user: DirectoryUser,
    value: string | undefined,
    expected?: { value: string | undefined },
  ): Promise<'written' | 'conflict' | 'too-large'>;
}

// --- The stored form -------------------------------------------------------------------------------------------
// The sealed value is base64url (4/3 of the plaintext plus some 46 characters of key id, IV and tag), and Exchange's
// extensionAttributeN holds only 1024 characters, so the record is written with short keys and epoch milliseconds
// (docs/mfa-directory.md has measured sizes). No compression: the plaintext mixes names the user chooses with
// secrets, and the compressed length, which anyone who can read the attribute sees, would leak about the secrets
// (the CRIME attack).

const b64u = (max: number): z.ZodString =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[A-Za-z0-9_-]+$/);
const epochMs = z
  .number()
  .int()
  .min(0)
  .max(8_640_000_000_000_000)
  .refine((n) => Number.isFinite(n));
const name = z.string().min(1).max(MAX_FACTOR_NAME);

const storedTotp = z.strictObject({
  k: z.literal('t'),
  i: b64u(64),
  n: name,
  c: epochMs,
  u: epochMs.optional(),
  // RFC 4648 base32 without padding; 16..128 characters = 80..640 bits (RFC 4226 §4 asks for at least 128).
  s: z
    .string()
    .min(16)
    .max(128)
    .regex(/^[A-Z2-7]+$/),
});
const storedWebAuthn = z.strictObject({
  k: z.literal('w'),
  i: b64u(64),
  n: name,
  c: epochMs,
  u: epochMs.optional(),
  // WebAuthn §5.8.3: credential IDs are at most 1023 bytes.
  ci: b64u(1364),
  pk: b64u(1400),
  ct: z.number().int().min(0).max(0xffffffff),
  ag: z
    .string()
    .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    .optional(),
  tr: z
    .array(
      z
        .string()
        .min(1)
        .max(16)
        .regex(/^[a-z-]+$/),
    )
    .max(8)
    .optional(),
  uv: z.boolean().optional(),
});
const storedRecord = z
  .strictObject({
    v: z.literal(1),
    f: z.array(z.discriminatedUnion('k', [storedTotp, storedWebAuthn])).max(MAX_FACTORS),
    cd: z.strictObject({ h: b64u(43).length(43), x: epochMs }).optional(),
  })
  .refine((r) => new Set(r.f.map((f) => f.i)).size === r.f.length, 'duplicate factor id')
  .refine(
    (r) => {
      const ids = r.f.flatMap((f) => (f.k === 'w' ? [f.ci] : []));
      return new Set(ids).size === ids.length;
    },
    { message: 'duplicate credential id' },
  );
type StoredRecord = z.output<typeof storedRecord>;

function ms(iso: string, what: string): number {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) throw new Error(`${what} is not a date: ${iso}`);
  return t;
}
const iso = (t: number): string => new Date(t).toISOString();

function toStored(e: Enrolments): StoredRecord {
  const f = e.factors.map((x: Factor) => {
    const base = {
      i: x.id,
      n: x.name,
      c: ms(x.createdAt, 'createdAt'),
      ...(x.lastUsedAt === undefined ? {} : { u: ms(x.lastUsedAt, 'lastUsedAt') }),
    };
    if (x.kind === 'totp') return { k: 't' as const, ...base, s: x.secret };
    return {
      k: 'w' as const,
      ...base,
      ci: x.credentialId,
      pk: x.publicKey,
      ct: x.counter,
      ...(x.aaguid === undefined ? {} : { ag: x.aaguid }),
      ...(x.transports === undefined ? {} : { tr: x.transports }),
      ...(x.userVerified === undefined ? {} : { uv: x.userVerified }),
    };
  });
  const record = {
    v: 1 as const,
    f,
    ...(e.code === undefined
      ? {}
      : { cd: { h: e.code.hash, x: ms(e.code.expiresAt, 'expiresAt') } }),
  };
  // What we write must be what we would accept on reading: a caller's bad value fails here, not on every later read.
  const checked = storedRecord.safeParse(record);
  if (!checked.success) {
    if (e.factors.length > MAX_FACTORS)
      throw new EnrolmentError('too-large', `more than ${MAX_FACTORS} factors`);
    throw new Error(`invalid enrolment record: ${checked.error.issues[0]?.message ?? 'invalid'}`);
  }
  return checked.data;
}

function fromStored(r: StoredRecord): Enrolments {
  const factors = r.f.map((x): Factor => {
    const base = {
      id: x.i,
      name: x.n,
      createdAt: iso(x.c),
      ...(x.u === undefined ? {} : { lastUsedAt: iso(x.u) }),
    };
    if (x.k === 't') return { kind: 'totp', ...base, secret: x.s };
    return {
      kind: 'webauthn',
      ...base,
      credentialId: x.ci,
      publicKey: x.pk,
      counter: x.ct,
      ...(x.ag === undefined ? {} : { aaguid: x.ag }),
      ...(x.tr === undefined ? {} : { transports: x.tr }),
      ...(x.uv === undefined ? {} : { userVerified: x.uv }),
    };
  });
  return {
    v: 1,
    factors,
    ...(r.cd === undefined ? {} : { code: { hash: r.cd.h, expiresAt: iso(r.cd.x) } }),
  };
}

/** Associated data: the record belongs to this account (objectGUID never changes, unlike the DN or UPN). */
function aadFor(user: DirectoryUser): string {
  if (user.objectGuid.length !== 16) throw new Error('account without a 16-byte objectGUID');
  return `mfa-enrolments:v1:${user.objectGuid.toString('hex')}`;
}

/**
 * The form Sealer.seal writes: a key id (compared as a string) and two canonical base64url parts. Node's decoder
 * ignores stray trailing characters, so without this an edited value (`…x`) would still open; any change to the
 * stored value must make it unreadable.
 */
function canonical(sealed: string): boolean {
  const parts = sealed.split('.');
  return (
    parts.length === 3 &&
    parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p)) &&
    parts.slice(1).every((p) => Buffer.from(p, 'base64url').toString('base64url') === p)
  );
}

function isEmpty(e: Enrolments): boolean {
  return e.factors.length === 0 && e.code === undefined;
}

export class EnrolmentStore {
  readonly #backend: EnrolmentBackend;
  readonly #sealer: Sealer;
  /** The backend's limit, asked once (a failed check, e.g. the directory being down, is asked again). */
  #limit: Promise<number> | undefined;

  constructor(backend: EnrolmentBackend, secrets: readonly (string | Buffer)[]) {
    this.#backend = backend;
    this.#sealer = new Sealer(secrets, 'mfa-enrolments');
  }

  #maxChars(): Promise<number> {
    this.#limit ??= this.#backend.limit().catch((err: unknown) => {
      this.#limit = undefined;
      throw err;
    });
    return this.#limit;
  }

  /** The user's record; an empty one (equal to EMPTY_ENROLMENTS) when nothing is stored. */
  async read(user: DirectoryUser): Promise<Enrolments> {
    return (await this.#readRaw(user)).enrolments;
  }

  /** Replaces the whole record (an empty record clears the attribute). */
  async write(user: DirectoryUser, e: Enrolments): Promise<void> {
    const max = await this.#maxChars();
    const result = await this.#backend.write(user, this.#seal(user, e, max));
    if (result === 'too-large') throw tooLarge(max);
    // Without `expected` the backends never answer 'conflict'.
  }

  /**
   * read → change → write, as a compare-and-swap on the stored value: when another node changed the record in
   * between, the change is applied again to what it wrote (a few times), so no update is silently lost.
   */
  async update(
    user: DirectoryUser,
    change: (current: Enrolments) => Enrolments,
  ): Promise<Enrolments> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const { raw, enrolments } = await this.#readRaw(user);
      const next = change(enrolments);
      const max = await this.#maxChars();
      const result = await this.#backend.write(user, this.#seal(user, next, max), { value: raw });
      if (result === 'written') return next;
      if (result === 'too-large') throw tooLarge(max);
    }
    // Another node kept writing this user's record: answered as a directory that cannot serve now (503, try again).
    throw new FederationError('directory_unavailable', 'The sign-in service is busy. Try again.', {
      detail: 'the enrolment record kept changing (5 compare-and-swap conflicts)',
    });
  }

  async #readRaw(
    user: DirectoryUser,
  ): Promise<{ raw: string | undefined; enrolments: Enrolments }> {
    const max = await this.#maxChars();
    const raw = await this.#backend.read(user);
    // A fresh object, not EMPTY_ENROLMENTS: its factors array is not frozen, and a caller pushing to it would change
    // the constant for everyone.
    if (raw === undefined || raw === '') return { raw, enrolments: { v: 1, factors: [] } };
    // Longer than anything fedgate writes: not worth decrypting.
    const plain =
      raw.length > max || !canonical(raw) ? undefined : this.#sealer.open(raw, aadFor(user));
    if (plain === undefined)
      throw new EnrolmentError(
        'unreadable',
        'the enrolment record does not open (changed outside fedgate, copied from another account, or sealed with a key this farm does not hold)',
      );
    let json: unknown;
    try {
      json = JSON.parse(plain);
    } catch {
      throw new EnrolmentError('unreadable', 'the enrolment record is not JSON');
    }
    const parsed = storedRecord.safeParse(json);
    if (!parsed.success)
      throw new EnrolmentError(
        'unreadable',
        `the enrolment record is not a version 1 record: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      );
    return { raw, enrolments: fromStored(parsed.data) };
  }

  #seal(user: DirectoryUser, e: Enrolments, max: number): string | undefined {
    if (isEmpty(e)) return undefined;
    const sealed = this.#sealer.seal(JSON.stringify(toStored(e)), aadFor(user));
    if (sealed.length > max) throw tooLarge(max, sealed.length);
    return sealed;
  }
}

function tooLarge(max: number, chars?: number): EnrolmentError {
  return new EnrolmentError(
    'too-large',
    `the enrolment record${chars === undefined ? '' : ` (${chars} characters sealed)`} does not fit the attribute (at most ${max} characters): remove a factor`,
  );
}

// --- Backends ---------------------------------------------------------------------------------------------------

function directoryBackend(directory: DirectoryProvider, attribute: string): EnrolmentBackend {
  if (directory.readAttribute === undefined || directory.writeAttribute === undefined)
    throw new EnrolmentError(
      'not-configured',
      `the ${directory.kind} directory cannot store attributes`,
    );
  const unsupported = (): never => {
    throw new EnrolmentError('not-configured', 'the directory cannot store attributes');
  };
  return {
    async limit() {
      if (directory.describeAttribute === undefined) return MAX_VALUE_CHARS;
      const schema = await directory.describeAttribute(attribute);
      const problem =
        schema === undefined
          ? 'is not in the directory schema'
          : !schema.singleValued
            ? 'is multi-valued'
            : schema.syntax !== UNICODE_STRING_SYNTAX
              ? `has syntax ${schema.syntax}, not Unicode string (2.5.5.12)`
              : undefined;
      if (problem !== undefined)
        throw new EnrolmentError(
          'not-configured',
          `mfa.enrolment.attribute ${attribute} ${problem}; name a single-valued Unicode string attribute (docs/mfa-directory.md)`,
        );
      // The sealed value is ASCII, so characters = what rangeUpper counts.
      return Math.min(schema?.rangeUpper ?? MAX_VALUE_CHARS, MAX_VALUE_CHARS);
    },
    read: (user) => directory.readAttribute?.(user.dn, attribute) ?? unsupported(),
    write: (user, value, expected) =>
      directory.writeAttribute?.(user.dn, attribute, value, expected) ?? unsupported(),
  };
}

/** attributeSyntax of Unicode strings (String(Unicode), oMSyntax 64). */
const UNICODE_STRING_SYNTAX = '2.5.5.12';

/**
 * The embedded directory's file: `{ "v": 1, "users": { "<objectGUID hex>": "<sealed>" } }`, mode 0600, replaced
 * atomically (temporary file + fsync + rename), so a crash never leaves half a file. Writes are serialised in this
 * process; the embedded directory is for one demo node, not a farm.
 */
export function fileBackend(path: string): EnrolmentBackend {
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };
  const load = async (): Promise<Record<string, string>> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const doc = z
      .strictObject({
        v: z.literal(1),
        users: z.record(z.string().regex(/^[0-9a-f]{32}$/), z.string()),
      })
      .safeParse(json);
    // A damaged file reads as unreadable records (the MFA page says so, audited), never a server error.
    if (!doc.success) throw new EnrolmentError('unreadable', `${path} is not an enrolment file`);
    return doc.data.users;
  };
  const key = (user: DirectoryUser): string => user.objectGuid.toString('hex');
  return {
    limit: () => Promise.resolve(MAX_VALUE_CHARS),
    read: (user) => serial(async () => (await load())[key(user)]),
    write: (user, value, expected) =>
      serial(async () => {
        const users = await load();
        const k = key(user);
        if (expected !== undefined && users[k] !== expected.value) return 'conflict' as const;
        if (value === undefined) {
          if (!(k in users)) return 'written' as const;
          // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- keyed by objectGUID hex, checked above
          delete users[k];
        } else users[k] = value;
        await mkdir(dirname(path), { recursive: true, mode: 0o700 });
        const tmp = `${path}.${process.pid}.tmp`;
        const fh = await open(tmp, 'w', 0o600);
        try {
          await fh.writeFile(`${JSON.stringify({ v: 1, users }, null, 2)}\n`);
          await fh.sync();
        } finally {
          await fh.close();
        }
        try {
          await rename(tmp, path);
        } catch (err) {
          await unlink(tmp).catch(() => undefined);
          throw err;
        }
        return 'written' as const;
      }),
  };
}

/**
 * The store for this configuration: the directory attribute (ldap; undefined when mfa.enrolment.attribute is not
 * set) or the embedded directory's file (mfa.enrolment.file, default keys.dir/mfa-enrolments.json). `secrets`:
 * mfa.secrets, or the keys.dir/mfa.secret file (keys/mfa-secret.ts).
 */
export function createEnrolmentStore(
  config: Config,
  directory: DirectoryProvider,
  deps: { clock: Clock; secrets: readonly (string | Buffer)[] },
): EnrolmentStore | undefined {
  if (deps.secrets.length === 0) throw new EnrolmentError('not-configured', 'no MFA secret');
  if (directory.kind === 'ldap') {
    const attribute = config.mfa.enrolment.attribute;
    if (attribute === undefined) return undefined;
    return new EnrolmentStore(directoryBackend(directory, attribute), deps.secrets);
  }
  const file = config.mfa.enrolment.file;
  const path =
    file === undefined
      ? join(config.keys.dir, 'mfa-enrolments.json')
      : resolve(config.baseDir, file);
  return new EnrolmentStore(fileBackend(path), deps.secrets);
}

// --- Factor ids and one-time enrolment codes -----------------------------------------------------------------

/** 128 random bits, base64url (22 characters). */
export function newFactorId(random: Random): string {
  return random.bytes(16).toString('base64url');
}

/**
 * Crockford's base32 alphabet: no I, L, O or U, so a code read over the phone is typed right; on input O is read as
 * 0 and I/L as 1. 16 characters = 80 bits.
 */
const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CODE_CHARS = 16;

function normaliseCode(code: string): string {
  return code
    .toUpperCase()
    .replace(/[\s-]+/g, '')
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
}

function codeHash(normalised: string): string {
  return createHash('sha256').update(`fedgate-enrolment-code:${normalised}`).digest('base64url');
}

/**
 * A one-time enrolment code for the helpdesk to hand over (`fedgate mfa enrol-code USER`), replacing any earlier
 * one: `XXXX-XXXX-XXXX-XXXX`, 80 random bits. Only its SHA-256 is kept in the record; the code itself is shown once.
 */
export function issueEnrolmentCode(
  e: Enrolments,
  o: { clock: Clock; random: Random; lifetimeHours: number },
): { enrolments: Enrolments; code: string } {
  const bytes = o.random.bytes(10); // 80 bits → 16 five-bit groups, no modulo bias
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let chars = '';
  for (let i = CODE_CHARS - 1; i >= 0; i--)
    chars += CODE_ALPHABET[Number((bits >> BigInt(i * 5)) & 31n)] ?? '';
  const code = (chars.match(/.{4}/g) ?? []).join('-');
  const expiresAt = new Date(o.clock.now().getTime() + o.lifetimeHours * 3_600_000).toISOString();
  return {
    enrolments: { ...e, factors: [...e.factors], code: { hash: codeHash(chars), expiresAt } },
    code,
  };
}

/**
 * Checks a code the user typed (case, spaces and dashes do not matter) against the pending one, comparing hashes in
 * constant time. On success the code is gone from the returned record (one use); the caller writes it back.
 */
export function redeemEnrolmentCode(
  e: Enrolments,
  code: string,
  clock: Clock,
): { ok: true; enrolments: Enrolments } | { ok: false; reason: 'none' | 'wrong' | 'expired' } {
  const pending = e.code;
  if (pending === undefined) return { ok: false, reason: 'none' };
  const expires = Date.parse(pending.expiresAt);
  if (!(clock.now().getTime() < expires)) return { ok: false, reason: 'expired' };
  // Bounded before hashing: a megabyte of "code" is not worth the work.
  const typed = normaliseCode(code.slice(0, 64));
  const a = Buffer.from(codeHash(typed));
  const b = Buffer.from(pending.hash);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, reason: 'wrong' };
  return { ok: true, enrolments: { v: 1, factors: [...e.factors] } };
}
