// docs/security.md lists every case of the security corpus with the test that proves it, or the reason it does not
// apply (issue 14 §5). These tests keep the page honest: a case that loses its row, a test file that is renamed or
// a test name that changes fails here. The corpus itself lives in the planning material beside the repository and
// tests read nothing outside the checkout, so its case ids (ids only) are copied below.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const doc = readFileSync(join(root, 'docs/security.md'), 'utf8');

/**
 * Every case id of the corpus (../shared/security-corpus.md): sections A, B1–B5, C1–C7 and E as numbered there.
 * Section D is a table of minimum package versions without ids; docs/security.md numbers its rows D1–D11 in the
 * corpus's order (xml-crypto, samlify, @xmldom/xmldom, node-saml, passport-wsfed-saml2, ldapts, ldapjs, node-jose,
 * passport, express, Node.js) and calls the CI-gate line under it D12.
 */
const CORPUS_CASE_IDS = [
  ...range('A', 20),
  ...range('B1.', 9),
  ...range('B2.', 17),
  ...range('B3.', 11),
  ...range('B4.', 6),
  ...range('B5.', 5),
  ...range('C1.', 10),
  ...range('C2.', 3),
  ...range('C3.', 2),
  ...range('C4.', 6),
  ...range('C5.', 5),
  ...range('C6.', 8),
  ...range('C7.', 4),
  ...range('D', 12),
  ...range('E', 10),
];

function range(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
}

const STATUSES = new Set(['tested', 'partly', 'n/a', 'not tested']);
/** A repository path in backticks: what the page cites as a file. Globs and bare folders are prose. */
const PATH = /^(tests|server|bench|docs|views|metadata|docker|\.ci)\/[^\s*]*[^/\s*]$/;

interface Row {
  line: number;
  id: string;
  status: string;
  proof: string;
}

/** The rows of the case tables: a first cell that is a case id. */
function caseRows(): Row[] {
  const rows: Row[] = [];
  for (const [i, text] of doc.split('\n').entries()) {
    if (!text.startsWith('| ')) continue;
    const cells = text
      .slice(1, text.endsWith('|') ? -1 : undefined)
      .split('|')
      .map((c) => c.trim());
    const id = cells[0] ?? '';
    if (!/^[A-E]\d+(\.\d+)?$/.test(id)) continue;
    rows.push({ line: i + 1, id, status: cells[2] ?? '', proof: cells.slice(3).join('|') });
  }
  return rows;
}

/** Test names in “curly quotes”, each with the file cited last before it on the same line. */
function citations(): { line: number; file: string | undefined; name: string }[] {
  const out: { line: number; file: string | undefined; name: string }[] = [];
  for (const [i, text] of doc.split('\n').entries()) {
    let file: string | undefined;
    for (const m of text.matchAll(/`([^`]+)`|“([^”]+)”/g)) {
      if (m[1] !== undefined && PATH.test(m[1])) file = m[1];
      else if (m[2] !== undefined) out.push({ line: i + 1, file, name: m[2] });
    }
  }
  return out;
}

test('docs/security.md has exactly one row for every corpus case, and none for a case the corpus lacks', () => {
  const ids = caseRows().map((r) => r.id);
  const seen = new Set<string>();
  const duplicates = ids.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
  assert.deepEqual(duplicates, [], 'case ids with more than one row');
  assert.deepEqual(
    CORPUS_CASE_IDS.filter((id) => !seen.has(id)),
    [],
    'corpus cases without a row',
  );
  assert.deepEqual(
    ids.filter((id) => !CORPUS_CASE_IDS.includes(id)),
    [],
    'rows for ids the corpus does not have',
  );
});

test('every case row has a known status; tested rows cite a test by file and name, others give a reason', () => {
  const problems: string[] = [];
  for (const r of caseRows()) {
    if (!STATUSES.has(r.status)) problems.push(`line ${r.line} ${r.id}: status "${r.status}"`);
    const citesTest = /`tests\/[^`]+`[^|]*“[^”]+”/.test(r.proof);
    if ((r.status === 'tested' || r.status === 'partly') && !citesTest)
      problems.push(`line ${r.line} ${r.id}: ${r.status} without a test file and test name`);
  }
  assert.deepEqual(problems, []);
  // The rows that prove nothing must say why, in the description of the case (at least a sentence of it).
  for (const r of caseRows().filter((x) => x.status === 'n/a' || x.status === 'not tested')) {
    const description = doc.split('\n')[r.line - 1]?.split('|')[2] ?? '';
    assert.match(description, /not|no |does not apply/i, `line ${r.line} ${r.id}: reason`);
  }
});

test('every file docs/security.md names exists', () => {
  const missing: string[] = [];
  for (const [i, text] of doc.split('\n').entries())
    for (const m of text.matchAll(/`([^`]+)`/g)) {
      const p = m[1] ?? '';
      if (PATH.test(p) && !existsSync(join(root, p))) missing.push(`line ${i + 1}: ${p}`);
    }
  assert.deepEqual(missing, []);
});

test('every test name docs/security.md quotes occurs in the test file cited before it', () => {
  // A name broken over two lines would escape the check below.
  const open = doc
    .split('\n')
    .flatMap((l, i) =>
      (l.match(/“/g) ?? []).length !== (l.match(/”/g) ?? []).length ? [i + 1] : [],
    );
  assert.deepEqual(open, [], 'lines whose curly quotes do not close on the same line');
  const cites = citations();
  assert.ok(cites.length > 150, `only ${cites.length} quoted test names`);
  const problems: string[] = [];
  const sources = new Map<string, string[]>();
  for (const c of cites) {
    if (c.file === undefined || !c.file.startsWith('tests/')) {
      problems.push(`line ${c.line}: “${c.name}” follows no test file on its line`);
      continue;
    }
    if (!existsSync(join(root, c.file))) continue; // reported by the test above
    let forms = sources.get(c.file);
    if (forms === undefined) {
      const text = readFileSync(join(root, c.file), 'utf8');
      // Test names are string literals: compare with the escapes undone too (DOMAIN\\name is DOMAIN\name).
      forms = [text, text.replace(/\\(.)/g, '$1')];
      sources.set(c.file, forms);
    }
    if (!forms.some((f) => f.includes(c.name)))
      problems.push(`line ${c.line}: “${c.name}” is not in ${c.file}`);
  }
  assert.deepEqual(problems, []);
});
