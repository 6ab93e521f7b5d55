/**
 * Changes to the token-signing ring on disk: rollover (generate, promote, retire), import and forced steps. Every
 * change runs under a farm-wide lock (the shared store, plus a lock file in keys.dir for nodes that share the
 * directory but not a store), re-reads the ring from disk inside the lock and decides again, so any number of nodes
 * or cron jobs running `rollover --if-due` at once produce one new key.
 *
 * Files are written before the manifest that names them and deleted after the manifest that dropped them, each
 * atomically (manifest.ts), so a node reloading at any moment sees a whole ring.
 */
import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { open, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.ts';
import type { ArtifactStore } from '../stores/types.ts';
import {
  createSelfSignedCertificate,
  describeCertificate,
  generateRsaKey,
  privateKeyToPem,
  signingSubjectCn,
} from './generate.ts';
import type { Manifest, ManifestEntry } from './manifest.ts';
import { readManifest, writeFileAtomic, writeManifest } from './manifest.ts';
import type { HsmAdapter } from './ring.ts';
import { samePublicKey } from './credential.ts';
import { planRollover } from './rollover-plan.ts';
import type { PlanKey, RolloverAction, RolloverSettings } from './rollover-plan.ts';
import {
  KeyMaterialError,
  SIGNING_CERT_FILE,
  SIGNING_KEY_FILE,
  checkKeyForCertificate,
  ensurePrivateDir,
  readCertificateFile,
} from './store.ts';

const DAY_MS = 24 * 3600 * 1000;
/** A rollover takes seconds (an RSA key, a certificate, a few files); a lock older than this was abandoned. */
const LOCK_TTL_SECONDS = 300;
const LOCK_KEY = 'token-signing';
const LOCK_FILE = '.rollover.lock';

/** One change to the ring, as the audit event key_rollover records it (docs/events.md). */
export interface KeyChangeEvent {
  action: 'generated' | 'promoted' | 'retired' | 'imported';
  /** SHA-1 thumbprint of the key's certificate. */
  thumbprint: string;
  /** The key's role after the change; `removed` for a retired key. */
  role: 'primary' | 'next' | 'previous' | 'removed';
  /** The certificate's validity, ISO 8601. */
  notBefore: string;
  notAfter: string;
  /** Why: the threshold that made it due, `requested`, `grace period over`, `expired`. */
  reason: string;
  /** `auto`: the server's own check; `cli`: `fedgate keys`. */
  by: 'auto' | 'cli';
  /** Where the private key is kept. */
  custody: 'file' | 'pkcs11';
  /** For a new next key: the certificate, base64 DER, for Update-MgDomainFederationConfiguration. */
  certificateBase64?: string;
}

export interface RolloverContext {
  dir: string;
  hostname: string;
  clock: Clock;
  settings: RolloverSettings;
  store: ArtifactStore;
  by: 'auto' | 'cli';
  passphrase?: string | undefined;
  hsm?: HsmAdapter | undefined;
  /** Called after each change is on disk (the caller audits it). */
  onChange(e: KeyChangeEvent): void;
}

export type RolloverResult =
  | { status: 'busy' }
  | { status: 'done'; changes: KeyChangeEvent[] };

export class RolloverError extends Error {}

/** Applies what planRollover says is due now (nothing when nothing is). */
export function rolloverIfDue(ctx: RolloverContext): Promise<RolloverResult> {
  return withRolloverLock(ctx, (m, keys) =>
    apply(ctx, m, keys, planRollover(keys, ctx.clock.now(), ctx.settings)),
  );
}

/** `keys rollover --now`: a next key at once (none when one is already waiting). */
export function generateNextNow(ctx: RolloverContext): Promise<RolloverResult> {
  return withRolloverLock(ctx, async (m, keys) => {
    if (keys.some((k) => k.role === 'next'))
      throw new RolloverError(
        'a next key is already published; promote it (fedgate keys promote) before generating another',
      );
    return apply(ctx, m, keys, [{ kind: 'generate', reason: 'requested' }]);
  });
}

/** `keys promote`: the next key becomes the primary now (the primary becomes previous). */
export function promoteNow(ctx: RolloverContext): Promise<RolloverResult> {
  return withRolloverLock(ctx, async (m, keys) => {
    const next = keys.find((k) => k.role === 'next');
    if (next === undefined) throw new RolloverError('there is no next key to promote');
    const now = ctx.clock.now().getTime();
    if (next.notBefore.getTime() > now || next.notAfter.getTime() <= now)
      throw new RolloverError(
        `the next certificate ${next.thumbprint} is not valid now (${next.notBefore.toISOString()} to ${next.notAfter.toISOString()})`,
      );
    return apply(ctx, m, keys, [
      { kind: 'promote', thumbprint: next.thumbprint, reason: 'requested' },
    ]);
  });
}

/**
 * First start with keys.pkcs11 and an empty keys.dir: the first primary is generated inside the HSM (with file keys
 * the single-pair layout is made instead, store.ts). Under the farm lock; a node that finds a ring already there
 * (another node was first) does nothing.
 */
export async function bootstrapHsmPrimary(ctx: RolloverContext): Promise<RolloverResult> {
  if ((await readManifest(ctx.dir)) !== undefined) return { status: 'done', changes: [] };
  return withRolloverLock(
    ctx,
    async (m) => {
      // Re-read inside the lock: another node (or the single-pair layout) was first.
      if (m.keys.length > 0) return [];
      const now = ctx.clock.now();
      const { entry, facts } = await generate(ctx, now);
      await writeManifest(ctx.dir, {
        keys: [{ ...entry, role: 'primary', promoted: now.toISOString() }],
      });
      const e: KeyChangeEvent = {
        action: 'generated',
        thumbprint: entry.thumbprint,
        role: 'primary',
        notBefore: facts.notBefore.toISOString(),
        notAfter: facts.notAfter.toISOString(),
        reason: 'first start: no token-signing key yet',
        by: ctx.by,
        custody: entry.key === undefined ? 'pkcs11' : 'file',
        certificateBase64: facts.certificateBase64,
      };
      ctx.onChange(e);
      return [e];
    },
    true,
  );
}

export interface ImportRequest {
  /** A key file's key (PFX or PEM import), or an existing key in the configured HSM. */
  privateKey?: KeyObject;
  pkcs11Label?: string;
  certificatePem: string;
  as: 'next' | 'primary';
}

/**
 * `keys import`: adds a key the admin brings (AD FS's token-signing certificate from a PFX, a PEM pair, or a key
 * already in the HSM). As `next` it is published and promoted by the schedule (or `keys promote`); as `primary` it
 * signs at once and the current primary becomes previous (moving from AD FS with its certificate: the tenant needs
 * no change).
 */
export function importKey(ctx: RolloverContext, req: ImportRequest): Promise<RolloverResult> {
  // As the primary it may start a ring in an empty keys.dir (a new installation keeping AD FS's certificate).
  return withRolloverLock(ctx, async (m, keys) => {
    const facts = describeCertificate(req.certificatePem);
    const now = ctx.clock.now();
    if (facts.notAfter.getTime() <= now.getTime())
      throw new RolloverError(`the certificate expired on ${facts.notAfter.toISOString()}`);
    if (req.as === 'primary' && facts.notBefore.getTime() > now.getTime())
      throw new RolloverError(
        `the certificate is valid only from ${facts.notBefore.toISOString()}; import it as next`,
      );
    if (keys.some((k) => k.thumbprint === facts.thumbprintSha1))
      throw new RolloverError(`the ring already holds ${facts.thumbprintSha1}`);
    if (req.privateKey !== undefined) {
      checkKeyForCertificate(
        req.privateKey,
        facts,
        { certFile: 'the imported certificate', keyFile: 'the imported key' },
        'signing',
      );
    } else {
      const hsm = requireHsm(ctx);
      const h = hsm.open(req.pkcs11Label ?? '');
      try {
        if (!samePublicKey(h.publicKey, facts))
          throw new RolloverError(
            `the PKCS#11 key "${req.pkcs11Label ?? ''}" does not match the certificate`,
          );
      } finally {
        h.close();
      }
    }
    const base = newBaseName(now);
    if (req.privateKey !== undefined)
      await writeKeyFile(ctx, `${base}.key.pem`, privateKeyToPem(req.privateKey, ctx.passphrase));
    await writePublicFile(ctx, `${base}.crt.pem`, facts.certificatePem);
    const entry: ManifestEntry = {
      role: 'next',
      cert: `${base}.crt.pem`,
      ...(req.privateKey !== undefined
        ? { key: `${base}.key.pem` }
        : { pkcs11Label: req.pkcs11Label ?? '' }),
      thumbprint: facts.thumbprintSha1,
      added: now.toISOString(),
      source: 'imported',
    };
    const changes: KeyChangeEvent[] = [];
    const replacedNext = m.keys.find((k) => k.role === 'next');
    let keysAfter = m.keys.filter((k) => k.role !== 'next');
    if (req.as === 'primary') {
      keysAfter = keysAfter.map((k) =>
        k.role === 'primary' ? { ...k, role: 'previous' as const, retired: now.toISOString() } : k,
      );
      keysAfter.push({ ...entry, role: 'primary', promoted: now.toISOString() });
    } else {
      keysAfter.push(entry);
    }
    await writeManifest(ctx.dir, { keys: keysAfter });
    if (replacedNext !== undefined) {
      await removeFiles(ctx, replacedNext);
      changes.push(
        event(ctx, 'retired', replacedNext, keys, 'removed', 'replaced by an imported key'),
      );
    }
    const e: KeyChangeEvent = {
      action: 'imported',
      thumbprint: facts.thumbprintSha1,
      role: req.as,
      notBefore: facts.notBefore.toISOString(),
      notAfter: facts.notAfter.toISOString(),
      reason: req.as === 'primary' ? 'imported as the primary' : 'imported as the next key',
      by: ctx.by,
      custody: req.privateKey !== undefined ? 'file' : 'pkcs11',
      certificateBase64: facts.certificateBase64,
    };
    changes.push(e);
    for (const c of changes) ctx.onChange(c);
    return changes;
  }, req.as === 'primary');
}

// ---------------------------------------------------------------------------------------------------------

type LockedStep = (m: Manifest, keys: PlanKey[]) => Promise<KeyChangeEvent[]>;

async function withRolloverLock(
  ctx: RolloverContext,
  step: LockedStep,
  emptyRingAllowed = false,
): Promise<RolloverResult> {
  await ensurePrivateDir(ctx.dir);
  if (!(await ctx.store.markSeen('keyRolloverLock', LOCK_KEY, LOCK_TTL_SECONDS)))
    return { status: 'busy' };
  try {
    const lockFile = join(ctx.dir, LOCK_FILE);
    if (!(await takeFileLock(lockFile, ctx.clock))) return { status: 'busy' };
    try {
      // Inside the lock: what is on disk now, not what this process loaded earlier.
      const m = await currentManifest(ctx.dir).catch(async (err: unknown) => {
        // Only a truly empty keys.dir (no manifest, no single pair); a broken file is never papered over.
        const empty = (await stat(join(ctx.dir, SIGNING_CERT_FILE)).catch(() => undefined)) === undefined;
        if (emptyRingAllowed && empty && err instanceof KeyMaterialError) return { keys: [] };
        throw err;
      });
      const keys = await planKeys(ctx.dir, m);
      return { status: 'done', changes: await step(m, keys) };
    } finally {
      await unlink(lockFile).catch(() => undefined);
    }
  } finally {
    await ctx.store.destroy('keyRolloverLock', LOCK_KEY);
  }
}

async function takeFileLock(file: string, clock: Clock): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600);
      await fh.writeFile(`${process.pid} ${clock.now().toISOString()}\n`);
      await fh.close();
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock left by a process that died mid-rollover: older than the store lock's lifetime, it is taken over.
      const st = await stat(file).catch(() => undefined);
      if (st !== undefined && Date.now() - st.mtimeMs < LOCK_TTL_SECONDS * 1000) return false;
      await unlink(file).catch(() => undefined);
    }
  }
  return false;
}

/** The manifest on disk, or the single-pair layout as one (its first rollover writes the manifest). */
export async function currentManifest(dir: string): Promise<Manifest> {
  const m = await readManifest(dir);
  if (m !== undefined) return m;
  const { facts } = await readCertificateFile(join(dir, SIGNING_CERT_FILE)).catch(
    (err: unknown) => {
      throw new KeyMaterialError(
        `${dir} holds no token-signing key yet (start fedgate once, or import one with fedgate keys import --as primary)`,
        dir,
        { cause: err },
      );
    },
  );
  return {
    keys: [
      {
        role: 'primary',
        cert: SIGNING_CERT_FILE,
        key: SIGNING_KEY_FILE,
        thumbprint: facts.thumbprintSha1,
        added: facts.notBefore.toISOString(),
        source: 'generated',
      },
    ],
  };
}

async function planKeys(dir: string, m: Manifest): Promise<PlanKey[]> {
  const out: PlanKey[] = [];
  for (const e of m.keys) {
    const { facts } = await readCertificateFile(join(dir, e.cert));
    out.push({
      role: e.role,
      thumbprint: e.thumbprint,
      notBefore: facts.notBefore,
      notAfter: facts.notAfter,
      added: new Date(e.added),
      retired: e.retired === undefined ? undefined : new Date(e.retired),
    });
  }
  return out;
}

async function apply(
  ctx: RolloverContext,
  m: Manifest,
  keys: PlanKey[],
  actions: RolloverAction[],
): Promise<KeyChangeEvent[]> {
  const now = ctx.clock.now();
  let entries = [...m.keys];
  const changes: KeyChangeEvent[] = [];
  const toDelete: ManifestEntry[] = [];

  for (const a of actions) {
    if (a.kind === 'retire') {
      const gone = entries.find((e) => e.thumbprint === a.thumbprint);
      if (gone === undefined) continue;
      entries = entries.filter((e) => e !== gone);
      toDelete.push(gone);
      changes.push(event(ctx, 'retired', gone, keys, 'removed', a.reason));
      continue;
    }
    if (a.kind === 'generate' || a.kind === 'generate-and-promote') {
      const stale = entries.find((e) => e.role === 'next');
      if (stale !== undefined) {
        entries = entries.filter((e) => e !== stale);
        toDelete.push(stale);
        changes.push(event(ctx, 'retired', stale, keys, 'removed', 'replaced: not usable'));
      }
      const { entry, facts } = await generate(ctx, now);
      entries.push(entry);
      keys.push({
        role: 'next',
        thumbprint: entry.thumbprint,
        notBefore: facts.notBefore,
        notAfter: facts.notAfter,
        added: now,
      });
      changes.push({
        ...event(ctx, 'generated', entry, keys, 'next', a.reason),
        certificateBase64: facts.certificateBase64,
      });
      if (a.kind === 'generate') continue;
    }
    const next = entries.find((e) => e.role === 'next');
    if (next === undefined) continue;
    entries = entries.map((e) =>
      e.role === 'primary'
        ? { ...e, role: 'previous' as const, retired: now.toISOString() }
        : e === next
          ? { ...e, role: 'primary' as const, promoted: now.toISOString() }
          : e,
    );
    changes.push(event(ctx, 'promoted', next, keys, 'primary', a.reason));
  }
  if (changes.length === 0) return changes;
  await writeManifest(ctx.dir, { keys: entries });
  for (const gone of toDelete) await removeFiles(ctx, gone);
  for (const c of changes) ctx.onChange(c);
  return changes;
}

async function generate(
  ctx: RolloverContext,
  now: Date,
): Promise<{ entry: ManifestEntry; facts: ReturnType<typeof describeCertificate> }> {
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + ctx.settings.durationDays * DAY_MS);
  const base = newBaseName(now);
  const serial = randomBytes(16);
  const cn = signingSubjectCn(ctx.hostname);
  let certPem: string;
  let keyRef: { key: string } | { pkcs11Label: string };
  if (ctx.hsm !== undefined) {
    const label = `fedgate-signing-${base.slice('token-signing-'.length)}`;
    certPem = await ctx.hsm.generate(label, { commonName: cn, notBefore, notAfter, serial });
    keyRef = { pkcs11Label: label };
  } else {
    const key = await generateRsaKey();
    await writeKeyFile(ctx, `${base}.key.pem`, privateKeyToPem(key, ctx.passphrase));
    certPem = await createSelfSignedCertificate({
      privateKey: key,
      commonName: cn,
      notBefore,
      notAfter,
      purpose: 'signing',
      serial,
    });
    keyRef = { key: `${base}.key.pem` };
  }
  await writePublicFile(ctx, `${base}.crt.pem`, certPem);
  const facts = describeCertificate(certPem);
  return {
    entry: {
      role: 'next',
      cert: `${base}.crt.pem`,
      ...keyRef,
      thumbprint: facts.thumbprintSha1,
      added: now.toISOString(),
      source: 'generated',
    },
    facts,
  };
}

function event(
  ctx: RolloverContext,
  action: KeyChangeEvent['action'],
  e: ManifestEntry,
  keys: PlanKey[],
  role: KeyChangeEvent['role'],
  reason: string,
): KeyChangeEvent {
  const k = keys.find((x) => x.thumbprint === e.thumbprint);
  return {
    action,
    thumbprint: e.thumbprint,
    role,
    notBefore: k?.notBefore.toISOString() ?? '',
    notAfter: k?.notAfter.toISOString() ?? '',
    reason,
    by: ctx.by,
    custody: e.key !== undefined ? 'file' : 'pkcs11',
  };
}

/** `token-signing-20270103-1a2b3c4d`: sorts by date, never collides with another node's name. */
function newBaseName(now: Date): string {
  const day = now.toISOString().slice(0, 10).replace(/-/g, '');
  return `token-signing-${day}-${randomBytes(4).toString('hex')}`;
}

async function writeKeyFile(ctx: RolloverContext, name: string, pem: string): Promise<void> {
  if (!(await writeFileAtomic(join(ctx.dir, name), pem, 0o600, false)))
    throw new RolloverError(`${join(ctx.dir, name)} already exists`);
}

async function writePublicFile(ctx: RolloverContext, name: string, pem: string): Promise<void> {
  if (!(await writeFileAtomic(join(ctx.dir, name), pem, 0o644, false)))
    throw new RolloverError(`${join(ctx.dir, name)} already exists`);
}

/** A retired key's files go (its private key must not outlive its use); an HSM object is left to the admin. */
async function removeFiles(ctx: RolloverContext, e: ManifestEntry): Promise<void> {
  for (const f of [e.key, e.cert]) {
    if (f === undefined) continue;
    await unlink(join(ctx.dir, f)).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    });
  }
}

function requireHsm(ctx: RolloverContext): HsmAdapter {
  if (ctx.hsm === undefined)
    throw new RolloverError('a PKCS#11 key needs keys.pkcs11 in the configuration');
  return ctx.hsm;
}
