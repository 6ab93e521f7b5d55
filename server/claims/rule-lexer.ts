/**
 * Tokens of the AD FS claim rule language. String literals follow the published grammar of the language
 * ("Claims Transformation Rules Language", terminal STRING = `"[^"\n]*"`): there are no escape sequences, so a
 * backslash is always a literal character. That is what makes the Entra Connect rule text work as written:
 * `"(?<domain>[^\\]+)\\(?<user>.+)"` is the .NET regex `(?<domain>[^\\]+)\\(?<user>.+)`, matching CORP\jdoe, and
 * the common `RegExReplace(c.Value, "CORP\\", "")` (a string that ends in a backslash) parses. A string cannot
 * contain `"` or a line break.
 */
import type { SourcePosition } from './rule-ast.ts';

export type TokenKind =
  | 'word' // identifiers and keywords (case-insensitive keywords are recognised by the parser)
  | 'string'
  | 'number'
  | 'annotation' // @RuleName
  | '=>'
  | '&&'
  | '=='
  | '!='
  | '=~'
  | '!~'
  | '>='
  | '<='
  | '>'
  | '<'
  | '='
  | '+'
  | '.'
  | ','
  | ':'
  | ';'
  | '('
  | ')'
  | '['
  | ']'
  | 'eof';

export interface Token {
  kind: TokenKind;
  /** The word, the string's content (without quotes), the annotation name, or the operator. */
  text: string;
  pos: SourcePosition;
  /** Offset just after the token. */
  end: number;
}

export class LexError extends Error {
  readonly pos: SourcePosition;
  constructor(message: string, pos: SourcePosition) {
    super(message);
    this.name = 'LexError';
    this.pos = pos;
  }
}

const OPERATORS: TokenKind[] = ['=>', '&&', '==', '!=', '=~', '!~', '>=', '<='];
const SINGLE = new Set<string>(['>', '<', '=', '+', '.', ',', ':', ';', '(', ')', '[', ']']);

/**
 * Produces tokens on demand (so that a lexical error is reported with the rule being parsed), tracking line and
 * column; CRLF counts as one line break.
 */
export class Lexer {
  readonly #source: string;
  #i: number;
  #line = 1;
  #lineStart = 0;

  constructor(source: string) {
    this.#source = source;
    this.#i = source.startsWith('\uFEFF') ? 1 : 0;
  }

  #pos(offset: number): SourcePosition {
    return { line: this.#line, column: offset - this.#lineStart + 1, offset };
  }

  next(): Token {
    const source = this.#source;
    let i = this.#i;
    for (;;) {
      const ch = source.charAt(i);
      if (ch === '\n') {
        i++;
        this.#line++;
        this.#lineStart = i;
      } else if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\f' || ch === '\u00a0') {
        i++;
      } else break;
    }
    const start = i;
    const token = (kind: TokenKind, text: string, end: number): Token => {
      this.#i = end;
      return { kind, text, pos: this.#pos(start), end };
    };
    if (i >= source.length) return token('eof', '', i);
    const ch = source.charAt(i);
    if (ch === '"') {
      let j = i + 1;
      while (j < source.length && source.charAt(j) !== '"') {
        if (source.charAt(j) === '\n' || source.charAt(j) === '\r')
          throw new LexError('string literal is not closed on this line', this.#pos(start));
        j++;
      }
      if (j >= source.length) throw new LexError('string literal is not closed', this.#pos(start));
      return token('string', source.slice(i + 1, j), j + 1);
    }
    if (ch === '\u201c' || ch === '\u201d' || ch === '\u201e') {
      throw new LexError(
        'typographic quotation mark: string literals use the plain " character',
        this.#pos(start),
      );
    }
    if (/[A-Za-z_]/.test(ch)) {
      let j = i + 1;
      while (j < source.length && /[A-Za-z0-9_]/.test(source.charAt(j))) j++;
      return token('word', source.slice(i, j), j);
    }
    if (/[0-9]/.test(ch)) {
      let j = i + 1;
      while (j < source.length && /[0-9]/.test(source.charAt(j))) j++;
      return token('number', source.slice(i, j), j);
    }
    if (ch === '@') {
      let j = i + 1;
      while (j < source.length && /[A-Za-z0-9_]/.test(source.charAt(j))) j++;
      if (j === i + 1)
        throw new LexError('"@" must be followed by an annotation name', this.#pos(start));
      return token('annotation', source.slice(i + 1, j), j);
    }
    const two = source.slice(i, i + 2);
    const op = OPERATORS.find((o) => o === two);
    if (op !== undefined) return token(op, op, i + 2);
    if (SINGLE.has(ch)) return token(ch as TokenKind, ch, i + 1);
    throw new LexError(`unexpected character "${ch}"`, this.#pos(start));
  }
}
