/**
 * `fedgate doctor --json` (server/doctor/report-json.ts): schemaVersion 1, a stable key order whatever order the
 * report's objects were built in, counts per class and per check status so automation need not recount, `update`
 * null (not absent) when there is no automatic fix, and values exactly as the directory holds them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderJson } from '../../../server/doctor/report-json.ts';
import {
  FEDERATION_CLASSES,
  IDFIX_CLASSES,
  type DirectoryFinding,
  type DoctorReport,
} from '../../../server/doctor/types.ts';
import { doctorFinding, doctorReportHeader } from '../../helpers/doctor-report.ts';

const OU = 'OU=doctor-json,DC=corp,DC=example,DC=test';

function finding(over: Partial<DirectoryFinding>): DirectoryFinding {
  return doctorFinding(OU, over);
}

function report(): DoctorReport {
  return {
    ...doctorReportHeader(),
    scan: {
      bases: ['DC=corp,DC=example,DC=test'],
      objects: 20,
      users: 17,
      groups: 1,
      contacts: 0,
      skipped: 2,
      pages: 1,
      elapsedMs: 87,
    },
    findings: [
      finding({}),
      finding({
        dn: `CN=dupproxy1,${OU}`,
        attribute: 'proxyAddresses',
        class: 'duplicate',
        value: 'smtp:shared@contoso.com',
        update: undefined,
        multiValued: true,
      }),
      finding({
        dn: `CN=dupproxy2,${OU}`,
        attribute: 'proxyAddresses',
        class: 'duplicate',
        value: 'smtp:shared@contoso.com',
        update: undefined,
        multiValued: true,
      }),
      finding({
        dn: `CN=noanchor1,${OU}`,
        attribute: 'mS-DS-ConsistencyGuid',
        class: 'source-anchor-missing',
        severity: 'warning',
        value: '',
        update: undefined,
      }),
      finding({ attribute: 'mail', class: 'blank', value: '', update: '' }),
    ],
    checks: [
      {
        area: 'store',
        target: 'redis://127.0.0.1:6379',
        check: 'maxmemory-policy',
        status: 'error',
        message: 'allkeys-lru evicts lockout counters.',
      },
      {
        area: 'domain-controller',
        target: 'ldaps://dc1:636',
        check: 'reachable',
        status: 'ok',
        message: 'Answered in 3 ms.',
      },
    ],
  };
}

/** The same report with every object's keys in reverse order (as another producer might build it). */
function reversedKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(reversedKeys) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .reverse()
        .map(([k, v]) => [k, reversedKeys(v)]),
    ) as T;
  }
  return value;
}

test('schemaVersion 1 first; a fixed top-level, finding and check key order', () => {
  const doc = JSON.parse(renderJson(report())) as Record<string, unknown>;
  assert.deepEqual(Object.keys(doc), [
    'schemaVersion',
    'generatedAt',
    'fedgateVersion',
    'configFile',
    'hostname',
    'hasErrors',
    'exitStatus',
    'scan',
    'counts',
    'checks',
    'findings',
  ]);
  assert.equal(doc.schemaVersion, 1);
  const findings = doc.findings as Record<string, unknown>[];
  assert.deepEqual(Object.keys(findings[0] ?? {}), [
    'dn',
    'commonName',
    'objectClass',
    'container',
    'attribute',
    'class',
    'severity',
    'value',
    'update',
    'multiValued',
    'detail',
  ]);
  assert.deepEqual(Object.keys((doc.checks as object[])[0] ?? {}), [
    'area',
    'target',
    'check',
    'status',
    'message',
  ]);
  assert.deepEqual(doc.scan, report().scan);
});

test('byte-identical whatever key order the report was built with', () => {
  const a = renderJson(report());
  assert.equal(renderJson(reversedKeys(report())), a);
  assert.ok(a.endsWith('}\n'));
});

test('counts per class (every class, zeros included) and per check status; exit status', () => {
  const doc = JSON.parse(renderJson(report())) as {
    hasErrors: boolean;
    exitStatus: number;
    counts: {
      findings: { total: number; errors: number; warnings: number };
      perClass: Record<string, { errors: number; warnings: number; total: number }>;
      checks: Record<string, number>;
    };
  };
  assert.equal(doc.hasErrors, true);
  assert.equal(doc.exitStatus, 1);
  assert.deepEqual(doc.counts.findings, { total: 5, errors: 4, warnings: 1 });
  assert.deepEqual(Object.keys(doc.counts.perClass), [...IDFIX_CLASSES, ...FEDERATION_CLASSES]);
  assert.deepEqual(doc.counts.perClass.duplicate, { errors: 2, warnings: 0, total: 2 });
  assert.deepEqual(doc.counts.perClass.character, { errors: 1, warnings: 0, total: 1 });
  assert.deepEqual(doc.counts.perClass.blank, { errors: 1, warnings: 0, total: 1 });
  assert.deepEqual(doc.counts.perClass['source-anchor-missing'], {
    errors: 0,
    warnings: 1,
    total: 1,
  });
  assert.deepEqual(doc.counts.perClass.format, { errors: 0, warnings: 0, total: 0 });
  assert.deepEqual(doc.counts.checks, { total: 2, ok: 1, warning: 0, error: 1, info: 0 });

  const clean = report();
  clean.findings = [];
  clean.checks = [];
  clean.scan = undefined;
  const c = JSON.parse(renderJson(clean)) as {
    exitStatus: number;
    hasErrors: boolean;
    scan: unknown;
  };
  assert.equal(c.exitStatus, 0);
  assert.equal(c.hasErrors, false);
  assert.equal(c.scan, null);
});

test('no automatic fix is update null; a proposed removal is ""; values are exactly the directory\'s', () => {
  const hostile = '=HYPERLINK("x")\u001b[2J<script>\u202e"\n';
  const r = report();
  r.findings.push(finding({ dn: `CN=${hostile},${OU}`, value: hostile, update: hostile }));
  const text = renderJson(r);
  // eslint-disable-next-line no-control-regex -- control characters must be escaped by JSON, never raw
  assert.equal(/[\u0000-\u001f]/.test(text.replace(/\n/g, '')), false);
  const doc = JSON.parse(text) as { findings: { update: unknown; value: string; dn: string }[] };
  const at = (i: number): { update: unknown; value: string; dn: string } => {
    const f = doc.findings.at(i);
    assert.ok(f !== undefined);
    return f;
  };
  assert.equal(at(1).update, null);
  assert.ok('update' in at(1));
  assert.equal(at(4).update, '');
  assert.equal(at(5).value, hostile);
  assert.equal(at(5).update, hostile);
  assert.equal(at(5).dn, `CN=${hostile},${OU}`);
});
