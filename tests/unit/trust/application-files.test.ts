// Application group files (issue 19): reading, refusing, uniqueness across files, atomic writing. What is written is
// read back with the `yaml` package and the zod schema, never with the reader under test alone.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { applicationGroupSchema } from '../../../server/config/schema.ts';
import {
  ApplicationFileError,
  checkApplicationGroups,
  groupFilePath,
  groupSlug,
  readApplicationGroups,
  writeApplicationGroupFile,
} from '../../../server/trust/application-files.ts';

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'fedgate-appfiles-'));
}

const GROUP_A = `name: Payroll
nativeClients:
  - name: Desktop
    clientId: payroll-desktop
    redirectUris: ["http://localhost:8400/"]
webApis:
  - name: API
    identifiers: ["https://payroll.contoso.test/api"]
    permissions:
      - client: payroll-desktop
        scopes: [openid]
`;

test('a missing folder is no groups; valid files are read with the schema defaults', () => {
  assert.deepEqual(readApplicationGroups(join(dir(), 'absent')), []);
  const d = dir();
  writeFileSync(join(d, 'payroll.yaml'), GROUP_A);
  writeFileSync(join(d, 'notes.txt'), 'not a group file');
  const groups = readApplicationGroups(d);
  assert.equal(groups.length, 1);
  const [g] = groups;
  assert.ok(g !== undefined);
  assert.equal(g.enabled, true);
  assert.equal(g.nativeClients[0]?.allowPasswordGrant, false);
  assert.equal(g.webApis[0]?.tokenLifetimeMinutes, 60);
});

test('a file that does not parse is refused as file: path: message (never skipped)', () => {
  const cases: [string, RegExp][] = [
    ['name: [unclosed', /bad\.yaml: \(yaml\): /],
    ['name: A\nname: B\n', /bad\.yaml: \(yaml\): .*[Mm]ap keys must be unique/],
    [
      'name: A\nnativeClients:\n  - name: x\n    clientId: "has space"\n',
      /bad\.yaml: nativeClients\.0\.clientId: must be printable ASCII without spaces/,
    ],
    [
      'name: A\nnativeClients:\n  - name: x\n    clientId: c\n    redirectUris: ["http://evil.example/cb"]\n',
      /bad\.yaml: nativeClients\.0\.redirectUris\.0: must be an https:\/\/ URI/,
    ],
    [
      'name: A\nserverApplications:\n  - name: x\n    clientId: c\n    clientSecrets: ["plaintext-secret"]\n',
      /bad\.yaml: serverApplications\.0\.clientSecrets\.0: must be sha256:/,
    ],
    ['name: A\nunknownKey: 1\n', /bad\.yaml: \(root\): Unrecognized key/],
  ];
  for (const [text, re] of cases) {
    const d = dir();
    writeFileSync(join(d, 'good.yaml'), GROUP_A);
    writeFileSync(join(d, 'bad.yaml'), text);
    assert.throws(
      () => readApplicationGroups(d),
      (e: unknown) => e instanceof ApplicationFileError && re.test(e.message),
      text,
    );
  }
});

test('a client_id, Web API identifier or group identifier used twice is refused naming both files', () => {
  const cases: [string, RegExp][] = [
    [
      'name: Other\nserverApplications:\n  - name: s\n    clientId: payroll-desktop\n    clientSecrets: []\n',
      /client_id "payroll-desktop" is already used by group "Payroll" in .*a\.yaml/,
    ],
    [
      'name: Other\nwebApis:\n  - name: s\n    identifiers: ["HTTPS://payroll.contoso.test/api"]\n',
      /Web API identifier "HTTPS:\/\/payroll\.contoso\.test\/api" is already used by group "Payroll" in .*a\.yaml/,
    ],
    ['name: payroll\n', /group identifier "payroll" is already used by group "Payroll"/],
  ];
  for (const [text, re] of cases) {
    const d = dir();
    writeFileSync(join(d, 'a.yaml'), GROUP_A);
    writeFileSync(join(d, 'b.yaml'), text);
    assert.throws(
      () => readApplicationGroups(d),
      (e: unknown) =>
        e instanceof ApplicationFileError && /b\.yaml: /.test(e.message) && re.test(e.message),
      text,
    );
  }
});

test('writeApplicationGroupFile checks the schema first and replaces the file atomically', () => {
  const d = join(dir(), 'applications');
  const group = {
    name: 'Payroll',
    identifier: 'urn:contoso:payroll',
    serverApplications: [
      {
        name: 'web',
        clientId: 'payroll-web',
        redirectUris: ['https://payroll.contoso.test/cb'],
        clientSecrets: [`sha256:${'A'.repeat(43)}`],
      },
    ],
  };
  const file = groupFilePath(d, group);
  assert.equal(file, join(d, 'urn-contoso-payroll.yaml'));
  writeApplicationGroupFile(file, group, 'header line');
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^# header line\n/);
  const parsed = applicationGroupSchema.parse(parse(text));
  assert.equal(parsed.serverApplications[0]?.clientSecrets[0], `sha256:${'A'.repeat(43)}`);
  // No temporary file is left behind.
  assert.deepEqual(readdirSync(d), ['urn-contoso-payroll.yaml']);

  // An invalid group is refused before the file is touched.
  assert.throws(() => {
    writeApplicationGroupFile(file, {
      ...group,
      serverApplications: [{ name: 'x', clientId: 'bad id' }],
    });
  }, /serverApplications\.0\.clientId: must be printable ASCII/);
  assert.equal(readFileSync(file, 'utf8'), text);
  assert.deepEqual(readdirSync(d), ['urn-contoso-payroll.yaml']);
});

test('group slugs are file-name safe and never empty', () => {
  assert.equal(groupSlug('Payroll App'), 'payroll-app');
  assert.equal(groupSlug('https://apps.contoso.test/Payroll'), 'apps-contoso-test-payroll');
  assert.equal(groupSlug('../../etc/passwd'), 'etc-passwd');
  assert.equal(groupSlug('…'), 'group');
  assert.ok(groupSlug('x'.repeat(300)).length <= 80);
});

test('checkApplicationGroups compiles every rule and reads every certificate the server will load, naming each file', () => {
  const base = dir();
  const d = join(base, 'metadata/applications');
  mkdirSync(d, { recursive: true });
  const r = spawnSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(base, 'k.pem')],
      ...['-out', join(d, 'good.crt.pem'), '-days', '30', '-subj', '/CN=client'],
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(join(d, 'with-key.crt.pem'), readFileSync(join(base, 'k.pem')));
  writeFileSync(join(d, 'ok.rules'), '=> issue(Type = "a", Value = "b");\n');
  writeFileSync(join(d, 'bad.rules'), '=> issue(Type = "a", Value = "b")\n');
  const good = `name: Good
serverApplications:
  - name: s
    clientId: good-client
    jwtSigningCertificateFiles: [good.crt.pem]
webApis:
  - name: api
    identifiers: [urn:good]
    issuanceRules: '=> issue(Type = "a", Value = "b");'
    issuanceRulesFile: ok.rules
    mfa: { additionalAuthenticationRulesFile: metadata/applications/ok.rules }
`;
  writeFileSync(join(d, 'good.yaml'), good);
  assert.deepEqual(checkApplicationGroups(d, base), { groups: 1, problems: [] });

  writeFileSync(
    join(d, 'bad.yaml'),
    `name: Bad
serverApplications:
  - name: s
    clientId: bad-client
    jwtSigningCertificateFiles: [with-key.crt.pem, missing.crt.pem]
webApis:
  - name: api
    identifiers: [urn:bad]
    authorizationRules: 'c:[Type == "x"] => issue(claim = c)'
    issuanceRulesFile: bad.rules
    mfa: { additionalAuthenticationRulesFile: nowhere.rules }
`,
  );
  const { groups, problems } = checkApplicationGroups(d, base);
  assert.equal(groups, 2);
  const expected = [
    /bad\.rules:2:1: rule 1: expected ";"/,
    /bad\.yaml: webApis\.0\.authorizationRules:1:\d+: rule 1: expected ";"/,
    /nowhere\.rules: cannot read the rule file \(ENOENT\)/,
    /bad\.yaml: serverApplications\.0\.jwtSigningCertificateFiles: .*with-key\.crt\.pem: holds a private key/,
    /bad\.yaml: serverApplications\.0\.jwtSigningCertificateFiles: .*missing\.crt\.pem: cannot read: ENOENT/,
  ];
  assert.equal(problems.length, expected.length, problems.join('\n'));
  expected.forEach((re, i) => {
    assert.match(problems[i] ?? '', re);
  });

  // A broken file is one problem naming it (the rest cannot be checked without it).
  writeFileSync(join(d, 'bad.yaml'), 'name: [');
  const broken = checkApplicationGroups(d, base);
  assert.equal(broken.problems.length, 1);
  assert.match(broken.problems[0] ?? '', /bad\.yaml: \(yaml\)/);
});
