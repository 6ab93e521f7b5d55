import type { DestinationStream, Logger } from 'pino';
import { SessionManager } from './authn/session.ts';
import { ClaimsEngine } from './claims/engine.ts';
import type { Config } from './config/schema.ts';
import { createDirectory } from './directory/index.ts';
import type { DirectoryProvider } from './directory/types.ts';
import { Views } from './http/views.ts';
import { loadOrCreateSigningCredential } from './keys/index.ts';
import type { SigningCredential } from './keys/types.ts';
import { systemClock, type Clock } from './lib/clock.ts';
import { packageRoot } from './lib/paths.ts';
import { cryptoRandom, type Random } from './lib/random.ts';
import { createLoggers } from './observability/logger.ts';
import { buildFederationMetadata } from './protocols/metadata/federation-metadata.ts';
import { MemoryStore } from './stores/memory.ts';
import type { ArtifactStore } from './stores/types.ts';
import { TrustRegistry } from './trust/registry.ts';
import { join, resolve } from 'node:path';

export interface Services {
  config: Config;
  clock: Clock;
  random: Random;
  log: Logger;
  audit: Logger;
  store: ArtifactStore;
  directory: DirectoryProvider;
  sessions: SessionManager;
  trusts: TrustRegistry;
  /** Runs a relying party's claim rules (authorization, then issuance). */
  claims: ClaimsEngine;
  signing: SigningCredential;
  /** Signed federation metadata, built once at start (it changes only with keys or configuration). */
  metadataXml: string;
  views: Views;
  close(): Promise<void>;
}

export interface ServiceOverrides {
  clock?: Clock;
  random?: Random;
  logDestination?: DestinationStream;
  directory?: DirectoryProvider;
  store?: ArtifactStore;
}

/** The relying-party trusts of a configuration (compiles every rule set; throws on a rule file that does not parse). */
export function trustRegistryFor(config: Config): TrustRegistry {
  return new TrustRegistry(config.relyingParties, {
    testRelyingPartyReply: config.testRelyingParty
      ? `${config.publicUrl}/adfs/test/result`
      : undefined,
    baseDir: config.baseDir,
    microsoft365: config.microsoft365,
  });
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
  const { log, audit } = createLoggers(config.log.level, overrides.logDestination);
  const store = overrides.store ?? new MemoryStore(clock);
  const directory =
    overrides.directory ??
    (await createDirectory(config.directory, { logger: log, clock, baseDir: config.baseDir }));
  const signingResult = await loadOrCreateSigningCredential({
    dir: config.keys.dir,
    hostname: config.hostname,
    clock,
    ...(config.keys.signing === undefined
      ? {}
      : {
          configured: {
            certFile: resolve(config.baseDir, config.keys.signing.cert),
            keyFile: resolve(config.baseDir, config.keys.signing.key),
          },
        }),
  });
  if (signingResult.generated) {
    audit.info(
      {
        event: 'key_generated',
        use: 'signing',
        thumbprint: signingResult.thumbprintSha1,
        dir: config.keys.dir,
      },
      'generated a token-signing key',
    );
  }
  if (signingResult.warning !== undefined)
    log.warn({ thumbprint: signingResult.thumbprintSha1 }, signingResult.warning);
  const signing: SigningCredential = signingResult;
  const metadataXml = buildFederationMetadata({
    issuerUri: config.issuerUri,
    publicUrl: config.publicUrl,
    displayName: config.displayName,
    signing: [signing],
    id: `_${random.uuid()}`,
  });
  const views = new Views(join(packageRoot(), 'views'), config.displayName);
  const sessions = new SessionManager({
    store,
    clock,
    random,
    lifetimeMinutes: config.session.lifetimeMinutes,
  });
  return {
    config,
    clock,
    random,
    log,
    audit,
    store,
    directory,
    sessions,
    trusts,
    claims: new ClaimsEngine({ directory, clock }),
    signing,
    metadataXml,
    views,
    async close() {
      await directory.close();
      await store.close();
    },
  };
}
