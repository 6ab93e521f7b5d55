/**
 * Do the Microsoft 365 issuance rules in effect read mS-DS-ConsistencyGuid? Only then is a missing or different
 * consistency GUID a sign-in problem (issue 21: "where the rules use it"): Entra Connect's rules issue it as the
 * ImmutableID when set and fall back to objectGUID (metadata/microsoft365.rules, entra-protocol.md §6).
 *
 * The rules are parsed with fedgate's own rule parser and their Active Directory store queries walked, so a comment
 * or a claim type that merely mentions the attribute does not count.
 */
import { configPath, loadRulesFile, presetPath } from '../claims/rule-sets.ts';
import type { RuleSet } from '../claims/rule-ast.ts';
import { adStoreQueries } from '../claims/rule-queries.ts';
import type { Config } from '../config/schema.ts';

const CONSISTENCY_GUID = 'ms-ds-consistencyguid';

/** Whether any Active Directory store query of `ruleSet` reads mS-DS-ConsistencyGuid. */
export function ruleSetReadsConsistencyGuid(ruleSet: RuleSet): boolean {
  return adStoreQueries(ruleSet).some((q) =>
    q.attributes.some((a) => a.ldap.toLowerCase() === CONSISTENCY_GUID),
  );
}

/**
 * Whether the Microsoft 365 issuance rules in effect (config.microsoft365.issuanceRulesFile resolved against
 * config.baseDir, else the shipped metadata/microsoft365.rules) read mS-DS-ConsistencyGuid through an Active
 * Directory attribute-store query. An unreadable or invalid rule file throws, naming the file (as `serve` would).
 */
export function rulesUseConsistencyGuid(config: Config): boolean {
  const file =
    configPath(config.baseDir, config.microsoft365.issuanceRulesFile) ??
    presetPath('microsoft365.rules');
  return ruleSetReadsConsistencyGuid(loadRulesFile(file));
}
