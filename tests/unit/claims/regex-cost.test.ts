// Regex safety (ReDoS): .NET patterns from rule files run on values users control (User-Agent, UPN). Patterns
// whose backtracking can explode are refused when the rule file loads, with the position; accepted patterns run
// only on text short enough for their cost bound, and longer text fails the rule instead of matching. The "does
// not hang" tests run the worst inputs we know for each accepted pattern at its length bound and assert that the
// call returns (no clock is read: a hang would time the test out).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  dotNetRegex,
  isMatch,
  regexReplace,
  RegexTranslationError,
} from '../../../server/claims/dotnet-regex.ts';
import { evaluateRules, RuleEvaluationError } from '../../../server/claims/evaluator.ts';
import { RuleError } from '../../../server/claims/rule-parser.ts';
import { compileRules } from '../../../server/claims/rule-sets.ts';
import {
  MAX_DEGREE,
  MAX_REGEX_INPUT,
  maxInputFor,
  RegexInputError,
  STEP_BUDGET,
} from '../../../server/claims/regex-cost.ts';
import type { Claim } from '../../../server/claims/types.ts';

const UA = 'http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-client-user-agent';

describe('patterns that backtrack exponentially are refused, with the position of the quantifier', () => {
  const cases: [pattern: string, index: number][] = [
    ['(a+)+$', 4],
    ['^(a+)+$', 5],
    ['^(\\w+\\s?)*$', 9], // the classic e-mail/name validator
    ['(a|aa)+', 6],
    ['(?:a|ab)*x', 8],
    ['(ab|ab)+', 7], // fixed length, but two branches match the same text
    ['(\\d{1,3})+', 9],
    ['(?:\\d+\\.?)+', 10],
    ['(a*)*', 4],
    ['(?:x+x+)+y', 8],
    ['(a+){1,100}', 4],
    ['(?i)(?:A|a)+', 11],
  ];
  for (const [pattern, index] of cases) {
    test(pattern, () => {
      assert.throws(
        () => dotNetRegex(pattern),
        (err: unknown) =>
          err instanceof RegexTranslationError &&
          err.index === index &&
          /more than one way.*catastrophic backtracking/.test(err.message),
      );
    });
  }
});

describe('chains of overlapping quantifiers: degree bounds the input length, or the pattern is refused', () => {
  test(`degree above ${MAX_DEGREE} is refused`, () => {
    assert.throws(
      () => dotNetRegex('.*a.*b.*c.*d.*e'),
      (err: unknown) =>
        err instanceof RegexTranslationError &&
        err.index === 12 &&
        /order n\^6.*anchor the pattern with \^/.test(err.message),
    );
    assert.throws(() => dotNetRegex('\\s*\\s*\\s*\\s*\\s*x'), /order n\^6/);
  });

  test('the degree of common patterns, and the input length it allows', () => {
    const cases: [pattern: string, degree: number][] = [
      ['^(AD AUTHORITY|SELF AUTHORITY|LOCAL AUTHORITY)$', 0],
      ['-515$', 1],
      ['(?i)(^([^@]+)@)(?<domain>(contoso\\.com|fabrikam\\.com))$', 1],
      ['(?:\\d{1,3}\\.){3}\\d{1,3}', 1],
      ['(?<domain>[^\\\\]+)\\\\(?<user>.+)', 2], // the `\` separates the two quantifiers
      ['.*@contoso\\.com$', 2],
      ['^(.*)@(.*)$', 2],
      ['(?:[^,]+,)*x', 2], // each repetition ends in the one character it cannot start with
      ['.*@.*', 2], // the last .* cannot fail: nothing backtracks into it
      ['.*@.*x', 3],
      ['\\s*\\s*x', 3],
      ['^.*@([^.]+\\.)*?(?<domain>([^.]+\\.?){2})$', 3], // Microsoft's subdomain issuerid customization
      ['(.*a){3}', 4],
    ];
    for (const [pattern, degree] of cases) {
      const r = dotNetRegex(pattern);
      assert.equal(r.degree, degree, pattern);
      assert.equal(r.maxInput, maxInputFor(degree), pattern);
    }
    assert.equal(maxInputFor(2), MAX_REGEX_INPUT);
    assert.equal(maxInputFor(3), 271);
    assert.ok(maxInputFor(4) ** 4 <= STEP_BUDGET);
  });

  // Worst inputs: long runs of what the quantifiers share, ending where the match must fail.
  const worst: [pattern: string, unit: string][] = [
    ['.*@.*x', '@'],
    ['\\s*\\s*x', ' '],
    ['^\\s*\\s*x', ' '],
    ['^.*@([^.]+\\.)*?(?<domain>([^.]+\\.?){2})$', '@'],
    ['(.*a){3}', 'a'],
    ['.*a.*b.*c', 'a'],
    ['(?:[^,]+,)*x', 'a'],
    ['(\\d+\\.)+x', '1.'],
    ['(?<domain>[^\\\\]+)\\\\(?<user>.+)$', 'a\\'],
  ];
  for (const [pattern, unit] of worst) {
    test(`${pattern} on ${JSON.stringify(unit)} × its bound returns; one character more is refused`, () => {
      const r = dotNetRegex(pattern);
      const at = `${unit.repeat(r.maxInput)}..\n\n`.slice(0, r.maxInput);
      assert.equal(at.length, r.maxInput);
      assert.equal(typeof isMatch(r, at), 'boolean');
      assert.equal(typeof regexReplace(r, at, '-'), 'string');
      const over = `${at}.`;
      assert.throws(() => isMatch(r, over), RegexInputError);
      assert.throws(() => regexReplace(r, over, '-'), RegexInputError);
    });
  }
});

describe('in rule files and at run time', () => {
  test('an evil regex in a rule file stops loading with file:line:column and the rule', () => {
    assert.throws(
      () =>
        compileRules(
          `@RuleName = "Browsers"\nc:[Type == "${UA}", Value =~ "^(\\w+\\s?)*$"]\n => issue(claim = c);`,
          'evil.rules',
        ),
      (err: unknown) =>
        err instanceof RuleError &&
        err.line === 2 &&
        // the quantifier's column: the string starts at 106, the "*" is its 10th character
        err.column === 116 &&
        err.ruleName === 'Browsers' &&
        /^evil\.rules:2:116: rule 1 "Browsers": regular expression: "\*" repeats a part/.test(
          err.message,
        ),
    );
  });

  test('a pattern taken from a claim (the client picks it) is refused when the rule runs, and nothing hangs', async () => {
    const rules = compileRules(
      `@RuleName = "dyn"\nc1:[Type == "${UA}"] && c2:[Type == "upn", Value =~ c1.Value] => issue(Type = "hit", Value = c2.Value);`,
      'dyn.rules',
    );
    const input = (agent: string, upn: string): Claim[] => [
      { type: UA, value: agent, issuer: 'CLIENT CONTEXT' },
      { type: 'upn', value: upn, issuer: 'AD AUTHORITY' },
    ];
    await assert.rejects(
      evaluateRules(rules, input('^(a+)+$', `${'a'.repeat(40)}!`), []),
      (err: unknown) =>
        err instanceof RuleEvaluationError &&
        err.ruleName === 'dyn' &&
        /regular expression: "\+" repeats a part/.test(err.message),
    );
    const ok = await evaluateRules(rules, input('^a+@', 'aaa@x'), []);
    assert.deepEqual(
      ok.output.map((c) => c.value),
      ['aaa@x'],
    );
  });

  test('a value longer than the bound fails the rule (fail closed: !~ never reads as "no match")', async () => {
    const rules = compileRules(
      `@RuleName = "Not a bot"\nc:[Type == "${UA}", Value !~ "(?i)bot"] => issue(Type = "http://schemas.microsoft.com/authorization/claims/permit", Value = "true");`,
      'ua.rules',
    );
    const ua = (value: string): Claim[] => [{ type: UA, value, issuer: 'CLIENT CONTEXT' }];
    assert.equal((await evaluateRules(rules, ua('Mozilla/5.0'), [])).output.length, 1);
    assert.equal((await evaluateRules(rules, ua('SomeBot/1.0'), [])).output.length, 0);
    await assert.rejects(
      evaluateRules(rules, ua(`${'x'.repeat(MAX_REGEX_INPUT)}bot`), []),
      (err: unknown) =>
        err instanceof RuleEvaluationError &&
        /rule 1 "Not a bot": the value is 4099 characters long; this regular expression runs on at most 4096/.test(
          err.message,
        ),
    );
  });
});
