// Every ESLint directive that switches a rule off says why (issue 15, "give every eslint-disable its reason"):
// `// eslint-disable-next-line <rule> -- <reason>`. ESLint's own check for this is in a plugin we do not install
// (@eslint-community/eslint-comments, require-description), so this scans the sources itself.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { filesUnder, REPO_ROOT } from '../../helpers/repo-files.ts';

const root = REPO_ROOT;

// A directive is a comment that starts with the word; built from parts so this file does not contain one.
const DIRECTIVE = new RegExp(String.raw`(?:\/\/|\/\*)\s*` + 'eslint-' + String.raw`disable\S*(.*)`);

/** `file:line` of each directive without a ` -- reason` (text after the separator). */
function undescribedDirectives(file: string, text: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    const m = DIRECTIVE.exec(line);
    if (m === null) return;
    const rest = (m[1] ?? '').replace(/\*\/.*$/, '');
    if (!/\s--\s+\S/.test(rest)) out.push(`${file}:${String(i + 1)}`);
  });
  return out;
}

test('the scanner tells a described directive from an undescribed one', () => {
  const d = '// eslint-' + 'disable-next-line';
  const b = '/* eslint-' + 'disable';
  assert.deepEqual(undescribedDirectives('f', `${d} no-control-regex -- NUL is refused`), []);
  assert.deepEqual(undescribedDirectives('f', `${b} no-console -- a CLI prints */`), []);
  assert.deepEqual(undescribedDirectives('f', `x;\n  ${d} no-control-regex\ny;`), ['f:2']);
  assert.deepEqual(undescribedDirectives('f', `${d} no-control-regex --`), ['f:1']);
  assert.deepEqual(undescribedDirectives('f', `${b} */`), ['f:1']);
  assert.deepEqual(undescribedDirectives('f', d), ['f:1']);
});

test('every eslint-disable in server/, tests/ and bench/ gives its reason after " -- "', () => {
  const offenders = ['server', 'tests', 'bench']
    .flatMap((d) => filesUnder(join(root, d), /\.(ts|mts|cts|js|mjs|cjs)$/))
    .flatMap((f) => undescribedDirectives(relative(root, f), readFileSync(f, 'utf8')));
  assert.deepEqual(offenders, []);
});
