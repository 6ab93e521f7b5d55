#!/usr/bin/env node
// The online half of the dependency gate (issue 14 §7; corpus D): fails when the registry's advisory database
// reports a high or critical advisory for a runtime dependency (`npm audit --omit=dev`). Dev-only packages (test
// verifiers, benchmark peers) are left out on purpose: they never run in a deployment.
// Exit codes: 0 clean; 1 high/critical advisories; 2 the advisory database could not be asked.
// `--allow-offline` turns exit 2 into a loud warning (and exit 0): CI machines whose registry mirror does not
// serve the audit endpoint still get the offline half, tests/unit/repo/dependencies.test.ts, in `npm test`.
import { spawnSync } from 'node:child_process';

const allowOffline = process.argv.includes('--allow-offline');
const run = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8', shell: false });
let report;
try {
  report = JSON.parse(run.stdout);
} catch {
  report = undefined;
}
const counts = report?.metadata?.vulnerabilities;
if (counts === undefined) {
  const why = String(report?.message ?? report?.error?.summary ?? run.stderr ?? '').split('\n')[0];
  console.error(`audit-gate: the advisory database could not be asked (${why || 'no answer'})`);
  if (allowOffline) {
    console.error(
      'audit-gate: WARNING: continuing offline; the lockfile floors in npm test still apply',
    );
    process.exit(0);
  }
  process.exit(2);
}
const high = (counts.high ?? 0) + (counts.critical ?? 0);
console.log(
  `audit-gate: runtime advisories: critical ${counts.critical ?? 0}, high ${counts.high ?? 0}, ` +
    `moderate ${counts.moderate ?? 0}, low ${counts.low ?? 0}`,
);
if (high > 0) {
  for (const [name, v] of Object.entries(report.vulnerabilities ?? {}))
    if (v.severity === 'high' || v.severity === 'critical')
      console.error(`  ${v.severity}: ${name} ${v.range}`);
  process.exit(1);
}
