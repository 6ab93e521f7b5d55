/**
 * `fedgate mfa show|reset|enrol-code USER` (issue 16): the helpdesk's view of a user's second factors. The name is
 * resolved as a sign-in resolves it (sAMAccountName, DOMAIN\sam, UPN), the record is read and written through the
 * same EnrolmentStore the server uses (authn/mfa/enrolments.ts: sealed, in the directory attribute or the embedded
 * directory's file), and each command writes an `mfa_enrolment` audit line to standard error (by: admin, with the
 * OS user), so standard output stays the report.
 *
 * Never printed: TOTP secrets, WebAuthn public keys and credential ids (the record's content beyond what identifies
 * a factor to a person), or an enrolment code other than the one just issued.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pino, type DestinationStream, type Logger } from 'pino';
import { normaliseName } from '../authn/lockout.ts';
import {
  createEnrolmentStore,
  EnrolmentError,
  issueEnrolmentCode,
  type EnrolmentStore,
} from '../authn/mfa/enrolments.ts';
import { EMPTY_ENROLMENTS, type Enrolments, type Factor } from '../authn/mfa/factors.ts';
import type { Config } from '../config/schema.ts';
import { createDirectory, uncached } from '../directory/index.ts';
import type { DirectoryUser } from '../directory/types.ts';
import { loadOrCreateMfaSecret } from '../keys/mfa-secret.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { cryptoRandom, type Random } from '../lib/random.ts';
import { mfaEnrolment, type MfaEnrolmentEvent } from '../observability/audit.ts';
import { createLoggers } from '../observability/logger.ts';

/** A problem the caller prints as is (exit status 1). */
export class MfaCliError extends Error {}

export interface MfaCliOptions {
  json?: boolean | undefined;
  /** Who ran it, for the audit event (main.ts: os.userInfo().username). */
  operator?: string | undefined;
}

export interface MfaCliDeps {
  clock?: Clock | undefined;
  random?: Random | undefined;
  /** Where the audit line goes (default standard error). */
  auditDestination?: DestinationStream | undefined;
}

interface Target {
  config: Config;
  typed: string;
  user: DirectoryUser;
  store: EnrolmentStore;
}

/**
 * mfa.secrets, or the server's keys.dir/mfa.secret. Unlike the server, the command never makes a new secret: a
 * record sealed with a secret the farm does not hold would read as unreadable on every node, so the user's second
 * factor would stop working.
 */
async function secretsFor(config: Config): Promise<string[]> {
  if (config.mfa.secrets !== undefined) return [...config.mfa.secrets];
  const file = join(config.keys.dir, 'mfa.secret');
  if (!existsSync(file))
    throw new MfaCliError(
      `no MFA secret: ${file} does not exist and mfa.secrets is not set. The server creates the file on its first ` +
        'start; run this command with the configuration (and keys.dir) of the servers, so records are sealed with ' +
        "the farm's secret.",
    );
  try {
    return [await loadOrCreateMfaSecret(config.keys.dir)];
  } catch (err) {
    throw new MfaCliError(`cannot read the MFA secret: ${(err as Error).message}`);
  }
}

/** Runs `fn` with the user and the enrolment store, the directory open for the store's reads and writes. */
async function withTarget<T>(
  config: Config,
  name: string,
  deps: MfaCliDeps,
  fn: (t: Target) => Promise<T>,
): Promise<T> {
  const typed = name.trim();
  if (typed === '') throw new MfaCliError('mfa needs a user name');
  const secrets = await secretsFor(config);
  const log: Logger = pino({ level: 'silent' });
  const clock = deps.clock ?? systemClock;
  const directory = await createDirectory(uncached(config.directory), {
    logger: log,
    clock,
    baseDir: config.baseDir,
  });
  try {
    // The same folding the sign-in path applies before its look-up (authn/password.ts).
    const user = await directory.findUser(normaliseName(typed));
    if (user === undefined) throw new MfaCliError(`no user "${typed}" in the directory`);
    let store: EnrolmentStore | undefined;
    try {
      store = createEnrolmentStore(config, directory, { clock, secrets });
    } catch (err) {
      if (err instanceof EnrolmentError) throw notConfigured(err.message);
      throw err;
    }
    if (store === undefined)
      throw notConfigured('mfa.enrolment.attribute is not set for the ldap directory');
    return await fn({ config, typed, user, store });
  } finally {
    await directory.close();
  }
}

function notConfigured(why: string): MfaCliError {
  return new MfaCliError(
    `MFA enrolment storage is not configured: ${why} (docs/mfa.md, docs/mfa-directory.md)`,
  );
}

/** EnrolmentError from the store as the operator needs it; anything else is rethrown. */
function storeProblem(err: unknown, t: Target): never {
  if (err instanceof EnrolmentError) {
    if (err.kind === 'unreadable')
      throw new MfaCliError(
        `the enrolment record of ${describe(t.user)} cannot be read: ${err.message}. ` +
          `fedgate mfa reset ${t.typed} clears it (the user then enrols again).`,
      );
    if (err.kind === 'not-configured') throw notConfigured(err.message);
    throw new MfaCliError(err.message);
  }
  throw err;
}

/**
 * Factor names are typed by users: control and format characters (terminal escapes, bidi overrides) are shown as
 * \u{…} so a name cannot rewrite the operator's screen.
 */
function printable(s: string): string {
  return s.replace(
    /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu,
    (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`,
  );
}

function describe(u: DirectoryUser): string {
  return `${u.windowsAccountName}${u.userPrincipalName === undefined ? '' : ` (${u.userPrincipalName})`}`;
}

function storage(config: Config): string {
  if (config.directory.kind === 'ldap')
    return `directory attribute ${config.mfa.enrolment.attribute ?? '-'}`;
  return `file ${config.mfa.enrolment.file === undefined ? join(config.keys.dir, 'mfa-enrolments.json') : resolve(config.baseDir, config.mfa.enrolment.file)}`;
}

/** What identifies a factor to a person: never its secret, public key or credential id. */
function publicFactor(f: Factor) {
  return {
    kind: f.kind,
    id: f.id,
    name: f.name,
    createdAt: f.createdAt,
    lastUsedAt: f.lastUsedAt ?? null,
    ...(f.kind === 'webauthn' && f.aaguid !== undefined ? { aaguid: f.aaguid } : {}),
  };
}

function factorLine(f: Factor): string {
  return [
    `  ${f.kind.padEnd(9)}`,
    f.id,
    `"${printable(f.name)}"`,
    `created ${f.createdAt}`,
    `last used ${f.lastUsedAt ?? 'never'}`,
    ...(f.kind === 'webauthn' && f.aaguid !== undefined ? [`model ${f.aaguid}`] : []),
  ].join('  ');
}

function codeState(e: Enrolments, now: Date): { expiresAt: string; expired: boolean } | null {
  if (e.code === undefined) return null;
  return { expiresAt: e.code.expiresAt, expired: !(now.getTime() < Date.parse(e.code.expiresAt)) };
}

function userJson(u: DirectoryUser) {
  return {
    windowsAccountName: u.windowsAccountName,
    userPrincipalName: u.userPrincipalName ?? null,
    objectGuid: u.objectGuid.toString('base64'),
  };
}

const accountOf = (u: DirectoryUser): string => `guid:${u.objectGuid.toString('base64')}`;

function audit(
  deps: MfaCliDeps,
  t: Target,
  opts: MfaCliOptions,
  e: Pick<MfaEnrolmentEvent, 'action' | 'count'>,
): void {
  const { audit: sink } = createLoggers('info', deps.auditDestination ?? process.stderr);
  mfaEnrolment(sink, {
    ...e,
    account: accountOf(t.user),
    upn: t.user.userPrincipalName,
    by: 'admin',
    operator: opts.operator,
  });
}

/** `fedgate mfa show USER`: the factors (kind, id, name, created, last used) and whether a code is pending. */
export async function mfaShow(
  config: Config,
  name: string,
  opts: MfaCliOptions = {},
  deps: MfaCliDeps = {},
): Promise<string> {
  const clock = deps.clock ?? systemClock;
  return withTarget(config, name, deps, async (t) => {
    const e = await t.store.read(t.user).catch((err: unknown) => storeProblem(err, t));
    audit(deps, t, opts, { action: 'viewed', count: e.factors.length });
    const code = codeState(e, clock.now());
    if (opts.json === true)
      return `${JSON.stringify(
        {
          user: userJson(t.user),
          storage: storage(config),
          methods: config.mfa.methods,
          factors: e.factors.map(publicFactor),
          enrolmentCode: code,
        },
        null,
        2,
      )}\n`;
    const lines = [
      `Account    ${describe(t.user)}  objectGUID ${t.user.objectGuid.toString('base64')}`,
      `MFA        methods ${config.mfa.methods.join(', ') || '-'}; enrolments in ${storage(config)}`,
      `Factors    ${String(e.factors.length)}`,
      ...e.factors.map(factorLine),
      `Enrolment code  ${
        code === null
          ? 'none'
          : code.expired
            ? `expired at ${code.expiresAt} (unusable)`
            : `pending, expires ${code.expiresAt}`
      }`,
    ];
    return `${lines.join('\n')}\n`;
  });
}

/**
 * `fedgate mfa reset USER`: removes every factor and any pending enrolment code (a lost or stolen phone or key:
 * nothing the user held before may still count). A record that does not open is cleared as well: that is how the
 * helpdesk recovers a user whose record was tampered with or sealed with a lost secret.
 */
export async function mfaReset(
  config: Config,
  name: string,
  opts: MfaCliOptions = {},
  deps: MfaCliDeps = {},
): Promise<string> {
  return withTarget(config, name, deps, async (t) => {
    // Filled by the update callback (an object: the compiler does not see closures assign locals).
    const seen: { removed: Factor[]; hadCode: boolean } = { removed: [], hadCode: false };
    let unreadable: string | undefined;
    try {
      // Compare-and-swap: what is printed is exactly what was removed, even if the user enrolled meanwhile.
      await t.store.update(t.user, (current) => {
        seen.removed = [...current.factors];
        seen.hadCode = current.code !== undefined;
        return { ...EMPTY_ENROLMENTS, factors: [] };
      });
    } catch (err) {
      if (!(err instanceof EnrolmentError && err.kind === 'unreadable')) storeProblem(err, t);
      unreadable = err.message;
      await t.store
        .write(t.user, { ...EMPTY_ENROLMENTS, factors: [] })
        .catch((e: unknown) => storeProblem(e, t));
    }
    const { removed, hadCode } = seen;
    audit(deps, t, opts, {
      action: 'reset',
      ...(unreadable === undefined ? { count: removed.length } : {}),
    });
    const next = config.mfa.enrolment.allow.includes('code')
      ? `Next: fedgate mfa enrol-code ${t.typed} gives the user a one-time code to enrol a new factor.`
      : undefined;
    if (opts.json === true)
      return `${JSON.stringify(
        {
          user: userJson(t.user),
          reset: true,
          removed: unreadable === undefined ? removed.map(publicFactor) : null,
          enrolmentCodeWithdrawn: unreadable === undefined ? hadCode : null,
          ...(unreadable === undefined ? {} : { unreadable }),
        },
        null,
        2,
      )}\n`;
    const lines =
      unreadable !== undefined
        ? [
            `The enrolment record of ${describe(t.user)} could not be read (${unreadable}); it was cleared. What it held is unknown.`,
          ]
        : removed.length === 0
          ? [
              hadCode
                ? `Withdrew the pending enrolment code of ${describe(t.user)}; it had no factors.`
                : `${describe(t.user)} had no factors and no enrolment code: nothing to remove.`,
            ]
          : [
              `Removed ${String(removed.length)} factor${removed.length === 1 ? '' : 's'} from ${describe(t.user)}:`,
              ...removed.map(factorLine),
              ...(hadCode ? ['and withdrew the pending enrolment code.'] : []),
            ];
    if (next !== undefined) lines.push(next);
    return `${lines.join('\n')}\n`;
  });
}

/**
 * `fedgate mfa enrol-code USER`: a fresh one-time code (replacing any earlier one) valid for
 * mfa.enrolment.codeLifetimeHours. Only its hash is stored; it is shown here once and never logged.
 */
export async function mfaEnrolCode(
  config: Config,
  name: string,
  opts: MfaCliOptions = {},
  deps: MfaCliDeps = {},
): Promise<string> {
  // Refused up front: a code nobody can redeem would only sit in the record until a policy change made it valid.
  if (!config.mfa.enrolment.allow.includes('code'))
    throw new MfaCliError(
      'mfa.enrolment.allow does not include code, so an enrolment code could not be used; add code to it first',
    );
  if (!config.mfa.methods.some((m) => m === 'totp' || m === 'webauthn'))
    throw new MfaCliError(
      'mfa.methods has neither totp nor webauthn: there is nothing a user could enrol with a code',
    );
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? cryptoRandom;
  const lifetimeHours = config.mfa.enrolment.codeLifetimeHours;
  return withTarget(config, name, deps, async (t) => {
    let code = '';
    let expiresAt = '';
    await t.store
      .update(t.user, (current) => {
        // update() may run this again after a concurrent change: the code written is the last one made.
        const issued = issueEnrolmentCode(current, { clock, random, lifetimeHours });
        code = issued.code;
        expiresAt = issued.enrolments.code?.expiresAt ?? '';
        return issued.enrolments;
      })
      .catch((err: unknown) => storeProblem(err, t));
    audit(deps, t, opts, { action: 'code_issued' });
    if (opts.json === true)
      return `${JSON.stringify({ user: userJson(t.user), code, expiresAt }, null, 2)}\n`;
    return [
      `Enrolment code for ${describe(t.user)}: ${code}`,
      `Expires ${expiresAt} (${String(lifetimeHours)} hours). It works once, replaces any earlier code, and is not`,
      'shown again: give it to the user over a channel you trust. They enter it when they enrol a factor.',
      '',
    ].join('\n');
  });
}
