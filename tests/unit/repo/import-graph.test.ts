// The import graph of server/ (issue 15, "Done when": no import circle is left, and nothing below protocols/
// imports from it; architecture.md's dependency rule). Every static import of every server/**/*.ts file counts:
// `import`, `import type`, `export … from` and `import x = require(…)`. TypeScript's own parser reads them, so a
// string or a comment that looks like an import is not one. Dynamic `import()` is not a static edge and is left out.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { filesUnder, REPO_ROOT } from '../../helpers/repo-files.ts';

const root = REPO_ROOT;
const serverDir = join(root, 'server');

/** Layers that sit below protocols/ and must never import from it. */
const BELOW_PROTOCOLS = [
  'authn',
  'claims',
  'directory',
  'tokens',
  'trust',
  'keys',
  'stores',
  'lib',
  'observability',
  'config',
  'http',
];

/** The module specifiers a source file imports statically. */
function staticImports(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier))
      out.push(st.moduleSpecifier.text);
    else if (
      ts.isExportDeclaration(st) &&
      st.moduleSpecifier !== undefined &&
      ts.isStringLiteral(st.moduleSpecifier)
    )
      out.push(st.moduleSpecifier.text);
    else if (
      ts.isImportEqualsDeclaration(st) &&
      ts.isExternalModuleReference(st.moduleReference) &&
      ts.isStringLiteral(st.moduleReference.expression)
    )
      out.push(st.moduleReference.expression.text);
  }
  return out;
}

/** A relative specifier as a repository path (`server/…/x.ts`), or undefined for a package / node: import. */
function resolveSpecifier(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  const candidates = [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')];
  const hit = candidates.find((c) => c.endsWith('.ts') && existsSync(c));
  return hit === undefined ? undefined : relative(root, hit).split(sep).join('/');
}

type Graph = Map<string, string[]>;

function serverGraph(): Graph {
  const graph: Graph = new Map();
  for (const file of filesUnder(serverDir, /(?<!\.d)\.ts$/)) {
    const deps = staticImports(file, readFileSync(file, 'utf8'))
      .map((s) => resolveSpecifier(file, s))
      .filter((d): d is string => d !== undefined);
    graph.set(relative(root, file).split(sep).join('/'), [...new Set(deps)].sort());
  }
  return graph;
}

/** Strongly connected components (Tarjan), iterative so a deep graph cannot overflow the stack. */
function components(graph: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work: { node: string; i: number }[] = [{ node: start, i: 0 }];
    index.set(start, next);
    low.set(start, next++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const deps = graph.get(frame.node) ?? [];
      if (frame.i < deps.length) {
        const dep = deps[frame.i++]!;
        if (!index.has(dep)) {
          index.set(dep, next);
          low.set(dep, next++);
          stack.push(dep);
          onStack.add(dep);
          work.push({ node: dep, i: 0 });
        } else if (onStack.has(dep)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(dep)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined)
        low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const scc: string[] = [];
        let n: string;
        do {
          n = stack.pop()!;
          onStack.delete(n);
          scc.push(n);
        } while (n !== frame.node);
        out.push(scc.sort());
      }
    }
  }
  return out;
}

/** The shortest cycle through `start` inside its component (breadth-first), as a path back to `start`. */
function shortestCycle(graph: Graph, members: Set<string>, start: string): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  for (let q = 0; q < queue.length; q++) {
    const node = queue[q]!;
    for (const dep of graph.get(node) ?? []) {
      if (!members.has(dep)) continue;
      if (dep === start) {
        const path = [start];
        for (let n = node; n !== start; n = prev.get(n)!) path.push(n);
        return [start, ...path.slice(1).reverse(), start];
      }
      if (!prev.has(dep)) {
        prev.set(dep, node);
        queue.push(dep);
      }
    }
  }
  return [];
}

/**
 * Every import circle, each as a path `a.ts → b.ts → a.ts`: per component, the shortest circle through each
 * member, each circle reported once (rotated to start at its smallest file).
 */
function cycles(graph: Graph): string[] {
  const found = new Set<string>();
  for (const scc of components(graph)) {
    const members = new Set(scc);
    const selfLoop = scc.length === 1 && (graph.get(scc[0]!) ?? []).includes(scc[0]!);
    if (scc.length < 2 && !selfLoop) continue;
    for (const start of scc) {
      const path = shortestCycle(graph, members, start).slice(0, -1);
      if (path.length === 0) continue;
      const first = path.indexOf([...path].sort()[0]!);
      const rotated = [...path.slice(first), ...path.slice(0, first)];
      found.add([...rotated, rotated[0]].join(' → '));
    }
  }
  return [...found].sort();
}

test('the cycle finder reports each circle as a path, and nothing for a one-way graph', () => {
  const g: Graph = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts', 'd.ts']],
    ['c.ts', ['a.ts']],
    ['d.ts', ['e.ts']],
    ['e.ts', ['d.ts']],
    ['f.ts', ['f.ts']],
    ['g.ts', ['a.ts']],
  ]);
  assert.deepEqual(cycles(g), ['a.ts → b.ts → c.ts → a.ts', 'd.ts → e.ts → d.ts', 'f.ts → f.ts']);
  assert.deepEqual(
    cycles(
      new Map([
        ['a.ts', ['b.ts', 'c.ts']],
        ['b.ts', ['c.ts']],
      ]),
    ),
    [],
  );
});

test('the import reader sees import, import type, export from and import = require, not comments', () => {
  const text = [
    "import { a } from './a.ts';",
    "import type { B } from './b.ts';",
    "import './side-effect.ts';",
    "export { c } from './c.ts';",
    "export type * from './d.ts';",
    "import e = require('./e.ts');",
    "// import { f } from './f.ts';",
    "const g = '../g.ts';",
    "const h = await import('./h.ts');",
  ].join('\n');
  assert.deepEqual(staticImports('x.ts', text), [
    './a.ts',
    './b.ts',
    './side-effect.ts',
    './c.ts',
    './d.ts',
    './e.ts',
  ]);
});

test('no import circle anywhere in server/', () => {
  const graph = serverGraph();
  assert.ok(graph.size > 100, `read ${String(graph.size)} files`);
  assert.deepEqual(cycles(graph), []);
});

test('nothing below protocols/ imports from server/protocols/', () => {
  const offenders: string[] = [];
  for (const [file, deps] of serverGraph()) {
    const layer = file.split('/')[1] ?? '';
    if (!BELOW_PROTOCOLS.includes(layer)) continue;
    for (const dep of deps)
      if (dep.startsWith('server/protocols/')) offenders.push(`${file} → ${dep}`);
  }
  assert.deepEqual(offenders, []);
});

test('lib/ imports nothing of ours outside lib/', () => {
  const offenders: string[] = [];
  for (const [file, deps] of serverGraph()) {
    if (!file.startsWith('server/lib/')) continue;
    for (const dep of deps) if (!dep.startsWith('server/lib/')) offenders.push(`${file} → ${dep}`);
  }
  assert.deepEqual(offenders, []);
});
