import { loadOrCreateSecretFile } from './secret-file.ts';

/**
 * The session secret in keys.dir (`session.secret`, 0600), made on first start when `session.secrets` is not
 * configured. A farm shares it by sharing keys.dir (read-only mount) or, better, by setting session.secrets.
 */
export function loadOrCreateSessionSecret(dir: string): Promise<string> {
  return loadOrCreateSecretFile(dir, 'session.secret');
}
