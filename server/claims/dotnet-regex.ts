/**
 * .NET regular expressions (System.Text.RegularExpressions, what AD FS runs for `=~`, `!~` and RegExReplace)
 * translated to JavaScript RegExp, or refused when no faithful translation exists.
 *
 * The translation parses the .NET pattern and re-emits every construct in a form whose JavaScript meaning is the
 * .NET meaning (regex flavours differ in more places than they look alike):
 *  - `.` is "anything but \n" in .NET but also excludes \r, U+2028 and U+2029 in JS → `[^\n]`.
 *  - `$` (without RegexOptions.Multiline) matches at the end or before a final \n → `(?=\n?$)`; `\Z` likewise.
 *  - `\w`, `\d`, `\s`, `\b` are Unicode-aware in .NET ([\p{L}\p{Mn}\p{Nd}\p{Pc}], \p{Nd}, [\f\n\r\t\v\x85\p{Z}])
 *    and ASCII in JS → explicit classes built from the Unicode categories over the BMP (.NET works on UTF-16
 *    code units, so a BMP class is exactly what .NET sees; the JS regex runs without the `u` flag for the same
 *    reason). `\p{Lu}` etc. likewise.
 *  - .NET numbers unnamed groups first and named groups after them; JS numbers all groups left to right. Numbered
 *    backreferences and `$1` in replacements are renumbered.
 *  - Inline options: `(?m)`, `(?s)`, `(?n)`, `(?x)` (scoped or not) are applied during translation; `(?i)` becomes
 *    the JS `i` flag, which is only faithful when every case-sensitive part of the pattern is under it (the usual
 *    `(?i)…` at the start, or the AD FS template form `^(?i)value$`). Anything else is refused.
 *  - Refused (no JS equivalent): atomic groups `(?>…)`, balancing groups, conditionals `(?(…)…)`, `\G`,
 *    character-class subtraction `[a-z-[aeiou]]`, Unicode block names `\p{IsGreek}`, duplicate group names,
 *    references to groups that do not exist, and `(?i)` covering only part of a pattern.
 * Replacement strings follow .NET Regex.Replace substitution rules ($1, ${name}, $$, $&, $`, $', $+, $_).
 *
 * Cost: patterns run on user-controlled values, so the translation also bounds their backtracking cost
 * (regex-cost.ts): exponential repetition and long chains of overlapping quantifiers are refused here, with the
 * position, and isMatch / regexReplace refuse text longer than MAX_REGEX_INPUT.
 */

import {
  ALL_CHARS,
  alternationShape,
  assertionShape,
  backreferenceShape,
  charShape,
  checkDegree,
  checkInputLength,
  foldAscii,
  maxInputFor,
  RegexCostError,
  repeatShape,
  sequenceShape,
  type Shape,
} from './regex-cost.ts';

export class RegexTranslationError extends Error {
  /** 0-based index into the .NET pattern (or replacement) where the problem is. */
  readonly index: number;
  constructor(message: string, index: number) {
    super(message);
    this.name = 'RegexTranslationError';
    this.index = index;
  }
}

/** A .NET pattern compiled to JavaScript. */
export interface DotNetRegex {
  /** The .NET source text. */
  readonly pattern: string;
  /** The JavaScript translation (for display and tests). */
  readonly source: string;
  readonly flags: string;
  /** Polynomial degree of the worst-case backtracking cost (regex-cost.ts). */
  readonly degree: number;
  /** Longest text this pattern is run on (longer: RegexInputError, the rule fails). */
  readonly maxInput: number;
  /** .NET group number → JavaScript group index (0 → 0). */
  readonly numbers: ReadonlyMap<number, number>;
  /** .NET group name → JavaScript group index. */
  readonly names: ReadonlyMap<string, number>;
  /** Highest .NET group number (what `$+` refers to). */
  readonly lastGroup: number;
  readonly test: RegExp;
  readonly global: RegExp;
}

// ---------------------------------------------------------------------------------------------------------
// Code point sets over the BMP, as sorted inclusive ranges.

type Ranges = readonly (readonly [number, number])[];
const BMP_MAX = 0xffff;

function normalise(input: [number, number][]): Ranges {
  const sorted = input.filter(([a, b]) => a <= b).sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

function union(...sets: Ranges[]): Ranges {
  return normalise(sets.flatMap((s) => s.map(([a, b]): [number, number] => [a, b])));
}

function complement(set: Ranges): Ranges {
  const out: [number, number][] = [];
  let next = 0;
  for (const [a, b] of set) {
    if (a > next) out.push([next, a - 1]);
    next = b + 1;
  }
  if (next <= BMP_MAX) out.push([next, BMP_MAX]);
  return out;
}

function fromPredicate(pred: (cp: number) => boolean): Ranges {
  const out: [number, number][] = [];
  let start = -1;
  for (let cp = 0; cp <= BMP_MAX + 1; cp++) {
    const inside = cp <= BMP_MAX && pred(cp);
    if (inside && start < 0) start = cp;
    if (!inside && start >= 0) {
      out.push([start, cp - 1]);
      start = -1;
    }
  }
  return out;
}

const single = (cp: number): Ranges => [[cp, cp]];

/** .NET Unicode general categories (`\p{Lu}`…); block names (`IsGreek`) are not supported. */
const CATEGORIES = new Set(
  'L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp C Cc Cf Cs Co Cn'.split(
    ' ',
  ),
);
const categoryCache = new Map<string, Ranges>();

function category(name: string): Ranges {
  let set = categoryCache.get(name);
  if (set === undefined) {
    const re = new RegExp(`^\\p{gc=${name}}$`, 'u');
    set = fromPredicate((cp) => re.test(String.fromCharCode(cp)));
    categoryCache.set(name, set);
  }
  return set;
}

let wordSet: Ranges | undefined;
/** .NET `\w`: [\p{L}\p{Mn}\p{Nd}\p{Pc}]. */
function word(): Ranges {
  wordSet ??= union(category('L'), category('Mn'), category('Nd'), category('Pc'));
  return wordSet;
}
/** .NET `\s`: [\f\n\r\t\v\x85\p{Z}]. */
function space(): Ranges {
  return union([[0x09, 0x0d]], single(0x85), category('Z'));
}
const digit = (): Ranges => category('Nd');

function caseVariants(cp: number): number[] {
  const ch = String.fromCharCode(cp);
  const out: number[] = [];
  for (const v of [ch.toLowerCase(), ch.toUpperCase()]) {
    if (v.length === 1 && v !== ch) out.push(v.charCodeAt(0));
  }
  return out;
}

function contains(set: Ranges, cp: number): boolean {
  let lo = 0;
  let hi = set.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = set[mid];
    if (r === undefined) return false;
    if (cp < r[0]) hi = mid - 1;
    else if (cp > r[1]) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Whether case-insensitive matching would change what the set matches (it is not closed under case mapping). */
function caseSensitiveSet(set: Ranges): boolean {
  for (const [a, b] of set) {
    for (let cp = a; cp <= b; cp++) {
      for (const v of caseVariants(cp)) if (!contains(set, v)) return true;
    }
  }
  return false;
}

const hex4 = (cp: number): string => `\\u${cp.toString(16).padStart(4, '0')}`;

function classBody(set: Ranges): string {
  return set.map(([a, b]) => (a === b ? hex4(a) : `${hex4(a)}-${hex4(b)}`)).join('');
}

function emitSet(set: Ranges, negated: boolean): string {
  // Negated classes keep their `[^…]` form: under the `i` flag JS (like .NET) compares case-folded members of
  // the written set, which the explicit complement would not reproduce.
  return negated ? `[^${classBody(set)}]` : set.length === 0 ? '[]' : `[${classBody(set)}]`;
}

const SYNTAX_CHARS = new Set('\\^$.|?*+()[]{}/-'.split(''));
function emitLiteral(cp: number): string {
  const ch = String.fromCharCode(cp);
  if (SYNTAX_CHARS.has(ch)) return `\\${ch}`;
  if (cp < 0x20 || cp > 0x7e) return hex4(cp);
  return ch;
}

// ---------------------------------------------------------------------------------------------------------
// Translator.

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  n: boolean;
  x: boolean;
}

type Piece = string | { ref: number | string; at: number };

interface Group {
  jsIndex: number;
  name: string | undefined;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Groups nested deeper than this are refused: the translator descends one call level per group, so an unbounded
 * nesting in a rule file overflowed the stack (a RangeError instead of a RuleError with file:line; found by
 * `npm run fuzz`, issue 14 §1 "no recursion over attacker-shaped trees"). Real claim-rule patterns nest a few
 * levels at most.
 */
const MAX_GROUP_DEPTH = 32;

class Translator {
  readonly #p: string;
  #i = 0;
  readonly #out: Piece[] = [];
  readonly #groups: Group[] = [];
  #caseInsensitiveUsed = false;
  #firstCaseInsensitiveAt = -1;
  #caseSensitiveOutside = false;

  constructor(pattern: string) {
    this.#p = pattern;
  }

  run(): DotNetRegex {
    const flags: Flags = { i: false, m: false, s: false, n: false, x: false };
    const whole = this.#alternation(flags, 0);
    if (this.#i < this.#p.length) this.#fail('unbalanced ")"', this.#i);
    let degree: number;
    try {
      degree = checkDegree(whole);
    } catch (err) {
      if (err instanceof RegexCostError) this.#fail(err.message, err.index);
      throw err;
    }
    if (this.#caseInsensitiveUsed && this.#caseSensitiveOutside) {
      this.#fail(
        '(?i) applies to only part of this pattern; JavaScript can only make a whole pattern case-insensitive (put (?i) at the start)',
        this.#firstCaseInsensitiveAt,
      );
    }
    // .NET numbering: unnamed groups 1..k in order, then named groups k+1.. in order of appearance.
    const numbers = new Map<number, number>([[0, 0]]);
    const names = new Map<string, number>();
    let n = 0;
    for (const g of this.#groups) if (g.name === undefined) numbers.set(++n, g.jsIndex);
    for (const g of this.#groups) {
      if (g.name === undefined) continue;
      numbers.set(++n, g.jsIndex);
      names.set(g.name, g.jsIndex);
    }
    const source = this.#out
      .map((piece) => {
        if (typeof piece === 'string') return piece;
        if (typeof piece.ref === 'string') {
          if (!names.has(piece.ref))
            this.#fail(`reference to undefined group name "${piece.ref}"`, piece.at);
          return `(?:\\k<${piece.ref}>)`;
        }
        const js = numbers.get(piece.ref);
        if (js === undefined || piece.ref === 0)
          this.#fail(`reference to undefined group number ${piece.ref}`, piece.at);
        return `(?:\\${js})`;
      })
      .join('');
    const flagsOut = this.#caseInsensitiveUsed ? 'i' : '';
    let test: RegExp;
    let global: RegExp;
    try {
      test = new RegExp(source, flagsOut);
      global = new RegExp(source, `${flagsOut}g`);
    } catch (err) {
      this.#fail(`no JavaScript equivalent: ${(err as Error).message}`, 0);
    }
    return {
      pattern: this.#p,
      source,
      flags: flagsOut,
      degree,
      maxInput: maxInputFor(degree),
      numbers,
      names,
      lastGroup: n,
      test,
      global,
    };
  }

  #fail(message: string, at: number): never {
    throw new RegexTranslationError(message, at);
  }

  #peek(offset = 0): string {
    return this.#p.charAt(this.#i + offset);
  }

  #noteCase(relevant: boolean, flags: Flags): void {
    if (!relevant) return;
    if (flags.i) this.#caseInsensitiveUsed = true;
    else this.#caseSensitiveOutside = true;
  }

  /** Skips whitespace and #-comments under RegexOptions.IgnorePatternWhitespace. */
  #skipExtended(flags: Flags): void {
    if (!flags.x) return;
    for (;;) {
      const ch = this.#peek();
      if (/\s/.test(ch) && ch !== '') this.#i++;
      else if (ch === '#') {
        while (this.#i < this.#p.length && this.#peek() !== '\n') this.#i++;
      } else return;
    }
  }

  /** alternation := sequence ('|' sequence)*; stops at ')' or end. `flags` is shared by the whole group. */
  #alternation(flags: Flags, depth: number): Shape {
    const branches: Shape[] = [];
    for (;;) {
      branches.push(this.#sequence(flags, depth));
      if (this.#peek() === '|') {
        this.#out.push('|');
        this.#i++;
        continue;
      }
      return alternationShape(branches);
    }
  }

  #sequence(flags: Flags, depth: number): Shape {
    const items: { shape: Shape; at: number }[] = [];
    for (;;) {
      this.#skipExtended(flags);
      const ch = this.#peek();
      if (ch === '' || ch === '|' || ch === ')') return sequenceShape(items, depth === 0);
      const at = this.#i;
      const shape = this.#atom(flags, depth);
      if (shape === undefined) continue; // an option setting or comment: nothing to quantify
      this.#skipExtended(flags);
      items.push({ shape: this.#quantifier(shape), at });
    }
  }

  /** A character set as matched under the current options (case folding approximated, see regex-cost.ts). */
  #charSet(set: Ranges, flags: Flags): Shape {
    return charShape(flags.i ? foldAscii(set) : set);
  }

  /** Parses one atom and emits it as a single JS atom; undefined when it emitted nothing (options, comments). */
  #atom(flags: Flags, depth: number): Shape | undefined {
    const at = this.#i;
    const ch = this.#peek();
    switch (ch) {
      case '(':
        return this.#group(flags, depth);
      case '[': {
        const c = this.#class(flags);
        this.#out.push(c.text);
        return this.#charSet(c.set, flags);
      }
      case '\\': {
        const e = this.#escape(flags);
        this.#out.push(e.piece);
        return e.shape;
      }
      case '.':
        this.#i++;
        this.#out.push(flags.s ? '[\\s\\S]' : '[^\\n]');
        return charShape(flags.s ? ALL_CHARS : complement(single(0x0a)));
      case '^':
        this.#i++;
        this.#out.push(flags.m ? '(?:^|(?<=\\n))' : '^');
        return assertionShape(!flags.m);
      case '$':
        this.#i++;
        this.#out.push(flags.m ? '(?=\\n|$)' : '(?=\\n?$)');
        return assertionShape(false);
      case '*':
      case '+':
      case '?':
        this.#fail(`quantifier "${ch}" follows nothing`, at);
        break;
      case '{':
        if (this.#quantifierAt(this.#i) !== undefined)
          this.#fail('quantifier "{…}" follows nothing', at);
        break;
      default:
        break;
    }
    const cp = this.#p.charCodeAt(this.#i);
    this.#i++;
    this.#noteCase(caseVariants(cp).length > 0, flags);
    this.#out.push(emitLiteral(cp));
    return this.#charSet(single(cp), flags);
  }

  /** Length of a `{n}`, `{n,}` or `{n,m}` quantifier at `pos`, or undefined when the brace is a literal. */
  #quantifierAt(pos: number): number | undefined {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.#p.slice(pos));
    return m === null ? undefined : m[0].length;
  }

  /** Parses an optional quantifier after an atom of shape `x`; returns the shape of the quantified atom. */
  #quantifier(x: Shape): Shape {
    const at = this.#i;
    const ch = this.#peek();
    let q: string | undefined;
    if (ch === '*' || ch === '+' || ch === '?') {
      q = ch;
      this.#i++;
    } else if (ch === '{') {
      const len = this.#quantifierAt(this.#i);
      if (len !== undefined) {
        q = this.#p.slice(this.#i, this.#i + len);
        const m = /^\{(\d+)(?:,(\d+))?/.exec(q);
        if (m?.[2] !== undefined && Number(m[2]) < Number(m[1]))
          this.#fail('quantifier {n,m} with m < n', this.#i);
        this.#i += len;
      }
    }
    if (q === undefined) return x;
    if (this.#peek() === '?') {
      q += '?';
      this.#i++;
    }
    this.#out.push(q);
    const next = this.#peek();
    if (next === '*' || next === '+' || next === '?' || this.#quantifierAt(this.#i) !== undefined)
      this.#fail('nested quantifier', this.#i);
    const bounds = /^\{(\d+)(,(\d*))?\}/.exec(q);
    const [lo, hi] = q.startsWith('*')
      ? [0, Infinity]
      : q.startsWith('+')
        ? [1, Infinity]
        : q.startsWith('?')
          ? [0, 1]
          : [
              Number(bounds?.[1] ?? 0),
              bounds?.[2] === undefined
                ? Number(bounds?.[1] ?? 0)
                : bounds[3] === '' || bounds[3] === undefined
                  ? Infinity
                  : Number(bounds[3]),
            ];
    try {
      return repeatShape(x, lo, hi, at, q);
    } catch (err) {
      if (err instanceof RegexCostError) this.#fail(err.message, err.index);
      throw err;
    }
  }

  #group(outer: Flags, depth: number): Shape | undefined {
    const at = this.#i;
    if (depth >= MAX_GROUP_DEPTH) this.#fail(`groups nested more than ${MAX_GROUP_DEPTH} deep`, at);
    this.#i++; // (
    let flags: Flags = { ...outer };
    let open: string;
    let lookaround = false;
    if (this.#peek() === '?') {
      const rest = this.#p.slice(this.#i + 1);
      if (rest.startsWith('#')) {
        const end = this.#p.indexOf(')', this.#i);
        if (end < 0) this.#fail('unterminated (?#…) comment', at);
        this.#i = end + 1;
        return undefined;
      }
      if (rest.startsWith(':')) {
        open = '(?:';
        this.#i += 2;
      } else if (rest.startsWith('=') || rest.startsWith('!')) {
        open = `(?${rest.charAt(0)}`;
        lookaround = true;
        this.#i += 2;
      } else if (rest.startsWith('<=') || rest.startsWith('<!')) {
        open = `(?${rest.slice(0, 2)}`;
        lookaround = true;
        this.#i += 3;
      } else if (rest.startsWith('>')) {
        this.#fail('atomic groups (?>…) have no JavaScript equivalent', at);
      } else if (rest.startsWith('(')) {
        this.#fail('conditional groups (?(…)…) have no JavaScript equivalent', at);
      } else if (rest.startsWith('<') || rest.startsWith("'")) {
        const close = rest.startsWith('<') ? '>' : "'";
        const end = this.#p.indexOf(close, this.#i + 2);
        if (end < 0) this.#fail('unterminated group name', at);
        const name = this.#p.slice(this.#i + 2, end);
        if (name.includes('-'))
          this.#fail('balancing groups (?<a-b>…) have no JavaScript equivalent', at);
        if (/^\d+$/.test(name)) this.#fail('numbered group names (?<1>…) are not supported', at);
        if (!NAME_RE.test(name))
          this.#fail(`group name "${name}" must be letters, digits and _`, at);
        if (this.#groups.some((g) => g.name === name))
          this.#fail(`group name "${name}" is used twice (not supported)`, at);
        this.#groups.push({ jsIndex: this.#groups.length + 1, name });
        open = `(?<${name}>`;
        this.#i = end + 1;
      } else {
        const m = /^([imnsx]*)(?:-([imnsx]*))?([:)])/.exec(rest);
        if (m === null || (m[1] === '' && (m[2] ?? '') === ''))
          this.#fail('unrecognised group construct "(?"', at);
        const on = m[1] ?? '';
        const off = m[2] ?? '';
        const target: Flags = m[3] === ')' ? outer : flags;
        for (const f of on) target[f as keyof Flags] = true;
        for (const f of off) {
          if (f === 'i' && target.i)
            this.#fail('(?-i) turning case-insensitivity off has no JavaScript equivalent', at);
          target[f as keyof Flags] = false;
        }
        if (on.includes('i') && this.#firstCaseInsensitiveAt < 0) this.#firstCaseInsensitiveAt = at;
        this.#i += 1 + m[0].length;
        if (m[3] === ')') return undefined; // (?imnsx-imnsx): applies to the rest of the enclosing group
        flags = target;
        open = '(?:';
      }
    } else if (outer.n) {
      open = '(?:';
    } else {
      this.#groups.push({ jsIndex: this.#groups.length + 1, name: undefined });
      open = '(';
    }
    this.#out.push(open);
    const inner = this.#alternation(flags, depth + 1);
    if (this.#peek() !== ')') this.#fail('missing ")"', at);
    this.#i++;
    this.#out.push(')');
    return lookaround ? assertionShape(false, inner) : inner;
  }

  /** A backslash escape outside a class. */
  #escape(flags: Flags): { piece: Piece; shape: Shape } {
    const at = this.#i;
    this.#i++;
    const ch = this.#peek();
    if (ch === '') this.#fail('pattern ends with "\\"', at);
    const set = this.#shorthand(ch, at);
    if (set !== undefined) {
      this.#i++;
      this.#noteCase(caseSensitiveSet(set.set), flags);
      return {
        piece: emitSet(set.set, set.negated),
        shape: this.#charSet(set.negated ? complement(set.set) : set.set, flags),
      };
    }
    switch (ch) {
      case 'b':
      case 'B': {
        this.#i++;
        const w = emitSet(word(), false);
        return {
          piece:
            ch === 'b'
              ? `(?:(?<=${w})(?!${w})|(?<!${w})(?=${w}))`
              : `(?:(?<=${w})(?=${w})|(?<!${w})(?!${w}))`,
          shape: assertionShape(false),
        };
      }
      case 'A':
        this.#i++;
        return { piece: '^', shape: assertionShape(true) };
      case 'z':
        this.#i++;
        return { piece: '$', shape: assertionShape(false) };
      case 'Z':
        this.#i++;
        return { piece: '(?=\\n?$)', shape: assertionShape(false) };
      case 'G':
        this.#fail('\\G has no JavaScript equivalent', at);
        break;
      case 'k': {
        const m = /^k(?:<([^>]*)>|'([^']*)')/.exec(this.#p.slice(this.#i));
        if (m === null) this.#fail('malformed \\k<name> reference', at);
        const name = m[1] ?? m[2] ?? '';
        this.#i += m[0].length;
        this.#noteCase(true, flags);
        return {
          piece: { ref: /^\d+$/.test(name) ? Number(name) : name, at },
          shape: backreferenceShape(),
        };
      }
      default:
        break;
    }
    if (/[1-9]/.test(ch)) {
      const m = /^\d+/.exec(this.#p.slice(this.#i));
      const digits = m?.[0] ?? ch;
      this.#i += digits.length;
      this.#noteCase(true, flags);
      return { piece: { ref: Number(digits), at }, shape: backreferenceShape() };
    }
    const cp = this.#charEscape(at);
    this.#noteCase(caseVariants(cp).length > 0, flags);
    return { piece: emitLiteral(cp), shape: this.#charSet(single(cp), flags) };
  }

  /** `\d \D \w \W \s \S \p{…} \P{…}` at the current position (after the backslash). */
  #shorthand(ch: string, at: number): { set: Ranges; negated: boolean } | undefined {
    switch (ch) {
      case 'd':
      case 'D':
        return { set: digit(), negated: ch === 'D' };
      case 'w':
      case 'W':
        return { set: word(), negated: ch === 'W' };
      case 's':
      case 'S':
        return { set: space(), negated: ch === 'S' };
      case 'p':
      case 'P': {
        const m = /^[pP]\{([^}]*)\}/.exec(this.#p.slice(this.#i));
        if (m === null) this.#fail('malformed \\p{…}', at);
        const name = m[1] ?? '';
        if (!CATEGORIES.has(name)) {
          this.#fail(
            name.startsWith('Is')
              ? `Unicode block \\p{${name}} is not supported (use a character range)`
              : `unknown Unicode category \\p{${name}}`,
            at,
          );
        }
        this.#i += m[0].length - 1; // the caller steps over the last character
        return { set: category(name), negated: ch === 'P' };
      }
      default:
        return undefined;
    }
  }

  /** A character escape (the backslash already consumed, current char is the escape letter). */
  #charEscape(at: number): number {
    const ch = this.#peek();
    this.#i++;
    switch (ch) {
      case 't':
        return 0x09;
      case 'n':
        return 0x0a;
      case 'r':
        return 0x0d;
      case 'f':
        return 0x0c;
      case 'v':
        return 0x0b;
      case 'e':
        return 0x1b;
      case 'a':
        return 0x07;
      case 'x':
      case 'u': {
        const len = ch === 'x' ? 2 : 4;
        const h = this.#p.slice(this.#i, this.#i + len);
        if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(h))
          this.#fail(`\\${ch} needs ${len} hex digits`, at);
        this.#i += len;
        return Number.parseInt(h, 16);
      }
      case 'c': {
        const c = this.#peek();
        if (!/^[A-Za-z]$/.test(c)) this.#fail('\\c needs a letter', at);
        this.#i++;
        return c.toUpperCase().charCodeAt(0) - 64;
      }
      case '0': {
        const m = /^[0-7]{0,2}/.exec(this.#p.slice(this.#i));
        const oct = m?.[0] ?? '';
        this.#i += oct.length;
        return Number.parseInt(`0${oct}`, 8);
      }
      default:
        if (/[A-Za-z0-9_]/.test(ch)) this.#fail(`unrecognised escape \\${ch}`, at);
        return ch.charCodeAt(0);
    }
  }

  /** A character class `[...]`, emitted as an explicit BMP class. */
  #class(flags: Flags): { text: string; set: Ranges } {
    const at = this.#i;
    this.#i++; // [
    let negated = false;
    if (this.#peek() === '^') {
      negated = true;
      this.#i++;
    }
    const parts: Ranges[] = [];
    let first = true;
    for (;;) {
      const ch = this.#peek();
      if (ch === '') this.#fail('unterminated character class', at);
      if (ch === ']' && !first) {
        this.#i++;
        break;
      }
      if (ch === '-' && this.#peek(1) === '[' && !first)
        this.#fail('character class subtraction has no JavaScript equivalent', this.#i);
      first = false;
      const itemAt = this.#i;
      const item = this.#classItem();
      if (this.#peek() === '-' && this.#peek(1) === '[')
        this.#fail('character class subtraction has no JavaScript equivalent', this.#i);
      if (this.#peek() === '-' && this.#peek(1) !== ']' && this.#peek(1) !== '') {
        if (typeof item !== 'number')
          this.#fail('a range cannot start with a class like \\d', itemAt);
        this.#i++; // -
        const endAt = this.#i;
        const end = this.#classItem();
        if (typeof end !== 'number') this.#fail('a range cannot end with a class like \\d', endAt);
        if (end < item) this.#fail('range in reverse order', itemAt);
        parts.push([[item, end]]);
        continue;
      }
      parts.push(typeof item === 'number' ? single(item) : item);
    }
    const set = union(...parts);
    this.#noteCase(caseSensitiveSet(set), flags);
    return { text: emitSet(set, negated), set: negated ? complement(set) : set };
  }

  /** One class member: a code point, or a set for \d \w \s \p and their negations. */
  #classItem(): number | Ranges {
    const at = this.#i;
    const ch = this.#peek();
    if (ch !== '\\') {
      this.#i++;
      return ch.charCodeAt(0);
    }
    this.#i++;
    const esc = this.#peek();
    if (esc === '') this.#fail('pattern ends with "\\"', at);
    const set = this.#shorthand(esc, at);
    if (set !== undefined) {
      this.#i++;
      return set.negated ? complement(set.set) : set.set;
    }
    if (esc === 'b') {
      this.#i++;
      return 0x08;
    }
    return this.#charEscape(at);
  }
}

const cache = new Map<string, DotNetRegex>();

/** Translates (and caches) a .NET pattern; throws RegexTranslationError when it has no faithful translation. */
export function dotNetRegex(pattern: string): DotNetRegex {
  let r = cache.get(pattern);
  if (r === undefined) {
    r = new Translator(pattern).run();
    if (cache.size > 1000) cache.clear();
    cache.set(pattern, r);
  }
  return r;
}

/** Regex.IsMatch: an unanchored search. */
export function isMatch(regex: DotNetRegex, input: string): boolean {
  checkInputLength(input, regex.maxInput);
  return regex.test.test(input);
}

// ---------------------------------------------------------------------------------------------------------
// Replacement strings.

type ReplacementPart =
  | { kind: 'text'; text: string }
  | { kind: 'group'; js: number }
  | { kind: 'before' | 'after' | 'input' };

const replacementCache = new WeakMap<DotNetRegex, Map<string, ReplacementPart[]>>();

/** Parses a .NET substitution string against the groups of `regex` (RegexParser.ScanReplacement rules). */
export function parseReplacement(regex: DotNetRegex, replacement: string): ReplacementPart[] {
  let perRegex = replacementCache.get(regex);
  if (perRegex === undefined) {
    perRegex = new Map();
    replacementCache.set(regex, perRegex);
  }
  const cached = perRegex.get(replacement);
  if (cached !== undefined) return cached;
  const parts: ReplacementPart[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') parts.push({ kind: 'text', text });
    text = '';
  };
  const group = (js: number): void => {
    flush();
    parts.push({ kind: 'group', js });
  };
  let i = 0;
  while (i < replacement.length) {
    const ch = replacement.charAt(i);
    if (ch !== '$' || i === replacement.length - 1) {
      text += ch;
      i++;
      continue;
    }
    const next = replacement.charAt(i + 1);
    if (next === '$') {
      text += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const end = replacement.indexOf('}', i + 2);
      const name = end < 0 ? '' : replacement.slice(i + 2, end);
      const js = /^\d+$/.test(name) ? regex.numbers.get(Number(name)) : regex.names.get(name);
      if (js !== undefined) {
        group(js);
        i = end + 1;
        continue;
      }
      text += '$';
      i++;
      continue;
    }
    if (/\d/.test(next)) {
      const digits = /^\d+/.exec(replacement.slice(i + 1))?.[0] ?? next;
      const js = regex.numbers.get(Number(digits));
      if (js !== undefined) {
        group(js);
        i += 1 + digits.length;
        continue;
      }
      text += '$';
      i++;
      continue;
    }
    const special: Record<string, 'before' | 'after' | 'input' | 'match' | 'last'> = {
      '&': 'match',
      '`': 'before',
      "'": 'after',
      _: 'input',
      '+': 'last',
    };
    const kind = special[next];
    if (kind === undefined) {
      text += '$';
      i++;
      continue;
    }
    if (kind === 'match') group(0);
    else if (kind === 'last') group(regex.numbers.get(regex.lastGroup) ?? 0);
    else {
      flush();
      parts.push({ kind });
    }
    i += 2;
  }
  flush();
  perRegex.set(replacement, parts);
  return parts;
}

/** Regex.Replace(input, pattern, replacement): every match replaced, .NET substitution semantics. */
export function regexReplace(regex: DotNetRegex, input: string, replacement: string): string {
  checkInputLength(input, regex.maxInput);
  const parts = parseReplacement(regex, replacement);
  regex.global.lastIndex = 0;
  return input.replace(regex.global, (...args: unknown[]) => {
    // args: match, p1..pn, offset, string[, groups]
    const hasGroups = typeof args[args.length - 1] === 'object';
    const offset = args[args.length - (hasGroups ? 3 : 2)] as number;
    const match = args[0] as string;
    let out = '';
    for (const p of parts) {
      if (p.kind === 'text') out += p.text;
      else if (p.kind === 'group') out += (args[p.js] as string | undefined) ?? '';
      else if (p.kind === 'before') out += input.slice(0, offset);
      else if (p.kind === 'after') out += input.slice(offset + match.length);
      else out += input;
    }
    return out;
  });
}
