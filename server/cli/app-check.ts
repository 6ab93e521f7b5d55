/**
 * `fedgate check` for OpenID Connect (issue 19): the application group files (every rule and certificate, each
 * problem named with its file), then the registry as the server builds it (inline groups, identifiers used twice,
 * also against relying-party trusts), and the settings that cannot work together.
 */
import { resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import { applicationRegistryFor, trustRegistryFor } from '../services.ts';
import { checkApplicationGroups } from '../trust/application-files.ts';

export function checkApplications(c: Config): { problems: string[]; warnings: string[] } {
  const warnings: string[] = [];
  if (!c.oauth.enabled) return { problems: [], warnings };
  const files = checkApplicationGroups(resolve(c.baseDir, c.oauth.applicationsDir), c.baseDir);
  const problems = [...files.problems];
  if (problems.length === 0) {
    try {
      applicationRegistryFor(c, trustRegistryFor(c));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (c.keys.pkcs11 !== undefined)
    warnings.push(
      'oauth: OpenID Connect signs with a key in a file; with keys.pkcs11 the OAuth endpoints answer 503 (set oauth.enabled: false to say so)',
    );
  if (c.oauth.pkceRequired === 'optional')
    warnings.push(
      'oauth.pkceRequired: optional lets a stolen authorization code be redeemed (RFC 9700 §2.1.1)',
    );
  if (c.oauth.allowImplicit)
    warnings.push(
      'oauth.allowImplicit: tokens travel in the browser’s address bar (RFC 9700 §2.1.2)',
    );
  return { problems, warnings };
}
