/**
 * What `fedgate check` validates beyond the schema, as one function: `check` fails on the problems, and `doctor`
 * reports them (and the warnings) among its findings, so a configuration doctor passes is one `check` accepts.
 */
import { pino } from 'pino';
import { checkCertificateFiles } from '../authn/certificate/authenticator.ts';
import { checkMfaPolicy } from '../authn/mfa/trust-policy.ts';
import { checkRuleFiles } from '../claims/check.ts';
import type { Config } from '../config/schema.ts';
import { createDirectory, uncached } from '../directory/index.ts';
import { rolloverWarnings } from '../keys/rollover-plan.ts';
import { systemClock } from '../lib/clock.ts';
import { storeWarnings } from '../stores/index.ts';
import { checkApplications } from './app-check.ts';
import { checkBranding } from './branding-check.ts';
import { checkSamlTrusts } from './rp.ts';

export interface ConfigurationCheck {
  problems: string[];
  warnings: string[];
  /** Claim rule files compiled. */
  ruleFiles: number;
}

export async function checkConfiguration(c: Config): Promise<ConfigurationCheck> {
  // Every claim rule file, compiled as startup would; all broken files reported.
  const rules = checkRuleFiles(c);
  const saml = checkSamlTrusts(c);
  const certs = checkCertificateFiles(c.certificateAuth, c.baseDir);
  // MFA rule files (global, per trust, SAML trust files) and group names, looked up in the directory.
  const mfa = await checkMfaPolicy(c, () =>
    createDirectory(uncached(c.directory), {
      logger: pino({ level: 'silent' }),
      clock: systemClock,
      baseDir: c.baseDir,
    }),
  );
  // Catalogues, themes (files, contrast) and the languages and themes the configuration names (issue 17).
  const branding = checkBranding(c);
  // OAuth application groups (issue 19): every group file's rules and certificates, then the whole registry as the
  // server builds it (inline groups, identifiers used twice, also against relying-party trusts).
  const apps = checkApplications(c);
  return {
    problems: [
      ...rules.problems,
      ...saml.problems,
      ...certs,
      ...mfa.problems,
      ...branding.problems,
      ...apps.problems,
    ],
    warnings: [
      ...storeWarnings(c.store),
      ...mfa.warnings,
      ...branding.warnings,
      ...rolloverWarnings(c.keys.rollover),
      ...apps.warnings,
    ],
    ruleFiles: rules.files.length,
  };
}
