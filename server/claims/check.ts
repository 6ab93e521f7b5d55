/**
 * `fedgate check` for claim rules: compiles every rule file a configuration names (and the shipped presets it
 * falls back to) exactly as startup does, but reports every broken file instead of stopping at the first. Each
 * problem is `config.key: file:line:column: rule N "name": problem`.
 */
import type { Config } from '../config/schema.ts';
import {
  acceptanceRules,
  configPath,
  loadRulesFile,
  microsoft365Rules,
  presetPath,
} from './rule-sets.ts';

export interface RuleFilesReport {
  /** Every rule file that was compiled (absolute paths), in configuration order. */
  files: string[];
  /** One line per file that failed: the configuration key, then the compiler's file:line:column message. */
  problems: string[];
}

type RuleConfig = Pick<Config, 'baseDir' | 'microsoft365' | 'relyingParties'> & {
  claimsProvider?: Config['claimsProvider'] | undefined;
};

export function checkRuleFiles(config: RuleConfig): RuleFilesReport {
  const files: string[] = [];
  const problems: string[] = [];
  const attempt = (key: string, run: () => unknown): boolean => {
    try {
      run();
      return true;
    } catch (err) {
      problems.push(`${key}: ${(err as Error).message}`);
      return false;
    }
  };
  const file = (key: string, configured: string | undefined, preset: string): void => {
    const path = configPath(config.baseDir, configured) ?? presetPath(preset);
    if (files.includes(path)) return;
    files.push(path);
    attempt(key, () => loadRulesFile(path));
  };

  const m365 = config.microsoft365;
  file('microsoft365.issuanceRulesFile', m365.issuanceRulesFile, 'microsoft365.rules');
  file(
    'microsoft365.authorizationRulesFile',
    m365.authorizationRulesFile,
    'microsoft365.authorization.rules',
  );
  config.relyingParties.forEach((rp, i) => {
    file(`relyingParties[${i}].issuanceRulesFile`, rp.issuanceRulesFile, 'generic.rules');
    file(
      `relyingParties[${i}].authorizationRulesFile`,
      rp.authorizationRulesFile,
      'generic.authorization.rules',
    );
  });
  const acceptance = configPath(config.baseDir, config.claimsProvider?.acceptanceRulesFile);
  if (acceptance !== undefined) {
    files.push(acceptance);
    attempt('claimsProvider.acceptanceRulesFile', () => acceptanceRules(config));
  }
  // The Microsoft 365 issuance rules as they run: with the issuerid rules for the federated domains spliced in.
  if (problems.length === 0) {
    attempt('microsoft365', () =>
      microsoft365Rules({
        federatedDomains: m365.federatedDomains,
        issuanceRulesFile: configPath(config.baseDir, m365.issuanceRulesFile),
        authorizationRulesFile: configPath(config.baseDir, m365.authorizationRulesFile),
      }),
    );
  }
  return { files, problems };
}
