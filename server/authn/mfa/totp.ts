/**
 * Time-based one-time passwords (RFC 6238) as a second factor: the verifier the MFA step of the browser pipeline
 * will use (issue 16). The HOTP/TOTP arithmetic is the `otpauth` library's; what is fedgate's is what RFC 6238
 * leaves to the verifier:
 * - the accepted clock drift, in time steps either side (§5.2, §6), from the configuration;
 * - one use per code: a code accepted once is refused again, on any node of the farm (§5.2: "the verifier MUST NOT
 *   accept the second attempt of the OTP after the successful validation has been issued for the first OTP"), and so
 *   is any code of a time step at or before the last one accepted, so a code seen over a shoulder is worth nothing
 *   once its owner has signed in;
 * - a lockout for wrong codes, separate from the password lockout (§5.1 "throttling": six digits fall to guessing
 *   without one), counted in the shared store;
 * The secret at rest is sealed with the whole enrolment record (enrolments.ts), bound to its account.
 */
import { createHash } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type { Clock } from '../../lib/clock.ts';
import { cryptoRandom, type Random } from '../../lib/random.ts';
import type { ArtifactStore } from '../../stores/types.ts';
import { MfaLockout } from './lockout.ts';

export interface TotpPolicy {
  /** Code length (authenticator apps: 6). */
  digits: number;
  /** Time step, seconds (authenticator apps: 30). */
  periodSeconds: number;
  /** Steps of clock drift accepted either side of now (RFC 6238 §6 recommends at most one). */
  driftSteps: number;
  /** Wrong codes for one account before it is locked out of this factor. */
  maxFailures: number;
  /** How long that lockout lasts, and how long failures are remembered. */
  lockoutSeconds: number;
}

export const DEFAULT_TOTP_POLICY: Readonly<TotpPolicy> = Object.freeze({
  digits: 6,
  periodSeconds: 30,
  driftSteps: 1,
  maxFailures: 5,
  lockoutSeconds: 15 * 60,
});

export type TotpResult =
  | { ok: true; /** The time step the code belongs to. */ step: number }
  | {
      ok: false;
      /**
       * malformed: not a code of this length (not counted as a guess); wrong: no match in the drift window
       * (counted); replayed: the code, or an earlier one, was already accepted (counted); locked: too many wrong
       * codes, nothing was checked.
       */
      reason: 'malformed' | 'wrong' | 'replayed' | 'locked';
      failures: number;
    };

/** A new random secret (RFC 4226 §4: at least 128 bits; 160 as authenticator apps expect), base32 for enrolment. */
export function newTotpSecret(random: Random = cryptoRandom): { bytes: Buffer; base32: string } {
  // From the injected randomness (lib/random.ts), so tests and screenshots are reproducible; production's is
  // crypto.randomBytes. 20 bytes = 160 bits, RFC 4226 §4's recommended length.
  const bytes = random.bytes(20);
  const secret = new Secret({
    buffer: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
  });
  return { bytes: Buffer.from(secret.bytes), base32: secret.base32 };
}

export class TotpVerifier {
  readonly #store: ArtifactStore;
  readonly #clock: Clock;
  readonly #policy: TotpPolicy;
  readonly #lockout: MfaLockout;

  /**
   * `lockout`: the server's one MFA lockout (lockout.ts), so TOTP failures count with every other method's; absent
   * (tests), one is made from `policy.maxFailures` and `policy.lockoutSeconds` on the same store.
   */
  constructor(deps: {
    store: ArtifactStore;
    clock: Clock;
    policy?: Partial<TotpPolicy>;
    lockout?: MfaLockout | undefined;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#lockout =
      deps.lockout ??
      new MfaLockout({
        store: deps.store,
        clock: deps.clock,
        threshold: deps.policy?.maxFailures ?? DEFAULT_TOTP_POLICY.maxFailures,
        seconds: deps.policy?.lockoutSeconds ?? DEFAULT_TOTP_POLICY.lockoutSeconds,
      });
    this.#policy = {
      ...DEFAULT_TOTP_POLICY,
      ...deps.policy,
      maxFailures: this.#lockout.threshold,
    };
  }

  async #fail(
    account: string,
    reason: 'wrong' | 'replayed',
  ): Promise<Extract<TotpResult, { ok: false }>> {
    const { failures } = await this.#lockout.fail(account);
    return { ok: false, reason, failures };
  }

  /**
   * Checks `code` for `account` (a stable id: the objectGUID) against its secret. Every outcome but `malformed`
   * and `locked` is recorded in the shared store.
   */
  async verify(account: string, secret: Buffer, code: string): Promise<TotpResult> {
    const p = this.#policy;
    const failures = await this.#lockout.failures(account);
    if (failures >= p.maxFailures) return { ok: false, reason: 'locked', failures };
    if (code.length !== p.digits || !/^[0-9]+$/.test(code))
      return { ok: false, reason: 'malformed', failures };
    const now = this.#clock.now().getTime();
    const totp = new TOTP({
      secret: new Secret({ buffer: Uint8Array.from(secret).buffer }),
      digits: p.digits,
      period: p.periodSeconds,
      algorithm: 'SHA1',
    });
    const delta = totp.validate({ token: code, timestamp: now, window: p.driftSteps });
    if (delta === null) return this.#fail(account, 'wrong');
    const step = Math.floor(now / 1000 / p.periodSeconds) + delta;
    // One use per code, and never an older one: the last accepted step only moves forward. The set-if-absent on
    // the step makes two nodes accepting the same code at the same moment impossible; the `last` record refuses
    // a code from an earlier step than one already used (a code read over a shoulder before the owner used a
    // newer one).
    const keep = (2 * p.driftSteps + 2) * p.periodSeconds;
    // Replay is judged per secret (one authenticator app), the lockout per account: a user with two apps, or one
    // confirming a new app just after using the old one, is not refused for a different secret's code of the step.
    const replay = `${account}:${createHash('sha256').update(secret).digest('base64url').slice(0, 16)}`;
    const last = await this.#store.find<number>('mfaReplay', `${replay}:last`);
    if (last !== undefined && step <= last) return this.#fail(account, 'replayed');
    if (!(await this.#store.markSeen('mfaReplay', `${replay}:${String(step)}`, keep)))
      return this.#fail(account, 'replayed');
    await this.#store.put('mfaReplay', `${replay}:last`, step, keep);
    await this.#lockout.succeed(account);
    return { ok: true, step };
  }
}
