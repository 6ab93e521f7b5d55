/**
 * The second-factor machinery of one server (issue 16), built once from the configuration (services.ts): which
 * methods are usable here, the enrolment store, the TOTP verifier, the RADIUS client, the WebAuthn settings, the MFA
 * lockout, and a sealer for a TOTP secret that waits in a pending sign-in for its first code.
 *
 * The MFA lockout is one counter per account for every method (store namespace mfaFailures, shared with the TOTP
 * verifier's own count): a wrong TOTP code, a refused security-key assertion and a RADIUS Access-Reject all count,
 * so an attacker cannot spread guesses over methods. It is separate from the password lockout (a user who knows
 * their password is not locked out of it by someone guessing codes).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../../config/schema.ts';
import type { DirectoryProvider } from '../../directory/types.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Random } from '../../lib/random.ts';
import { Sealer } from '../../lib/sealer.ts';
import type { ArtifactStore } from '../../stores/types.ts';
import { createEnrolmentStore, type EnrolmentStore } from './enrolments.ts';
import type { MfaMethod } from './factors.ts';
import { RadiusClient } from './radius.ts';
import { TotpVerifier } from './totp.ts';
import { webAuthnSettings, type WebAuthnSettings } from './webauthn.ts';

export interface MfaRuntime {
  /** Enabled methods that can work here (totp/webauthn need enrolment storage; radius needs servers). */
  methods: readonly MfaMethod[];
  /** Undefined when no storage is configured (an ldap directory without mfa.enrolment.attribute). */
  enrolments?: EnrolmentStore | undefined;
  totp: TotpVerifier;
  radius?: RadiusClient | undefined;
  webauthn: WebAuthnSettings;
  /** Seals a TOTP secret kept in a pending sign-in during enrolment (AAD: the pending handle). */
  pendingSealer: Sealer;
  lockout: MfaLockout;
}

/** The MFA lockout shared by every method (see the file comment). */
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

function radiusSecret(config: Config, s: Config['mfa']['radius']['servers'][number]): string {
  if (s.secret !== undefined) return s.secret;
  if (s.secretFile === undefined) throw new Error(`mfa.radius server ${s.host}: no secret`);
  const text = readFileSync(resolve(config.baseDir, s.secretFile), 'utf8').split(/\r?\n/)[0] ?? '';
  if (text.length < 16)
    throw new Error(`${s.secretFile}: the shared secret is shorter than 16 characters`);
  return text;
}

export function buildMfaRuntime(
  config: Config,
  deps: {
    store: ArtifactStore;
    clock: Clock;
    random: Random;
    directory: DirectoryProvider;
    secrets: readonly (string | Buffer)[];
  },
): MfaRuntime {
  const m = config.mfa;
  const enrolments = createEnrolmentStore(config, deps.directory, {
    clock: deps.clock,
    secrets: deps.secrets,
  });
  const radius =
    m.methods.includes('radius') && m.radius.servers.length > 0
      ? new RadiusClient({
          servers: m.radius.servers.map((s) => ({
            host: s.host,
            port: s.port,
            secret: radiusSecret(config, s),
          })),
          nasIdentifier: m.radius.nasIdentifier,
          attemptTimeoutMs: m.radius.attemptTimeoutMs,
          retries: m.radius.retries,
          totalTimeoutMs: m.radius.totalTimeoutMs,
          random: deps.random,
        })
      : undefined;
  const methods = m.methods.filter((x) =>
    x === 'radius' ? radius !== undefined : enrolments !== undefined,
  );
  const seconds = m.lockout.durationMinutes * 60;
  return {
    methods,
    enrolments,
    totp: new TotpVerifier({
      store: deps.store,
      clock: deps.clock,
      policy: {
        driftSteps: m.totp.driftSteps,
        maxFailures: m.lockout.threshold,
        lockoutSeconds: seconds,
      },
    }),
    radius,
    webauthn: webAuthnSettings(config),
    pendingSealer: new Sealer(deps.secrets, 'mfa-pending-enrolment'),
    lockout: new MfaLockout({
      store: deps.store,
      clock: deps.clock,
      threshold: m.lockout.threshold,
      seconds,
    }),
  };
}
