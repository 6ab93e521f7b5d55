/**
 * The AD FS claim rule language as a syntax tree (entra-protocol.md §6.1; [CRL] "The Role of the Claim Rule
 * Language"; the grammar of its Active Directory subset in "Claims Transformation Rules Language").
 */
import type { DotNetRegex } from './dotnet-regex.ts';

export interface SourcePosition {
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units. */
  column: number;
  /** 0-based offset into the source text. */
  offset: number;
}

/** A claim's selectable properties (`Type`, `Value`, `Issuer`, `OriginalIssuer`, `ValueType`, `Properties["…"]`). */
export type ClaimProperty =
  | { kind: 'type' | 'value' | 'issuer' | 'originalIssuer' | 'valueType' }
  | { kind: 'property'; name: string };

export type Expression =
  | { kind: 'literal'; value: string; pos: SourcePosition }
  | { kind: 'concat'; parts: Expression[]; pos: SourcePosition }
  | { kind: 'access'; variable: string; property: ClaimProperty; pos: SourcePosition }
  | {
      kind: 'regexReplace';
      input: Expression;
      pattern: Expression;
      replacement: Expression;
      /** Compiled at parse time when the pattern is a literal. */
      regex: DotNetRegex | undefined;
      pos: SourcePosition;
    };

export type TestOperator = '==' | '!=' | '=~' | '!~';

/** One test in a selector: `Value =~ "^x"`. */
export interface Test {
  property: ClaimProperty;
  operator: TestOperator;
  value: Expression;
  /** For =~ and !~ with a literal pattern. */
  regex: DotNetRegex | undefined;
  pos: SourcePosition;
}

/** `c:[Type == "…", Value == "…"]`; an empty test list matches every claim. */
export interface Selector {
  /** Canonical (lower-case) variable name; variables compare case-insensitively like every other word. */
  variable: string | undefined;
  /** As written, for messages and traces. */
  variableText: string | undefined;
  tests: Test[];
  pos: SourcePosition;
}

export type CountComparison = '==' | '!=' | '>' | '<' | '>=' | '<=';

export type Aggregate =
  | { kind: 'exists' | 'notExists'; selector: Selector; pos: SourcePosition }
  | {
      kind: 'count';
      selector: Selector;
      comparison: CountComparison;
      count: number;
      pos: SourcePosition;
    };

/** Selectors and aggregate functions cannot be mixed in one rule ([CRL] "Conditions"). */
export type Conditions =
  | { kind: 'none' }
  | { kind: 'selectors'; selectors: Selector[] }
  | { kind: 'aggregates'; aggregates: Aggregate[] };

export interface NewClaim {
  type: Expression;
  value: Expression | undefined;
  issuer: Expression | undefined;
  originalIssuer: Expression | undefined;
  valueType: Expression | undefined;
  properties: { name: string; value: Expression }[];
}

export interface StoreQuery {
  store: string;
  types: string[];
  query: Expression | undefined;
  params: Expression[];
  pos: SourcePosition;
}

export type Issuance =
  | { kind: 'copy'; variable: string; variableText: string }
  | { kind: 'new'; claim: NewClaim }
  | { kind: 'store'; store: StoreQuery };

export interface Rule {
  /** 1-based position of the rule in its rule set. */
  index: number;
  /** @RuleName, when given. */
  name: string | undefined;
  /** @RuleTemplate, when given. */
  template: string | undefined;
  conditions: Conditions;
  /** `issue` feeds later rules and the output; `add` feeds later rules only. */
  verb: 'issue' | 'add';
  issuance: Issuance;
  pos: SourcePosition;
  /** The rule's text as written (annotations included). */
  text: string;
}

export interface RuleSet {
  /** Where the rules came from (a file path or a preset name), for messages. */
  source: string;
  rules: Rule[];
}

/** "rule 3 \"Issue UPN\"" for messages and audit. */
export function describeRule(rule: Pick<Rule, 'index' | 'name'>): string {
  return rule.name === undefined ? `rule ${rule.index}` : `rule ${rule.index} "${rule.name}"`;
}
