/**
 * The token-signing key ring (issue 18): the primary key that signs every token, the next key published in the
 * federation metadata before it signs, and previous keys kept published for a grace period after a switch.
 *
 * Every node of a farm reads the same keys.dir and notices a change (a new key, a promotion, a removal) within
 * keys.reloadIntervalSeconds, with no restart. Each entry loads on its own: a file that fails (bad PEM, wrong
 * passphrase, key and certificate of different pairs, loose permissions) is logged, and the last good version of
 * that entry keeps serving. The ring is ready only while it has a primary that can sign.
 */
import type { KeyObject } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.ts';
import { FederationError } from '../lib/errors.ts';
import { deviceSigningCredential, fileSigningCredential, samePublicKey } from './credential.ts';
import type { KeyRole, Manifest, ManifestEntry } from './manifest.ts';
import { MANIFEST_FILE, readManifest } from './manifest.ts';
import {
  KeyMaterialError,
  SIGNING_CERT_FILE,
  SIGNING_KEY_FILE,
  checkKeyForCertificate,
  loadOrCreateSigningCredential,
  readCertificateFile,
  readPrivateKey,
} from './store.ts';
import type { CredentialFiles } from './store.ts';
import type { SigningCredential } from './types.ts';

/** A key held in a PKCS#11 token: only its public half and its signing operation are in this process. */
export interface HsmKeyHandle {
  readonly publicKey: KeyObject;
  signSha256(data: Buffer): Buffer;
  close(): void;
}

/** What the ring needs of an HSM (server/keys/pkcs11.ts behind it). */
export interface HsmAdapter {
  open(label: string): HsmKeyHandle;
  /**
   * Generates an RSA key pair inside the token under `label` (sensitive, not extractable) and returns a self-signed
   * certificate for it, signed inside the token (PEM).
   */
  generate(
    label: string,
    cert: { commonName: string; notBefore: Date; notAfter: Date; serial: Buffer },
  ): Promise<string>;
}

export interface RingEntry {
  role: KeyRole;
  credential: SigningCredential;
  /** Manifest entry (synthesised for the single-pair layout and for configured files). */
  entry: ManifestEntry;
  certFile: string;
  keyFile: string | undefined;
}

export interface RingSnapshot {
  primary: RingEntry | undefined;
  next: RingEntry | undefined;
  previous: RingEntry[];
  /** Increases with every change the ring takes in; metadata and metrics cache by it. */
  version: number;
}

export interface KeyRingLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface KeyRingOptions {
  dir: string;
  hostname: string;
  clock: Clock;
  log: KeyRingLogger;
  /** keys.signing: admin-managed files; the ring is that one key, reloaded when the files change. */
  configured?: CredentialFiles | undefined;
  passphrase?: string | undefined;
  hsm?: HsmAdapter | undefined;
  /** When false (the CLI reading a ring), nothing is generated on an empty keys.dir. */
  create?: boolean;
}

export class KeyRing {
  readonly #o: KeyRingOptions;
  #snap: RingSnapshot = { primary: undefined, next: undefined, previous: [], version: 0 };
  /** The last good entry per certificate file, kept serving while a changed file fails to load. */
  #good = new Map<string, RingEntry>();
  #fingerprint = '';
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<boolean> | undefined;
  /** True once the first load found a usable primary (generated keys were just written). */
  generated = false;
  readonly #hsmHandles = new Map<string, HsmKeyHandle>();

  constructor(opts: KeyRingOptions) {
    this.#o = opts;
  }

  get dir(): string {
    return this.#o.dir;
  }

  /** True when the ring is admin-managed files (keys.signing): fedgate never generates or promotes then. */
  get managedByAdmin(): boolean {
    return this.#o.configured !== undefined;
  }

  /**
   * First load. A missing ring is generated (the single-pair layout, as before issue 18) unless `create` is false.
   * Throws KeyMaterialError when there is no usable primary: a node must not start without one.
   */
  async load(): Promise<void> {
    if (this.#o.configured === undefined && this.#o.create !== false) {
      const manifest = await readManifest(this.#o.dir);
      if (manifest === undefined && this.#o.hsm === undefined) {
        const made = await loadOrCreateSigningCredential({
          dir: this.#o.dir,
          hostname: this.#o.hostname,
          clock: this.#o.clock,
          passphrase: this.#o.passphrase,
        });
        this.generated = made.generated;
        if (made.warning !== undefined)
          this.#o.log.warn({ thumbprint: made.thumbprintSha1 }, made.warning);
      }
    }
    await this.refresh(true);
    if (this.#snap.primary === undefined) {
      throw new KeyMaterialError(
        `no usable primary token-signing key in ${this.#o.configured?.keyFile ?? this.#o.dir}`,
        this.#o.dir,
      );
    }
  }

  snapshot(): RingSnapshot {
    return this.#snap;
  }

  /**
   * The key that signs tokens. Without one (every key file removed or broken since start) a request gets a
   * deliberate 503, and /healthz/ready fails so the load balancer stops sending any.
   */
  get primary(): SigningCredential {
    const p = this.#snap.primary;
    if (p === undefined)
      throw new FederationError(
        'signing_unavailable',
        'The sign-in service is temporarily unavailable. Try again in a few minutes.',
        { detail: `no usable primary token-signing key in ${this.#o.dir}` },
      );
    return p.credential;
  }

  /** Ready while a primary can sign (`/healthz/ready`). */
  ready(): boolean {
    return this.#snap.primary !== undefined;
  }

  /**
   * The certificates the federation metadata publishes: the primary first (it signs the document), then the next
   * one, then previous ones still in their grace period and not expired.
   */
  published(): SigningCredential[] {
    const now = this.#o.clock.now().getTime();
    const s = this.#snap;
    return [
      ...(s.primary === undefined ? [] : [s.primary.credential]),
      ...(s.next === undefined ? [] : [s.next.credential]),
      ...s.previous
        .filter((p) => p.credential.notAfter.getTime() > now)
        .map((p) => p.credential),
    ];
  }

  /** Every key with its role, primary first (for `fedgate keys list` and the metrics). */
  entries(): RingEntry[] {
    const s = this.#snap;
    return [
      ...(s.primary === undefined ? [] : [s.primary]),
      ...(s.next === undefined ? [] : [s.next]),
      ...s.previous,
    ];
  }

  /** Polls keys.dir every `intervalMs` and takes in what changed. */
  start(intervalMs: number): void {
    this.stop();
    this.#timer = setInterval(() => {
      void this.refresh().catch((err: unknown) => {
        this.#o.log.error({ event: 'key_reload_failed', err }, 'token-signing keys not reloaded');
      });
    }, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    this.stop();
    for (const h of this.#hsmHandles.values()) h.close();
    this.#hsmHandles.clear();
  }

  /**
   * Re-reads keys.dir when anything in it changed (the manifest or a file it names: size, time, inode). Returns
   * whether the ring changed. Concurrent calls share one reload.
   */
  refresh(force = false): Promise<boolean> {
    const inFlight = this.#refreshing;
    if (inFlight !== undefined && !force) return inFlight;
    // A forced reload (after this node changed the ring) must read the disk after the change, so it runs after any
    // reload already in flight rather than joining it (that one may have read the old manifest).
    const run: Promise<boolean> = (inFlight ?? Promise.resolve(false))
      .catch(() => false)
      .then(() => this.#reload(force))
      .finally(() => {
        if (this.#refreshing === run) this.#refreshing = undefined;
      });
    this.#refreshing = run;
    return run;
  }

  async #reload(force: boolean): Promise<boolean> {
    let manifest: Manifest;
    try {
      manifest = await this.#manifest();
    } catch (err) {
      // A broken manifest: keep serving what we have (it was good), say why.
      this.#o.log.error(
        { event: 'key_reload_failed', file: join(this.#o.dir, MANIFEST_FILE), reason: errText(err) },
        'token-signing key manifest unreadable; the keys loaded before keep serving',
      );
      return false;
    }
    const fp = await this.#fingerprintOf(manifest);
    if (!force && fp === this.#fingerprint) return false;

    const loaded: RingEntry[] = [];
    let failed = false;
    for (const e of manifest.keys) {
      try {
        loaded.push(await this.#loadEntry(e));
      } catch (err) {
        failed = true;
        const kept = this.#good.get(e.cert);
        this.#o.log.error(
          {
            event: 'key_reload_failed',
            file: err instanceof KeyMaterialError ? err.file : join(this.#o.dir, e.cert),
            role: e.role,
            reason: errText(err),
            kept: kept?.credential.thumbprintSha1,
          },
          kept === undefined
            ? 'a token-signing key failed to load and is left out'
            : 'a token-signing key failed to load; its last good version keeps serving',
        );
        if (kept !== undefined) loaded.push({ ...kept, role: e.role, entry: e });
      }
    }
    const primary = loaded.find((l) => l.role === 'primary');
    const next = loaded.find((l) => l.role === 'next');
    const previous = loaded.filter((l) => l.role === 'previous');
    const before = this.#snap;
    const same =
      before.primary?.credential.thumbprintSha1 === primary?.credential.thumbprintSha1 &&
      before.next?.credential.thumbprintSha1 === next?.credential.thumbprintSha1 &&
      before.previous.map((p) => p.credential.thumbprintSha1).join() ===
        previous.map((p) => p.credential.thumbprintSha1).join();
    // Retry a failed file at the next poll even when nothing changes on disk.
    this.#fingerprint = failed ? '' : fp;
    this.#good = new Map(loaded.map((l) => [l.entry.cert, l]));
    this.#snap = { primary, next, previous, version: before.version + (same ? 0 : 1) };
    if (!same && before.version > 0) {
      this.#o.log.info(
        {
          event: 'keys_reloaded',
          primary: primary?.credential.thumbprintSha1,
          next: next?.credential.thumbprintSha1,
          previous: previous.map((p) => p.credential.thumbprintSha1),
        },
        'token-signing keys reloaded',
      );
    }
    if (primary === undefined)
      this.#o.log.error(
        { event: 'key_reload_failed', dir: this.#o.dir },
        'no usable primary token-signing key: this node is not ready',
      );
    return !same;
  }

  /** The manifest, or the single pair synthesised as one when there is none (or when keys.signing is set). */
  async #manifest(): Promise<Manifest> {
    if (this.#o.configured !== undefined) {
      return { keys: [await synthesisedEntry(this.#o.configured.certFile, this.#o.configured)] };
    }
    const m = await readManifest(this.#o.dir);
    if (m !== undefined) return m;
    const files = {
      certFile: join(this.#o.dir, SIGNING_CERT_FILE),
      keyFile: join(this.#o.dir, SIGNING_KEY_FILE),
    };
    try {
      return { keys: [await synthesisedEntry(SIGNING_CERT_FILE, files, SIGNING_KEY_FILE)] };
    } catch (err) {
      if (err instanceof KeyMaterialError && (await missing(files.certFile))) return { keys: [] };
      throw err;
    }
  }

  async #fingerprintOf(m: Manifest): Promise<string> {
    const parts: string[] = [];
    const files = [
      ...(this.#o.configured === undefined ? [join(this.#o.dir, MANIFEST_FILE)] : []),
      ...m.keys.flatMap((e) => [
        this.#path(e.cert),
        ...(e.key === undefined ? [] : [this.#path(e.key)]),
      ]),
    ];
    for (const f of files) {
      try {
        const st = await stat(f);
        // The mode too: a key file made group-readable is refused at the next poll, not at its next edit.
        parts.push(`${f}:${st.ino}:${st.size}:${st.mtimeMs}:${st.mode}`);
      } catch {
        parts.push(`${f}:-`);
      }
    }
    return `${parts.join('|')}|${m.keys.map((k) => `${k.cert}=${k.role}`).join(',')}`;
  }

  #path(name: string): string {
    if (this.#o.configured !== undefined) {
      if (name === this.#o.configured.certFile || name === this.#o.configured.keyFile) return name;
    }
    return join(this.#o.dir, name);
  }

  async #loadEntry(e: ManifestEntry): Promise<RingEntry> {
    const certFile = this.#path(e.cert);
    const { facts } = await readCertificateFile(certFile);
    if (facts.thumbprintSha1 !== e.thumbprint) {
      throw new KeyMaterialError(
        `${certFile} has thumbprint ${facts.thumbprintSha1}, the manifest says ${e.thumbprint}`,
        certFile,
      );
    }
    if (e.key !== undefined) {
      const keyFile = this.#path(e.key);
      const key = await readPrivateKey(keyFile, this.#o.passphrase);
      checkKeyForCertificate(key, facts, { certFile, keyFile }, 'signing');
      return {
        role: e.role,
        credential: fileSigningCredential(key, facts),
        entry: e,
        certFile,
        keyFile,
      };
    }
    const label = e.pkcs11Label ?? '';
    const hsm = this.#o.hsm;
    if (hsm === undefined) {
      throw new KeyMaterialError(
        `${certFile}'s key is in a PKCS#11 token (label "${label}") but keys.pkcs11 is not configured`,
        certFile,
      );
    }
    let handle = this.#hsmHandles.get(label);
    if (handle === undefined) {
      handle = hsm.open(label);
      this.#hsmHandles.set(label, handle);
    }
    if (!samePublicKey(handle.publicKey, facts)) {
      throw new KeyMaterialError(
        `the PKCS#11 key "${label}" does not match the certificate in ${certFile} (different key pair)`,
        certFile,
      );
    }
    return {
      role: e.role,
      credential: deviceSigningCredential(handle, facts, `PKCS#11 key "${label}"`),
      entry: e,
      certFile,
      keyFile: undefined,
    };
  }
}

/** The manifest entry of a key that has no manifest (the single-pair layout, or keys.signing's files). */
async function synthesisedEntry(
  certName: string,
  files: CredentialFiles,
  keyName = files.keyFile,
): Promise<ManifestEntry> {
  const { facts } = await readCertificateFile(files.certFile);
  return {
    role: 'primary',
    cert: certName,
    key: keyName,
    thumbprint: facts.thumbprintSha1,
    added: facts.notBefore.toISOString(),
    source: 'generated',
  };
}


async function missing(file: string): Promise<boolean> {
  try {
    await stat(file);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
