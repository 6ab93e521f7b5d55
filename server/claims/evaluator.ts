/**
 * Runs a rule set the way the AD FS claims engine does ([CRL]; "The Role of the Claims Engine"):
 *  - Rules run in order. The working ("input") set starts as the input claims; `add` appends to it, `issue`
 *    appends to it AND to the output. Each rule matches against the working set as it was when the rule began.
 *  - A rule with claim selectors fires once per combination of claims (one per selector, the cartesian product
 *    over the working set) that satisfies every selector; a selector's tests may use variables bound by the
 *    selectors before it. A rule with EXISTS / NOT EXISTS / COUNT fires once when they all hold; a rule without
 *    conditions fires once.
 *  - Claims created without Issuer = … get LOCAL AUTHORITY (OriginalIssuer = the issuer, as in .NET's Claim);
 *    ValueType defaults to xs:string. `issue(claim = c)` puts c, unchanged, in the output; with `add` it has no
 *    effect (c is already in the working set) [CRL "Claim copy"]. Attribute store values become claims issued by
 *    LOCAL AUTHORITY. The output keeps duplicates, as AD FS does.
 *  - `==` and `!=` compare ordinally (case-sensitive), as .NET string equality does; use `=~ "(?i)…"` for
 *    case-insensitive matches (what the AD FS templates generate).
 * Pure apart from the attribute stores it queries.
 */
import { FederationError } from '../lib/errors.ts';
import { findByName, type AttributeStore } from './attribute-store.ts';
import {
  dotNetRegex,
  isMatch,
  regexReplace,
  RegexTranslationError,
  type DotNetRegex,
} from './dotnet-regex.ts';
import {
  describeRule,
  type ClaimProperty,
  type Expression,
  type Rule,
  type RuleSet,
  type Selector,
  type Test,
} from './rule-ast.ts';
import { ClaimValueTypes, LOCAL_AUTHORITY, type Claim, type ClaimSet } from './types.ts';

/** Guards against rules whose combinations explode (e.g. four unconstrained selectors over many groups). */
export const MAX_FIRINGS_PER_RULE = 10_000;
export const MAX_CLAIMS = 20_000;

export interface RuleTrace {
  index: number;
  name: string | undefined;
  verb: 'issue' | 'add';
  /** How many times the issuance ran. */
  firings: number;
  /** Claims the rule created (added or issued). */
  claims: Claim[];
  /** Why nothing happened, or other remarks. */
  note?: string | undefined;
}

export interface EvaluationResult {
  /** Issued claims, in order. */
  output: Claim[];
  /** The working set after the last rule (input + added + issued). */
  working: Claim[];
  trace: RuleTrace[];
}

/** A rule failed while running (a store error, a regex built at run time that cannot be translated, limits). */
export class RuleEvaluationError extends Error {
  readonly ruleIndex: number;
  readonly ruleName: string | undefined;
  constructor(source: string, rule: Rule, message: string, cause?: unknown) {
    super(
      `${source}: ${describeRule(rule)}: ${message}`,
      cause === undefined ? undefined : { cause },
    );
    this.name = 'RuleEvaluationError';
    this.ruleIndex = rule.index;
    this.ruleName = rule.name;
  }
}

type Bindings = ReadonlyMap<string, Claim>;

function property(claim: Claim, p: ClaimProperty): string {
  switch (p.kind) {
    case 'type':
      return claim.type;
    case 'value':
      return claim.value;
    case 'issuer':
      return claim.issuer ?? '';
    case 'originalIssuer':
      return claim.originalIssuer ?? claim.issuer ?? '';
    case 'valueType':
      return claim.valueType ?? ClaimValueTypes.string;
    case 'property':
      // [CRL]: an empty string when the claim has no such property.
      return claim.properties?.[p.name] ?? '';
  }
}

function regexOf(compiled: DotNetRegex | undefined, pattern: string): DotNetRegex {
  return compiled ?? dotNetRegex(pattern);
}

/** Recursive over RegExReplace nesting, which the parser bounds (MAX_EXPRESSION_NESTING in rule-parser.ts). */
function evaluate(e: Expression, b: Bindings): string {
  switch (e.kind) {
    case 'literal':
      return e.value;
    case 'concat':
      return e.parts.map((p) => evaluate(p, b)).join('');
    case 'access': {
      const claim = b.get(e.variable);
      if (claim === undefined) throw new Error(`variable ${e.variable} is not bound`);
      return property(claim, e.property);
    }
    case 'regexReplace': {
      const input = evaluate(e.input, b);
      const regex = regexOf(e.regex, evaluate(e.pattern, b));
      return regexReplace(regex, input, evaluate(e.replacement, b));
    }
  }
}

function passes(test: Test, claim: Claim, b: Bindings): boolean {
  const actual = property(claim, test.property);
  const expected = evaluate(test.value, b);
  switch (test.operator) {
    case '==':
      return actual === expected;
    case '!=':
      return actual !== expected;
    case '=~':
      return isMatch(regexOf(test.regex, expected), actual);
    case '!~':
      return !isMatch(regexOf(test.regex, expected), actual);
  }
}

function selects(sel: Selector, claim: Claim, b: Bindings): boolean {
  return sel.tests.every((t) => passes(t, claim, b));
}

/** Every combination of claims satisfying the selectors, each as variable bindings. */
function combinations(selectors: readonly Selector[], claims: readonly Claim[]): Bindings[] {
  const out: Bindings[] = [];
  // One frame per selector: the parser bounds selectors per rule (MAX_CONDITIONS in rule-parser.ts).
  const walk = (i: number, b: Map<string, Claim>): void => {
    const sel = selectors[i];
    if (sel === undefined) {
      if (out.length >= MAX_FIRINGS_PER_RULE)
        throw new Error(`more than ${MAX_FIRINGS_PER_RULE} matching claim combinations`);
      out.push(new Map(b));
      return;
    }
    for (const claim of claims) {
      if (!selects(sel, claim, b)) continue;
      if (sel.variable !== undefined) b.set(sel.variable, claim);
      walk(i + 1, b);
      if (sel.variable !== undefined) b.delete(sel.variable);
    }
  };
  walk(0, new Map());
  return out;
}

function count(sel: Selector, claims: readonly Claim[]): number {
  const none = new Map<string, Claim>();
  return claims.filter((c) => selects(sel, c, none)).length;
}

function compare(n: number, op: string, k: number): boolean {
  switch (op) {
    case '==':
      return n === k;
    case '!=':
      return n !== k;
    case '>':
      return n > k;
    case '<':
      return n < k;
    case '>=':
      return n >= k;
    default:
      return n <= k;
  }
}

/** The variable bindings the rule fires with (an empty list when its conditions do not hold). */
function firings(rule: Rule, claims: readonly Claim[]): Bindings[] {
  const c = rule.conditions;
  if (c.kind === 'none') return [new Map()];
  if (c.kind === 'selectors') return combinations(c.selectors, claims);
  const holds = c.aggregates.every((a) => {
    const n = count(a.selector, claims);
    if (a.kind !== 'count') return a.kind === 'exists' ? n > 0 : n === 0;
    return compare(n, a.comparison, a.count);
  });
  return holds ? [new Map()] : [];
}

async function issue(
  rule: Rule,
  b: Bindings,
  stores: readonly AttributeStore[],
): Promise<Claim[] | 'no_effect'> {
  const i = rule.issuance;
  if (i.kind === 'copy') {
    if (rule.verb === 'add') return 'no_effect';
    const claim = b.get(i.variable);
    if (claim === undefined) throw new Error(`variable ${i.variableText} is not bound`);
    return [claim];
  }
  if (i.kind === 'new') {
    const n = i.claim;
    const issuer = n.issuer === undefined ? LOCAL_AUTHORITY : evaluate(n.issuer, b);
    const properties: Record<string, string> = {};
    for (const p of n.properties) properties[p.name] = evaluate(p.value, b);
    return [
      {
        type: evaluate(n.type, b),
        value: n.value === undefined ? '' : evaluate(n.value, b),
        issuer,
        originalIssuer: n.originalIssuer === undefined ? issuer : evaluate(n.originalIssuer, b),
        valueType: n.valueType === undefined ? ClaimValueTypes.string : evaluate(n.valueType, b),
        ...(n.properties.length === 0 ? {} : { properties }),
      },
    ];
  }
  const s = i.store;
  const store = findByName(stores, s.store);
  if (store === undefined) throw new Error(`attribute store "${s.store}" is not available`);
  const query = s.query === undefined ? '' : evaluate(s.query, b);
  const params = s.params.map((p) => evaluate(p, b));
  const columns = await store.query(query, params);
  if (columns.length !== s.types.length)
    throw new Error(
      `store "${store.name}" returned ${columns.length} columns for ${s.types.length} claim types`,
    );
  const out: Claim[] = [];
  columns.forEach((values, col) => {
    const type = s.types[col] ?? '';
    for (const value of values)
      out.push({
        type,
        value,
        issuer: LOCAL_AUTHORITY,
        originalIssuer: LOCAL_AUTHORITY,
        valueType: ClaimValueTypes.string,
      });
  });
  return out;
}

/** Runs `ruleSet` over `input`. Throws RuleEvaluationError (or the store's FederationError) when a rule fails. */
export async function evaluateRules(
  ruleSet: RuleSet,
  input: ClaimSet,
  stores: readonly AttributeStore[],
): Promise<EvaluationResult> {
  const working: Claim[] = [...input];
  const output: Claim[] = [];
  const trace: RuleTrace[] = [];
  for (const rule of ruleSet.rules) {
    const entry: RuleTrace = {
      index: rule.index,
      name: rule.name,
      verb: rule.verb,
      firings: 0,
      claims: [],
    };
    trace.push(entry);
    try {
      const snapshot = working.slice();
      const matches = firings(rule, snapshot);
      if (matches.length === 0) entry.note = 'conditions not met';
      for (const b of matches) {
        entry.firings++;
        const made = await issue(rule, b, stores);
        if (made === 'no_effect') {
          entry.note = 'claim copy with add has no effect';
          continue;
        }
        entry.claims.push(...made);
        // A copied claim is already in the working set; only new claims join it.
        if (rule.issuance.kind !== 'copy') working.push(...made);
        if (rule.verb === 'issue') output.push(...made);
      }
      if (working.length + output.length > MAX_CLAIMS)
        throw new Error(`more than ${MAX_CLAIMS} claims`);
    } catch (err) {
      if (err instanceof FederationError) throw err;
      const message =
        err instanceof RegexTranslationError
          ? `regular expression: ${err.message}`
          : (err as Error).message;
      throw new RuleEvaluationError(ruleSet.source, rule, message, err);
    }
  }
  return { output, working, trace };
}
