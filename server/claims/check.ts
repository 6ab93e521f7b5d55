/**
 * `fedgate check` for claim rules: compiles every rule file a configuration names (and the shipped presets it
 * falls back to) exactly as startup does, but reports every broken file instead of stopping at the first. Each
 * problem is `config.key: file:line:column: rule N "name": problem`.
 */
import type { Config } from '../config/schema.ts';
import { isXmlSafe } from '../lib/xml-escape.ts';
import type { Expression, Rule, RuleSet, SourcePosition } from './rule-ast.ts';
import { RuleError } from './rule-parser.ts';
import {
  acceptanceRules,
  configPath,
  loadRulesFile,
  microsoft365Rules,
  presetPath,
} from './rule-sets.ts';
import { ClaimTypes, NameIdFormatProperty } from './types.ts';

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
    attempt(key, () => {
      const problem = tokenProblems(loadRulesFile(path))[0];
      if (problem !== undefined) throw problem;
    });
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

/**
 * What the parser accepts but no token can carry (issue 14 §8): a rule whose literal claim type is empty (SAML
 * needs an attribute name), a literal holding characters XML 1.0 cannot carry (the token writers refuse them at
 * sign-in), a nameidentifier format property that is empty, or a nameidentifier given a format but an empty value
 * (a Format with no NameID). Only literals are judged here: values read from claims or stores are checked when
 * the token is written, where a failure is an audited `issuance_failed` page (server/protocols/issuance/request-context.ts),
 * not a 500. One RuleError per problem, with the file, line, column and rule.
 */
export function tokenProblems(ruleSet: RuleSet): RuleError[] {
  const out: RuleError[] = [];
  const report = (rule: Rule, pos: SourcePosition, detail: string): void => {
    out.push(new RuleError(ruleSet.source, pos, rule, detail));
  };
  const literal = (e: Expression | undefined): string | undefined =>
    e?.kind === 'literal' ? e.value : undefined;
  for (const rule of ruleSet.rules) {
    const iss = rule.issuance;
    if (iss.kind === 'store') {
      for (const t of iss.store.types)
        if (t === '') report(rule, iss.store.pos, 'a claim type in types = (…) is empty');
      continue;
    }
    if (iss.kind !== 'new') continue;
    const c = iss.claim;
    const type = literal(c.type);
    if (type === '')
      report(rule, c.type.pos, 'the claim type is empty (a token attribute needs a name)');
    const literals: [string, Expression | undefined][] = [
      ['Type', c.type],
      ['Value', c.value],
      ['Issuer', c.issuer],
      ['OriginalIssuer', c.originalIssuer],
      ['ValueType', c.valueType],
      ...c.properties.map((p): [string, Expression] => [`Properties["${p.name}"]`, p.value]),
    ];
    for (const [what, e] of literals) {
      const v = literal(e);
      if (e !== undefined && v !== undefined && !isXmlSafe(v))
        report(rule, e.pos, `${what} holds characters XML 1.0 cannot carry (control characters)`);
    }
    if (type !== ClaimTypes.nameIdentifier) continue;
    const format = c.properties.find((p) => p.name === NameIdFormatProperty);
    if (format !== undefined && literal(format.value) === '')
      report(rule, format.value.pos, 'the nameidentifier format property is empty');
    if (format !== undefined && c.value !== undefined && literal(c.value) === '')
      report(rule, c.value.pos, 'a nameidentifier with a format but an empty value');
  }
  return out;
}
