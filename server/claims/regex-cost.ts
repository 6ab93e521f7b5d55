/**
 * Backtracking cost of a regular expression, bounded before it ever runs.
 *
 * Claim rules apply administrators' .NET regular expressions to values a user controls (User-Agent, UPN, forwarded
 * addresses) and JavaScript's engine backtracks, so a pattern like `(a+)+$` or `^(\w+\s?)*$` can take exponential
 * time on a crafted value (ReDoS; security-corpus, "bad input never hangs the server"). The engine cannot be given
 * a step budget from JavaScript, and a timeout would need a worker per match, so fedgate bounds the cost
 * statically instead, with two rules checked while the pattern is translated (dotnet-regex.ts), plus a cap on the
 * length of the text matched:
 *
 *  1. Exponential: a part repeated without a (small) bound must not be matchable in more than one way per
 *     repetition. Refused: the repeated part can match texts of different lengths AND what can start it overlaps
 *     with what can end it (`(a+)+`, `(\w+\s?)*`, `(a|aa)+`, `(\d{1,3})+`), or it holds an alternation whose
 *     branches can start with the same character (`(ab|ab)+`, `(?:a|ab)*`). Accepted: `(?:[^,]+,)*`,
 *     `(\d+\.)+`, `(?:\d{1,3}\.){3}` — each repetition's end is unambiguous.
 *  2. Polynomial: quantifiers that can absorb the same characters one after another (`.*a.*b`: the text between
 *     them can be split in many ways) multiply: a chain of k such quantifiers costs about n^k per start position,
 *     and an unanchored search tries n start positions. The degree d (chain length, plus 1 unless the pattern is
 *     anchored with `^`/`\A`) sets how long a text the pattern may run on: n^d ≤ STEP_BUDGET, so n ≤
 *     maxInputFor(d) (4096 for d ≤ 2, 271 for d = 3, 66 for d = 4); d > MAX_DEGREE is refused. A quantifier
 *     followed only by parts that cannot fail (`x*`, `(…)?`, the end of the pattern) adds nothing: nothing after
 *     it can send the engine back into it. Degree 2: the Microsoft 365 set's `(?<domain>[^\\]+)\\(?<user>.+)` (the
 *     `\\` separates), `^.+@.+$`, `.*@contoso\.com$`. Degree 3: `.*@.*x` (measured here: 10 s on 4096 × "@"
 *     unbounded, 16 ms at 271), `\s*\s*x`, Microsoft's subdomain issuerid customization
 *     `^.*@([^.]+\.)*?(?<domain>([^.]+\.?){2})$`. Refused: `.*a.*b.*c.*d.*e`.
 *  3. Text longer than the pattern's bound is not matched at all: the rule fails (fail closed: a deny rule's `!~`
 *     never turns into "no match"), so the worst case is ~STEP_BUDGET backtracking steps (tens of ms).
 *
 * The analysis over-approximates (it may refuse a harmless pattern; the message says how to rewrite it) except for
 * case folding, which it applies to ASCII letters only. Lookarounds count their inner cost; backreferences are
 * deterministic and count as fixed parts.
 */

export type Ranges = readonly (readonly [number, number])[];

/** Longest text (UTF-16 code units) any claim rule regex is run on. Request context values are cut to 1024. */
export const MAX_REGEX_INPUT = 4096;
/** Backtracking steps a match may take in the worst case, roughly (n^degree). */
export const STEP_BUDGET = 20_000_000;
/** Highest polynomial degree accepted (see 2. above): degree 5 would allow only 28 characters. */
export const MAX_DEGREE = 4;

/** Longest text a pattern of polynomial degree `degree` may run on. */
export function maxInputFor(degree: number): number {
  if (degree <= 1) return MAX_REGEX_INPUT;
  return Math.min(MAX_REGEX_INPUT, Math.floor(STEP_BUDGET ** (1 / degree)));
}
/** A bounded quantifier with a larger upper bound is treated as unbounded. */
export const LARGE_REPEAT = 32;

export const NO_CHARS: Ranges = [];
export const ALL_CHARS: Ranges = [[0, 0xffff]];

export interface Shape {
  /** Shortest and longest text matched (max Infinity when unbounded). */
  min: number;
  max: number;
  /** Characters that can begin / end / occur in a non-empty match. */
  first: Ranges;
  last: Ranges;
  chars: Ranges;
  /** Can match texts of different lengths. */
  variable: boolean;
  /** Contains an alternation whose branches can start with the same character. */
  ambiguous: boolean;
  /** Contains a quantifier without a small upper bound over something non-empty. */
  unbounded: boolean;
  /** Never fails, wherever it is tried (x*, (…)?, empty). */
  total: boolean;
  /** Starts with ^ / \A (non-multiline): tried at the start of the text only. */
  anchored: boolean;
  /** Polynomial degree inside this part, and where (.NET pattern index) the chain reaching it ends. */
  degree: number;
  degreeAt: number;
}

export function unionRanges(a: Ranges, b: Ranges): Ranges {
  const all = [...a, ...b].map(([x, y]): [number, number] => [x, y]).sort((p, q) => p[0] - q[0]);
  const out: [number, number][] = [];
  for (const [x, y] of all) {
    const last = out[out.length - 1];
    if (last !== undefined && x <= last[1] + 1) last[1] = Math.max(last[1], y);
    else out.push([x, y]);
  }
  return out;
}

export function intersects(a: Ranges, b: Ranges): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i];
    const y = b[j];
    if (x === undefined || y === undefined) return false;
    if (x[1] < y[0]) i++;
    else if (y[1] < x[0]) j++;
    else return true;
  }
  return false;
}

/** Every character of `a` is in `b`. */
function within(a: Ranges, b: Ranges): boolean {
  return a.every(([x, y]) => b.some(([p, q]) => p <= x && y <= q));
}

/** Adds the other case of ASCII letters (what `(?i)` matches); other scripts are not folded here. */
export function foldAscii(set: Ranges): Ranges {
  const extra: [number, number][] = [];
  for (const [x, y] of set) {
    for (const [lo, hi, delta] of [
      [0x41, 0x5a, 0x20],
      [0x61, 0x7a, -0x20],
    ] as const) {
      const a = Math.max(x, lo);
      const b = Math.min(y, hi);
      if (a <= b) extra.push([a + delta, b + delta]);
    }
  }
  return extra.length === 0 ? set : unionRanges(set, extra);
}

export function emptyShape(): Shape {
  return {
    min: 0,
    max: 0,
    first: NO_CHARS,
    last: NO_CHARS,
    chars: NO_CHARS,
    variable: false,
    ambiguous: false,
    unbounded: false,
    total: true,
    anchored: false,
    degree: 0,
    degreeAt: 0,
  };
}

/** One character from `set`. */
export function charShape(set: Ranges): Shape {
  return { ...emptyShape(), min: 1, max: 1, first: set, last: set, chars: set, total: false };
}

/** A zero-width test (anchor, \b, lookaround) with the cost of what it runs inside. */
export function assertionShape(anchored: boolean, inner?: Shape): Shape {
  return {
    ...emptyShape(),
    total: false,
    anchored,
    degree: inner?.degree ?? 0,
    degreeAt: inner?.degreeAt ?? 0,
  };
}

/** A backreference: matches exactly what its group matched; deterministic, but can fail. */
export function backreferenceShape(): Shape {
  return { ...emptyShape(), max: Infinity, chars: ALL_CHARS, variable: true, total: false };
}

/** Can absorb a variable amount of text without a small bound (a link of a polynomial chain). */
function absorbs(s: Shape): boolean {
  return s.unbounded && s.variable;
}

export class RegexCostError extends Error {
  readonly index: number;
  constructor(message: string, index: number) {
    super(message);
    this.name = 'RegexCostError';
    this.index = index;
  }
}

/**
 * Items matched one after another. `items[k].at` is each item's pattern index. `final`: this sequence ends the
 * whole pattern (its trailing total parts, and the absorbing part before them, cannot be backtracked into).
 */
export function sequenceShape(
  items: readonly { shape: Shape; at: number }[],
  final: boolean,
): Shape {
  const out = emptyShape();
  out.anchored = items[0]?.shape.anchored ?? false;
  let firstOpen = true;
  for (const { shape: s } of items) {
    out.min += s.min;
    out.max += s.max;
    out.chars = unionRanges(out.chars, s.chars);
    if (firstOpen) out.first = unionRanges(out.first, s.first);
    if (s.min > 0) firstOpen = false;
    out.variable ||= s.variable;
    out.ambiguous ||= s.ambiguous;
    out.unbounded ||= s.unbounded;
    out.total &&= s.total;
    if (s.degree > out.degree) {
      out.degree = s.degree;
      out.degreeAt = s.degreeAt;
    }
  }
  for (let k = items.length - 1; k >= 0; k--) {
    const s = items[k]?.shape;
    if (s === undefined) break;
    out.last = unionRanges(out.last, s.last);
    if (s.min > 0) break;
  }
  // Where nothing after an item can fail, the engine never comes back into it.
  let tail = items.length;
  if (final) {
    while (tail > 0 && items[tail - 1]?.shape.total === true) tail--;
    if (tail > 0 && absorbs(items[tail - 1]?.shape ?? emptyShape())) tail--;
  }
  // Longest chain of absorbing items that can trade characters (everything between them being text both absorb).
  const chain: number[] = [];
  items.forEach(({ shape: sj, at }, j) => {
    chain[j] = 0;
    if (!absorbs(sj)) return;
    let best = 1;
    for (let i = 0; i < j; i++) {
      const si = items[i]?.shape;
      if (si === undefined || !absorbs(si) || (chain[i] ?? 0) === 0) continue;
      if (!intersects(si.chars, sj.chars)) continue;
      let linked = true;
      for (let k = i + 1; k < j && linked; k++) {
        const sk = items[k]?.shape;
        if (sk === undefined || sk.min === 0) continue;
        linked = within(sk.chars, si.chars) && within(sk.chars, sj.chars);
      }
      if (linked) best = Math.max(best, (chain[i] ?? 0) + 1);
    }
    const counted = j < tail ? best : best - 1;
    chain[j] = best;
    if (counted > out.degree) {
      out.degree = counted;
      out.degreeAt = at;
    }
  });
  return out;
}

export function alternationShape(branches: readonly Shape[]): Shape {
  const [head, ...rest] = branches;
  if (head === undefined) return emptyShape();
  const out: Shape = { ...head };
  for (const b of rest) {
    if (intersects(out.first, b.first)) out.ambiguous = true;
    out.variable ||= b.variable || b.min !== head.min || b.max !== head.max;
    out.min = Math.min(out.min, b.min);
    out.max = Math.max(out.max, b.max);
    out.first = unionRanges(out.first, b.first);
    out.last = unionRanges(out.last, b.last);
    out.chars = unionRanges(out.chars, b.chars);
    out.ambiguous ||= b.ambiguous;
    out.unbounded ||= b.unbounded;
    out.total ||= b.total;
    out.anchored &&= b.anchored;
    if (b.degree > out.degree) {
      out.degree = b.degree;
      out.degreeAt = b.degreeAt;
    }
  }
  return out;
}

/** `x{lo,hi}` (hi Infinity for *, +, {n,}); throws RegexCostError for exponential repetition (rule 1). */
export function repeatShape(x: Shape, lo: number, hi: number, at: number, text: string): Shape {
  const big = hi > LARGE_REPEAT;
  const boundaryOverlaps = x.variable && intersects(x.first, x.last);
  if (hi > 1 && big && x.max > 0 && (x.ambiguous || boundaryOverlaps)) {
    throw new RegexCostError(
      `"${text}" repeats a part that can match the same text in more than one way, which takes exponential time on a crafted value (catastrophic backtracking); make each repetition end differently from how the next one starts, e.g. (?:[^,]+,)* rather than (?:\\w+,?)*`,
      at,
    );
  }
  let degree = x.degree;
  let degreeAt = x.degreeAt;
  // A few repetitions of an absorbing part chain with each other, like writing it out hi times.
  if (hi > 1 && !big && absorbs(x) && boundaryOverlaps) {
    degree = Math.max(x.degree, 1) * hi;
    degreeAt = at;
  }
  return {
    min: lo * x.min,
    max: x.max === 0 ? 0 : hi === Infinity || x.max === Infinity ? Infinity : hi * x.max,
    first: hi === 0 ? NO_CHARS : x.first,
    last: hi === 0 ? NO_CHARS : x.last,
    chars: hi === 0 ? NO_CHARS : x.chars,
    variable: x.variable || (lo !== hi && x.max > 0),
    ambiguous: x.ambiguous,
    unbounded: x.unbounded || (big && x.max > 0),
    total: lo === 0 || x.total,
    anchored: lo > 0 && x.anchored,
    degree,
    degreeAt,
  };
}

/** Rule 2 for the whole pattern: its polynomial degree; throws RegexCostError above MAX_DEGREE. */
export function checkDegree(whole: Shape): number {
  const degree = whole.degree + (whole.anchored ? 0 : 1);
  if (degree > MAX_DEGREE) {
    throw new RegexCostError(
      `quantifiers here can match the same characters one after another (like .*a.*b), so matching can take time of order n^${degree} on a crafted value of length n; anchor the pattern with ^, or make the parts exclusive ([^@]* rather than .*)`,
      whole.degreeAt,
    );
  }
  return degree;
}

/** Rule 3: refuses text longer than the pattern's bound (fail closed). */
export function checkInputLength(input: string, max: number): void {
  if (input.length > max) {
    throw new RegexInputError(
      `the value is ${input.length} characters long; this regular expression runs on at most ${max} (its backtracking cost grows too fast beyond)`,
    );
  }
}

export class RegexInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegexInputError';
  }
}
