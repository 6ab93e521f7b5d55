import type { DestinationStream, Logger } from 'pino';
import { CertificateAuthenticator } from './authn/certificate/authenticator.ts';
import type { Fetcher } from './authn/certificate/fetch.ts';
import { SessionManager } from './authn/session.ts';
import { verifierKeyFrom } from './authn/password.ts';
import { SmartLockout } from './authn/lockout.ts';
import { Participants } from './authn/participants.ts';
import { SprayGuard } from './authn/spray.ts';
import { buildMfaRuntime, type MfaRuntime } from './authn/mfa/runtime.ts';
import { MfaPolicies } from './authn/mfa/trust-policy.ts';
import { loadOrCreateMfaSecret } from './keys/mfa-secret.ts';
import { webAuthnSettingsProblem } from './authn/mfa/webauthn.ts';
import { ClaimsEngine } from './claims/engine.ts';
import { acceptanceRules } from './claims/rule-sets.ts';
import { ownEntryAttributes } from './claims/rule-queries.ts';
import type { Config } from './config/schema.ts';
import { CachedDirectory, createDirectory } from './directory/index.ts';
import type { DirectoryProvider } from './directory/types.ts';
import { Views } from './http/views.ts';
import { ThemeRegistry } from './branding/registry.ts';
import type { SigningCredential } from './keys/types.ts';
import { KeyRing } from './keys/ring.ts';
import { KeyLifecycle } from './keys/lifecycle.ts';
import { configuredSigningFiles, keyMaterialOptions } from './keys/material.ts';
import { nextSigningCertificateCommand } from './keys/tenant-command.ts';
import { systemClock, type Clock } from './lib/clock.ts';
import { packageRoot } from './lib/paths.ts';
import { cryptoRandom, type Random } from './lib/random.ts';
import { directoryCache, keyChanged, keyGenerated } from './observability/audit.ts';
import { watchDirectoryCache } from './observability/directory-cache-metrics.ts';
import {
  createLoggers,
  registerLogSinkMetrics,
  stdoutSink,
  type StdoutSink,
} from './observability/logger.ts';
import { instrumentDirectory } from './observability/directory-metrics.ts';
import { Metrics } from './observability/metrics.ts';
import {
  registerCertificateMetrics,
  type CertificateExpiryEntry,
} from './observability/certificate-metrics.ts';
import { Lifecycle } from './http/health.ts';
import { createStore } from './stores/index.ts';
import { loadOrCreateSessionSecret } from './keys/session-secret.ts';
import { buildFederationMetadata } from './protocols/metadata/federation-metadata.ts';
import { activeEndpoints } from './protocols/wstrust/endpoints.ts';
import type { ArtifactStore } from './stores/types.ts';
import { TrustRegistry } from './trust/registry.ts';
import { ApplicationLoader } from './trust/application-loader.ts';
import { ApplicationRegistry, applicationSources } from './trust/applications.ts';
import { readApplicationGroupFiles } from './trust/application-files.ts';
import { SamlTrustLoader } from './trust/saml-trusts.ts';
import { join, resolve } from 'node:path';
import { ROUTES } from './http/routes.ts';

export interface Services {
  config: Config;
  clock: Clock;
  random: Random;
  log: Logger;
  audit: Logger;
  store: ArtifactStore;
  directory: DirectoryProvider;
  sessions: SessionManager;
  /** Who received a token in each SSO session, for sign-out (authn/participants.ts). */
  participants: Participants;
  /** Extranet smart lockout (authn/lockout.ts): checked by the credential step before any bind. */
  lockout: SmartLockout;
  /** Banned ranges and per-source spray limits (authn/spray.ts). */
  spray: SprayGuard;
  /** Pepper for the "correct password while locked" verifier (AD FS 515), derived from the signing key. */
  verifierKey: Buffer;
  trusts: TrustRegistry;
  /** OAuth application groups (issue 19): clients and Web APIs, from oauth.applicationGroups and applicationsDir. */
  readonly applications: ApplicationRegistry;
  /** Keeps `applications` current with oauth.applicationsDir (fedgate app). */
  applicationLoader: ApplicationLoader;
  /** SAML 2.0 trust files and their metadata (refreshed on a schedule into `trusts`). */
  samlTrusts: SamlTrustLoader;
  /** Runs a relying party's claim rules (authorization, then issuance). */
  claims: ClaimsEngine;
  /** Second factors (issue 16): methods, enrolments, verifiers, the MFA lockout. */
  mfa: MfaRuntime;
  /** When a sign-in needs a second factor: the global and each trust's MFA rules and presets. */
  mfaPolicies: MfaPolicies;
  /** Certificate sign-in (certificateAuth.enabled): validation, revocation, mapping. */
  certificates?: CertificateAuthenticator | undefined;
  /** The primary token-signing key (read from the ring at each use: it changes with a rollover). */
  readonly signing: SigningCredential;
  /** The token-signing ring and its rollover (issue 18). */
  keys: KeyRing;
  keyLifecycle: KeyLifecycle;
  /** Signed federation metadata, rebuilt when the ring changes (else it changes only with configuration). */
  readonly metadataXml: string;
  views: Views;
  /** The web themes pages are drawn with (branding.themesDir, branding.theme). */
  themes: ThemeRegistry;
  /**
   * Adds certificates to the expiry gauges (main.ts: the TLS listeners'); the ring, the certificate-auth CAs and
   * CRLs are there already.
   */
  watchCertificates(source: () => CertificateExpiryEntry[]): void;
  /** Prometheus metrics of this server (served on the management port). */
  metrics: Metrics;
  /** Draining state for graceful shutdown (probes answer 503 while draining). */
  lifecycle: Lifecycle;
  /** Standard output's log buffer when logs go there (no logDestination override): flushed before exit. */
  logSink?: StdoutSink | undefined;
  close(): Promise<void>;
}

export interface ServiceOverrides {
  clock?: Clock;
  random?: Random;
  logDestination?: DestinationStream;
  directory?: DirectoryProvider;
  store?: ArtifactStore;
  /** CRL / OCSP downloads for certificate sign-in (tests). */
  certificateFetcher?: Fetcher;
}

/** The relying-party trusts of a configuration (compiles every rule set; throws on a rule file that does not parse). */
export function trustRegistryFor(config: Config): TrustRegistry {
  return new TrustRegistry(config.relyingParties, {
    testRelyingPartyReply: config.testRelyingParty
      ? `${config.publicUrl}${ROUTES.testRpResult}`
      : undefined,
    baseDir: config.baseDir,
    microsoft365: config.microsoft365,
  });
}

/**
 * The application groups of a configuration (inline, then the files of oauth.applicationsDir), every Web API's rules
 * compiled; throws naming the file when one does not parse or an identifier is used twice.
 */
export function applicationRegistryFor(
  config: Config,
  trusts?: TrustRegistry,
): ApplicationRegistry {
  const files = readApplicationGroupFiles(resolve(config.baseDir, config.oauth.applicationsDir));
  return new ApplicationRegistry(
    applicationSources(
      config.baseDir,
      config.oauth.applicationGroups,
      files.map((f) => ({ path: f.file, group: f.group })),
    ),
    (id) => trusts?.find(id) !== undefined,
  );
}

/** The passwordchangeurl claim: the configured URL, else fedgate's own change page when it is served. */
function passwordChangeUrl(config: Config, directory: DirectoryProvider): string | undefined {
  if (config.passwordChange.changeUrl !== undefined) return config.passwordChange.changeUrl;
  return config.passwordChange.enabled && directory.changePassword !== undefined
    ? `${config.publicUrl}/adfs/portal/updatepassword/`
    : undefined;
}

/** The WS-Trust endpoint federation metadata advertises (fed:SecurityTokenServiceEndpoint), when one is enabled. */
function wsTrustMetadata(
  config: Config,
): { address: string; mex?: string | undefined } | undefined {
  const { active, mex } = activeEndpoints(config);
  return active === undefined ? undefined : { address: active, mex };
}

/** The ONLY place that picks implementations: memory|redis store, embedded|ldap directory, file|generated keys. */
export async function buildServices(
  config: Config,
  overrides: ServiceOverrides = {},
): Promise<Services> {
  const clock = overrides.clock ?? systemClock;
  const random = overrides.random ?? cryptoRandom;
  // Rule sets compile first: a rule file that does not parse stops startup (file:line:column) before anything
  // else is built.
  const trusts = trustRegistryFor(config);
  const acceptance = acceptanceRules(config);
  const metrics = new Metrics({ defaultMetrics: true });
  // No destination given (fedgate serve): standard output, asynchronous and bounded (observability/logger.ts).
  const logSink =
    overrides.logDestination === undefined ? stdoutSink(config.log.bufferBytes) : undefined;
  const { log, audit } = createLoggers(
    config.log.level,
    overrides.logDestination ?? logSink,
    (ev) => {
      metrics.observeAudit(ev);
    },
  );
  if (logSink !== undefined) {
    registerLogSinkMetrics(metrics.registry, logSink);
    logSink.onDropsReported((lines) => {
      log.warn(
        { droppedLines: lines, bufferBytes: config.log.bufferBytes },
        'log lines dropped: standard output was not read and the log buffer was full',
      );
    });
  }
  const samlTrusts = new SamlTrustLoader({
    dir: resolve(config.baseDir, config.saml2.trustsDir),
    registry: trusts,
    log,
    clock,
    refreshMinutes: config.saml2.metadataRefreshMinutes,
  });
  await samlTrusts.load(true);
  samlTrusts.start();
  // OAuth application groups (issue 19): compiled now (a broken group stops startup), then kept current.
  const applicationLoader = new ApplicationLoader({
    dir: resolve(config.baseDir, config.oauth.applicationsDir),
    build: () => applicationRegistryFor(config, trusts),
    log,
    intervalSeconds: config.oauth.reloadIntervalSeconds,
  });
  applicationLoader.start();
  const store =
    overrides.store ??
    createStore(config.store, {
      clock,
      log,
      baseDir: config.baseDir,
      onError: (op) => {
        metrics.storeErrors.inc({ op });
      },
    });
  const directory = instrumentDirectory(
    overrides.directory ??
      (await createDirectory(config.directory, {
        logger: log,
        clock,
        baseDir: config.baseDir,
        onOperation: (op) => {
          metrics.ldapOperations.inc({ dc: op.url, op: op.op });
        },
        // What the claim rules read from the signed-in user's own entry: the directory cache keeps it with the user.
        cachedAttributes: ownEntryAttributes([
          ...trusts.parties.flatMap((p) => [p.rules.issuance, p.rules.authorization]),
          ...(acceptance === undefined ? [] : [acceptance]),
        ]),
        onCacheEvent: (e) => {
          directoryCache(audit, e);
        },
      })),
    metrics,
  );
  watchDirectoryCache(metrics, directory);
  // The directory cache reads the group graph now, so it is warm before the first sign-in (no-op without the cache).
  if (directory instanceof CachedDirectory) directory.start();
  const keyOptions = await keyMaterialOptions(config);
  const ring = new KeyRing({
    dir: config.keys.dir,
    hostname: config.hostname,
    clock,
    log,
    ...keyOptions,
    configured: configuredSigningFiles(config),
  });
  const domain = config.microsoft365.federatedDomains[0];
  const keyLifecycle = new KeyLifecycle({
    ring,
    hostname: config.hostname,
    clock,
    store,
    settings: config.keys.rollover,
    ...keyOptions,
    log,
    onChange: ({ certificateBase64, ...e }) => {
      keyChanged(audit, {
        ...e,
        // A new next certificate: the line that gives it to Entra ID now, for tenants that do not read metadata.
        ...(e.role === 'next' && certificateBase64 !== undefined
          ? { tenantCommand: nextSigningCertificateCommand(certificateBase64, domain) }
          : {}),
      });
    },
  });
  await keyLifecycle.bootstrap();
  await ring.load();
  if (ring.generated) {
    keyGenerated(audit, {
      use: 'signing',
      thumbprint: ring.primary.thumbprintSha1,
      dir: config.keys.dir,
    });
  }
  await keyLifecycle.start(config.keys.reloadIntervalSeconds * 1000);
  // The metadata document names every published certificate and is signed by the primary: rebuilt (and re-signed)
  // only when the ring changes, and the previous keys' grace ends.
  let metadataCache: { key: string; xml: string } | undefined;
  const metadataXml = (): string => {
    // No primary: reading it throws the deliberate 503 (the metadata must be signed by it).
    const primary = ring.primary;
    const published = ring.published();
    const key = `${primary.thumbprintSha1}|${published.map((c) => c.thumbprintSha1).join()}`;
    if (metadataCache?.key !== key) {
      metadataCache = {
        key,
        xml: buildFederationMetadata({
          issuerUri: config.issuerUri,
          publicUrl: config.publicUrl,
          displayName: config.displayName,
          signing: published,
          id: `_${random.uuid()}`,
          wantAuthnRequestsSigned: config.saml2.requireSignedRequests,
          securityTokenService: wsTrustMetadata(config),
        }),
      };
    }
    return metadataCache.xml;
  };
  metadataXml();
  const certificates = config.certificateAuth.enabled
    ? await CertificateAuthenticator.load(config.certificateAuth, {
        directory,
        clock,
        log,
        audit,
        baseDir: config.baseDir,
        fetcher: overrides.certificateFetcher,
      })
    : undefined;
  // Web themes (issue 17): the shipped one and branding.themesDir's; a theme that fails its checks stops startup
  // naming the file and the reason. `fedgate theme use` switches the farm's active theme through the store.
  const watched: (() => CertificateExpiryEntry[])[] = [
    () =>
      ring.entries().map((e) => ({
        use: 'signing' as const,
        role: e.role,
        thumbprint: e.credential.thumbprintSha1,
        subject: e.credential.subject,
        notAfter: e.credential.notAfter,
      })),
  ];
  if (certificates !== undefined) {
    watched.push(
      () =>
        certificates.caCertificates.map((c) => ({
          use: 'client-ca' as const,
          role: 'trust-anchor',
          thumbprint: c.thumbprintSha1,
          subject: c.subject.rdns
            .flat()
            .map((a) => a.value)
            .join(', '),
          notAfter: c.notAfter,
        })),
      () =>
        certificates.revocation.loadedCrls().map((c) => ({
          use: 'crl' as const,
          role: 'crl',
          thumbprint: c.id,
          subject: '',
          notAfter: c.nextUpdate,
        })),
    );
  }
  registerCertificateMetrics(metrics.registry, {
    entries: () => watched.flatMap((w) => w()),
    rollover: () => ({
      // Whether rollover is automatic at all (this node's checks, or a CronJob for a read-only keys.dir), not
      // whether this node runs it: the next-certificate alert then waits for the generation threshold either way, and
      // fires when neither made the key in time.
      auto: config.keys.rollover.auto && !ring.managedByAdmin,
      generationThresholdDays: config.keys.rollover.generationThresholdDays,
      promotionThresholdDays: config.keys.rollover.promotionThresholdDays,
      criticalThresholdDays: config.keys.rollover.criticalThresholdDays,
    }),
    clock,
  });
  const themes = new ThemeRegistry({
    shippedDir: join(packageRoot(), 'views', 'themes', 'default'),
    themesDir:
      config.branding.themesDir === undefined
        ? undefined
        : resolve(config.baseDir, config.branding.themesDir),
    active: config.branding.theme,
    store,
    clock,
    log,
  });
  themes.load();
  if (themes.byName(config.branding.theme) === undefined)
    throw new Error(
      `branding.theme: no theme named "${config.branding.theme}" (themes: ${themes.names().join(', ')})`,
    );
  themes.start();
  const views = new Views(join(packageRoot(), 'views'), config.displayName, {
    branding: config.branding,
    themes,
    catalogueDir:
      config.branding.catalogueDir === undefined
        ? undefined
        : resolve(config.baseDir, config.branding.catalogueDir),
  });
  const lockout = new SmartLockout({ store, clock, config: config.lockout });
  const spray = new SprayGuard({ store, clock, config: config.lockout });
  const sessionSecrets = config.session.secrets ?? [
    await loadOrCreateSessionSecret(config.keys.dir),
  ];
  const sessions = new SessionManager({
    store,
    clock,
    random,
    lifetimeMinutes: config.session.lifetimeMinutes,
    secrets: sessionSecrets,
  });
  const mfaSecrets = config.mfa.secrets ?? [await loadOrCreateMfaSecret(config.keys.dir)];
  const mfa = buildMfaRuntime(config, { store, clock, random, directory, secrets: mfaSecrets });
  const mfaPolicies = await MfaPolicies.build(config, directory, { trusts, log });
  const unusable = config.mfa.methods.filter((m) => !mfa.methods.includes(m));
  if (unusable.length > 0)
    log.warn(
      { methods: unusable },
      'MFA methods left out: totp and webauthn need mfa.enrolment.attribute with an ldap directory (docs/mfa-directory.md)',
    );
  if (mfa.methods.includes('webauthn')) {
    const problem = webAuthnSettingsProblem(mfa.webauthn);
    if (problem !== undefined) log.warn({ problem }, 'WebAuthn will not work in browsers');
  }
  return {
    config,
    clock,
    random,
    mfa,
    mfaPolicies,
    log,
    audit,
    store,
    directory,
    sessions,
    participants: new Participants({ store, clock }),
    lockout,
    spray,
    verifierKey: verifierKeyFrom(sessionSecrets[0] ?? ''),
    trusts,
    get applications() {
      return applicationLoader.current;
    },
    applicationLoader,
    samlTrusts,
    certificates,
    claims: new ClaimsEngine({
      directory,
      clock,
      acceptance,
      passwordChangeUrl: passwordChangeUrl(config, directory),
    }),
    get signing() {
      return ring.primary;
    },
    keys: ring,
    keyLifecycle,
    watchCertificates(source) {
      watched.push(source);
    },
    get metadataXml() {
      return metadataXml();
    },
    views,
    metrics,
    lifecycle: new Lifecycle(),
    logSink,
    themes,
    async close() {
      keyLifecycle.stop();
      applicationLoader.stop();
      samlTrusts.stop();
      themes.stop();
      await directory.close();
      await store.close();
    },
  };
}
