import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { AUDIT_EVENTS, AuditEventIds } from '../../../server/observability/audit.ts';

/**
 * docs/events.md must list every audit and log event the server writes, with its stream, level and AD FS id, and
 * nothing it no longer writes (house rule: docs/ covers each key and each event).
 *
 * The server is read with the TypeScript parser rather than a regex: an `event` property of an object literal is
 * an event (`event: cond ? 'banned_address' : 'source_rate_limited'` gives both names), while a parameter typed
 * `event: 'error'` (server/stores/redis.ts) is a type annotation and not an object literal, so it never counts.
 */

const root = fileURLToPath(new URL('../../../', import.meta.url));
const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

interface Emitted {
  /** Where it is written, for the failure message. */
  sites: string[];
  /** `audit` (the audit child logger) or `log` (operational), from call sites that pass the literal directly. */
  streams: Set<string>;
  levels: Set<string>;
  /** AD FS event ids written next to the name in the same object literal. */
  ids: Set<number>;
}

function serverFiles(): string[] {
  return readdirSync(join(root, 'server'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(root, 'server', f));
}

function propertyNamed(
  o: ts.ObjectLiteralExpression,
  name: string,
): ts.ObjectLiteralElement | undefined {
  return o.properties.find(
    (p) =>
      (ts.isPropertyAssignment(p) || ts.isShorthandPropertyAssignment(p)) &&
      (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) &&
      p.name.text === name,
  );
}

/** Every value an expression can take, when each is a literal (a ternary gives both branches). */
function literals<T>(
  e: ts.Expression,
  leaf: (e: ts.Expression) => T | undefined,
  where: string,
  problems: string[],
): T[] {
  if (ts.isParenthesizedExpression(e)) return literals(e.expression, leaf, where, problems);
  if (ts.isConditionalExpression(e))
    return [
      ...literals(e.whenTrue, leaf, where, problems),
      ...literals(e.whenFalse, leaf, where, problems),
    ];
  const v = leaf(e);
  if (v === undefined) problems.push(`${where}: \`${e.getText()}\` is not a literal`);
  return v === undefined ? [] : [v];
}

const eventName = (e: ts.Expression): string | undefined =>
  ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e) ? e.text : undefined;

const eventId = (e: ts.Expression): number | undefined => {
  if (ts.isNumericLiteral(e)) return Number(e.text);
  // AuditEventIds.badPassword and the like (server/observability/audit.ts).
  if (
    ts.isPropertyAccessExpression(e) &&
    ts.isIdentifier(e.expression) &&
    e.expression.text === 'AuditEventIds'
  )
    return (AuditEventIds as Record<string, number | undefined>)[e.name.text];
  return undefined;
};

function scanServer(): { emitted: Map<string, Emitted>; problems: string[] } {
  const emitted = new Map<string, Emitted>();
  const problems: string[] = [];
  for (const file of serverFiles()) {
    const text = readFileSync(file, 'utf8');
    if (!/\bevent\b/.test(text)) continue;
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    // `const base = { event: 'signin', … }` spread into the logged literal: the literal inherits the name.
    const declared = new Map<string, ts.ObjectLiteralExpression[]>();
    const collect = (n: ts.Node): void => {
      if (
        ts.isVariableDeclaration(n) &&
        ts.isIdentifier(n.name) &&
        n.initializer !== undefined &&
        ts.isObjectLiteralExpression(n.initializer)
      )
        declared.set(n.name.text, [...(declared.get(n.name.text) ?? []), n.initializer]);
      ts.forEachChild(n, collect);
    };
    collect(sf);

    const visit = (n: ts.Node): void => {
      if (ts.isObjectLiteralExpression(n)) {
        const where = `${relative(root, file)}:${String(sf.getLineAndCharacterOfPosition(n.getStart()).line + 1)}`;
        let source = n;
        let own = propertyNamed(n, 'event');
        if (own === undefined) {
          // No own name: one spread of a local object literal that has one (declared once in this file).
          for (const p of n.properties) {
            if (!ts.isSpreadAssignment(p) || !ts.isIdentifier(p.expression)) continue;
            const decls = declared.get(p.expression.text);
            const only = decls?.length === 1 ? decls[0] : undefined;
            const inherited = only === undefined ? undefined : propertyNamed(only, 'event');
            if (only !== undefined && inherited !== undefined) {
              source = only;
              own = inherited;
            }
          }
        }
        if (own !== undefined) {
          const names = ts.isPropertyAssignment(own)
            ? literals(own.initializer, eventName, where, problems)
            : (problems.push(`${where}: \`event\` shorthand is not a literal`), []);
          const idProp = propertyNamed(n, 'eventId');
          const ids =
            idProp === undefined
              ? []
              : ts.isPropertyAssignment(idProp)
                ? literals(idProp.initializer, eventId, where, problems)
                : (problems.push(`${where}: \`eventId\` shorthand is not a literal`), []);
          // `audit.warn({ event: … }, msg)`, `s.log.error(…)`, `this.#o.log.info(…)`: stream and level.
          const call = n.parent;
          let stream: string | undefined;
          let level: string | undefined;
          if (
            ts.isCallExpression(call) &&
            call.arguments[0] === n &&
            ts.isPropertyAccessExpression(call.expression) &&
            LEVELS.has(call.expression.name.text)
          ) {
            level = call.expression.name.text;
            const receiver = call.expression.expression.getText();
            stream = /\baudit$/.test(receiver)
              ? 'audit'
              : /(\blog|#log|\blogger|#logger)$/.test(receiver)
                ? 'log'
                : undefined;
          }
          for (const name of names) {
            const e = emitted.get(name) ?? {
              sites: [],
              streams: new Set<string>(),
              levels: new Set<string>(),
              ids: new Set<number>(),
            };
            if (source === n || stream !== undefined) e.sites.push(where);
            if (stream !== undefined) e.streams.add(stream);
            if (level !== undefined) e.levels.add(level);
            for (const id of ids) e.ids.add(id);
            emitted.set(name, e);
          }
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return { emitted, problems };
}

interface Documented {
  stream: string;
  levels: Set<string>;
  ids: Set<number>;
}

/** Rows of the event tables in docs/events.md: | `name` | audit or log | levels | AD FS ids | … */
function documented(): Map<string, Documented> {
  const doc = readFileSync(join(root, 'docs', 'events.md'), 'utf8');
  const rows = new Map<string, Documented>();
  const row = /^\|\s*`([a-z0-9_]+)`\s*\|\s*(audit|log)\s*\|([^|]*)\|([^|]*)\|/gm;
  for (const m of doc.matchAll(row)) {
    const [, name = '', stream = '', levels = '', ids = ''] = m;
    assert.equal(rows.has(name), false, `docs/events.md has two rows for \`${name}\``);
    rows.set(name, {
      stream,
      levels: new Set(levels.split(',').map((l) => l.trim())),
      ids: new Set([...ids.matchAll(/\d+/g)].map((d) => Number(d[0]))),
    });
  }
  return rows;
}

const { emitted, problems } = scanServer();
const doc = documented();

test('the scan of server/ sees the events (and not type annotations)', () => {
  assert.deepEqual(
    problems,
    [],
    'event names and ids must be literals so docs/events.md can be checked',
  );
  assert.ok(emitted.size >= 25, `only ${String(emitted.size)} events found: the scanner is broken`);
  for (const name of [
    'signin',
    'token_issued',
    'issuance_failed',
    'store_unreachable',
    'banned_address',
  ])
    assert.ok(emitted.has(name), `${name} not found in server/`);
  // server/stores/redis.ts: `on(event: 'error', …)` and `(event: 'error' | 'ready', …) => void` are types.
  assert.equal(emitted.has('error'), false);
  assert.equal(emitted.has('ready'), false);
});

test('docs/events.md documents every event the server writes', () => {
  const missing = [...emitted.keys()]
    .filter((name) => !doc.has(name))
    .map((name) => `${name} (${(emitted.get(name)?.sites ?? []).join(', ')})`);
  assert.deepEqual(missing, [], 'add a row to docs/events.md for each');
});

test('docs/events.md documents no event the server no longer writes', () => {
  const stale = [...doc.keys()].filter((name) => !emitted.has(name));
  assert.deepEqual(stale, [], 'remove these rows from docs/events.md');
});

test('docs/events.md gives each event its stream, levels and AD FS ids', () => {
  const wrong: string[] = [];
  for (const [name, e] of emitted) {
    const d = doc.get(name);
    if (d === undefined) continue; // reported above
    for (const s of e.streams)
      if (s !== d.stream) wrong.push(`${name}: written to ${s}, documented as ${d.stream}`);
    for (const l of e.levels)
      if (!d.levels.has(l)) wrong.push(`${name}: written at ${l}, not documented`);
    const ids = [...e.ids].sort();
    const docIds = [...d.ids].sort();
    if (ids.join() !== docIds.join())
      wrong.push(
        `${name}: AD FS ids written [${ids.join(', ')}], documented [${docIds.join(', ')}]`,
      );
  }
  assert.deepEqual(wrong, []);
});

/**
 * The audit events' field tables: under `## Audit event fields`, a `### \`name\`` heading per event and a table
 * whose rows start with one backquoted field name.
 */
function documentedFields(): Map<string, string[]> {
  const doc = readFileSync(join(root, 'docs', 'events.md'), 'utf8');
  const start = doc.indexOf('\n## Audit event fields\n');
  assert.notEqual(start, -1, 'docs/events.md has no "## Audit event fields" section');
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end === -1 ? undefined : end);
  const tables = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of section.split('\n')) {
    const heading = /^### `([a-z0-9_]+)`\s*$/.exec(line);
    if (heading !== null) {
      const name = heading[1] ?? '';
      assert.equal(tables.has(name), false, `two field tables for \`${name}\``);
      current = [];
      tables.set(name, current);
      continue;
    }
    const row = /^\|\s*`([A-Za-z0-9_]+)`\s*\|/.exec(line);
    if (row !== null) {
      assert.ok(current !== undefined, `field row before any event heading: ${line}`);
      current.push(row[1] ?? '');
    }
  }
  return tables;
}

const fieldTables = documentedFields();

test('every audit event of AUDIT_EVENTS has a row with exactly its levels and AD FS ids', () => {
  const wrong: string[] = [];
  for (const e of AUDIT_EVENTS) {
    const d = doc.get(e.name);
    if (d === undefined) {
      wrong.push(`${e.name}: no row`);
      continue;
    }
    if (d.stream !== 'audit') wrong.push(`${e.name}: documented as ${d.stream}, it is audit`);
    const levels = [...e.levels].sort().join();
    if ([...d.levels].sort().join() !== levels)
      wrong.push(`${e.name}: levels documented [${[...d.levels].join()}], catalogue [${levels}]`);
    const ids = [...e.ids].sort().join();
    if ([...d.ids].sort().join() !== ids)
      wrong.push(`${e.name}: AD FS ids documented [${[...d.ids].join()}], catalogue [${ids}]`);
  }
  assert.deepEqual(wrong, []);
});

test('every audit line the server writes is an event of AUDIT_EVENTS (observability/audit.ts)', () => {
  const names = new Set(AUDIT_EVENTS.map((e) => e.name));
  const outside = [...emitted]
    .filter(([name, e]) => e.streams.has('audit') && !names.has(name))
    .map(([name, e]) => `${name} (${e.sites.join(', ')})`);
  assert.deepEqual(outside, [], 'add a typed function and a catalogue entry to audit.ts');
  const rows = [...doc].filter(([, d]) => d.stream === 'audit').map(([name]) => name);
  assert.deepEqual(
    rows.filter((name) => !names.has(name)),
    [],
    'rows of audit events that audit.ts does not have',
  );
});

test("docs/events.md lists each audit event's fields exactly as its type in audit.ts has them", () => {
  const wrong: string[] = [];
  for (const e of AUDIT_EVENTS) {
    const documented = fieldTables.get(e.name);
    if (documented === undefined) {
      wrong.push(`${e.name}: no field table`);
      continue;
    }
    const typed = new Set(e.fields);
    for (const f of documented)
      if (!typed.has(f)) wrong.push(`${e.name}: documents \`${f}\`, which its type does not have`);
    for (const f of e.fields)
      if (!documented.includes(f)) wrong.push(`${e.name}: field \`${f}\` is not documented`);
    if (new Set(documented).size !== documented.length)
      wrong.push(`${e.name}: a field is documented twice`);
  }
  const names = new Set(AUDIT_EVENTS.map((e) => e.name));
  for (const name of fieldTables.keys())
    if (!names.has(name)) wrong.push(`${name}: field table for an event audit.ts does not have`);
  assert.deepEqual(wrong, []);
});
