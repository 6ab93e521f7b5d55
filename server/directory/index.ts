import type { Config } from '../config/schema.ts';
import { EmbeddedDirectory } from './embedded.ts';
import { LdapDirectory } from './ldap.ts';
import type { DirectoryDeps, DirectoryProvider } from './types.ts';

export type * from './types.ts';
export { hashPassword } from './embedded.ts';

/**
 * Builds the configured directory; rejects on unreadable or invalid files (CA bundle, users file). No network
 * traffic happens here: LDAP connections open on first use.
 */
export function createDirectory(
  config: Config['directory'],
  deps: DirectoryDeps,
): Promise<DirectoryProvider> {
  try {
    return Promise.resolve(
      config.kind === 'ldap'
        ? new LdapDirectory(config, deps)
        : new EmbeddedDirectory(config, deps),
    );
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
