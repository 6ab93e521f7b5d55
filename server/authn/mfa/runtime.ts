/**
 * The second-factor machinery of one server (issue 16), built once from the configuration (services.ts): which
 * methods are usable here, the enrolment store, the TOTP verifier, the RADIUS client, the WebAuthn settings, the MFA
 * lockout, and a sealer for a TOTP secret that waits in a pending sign-in for its first code.
 * One MFA lockout (lockout.ts) serves every method, the TOTP verifier's count included.
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
import { MfaLockout } from './lockout.ts';
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
  const lockout = new MfaLockout({
    store: deps.store,
    clock: deps.clock,
    threshold: m.lockout.threshold,
    seconds: m.lockout.durationMinutes * 60,
  });
  return {
    methods,
    enrolments,
    totp: new TotpVerifier({
      store: deps.store,
      clock: deps.clock,
      policy: { driftSteps: m.totp.driftSteps },
      lockout,
    }),
    radius,
    webauthn: webAuthnSettings(config),
    pendingSealer: new Sealer(deps.secrets, 'mfa-pending-enrolment'),
    lockout,
  };
}
