/**
 * Do the Microsoft 365 issuance rules in effect read mS-DS-ConsistencyGuid? Only then is a missing or different
 * consistency GUID a sign-in problem (issue 21: "where the rules use it"): Entra Connect's rules issue it as the
 * ImmutableID when set and fall back to objectGUID (metadata/microsoft365.rules, entra-protocol.md §6).
 *
 * The rules are parsed with fedgate's own rule parser and their Active Directory store queries walked, so a comment
 * or a claim type that merely mentions the attribute does not count.
 */
import { parseAdQuery, ACTIVE_DIRECTORY_STORE } from '../claims/ad-store.ts';
import { findByName } from '../claims/attribute-store.ts';
import type { Expression, RuleSet } from '../claims/rule-ast.ts';
import { configPath, loadRulesFile, presetPath } from '../claims/rule-sets.ts';
import type { Config } from '../config/schema.ts';

const CONSISTENCY_GUID = 'ms-ds-consistencyguid';

/** The query text when it is known before run time: a literal, or a concatenation of literals. */
function literalText(e: Expression | undefined): string | undefined {
  if (e === undefined) return undefined;
  if (e.kind === 'literal') return e.value;
  if (e.kind !== 'concat') return undefined;
  let text = '';
  for (const part of e.parts) {
    if (part.kind !== 'literal') return undefined;
    text += part.value;
  }
  return text;
}

/** Whether any Active Directory store query of `ruleSet` reads mS-DS-ConsistencyGuid. */
export function ruleSetReadsConsistencyGuid(ruleSet: RuleSet): boolean {
  for (const rule of ruleSet.rules) {
    if (rule.issuance.kind !== 'store') continue;
    const s = rule.issuance.store;
    if (findByName([{ name: ACTIVE_DIRECTORY_STORE }], s.store) === undefined) continue;
    const text = literalText(s.query);
    if (text === undefined) continue;
    let attributes: string[];
    try {
      attributes = parseAdQuery(text).attributes.map((a) => a.ldap.toLowerCase());
    } catch {
      continue; // not a query this store runs (compileRules refuses it anyway)
    }
    if (attributes.includes(CONSISTENCY_GUID)) return true;
  }
  return false;
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
