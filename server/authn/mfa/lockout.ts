/**
 * The MFA lockout: one counter per account (the objectGUID key) for every method, in the shared store (namespace
 * mfaFailures), separate from the password lockout. A wrong TOTP code, a refused security-key assertion, a RADIUS
 * Access-Reject and a wrong enrolment code all count, so guesses cannot be spread over methods; the lockout lasts
 * `seconds` from the failure that reached the threshold. The TOTP verifier (totp.ts) counts through it too.
 */
import type { Clock } from '../../lib/clock.ts';
import type { ArtifactStore } from '../../stores/types.ts';

export class MfaLockout {
  readonly #store: ArtifactStore;
  readonly #threshold: number;
  readonly #seconds: number;
  readonly #clock: Clock;

  constructor(deps: { store: ArtifactStore; clock: Clock; threshold: number; seconds: number }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#threshold = deps.threshold;
    this.#seconds = deps.seconds;
  }

  get threshold(): number {
    return this.#threshold;
  }

  async failures(account: string): Promise<number> {
    const v = await this.#store.find<number | string>('mfaFailures', account);
    return v === undefined ? 0 : Number(v);
  }

  async locked(account: string): Promise<boolean> {
    return (await this.failures(account)) >= this.#threshold;
  }

  /** Counts one failure; `lockedNow` when this one reached the threshold (the lockout starts now). */
  async fail(account: string): Promise<{ failures: number; lockedNow: boolean; until: string }> {
    const failures = await this.#store.incr('mfaFailures', account, this.#seconds);
    const lockedNow = failures === this.#threshold;
    if (lockedNow) await this.#store.put('mfaFailures', account, failures, this.#seconds);
    const until = new Date(this.#clock.now().getTime() + this.#seconds * 1000).toISOString();
    return { failures, lockedNow, until };
  }

  async succeed(account: string): Promise<void> {
    await this.#store.destroy('mfaFailures', account);
  }
}
