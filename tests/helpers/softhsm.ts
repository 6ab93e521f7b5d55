/**
 * SoftHSM2 for the PKCS#11 tests: a private token directory per test file (tests/setup/softhsm.sh), and a
 * direct pkcs11js view of a token that uses none of fedgate's PKCS#11 code, so what a test reads back about a
 * key (its attributes, whether it can be read or wrapped out) is the device's answer, not fedgate's.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as Pkcs11js from 'pkcs11js';

const script = new URL('../setup/softhsm.sh', import.meta.url).pathname;

export const SO_PIN = '87654321';

export interface SoftHsm {
  /** The PKCS#11 module path (Debian: /usr/lib/softhsm/libsofthsm2.so). */
  module: string;
  /** The private directory (softhsm2.conf, tokens/). */
  dir: string;
  remove(): void;
}

/**
 * Creates a private SoftHSM2 with one token per entry and points this process at it (SOFTHSM2_CONF is read
 * when the library is initialised, so call this before any key is opened). Throws when softhsm2 is missing:
 * tests fail rather than skip.
 */
export function startSoftHsm(tokens: { label: string; pin: string }[]): SoftHsm {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-softhsm-'));
  let module = '';
  for (const t of tokens) {
    const r = spawnSync('bash', [script, 'init', dir, t.label, SO_PIN, t.pin], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.status !== 0) {
      throw new Error(`tests/setup/softhsm.sh init failed: ${r.stderr}${r.error?.message ?? ''}`);
    }
    module = r.stdout.trim().split('\n').pop() ?? '';
  }
  process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
  return {
    module,
    dir,
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Binding = typeof Pkcs11js;
const p = createRequire(import.meta.url)('pkcs11js') as Binding;

/** The CKR_ name pkcs11js puts in its error message. */
export function ckrOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A logged-in session on one token through pkcs11js itself. It shares the library with fedgate's code in the
 * same process (PKCS#11 state is per process): it initialises only when nobody has, finalizes only what it
 * initialised, and never calls C_Logout (that would log every session of the token out).
 */
export class DirectToken {
  readonly p = p;
  private readonly lib: Pkcs11js.PKCS11;
  private readonly ownsInit: boolean;
  readonly slot: Buffer;
  readonly session: Buffer;

  constructor(module: string, tokenLabel: string, pin: string) {
    this.lib = new p.PKCS11();
    this.lib.load(module);
    let owns = true;
    try {
      this.lib.C_Initialize();
    } catch (e) {
      if (ckrOf(e) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') throw e;
      owns = false;
    }
    this.ownsInit = owns;
    const slot = this.lib
      .C_GetSlotList(true)
      .find((s) => this.lib.C_GetTokenInfo(s).label.trimEnd() === tokenLabel);
    if (slot === undefined) throw new Error(`no token ${tokenLabel}`);
    this.slot = slot;
    this.session = this.lib.C_OpenSession(slot, p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
    try {
      this.lib.C_Login(this.session, p.CKU_USER, pin);
    } catch (e) {
      if (ckrOf(e) !== 'CKR_USER_ALREADY_LOGGED_IN') throw e;
    }
  }

  find(cls: number, label: string): Buffer[] {
    this.lib.C_FindObjectsInit(this.session, [
      { type: p.CKA_CLASS, value: cls },
      { type: p.CKA_LABEL, value: label },
    ]);
    try {
      return this.lib.C_FindObjects(this.session, 10);
    } finally {
      this.lib.C_FindObjectsFinal(this.session);
    }
  }

  one(cls: number, label: string): Buffer {
    const found = this.find(cls, label);
    if (found.length !== 1 || found[0] === undefined) {
      throw new Error(`expected one object labelled ${label}, found ${found.length}`);
    }
    return found[0];
  }

  /** One attribute's raw value, or the CKR_ name the device answered with. */
  attribute(obj: Buffer, type: number): { value: Buffer } | { error: string } {
    try {
      const [a] = this.lib.C_GetAttributeValue(this.session, obj, [{ type }]);
      if (a === undefined) return { error: 'no value' };
      return { value: a.value };
    } catch (e) {
      return { error: ckrOf(e) };
    }
  }

  bool(obj: Buffer, type: number): boolean {
    const a = this.attribute(obj, type);
    if ('error' in a) throw new Error(`attribute 0x${type.toString(16)}: ${a.error}`);
    return a.value[0] === 1;
  }

  /** Tries to wrap `obj` out of the token under a fresh AES key; returns the CKR_ name or 'wrapped'. */
  tryWrap(obj: Buffer): string {
    const aes = this.lib.C_GenerateKey(this.session, { mechanism: p.CKM_AES_KEY_GEN }, [
      { type: p.CKA_TOKEN, value: false },
      { type: p.CKA_VALUE_LEN, value: 32 },
      { type: p.CKA_WRAP, value: true },
      { type: p.CKA_EXTRACTABLE, value: true },
    ]);
    try {
      this.lib.C_WrapKey(
        this.session,
        { mechanism: p.CKM_AES_KEY_WRAP_PAD },
        aes,
        obj,
        Buffer.alloc(4096),
      );
      return 'wrapped';
    } catch (e) {
      return ckrOf(e);
    } finally {
      this.lib.C_DestroyObject(this.session, aes);
    }
  }

  /** Generates a token key pair with the given label: an RSA key of `bits`, or an EC P-256 key. */
  generate(label: string, kind: { rsaBits: number } | 'ec-p256'): void {
    const common = [
      { type: p.CKA_TOKEN, value: true },
      { type: p.CKA_LABEL, value: label },
    ];
    if (kind === 'ec-p256') {
      // DER OID 1.2.840.10045.3.1.7 (prime256v1).
      const params = Buffer.from('06082a8648ce3d030107', 'hex');
      this.lib.C_GenerateKeyPair(
        this.session,
        { mechanism: p.CKM_EC_KEY_PAIR_GEN },
        [...common, { type: p.CKA_EC_PARAMS, value: params }, { type: p.CKA_VERIFY, value: true }],
        [...common, { type: p.CKA_SIGN, value: true }, { type: p.CKA_PRIVATE, value: true }],
      );
      return;
    }
    this.lib.C_GenerateKeyPair(
      this.session,
      { mechanism: p.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [
        ...common,
        { type: p.CKA_MODULUS_BITS, value: kind.rsaBits },
        { type: p.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
        { type: p.CKA_VERIFY, value: true },
      ],
      [...common, { type: p.CKA_SIGN, value: true }, { type: p.CKA_PRIVATE, value: true }],
    );
  }

  /** Whether this process is logged in to the token (login state is per process and token, PKCS#11 §5.6). */
  loggedIn(): boolean {
    // CK_STATE (PKCS#11 v2.40 §5.6.2): CKS_RO_USER_FUNCTIONS = 1, CKS_RW_USER_FUNCTIONS = 3 (not in pkcs11js).
    const { state } = this.lib.C_GetSessionInfo(this.session);
    return state === 1 || state === 3;
  }

  /** The token's index in C_GetSlotList(true), what `slot` in Pkcs11Options counts. */
  slotIndex(): number {
    return this.lib.C_GetSlotList(true).findIndex((s) => s.equals(this.slot));
  }

  /** Raw CKM_SHA256_RSA_PKCS signing with the private key labelled `label`, on this helper's own session. */
  signer(label: string): (data: Buffer) => Buffer {
    const key = this.one(p.CKO_PRIVATE_KEY, label);
    return (data) => {
      this.lib.C_SignInit(this.session, { mechanism: p.CKM_SHA256_RSA_PKCS }, key);
      return this.lib.C_Sign(this.session, data, Buffer.alloc(512));
    };
  }

  relabel(obj: Buffer, label: string): void {
    this.lib.C_SetAttributeValue(this.session, obj, [{ type: p.CKA_LABEL, value: label }]);
  }

  destroy(cls: number, label: string): void {
    for (const h of this.find(cls, label)) this.lib.C_DestroyObject(this.session, h);
  }

  /**
   * What a token reset does to a running process: every session on the token (fedgate's too) becomes
   * invalid and the login is gone. Reopens this helper's own session afterwards.
   */
  closeAllSessions(pin: string): void {
    this.lib.C_CloseAllSessions(this.slot);
    const s = this.lib.C_OpenSession(this.slot, p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
    this.lib.C_Login(s, p.CKU_USER, pin);
    Object.assign(this, { session: s });
  }

  close(): void {
    try {
      this.lib.C_CloseSession(this.session);
    } catch {
      // already closed by a C_CloseAllSessions
    }
    if (this.ownsInit) this.lib.C_Finalize();
    this.lib.close();
  }
}
