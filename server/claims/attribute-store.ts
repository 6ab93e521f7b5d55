/**
 * Attribute stores: where `issue(store = "…", types = (…), query = "…", param = …)` gets its values ([CRL]
 * "Attribute store"). A store answers a query with one column of values per claim type, in the order of the
 * types; the rule issues one claim per value.
 */

export interface AttributeStore {
  /** The name rules use (`store = "Active Directory"`). */
  readonly name: string;
  /**
   * Checks a query text when the rule set loads; returns how many columns (claim types) it yields. Throws an
   * Error whose message says what is wrong. `paramCount` is the number of `param = …` arguments.
   */
  check(query: string, paramCount: number): number;
  /** Runs the query; params are the evaluated `param = …` arguments in order. */
  query(query: string, params: readonly string[]): Promise<string[][]>;
}

/** A query's static checker, available before any directory exists (rule sets compile at startup). */
export type StoreChecker = (query: string, paramCount: number) => number;

/** Finds a store by name: exact first, then ignoring case (AD FS store names are not case-sensitive). */
export function findByName<T extends { name: string }>(
  items: Iterable<T>,
  name: string,
): T | undefined {
  let loose: T | undefined;
  for (const item of items) {
    if (item.name === name) return item;
    if (loose === undefined && item.name.toLowerCase() === name.toLowerCase()) loose = item;
  }
  return loose;
}

/**
 * .NET String.Format placeholders as attribute stores use them: `{0}`, `{1}`, … replaced by the params, `{{` and
 * `}}` for literal braces. Format specifiers and alignment (`{0:x}`, `{0,5}`) are refused. `encode` escapes each
 * value for the context it lands in (an LDAP filter, for instance).
 */
export function formatQuery(
  template: string,
  params: readonly string[],
  encode: (value: string) => string = (v) => v,
): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const ch = template.charAt(i);
    if (ch === '{' && template.charAt(i + 1) === '{') {
      out += '{';
      i++;
    } else if (ch === '}' && template.charAt(i + 1) === '}') {
      out += '}';
      i++;
    } else if (ch === '{') {
      const m = /^\{(\d+)\}/.exec(template.slice(i));
      if (m === null)
        throw new Error(`malformed placeholder at "${template.slice(i, i + 8)}" (use {0}, {1}, …)`);
      const index = Number(m[1]);
      const value = params[index];
      if (value === undefined)
        throw new Error(
          `placeholder {${index}} has no matching param (the rule gives ${params.length})`,
        );
      out += encode(value);
      i += m[0].length - 1;
    } else if (ch === '}') {
      throw new Error('unmatched "}" in the query (write "}}" for a literal brace)');
    } else {
      out += ch;
    }
  }
  return out;
}

/** The highest placeholder index used, or -1; throws on malformed placeholders. */
export function highestPlaceholder(template: string): number {
  let max = -1;
  const probe = Array.from({ length: 100 }, (_, i) => String(i));
  formatQuery(template, probe, (v) => {
    max = Math.max(max, Number(v));
    return v;
  });
  return max;
}
