/**
 * Token signing with an RSA key kept inside a PKCS#11 (Cryptoki) device: an HSM, a smart card, SoftHSM2.
 *
 * The private key never enters this process: fedgate finds it by label, logs in with the user PIN and asks the
 * device for CKM_SHA256_RSA_PKCS signatures (PKCS#11 v2.40 Current Mechanisms §2.1.8, RSASSA-PKCS1-v1_5 with
 * SHA-256, i.e. XMLDSig rsa-sha256). Only the public half (CKA_MODULUS, CKA_PUBLIC_EXPONENT) is read.
 *
 * The binding, pkcs11js, is an optional dependency with a native part. It is loaded on first use, so a machine
 * where it did not build still runs fedgate with file keys; asking for an HSM key there gives a Pkcs11Error.
 *
 * The PIN is only ever passed to C_Login. It is kept in a closure (never a property, so a logged or inspected
 * key object cannot show it) and every message this module builds is scrubbed of it, because messages quote
 * configured values (labels, paths) and a PIN pasted into the wrong setting must not end up in a log.
 */
import {
  X509Certificate,
  createHash,
  createPublicKey,
  randomBytes,
  timingSafeEqual,
  verify,
  webcrypto,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as X509Lib from '@peculiar/x509';
import type * as Pkcs11js from './pkcs11-binding.ts';
import { deviceSigningCredential, samePublicKey } from './credential.ts';
import { MIN_RSA_BITS, describeCertificate } from './generate.ts';
import type { SigningCredential } from './types.ts';

type Binding = typeof Pkcs11js;
type Lib = Pkcs11js.PKCS11;
type Handle = Buffer;

export interface Pkcs11Options {
  /** Path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  /** Index in the module's list of slots that have a token (C_GetSlotList(true)); `tokenLabel` is preferred. */
  slot?: number;
  /** CKA token label (CK_TOKEN_INFO.label, at most 32 bytes); wins over `slot` when both are set. */
  tokenLabel?: string;
  /** CKA_LABEL of the private key (and of its public key and certificate objects). */
  keyLabel: string;
  /** The user PIN. Never logged, never in a message. */
  pin: string;
}

export class Pkcs11Error extends Error {
  /** The Cryptoki return value's name (`CKR_PIN_INCORRECT`) when the device gave one. */
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.name = 'Pkcs11Error';
    this.code = code;
  }
}

export interface Pkcs11Key {
  /** Built from CKA_MODULUS and CKA_PUBLIC_EXPONENT of the public key object. */
  readonly publicKey: KeyObject;
  /** RSA modulus length in bits. */
  readonly bits: number;
  /** The slot's token label and the key's label, for logs (no secret). */
  readonly description: string;
  /** RSASSA-PKCS1-v1_5 SHA-256 over `data`, computed by the device (CKM_SHA256_RSA_PKCS). */
  signSha256(data: Buffer): Buffer;
  /** Log out (when this is the last key on the token), close the session, finalize the module (last user). */
  close(): void;
}

// ---------------------------------------------------------------------------------------------------------
// The binding, loaded lazily

let binding: Binding | undefined;

/** Loads pkcs11js (once). Throws Pkcs11Error when the optional native module is not installed. */
export function loadPkcs11Binding(): Binding {
  if (binding !== undefined) return binding;
  try {
    binding = createRequire(import.meta.url)('pkcs11js') as Binding;
  } catch (e) {
    throw new Pkcs11Error(
      `the pkcs11js module is not installed or did not build (${errorText(e)}); it is an optional ` +
        'dependency with a native part: run `npm install` where a C++ tool chain is available, or use file keys',
    );
  }
  return binding;
}

// ---------------------------------------------------------------------------------------------------------
// Modules: C_Initialize once per library per process, reference-counted

export interface Pkcs11Module {
  readonly p: Binding;
  readonly lib: Lib;
  readonly path: string;
  readonly realPath: string;
  refs: number;
  /** False when someone else in this process initialised the library first: then they finalize it. */
  readonly ownsInit: boolean;
  /** Logged-in users per token (slot handle, hex): PKCS#11 login state is per application and token. */
  readonly logins: Map<string, TokenLogin>;
}

const modules = new Map<string, Pkcs11Module>();

/**
 * Takes a reference on the PKCS#11 library at `path`, loading and initialising it on first use. Release it
 * with `releasePkcs11Module`. Keys opened with `openPkcs11Key` do this themselves.
 */
export function loadPkcs11Module(path: string): Pkcs11Module {
  if (path === '') throw new Pkcs11Error('keys.signing.pkcs11.module is empty');
  if (!existsSync(path)) throw new Pkcs11Error(`the PKCS#11 module "${path}" does not exist`);
  // A symlink and its target are one library (dlopen gives the same handle): one C_Initialize for both.
  const realPath = realpathSync(path);
  const known = modules.get(realPath);
  if (known !== undefined) {
    known.refs++;
    return known;
  }
  const p = loadPkcs11Binding();
  const lib = new p.PKCS11();
  try {
    lib.load(path);
  } catch (e) {
    const why = errorText(e);
    throw new Pkcs11Error(
      /C_GetFunctionList/.test(why)
        ? `"${path}" is not a PKCS#11 library (it has no C_GetFunctionList)`
        : `could not load the PKCS#11 module "${path}": ${why}`,
    );
  }
  let ownsInit = true;
  try {
    // OS locking: the library may be entered from more than one thread (workers loading the binding too).
    lib.C_Initialize({ flags: p.CKF_OS_LOCKING_OK });
  } catch (e) {
    if (ckr(e) === 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      ownsInit = false;
    } else {
      closeQuietly(lib);
      throw new Pkcs11Error(
        `the PKCS#11 module "${path}" failed to initialise: ${errorText(e)}`,
        ckr(e),
      );
    }
  }
  const m: Pkcs11Module = { p, lib, path, realPath, refs: 1, ownsInit, logins: new Map() };
  modules.set(realPath, m);
  return m;
}

export function releasePkcs11Module(m: Pkcs11Module): void {
  if (m.refs <= 0) return;
  m.refs--;
  if (m.refs > 0) return;
  modules.delete(m.realPath);
  if (m.ownsInit) {
    try {
      m.lib.C_Finalize();
    } catch {
      // Finalizing a library that reports an error leaves nothing for us to do.
    }
  }
  closeQuietly(m.lib);
}

function closeQuietly(lib: Lib): void {
  try {
    lib.close();
  } catch {
    // dlclose failing leaves the library mapped; harmless.
  }
}

// ---------------------------------------------------------------------------------------------------------
// Tokens, sessions, login

interface Context {
  readonly m: Pkcs11Module;
  readonly opts: Pkcs11Options;
}

function fail(ctx: Context, message: string, code?: string): Pkcs11Error {
  return new Pkcs11Error(scrub(message, ctx.opts.pin), code);
}

/** Replaces the PIN wherever a message would quote it (e.g. a PIN pasted into the key-label setting). */
function scrub(message: string, pin: string): string {
  return pin === '' ? message : message.split(pin).join('[PIN]');
}

function tokenName(ctx: Context): string {
  return ctx.opts.tokenLabel !== undefined
    ? `token "${ctx.opts.tokenLabel}"`
    : `the token in slot index ${String(ctx.opts.slot)}`;
}

function findSlot(ctx: Context): Handle {
  const { lib, p } = ctx.m;
  const { tokenLabel, slot } = ctx.opts;
  let slots: Handle[];
  try {
    slots = lib.C_GetSlotList(true);
  } catch (e) {
    throw fail(ctx, `C_GetSlotList failed: ${errorText(e)}`, ckr(e));
  }
  if (tokenLabel !== undefined) {
    const labels: string[] = [];
    const found: Handle[] = [];
    for (const s of slots) {
      let info: Pkcs11js.TokenInfo;
      try {
        info = lib.C_GetTokenInfo(s);
      } catch {
        continue; // a slot whose token went away between the two calls
      }
      if ((info.flags & p.CKF_TOKEN_INITIALIZED) === 0) continue;
      // CK_TOKEN_INFO.label is 32 bytes, blank-padded (PKCS#11 v2.40 §3.2).
      const label = info.label.replace(/ +$/, '');
      labels.push(label);
      if (label === tokenLabel) found.push(s);
    }
    const [only] = found;
    if (only === undefined || found.length > 1) {
      throw fail(
        ctx,
        found.length > 1
          ? `more than one token is labelled "${tokenLabel}" in "${ctx.m.path}"; give each token a unique label`
          : `no token labelled "${tokenLabel}" in "${ctx.m.path}" (tokens: ${labels.sort().map((l) => `"${l}"`).join(', ') || 'none'})` +
              (Buffer.byteLength(tokenLabel) > 32 ? '; token labels are at most 32 bytes' : ''),
      );
    }
    return only;
  }
  if (slot !== undefined) {
    const s = Number.isInteger(slot) && slot >= 0 ? slots[slot] : undefined;
    if (s === undefined) {
      throw fail(
        ctx,
        `slot index ${String(slot)} does not exist in "${ctx.m.path}" (${slots.length} slots with a token)`,
      );
    }
    return s;
  }
  throw fail(ctx, 'keys.signing.pkcs11 needs tokenLabel (preferred) or slot');
}

function openSession(ctx: Context, slot: Handle, rw: boolean): Handle {
  const { lib, p } = ctx.m;
  try {
    return lib.C_OpenSession(slot, p.CKF_SERIAL_SESSION | (rw ? p.CKF_RW_SESSION : 0));
  } catch (e) {
    throw fail(ctx, `could not open a session on ${tokenName(ctx)}: ${errorText(e)}`, ckr(e));
  }
}

function closeSession(m: Pkcs11Module, session: Handle): void {
  try {
    m.lib.C_CloseSession(session);
  } catch {
    // Already invalid (token reset): nothing to close.
  }
}

interface TokenLogin {
  /** Keys (and key generations under way) of this process using the token's login. */
  users: number;
  /** SHA-256 of the PIN this module logged in with, when it did the C_Login itself. */
  pinDigest: Buffer | undefined;
}

function pinDigest(pin: string): Buffer {
  return createHash('sha256').update(pin, 'utf8').digest();
}

/**
 * C_Login as the user. Login state is per process and token (PKCS#11 v2.40 §5.6), so for a second key on a
 * logged-in token the device answers CKR_USER_ALREADY_LOGGED_IN without looking at the PIN: then the PIN is
 * compared with the one this module logged in with, so a wrong PIN is found at start and not when the first
 * key closes and the second one has to log in again.
 */
function login(ctx: Context, slot: Handle, session: Handle, pin: string): void {
  const { lib, p } = ctx.m;
  const entry = ctx.m.logins.get(slotKey(slot));
  try {
    lib.C_Login(session, p.CKU_USER, pin);
  } catch (e) {
    const code = ckr(e);
    if (code === 'CKR_USER_ALREADY_LOGGED_IN') {
      const known = entry?.pinDigest;
      if (known !== undefined && !timingSafeEqual(known, pinDigest(pin))) {
        throw fail(
          ctx,
          `${tokenName(ctx)} refused the PIN (wrong PIN): it is not the PIN this process is logged in with`,
          'CKR_PIN_INCORRECT',
        );
      }
      return;
    }
    const why: Record<string, string> = {
      CKR_PIN_INCORRECT: 'refused the PIN (wrong PIN)',
      CKR_PIN_LOCKED:
        'has locked its user PIN (too many wrong PINs): its security officer must reset it',
      CKR_PIN_LEN_RANGE: 'refused the PIN: its length is outside what the token accepts (wrong PIN)',
      CKR_PIN_EXPIRED: 'says the user PIN has expired: set a new one',
      CKR_USER_PIN_NOT_INITIALIZED: 'has no user PIN yet: initialise it (C_InitPIN) first',
    };
    throw fail(
      ctx,
      `${tokenName(ctx)} ${code !== undefined ? (why[code] ?? 'refused the login') : 'refused the login'} (${code ?? errorText(e)})`,
      code,
    );
  }
  ctx.m.logins.set(slotKey(slot), { users: entry?.users ?? 0, pinDigest: pinDigest(pin) });
}

function slotKey(slot: Handle): string {
  return slot.toString('hex');
}

function acquireLogin(ctx: Context, slot: Handle, session: Handle, pin: string): void {
  login(ctx, slot, session, pin);
  const k = slotKey(slot);
  const entry = ctx.m.logins.get(k);
  ctx.m.logins.set(k, { users: (entry?.users ?? 0) + 1, pinDigest: entry?.pinDigest });
}

/** Logs out only when this was the token's last user in the process: C_Logout ends every session's login. */
function releaseLogin(m: Pkcs11Module, slot: Handle, session: Handle): void {
  if (releaseLoginCount(m, slot) > 0) return;
  try {
    m.lib.C_Logout(session);
  } catch {
    // Not logged in any more (session gone): the device already dropped the login.
  }
}

/** Drops one user of the token's login; returns how many are left. */
function releaseLoginCount(m: Pkcs11Module, slot: Handle): number {
  const k = slotKey(slot);
  const entry = m.logins.get(k);
  const users = (entry?.users ?? 1) - 1;
  if (users > 0 && entry !== undefined) {
    entry.users = users;
    return users;
  }
  m.logins.delete(k);
  return 0;
}

function findObjects(lib: Lib, session: Handle, template: Pkcs11js.Template, max = 2): Handle[] {
  lib.C_FindObjectsInit(session, template);
  try {
    return lib.C_FindObjects(session, max);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/** CK_ULONG attribute values come back in native byte order and width (8 bytes on 64-bit Linux). */
function ulong(b: Buffer): number {
  return b.length === 8 ? Number(b.readBigUInt64LE()) : b.readUInt32LE();
}

function base64url(b: Buffer): string {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i).toString('base64url');
}

// ---------------------------------------------------------------------------------------------------------
// Keys

interface Located {
  slot: Handle;
  session: Handle;
  privateKey: Handle;
  publicKey: KeyObject;
  modulusBytes: number;
}

/** Finds the private key and its public half on a logged-in session and checks they can sign tokens. */
function locateKey(ctx: Context, session: Handle): Omit<Located, 'slot' | 'session'> {
  const { lib, p } = ctx.m;
  const label = ctx.opts.keyLabel;
  const where = tokenName(ctx);
  try {
    const privs = findObjects(lib, session, [
      { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
      { type: p.CKA_LABEL, value: label },
    ]);
    const [privateKey] = privs;
    if (privateKey === undefined) {
      throw fail(ctx, `no private key labelled "${label}" on ${where}`);
    }
    if (privs.length > 1) {
      throw fail(ctx, `more than one private key is labelled "${label}" on ${where}; labels must be unique`);
    }
    const [keyType, canSign, id] = lib
      .C_GetAttributeValue(session, privateKey, [
        { type: p.CKA_KEY_TYPE },
        { type: p.CKA_SIGN },
        { type: p.CKA_ID },
      ])
      .map((a) => a.value);
    if (keyType === undefined || ulong(keyType) !== p.CKK_RSA) {
      throw fail(
        ctx,
        `the key labelled "${label}" on ${where} is not an RSA key (CKA_KEY_TYPE ${keyType === undefined ? '?' : `0x${ulong(keyType).toString(16)}`}); token signing uses RSA-SHA256`,
      );
    }
    if (canSign?.[0] !== 1) {
      throw fail(ctx, `the key labelled "${label}" on ${where} may not sign (CKA_SIGN is false)`);
    }
    // The public key object with the same label (and CKA_ID when the private key has one); without one, the
    // RSA private key object's own public attributes (CKA_MODULUS, CKA_PUBLIC_EXPONENT are never sensitive).
    const pubs = findObjects(lib, session, [
      { type: p.CKA_CLASS, value: p.CKO_PUBLIC_KEY },
      { type: p.CKA_LABEL, value: label },
      ...(id !== undefined && id.length > 0 ? [{ type: p.CKA_ID, value: id }] : []),
    ]);
    if (pubs.length > 1) {
      throw fail(ctx, `more than one public key is labelled "${label}" on ${where}; labels must be unique`);
    }
    const [modulus, exponent] = lib
      .C_GetAttributeValue(session, pubs[0] ?? privateKey, [
        { type: p.CKA_MODULUS },
        { type: p.CKA_PUBLIC_EXPONENT },
      ])
      .map((a) => a.value);
    if (modulus === undefined || exponent === undefined || modulus.length === 0) {
      throw fail(ctx, `the key labelled "${label}" on ${where} has no readable modulus`);
    }
    const publicKey = createPublicKey({
      key: { kty: 'RSA', n: base64url(modulus), e: base64url(exponent) },
      format: 'jwk',
    });
    const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      throw fail(
        ctx,
        `the key labelled "${label}" on ${where} is RSA-${bits}; token signing needs at least ${MIN_RSA_BITS} bits`,
      );
    }
    return { privateKey, publicKey, modulusBytes: Math.ceil(bits / 8) };
  } catch (e) {
    if (e instanceof Pkcs11Error) throw e;
    throw fail(ctx, `reading the key labelled "${label}" on ${where} failed: ${errorText(e)}`, ckr(e));
  }
}

function rawSign(ctx: Context, k: Located, data: Buffer): Buffer {
  const { lib, p } = ctx.m;
  lib.C_SignInit(k.session, { mechanism: p.CKM_SHA256_RSA_PKCS }, k.privateKey);
  return lib.C_Sign(k.session, data, Buffer.alloc(k.modulusBytes));
}

/**
 * What a reset token, a re-plugged device or a dropped login looks like: open a new session, log in, find the
 * key again, then retry once.
 */
const RECOVERABLE = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_KEY_HANDLE_INVALID',
  'CKR_OBJECT_HANDLE_INVALID',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_DEVICE_REMOVED',
]);

/** Opens the key named by `opts` (see Pkcs11Options) and checks it can sign tokens. */
export function openPkcs11Key(opts: Pkcs11Options): Pkcs11Key {
  checkOptions(opts);
  const pin = opts.pin;
  const m = loadModuleFor(opts);
  const ctx: Context = { m, opts };
  let located: Located;
  try {
    located = openLocated(ctx, pin);
  } catch (e) {
    releasePkcs11Module(m);
    throw e;
  }
  const modulus = located.publicKey.export({ format: 'jwk' }).n;
  const description = `${tokenName(ctx)}, key "${opts.keyLabel}"`;
  // The key holds one login reference on its token for its whole life; `live` is false after a failed
  // reopen, so the next signature tries again (a network HSM back after a blip needs no restart).
  let live = true;
  let closed = false;

  const reopen = (): void => {
    if (live) closeSession(m, located.session);
    live = false;
    const slot = findSlot(ctx);
    const session = openSession(ctx, slot, false);
    try {
      login(ctx, slot, session, pin);
      const found = locateKey(ctx, session);
      // A token re-provisioned with another key under the same label would sign tokens that do not match
      // the published certificate: refuse rather than sign with it.
      if (found.publicKey.export({ format: 'jwk' }).n !== modulus) {
        throw fail(ctx, `the key labelled "${opts.keyLabel}" on ${tokenName(ctx)} is no longer the same key`);
      }
      moveLoginCount(m, located.slot, slot);
      located = { ...found, slot, session };
      live = true;
    } catch (e) {
      closeSession(m, session);
      throw e;
    }
  };

  return {
    publicKey: located.publicKey,
    bits: located.modulusBytes * 8,
    description,
    signSha256(data: Buffer): Buffer {
      if (closed) throw fail(ctx, `the PKCS#11 key (${description}) is closed`);
      if (live) {
        try {
          return rawSign(ctx, located, data);
        } catch (e) {
          const code = ckr(e);
          if (code === undefined || !RECOVERABLE.has(code)) {
            throw fail(ctx, `signing with ${description} failed: ${errorText(e)}`, code);
          }
        }
      }
      try {
        reopen();
      } catch (e) {
        if (!(e instanceof Pkcs11Error)) throw e;
        throw fail(ctx, `signing with ${description} failed, and reopening the session failed: ${e.message}`, e.code);
      }
      try {
        return rawSign(ctx, located, data);
      } catch (e) {
        throw fail(
          ctx,
          `signing with ${description} failed again after reopening the session: ${errorText(e)}`,
          ckr(e),
        );
      }
    },
    close(): void {
      if (closed) return;
      closed = true;
      if (live) {
        releaseLogin(m, located.slot, located.session);
        closeSession(m, located.session);
      } else {
        releaseLoginCount(m, located.slot);
      }
      releasePkcs11Module(m);
    },
  };
}

/** The token came back in another slot: move this key's use of the login there. */
function moveLoginCount(m: Pkcs11Module, from: Handle, to: Handle): void {
  if (slotKey(from) === slotKey(to)) return;
  releaseLoginCount(m, from);
  const entry = m.logins.get(slotKey(to));
  m.logins.set(slotKey(to), { users: (entry?.users ?? 0) + 1, pinDigest: entry?.pinDigest });
}

function openLocated(ctx: Context, pin: string): Located {
  const slot = findSlot(ctx);
  const session = openSession(ctx, slot, false);
  try {
    acquireLogin(ctx, slot, session, pin);
  } catch (e) {
    closeSession(ctx.m, session);
    throw e;
  }
  try {
    const found = locateKey(ctx, session);
    const k: Located = { ...found, slot, session };
    // A public key object that belongs to another private key would publish a certificate nothing verifies
    // against: prove the pair with one signature.
    const probe = Buffer.from('fedgate PKCS#11 key check', 'utf8');
    let sig: Buffer;
    try {
      sig = rawSign(ctx, k, probe);
    } catch (e) {
      throw fail(ctx, `test signature with the key labelled "${ctx.opts.keyLabel}" on ${tokenName(ctx)} failed: ${errorText(e)}`, ckr(e));
    }
    if (!verify('sha256', probe, found.publicKey, sig)) {
      throw fail(
        ctx,
        `the public key labelled "${ctx.opts.keyLabel}" on ${tokenName(ctx)} does not belong to the private key (a test signature does not verify)`,
      );
    }
    return k;
  } catch (e) {
    releaseLogin(ctx.m, slot, session);
    closeSession(ctx.m, session);
    throw e;
  }
}

/** loadPkcs11Module knows no PIN: scrub its messages here (they quote the configured module path). */
function loadModuleFor(opts: Pkcs11Options): Pkcs11Module {
  try {
    return loadPkcs11Module(opts.module);
  } catch (e) {
    if (e instanceof Pkcs11Error) throw new Pkcs11Error(scrub(e.message, opts.pin), e.code);
    throw e;
  }
}

function checkOptions(opts: Pkcs11Options): void {
  const scrubbed = (msg: string) => new Pkcs11Error(scrub(msg, opts.pin));
  if (typeof opts.pin !== 'string' || opts.pin === '') throw scrubbed('keys.signing.pkcs11: the PIN is empty');
  if (opts.keyLabel === '') throw scrubbed('keys.signing.pkcs11.keyLabel is empty');
  if (opts.tokenLabel === undefined && opts.slot === undefined) {
    throw scrubbed('keys.signing.pkcs11 needs tokenLabel (preferred) or slot');
  }
}

/**
 * Generates an RSA key pair inside the token (C_GenerateKeyPair, CKM_RSA_PKCS_KEY_PAIR_GEN) under
 * `opts.keyLabel` and opens it. The private key is a token object that is sensitive and never extractable
 * (PKCS#11 v2.40 §4.9: its secret parts can never be read or wrapped out), may only sign, and is private
 * (needs a login even to be found); the public key has the same label and CKA_ID.
 */
export function generatePkcs11RsaKey(opts: Pkcs11Options, bits: number = MIN_RSA_BITS): Pkcs11Key {
  checkOptions(opts);
  if (!Number.isInteger(bits) || bits < MIN_RSA_BITS) {
    throw new Pkcs11Error(`RSA keys for token signing have at least ${MIN_RSA_BITS} bits (asked: ${bits})`);
  }
  const pin = opts.pin;
  const m = loadModuleFor(opts);
  const ctx: Context = { m, opts };
  const { lib, p } = m;
  try {
    const slot = findSlot(ctx);
    const session = openSession(ctx, slot, true);
    try {
      acquireLogin(ctx, slot, session, pin);
      try {
        for (const cls of [p.CKO_PRIVATE_KEY, p.CKO_PUBLIC_KEY, p.CKO_CERTIFICATE]) {
          const existing = findObjects(lib, session, [
            { type: p.CKA_CLASS, value: cls },
            { type: p.CKA_LABEL, value: opts.keyLabel },
          ]);
          if (existing.length > 0) {
            throw fail(ctx, `${tokenName(ctx)} already has an object labelled "${opts.keyLabel}"; a new key needs a new label`);
          }
        }
        const id = randomBytes(16);
        try {
          lib.C_GenerateKeyPair(
            session,
            { mechanism: p.CKM_RSA_PKCS_KEY_PAIR_GEN },
            [
              { type: p.CKA_CLASS, value: p.CKO_PUBLIC_KEY },
              { type: p.CKA_KEY_TYPE, value: p.CKK_RSA },
              { type: p.CKA_TOKEN, value: true },
              { type: p.CKA_PRIVATE, value: false },
              { type: p.CKA_LABEL, value: opts.keyLabel },
              { type: p.CKA_ID, value: id },
              { type: p.CKA_MODULUS_BITS, value: bits },
              { type: p.CKA_PUBLIC_EXPONENT, value: Buffer.from([0x01, 0x00, 0x01]) },
              { type: p.CKA_VERIFY, value: true },
              { type: p.CKA_ENCRYPT, value: false },
              { type: p.CKA_WRAP, value: false },
            ],
            [
              { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
              { type: p.CKA_KEY_TYPE, value: p.CKK_RSA },
              { type: p.CKA_TOKEN, value: true },
              { type: p.CKA_PRIVATE, value: true },
              // The two attributes that keep the key inside the device (PKCS#11 v2.40 §4.9 table 27).
              { type: p.CKA_SENSITIVE, value: true },
              { type: p.CKA_EXTRACTABLE, value: false },
              { type: p.CKA_LABEL, value: opts.keyLabel },
              { type: p.CKA_ID, value: id },
              { type: p.CKA_SIGN, value: true },
              { type: p.CKA_DECRYPT, value: false },
              { type: p.CKA_UNWRAP, value: false },
            ],
          );
        } catch (e) {
          throw fail(ctx, `generating an RSA-${bits} key on ${tokenName(ctx)} failed: ${errorText(e)}`, ckr(e));
        }
        // Opened before this session's login is released, so the token stays logged in throughout.
        return openPkcs11Key(opts);
      } finally {
        releaseLogin(m, slot, session);
      }
    } finally {
      closeSession(m, session);
    }
  } finally {
    releasePkcs11Module(m);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Certificates

let x509Lib: Promise<typeof X509Lib> | undefined;
function loadX509(): Promise<typeof X509Lib> {
  // tsyringe (under @peculiar/x509) needs the Reflect metadata polyfill first (as in generate.ts).
  x509Lib ??= import('reflect-metadata').then(() => import('@peculiar/x509'));
  return x509Lib;
}

/**
 * A self-signed token-signing certificate for an HSM key, signed by the device. @peculiar/x509 builds the
 * TBSCertificate and hands it to its crypto provider's `subtle.sign`; that one call goes to `key.signSha256`,
 * everything else (SPKI export, SHA-1 of the key for the SubjectKeyIdentifier) to Node's WebCrypto.
 * Same profile as generate.ts's signing certificates: digitalSignature only, not a CA, RFC 5280 serial.
 */
export async function createPkcs11Certificate(
  key: Pkcs11Key,
  commonName: string,
  notBefore: Date,
  notAfter: Date,
  serial: Buffer,
): Promise<string> {
  const x509 = await loadX509();
  const subtle = webcrypto.subtle;
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const spki = key.publicKey.export({ type: 'spki', format: 'der' });
  const publicKey = await subtle.importKey('spki', spki, alg, true, ['verify']);
  // A stand-in for the device key: the library only passes it back to `subtle.sign` below.
  const deviceKey = {
    type: 'private',
    extractable: false,
    algorithm: { name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-256' } },
    usages: ['sign'],
  } as unknown as CryptoKey;
  const deviceSubtle = Object.create(subtle) as SubtleCrypto;
  Object.defineProperties(deviceSubtle, {
    sign: {
      value: (algorithm: unknown, k: unknown, data: BufferSource): Promise<ArrayBuffer> => {
        const a = algorithm as { name?: string; hash?: string | { name?: string } };
        const hash = typeof a.hash === 'string' ? a.hash : a.hash?.name;
        if (k !== deviceKey || a.name !== 'RSASSA-PKCS1-v1_5' || hash !== 'SHA-256') {
          return Promise.reject(new Pkcs11Error('the HSM key signs RSASSA-PKCS1-v1_5 SHA-256 only'));
        }
        const bytes = ArrayBuffer.isView(data)
          ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
          : Buffer.from(data);
        const sig = key.signSha256(bytes);
        return Promise.resolve(
          sig.buffer.slice(sig.byteOffset, sig.byteOffset + sig.byteLength) as ArrayBuffer,
        );
      },
    },
    // Everything else is WebCrypto's own, called on WebCrypto's SubtleCrypto.
    exportKey: { value: subtle.exportKey.bind(subtle) },
    digest: { value: subtle.digest.bind(subtle) },
    importKey: { value: subtle.importKey.bind(subtle) },
    verify: { value: subtle.verify.bind(subtle) },
  });
  const provider = {
    subtle: deviceSubtle,
    getRandomValues: webcrypto.getRandomValues.bind(webcrypto),
  } as unknown as Crypto;

  const sn = Buffer.from(serial);
  // A positive INTEGER with no leading zero octet (RFC 5280 §4.1.2.2): clear the top bit, set the next one.
  sn[0] = ((sn[0] ?? 0) & 0x7f) | 0x40;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: sn.toString('hex'),
      name: [{ CN: [commonName] }],
      notBefore,
      notAfter,
      signingAlgorithm: alg,
      keys: { privateKey: deviceKey, publicKey },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, provider),
      ],
    },
    provider,
  );
  const pem = cert.toString('pem') + '\n';
  if (!new X509Certificate(pem).verify(key.publicKey)) {
    throw new Pkcs11Error('the certificate signed by the HSM does not verify with its public key');
  }
  return pem;
}

/**
 * The SigningCredential for an HSM key and its certificate; refuses a certificate whose public key is not the
 * key's (tokens would be signed by one key and published under another).
 */
export function pkcs11SigningCredential(key: Pkcs11Key, certificatePem: string): SigningCredential {
  const facts = describeCertificate(certificatePem);
  if (!samePublicKey(key.publicKey, facts)) {
    throw new Pkcs11Error(`the certificate "${facts.subject}" is not for the HSM key (${key.description})`);
  }
  return deviceSigningCredential(key, facts, key.description);
}

// ---------------------------------------------------------------------------------------------------------

/** The CKR_ name of a pkcs11js error (its message is the return value's name), if it is one. */
function ckr(e: unknown): string | undefined {
  return e instanceof Error && /^CKR_[A-Z0-9_]+$/.test(e.message) ? e.message : undefined;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e);
}
