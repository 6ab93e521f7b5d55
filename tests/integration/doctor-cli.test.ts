import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { stringify } from 'yaml';
import { runCli } from '../helpers/cli.ts';
import { expectedFindings, seedDoctorOu, type DoctorSeed } from '../helpers/doctor-seed.ts';
import {
  ldapToolAsAdmin,
  ldapsearchCli,
  ldifTextValue,
  sambaEnv,
  sambaOperatorDirectory,
  type SambaEnv,
} from '../helpers/samba.ts';

// `fedgate doctor` as an admin runs it (issue 21): the real command, spawned, with a YAML configuration against the
// Samba AD DC and an OU seeded with every error class (tests/helpers/doctor-seed.ts, OU=DoctorCli). The parts are
// tested on their own in tests/unit/doctor and tests/integration/doctor-*.test.ts; this file checks what the command
// adds: the exit status (0 clean, 1 errors, 2 could not run), the JSON on stdout, the files it writes (read back with
// csv-parse and as files), and that it changed nothing in AD.

const OU = 'OU=DoctorCli';

interface JsonReport {
  schemaVersion: number;
  hasErrors: boolean;
  exitStatus: number;
  findings: {
    commonName: string;
    attribute: string;
    class: string;
    severity: string;
    value: string;
    update: string | null;
  }[];
  checks: { area: string; target: string; check: string; status: string; message: string }[];
}

/** uSNChanged of every object in the seeded OU, read with OpenLDAP's ldapsearch as Administrator. */
function usnOfOu(env: SambaEnv, ou: string): string {
  return ldapsearchCli(env, { base: ou, filter: '(objectClass=*)', attributes: ['uSNChanged'] })
    .split('\n')
    .filter((l) => l.startsWith('dn:') || l.startsWith('uSNChanged:'))
    .join('\n');
}

const NO_STACK = /\n\s+at .+:\d+:\d+/;

/** OpenLDAP's ldapmodify as Administrator (the tool the admin applies doctor's LDIF with). */
function ldapmodifyAsAdmin(ldif: string, args: string[] = []) {
  return ldapToolAsAdmin(sambaEnv(), 'ldapmodify', args, ldif);
}

describe('fedgate doctor, the command', () => {
  let env: SambaEnv;
  let seed: DoctorSeed;
  let dir: string;
  let configFile: string;

  /** The YAML an admin writes: the test DC, contoso.com federated, fedgate's lockout below the domain's (5, 30 min). */
  function writeConfig(name: string, directory: Record<string, unknown>): string {
    const file = join(dir, name);
    writeFileSync(
      file,
      stringify({
        hostname: 'sts.contoso.com',
        keys: { dir: join(dir, 'keys') },
        directory,
        microsoft365: { federatedDomains: ['contoso.com'] },
        lockout: { threshold: 3, observationWindowMinutes: 31 },
      }),
    );
    return file;
  }

  before(async () => {
    env = sambaEnv();
    seed = await seedDoctorOu(env, OU);
    dir = mkdtempSync(join(tmpdir(), 'fedgate-doctor-cli-'));
    configFile = writeConfig('fedgate.yaml', { ...sambaOperatorDirectory(env), baseDn: seed.ou });
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('seeded errors: exit 1, the exact findings in the JSON, the CSV, HTML and LDIF files, AD unchanged', (t) => {
    const before = usnOfOu(env, seed.ou);
    const csv = join(dir, 'doctor.csv');
    const html = join(dir, 'doctor.html');
    const ldif = join(dir, 'fixes.ldif');
    const r = runCli(
      [
        'doctor',
        '--config',
        configFile,
        '--json',
        '--csv',
        csv,
        '--html',
        html,
        '--fix-ldif',
        ldif,
      ],
      dir,
    );
    assert.equal(r.status, 1, r.stderr);
    const report = JSON.parse(r.stdout) as JsonReport;
    assert.equal(report.hasErrors, true);
    assert.equal(report.exitStatus, 1);

    const row = (f: {
      commonName: string;
      attribute: string;
      class: string;
      severity: string;
      value: string;
      update: string | null | undefined;
    }) =>
      JSON.stringify([f.commonName, f.attribute, f.class, f.severity, f.value, f.update ?? null]);
    assert.deepEqual(
      report.findings.map(row).sort(),
      expectedFindings(seed).map(row).sort(),
      'exactly the seeded findings',
    );
    // The plumbing is healthy for this configuration: every error comes from the seeded data.
    const failed = report.checks.filter((c) => c.status === 'error');
    assert.deepEqual(failed, [], JSON.stringify(failed));
    for (const area of ['configuration', 'domain-controller', 'policy', 'certificates', 'store'])
      assert.ok(
        report.checks.some((c) => c.area === area),
        `a check of ${area}`,
      );

    // The CSV, read by another library: IdFix's header, one row per finding.
    const rows: string[][] = parse(readFileSync(csv, 'utf8'), { bom: true });
    assert.deepEqual(rows[0], [
      'DISTINGUISHEDNAME',
      'COMMONNAME',
      'OBJECTCLASS',
      'ATTRIBUTE',
      'ERROR',
      'VALUE',
      'UPDATE',
      'PROPOSEDACTION',
      'ACTION',
    ]);
    assert.equal(rows.length - 1, report.findings.length);
    assert.ok(rows.some((c) => c[1] === seed.users.umlaut1.sam && c[5]?.startsWith('jürgen')));

    const page = readFileSync(html, 'utf8');
    assert.match(page, /^<!DOCTYPE html>/i);
    assert.match(page, /sts\.contoso\.com/);

    const fix = readFileSync(ldif, 'utf8');
    const undo = readFileSync(join(dir, 'fixes.undo.ldif'), 'utf8');
    assert.match(fix, /changetype: modify/);
    assert.match(undo, /changetype: modify/);
    for (const f of [csv, html, ldif, join(dir, 'fixes.undo.ldif')])
      assert.equal(statSync(f).mode & 0o777, 0o600, `${f} is the admin's only`);
    assert.match(r.stderr, /fedgate changed nothing in AD/);

    // doctor only read: no object of the OU changed (the LDIF was written, not applied).
    assert.equal(usnOfOu(env, seed.ou), before);
    t.diagnostic(
      `${String(report.findings.length)} findings, ${String(report.checks.length)} checks`,
    );
  });

  test('a clean scope (one clean user): exit 0, the summary on a terminal-less stdout', () => {
    const r = runCli(['doctor', '--config', configFile, '--base', seed.users.clean1.dn], dir);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Directory scan/);
    assert.ok(!r.stdout.includes('\u001b['), 'no colour when stdout is not a terminal');
    assert.doesNotMatch(r.stdout, /\[FAIL\]/);
  });

  test('no DC answers: exit 1 with the reasons as findings, no crash, no stack trace', () => {
    const file = writeConfig('down.yaml', {
      ...sambaOperatorDirectory(env),
      baseDn: seed.ou,
      urls: ['ldaps://127.0.0.1:1'],
      connectTimeoutMs: 500,
    });
    const r = runCli(['doctor', '--config', file, '--json'], dir);
    assert.equal(r.status, 1, r.stderr);
    const report = JSON.parse(r.stdout) as JsonReport;
    const scan = report.checks.find((c) => c.check === 'directory-scan');
    assert.equal(scan?.status, 'error');
    assert.equal(
      report.checks.find((c) => c.check === 'reachable' && c.target.includes(':1'))?.status,
      'error',
    );
    assert.doesNotMatch(r.stdout + r.stderr, NO_STACK);
  });

  test('the fix LDIF never overwrites a value changed after the scan: the DC refuses that record only', () => {
    const ldif = join(dir, 'conflict.ldif');
    const r = runCli(['doctor', '--config', configFile, '--fix-ldif', ldif], dir);
    assert.equal(r.status, 1, r.stderr);
    // After the scan, someone else fixes space1's UPN their own way.
    const space1 = seed.users.space1.dn;
    const theirs = `john.smith${seed.suffix}@contoso.com`;
    ldapmodifyAsAdmin(
      `dn: ${space1}\nchangetype: modify\nreplace: userPrincipalName\nuserPrincipalName: ${theirs}\n`,
    );
    // The admin applies doctor's file with -c (continue past a refused record), as docs/doctor.md says.
    const applied = ldapmodifyAsAdmin(readFileSync(ldif, 'utf8'), ['-c']);
    assert.notEqual(applied.status, 0, 'ldapmodify reports the refused record');
    assert.match(applied.stderr, /No such attribute/i);
    const upnOf = (dn: string) =>
      ldifTextValue(
        ldapsearchCli(env, {
          base: dn,
          scope: 'base',
          filter: '(objectClass=*)',
          attributes: ['userPrincipalName'],
        }),
        'userPrincipalName',
      );
    assert.equal(upnOf(space1), theirs, "their change is kept, not overwritten by doctor's");
    // The other records went in.
    assert.equal(upnOf(seed.users.localupn.dn), `localupn${seed.suffix}@contoso.com`);
  });

  test('what doctor cannot do as asked: exit 2 with one clear line', () => {
    const cases: [string[], RegExp][] = [
      [['--page-size', '0'], /--page-size/],
      [['--public-url', 'http://sts.contoso.com'], /https:\/\//],
      [['--csv', join(dir, 'no-such-dir', 'x.csv')], /cannot write the CSV report/],
    ];
    for (const [args, message] of cases) {
      const r = runCli(['doctor', '--config', configFile, ...args], dir);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, NO_STACK);
    }
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, stringify({ directory: { kind: 'ldap', urls: ['ldap://dc1'] } }));
    const r = runCli(['doctor', '--config', bad], dir);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /directory/);
  });
});
