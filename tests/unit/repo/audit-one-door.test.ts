// Every audit line goes through a typed function of server/observability/audit.ts (issue 15): that file is the
// catalogue SIEM rules are written from (docs/events.md), so a line written anywhere else could carry a name, id or
// field set nobody documented. This scans server/ for direct writes to the audit logger outside that file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { filesUnder, REPO_ROOT } from '../../helpers/repo-files.ts';

const root = REPO_ROOT;
const DOOR = 'server/observability/audit.ts';

/** `file:line` of each direct write to the audit logger (`s.audit.info(`, `this.#audit.warn(`, `audit.error(` …). */
export function directAuditWrites(file: string, text: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (/\b(?:audit|#audit)\s*\.\s*(?:info|warn|error|fatal|debug|trace)\s*\(/.test(line))
      out.push(`${file}:${i + 1}`);
  });
  return out;
}

test('no audit line is written outside observability/audit.ts', () => {
  const found = filesUnder(join(root, 'server'), /\.ts$/)
    .map((p) => relative(root, p))
    .filter((f) => f !== DOOR)
    .flatMap((f) => directAuditWrites(f, readFileSync(join(root, f), 'utf8')));
  assert.deepEqual(found, [], `write these through a function of ${DOOR}`);
});

test('the scanner finds the shapes a direct write takes, and not the typed calls', () => {
  const sample = [
    "s.audit.info({ event: 'x' }, 'm');",
    '    this.#audit.warn(',
    'deps.audit . error({})',
    'audit.tokenIssued(s.audit, e);',
    'audit.signedOut(s.audit, { rps });',
  ].join('\n');
  assert.deepEqual(directAuditWrites('f.ts', sample), ['f.ts:1', 'f.ts:2', 'f.ts:3']);
});
