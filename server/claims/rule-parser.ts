/**
 * Parser for the AD FS claim rule language: a handwritten recursive-descent parser. No maintained JavaScript
 * library parses this language (it exists only inside AD FS and, as a subset, Windows' claims transformation
 * policies), so fedgate has its own. Grammar, as AD FS accepts it (keywords case-insensitive):
 *
 *   rule-set    := rule*
 *   rule        := annotation* conditions? "=>" ("issue" | "add") "(" issuance ")" ";"
 *   annotation  := "@RuleName" "=" STRING | "@RuleTemplate" "=" STRING
 *   conditions  := condition ("&&" condition)*        -- all selectors, or all aggregates, never mixed
 *   condition   := selector | "EXISTS" "(" selector ")" | "NOT" "EXISTS" "(" selector ")"
 *                | "COUNT" "(" selector ")" ("=="|"!="|">"|"<"|">="|"<=") NUMBER
 *   selector    := (IDENT ":")? "[" (test ("," test)*)? "]"
 *   test        := property ("==" | "!=" | "=~" | "!~") expr
 *   property    := "Type" | "Value" | "Issuer" | "OriginalIssuer" | "ValueType" | "Properties" "[" STRING "]"
 *   issuance    := "claim" "=" IDENT
 *                | assignment ("," assignment)*       -- property "=" expr; Type required; order free
 *                | "store" "=" STRING "," "types" "=" "(" STRING ("," STRING)* ")"
 *                  ("," "query" "=" expr ("," "param" "=" expr)*)?
 *   expr        := primary ("+" primary)*
 *   primary     := STRING | IDENT "." property | "RegExReplace" "(" expr "," expr "," expr ")"
 *
 * A variable may be used in the tests of a later selector and in the issuance, never in its own selector
 * ([CRL]). Regular expressions given as literals are translated to JavaScript here (dotnet-regex.ts), so a
 * pattern with no faithful translation is a load-time error, not a sign-in failure.
 */
import { dotNetRegex, RegexTranslationError, type DotNetRegex } from './dotnet-regex.ts';
import type {
  Aggregate,
  ClaimProperty,
  Conditions,
  CountComparison,
  Expression,
  Issuance,
  NewClaim,
  Rule,
  RuleSet,
  Selector,
  SourcePosition,
  Test,
  TestOperator,
} from './rule-ast.ts';
import { describeRule } from './rule-ast.ts';
import { LexError, Lexer, type Token, type TokenKind } from './rule-lexer.ts';

/** A rule that cannot be used: `file:line:col: rule 3 "Issue UPN": message`. */
export class RuleError extends Error {
  readonly source: string;
  readonly line: number;
  readonly column: number;
  readonly ruleIndex: number;
  readonly ruleName: string | undefined;
  readonly detail: string;
  constructor(
    source: string,
    pos: Pick<SourcePosition, 'line' | 'column'>,
    rule: { index: number; name: string | undefined },
    detail: string,
  ) {
    super(`${source}:${pos.line}:${pos.column}: ${describeRule(rule)}: ${detail}`);
    this.name = 'RuleError';
    this.source = source;
    this.line = pos.line;
    this.column = pos.column;
    this.ruleIndex = rule.index;
    this.ruleName = rule.name;
    this.detail = detail;
  }
}

class Failure extends Error {
  readonly pos: SourcePosition;
  constructor(message: string, pos: SourcePosition) {
    super(message);
    this.pos = pos;
  }
}

const PROPERTY_WORDS: Record<string, Exclude<ClaimProperty['kind'], 'property'>> = {
  type: 'type',
  value: 'value',
  issuer: 'issuer',
  originalissuer: 'originalIssuer',
  valuetype: 'valueType',
};

const TEST_OPERATORS = new Set<TokenKind>(['==', '!=', '=~', '!~']);
const COUNT_OPERATORS = new Set<TokenKind>(['==', '!=', '>', '<', '>=', '<=']);

function describeToken(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'the end of the text';
    case 'string':
      return `"${t.text.length > 40 ? `${t.text.slice(0, 40)}…` : t.text}"`;
    case 'word':
    case 'number':
      return `"${t.text}"`;
    case 'annotation':
      return `"@${t.text}"`;
    default:
      return `"${t.kind}"`;
  }
}

/** Column of character `index` of a string literal's content (strings have no escapes, so it is 1:1). */
function inString(token: { pos: SourcePosition }, index: number): SourcePosition {
  return {
    line: token.pos.line,
    column: token.pos.column + 1 + index,
    offset: token.pos.offset + 1 + index,
  };
}

/**
 * RegExReplace(…) calls nested inside one another. The parser reads them by recursive descent and the evaluator
 * evaluates them recursively, so nesting is bounded here, with the file and position, before either could exhaust
 * the stack (issue 14 §1: no recursion over unbounded input; rule files are admin-supplied but fuzzed). AD FS rule
 * sets nest two or three deep at most.
 */
export const MAX_EXPRESSION_NESTING = 16;

/**
 * Claim selectors (or aggregates) joined by && in one rule. The evaluator binds selectors one level at a time
 * (one stack frame each), so this also bounds that recursion. AD FS rules join a handful.
 */
export const MAX_CONDITIONS = 64;

class Parser {
  readonly #text: string;
  #nesting = 0;
  readonly #lexer: Lexer;
  readonly #buffer: Token[] = [];

  constructor(text: string) {
    this.#text = text;
    this.#lexer = new Lexer(text);
  }

  #peek(n = 0): Token {
    while (this.#buffer.length <= n) {
      try {
        this.#buffer.push(this.#lexer.next());
      } catch (err) {
        if (err instanceof LexError) throw new Failure(err.message, err.pos);
        throw err;
      }
    }
    return this.#buffer[n] as Token;
  }

  #take(): Token {
    const t = this.#peek();
    this.#buffer.shift();
    return t;
  }

  #expect(kind: TokenKind, what: string = `"${kind}"`): Token {
    const t = this.#peek();
    if (t.kind !== kind) throw new Failure(`expected ${what}, found ${describeToken(t)}`, t.pos);
    return this.#take();
  }

  #isWord(word: string, n = 0): boolean {
    const t = this.#peek(n);
    return t.kind === 'word' && t.text.toLowerCase() === word;
  }

  #expectWord(word: string, what: string = `"${word}"`): Token {
    if (!this.#isWord(word))
      throw new Failure(`expected ${what}, found ${describeToken(this.#peek())}`, this.#peek().pos);
    return this.#take();
  }

  parse(source: string): RuleSet {
    const rules: Rule[] = [];
    for (;;) {
      const index = rules.length + 1;
      const info: { index: number; name: string | undefined } = { index, name: undefined };
      try {
        // Inside the try: a character the lexer refuses at the start of a rule (e.g. NUL, found by npm run fuzz)
        // must become a RuleError with file:line:column like any other, not an internal error without a position.
        if (this.#peek().kind === 'eof') break;
        rules.push(this.#rule(info));
      } catch (err) {
        if (err instanceof Failure) throw new RuleError(source, err.pos, info, err.message);
        throw err;
      }
    }
    return { source, rules };
  }

  #rule(info: { index: number; name: string | undefined }): Rule {
    const start = this.#peek().pos;
    let template: string | undefined;
    while (this.#peek().kind === 'annotation') {
      const a = this.#take();
      this.#expect('=', '"=" after the annotation');
      const value = this.#expect('string', 'a string value for the annotation').text;
      const name = a.text.toLowerCase();
      if (name === 'rulename') info.name = value;
      else if (name === 'ruletemplate') template = value;
      else
        throw new Failure(
          `unknown annotation "@${a.text}" (AD FS knows @RuleName and @RuleTemplate)`,
          a.pos,
        );
    }
    const scope: string[] = [];
    const conditions =
      this.#peek().kind === '=>' ? { kind: 'none' as const } : this.#conditions(scope);
    this.#expect('=>', '"=>" between the conditions and issue(…) or add(…)');
    const verbToken = this.#peek();
    const verb = verbToken.kind === 'word' ? verbToken.text.toLowerCase() : '';
    if (verb !== 'issue' && verb !== 'add')
      throw new Failure(
        `expected issue(…) or add(…), found ${describeToken(verbToken)}`,
        verbToken.pos,
      );
    this.#take();
    this.#expect('(', '"(" after ' + verb);
    const issuance = this.#issuance(scope);
    this.#expect(')', '")" closing ' + verb + '(…)');
    const end = this.#expect(';', '";" at the end of the rule');
    return {
      index: info.index,
      name: info.name,
      template,
      conditions,
      verb,
      issuance,
      pos: start,
      text: this.#text.slice(start.offset, end.end),
    };
  }

  #conditions(scope: string[]): Conditions {
    const selectors: Selector[] = [];
    const aggregates: Aggregate[] = [];
    for (;;) {
      const t = this.#peek();
      const aggregate =
        (this.#isWord('exists') && this.#peek(1).kind === '(') ||
        (this.#isWord('count') && this.#peek(1).kind === '(') ||
        (this.#isWord('not') && this.#isWord('exists', 1));
      if (aggregate) {
        if (selectors.length > 0)
          throw new Failure(
            'a rule cannot mix claim selectors with EXISTS/NOT EXISTS/COUNT (AD FS does not allow it)',
            t.pos,
          );
        aggregates.push(this.#aggregate());
      } else {
        if (aggregates.length > 0)
          throw new Failure(
            'a rule cannot mix EXISTS/NOT EXISTS/COUNT with claim selectors (AD FS does not allow it)',
            t.pos,
          );
        const sel = this.#selector(scope, true);
        if (sel.variable !== undefined) scope.push(sel.variable);
        selectors.push(sel);
      }
      if (this.#peek().kind !== '&&') break;
      const and = this.#take();
      if (selectors.length + aggregates.length >= MAX_CONDITIONS)
        throw new Failure(`more than ${MAX_CONDITIONS} conditions in one rule`, and.pos);
    }
    return selectors.length > 0
      ? { kind: 'selectors', selectors }
      : { kind: 'aggregates', aggregates };
  }

  #aggregate(): Aggregate {
    const start = this.#peek().pos;
    let kind: 'exists' | 'notExists' | 'count';
    if (this.#isWord('not')) {
      this.#take();
      this.#take(); // exists
      kind = 'notExists';
    } else {
      kind = this.#take().text.toLowerCase() === 'count' ? 'count' : 'exists';
    }
    this.#expect('(', '"("');
    const selector = this.#selector([], false);
    this.#expect(')', '")" closing the aggregate');
    if (kind !== 'count') return { kind, selector, pos: start };
    const op = this.#peek();
    if (!COUNT_OPERATORS.has(op.kind))
      throw new Failure(
        `expected a comparison after COUNT(…) (==, !=, >, <, >=, <=), found ${describeToken(op)}`,
        op.pos,
      );
    this.#take();
    const n = this.#expect('number', 'a number');
    return {
      kind: 'count',
      selector,
      comparison: op.kind as CountComparison,
      count: Number(n.text),
      pos: start,
    };
  }

  /** `scope` holds the variables bound by earlier selectors (usable in this selector's tests). */
  #selector(scope: readonly string[], allowVariable: boolean): Selector {
    const start = this.#peek().pos;
    let variable: string | undefined;
    let variableText: string | undefined;
    if (this.#peek().kind === 'word') {
      const v = this.#take();
      if (!allowVariable)
        throw new Failure(
          'a selector inside EXISTS/NOT EXISTS/COUNT cannot name a variable',
          v.pos,
        );
      this.#expect(':', `":" after the variable ${v.text}`);
      variable = v.text.toLowerCase();
      variableText = v.text;
      if (scope.includes(variable))
        throw new Failure(`variable "${v.text}" is bound twice in this rule`, v.pos);
    }
    this.#expect('[', variable === undefined ? 'a claim selector "[…]"' : '"["');
    const tests: Test[] = [];
    if (this.#peek().kind !== ']') {
      for (;;) {
        tests.push(this.#test(scope, variableText));
        if (this.#peek().kind !== ',') break;
        this.#take();
      }
    }
    this.#expect(']', '"," or "]"');
    return { variable, variableText, tests, pos: start };
  }

  #test(scope: readonly string[], own: string | undefined): Test {
    const pos = this.#peek().pos;
    const property = this.#property(
      'Type, Value, Issuer, OriginalIssuer, ValueType or Properties["…"]',
    );
    const op = this.#peek();
    if (!TEST_OPERATORS.has(op.kind))
      throw new Failure(`expected ==, !=, =~ or !~, found ${describeToken(op)}`, op.pos);
    this.#take();
    const value = this.#expression(scope, own);
    const operator = op.kind as TestOperator;
    const regex =
      (operator === '=~' || operator === '!~') && value.kind === 'literal'
        ? this.#regex(value)
        : undefined;
    return { property, operator, value, regex, pos };
  }

  #property(what: string): ClaimProperty {
    const t = this.#peek();
    if (t.kind === 'word') {
      const word = t.text.toLowerCase();
      const simple = PROPERTY_WORDS[word];
      if (simple !== undefined) {
        this.#take();
        return { kind: simple };
      }
      if (word === 'properties') {
        this.#take();
        this.#expect('[', '"[" after Properties');
        const name = this.#expect('string', 'the property name as a string').text;
        this.#expect(']', '"]"');
        return { kind: 'property', name };
      }
    }
    throw new Failure(`expected ${what}, found ${describeToken(t)}`, t.pos);
  }

  #regex(literal: { value: string; pos: SourcePosition }): DotNetRegex {
    try {
      return dotNetRegex(literal.value);
    } catch (err) {
      if (err instanceof RegexTranslationError)
        throw new Failure(`regular expression: ${err.message}`, inString(literal, err.index));
      throw err;
    }
  }

  #expression(scope: readonly string[], own: string | undefined): Expression {
    const first = this.#primary(scope, own);
    if (this.#peek().kind !== '+') return first;
    const parts = [first];
    while (this.#peek().kind === '+') {
      this.#take();
      parts.push(this.#primary(scope, own));
    }
    return { kind: 'concat', parts, pos: first.pos };
  }

  #primary(scope: readonly string[], own: string | undefined): Expression {
    const t = this.#peek();
    if (t.kind === 'string') {
      this.#take();
      return { kind: 'literal', value: t.text, pos: t.pos };
    }
    if (t.kind === 'word' && this.#peek(1).kind === '(') {
      if (t.text.toLowerCase() !== 'regexreplace')
        throw new Failure(`unknown function "${t.text}" (AD FS has RegExReplace)`, t.pos);
      if (this.#nesting >= MAX_EXPRESSION_NESTING)
        throw new Failure(`RegExReplace nested more than ${MAX_EXPRESSION_NESTING} deep`, t.pos);
      this.#take();
      this.#take();
      this.#nesting++;
      const input = this.#expression(scope, own);
      this.#expect(',', '"," after the input of RegExReplace');
      const pattern = this.#expression(scope, own);
      this.#expect(',', '"," after the pattern of RegExReplace');
      const replacement = this.#expression(scope, own);
      this.#expect(')', '")" closing RegExReplace');
      this.#nesting--;
      const regex = pattern.kind === 'literal' ? this.#regex(pattern) : undefined;
      return { kind: 'regexReplace', input, pattern, replacement, regex, pos: t.pos };
    }
    if (t.kind === 'word' && this.#peek(1).kind === '.') {
      const variable = t.text.toLowerCase();
      if (own !== undefined && variable === own.toLowerCase())
        throw new Failure(`variable "${t.text}" cannot be used inside its own selector`, t.pos);
      if (!scope.includes(variable))
        throw new Failure(
          `variable "${t.text}" is not bound by an earlier claim selector of this rule`,
          t.pos,
        );
      this.#take();
      this.#take();
      const property = this.#property('a claim property after "."');
      return { kind: 'access', variable, property, pos: t.pos };
    }
    throw new Failure(
      `expected a string, c.Value-style access or RegExReplace(…), found ${describeToken(t)}`,
      t.pos,
    );
  }

  #issuance(scope: readonly string[]): Issuance {
    if (this.#isWord('claim') && this.#peek(1).kind === '=') {
      this.#take();
      this.#take();
      const v = this.#expect('word', 'the variable to copy');
      if (!scope.includes(v.text.toLowerCase()))
        throw new Failure(
          `variable "${v.text}" is not bound by a claim selector of this rule`,
          v.pos,
        );
      return { kind: 'copy', variable: v.text.toLowerCase(), variableText: v.text };
    }
    if (this.#isWord('store') && this.#peek(1).kind === '=') {
      const pos = this.#take().pos;
      this.#take();
      const store = this.#expect('string', 'the attribute store name').text;
      this.#expect(',', '"," after the store name');
      this.#expectWord('types', '"types = (…)" after the store name');
      this.#expect('=');
      this.#expect('(', '"(" starting the claim type list');
      const types: string[] = [];
      for (;;) {
        types.push(this.#expect('string', 'a claim type string').text);
        if (this.#peek().kind !== ',') break;
        this.#take();
      }
      this.#expect(')', '"," or ")" in the claim type list');
      let query: Expression | undefined;
      const params: Expression[] = [];
      if (this.#peek().kind === ',' && this.#isWord('query', 1)) {
        this.#take();
        this.#take();
        this.#expect('=');
        query = this.#expression(scope, undefined);
        while (this.#peek().kind === ',') {
          this.#take();
          this.#expectWord(
            'param',
            '"param = …" (store arguments come in the order store, types, query, param)',
          );
          this.#expect('=');
          params.push(this.#expression(scope, undefined));
        }
      }
      return { kind: 'store', store: { store, types, query, params, pos } };
    }
    const start = this.#peek().pos;
    const claim: Partial<NewClaim> & { properties: NewClaim['properties'] } = { properties: [] };
    for (;;) {
      const t = this.#peek();
      const property = this.#property(
        'Type, Value, Issuer, OriginalIssuer, ValueType, Properties["…"], claim, or store',
      );
      this.#expect('=', '"="');
      const value = this.#expression(scope, undefined);
      if (property.kind === 'property') {
        if (claim.properties.some((p) => p.name === property.name))
          throw new Failure(`Properties["${property.name}"] is set twice`, t.pos);
        claim.properties.push({ name: property.name, value });
      } else {
        if (claim[property.kind] !== undefined) throw new Failure(`${t.text} is set twice`, t.pos);
        claim[property.kind] = value;
      }
      if (this.#peek().kind !== ',') break;
      this.#take();
    }
    if (claim.type === undefined) throw new Failure('a new claim needs Type = …', start);
    return {
      kind: 'new',
      claim: {
        type: claim.type,
        value: claim.value,
        issuer: claim.issuer,
        originalIssuer: claim.originalIssuer,
        valueType: claim.valueType,
        properties: claim.properties,
      },
    };
  }
}

/**
 * Parses rule text (for example an IssuanceTransformRules string from Get-AdfsRelyingPartyTrust, pasted as is).
 * Throws RuleError naming the source, line, column and rule.
 */
export function parseRules(text: string, source: string): RuleSet {
  return new Parser(text).parse(source);
}
