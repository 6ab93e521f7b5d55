import type { Config } from '../config/schema.ts';
import { CachedDirectory } from './cache/cached-directory.ts';
import { GroupGraph } from './cache/group-graph.ts';
import { ChangeTracker } from './cache/tracker.ts';
import { EmbeddedDirectory } from './embedded.ts';
import { LdapDirectory } from './ldap.ts';
import type { DirectoryDeps, DirectoryProvider } from './types.ts';

export type * from './types.ts';
export { hashPassword } from './embedded.ts';
export { CachedDirectory } from './cache/cached-directory.ts';

/**
 * Builds the configured directory; rejects on unreadable or invalid files (CA bundle, users file). No network
 * traffic happens here: LDAP connections open on first use. An LDAP directory with directory.cache
 * maxStalenessSeconds > 0 is wrapped in the directory cache (CachedDirectory: change tracking starts on first use,
 * or when the service calls start()); 0 gives the plain LdapDirectory.
 */
export function createDirectory(
  config: Config['directory'],
  deps: DirectoryDeps,
): Promise<DirectoryProvider> {
  try {
    if (config.kind !== 'ldap') return Promise.resolve(new EmbeddedDirectory(config, deps));
    const inner = new LdapDirectory(config, deps);
    if (config.cache.maxStalenessSeconds <= 0) return Promise.resolve(inner);
    return Promise.resolve(
      new CachedDirectory(inner, config, deps, {
        graph: new GroupGraph(),
        createTracker: (graph, options, events) =>
          new ChangeTracker(config, graph, options, {
            logger: deps.logger,
            clock: deps.clock,
            baseDir: deps.baseDir,
            onOperation: deps.onOperation,
            events,
          }),
      }),
    );
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * The directory section with the cache off: for the one-shot commands (`fedgate claims`, `lockout`, `mfa`, `check`),
 * which look up a user or two and exit, so a full read of the group graph would only cost the DC.
 */
export function uncached(config: Config['directory']): Config['directory'] {
  return config.kind === 'ldap'
    ? { ...config, cache: { ...config.cache, maxStalenessSeconds: 0 } }
    : config;
}
