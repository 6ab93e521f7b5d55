// A clone anywhere must pass `npm test` (issue 14 §6): tests read nothing outside the checkout. This scans every
// test source for paths that climb out of the repository (the shared/ folder that sits beside our own checkout)
// or name an absolute workplace path; a real-world document a test needs is copied into tests/fixtures/ instead.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { filesUnder, REPO_ROOT } from '../../helpers/repo-files.ts';

const root = REPO_ROOT;

/** Code, not comments: a comment may cite ../shared/ as where a fact came from. */
function code(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/^\s*(\/\/|\*|\/\*|#)/.test(l))
    .join('\n');
}

test('no test, benchmark or CI source reads outside the checkout', () => {
  const offenders: string[] = [];
  // Tests, and the benchmarks and CI scripts that run beside them on the same clone.
  for (const file of ['tests', 'bench', '.ci'].flatMap((d) =>
    filesUnder(join(root, d), /\.(ts|mjs|js|sh|py)$/),
  )) {
    if (file === fileURLToPath(import.meta.url)) continue;
    const text = code(readFileSync(file, 'utf8'));
    if (/shared\/fixtures|['"`]\/work\/|\.\.\/\.\.\/\.\.\/\.\.\/\.\.\//.test(text))
      offenders.push(relative(root, file));
  }
  assert.deepEqual(offenders, []);
});

test('the real-world fixtures are in the repository with their source and licence', () => {
  const dir = join(root, 'tests/fixtures/real-world');
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.xml')))
    assert.ok(
      readme.includes(name.replace(/\.mex\.xml$/, '')),
      `${name} is described in README.md`,
    );
  assert.match(readme, /MIT/);
});
