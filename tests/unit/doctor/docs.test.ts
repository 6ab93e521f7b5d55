// docs/doctor.md is the admin's reference for every finding and check `fedgate doctor` reports (issue 21): each class
// and each check name must be there, written as code, so a new one cannot ship undocumented.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { FEDERATION_CLASSES, IDFIX_CLASSES } from '../../../server/doctor/types.ts';

const doc = readFileSync(new URL('../../../docs/doctor.md', import.meta.url), 'utf8');
const documented = (name: string): boolean => doc.includes(`\`${name}\``);

test('every finding class is documented', () => {
  for (const c of [...IDFIX_CLASSES, ...FEDERATION_CLASSES]) assert.ok(documented(c), c);
});

test('every check name the doctor modules emit is documented', () => {
  // Check names are string literals in the check modules: `check: 'name'`, or the first argument of each module's
  // small result helper (`result('name', …)`, `mk('name', …)`, …). Collect both shapes.
  const dir = new URL('../../../server/doctor/', import.meta.url);
  const names = new Set<string>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('-checks.ts'))) {
    const src = readFileSync(new URL(f, dir), 'utf8');
    for (const m of src.matchAll(/\bcheck: '([a-z0-9-]+)'/g)) names.add(m[1] ?? '');
    for (const m of src.matchAll(
      /\b[a-zA-Z]+\(\s*'([a-z]+(?:-[a-z0-9]+)*)',\s*'(?:ok|info|warning|error)'/g,
    ))
      names.add(m[1] ?? '');
  }
  const cli = readFileSync(new URL('../../../server/cli/doctor.ts', import.meta.url), 'utf8');
  for (const m of cli.matchAll(/\bcheck: '([a-z0-9-]+)'/g)) names.add(m[1] ?? '');
  assert.ok(names.size >= 15, `found ${String(names.size)} check names: ${[...names].join(', ')}`);
  const missing = [...names].filter((n) => !documented(n));
  assert.deepEqual(missing, [], 'undocumented checks');
});
