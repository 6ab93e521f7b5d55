/**
 * `fedgate lockout show <user>` / `fedgate lockout reset <user>`: the help-desk view of extranet smart lockout,
 * like AD FS's Get-AdfsAccountActivity / Reset-AdfsAccountLockout. The name is resolved through the directory
 * exactly as a sign-in resolves it (sAMAccountName, DOMAIN\sam, UPN) so every spelling reaches the one
 * objectGUID-keyed counter set; a name the directory does not know shows the counters an attacker's attempts
 * with that name built up (keyed by the normalised name, as the sign-in path keys them).
 *
 * Works on the configured store. With Redis that is the farm's shared state; with the memory store it is this
 * process's own, empty store (a running server's counters live in that server's memory), and the output says so.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import {
  accountKey,
  normaliseName,
  SmartLockout,
  type AccountActivity,
  type ClassActivity,
} from '../authn/lockout.ts';
import type { Config } from '../config/schema.ts';
import { createDirectory, uncached } from '../directory/index.ts';
import type { DirectoryUser } from '../directory/types.ts';
import { systemClock } from '../lib/clock.ts';
import { lockoutReset as auditLockoutReset } from '../observability/audit.ts';
import { createLoggers } from '../observability/logger.ts';
import { createStore } from '../stores/index.ts';
import { StoreUnavailableError } from '../stores/redis.ts';

/** A problem the caller prints as is (exit status 1). */
export class LockoutCliError extends Error {}

export interface LockoutCliOptions {
  json?: boolean | undefined;
  /** reset: also forget the familiar locations (they are kept by default, as Reset-AdfsAccountLockout does). */
  forgetLocations?: boolean | undefined;
  /** Who ran it, for the audit event (default: $SUDO_USER / $USER as the CLI passes it). */
  operator?: string | undefined;
}

const MEMORY_NOTE =
  'NOTE: the store is memory, so this command sees only its own empty in-process store, not the counters of a\n' +
  'running server. Smart lockout state is shared (and visible here) only with store.kind redis.';

interface Resolved {
  account: string;
  user?: DirectoryUser | undefined;
}

async function resolve(config: Config, name: string, log: Logger): Promise<Resolved> {
  const typed = name.trim();
  if (typed === '') throw new LockoutCliError('lockout needs a user name');
  const directory = await createDirectory(uncached(config.directory), {
    logger: log,
    clock: systemClock,
    baseDir: config.baseDir,
  });
  try {
    // The same folding the sign-in path applies before its look-up (authn/password.ts).
    const user = await directory.findUser(normaliseName(typed));
    return { account: accountKey(user, typed), user };
  } finally {
    await directory.close();
  }
}

async function withLockout<T>(
  config: Config,
  fn: (lockout: SmartLockout) => Promise<T>,
  log: Logger,
): Promise<T> {
  const store = createStore(config.store, { clock: systemClock, log, baseDir: config.baseDir });
  try {
    return await fn(new SmartLockout({ store, clock: systemClock, config: config.lockout }));
  } catch (err) {
    // The server's message ("try again in a few minutes") is for end users; an operator needs the cause.
    if (err instanceof StoreUnavailableError)
      throw new LockoutCliError(`cannot reach the Redis store: ${err.detail ?? err.message}`);
    throw err;
  } finally {
    await store.close();
  }
}

function classLine(label: string, c: ClassActivity, threshold: number, now: Date): string[] {
  const state =
    c.lockedUntil === undefined
      ? 'not locked'
      : Date.parse(c.lockedUntil) > now.getTime()
        ? `LOCKED until ${c.lockedUntil}`
        : 'over the threshold: the next attempt is the one allowed after the window';
  return [
    `  ${label.padEnd(9)} bad passwords ${String(c.count)}/${String(threshold)}  ${state}`,
    `            last failure ${c.lastFailure ?? '-'}`,
  ];
}

function describeUser(r: Resolved, typed: string): string {
  if (r.user === undefined)
    return `"${typed}" is not in the directory: counters of attempts with that name (key ${r.account})`;
  const u = r.user;
  return `${u.windowsAccountName}${u.userPrincipalName === undefined ? '' : ` (${u.userPrincipalName})`}  objectGUID ${u.objectGuid.toString('base64')}`;
}

function render(config: Config, typed: string, r: Resolved, a: AccountActivity, now: Date): string {
  const t = config.lockout.threshold;
  const lines = [
    `Account    ${describeUser(r, typed)}`,
    `Lockout    ${config.lockout.enabled ? config.lockout.mode : 'disabled'}, threshold ${String(t)}, observation window ${String(config.lockout.observationWindowMinutes)} min, store ${config.store.kind}`,
    ...classLine('familiar', a.familiar, t, now),
    ...classLine('unknown', a.unknown, t, now),
    `  familiar locations (${String(a.familiarLocations.length)}): ${a.familiarLocations.length === 0 ? '-' : a.familiarLocations.join(', ')}`,
    `  last successful sign-in ${a.lastSuccess ?? '-'}`,
  ];
  if (a.adLockedRecently)
    lines.push('  AD reported the account locked (775): binds paused for one observation window');
  if (config.store.kind === 'memory') lines.push('', MEMORY_NOTE);
  return `${lines.join('\n')}\n`;
}

function jsonOut(config: Config, r: Resolved, a: AccountActivity, extra = {}): string {
  return `${JSON.stringify(
    {
      ...a,
      store: config.store.kind,
      threshold: config.lockout.threshold,
      user:
        r.user === undefined
          ? null
          : {
              windowsAccountName: r.user.windowsAccountName,
              userPrincipalName: r.user.userPrincipalName ?? null,
              objectGuid: r.user.objectGuid.toString('base64'),
            },
      ...(config.store.kind === 'memory' ? { note: MEMORY_NOTE.replace(/\n/g, ' ') } : {}),
      ...extra,
    },
    null,
    2,
  )}\n`;
}

const silent = (): Logger => pino({ level: 'silent' });

export async function lockoutShow(
  config: Config,
  name: string,
  opts: LockoutCliOptions = {},
): Promise<string> {
  const log = silent();
  const r = await resolve(config, name, log);
  const a = await withLockout(config, (l) => l.show(r.account), log);
  return opts.json === true ? jsonOut(config, r, a) : render(config, name, r, a, systemClock.now());
}

/**
 * Clears both counters (and the AD-775 pause) of the account; familiar locations are kept unless asked. The reset
 * is an audit event (`lockout_reset`), written to the audit stream on stderr so stdout stays the report.
 */
export async function lockoutReset(
  config: Config,
  name: string,
  opts: LockoutCliOptions = {},
  auditDestination: DestinationStream = process.stderr,
): Promise<string> {
  const log = silent();
  const r = await resolve(config, name, log);
  const { before, after } = await withLockout(
    config,
    async (l) => {
      const b = await l.show(r.account);
      await l.reset(r.account, { forgetLocations: opts.forgetLocations === true });
      return { before: b, after: await l.show(r.account) };
    },
    log,
  );
  const { audit } = createLoggers('info', auditDestination);
  auditLockoutReset(audit, {
    method: 'cli',
    account: r.account,
    username: name.slice(0, 256),
    objectGuid: r.user?.objectGuid.toString('base64'),
    upn: r.user?.userPrincipalName,
    operator: opts.operator,
    familiarCount: before.familiar.count,
    unknownCount: before.unknown.count,
    forgetLocations: opts.forgetLocations === true,
    store: config.store.kind,
  });
  if (opts.json === true) return jsonOut(config, r, after, { reset: true });
  return `Reset: cleared ${String(before.familiar.count)} familiar and ${String(before.unknown.count)} unknown bad-password counts${opts.forgetLocations === true ? ' and the familiar locations' : ''}.\n${render(config, name, r, after, systemClock.now())}`;
}
