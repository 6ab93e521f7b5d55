import { createHmac, randomInt, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { AuthResult, DirectoryProvider, DirectoryUser } from '../directory/types.ts';
import {
  accountLockedOut,
  bannedAddress,
  correctPasswordWhileLocked as auditCorrectPasswordWhileLocked,
  extranetLockout,
  passwordSpraySuspected,
  signinFailed,
  signinSucceeded,
  sourceRateLimited,
  type AuditSink,
  type LockoutFields,
  type PasswordAttemptFields,
} from '../observability/audit.ts';
import type { Clock } from '../lib/clock.ts';
import { canonicalIp } from '../lib/ip.ts';
import type { ArtifactStore } from '../stores/types.ts';
import { accountKey, normaliseName, type SmartLockout } from './lockout.ts';
import type { SprayGuard } from './spray.ts';

const scrypt = promisify(scryptCb) as (
  password: string | Buffer,
  salt: string | Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

export interface SignInAttempt {
  username: string;
  password: string;
  /** The client address (behind a trusted proxy: the forwarded client address). */
  clientIp: string;
  /**
   * Every address a trusted proxy forwarded (express `req.ips`); empty when not proxied. A location is familiar
   * only when all of these and clientIp are (corpus C1.5).
   */
  forwardedIps?: readonly string[] | undefined;
  activityId: string;
  relyingParty: string;
  /** 'forms' (passive sign-in), 'wstrust' (usernamemixed), 'password-change'. */
  method?: string | undefined;
}

/** What the credential step needs: Services provides all of it. */
export interface PasswordAuthContext {
  directory: DirectoryProvider;
  audit: Logger;
  lockout: SmartLockout;
  spray: SprayGuard;
  store: ArtifactStore;
  /** Key for the "correct password while locked" verifier (AD FS 515); see verifierKey(). */
  verifierKey?: Buffer | undefined;
  /** For the password-expiry notice (passwordChange.expiryNoticeDays; default 14 days, as AD FS). */
  config?: { passwordChange: { expiryNoticeDays: number } } | undefined;
  clock?: Clock | undefined;
}

const DAY_MS = 86_400_000;

/**
 * The account as the claims step gets it after a correct password: with `passwordExpiryNotice` when the password
 * expires within the notice window, which becomes the passwordexpirationtime input claim (AD FS: username/password
 * sign-ins only, within 14 days; [PWDEXP]).
 */
export function withExpiryNotice(
  user: DirectoryUser,
  now: Date,
  noticeDays: number,
): DirectoryUser {
  const at = user.passwordExpiresAt;
  if (at === undefined || noticeDays <= 0) return user;
  const left = at.getTime() - now.getTime();
  return left > 0 && left <= noticeDays * DAY_MS ? { ...user, passwordExpiryNotice: at } : user;
}

/**
 * Derives the 515 verifier pepper from the session secret every node of a farm shares. (It came from the
 * token-signing key before issue 18; that key now rolls over every year and may live in an HSM, where it cannot be
 * read. A changed pepper only forgets the verifiers, which are rewritten at the next correct password.)
 */
export function verifierKeyFrom(farmSecret: string): Buffer {
  return createHmac('sha256', farmSecret).update('fedgate lockout verifier v2').digest();
}

/** scrypt cost for the 515 verifier: a few ms, only on success and on attempts refused while locked. */
const VERIFIER_PARAMS = { N: 4096, r: 8, p: 1, maxmem: 16 * 1024 * 1024 };

/** The addresses a request presents: the client address and every trusted forwarded one, canonical, unique. */
export function presentedAddresses(attempt: SignInAttempt): string[] {
  return [
    ...new Set(
      [attempt.clientIp, ...(attempt.forwardedIps ?? [])].map(canonicalIp).filter((x) => x !== ''),
    ),
  ];
}

/**
 * Enumeration timing (security-corpus C2.2). A wrong password for a real account costs AD a password check and a
 * badPwdCount write; an unknown name (a bind to a decoy DN), a disabled, expired or locked account (AD refuses
 * early) and attempts fedgate refuses without a bind cost much less, so response time would tell an attacker which
 * names exist (measured with bench/enumeration.ts: unknown 3.4 ms vs wrong password 16.6 ms median on Samba).
 * Every such failure is therefore held until a duration drawn from the recent real wrong-password checks of this
 * directory has passed: its time distribution becomes that of a wrong password. Only a timer waits (no CPU); wrong
 * passwords themselves are never delayed; before enough samples exist (a fresh start) nothing is padded.
 */
class WrongPasswordTimings {
  static readonly SIZE = 256;
  static readonly MIN_SAMPLES = 8;
  readonly #ms: number[] = [];
  #next = 0;

  record(ms: number): void {
    if (this.#ms.length < WrongPasswordTimings.SIZE) {
      this.#ms.push(ms);
      return;
    }
    this.#ms[this.#next] = ms;
    this.#next = (this.#next + 1) % WrongPasswordTimings.SIZE;
  }

  draw(): number | undefined {
    if (this.#ms.length < WrongPasswordTimings.MIN_SAMPLES) return undefined;
    return this.#ms[randomInt(this.#ms.length)];
  }
}

const wrongPasswordTimings = new WeakMap<DirectoryProvider, WrongPasswordTimings>();

function timingsOf(directory: DirectoryProvider): WrongPasswordTimings {
  let t = wrongPasswordTimings.get(directory);
  if (t === undefined) {
    t = new WrongPasswordTimings();
    wrongPasswordTimings.set(directory, t);
  }
  return t;
}

/** A real account's password refused by AD as wrong (52e): the reference every other failure is padded to. */
function isWrongPassword(result: AuthResult): boolean {
  return (
    !result.ok &&
    result.kind === 'bad_credentials' &&
    result.user !== undefined &&
    result.reason === 'ad:52e'
  );
}

/** Holds a failure that did not cost a real wrong-password check until it looks like one (see above). */
async function padFailure(directory: DirectoryProvider, startedAt: number): Promise<void> {
  const target = timingsOf(directory).draw();
  if (target === undefined) return;
  const left = target - (performance.now() - startedAt);
  if (left >= 1) await sleep(left);
}

function isContext(x: PasswordAuthContext | DirectoryProvider): x is PasswordAuthContext {
  return 'lockout' in x && 'directory' in x;
}

/**
 * The one credential step (forms, WS-Trust usernamemixed, password change). In order:
 * 1. banned source ranges and the per-source failure budget (spray.ts, C1.1/C1.10);
 * 2. the account is resolved by the service account (a search, never a bind) so its smart-lockout counters are
 *    keyed by objectGUID (C1.6), and the lockout check runs BEFORE any bind (C1.2);
 * 3. the password bind; its outcome updates the counters, familiar locations and the per-source detector.
 * Every outcome is audited with its precise reason and an AD FS event id; callers show one generic message for
 * every credential failure (C2.1), so the distinction never leaves the server.
 *
 * The three-argument form (directory, audit, attempt) is kept for callers written before smart lockout; it
 * checks the password WITHOUT lockout and should not be used by new code.
 */
export async function authenticateWithPassword(
  ctx: PasswordAuthContext,
  attempt: SignInAttempt,
): Promise<AuthResult>;
/** @deprecated No smart lockout: pass the Services (a PasswordAuthContext) instead. */
export async function authenticateWithPassword(
  directory: DirectoryProvider,
  audit: Logger,
  attempt: SignInAttempt,
): Promise<AuthResult>;
export async function authenticateWithPassword(
  first: PasswordAuthContext | DirectoryProvider,
  second: Logger | SignInAttempt,
  third?: SignInAttempt,
): Promise<AuthResult> {
  if (isContext(first)) return protectedAuthenticate(first, second as SignInAttempt);
  const attempt = third as SignInAttempt;
  const result = await first.authenticate(attempt.username, attempt.password);
  auditOutcome(second as Logger, attempt, result);
  return result;
}

function baseFields(attempt: SignInAttempt): PasswordAttemptFields {
  return {
    method: attempt.method ?? 'forms',
    username: attempt.username.slice(0, 256),
    ip: attempt.clientIp,
    forwardedIps:
      attempt.forwardedIps !== undefined && attempt.forwardedIps.length > 0
        ? attempt.forwardedIps
        : undefined,
    activityId: attempt.activityId,
    rp: attempt.relyingParty,
  };
}

function auditOutcome(
  audit: AuditSink,
  attempt: SignInAttempt,
  result: AuthResult,
  extra: Partial<LockoutFields> = {},
): void {
  const base = { ...baseFields(attempt), ...extra };
  if (result.ok) {
    signinSucceeded(audit, {
      ...base,
      outcome: 'success',
      upn: result.user.userPrincipalName,
      objectGuid: result.user.objectGuid.toString('base64'),
    });
    return;
  }
  signinFailed(audit, {
    ...base,
    outcome: 'failure',
    kind: result.kind,
    reason: result.reason,
    objectGuid: result.user?.objectGuid.toString('base64'),
  });
}

async function verifierOf(key: Buffer, account: string, password: string): Promise<Buffer> {
  const salt = createHmac('sha256', key).update(account).digest();
  return scrypt(password.normalize('NFC'), salt, 32, VERIFIER_PARAMS);
}

async function protectedAuthenticate(
  ctx: PasswordAuthContext,
  attempt: SignInAttempt,
): Promise<AuthResult> {
  const { directory, audit, lockout, spray, store } = ctx;
  const presented = presentedAddresses(attempt);
  const fields = baseFields(attempt);

  // 1. Source checks (banned ranges first, then the per-source failure budget).
  const source = await spray.check(attempt.clientIp, presented);
  if (!source.allowed) {
    const result: AuthResult = {
      ok: false,
      kind: 'bad_credentials',
      reason: source.reason ?? 'source_refused',
    };
    (source.reason === 'banned' ? bannedAddress : sourceRateLimited)(audit, {
      ...fields,
      outcome: 'failure',
      reason: result.reason,
    });
    return result;
  }

  // 2. Resolve the account (a service-account search, no bind) and check its lockout state before any bind.
  let user: DirectoryUser | undefined;
  try {
    user = await directory.findUser(normaliseName(attempt.username));
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const result: AuthResult = { ok: false, kind: 'unavailable', reason };
    auditOutcome(audit, attempt, result);
    return result;
  }
  const account = accountKey(user, attempt.username);
  const location = await lockout.classify(account, presented);
  const decision = await lockout.check(account, location);
  // From here every failure takes as long as a wrong password would (C2.2; padFailure).
  const checkStarted = performance.now();
  const lockFields = { account, location, badPasswordCount: decision.count };
  if (decision.locked) {
    extranetLockout(audit, {
      ...fields,
      ...lockFields,
      objectGuid: user?.objectGuid.toString('base64'),
      enforced: !decision.allowed,
    });
    if (!decision.allowed) {
      await correctPasswordWhileLocked(ctx, attempt, account, user, fields);
      await spray.recordFailure(attempt.clientIp, account);
      await padFailure(directory, checkStarted);
      return { ok: false, kind: 'locked', reason: 'extranet_lockout', user };
    }
  }
  // AD itself answered 775 lately: no further binds for the window, so fedgate does not prolong AD's lockout.
  if ((await store.find('lockoutCounter', `${account}:ad-locked`)) !== undefined) {
    const result: AuthResult = { ok: false, kind: 'locked', reason: 'ad_locked_recently', user };
    auditOutcome(audit, attempt, result, lockFields);
    await padFailure(directory, checkStarted);
    return result;
  }

  // 3. The bind.
  // The account was resolved above for the same name: the directory binds without a second search, unless NFKC
  // changed the name (then the bind looks the typed name up itself, exactly as typed).
  const sameName = attempt.username.normalize('NFKC').trim() === attempt.username;
  const result = await directory.authenticate(
    attempt.username,
    attempt.password,
    sameName ? { user } : undefined,
  );
  if (isWrongPassword(result)) timingsOf(directory).record(performance.now() - checkStarted);
  else if (
    !result.ok &&
    result.kind !== 'unavailable' &&
    !(result.kind === 'bad_credentials' && result.reason === 'empty_password')
  )
    await padFailure(directory, checkStarted);
  if (result.ok) {
    const resolved = accountKey(result.user, attempt.username);
    await lockout.recordSuccess(resolved, presented, location);
    if (ctx.verifierKey !== undefined) {
      // The verifier is stored with the pwdLastSet it was made under: while that is unchanged the password is
      // the same, so the scrypt (tens of RSA signatures' worth of CPU) runs once per password, not per sign-in.
      const key = resolved;
      const stamp = result.user.passwordLastSet;
      const prior =
        stamp === undefined ? undefined : await store.find<string>('lockoutVerifier', key);
      if (prior === undefined || !prior.startsWith(`${stamp ?? ''}:`)) {
        const v = await verifierOf(ctx.verifierKey, resolved, attempt.password);
        // Lifetime: the lockoutVerifier namespace's (stores/namespaces.ts).
        await store.put('lockoutVerifier', key, `${stamp ?? ''}:${v.toString('base64')}`);
      }
    }
    auditOutcome(audit, attempt, result, { location });
    const noticed = withExpiryNotice(
      result.user,
      (ctx.clock ?? { now: () => new Date() }).now(),
      ctx.config?.passwordChange.expiryNoticeDays ?? 14,
    );
    return noticed === result.user ? result : { ...result, user: noticed };
  }
  if (result.kind === 'bad_credentials' && result.reason !== 'empty_password') {
    const failure = await lockout.recordFailure(account, location);
    const src = await spray.recordFailure(attempt.clientIp, account);
    auditOutcome(audit, attempt, result, { ...lockFields, badPasswordCount: failure.count });
    if (failure.reachedThreshold) {
      accountLockedOut(audit, {
        ...fields,
        account,
        location,
        objectGuid: user?.objectGuid.toString('base64'),
        badPasswordCount: failure.count,
        enforced: !lockout.logOnly,
      });
    }
    if (src.alert) {
      passwordSpraySuspected(audit, {
        ...fields,
        distinctAccounts: src.distinctAccounts,
        failures: src.failures,
      });
    }
    return result;
  }
  if (result.kind === 'locked') {
    await store.put('lockoutCounter', `${account}:ad-locked`, 1, lockout.observationWindowSeconds);
  }
  auditOutcome(audit, attempt, result, lockFields);
  return result;
}

/**
 * AD FS 515: the correct password arrived while the account is locked out. fedgate never binds while locked, so
 * it compares with a verifier kept from the last successful sign-in: scrypt of the password, salted per account
 * and peppered with a key derived from the token-signing key (a copy of the store alone cannot be attacked
 * offline). The attempt stays refused either way (C1.4).
 */
async function correctPasswordWhileLocked(
  ctx: PasswordAuthContext,
  attempt: SignInAttempt,
  account: string,
  user: DirectoryUser | undefined,
  fields: PasswordAttemptFields,
): Promise<void> {
  if (ctx.verifierKey === undefined || user === undefined || attempt.password.trim() === '') return;
  const stored = await ctx.store.find<string>('lockoutVerifier', account);
  if (stored === undefined) return;
  const presented = await verifierOf(ctx.verifierKey, account, attempt.password);
  // `<pwdLastSet>:<base64 verifier>` (see the success path).
  const expected = Buffer.from(stored.slice(stored.lastIndexOf(':') + 1), 'base64');
  if (expected.length === presented.length && timingSafeEqual(expected, presented)) {
    auditCorrectPasswordWhileLocked(ctx.audit, {
      ...fields,
      account,
      objectGuid: user.objectGuid.toString('base64'),
    });
  }
}
