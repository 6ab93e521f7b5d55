// .NET regular expressions (what AD FS runs) translated to JavaScript: matches must be what .NET's Regex would
// report, and what cannot be translated faithfully must be refused with the position of the problem. Expected
// results follow .NET's documented behaviour (System.Text.RegularExpressions, RegexOptions.None).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  dotNetRegex,
  isMatch,
  regexReplace,
  RegexTranslationError,
} from '../../../server/claims/dotnet-regex.ts';

describe('.NET regex matching', () => {
  const cases: [pattern: string, input: string, expected: boolean, why: string][] = [
    [
      '(?<domain>[^\\\\]+)\\\\(?<user>.+)',
      'CORP\\jdoe',
      true,
      'Entra Connect windowsaccountname split',
    ],
    ['(?<domain>[^\\\\]+)\\\\(?<user>.+)', 'jdoe', false, 'no backslash'],
    ['-515$', 'S-1-5-21-1-2-3-515', true, 'domain computers RID'],
    ['-515$', 'S-1-5-21-1-2-3-5150', false, '$ is the end'],
    ['-515$', 'S-1-5-21-1-2-3-515\n', true, '.NET $ also matches before a final \\n'],
    ['-515\\z', 'S-1-5-21-1-2-3-515\n', false, '\\z is the very end'],
    ['^(AD AUTHORITY|SELF AUTHORITY|LOCAL AUTHORITY)$', 'AD AUTHORITY', true, 'issuer list'],
    ['^(AD AUTHORITY|SELF AUTHORITY|LOCAL AUTHORITY)$', 'ad authority', false, 'case-sensitive'],
    ['^(?i)Terry$', 'TERRY', true, 'AD FS template form ^(?i)value$'],
    ['(?i)^director', 'Director of X', true, '(?i) at the start'],
    ['^a.c$', 'a\rc', true, '.NET "." matches \\r (JS "." does not)'],
    ['^a.c$', 'a\nc', false, '"." never matches \\n'],
    ['(?s)^a.c$', 'a\nc', true, '(?s) single-line'],
    ['(?m)^b$', 'a\nb\nc', true, '(?m) multi-line'],
    ['^b$', 'a\nb\nc', false, 'without (?m)'],
    ['^\\w+$', 'Jürgen', true, '.NET \\w is Unicode letters'],
    ['^\\d+$', '١٢٣', true, '.NET \\d is Unicode digits'],
    ['\\bdoe\\b', 'jöhn doe', true, 'Unicode-aware word boundary'],
    ['\\bhn\\b', 'jöhn', false, 'ö is a word character for .NET'],
    ['^\\p{Lu}', 'Élan', true, 'Unicode category'],
    ['^[^@]+@(?<d>.+)$', 'a@b.c', true, 'named group'],
    ['(?<=@)fabrikam', 'x@fabrikam.com', true, 'lookbehind'],
    ['(?<!@)fabrikam', 'x@fabrikam.com', false, 'negative lookbehind'],
    ['^(a)\\1$', 'aa', true, 'numbered backreference'],
    ['^(?<x>a)\\k<x>$', 'aa', true, 'named backreference'],
    ["^(?'x'a)\\k'x'$", 'aa', true, "(?'name') syntax"],
    ['^(a)(?<n>b)(c)\\2$', 'abcc', true, '.NET numbers unnamed groups first: \\2 is (c)'],
    ['^(a)(?<n>b)(c)\\2$', 'abcb', false, '... not (?<n>b)'],
    ['a{2}', 'aa', true, 'quantifier'],
    ['a{,2}', 'a{,2}', true, '{,n} is a literal in .NET'],
    ['^[]a]+$', ']a]', true, '"]" first in a class is literal'],
    ['(?x) a b  # comment', 'ab', true, '(?x) ignores whitespace and comments'],
    ['(?n)(a)(?<k>b)', 'ab', true, '(?n) explicit capture'],
    ['(?#note)abc', 'abc', true, '(?#…) comment'],
    ['^\\x41\\u0042\\043$', 'AB#', true, 'hex, unicode, octal escapes'],
    ['^\\0103$', '\b3', true, '\\0 takes at most two more octal digits'],
    ['^(?i)[a-c]+$', 'ABC', true, 'case-insensitive class'],
    ['^(?i)[^a]$', 'A', false, 'case-insensitive negated class (as .NET)'],
  ];
  for (const [pattern, input, expected, why] of cases) {
    test(`${JSON.stringify(pattern)} on ${JSON.stringify(input)} → ${expected} (${why})`, () => {
      assert.equal(isMatch(dotNetRegex(pattern), input), expected);
    });
  }
});

describe('.NET constructs with no faithful translation are refused with their position', () => {
  const cases: [pattern: string, index: number, message: RegExp][] = [
    ['ab(?>c)', 2, /atomic/],
    ['(?<a-b>x)', 0, /balancing/],
    ['(?(x)a|b)', 0, /conditional/],
    ['\\Gabc', 0, /\\G/],
    ['[a-z-[aeiou]]', 4, /subtraction/],
    ['\\p{IsGreek}', 0, /block/],
    ['abc(?i)def', 3, /only part/],
    ['(?i)abc(?-i)def', 7, /turning case-insensitivity off/],
    ['(?<x>a)(?<x>b)', 7, /twice/],
    ['(a)\\2', 3, /undefined group number 2/],
    ['\\k<nope>', 0, /undefined group name/],
    ['a**', 2, /nested quantifier/],
    ['*a', 0, /follows nothing/],
    ['(ab', 0, /missing "\)"/],
    ['ab)', 2, /unbalanced/],
    ['[ab', 0, /unterminated/],
    ['\\q', 0, /unrecognised escape/],
    ['[z-a]', 1, /reverse/],
  ];
  for (const [pattern, index, message] of cases) {
    test(JSON.stringify(pattern), () => {
      assert.throws(
        () => dotNetRegex(pattern),
        (err: unknown) =>
          err instanceof RegexTranslationError && err.index === index && message.test(err.message),
      );
    });
  }
});

describe('Regex.Replace substitutions', () => {
  const issuer = '(?i)(^([^@]+)@)(?<domain>(contoso\\.com|fabrikam\\.com))$';
  const cases: [pattern: string, input: string, replacement: string, expected: string][] = [
    ['(?<domain>[^\\\\]+)\\\\(?<user>.+)', 'CORP\\jdoe', '${user}', 'jdoe'],
    ['(?<domain>[^\\\\]+)\\\\(?<user>.+)', 'CORP\\jdoe', '${domain}', 'CORP'],
    [
      issuer,
      'a@Fabrikam.com',
      'http://${domain}/adfs/services/trust/',
      'http://Fabrikam.com/adfs/services/trust/',
    ],
    [issuer, 'a@other.com', 'http://${domain}/', 'a@other.com'],
    // .NET numbering: 1 = (^([^@]+)@), 2 = ([^@]+), 3 = (contoso…|fabrikam…) (unnamed), 4 = domain (named).
    [issuer, 'a@contoso.com', '$1|$2|$3|$4', 'a@|a|contoso.com|contoso.com'],
    [issuer, 'a@contoso.com', '$+', 'contoso.com'],
    [
      '^.*@([^.]+\\.)*?(?<domain>([^.]+\\.?){2})$',
      'x@corp.bmcontoso.com',
      'http://${domain}/adfs/services/trust/',
      'http://bmcontoso.com/adfs/services/trust/',
    ],
    ['b', 'abc', "[$&|$`|$'|$_]", 'a[b|a|c|abc]c'],
    ['b', 'abc', '$$1', 'a$1c'],
    ['(b)', 'abc', '$2 ${nope} $', 'a$2 ${nope} $c'],
    ['(b)', 'abc', '$10', 'a$10c'],
    ['o', 'foo', '0', 'f00'],
    ['CORP\\\\', 'CORP\\jdoe', '', 'jdoe'],
    ['(?i)contoso', 'Contoso and CONTOSO', 'fabrikam', 'fabrikam and fabrikam'],
    ['x*', 'ab', '-', '-a-b-'],
  ];
  for (const [pattern, input, replacement, expected] of cases) {
    test(`${JSON.stringify(pattern)} / ${JSON.stringify(replacement)} on ${JSON.stringify(input)}`, () => {
      assert.equal(regexReplace(dotNetRegex(pattern), input, replacement), expected);
    });
  }
});
