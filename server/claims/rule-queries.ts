/**
 * The Active Directory attribute-store queries a rule set runs, read from the parsed rules (never by grepping the
 * text, so a comment or a claim type that merely mentions an attribute does not count). Used by `fedgate doctor`
 * (does the ImmutableID rule read mS-DS-ConsistencyGuid?) and by the directory cache (which attributes of the
 * signed-in user's own entry the rules read, so a warm sign-in answers them without a DC round trip).
 */
import { ACTIVE_DIRECTORY_STORE, parseAdQuery, type AdQuery } from './ad-store.ts';
import { findByName } from './attribute-store.ts';
import type { Expression, RuleSet } from './rule-ast.ts';

/** The query text when it is known before run time: a literal, or a concatenation of literals. */
export function literalText(e: Expression | undefined): string | undefined {
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

/** Every Active Directory store query of `ruleSet` whose text is a literal, parsed (ones the store refuses skipped). */
export function adStoreQueries(ruleSet: RuleSet): AdQuery[] {
  const out: AdQuery[] = [];
  for (const rule of ruleSet.rules) {
    if (rule.issuance.kind !== 'store') continue;
    const s = rule.issuance.store;
    if (findByName([{ name: ACTIVE_DIRECTORY_STORE }], s.store) === undefined) continue;
    const text = literalText(s.query);
    if (text === undefined) continue;
    try {
      out.push(parseAdQuery(text));
    } catch {
      // not a query this store runs (compileRules refuses it anyway)
    }
  }
  return out;
}

/**
 * LDAP attributes the rule sets read from an account's own entry: queries with no filter (`;mail,displayName;{0}`)
 * and the `samAccountName={n}` look-up the Microsoft 365 rules use. Sorted, each once, as first spelled.
 */
export function ownEntryAttributes(ruleSets: Iterable<RuleSet>): string[] {
  const seen = new Map<string, string>();
  for (const rs of ruleSets)
    for (const q of adStoreQueries(rs)) {
      const filter = q.filter.trim();
      if (filter !== '' && !/^\(?\s*samaccountname\s*=\s*\{\d+\}\s*\)?$/i.test(filter)) continue;
      for (const a of q.attributes)
        if (!seen.has(a.ldap.toLowerCase())) seen.set(a.ldap.toLowerCase(), a.ldap);
    }
  return [...seen.values()].sort((a, b) => a.localeCompare(b));
}
