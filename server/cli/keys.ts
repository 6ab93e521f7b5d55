/**
 * `fedgate keys list|rollover|promote|import|export-public` (issue 18): the admin's side of the token-signing key
 * ring (server/keys). AD FS's counterparts are Get-AdfsCertificate, Update-AdfsCertificate -Urgent,
 * Set-AdfsCertificate -IsPrimary and Add-AdfsCertificate.
 *
 * - Every change runs through server/keys/rollover.ts under the farm lock (the configured store, Redis in a farm,
 *   plus the lock file in keys.dir), so `rollover --if-due` from cron on every node at once makes one change;
 *   another process holding the lock is `busy`, exit 3.
 * - Every change is a `key_rollover` audit event on standard error (by: cli, the OS operator); standard output is
 *   the report.
 * - import reads and checks everything it is given (PFX password and MAC, key and certificate pair, validity) before
 *   the ring is touched; on any error nothing is written to keys.dir. Passwords come from an environment variable or
 *   a file, never an argument (they would show in `ps` and shell history).
 * - list and export-public never generate anything (the ring is read with create: false); export-public reads
 *   certificates only, never a private key.
 */
import { constants as fsConstants } from 'node:fs';
import { access, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type DestinationStream } from 'pino';
import type { Config } from '../config/schema.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { keyChanged } from '../observability/audit.ts';
import { createLoggers } from '../observability/logger.ts';
import { createStore } from '../stores/index.ts';
import { StoreUnavailableError } from '../stores/redis.ts';
import { describeCertificate } from '../keys/generate.ts';
import type { CertificateFacts } from '../keys/generate.ts';
import { configuredSigningFiles, keyMaterialOptions } from '../keys/material.ts';
import { MANIFEST_FILE, ManifestError } from '../keys/manifest.ts';
import type { KeyRole } from '../keys/manifest.ts';
import {
  Pkcs12Error,
  MAX_PKCS12_BYTES,
  PasswordSourceError,
  readPasswordFrom,
  readPkcs12,
} from '../keys/pkcs12.ts';
import { Pkcs11Error } from '../keys/pkcs11.ts';
import { KeyRing } from '../keys/ring.ts';
import type { RingEntry } from '../keys/ring.ts';
import {
  RolloverError,
  bootstrapHsmPrimary,
  currentManifest,
  generateNextNow,
  importKey,
  promoteNow,
  rolloverIfDue,
} from '../keys/rollover.ts';
import type {
  ImportRequest,
  KeyChangeEvent,
  RolloverContext,
  RolloverResult,
} from '../keys/rollover.ts';
import { planRollover } from '../keys/rollover-plan.ts';
import type { PlanKey, RolloverSettings } from '../keys/rollover-plan.ts';
import {
  KeyMaterialError,
  SIGNING_CERT_FILE,
  readCertificateFile,
  readPrivateKey,
} from '../keys/store.ts';
import {
  nextSigningCertificateCommand,
  signingCertificateCommand,
} from '../keys/tenant-command.ts';
import type { SigningCredential } from '../keys/types.ts';
import type { TenantNextKey } from './tenant.ts';

const DAY_MS = 24 * 3600 * 1000;
/** A certificate or key file an admin brings is a few KB; anything bigger is refused before it is read. */
const MAX_INPUT_BYTES = 1024 * 1024;

/** A problem printed as it is, with its exit status: 1 failed, 2 refused (bad input, nothing changed), 3 busy. */
export class KeysCliError extends Error {
  override readonly name = 'KeysCliError';
  constructor(
    message: string,
    readonly exitCode: 1 | 2 | 3 = 2,
  ) {
    super(message);
  }
}

/** What a command prints: the report (stdout) and warnings (stderr; audit events go to `audit`). */
export interface KeysCliOutput {
  stdout: string;
  stderr: string;
}

export interface KeysCliContext {
  config: Config;
  json?: boolean | undefined;
  clock?: Clock | undefined;
  /** The OS user who ran the command, for the audit event. */
  operator?: string | undefined;
  /** Where key_rollover audit events go (standard error by default: standard output stays the report). */
  auditDestination?: DestinationStream | undefined;
  env?: NodeJS.ProcessEnv | undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Reading the ring

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

const NO_RING = (config: Config): string =>
  `${config.keys.dir} holds no token-signing key yet: fedgate generates the first one when it starts (fedgate serve, or fedgate tenant)`;

/** Whether keys.dir already holds a ring (a manifest or the single pair): then nothing may be generated. */
export async function ringExists(config: Config): Promise<boolean> {
  if (config.keys.signing !== undefined) return true;
  return (
    (await exists(join(config.keys.dir, MANIFEST_FILE))) ||
    (await exists(join(config.keys.dir, SIGNING_CERT_FILE)))
  );
}

/**
 * The ring as the server loads it. `create` false (every keys command): an empty keys.dir is an error, never a
 * generated key. Failures of single keys (the ring leaves them out) are returned as warnings.
 */
export async function openRing(
  config: Config,
  opts: { create: boolean; clock?: Clock | undefined },
): Promise<{ ring: KeyRing; warnings: string[] }> {
  const warnings: string[] = [];
  const say = (obj: object, msg: string): void => {
    const o = obj as { reason?: unknown; file?: unknown };
    const why = typeof o.reason === 'string' ? `: ${o.reason}` : '';
    warnings.push(`${msg}${why}`);
  };
  const configured = configuredSigningFiles(config);
  const ring = new KeyRing({
    dir: config.keys.dir,
    hostname: config.hostname,
    clock: opts.clock ?? systemClock,
    log: { info: () => undefined, warn: say, error: say },
    ...(await keyMaterialOptions(config).catch((err: unknown) => {
      throw new KeysCliError(err instanceof Error ? err.message : String(err));
    })),
    ...(configured === undefined ? {} : { configured }),
    create: opts.create,
  });
  try {
    await ring.load();
  } catch (err) {
    ring.close();
    if (!opts.create && !(await ringExists(config))) throw new KeysCliError(NO_RING(config));
    throw cliError(err, warnings);
  }
  return { ring, warnings };
}

/**
 * The primary and next keys `fedgate tenant` prints: read-only (create: false) when keys.dir holds a ring; on an empty
 * keys.dir the first key is generated, as `fedgate tenant` always did (the server then starts with that key).
 */
export async function tenantKeys(
  config: Config,
  opts: { clock?: Clock | undefined; operator?: string | undefined } = {},
): Promise<{ primary: SigningCredential; next: TenantNextKey | undefined }> {
  const clock = opts.clock ?? systemClock;
  const exists = await ringExists(config);
  // With keys.pkcs11 the first key is made inside the HSM, as a server's first start makes it (farm lock, audited).
  if (!exists && config.keys.pkcs11 !== undefined)
    await withRolloverContext(
      { config, clock, operator: opts.operator },
      bootstrapHsmPrimary,
      false,
    );
  const { ring } = await openRing(config, {
    create: !exists && config.keys.pkcs11 === undefined,
    clock,
  });
  try {
    const s = ring.snapshot();
    if (s.next === undefined) return { primary: ring.primary, next: undefined };
    const promote = ring.managedByAdmin
      ? undefined
      : upcomingSteps(ring.entries().map(planKeyOf), config.keys.rollover).find(
          (x) => x.step === 'promote',
        );
    return {
      primary: ring.primary,
      next: {
        certificate: s.next.credential,
        promotionAt: promote === undefined ? undefined : new Date(promote.at),
      },
    };
  } finally {
    ring.close();
  }
}

/** Known failures become a message and exit 2 (bad input, nothing changed); a store that is down, exit 1. */
function cliError(err: unknown, warnings: string[] = []): unknown {
  if (err instanceof KeysCliError) return err;
  const detail = warnings.length > 0 ? `\n  ${warnings.join('\n  ')}` : '';
  if (err instanceof StoreUnavailableError)
    return new KeysCliError(
      `cannot reach the store for the rollover lock: ${err.detail ?? err.message}`,
      1,
    );
  if (
    err instanceof KeyMaterialError ||
    err instanceof RolloverError ||
    err instanceof ManifestError ||
    err instanceof Pkcs12Error ||
    err instanceof PasswordSourceError ||
    err instanceof Pkcs11Error
  )
    return new KeysCliError(`${err.message}${detail}`);
  return err;
}

// ---------------------------------------------------------------------------------------------------------
// list

interface ListedKey {
  role: KeyRole;
  thumbprint: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  custody: 'file' | 'pkcs11';
  source: 'generated' | 'imported';
  added: string;
  promoted?: string | undefined;
  retired?: string | undefined;
  certFile: string;
  keyFile?: string | undefined;
  pkcs11Label?: string | undefined;
}

export interface ScheduledStep {
  /** What happens: generate, promote, retire, expire. */
  step: 'generate' | 'promote' | 'generate-and-promote' | 'retire' | 'expires';
  thumbprint?: string | undefined;
  at: string;
  text: string;
}

/**
 * When the ring changes next under keys.rollover (the same thresholds as rollover-plan.ts, looked at from the
 * other side: the date each becomes due), earliest first.
 */
export function upcomingSteps(keys: PlanKey[], s: RolloverSettings): ScheduledStep[] {
  const out: ScheduledStep[] = [];
  const primary = keys.find((k) => k.role === 'primary');
  const next = keys.find((k) => k.role === 'next');
  const iso = (ms: number): string => new Date(ms).toISOString();
  if (primary !== undefined) {
    const critical = primary.notAfter.getTime() - s.criticalThresholdDays * DAY_MS;
    if (next === undefined) {
      const gen = primary.notAfter.getTime() - s.generationThresholdDays * DAY_MS;
      out.push({
        step: 'generate',
        at: iso(Math.min(gen, critical)),
        text: `next key generated and published (${s.generationThresholdDays} days before the primary expires)`,
      });
      // And, once generated, its promotion (no thumbprint yet: the key does not exist).
      out.push({
        step: 'promote',
        at: iso(Math.min(gen + s.promotionThresholdDays * DAY_MS, critical)),
        text: `that key becomes the primary (${s.promotionThresholdDays} days after it is published)`,
      });
    } else {
      const promote = Math.max(
        next.notBefore.getTime(),
        Math.min(next.added.getTime() + s.promotionThresholdDays * DAY_MS, critical),
      );
      out.push({
        step: 'promote',
        thumbprint: next.thumbprint,
        at: iso(promote),
        text: `promotion of the next key ${next.thumbprint} to primary (${s.promotionThresholdDays} days after it was added, at the latest ${s.criticalThresholdDays} days before the primary expires)`,
      });
    }
    out.push({
      step: 'expires',
      thumbprint: primary.thumbprint,
      at: primary.notAfter.toISOString(),
      text: `the primary ${primary.thumbprint} expires`,
    });
  }
  for (const k of keys) {
    if (k.role !== 'previous') continue;
    const since = (k.retired ?? k.added).getTime();
    out.push({
      step: 'retire',
      thumbprint: k.thumbprint,
      at: iso(Math.min(since + s.gracePeriodDays * DAY_MS, k.notAfter.getTime())),
      text: `the previous key ${k.thumbprint} leaves the federation metadata (grace period ${s.gracePeriodDays} days, or its expiry)`,
    });
  }
  return out.sort((a, b) => a.at.localeCompare(b.at));
}

function planKeyOf(e: RingEntry): PlanKey {
  return {
    role: e.role,
    thumbprint: e.credential.thumbprintSha1,
    notBefore: e.credential.notBefore,
    notAfter: e.credential.notAfter,
    added: new Date(e.entry.added),
    retired: e.entry.retired === undefined ? undefined : new Date(e.entry.retired),
  };
}

function listed(e: RingEntry, now: Date): ListedKey {
  const c = e.credential;
  return {
    role: e.role,
    thumbprint: c.thumbprintSha1,
    subject: c.subject.replace(/\n/g, ', '),
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    daysLeft: Math.floor((c.notAfter.getTime() - now.getTime()) / DAY_MS),
    custody: c.custody,
    source: e.entry.source,
    added: e.entry.added,
    promoted: e.entry.promoted,
    retired: e.entry.retired,
    certFile: e.certFile,
    keyFile: e.keyFile,
    pkcs11Label: e.entry.pkcs11Label,
  };
}

/** Whether this keys.dir rolls over inside the server, and if not why not (AD FS AutoCertificateRollover). */
async function autoRollover(
  config: Config,
  managedByAdmin: boolean,
): Promise<{ enabled: boolean; reason: string }> {
  if (managedByAdmin)
    return {
      enabled: false,
      reason:
        'keys.signing is set: the admin manages these files; fedgate reloads them but never rolls them over',
    };
  if (!config.keys.rollover.auto)
    return {
      enabled: false,
      reason:
        'keys.rollover.auto is false: run `fedgate keys rollover --if-due` from cron (or a Kubernetes CronJob)',
    };
  try {
    await access(config.keys.dir, fsConstants.W_OK);
    return {
      enabled: true,
      reason: `keys.rollover.auto is on and ${config.keys.dir} is writable: the servers roll over themselves`,
    };
  } catch {
    return {
      enabled: false,
      reason: `${config.keys.dir} is not writable by this user (a mounted secret?): the servers cannot roll over; run \`fedgate keys rollover --if-due\` from a CronJob that can write it`,
    };
  }
}

export async function keysList(ctx: KeysCliContext): Promise<KeysCliOutput> {
  const clock = ctx.clock ?? systemClock;
  const { ring, warnings } = await openRing(ctx.config, { create: false, clock });
  try {
    const now = clock.now();
    const entries = ring.entries();
    const keys = entries.map((e) => listed(e, now));
    const s = ctx.config.keys.rollover;
    const plan = entries.map(planKeyOf);
    const managed = ring.managedByAdmin;
    const schedule = managed ? [] : upcomingSteps(plan, s);
    const due = managed ? [] : planRollover(plan, now, s);
    const auto = await autoRollover(ctx.config, managed);
    const stderr = warnings.map((w) => `warning: ${w}\n`).join('');
    if (ctx.json === true) {
      return {
        stdout: `${JSON.stringify(
          {
            dir: ring.dir,
            managedByAdmin: managed,
            keys,
            schedule,
            dueNow: due,
            autoRollover: auto,
            settings: s,
          },
          null,
          2,
        )}\n`,
        stderr,
      };
    }
    const lines = [`Token-signing keys in ${ring.dir} (${String(keys.length)}):`];
    for (const k of keys) {
      const dates = [
        `added ${k.added}`,
        ...(k.promoted === undefined ? [] : [`promoted ${k.promoted}`]),
        ...(k.retired === undefined ? [] : [`retired ${k.retired}`]),
      ].join(', ');
      lines.push(
        `  ${k.role.padEnd(8)} ${k.thumbprint}  ${k.subject}`,
        `           valid ${k.notBefore} to ${k.notAfter} (${k.daysLeft < 0 ? 'EXPIRED' : `${String(k.daysLeft)} days left`})`,
        `           ${k.custody === 'pkcs11' ? `key in the HSM (label "${k.pkcs11Label ?? ''}")` : `key file ${k.keyFile ?? ''}`}, ${k.source}, ${dates}`,
      );
    }
    if (managed) {
      lines.push('', auto.reason);
    } else {
      lines.push(
        '',
        `Schedule (generation ${String(s.generationThresholdDays)} days before expiry, promotion ${String(s.promotionThresholdDays)} days after generation, critical ${String(s.criticalThresholdDays)}, grace ${String(s.gracePeriodDays)}):`,
        ...schedule.map((x) => `  ${x.at.slice(0, 10)}  ${x.text}`),
        '',
        due.length === 0
          ? 'Due now: nothing (`fedgate keys rollover --if-due` would change nothing).'
          : `Due now (\`fedgate keys rollover --if-due\` applies it): ${due.map((d) => `${d.kind} (${d.reason})`).join('; ')}`,
        `Automatic rollover: ${auto.enabled ? 'on' : 'off'}: ${auto.reason}`,
      );
    }
    return { stdout: `${lines.join('\n')}\n`, stderr };
  } finally {
    ring.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Changes: rollover, promote, import

async function withRolloverContext(
  ctx: KeysCliContext,
  run: (rc: RolloverContext) => Promise<RolloverResult>,
  needsRing = true,
): Promise<KeyChangeEvent[]> {
  const config = ctx.config;
  if (config.keys.signing !== undefined)
    throw new KeysCliError(
      'keys.signing is set: the token-signing key is the admin-managed pair it names, and fedgate does not change it. ' +
        'Replace those files yourself (every node reloads them), or remove keys.signing to let fedgate manage a ring in keys.dir.',
    );
  // Checked before the lock (which creates keys.dir): a command that cannot run writes nothing.
  if (needsRing && !(await ringExists(config))) throw new KeysCliError(NO_RING(config));
  const clock = ctx.clock ?? systemClock;
  const material = await keyMaterialOptions(config).catch((err: unknown) => {
    throw new KeysCliError(err instanceof Error ? err.message : String(err));
  });
  const store = createStore(config.store, {
    clock,
    log: pino({ level: 'silent' }),
    baseDir: config.baseDir,
  });
  const { audit } = createLoggers('info', ctx.auditDestination ?? process.stderr);
  const domain = config.microsoft365.federatedDomains[0];
  try {
    const r = await run({
      dir: config.keys.dir,
      hostname: config.hostname,
      clock,
      settings: config.keys.rollover,
      store,
      by: 'cli',
      ...material,
      onChange: ({ certificateBase64, ...e }) => {
        keyChanged(audit, {
          ...e,
          operator: ctx.operator,
          ...(e.role === 'next' && certificateBase64 !== undefined
            ? { tenantCommand: nextSigningCertificateCommand(certificateBase64, domain) }
            : {}),
        });
      },
    });
    if (r.status === 'busy')
      throw new KeysCliError(
        'busy: another node or process holds the token-signing rollover lock; nothing was changed here. ' +
          'Whatever was due is being done there; run the command again later to check.',
        3,
      );
    return r.changes;
  } catch (err) {
    throw cliError(err);
  } finally {
    await store.close();
  }
}

/** The certificate of `thumbprint` in keys.dir now (after a change), for the tenant line. */
async function certificateIn(
  config: Config,
  thumbprint: string,
): Promise<CertificateFacts | undefined> {
  const m = await currentManifest(config.keys.dir);
  const e = m.keys.find((k) => k.thumbprint === thumbprint);
  if (e === undefined) return undefined;
  return (await readCertificateFile(join(config.keys.dir, e.cert))).facts;
}

async function report(
  ctx: KeysCliContext,
  changes: KeyChangeEvent[],
  nothing: string,
): Promise<KeysCliOutput> {
  const domain = ctx.config.microsoft365.federatedDomains[0];
  const commands: { thumbprint: string; role: string; command: string }[] = [];
  const lines: string[] = [];
  for (const c of changes) {
    const valid = `valid ${c.notBefore} to ${c.notAfter}`;
    if (c.action === 'generated' || (c.action === 'imported' && c.role === 'next')) {
      lines.push(
        `${c.action === 'generated' ? 'generated' : 'imported'} the next token-signing key ${c.thumbprint} (${valid}; ${c.reason}).`,
        'It is in the federation metadata now; Entra ID reads it from there before it signs. To hand it to Entra ID at once',
        '(Microsoft Graph PowerShell, Connect-MgGraph -Scopes "Domain-InternalFederation.ReadWrite.All" first):',
      );
      if (c.certificateBase64 !== undefined) {
        const command = nextSigningCertificateCommand(c.certificateBase64, domain);
        commands.push({ thumbprint: c.thumbprint, role: 'next', command });
        lines.push(`  ${command}`);
      }
    } else if (c.action === 'promoted' || (c.action === 'imported' && c.role === 'primary')) {
      lines.push(
        `${c.action === 'promoted' ? 'promoted' : 'imported'} ${c.thumbprint} as the primary token-signing key (${valid}; ${c.reason}): it signs tokens on every node within keys.reloadIntervalSeconds.`,
      );
      const facts =
        c.certificateBase64 !== undefined
          ? { certificateBase64: c.certificateBase64 }
          : await certificateIn(ctx.config, c.thumbprint);
      if (facts !== undefined) {
        const command = signingCertificateCommand(facts.certificateBase64, domain);
        commands.push({ thumbprint: c.thumbprint, role: 'primary', command });
        lines.push(
          c.action === 'imported'
            ? 'The tenant needs no change when this certificate is what it already has (moving from AD FS with its own certificate;\n' +
                'check with `fedgate tenant --domain D --current-tenant-json FILE`). Otherwise Entra rejects the tokens until you run:'
            : 'Entra ID had it as the next certificate if it read the metadata or you ran the line given at generation; if not, run:',
          `  ${command}`,
        );
      }
    } else {
      lines.push(`removed ${c.thumbprint} from the ring (${c.reason}).`);
    }
  }
  if (ctx.json === true) {
    return {
      stdout: `${JSON.stringify(
        {
          changed: changes.length > 0,
          changes: changes.map(({ certificateBase64: _c, ...e }) => e),
          tenantCommands: commands,
        },
        null,
        2,
      )}\n`,
      stderr: '',
    };
  }
  return { stdout: `${changes.length === 0 ? nothing : lines.join('\n')}\n`, stderr: '' };
}

/** `keys rollover --if-due` (what is due now, idempotent) or `--now` (a next key at once). */
export async function keysRollover(
  ctx: KeysCliContext,
  opts: { ifDue: boolean; now: boolean },
): Promise<KeysCliOutput> {
  if (opts.ifDue === opts.now)
    throw new KeysCliError('keys rollover needs exactly one of --if-due or --now');
  const changes = await withRolloverContext(ctx, opts.now ? generateNextNow : rolloverIfDue);
  return report(
    ctx,
    changes,
    'Nothing is due: the token-signing ring is unchanged (`fedgate keys list` shows when the next step is).',
  );
}

/** `keys promote`: the next key signs from now on. */
export async function keysPromote(ctx: KeysCliContext): Promise<KeysCliOutput> {
  const changes = await withRolloverContext(ctx, promoteNow);
  return report(ctx, changes, 'Nothing was promoted.');
}

export interface KeysImportOptions {
  pfx?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  pkcs11Label?: string | undefined;
  passwordEnv?: string | undefined;
  passwordFile?: string | undefined;
  as?: string | undefined;
}

/** Reads a file the admin names, refusing one larger than `max` before reading it. */
async function readBounded(file: string, max: number, what: string): Promise<Buffer> {
  let fh;
  try {
    fh = await open(file, fsConstants.O_RDONLY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeysCliError(
      `${what} ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${String(code)})`}`,
    );
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new KeysCliError(`${what} ${file} is not a regular file`);
    if (st.size > max)
      throw new KeysCliError(
        `${what} ${file} is ${String(st.size)} bytes; at most ${String(max)} are read`,
      );
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

function certificateFrom(buf: Buffer, file: string): CertificateFacts {
  try {
    return describeCertificate(buf);
  } catch {
    throw new KeysCliError(`${file} is not an X.509 certificate (PEM or DER)`);
  }
}

/**
 * `keys import`: a PFX (AD FS's Export-PfxCertificate), a PEM certificate and key, or a certificate whose key is
 * already in the configured HSM. Everything is read and checked here and in importKey before anything is written.
 */
export async function keysImport(
  ctx: KeysCliContext,
  o: KeysImportOptions,
): Promise<KeysCliOutput> {
  const as = o.as ?? 'next';
  if (as !== 'next' && as !== 'primary')
    throw new KeysCliError(`keys import --as is next or primary, not "${as}"`);
  const sources = [o.pfx, o.key, o.pkcs11Label].filter((x) => x !== undefined).length;
  if (sources !== 1)
    throw new KeysCliError(
      'keys import needs exactly one of --pfx FILE, --cert FILE --key FILE, or --pkcs11-label LABEL --cert FILE',
    );
  const password =
    o.passwordEnv === undefined && o.passwordFile === undefined
      ? undefined
      : await readPasswordFrom(
          {
            ...(o.passwordEnv === undefined ? {} : { env: o.passwordEnv }),
            ...(o.passwordFile === undefined ? {} : { file: o.passwordFile }),
          },
          ctx.env ?? process.env,
        ).catch((err: unknown) => {
          throw cliError(err);
        });
  let req: ImportRequest;
  if (o.pfx !== undefined) {
    if (o.cert !== undefined)
      throw new KeysCliError(
        'keys import --pfx takes the certificate from the PFX; leave out --cert',
      );
    if (password === undefined)
      throw new KeysCliError(
        'keys import --pfx needs the PFX password from --password-env NAME or --password-file FILE (never an argument)',
      );
    const der = await readBounded(o.pfx, MAX_PKCS12_BYTES, 'the PFX');
    let contents;
    try {
      contents = readPkcs12(der, password);
    } catch (err) {
      throw cliError(err);
    }
    req = { privateKey: contents.privateKey, certificatePem: contents.certificatePem, as };
  } else {
    if (o.cert === undefined)
      throw new KeysCliError(
        o.key !== undefined
          ? 'keys import --key needs --cert FILE (the certificate of that key)'
          : 'keys import --pkcs11-label needs --cert FILE (the certificate of that HSM key)',
      );
    const facts = certificateFrom(
      await readBounded(o.cert, MAX_INPUT_BYTES, 'the certificate'),
      o.cert,
    );
    if (o.key !== undefined) {
      let privateKey;
      try {
        privateKey = await readPrivateKey(o.key, password);
      } catch (err) {
        if (
          err instanceof KeyMaterialError &&
          password === undefined &&
          /encrypted/.test(err.message)
        )
          throw new KeysCliError(
            `${o.key} is an encrypted private key: give its passphrase with --password-env NAME or --password-file FILE`,
          );
        throw cliError(err);
      }
      req = { privateKey, certificatePem: facts.certificatePem, as };
    } else {
      if (ctx.config.keys.pkcs11 === undefined)
        throw new KeysCliError('keys import --pkcs11-label needs keys.pkcs11 in the configuration');
      req = { pkcs11Label: o.pkcs11Label ?? '', certificatePem: facts.certificatePem, as };
    }
  }
  // As the primary, an import may start the ring in an empty keys.dir (a new installation keeping AD FS's
  // certificate); as next it needs a primary to stand behind.
  const changes = await withRolloverContext(ctx, (rc) => importKey(rc, req), as !== 'primary');
  const out = await report(ctx, changes, 'Nothing was imported.');
  const imported = changes.find((c) => c.action === 'imported');
  return imported === undefined || ctx.json === true
    ? out
    : { ...out, stdout: `thumbprint ${imported.thumbprint}\n${out.stdout}` };
}

// ---------------------------------------------------------------------------------------------------------
// export-public

/** The ring's certificates, read from their files only: no private key is opened. */
async function publicCertificates(
  config: Config,
): Promise<{ role: KeyRole; facts: CertificateFacts }[]> {
  const configured = configuredSigningFiles(config);
  try {
    if (configured !== undefined)
      return [{ role: 'primary', facts: (await readCertificateFile(configured.certFile)).facts }];
    if (!(await ringExists(config))) throw new KeysCliError(NO_RING(config));
    const m = await currentManifest(config.keys.dir);
    const order: KeyRole[] = ['primary', 'next', 'previous'];
    const out: { role: KeyRole; facts: CertificateFacts }[] = [];
    for (const e of [...m.keys].sort((a, b) => order.indexOf(a.role) - order.indexOf(b.role)))
      out.push({
        role: e.role,
        facts: (await readCertificateFile(join(config.keys.dir, e.cert))).facts,
      });
    return out;
  } catch (err) {
    throw cliError(err);
  }
}

export async function keysExportPublic(
  ctx: KeysCliContext,
  o: {
    which?: string | undefined;
    format?: string | undefined;
    out?: string | undefined;
    force?: boolean;
  },
): Promise<KeysCliOutput> {
  const which = o.which ?? 'primary';
  if (which !== 'primary' && which !== 'next' && which !== 'all')
    throw new KeysCliError(`keys export-public --which is primary, next or all, not "${which}"`);
  const format = o.format ?? 'pem';
  if (format !== 'pem' && format !== 'base64')
    throw new KeysCliError(`keys export-public --format is pem or base64, not "${format}"`);
  const all = await publicCertificates(ctx.config);
  const chosen = which === 'all' ? all : all.filter((c) => c.role === which);
  if (chosen.length === 0)
    throw new KeysCliError(
      which === 'next'
        ? 'there is no next key (`fedgate keys rollover --now` makes one)'
        : `there is no ${which} key`,
    );
  // Certificates only: the PEM re-encoded from the parsed certificate, so nothing else a file holds comes along.
  const text = chosen
    .map((c) => (format === 'pem' ? c.facts.certificatePem : `${c.facts.certificateBase64}\n`))
    .join('');
  if (o.out === undefined) return { stdout: text, stderr: '' };
  try {
    await writeFile(o.out, text, { mode: 0o644, flag: o.force === true ? 'w' : 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeysCliError(
      code === 'EEXIST'
        ? `${o.out} exists; give --force to replace it`
        : `${o.out} cannot be written (${String(code)})`,
      1,
    );
  }
  return {
    stdout: `wrote ${String(chosen.length)} certificate(s) to ${o.out}: ${chosen.map((c) => `${c.role} ${c.facts.thumbprintSha1}`).join(', ')}\n`,
    stderr: '',
  };
}
