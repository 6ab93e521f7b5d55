/**
 * `fedgate doctor`'s terminal summary (server/doctor/report-text.ts): the scan figures, counts per class, the
 * plumbing checks by area, the first findings and the closing line; marks that read without colour; ANSI colour
 * only when asked; and directory values that cannot drive the admin's terminal (escape sequences, CR, bidi
 * overrides become visible escapes).
 */
/* eslint-disable no-control-regex -- matching terminal escape sequences is the point of this file */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderSummary, visible } from '../../../server/doctor/report-text.ts';
import type {
  DirectoryFinding,
  DoctorReport,
  PlumbingCheck,
} from '../../../server/doctor/types.ts';
import { doctorCheck, doctorFinding, doctorReportHeader } from '../../helpers/doctor-report.ts';

const OU = 'OU=doctor-text,DC=corp,DC=example,DC=test';

function finding(over: Partial<DirectoryFinding>): DirectoryFinding {
  return doctorFinding(OU, over);
}

function check(over: Partial<PlumbingCheck>): PlumbingCheck {
  return doctorCheck(over);
}

function report(over: Partial<DoctorReport> = {}): DoctorReport {
  return {
    ...doctorReportHeader(),
    scan: {
      bases: ['DC=corp,DC=example,DC=test'],
      objects: 10234,
      users: 10001,
      groups: 230,
      contacts: 3,
      skipped: 17,
      pages: 11,
      elapsedMs: 4321,
    },
    findings: [
      finding({}),
      finding({
        dn: `CN=umlaut1,${OU}`,
        value: 'jürgen@contoso.com',
        update: 'jurgen@contoso.com',
      }),
      finding({
        dn: `CN=localupn,${OU}`,
        class: 'topleveldomain',
        value: 'localupn@corp.local',
        update: 'localupn@contoso.com',
      }),
      finding({
        dn: `CN=localupn,${OU}`,
        class: 'upn-suffix-not-federated',
        value: 'localupn@corp.local',
        update: undefined,
      }),
      finding({
        dn: `CN=noanchor1,${OU}`,
        attribute: 'mS-DS-ConsistencyGuid',
        class: 'source-anchor-missing',
        severity: 'warning',
        value: '',
        update: undefined,
      }),
      finding({
        dn: `CN=blankmail1,${OU}`,
        attribute: 'mail',
        class: 'blank',
        value: '',
        update: '',
      }),
    ],
    checks: [
      check({
        area: 'store',
        target: 'redis://127.0.0.1:6379',
        check: 'persistence',
        status: 'warning',
        message: 'appendonly is off.',
      }),
      check({}),
      check({
        check: 'ldaps-certificate',
        status: 'error',
        message: 'Certificate expired 3 days ago.',
      }),
      check({
        area: 'policy',
        target: 'AD lockout threshold',
        check: 'lockout-threshold',
        status: 'info',
        message: 'AD has no lockout threshold.',
      }),
    ],
    ...over,
  };
}

const plain = (r: DoctorReport, maxRows?: number): string =>
  renderSummary(r, maxRows === undefined ? { color: false } : { color: false, maxRows });

test('scan figures, counts per class (IdFix classes then federation), totals', () => {
  const out = plain(report());
  assert.match(
    out,
    /fedgate doctor: sts\.contoso\.com \(fedgate 1\.4\.0, config \/etc\/fedgate\/fedgate\.yaml/,
  );
  assert.match(
    out,
    /10234 objects: 10001 users, 230 groups, 3 contacts; 17 skipped; 11 pages; 4\.3 s/,
  );
  assert.match(out, /base DC=corp,DC=example,DC=test/);
  const row = (cls: string): [number, number] => {
    const m = new RegExp(`^  ${cls} +(\\d+) +(\\d+)$`, 'm').exec(out);
    assert.ok(m, `a row for ${cls}`);
    return [Number(m[1]), Number(m[2])];
  };
  assert.deepEqual(row('character'), [2, 0]);
  assert.deepEqual(row('topleveldomain'), [1, 0]);
  assert.deepEqual(row('blank'), [1, 0]);
  assert.deepEqual(row('duplicate'), [0, 0]);
  assert.deepEqual(row('upn-suffix-not-federated'), [1, 0]);
  assert.deepEqual(row('source-anchor-missing'), [0, 1]);
  assert.deepEqual(row('total'), [5, 1]);
  // IdFix's classes come first, then the federation classes.
  assert.ok(out.indexOf('  duplicate ') < out.indexOf('  upn-suffix-not-federated '));
  assert.ok(out.indexOf('  character ') < out.indexOf('  format '));
});

test('plumbing checks grouped by area in report order, with marks that read without colour', () => {
  const out = plain(report());
  const dc = out.indexOf('\n  domain-controller\n');
  const policy = out.indexOf('\n  policy\n');
  const store = out.indexOf('\n  store\n');
  assert.ok(dc > 0 && dc < policy && policy < store, 'domain-controller, policy, store');
  assert.match(
    out,
    /\[ OK \] ldaps:\/\/dc1\.corp\.example\.test:636 {2}clock-skew: Clock skew 0\.4 s/,
  );
  assert.match(
    out,
    /\[FAIL\] ldaps:\/\/dc1\.corp\.example\.test:636 {2}ldaps-certificate: Certificate expired/,
  );
  assert.match(out, /\[WARN\] redis:\/\/127\.0\.0\.1:6379 {2}persistence: appendonly is off\./);
  assert.match(out, /\[INFO\] AD lockout threshold {2}lockout-threshold/);
  assert.equal(out.includes('\u001b'), false, 'no escape sequence without colour');
});

test('the first N findings, with their fix; the closing line gives the totals and the exit meaning', () => {
  const all = plain(report());
  assert.match(all, /Findings \(6\)/);
  assert.match(all, /\[ERR \] character {2}userPrincipalName {2}CN=space1,/);
  assert.match(all, /value "john smith@contoso\.com"; fix: "johnsmith@contoso\.com"/);
  assert.match(all, /\[WARN\] source-anchor-missing {2}mS-DS-ConsistencyGuid/);
  assert.match(all, /value ""; fix: remove the value/);
  assert.match(all, /no automatic fix/);
  assert.match(
    all,
    /Result: 5 errors and 1 warning in the directory; 1 check failed, 1 with warnings\. Exit status 1/,
  );

  const two = plain(report(), 2);
  assert.match(two, /Findings \(first 2 of 6; --csv, --html or --json list them all\)/);
  assert.equal(two.match(/\[ERR \]|\[WARN\] source/g)?.length, 2);
  assert.equal(plain(report(), 0).includes('Findings ('), false);

  const clean = plain(report({ findings: [], checks: [check({})] }));
  assert.match(clean, /Result: 0 errors and 0 warnings .*Exit status 0: no errors\./);
  const noScan = plain(report({ scan: undefined }));
  assert.match(noScan, /Directory scan\n {2}not scanned/);
});

test('colour only when asked, and only colour (SGR) sequences', () => {
  const coloured = renderSummary(report(), { color: true });
  assert.ok(coloured.includes('\u001b[31m[FAIL]\u001b[0m'));
  assert.ok(coloured.includes('\u001b[32m[ OK ]\u001b[0m'));
  const escapes = coloured.match(/\u001b[^m]*m?/g) ?? [];
  assert.ok(escapes.length > 0);
  for (const e of escapes) assert.match(e, /^\u001b\[(?:0|1|3[1-6])m$/, JSON.stringify(e));
  // Without the colour, the text is the same.
  assert.equal(coloured.replace(/\u001b\[\d+m/g, ''), plain(report()));
});

// Every field an attacker can shape, each carrying terminal-driving bytes.
const HOSTILE = {
  clear: '\u001b[2J\u001b[H',
  osc8: '\u001b]8;;https://attacker.example/\u0007click\u001b]8;;\u0007',
  title: '\u001b]0;pwned\u0007',
  csi8bit: '\u009b2J',
  cr: 'error\rOK   ',
  bidi: 'admin\u202egpj.exe',
  bell: '\u0007\u0000',
};

test('directory values cannot drive the terminal: escape sequences, C1, CR and bidi controls become visible', () => {
  for (const [name, payload] of Object.entries(HOSTILE)) {
    const r = report({
      hostname: `h${payload}`,
      findings: [
        finding({
          dn: `CN=x${payload},${OU}`,
          commonName: payload,
          attribute: `displayName${payload}`,
          value: `v${payload}`,
          update: `u${payload}`,
          detail: payload,
        }),
      ],
      checks: [check({ target: `t${payload}`, check: `c${payload}`, message: `m${payload}` })],
    });
    for (const color of [false, true]) {
      const out = renderSummary(r, { color });
      const withoutOwnColour = color ? out.replace(/\u001b\[(?:0|1|3[1-6])m/g, '') : out;
      const leaked = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u.exec(
        withoutOwnColour,
      );
      assert.equal(
        leaked,
        null,
        `${name} (colour ${String(color)}): ${JSON.stringify(leaked?.[0])}`,
      );
    }
    assert.ok(plain(r).includes(`CN=x${visible(payload)},`), `${name} shown as escapes`);
  }
  assert.equal(visible('\u001b[2J'), '\\x1B[2J');
  assert.equal(visible('a\u202eb'), 'a\\u{202E}b');
  assert.equal(visible('jürgen 山田 👩‍💻'), 'jürgen 山田 👩\\u{200D}💻');
});

test('the listed findings put errors before warnings, so a flood of warnings cannot hide an error', () => {
  const warnings = Array.from({ length: 30 }, (_, i) =>
    finding({
      dn: `CN=a${String(i).padStart(2, '0')},${OU}`,
      attribute: 'mS-DS-ConsistencyGuid',
      class: 'source-anchor-missing',
      severity: 'warning',
      value: '',
      update: undefined,
    }),
  );
  const error = finding({ dn: `CN=zz-last,${OU}` });
  const text = plain(report({ findings: [...warnings, error] }), 5);
  const listed = text.slice(text.indexOf('Findings (first 5 of 31'));
  assert.match(listed, /CN=zz-last/);
  assert.ok(listed.indexOf('CN=zz-last') < listed.indexOf('source-anchor-missing'));
});
