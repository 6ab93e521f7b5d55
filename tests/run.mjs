#!/usr/bin/env node
// Test entry point: prepares the real parts the suite needs (Samba AD DC, xmlsec1, Chromium), then runs
// every tests/**/*.test.ts file with node's test runner (which prints the closing pass/fail summary).
// Usage: node tests/run.mjs [file-or-substring ...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const testsDir = join(root, 'tests');

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'fixtures') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

const filters = process.argv.slice(2);
let files = walk(testsDir).map((f) => relative(root, f));
if (filters.length > 0) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

if (process.env.FEDGATE_SKIP_PREPARE !== '1') {
  const prep = spawnSync('bash', [join(root, 'tests/setup/prepare.sh')], {
    stdio: 'inherit',
    cwd: root,
  });
  if (prep.status !== 0) {
    console.error('test environment preparation failed; see the output above');
    process.exit(prep.status ?? 1);
  }
}

const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=240000', ...files],
  { stdio: 'inherit', cwd: root, env: { ...process.env, FEDGATE_TEST: '1' } },
);
process.exit(res.status ?? 1);
