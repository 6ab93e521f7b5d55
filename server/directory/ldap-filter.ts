/**
 * LDAP search filters in their string form (RFC 4515), for the filters administrators write in claim rules
 * (`query = "(&(objectClass=group)(member={0}));cn;{1}"`). Parsed here rather than with ldapts' FilterParser,
 * which decodes `\xx` escapes byte by byte into UTF-16 characters and re-encodes them as UTF-8: any escaped byte
 * ≥ 0x80 (an objectSid, objectGUID, or an escaped non-ASCII letter) would reach the DC altered. Values are kept
 * as bytes; equality filters go out as raw OCTET STRINGs.
 *
 * Values substituted into a filter from claims must be escaped first (ldapts `Filter.escape`, RFC 4515 §3), so
 * they can never add filter structure; this parser then sees them as plain values.
 *
 * The same tree is evaluated in memory by the embedded directory (`matchesFilter`).
 */
import {
  AndFilter,
  ApproximateFilter,
  EqualityFilter,
  ExtensibleFilter,
  GreaterThanEqualsFilter,
  LessThanEqualsFilter,
  NotFilter,
  OrFilter,
  PresenceFilter,
  SubstringFilter,
  type Filter,
} from 'ldapts';

export type FilterNode =
  | { op: 'and' | 'or'; children: FilterNode[] }
  | { op: 'not'; child: FilterNode }
  | { op: 'equal' | 'ge' | 'le' | 'approx'; attribute: string; value: Buffer }
  | { op: 'present'; attribute: string }
  | {
      op: 'substring';
      attribute: string;
      initial: Buffer | undefined;
      any: Buffer[];
      final: Buffer | undefined;
    }
  | {
      op: 'extensible';
      attribute: string | undefined;
      rule: string | undefined;
      dnAttributes: boolean;
      value: Buffer;
    };

export class LdapFilterError extends Error {
  readonly index: number;
  constructor(message: string, index: number) {
    super(`LDAP filter: ${message} (at character ${index + 1})`);
    this.name = 'LdapFilterError';
    this.index = index;
  }
}

const MAX_DEPTH = 32;
// RFC 4512 descr / numericoid, with options (;binary).
const ATTRIBUTE_RE = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)(?:;[A-Za-z0-9-]+)*/;

class FilterParser {
  readonly #s: string;
  #i = 0;
  constructor(s: string) {
    this.#s = s;
  }

  parse(): FilterNode {
    const node = this.#filter(0);
    this.#spaces();
    if (this.#i !== this.#s.length) throw new LdapFilterError('text after the filter', this.#i);
    return node;
  }

  #spaces(): void {
    while (this.#s.charAt(this.#i) === ' ') this.#i++;
  }

  #filter(depth: number): FilterNode {
    if (depth > MAX_DEPTH) throw new LdapFilterError('nested too deeply', this.#i);
    this.#spaces();
    if (this.#s.charAt(this.#i) !== '(') throw new LdapFilterError('expected "("', this.#i);
    this.#i++;
    const ch = this.#s.charAt(this.#i);
    let node: FilterNode;
    if (ch === '&' || ch === '|') {
      this.#i++;
      const children: FilterNode[] = [];
      for (;;) {
        this.#spaces();
        if (this.#s.charAt(this.#i) !== '(') break;
        children.push(this.#filter(depth + 1));
      }
      // (&) and (|) are the absolute true and false filters (RFC 4526).
      node = { op: ch === '&' ? 'and' : 'or', children };
    } else if (ch === '!') {
      this.#i++;
      node = { op: 'not', child: this.#filter(depth + 1) };
      this.#spaces();
    } else {
      node = this.#item();
    }
    if (this.#s.charAt(this.#i) !== ')') throw new LdapFilterError('expected ")"', this.#i);
    this.#i++;
    return node;
  }

  #item(): FilterNode {
    const start = this.#i;
    const rest = this.#s.slice(this.#i);
    let attribute: string | undefined;
    const m = ATTRIBUTE_RE.exec(rest);
    if (m !== null) {
      attribute = m[0];
      this.#i += attribute.length;
    }
    const after = this.#s.slice(this.#i);
    if (after.startsWith(':')) return this.#extensible(attribute, start);
    if (attribute === undefined) throw new LdapFilterError('expected an attribute name', start);
    for (const [token, op] of [
      ['>=', 'ge'],
      ['<=', 'le'],
      ['~=', 'approx'],
    ] as const) {
      if (after.startsWith(token)) {
        this.#i += 2;
        return { op, attribute, value: this.#value(false) };
      }
    }
    if (!after.startsWith('='))
      throw new LdapFilterError('expected "=", ">=", "<=" or "~="', this.#i);
    this.#i++;
    if (this.#s.slice(this.#i, this.#i + 2) === '*)') {
      this.#i++;
      return { op: 'present', attribute };
    }
    const parts: Buffer[] = [];
    let stars = 0;
    for (;;) {
      parts.push(this.#value(true));
      if (this.#s.charAt(this.#i) !== '*') break;
      this.#i++;
      stars++;
    }
    if (stars === 0) return { op: 'equal', attribute, value: parts[0] ?? Buffer.alloc(0) };
    const first = parts[0] ?? Buffer.alloc(0);
    const last = parts[parts.length - 1] ?? Buffer.alloc(0);
    const any = parts.slice(1, -1);
    if (any.some((p) => p.length === 0))
      throw new LdapFilterError('"**" in a substring filter', this.#i);
    return {
      op: 'substring',
      attribute,
      initial: first.length === 0 ? undefined : first,
      any,
      final: last.length === 0 ? undefined : last,
    };
  }

  #extensible(attribute: string | undefined, start: number): FilterNode {
    let dnAttributes = false;
    let rule: string | undefined;
    let rest = this.#s.slice(this.#i);
    if (/^:dn(?=:)/i.test(rest)) {
      dnAttributes = true;
      this.#i += 3;
      rest = this.#s.slice(this.#i);
    }
    const r = /^:([A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)(?=:=)/.exec(rest);
    if (r !== null) {
      rule = r[1];
      this.#i += r[0].length;
      rest = this.#s.slice(this.#i);
    }
    if (!rest.startsWith(':='))
      throw new LdapFilterError('expected ":=" in an extensible match', this.#i);
    if (attribute === undefined && rule === undefined)
      throw new LdapFilterError('an extensible match needs an attribute or a matching rule', start);
    this.#i += 2;
    return { op: 'extensible', attribute, rule, dnAttributes, value: this.#value(false) };
  }

  /** An assertion value up to ")" (or "*" in substrings), `\xx` escapes decoded to bytes. */
  #value(substring: boolean): Buffer {
    const bytes: number[] = [];
    for (;;) {
      const ch = this.#s.charAt(this.#i);
      if (ch === '') throw new LdapFilterError('unterminated value', this.#i);
      if (ch === ')' || (substring && ch === '*')) break;
      if (ch === '(' || ch === '\u0000' || ch === '*')
        throw new LdapFilterError(
          `unescaped "${ch === '\u0000' ? 'NUL' : ch}" in a value`,
          this.#i,
        );
      if (ch === '\\') {
        const hex = this.#s.slice(this.#i + 1, this.#i + 3);
        if (!/^[0-9A-Fa-f]{2}$/.test(hex))
          throw new LdapFilterError('"\\" must be followed by two hex digits', this.#i);
        bytes.push(Number.parseInt(hex, 16));
        this.#i += 3;
        continue;
      }
      const cp = this.#s.codePointAt(this.#i) ?? 0;
      const text = String.fromCodePoint(cp);
      bytes.push(...Buffer.from(text, 'utf8'));
      this.#i += text.length;
    }
    return Buffer.from(bytes);
  }
}

/** Parses an RFC 4515 filter; a bare item (`samAccountName=x`, as AD FS queries write it) gets its parentheses. */
export function parseLdapFilter(text: string): FilterNode {
  const trimmed = text.trim();
  if (trimmed === '') throw new LdapFilterError('empty filter', 0);
  return new FilterParser(trimmed.startsWith('(') ? trimmed : `(${trimmed})`).parse();
}

function utf8(value: Buffer, what: string): string {
  const s = value.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(value))
    throw new LdapFilterError(`${what} values must be UTF-8 text`, 0);
  return s;
}

/** The ldapts Filter object for a parsed filter (equality values travel as raw bytes). */
export function toLdapts(node: FilterNode): Filter {
  switch (node.op) {
    case 'and':
      return new AndFilter({ filters: node.children.map(toLdapts) });
    case 'or':
      return new OrFilter({ filters: node.children.map(toLdapts) });
    case 'not':
      return new NotFilter({ filter: toLdapts(node.child) });
    case 'present':
      return new PresenceFilter({ attribute: node.attribute });
    case 'equal':
      return new EqualityFilter({ attribute: node.attribute, value: node.value });
    case 'ge':
      return new GreaterThanEqualsFilter({
        attribute: node.attribute,
        value: utf8(node.value, '>='),
      });
    case 'le':
      return new LessThanEqualsFilter({ attribute: node.attribute, value: utf8(node.value, '<=') });
    case 'approx':
      return new ApproximateFilter({ attribute: node.attribute, value: utf8(node.value, '~=') });
    case 'substring':
      return new SubstringFilter({
        attribute: node.attribute,
        initial: node.initial === undefined ? '' : utf8(node.initial, 'substring'),
        any: node.any.map((a) => utf8(a, 'substring')),
        final: node.final === undefined ? '' : utf8(node.final, 'substring'),
      });
    case 'extensible':
      return new ExtensibleFilter({
        matchType: node.attribute ?? '',
        rule: node.rule ?? '',
        dnAttributes: node.dnAttributes,
        value: utf8(node.value, 'extensible match'),
      });
  }
}

// ---------------------------------------------------------------------------------------------------------
// In-memory evaluation (embedded directory).

export type EntryValues = ReadonlyMap<string, readonly (string | Buffer)[]>;

export interface MatchContext {
  /** Values of `attribute` (lower-case name) on `entry`. */
  values(entry: EntryValues, attribute: string): readonly (string | Buffer)[];
  /** LDAP_MATCHING_RULE_IN_CHAIN: does `entry` reach the DN `target` by following `attribute` transitively? */
  inChain(entry: EntryValues, attribute: string, target: string): boolean;
}

/** AD matching rules the embedded directory evaluates ([MS-ADTS] §3.1.1.3.4.4). */
export const IN_CHAIN = '1.2.840.113556.1.4.1941';
const BIT_AND = '1.2.840.113556.1.4.803';
const BIT_OR = '1.2.840.113556.1.4.804';

function asText(v: string | Buffer): string {
  return typeof v === 'string' ? v : v.toString('utf8');
}

function equalValue(stored: string | Buffer, asserted: Buffer): boolean {
  // Binary attributes compare bytes; text compares case-insensitively (AD's usual string syntaxes).
  if (Buffer.isBuffer(stored)) return stored.equals(asserted);
  return stored.toLowerCase() === asserted.toString('utf8').toLowerCase();
}

function compareText(a: string, b: string): number {
  if (/^-?\d+$/.test(a) && /^-?\d+$/.test(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a.toLowerCase().localeCompare(b.toLowerCase());
}

function substringMatch(value: string, node: Extract<FilterNode, { op: 'substring' }>): boolean {
  const v = value.toLowerCase();
  let pos = 0;
  if (node.initial !== undefined) {
    const init = node.initial.toString('utf8').toLowerCase();
    if (!v.startsWith(init)) return false;
    pos = init.length;
  }
  for (const a of node.any) {
    const idx = v.indexOf(a.toString('utf8').toLowerCase(), pos);
    if (idx < 0) return false;
    pos = idx + a.length;
  }
  if (node.final !== undefined) {
    const fin = node.final.toString('utf8').toLowerCase();
    return v.length - fin.length >= pos && v.endsWith(fin);
  }
  return true;
}

/** Evaluates a filter against one entry; throws for matching rules it does not implement. */
export function matchesFilter(node: FilterNode, entry: EntryValues, ctx: MatchContext): boolean {
  switch (node.op) {
    case 'and':
      return node.children.every((c) => matchesFilter(c, entry, ctx));
    case 'or':
      return node.children.some((c) => matchesFilter(c, entry, ctx));
    case 'not':
      return !matchesFilter(node.child, entry, ctx);
    case 'present':
      return ctx.values(entry, node.attribute.toLowerCase()).length > 0;
    case 'equal':
    case 'approx':
      return ctx.values(entry, node.attribute.toLowerCase()).some((v) => equalValue(v, node.value));
    case 'ge':
    case 'le': {
      const asserted = node.value.toString('utf8');
      return ctx.values(entry, node.attribute.toLowerCase()).some((v) => {
        const c = compareText(asText(v), asserted);
        return node.op === 'ge' ? c >= 0 : c <= 0;
      });
    }
    case 'substring':
      return ctx
        .values(entry, node.attribute.toLowerCase())
        .some((v) => typeof v === 'string' && substringMatch(v, node));
    case 'extensible': {
      const attribute = node.attribute?.toLowerCase();
      if (attribute === undefined || node.dnAttributes)
        throw new LdapFilterError('extensible matches need an attribute and no :dn here', 0);
      const asserted = node.value.toString('utf8');
      if (node.rule === IN_CHAIN) return ctx.inChain(entry, attribute, asserted);
      if (node.rule === BIT_AND || node.rule === BIT_OR) {
        const mask = BigInt(asserted);
        return ctx.values(entry, attribute).some((v) => {
          const n = BigInt(asText(v));
          return node.rule === BIT_AND ? (n & mask) === mask : (n & mask) !== 0n;
        });
      }
      throw new LdapFilterError(`matching rule ${node.rule ?? '(none)'} is not supported here`, 0);
    }
  }
}
