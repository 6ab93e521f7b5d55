// `fedgate app …` (issue 19): application groups as files. Most cases call runAppCli in-process (argv exactly as
// the admin types it, a real config file in a temporary folder); a few spawn the real CLI for exit codes and streams.
// What is written is checked with the `yaml` package and the zod schema, secrets against their hash with node:crypto,
// certificates with node:crypto's X509Certificate, and every refusal by hashing the folder before and after.
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { runAppCli } from '../../../server/cli/app.ts';
import { loadConfig } from '../../../server/config/load.ts';
import {
  applicationGroupSchema,
  type ApplicationGroupConfig,
} from '../../../server/config/schema.ts';
import { runCli } from '../../helpers/cli.ts';

const FIXTURES = fileURLToPath(new URL('../../fixtures/adfs-apps/', import.meta.url));

interface Ws {
  dir: string;
  apps: string;
  run: (...args: string[]) => { code: number; stdout: string; stderr: string };
}

function workspace(extraYaml = ''): Ws {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-app-cli-'));
  const cfg = join(dir, 'fedgate.yaml');
  writeFileSync(cfg, `hostname: sts.contoso.test\nlisten: { tls: off }\n${extraYaml}`);
  return {
    dir,
    apps: join(dir, 'metadata/applications'),
    // env {}: nothing of the test runner's environment reaches the configuration.
    run: (...args) =>
      runAppCli(['app', ...args, '--config', cfg], {
        loadConfig: (file) => loadConfig({ file, env: {} }),
      }),
  };
}

function ok(r: { code: number; stdout: string; stderr: string }): string {
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** Every file under `dir` (names and bytes), hashed: a refusal must leave it identical. */
function treeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      h.update(relative(dir, p));
      if (statSync(p).isDirectory()) walk(p);
      else h.update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

/** The group file read with the yaml package and checked with the zod schema. */
function groupFile(ws: Ws, name: string): ApplicationGroupConfig {
  return applicationGroupSchema.parse(parse(readFileSync(join(ws.apps, name), 'utf8')));
}

function sha256b64url(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('base64url');
}

function printedSecret(stdout: string): string {
  const m = /^client_secret: ([A-Za-z0-9_-]+)$/m.exec(stdout);
  assert.ok(m?.[1] !== undefined, stdout);
  return m[1];
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A self-signed certificate made by openssl; `key` is an openssl -newkey argument. */
function certificate(cwd: string, name: string, key: string): { cert: string; key: string } {
  const cert = join(cwd, `${name}.crt.pem`);
  const keyFile = join(cwd, `${name}.key.pem`);
  const newkey = key.startsWith('ec:')
    ? (() => {
        openssl(['ecparam', '-name', key.slice(3), '-out', join(cwd, `${name}.params`)], cwd);
        return `ec:${join(cwd, `${name}.params`)}`;
      })()
    : key;
  openssl(
    [
      ...['req', '-x509', '-newkey', newkey, '-nodes', '-keyout', keyFile, '-out', cert],
      ...['-days', '30', '-subj', `/CN=${name}`],
    ],
    cwd,
  );
  return { cert, key: keyFile };
}

function refused(
  ws: Ws,
  args: string[],
  message: RegExp,
  code: 1 | 2 = 1,
): { stdout: string; stderr: string } {
  const before = treeHash(ws.dir);
  const r = ws.run(...args);
  assert.equal(r.code, code, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, message);
  assert.equal(r.stdout, '');
  assert.equal(treeHash(ws.dir), before, `${args.join(' ')} changed files`);
  return r;
}

/** A workspace with group Payroll: a native client, a server application (secret) and a Web API. */
function payroll(): { ws: Ws; secret: string } {
  const ws = workspace();
  ok(ws.run('add-group', '--name', 'Payroll', '--description', 'Payroll apps'));
  ok(
    ws.run(
      ...['add', 'native', '--group', 'Payroll', '--name', 'Payroll desktop'],
      ...['--client-id', 'payroll-desktop', '--redirect-uri', 'http://localhost:8400/'],
      ...['--redirect-uri', 'ms-app://s-1-15-2-1'],
    ),
  );
  const out = ok(
    ws.run(
      ...['add', 'server', '--group', 'payroll', '--name', 'Payroll web'],
      ...[
        '--client-id',
        'payroll-web',
        '--redirect-uri',
        'https://payroll.contoso.test/signin-oidc',
      ],
      ...['--logout-uri', 'https://payroll.contoso.test/signout', '--generate-client-secret'],
    ),
  );
  ok(
    ws.run(
      ...['add', 'webapi', '--group', 'Payroll', '--name', 'Payroll API'],
      ...['--identifier', 'https://payroll.contoso.test/api', '--identifier', 'payroll-web'],
      ...[
        '--issuance-rules',
        'c:[Type == "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"]\n => issue(claim = c);',
      ],
      ...[
        '--token-lifetime',
        '30',
        '--allowed-client-types',
        'confidential',
        '--no-refresh-tokens',
      ],
    ),
  );
  return { ws, secret: printedSecret(out) };
}

test('add-group, add native|server|webapi and grant write one schema-valid file per group', () => {
  const { ws, secret } = payroll();
  ok(
    ws.run(
      ...['grant', '--group', 'Payroll', '--webapi', 'https://payroll.contoso.test/api'],
      ...['--client', 'payroll-web', '--scope', 'openid', '--scope', 'user_impersonation'],
    ),
  );
  // A second grant for the same client adds scopes, once each.
  const g2 = ws.run(
    ...['grant', '--group', 'Payroll', '--webapi', 'payroll-web', '--client', 'payroll-web'],
    ...['--scope', 'openid', '--scope', 'payroll.read'],
  );
  assert.equal(g2.code, 0, g2.stderr);
  assert.match(g2.stderr, /payroll\.read is not a built-in scope/);
  ok(
    ws.run(
      ...['grant', '--group', 'Payroll', '--webapi', 'https://payroll.contoso.test/api'],
      ...['--client', '*', '--scope', 'openid'],
    ),
  );

  assert.deepEqual(readdirSync(ws.apps), ['payroll.yaml']);
  const g = groupFile(ws, 'payroll.yaml');
  assert.equal(g.name, 'Payroll');
  assert.equal(g.description, 'Payroll apps');
  assert.deepEqual(g.nativeClients, [
    {
      name: 'Payroll desktop',
      clientId: 'payroll-desktop',
      redirectUris: ['http://localhost:8400/', 'ms-app://s-1-15-2-1'],
      allowPasswordGrant: false,
    },
  ]);
  const web = g.serverApplications[0];
  assert.ok(web !== undefined);
  assert.equal(web.clientId, 'payroll-web');
  assert.equal(web.logoutUri, 'https://payroll.contoso.test/signout');
  // The printed secret is 32 random bytes; the file holds only its SHA-256.
  assert.equal(Buffer.from(secret, 'base64url').length, 32);
  assert.deepEqual(web.clientSecrets, [`sha256:${sha256b64url(secret)}`]);
  assert.ok(!readFileSync(join(ws.apps, 'payroll.yaml'), 'utf8').includes(secret));
  const api = g.webApis[0];
  assert.ok(api !== undefined);
  assert.deepEqual(api.identifiers, ['https://payroll.contoso.test/api', 'payroll-web']);
  assert.equal(api.tokenLifetimeMinutes, 30);
  assert.deepEqual(api.allowedClientTypes, ['confidential']);
  assert.equal(api.issueRefreshTokens, false);
  assert.match(api.issuanceRules ?? '', /issue\(claim = c\);/);
  assert.deepEqual(api.permissions, [
    { client: 'payroll-web', scopes: ['openid', 'user_impersonation', 'payroll.read'] },
    { client: '*', scopes: ['openid'] },
  ]);
});

test('list shows clients, auth methods and permissions, never a secret hash', () => {
  const { ws, secret } = payroll();
  const text = ok(ws.run('list'));
  assert.match(text, /payroll-desktop {2}"Payroll desktop" {2}auth none {2}password grant off/);
  assert.match(text, /payroll-web {2}"Payroll web" {2}auth secret {2}password grant off/);
  assert.match(text, /redirect URIs: http:\/\/localhost:8400\/, ms-app:\/\/s-1-15-2-1/);
  const json = JSON.parse(ok(ws.run('list', '--json'))) as {
    groups: { identifier: string; clients: { clientId: string; authMethods: string[] }[] }[];
  };
  assert.equal(json.groups[0]?.identifier, 'Payroll');
  assert.deepEqual(
    json.groups[0].clients.map((c) => [c.clientId, c.authMethods]),
    [
      ['payroll-desktop', ['none']],
      ['payroll-web', ['secret']],
    ],
  );
  for (const out of [text, JSON.stringify(json)]) {
    assert.ok(!out.includes('sha256:'));
    assert.ok(!out.includes(sha256b64url(secret)));
  }
});

test('reset-secret replaces the hash (or keeps the old one with --keep-old); the secret comes from the injected randomness', () => {
  const { ws, secret } = payroll();
  const cfg = join(ws.dir, 'fedgate.yaml');
  const fixed = Buffer.alloc(32, 7);
  const r = runAppCli(
    ['app', 'reset-secret', '--group', 'Payroll', '--client-id', 'payroll-web', '--config', cfg],
    { loadConfig: (file) => loadConfig({ file, env: {} }), randomBytes: () => fixed },
  );
  assert.equal(r.code, 0, r.stderr);
  const s2 = printedSecret(r.stdout);
  assert.equal(s2, fixed.toString('base64url'));
  assert.deepEqual(groupFile(ws, 'payroll.yaml').serverApplications[0]?.clientSecrets, [
    `sha256:${sha256b64url(s2)}`,
  ]);
  const s3 = printedSecret(
    ok(ws.run('reset-secret', '--group', 'Payroll', '--client-id', 'payroll-web', '--keep-old')),
  );
  assert.notEqual(s3, s2);
  assert.notEqual(s3, secret);
  assert.deepEqual(groupFile(ws, 'payroll.yaml').serverApplications[0]?.clientSecrets, [
    `sha256:${sha256b64url(s2)}`,
    `sha256:${sha256b64url(s3)}`,
  ]);
  refused(
    ws,
    ['reset-secret', '--group', 'Payroll', '--client-id', 'payroll-desktop'],
    /payroll-desktop is a native \(public\) client: it has no secret/,
  );
});

test('private_key_jwt certificates: RSA 2048 and EC P-256 are copied next to the group file; weak keys, private keys and non-certificates are refused', () => {
  const { ws } = payroll();
  const rsa = certificate(ws.dir, 'rsa2048', 'rsa:2048');
  const ec = certificate(ws.dir, 'p256', 'ec:prime256v1');
  const out = ok(
    ws.run(
      ...['add', 'server', '--group', 'Payroll', '--name', 'Batch', '--client-id', 'payroll-batch'],
      ...['--jwt-signing-certificate', rsa.cert, '--jwt-signing-certificate', ec.cert],
    ),
  );
  assert.doesNotMatch(out, /client_secret/);
  const batch = groupFile(ws, 'payroll.yaml').serverApplications.find(
    (c) => c.clientId === 'payroll-batch',
  );
  assert.ok(batch !== undefined);
  assert.deepEqual(batch.clientSecrets, []);
  assert.equal(batch.jwtSigningCertificateFiles.length, 2);
  const copied = batch.jwtSigningCertificateFiles.map(
    (f) => new X509Certificate(readFileSync(join(ws.apps, f))).fingerprint256,
  );
  assert.deepEqual(copied, [
    new X509Certificate(readFileSync(rsa.cert)).fingerprint256,
    new X509Certificate(readFileSync(ec.cert)).fingerprint256,
  ]);
  // Only certificates were copied: no key material in the applications folder.
  for (const f of readdirSync(ws.apps))
    assert.doesNotMatch(readFileSync(join(ws.apps, f), 'utf8'), /PRIVATE KEY/);
  assert.match(ok(ws.run('list')), /payroll-batch {2}"Batch" {2}auth certificate/);

  const weak = certificate(ws.dir, 'rsa1024', 'rsa:1024');
  const p384 = certificate(ws.dir, 'p384', 'ec:secp384r1');
  const both = join(ws.dir, 'both.pem');
  writeFileSync(both, readFileSync(rsa.cert, 'utf8') + readFileSync(rsa.key, 'utf8'));
  const two = join(ws.dir, 'two.pem');
  writeFileSync(two, readFileSync(rsa.cert, 'utf8') + readFileSync(ec.cert, 'utf8'));
  const junk = join(ws.dir, 'junk.pem');
  writeFileSync(junk, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  const add = (file: string): string[] => [
    ...['add', 'server', '--group', 'Payroll', '--name', 'X', '--client-id', 'x-client'],
    ...['--jwt-signing-certificate', file],
  ];
  refused(ws, add(weak.cert), /RSA key of 1024 bits: at least 2048 are needed/);
  refused(
    ws,
    add(p384.cert),
    /the key is ec secp384r1: only RSA \(2048 bits or more\) and EC P-256/,
  );
  refused(ws, add(both), /holds a private key: give the certificate only/);
  refused(ws, add(rsa.key), /holds a private key/);
  refused(ws, add(two), /exactly one PEM certificate .*found 2/);
  refused(ws, add(junk), /not a readable certificate/);
  refused(ws, add(join(ws.dir, 'missing.pem')), /missing\.pem: cannot read: ENOENT/);
  // A good certificate for a client_id that is taken: refused, and the certificate is not copied either.
  refused(
    ws,
    [
      ...['add', 'server', '--group', 'Payroll', '--name', 'Dup', '--client-id', 'payroll-web'],
      ...['--jwt-signing-certificate', rsa.cert, '--generate-client-secret'],
    ],
    /client_id "payroll-web" is already used by group "Payroll"/,
  );
});

test('claim rules are parsed before anything is written; a parse error names line:column', () => {
  const { ws } = payroll();
  const rules = join(ws.dir, 'bad.rules');
  writeFileSync(
    rules,
    '@RuleName = "ok"\n=> issue(Type = "a", Value = "b");\n\nc:[Type == "x"]\n => issue(claim = c)\n',
  );
  refused(
    ws,
    [
      ...['add', 'webapi', '--group', 'Payroll', '--name', 'Bad', '--identifier', 'urn:bad'],
      ...['--issuance-rules-file', rules],
    ],
    /claim rules do not parse: .*bad\.rules:6:1: rule 2: expected ";"/,
  );
  refused(
    ws,
    [
      ...['add', 'webapi', '--group', 'Payroll', '--name', 'Bad', '--identifier', 'urn:bad'],
      ...['--authorization-rules', 'c:[Type = "x"] => issue(claim = c);'],
    ],
    /claim rules do not parse: --authorization-rules:1:/,
  );
  // A good rule file is read once and its text kept in the group file (AD FS -IssuanceTransformRulesFile).
  const good = join(ws.dir, 'good.rules');
  writeFileSync(
    good,
    '@RuleName = "upn"\nc:[Type == "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] => issue(claim = c);\n',
  );
  ok(
    ws.run(
      ...['add', 'webapi', '--group', 'Payroll', '--name', 'Good', '--identifier', 'urn:good'],
      ...['--issuance-rules-file', good, '--authorization-rules-file', good],
    ),
  );
  const api = groupFile(ws, 'payroll.yaml').webApis.find((a) => a.name === 'Good');
  assert.equal(api?.issuanceRules, readFileSync(good, 'utf8'));
  assert.equal(api.authorizationRules, readFileSync(good, 'utf8'));
});

test('a client_id or Web API identifier used anywhere is refused with the file that has it', () => {
  const { ws } = payroll();
  ok(ws.run('add-group', '--name', 'Expenses', '--identifier', 'urn:contoso:expenses'));
  refused(
    ws,
    [
      ...['add', 'native', '--group', 'urn:contoso:expenses', '--name', 'Dup'],
      ...['--client-id', 'payroll-web', '--redirect-uri', 'http://localhost/'],
    ],
    /client_id "payroll-web" is already used by group "Payroll" in .*payroll\.yaml/,
  );
  refused(
    ws,
    [
      ...['add', 'webapi', '--group', 'urn:contoso:expenses', '--name', 'Dup'],
      ...['--identifier', 'HTTPS://payroll.contoso.test/api'],
    ],
    /Web API identifier "HTTPS:\/\/payroll\.contoso\.test\/api" is already used by group "Payroll" in .*payroll\.yaml/,
  );
  refused(
    ws,
    ['add-group', '--name', 'payroll'],
    /application group "payroll" already exists in .*payroll\.yaml/,
  );
  // Groups written inline in the configuration count too.
  const inline = workspace(
    'oauth:\n  applicationGroups:\n    - name: Inline\n      nativeClients:\n        - { name: n, clientId: inline-client, redirectUris: ["http://localhost/"] }\n',
  );
  ok(inline.run('add-group', '--name', 'Files'));
  refused(
    inline,
    [
      ...['add', 'native', '--group', 'Files', '--name', 'Dup', '--client-id', 'inline-client'],
      ...['--redirect-uri', 'http://localhost/'],
    ],
    /client_id "inline-client" is already used by group "Inline" in \(configuration file\) oauth\.applicationGroups/,
  );
  refused(
    inline,
    ['grant', '--group', 'Inline', '--webapi', 'x', '--client', 'y', '--scope', 'openid'],
    /written in the configuration file \(oauth\.applicationGroups\): edit it there/,
  );
});

test('refusals and usage errors write nothing', () => {
  const { ws } = payroll();
  const cases: [string[], RegExp, 1 | 2][] = [
    [
      [
        'add',
        'native',
        '--group',
        'Nope',
        '--name',
        'n',
        '--client-id',
        'c',
        '--redirect-uri',
        'http://localhost/',
      ],
      /no application group "Nope"/,
      1,
    ],
    [
      [
        'add',
        'native',
        '--group',
        'Payroll',
        '--name',
        'n',
        '--client-id',
        'c',
        '--redirect-uri',
        'http://evil.example/cb',
      ],
      /redirectUris\.0: must be an https:\/\/ URI/,
      1,
    ],
    [
      [
        'add',
        'native',
        '--group',
        'Payroll',
        '--name',
        'n',
        '--client-id',
        'c',
        '--redirect-uri',
        'https://app.example/cb#frag',
      ],
      /redirectUris\.0: must be an https:\/\/ URI.*without a #fragment/,
      1,
    ],
    [
      [
        'add',
        'native',
        '--group',
        'Payroll',
        '--name',
        'n',
        '--client-id',
        'c',
        '--redirect-uri',
        'javascript:alert(1)',
      ],
      /redirectUris\.0: must be/,
      1,
    ],
    [
      [
        'add',
        'native',
        '--group',
        'Payroll',
        '--name',
        'n',
        '--client-id',
        'has space',
        '--redirect-uri',
        'http://localhost/',
      ],
      /clientId: must be printable ASCII/,
      1,
    ],
    [
      ['add', 'native', '--group', 'Payroll', '--name', 'n', '--client-id', 'c'],
      /app add native needs --redirect-uri/,
      2,
    ],
    [
      [
        'add',
        'native',
        '--group',
        'Payroll',
        '--name',
        'n',
        '--client-id',
        'c',
        '--redirect-uri',
        'http://localhost/',
        '--generate-client-secret',
      ],
      /app add native does not take --generate-client-secret/,
      2,
    ],
    [
      ['add', 'server', '--group', 'Payroll', '--name', 'n', '--client-id', 'c'],
      /a server application needs a credential/,
      2,
    ],
    [
      [
        'add',
        'server',
        '--group',
        'Payroll',
        '--name',
        'n',
        '--client-id',
        'c',
        '--jwks-uri',
        'http://keys.example/jwks',
      ],
      /jwksUri: /,
      1,
    ],
    [
      [
        'add',
        'webapi',
        '--group',
        'Payroll',
        '--name',
        'n',
        '--identifier',
        'urn:x',
        '--token-lifetime',
        '2',
      ],
      /tokenLifetimeMinutes: /,
      1,
    ],
    [
      [
        'add',
        'webapi',
        '--group',
        'Payroll',
        '--name',
        'n',
        '--identifier',
        'urn:x',
        '--token-lifetime',
        'soon',
      ],
      /--token-lifetime is a number of minutes/,
      2,
    ],
    [
      [
        'add',
        'webapi',
        '--group',
        'Payroll',
        '--name',
        'n',
        '--identifier',
        'urn:x',
        '--allowed-client-types',
        'public,robots',
      ],
      /not "robots"/,
      2,
    ],
    [
      [
        'add',
        'webapi',
        '--group',
        'Payroll',
        '--name',
        'n',
        '--identifier',
        'urn:x',
        '--issuance-rules',
        'a',
        '--issuance-rules-file',
        'b',
      ],
      /not both/,
      2,
    ],
    [['add', 'widget', '--group', 'Payroll'], /app add needs a kind/, 2],
    [
      [
        'grant',
        '--group',
        'Payroll',
        '--webapi',
        'urn:nope',
        '--client',
        'payroll-web',
        '--scope',
        'openid',
      ],
      /has no Web API with identifier urn:nope/,
      1,
    ],
    [
      [
        'grant',
        '--group',
        'Payroll',
        '--webapi',
        'payroll-web',
        '--client',
        'ghost',
        '--scope',
        'openid',
      ],
      /no client with client_id ghost/,
      1,
    ],
    [
      [
        'grant',
        '--group',
        'Payroll',
        '--webapi',
        'payroll-web',
        '--client',
        'payroll-web',
        '--scope',
        'bad scope',
      ],
      /scopes\.\d+: must be a scope token/,
      1,
    ],
    [
      ['grant', '--group', 'Payroll', '--webapi', 'payroll-web', '--client', 'payroll-web'],
      /app grant needs --scope/,
      2,
    ],
    [['remove', '--group', 'Payroll', '--client-id', 'ghost'], /has no client ghost/, 1],
    [['remove', '--group', 'Payroll', '--client-id', 'a', '--webapi', 'b'], /not both/, 2],
    [['frobnicate'], /unknown app subcommand "frobnicate"/, 2],
    [['list', '--bogus'], /Unknown option '--bogus'/, 2],
  ];
  for (const [args, re, code] of cases) refused(ws, args, re, code);
  refused(ws, [], /app needs a subcommand/, 2);
  // Names need not be unique; identifiers are: a name shared by two groups is refused as ambiguous.
  ok(ws.run('add-group', '--name', 'Twin', '--identifier', 'twin-a'));
  ok(ws.run('add-group', '--name', 'Twin', '--identifier', 'twin-b'));
  refused(
    ws,
    ['remove', '--group', 'Twin'],
    /2 application groups are named "Twin": give the identifier/,
  );
  ok(ws.run('remove', '--group', 'TWIN-B'));
  assert.ok(existsSync(join(ws.apps, 'twin-a.yaml')));
  assert.ok(!existsSync(join(ws.apps, 'twin-b.yaml')));
});

test('a broken group file stops every command with file: path: message', () => {
  const { ws } = payroll();
  writeFileSync(
    join(ws.apps, 'broken.yaml'),
    'name: Broken\nnativeClients:\n  - name: x\n    clientId: ""\n',
  );
  for (const args of [
    ['list'],
    ['add-group', '--name', 'Another'],
    ['reset-secret', '--group', 'Payroll', '--client-id', 'payroll-web'],
  ])
    refused(ws, args, /broken\.yaml: nativeClients\.0\.clientId: /);
});

test('remove: a client (its permissions everywhere, its copied certificates), a Web API, a whole group', () => {
  const { ws } = payroll();
  const rsa = certificate(ws.dir, 'rsa', 'rsa:2048');
  ok(ws.run('add-group', '--name', 'Reports'));
  ok(
    ws.run(
      ...['add', 'server', '--group', 'Reports', '--name', 'R', '--client-id', 'reports'],
      ...['--jwt-signing-certificate', rsa.cert],
    ),
  );
  ok(ws.run('add', 'webapi', '--group', 'Reports', '--name', 'RA', '--identifier', 'urn:reports'));
  for (const [g, api, c] of [
    ['Payroll', 'payroll-web', 'reports'],
    ['Reports', 'urn:reports', 'payroll-web'],
    ['Reports', 'urn:reports', 'reports'],
  ] as const)
    ok(ws.run('grant', '--group', g, '--webapi', api, '--client', c, '--scope', 'openid'));
  assert.equal(readdirSync(ws.apps).filter((f) => f.endsWith('.crt.pem')).length, 1);

  const out = ok(ws.run('remove', '--group', 'Reports', '--client-id', 'reports'));
  assert.match(out, /removed 1 permission\(s\) in "Reports"/);
  assert.match(out, /removed 1 permission\(s\) in "Payroll"/);
  assert.deepEqual(groupFile(ws, 'payroll.yaml').webApis[0]?.permissions, []);
  assert.deepEqual(groupFile(ws, 'reports.yaml').webApis[0]?.permissions, [
    { client: 'payroll-web', scopes: ['openid'] },
  ]);
  assert.equal(readdirSync(ws.apps).filter((f) => f.endsWith('.crt.pem')).length, 0);

  ok(ws.run('remove', '--group', 'Reports', '--webapi', 'URN:REPORTS'));
  assert.deepEqual(groupFile(ws, 'reports.yaml').webApis, []);
  ok(
    ws.run(
      'grant',
      '--group',
      'Payroll',
      '--webapi',
      'payroll-web',
      '--client',
      'payroll-desktop',
      '--scope',
      'openid',
    ),
  );
  ok(ws.run('remove', '--group', 'Payroll'));
  assert.deepEqual(readdirSync(ws.apps), ['reports.yaml']);
});

test('import: Get-AdfsApplicationGroup | ConvertTo-Json and Get-AdfsApplicationPermission output become group files', () => {
  const ws = workspace();
  const src = join(FIXTURES, 'groups.ps7.json');
  const before = treeHash(ws.dir);
  const dry = ws.run(
    'import',
    src,
    '--permissions',
    join(FIXTURES, 'permissions.ps7.json'),
    '--dry-run',
  );
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /dry run: nothing was written/);
  assert.equal(treeHash(ws.dir), before);

  const r = ws.run('import', src, '--permissions', join(FIXTURES, 'permissions.ps7.json'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /AD FS client secrets cannot be exported: run fedgate app reset-secret --group 'Payroll' --client-id '0f3c8d2e-5b4a-4e6f-8c7d-1a2b3c4d5e6f'/,
  );
  assert.match(r.stderr, /permission on urn:contoso:not-in-this-export skipped/);
  assert.deepEqual(readdirSync(ws.apps).sort(), [
    'expenses.urn-contoso-expenses.mfa.rules',
    'expenses.yaml',
    'payroll.yaml',
  ]);

  // Compared with the export read as plain JSON.
  const exported = JSON.parse(readFileSync(src, 'utf8')) as {
    Name: string;
    Applications: Record<string, unknown>[];
  }[];
  const lf = (s: unknown): string => String(s).replace(/\r\n/g, '\n');
  const payrollJson = exported[0]?.Applications ?? [];
  const p = groupFile(ws, 'payroll.yaml');
  assert.equal(p.name, 'Payroll');
  assert.equal(p.enabled, true);
  assert.deepEqual(p.nativeClients[0]?.redirectUris, payrollJson[0]?.RedirectUri);
  assert.equal(p.nativeClients[0]?.clientId, payrollJson[0]?.Identifier);
  assert.equal(p.nativeClients[0]?.allowPasswordGrant, false);
  assert.deepEqual(p.serverApplications[0]?.clientSecrets, []);
  assert.equal(p.serverApplications[0].logoutUri, 'https://payroll.contoso.test/signout-oidc');
  const api = p.webApis[0];
  assert.ok(api !== undefined);
  assert.deepEqual(api.identifiers, payrollJson[2]?.Identifier);
  assert.equal(api.issuanceRules, lf(payrollJson[2]?.IssuanceTransformRules));
  assert.equal(api.authorizationRules, undefined); // "Permit everyone"
  assert.equal(api.mfa, undefined);
  assert.equal(api.tokenLifetimeMinutes, 60);
  assert.equal(api.issueRefreshTokens, false); // NoDevice
  assert.deepEqual(api.permissions, [
    { client: '6a1e4c5d-2f7b-4c1e-9a0d-3b8f1e2d4c5a', scopes: ['openid', 'profile'] },
    {
      client: '0f3c8d2e-5b4a-4e6f-8c7d-1a2b3c4d5e6f',
      scopes: ['openid', 'user_impersonation', 'allatclaims'],
    },
  ]);

  const e = groupFile(ws, 'expenses.yaml');
  const expensesJson = exported[1]?.Applications ?? [];
  assert.equal(e.enabled, false);
  assert.equal(
    e.serverApplications[0]?.jwksUri,
    'https://expenses.contoso.test/.well-known/jwks.json',
  );
  const eapi = e.webApis[0];
  assert.equal(eapi?.authorizationRules, lf(expensesJson[1]?.IssuanceAuthorizationRules));
  assert.deepEqual(eapi.allowedClientTypes, ['confidential']);
  assert.equal(eapi.tokenLifetimeMinutes, 30);
  assert.equal(
    eapi.mfa?.additionalAuthenticationRulesFile,
    'metadata/applications/expenses.urn-contoso-expenses.mfa.rules',
  );
  assert.equal(
    readFileSync(join(ws.dir, eapi.mfa.additionalAuthenticationRulesFile), 'utf8'),
    lf(expensesJson[1]?.AdditionalAuthenticationRules),
  );
  assert.deepEqual(eapi.permissions, [{ client: 'expenses-daemon', scopes: ['openid'] }]);

  // The same export again: refused, nothing changes.
  refused(ws, ['import', src], /group "Payroll": already exists in .*payroll\.yaml/);
  // An application exported on its own joins its group.
  ok(ws.run('import', join(FIXTURES, 'native.ps7.json')));
  assert.deepEqual(
    groupFile(ws, 'payroll.yaml').nativeClients.map((c) => c.clientId),
    ['6a1e4c5d-2f7b-4c1e-9a0d-3b8f1e2d4c5a', 'payroll-mobile'],
  );
  // A secret for an imported server application.
  const s = printedSecret(
    ok(
      ws.run(
        'reset-secret',
        '--group',
        'Payroll',
        '--client-id',
        '0f3c8d2e-5b4a-4e6f-8c7d-1a2b3c4d5e6f',
      ),
    ),
  );
  assert.deepEqual(groupFile(ws, 'payroll.yaml').serverApplications[0]?.clientSecrets, [
    `sha256:${sha256b64url(s)}`,
  ]);
  // Removing the group removes the rule file the import wrote for it.
  ok(ws.run('remove', '--group', 'Expenses'));
  assert.deepEqual(readdirSync(ws.apps), ['payroll.yaml']);
});

test('import reads Windows PowerShell 5.1 output (UTF-16LE with BOM; UTF-8 with BOM)', () => {
  const ws = workspace();
  const r = ws.run('import', join(FIXTURES, 'group.ps51.utf16le.json'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /CONTOSO\\svc-hrportal \(Windows integrated client authentication\), which fedgate does not support/,
  );
  const g = groupFile(ws, 'hr-portal.yaml');
  assert.equal(g.name, 'HR Portal');
  assert.equal(g.description, 'Staff self-service');
  assert.deepEqual(g.nativeClients[0]?.redirectUris, ['https://hr.contoso.test/']);
  assert.equal(g.nativeClients[0].logoutUri, 'https://hr.contoso.test/logout');
  assert.equal(g.serverApplications[0]?.clientId, 'hr-portal-backend');
});

test('import refuses what it cannot carry over faithfully, and writes nothing', () => {
  const ws = workspace();
  ok(ws.run('add-group', '--name', 'Payroll'));
  refused(
    ws,
    ['import', join(FIXTURES, 'group.bad-rules.ps7.json')],
    /claim rules do not parse: .*Web API "Payroll - Web API"\) IssuanceTransformRules:4:1: rule 1 "broken": expected ";"/,
  );
  refused(
    ws,
    ['import', join(FIXTURES, 'group.unsupported-policy.ps7.json')],
    /access control policy "Permit specific group" has no fedgate equivalent/,
  );
  refused(
    ws,
    ['import', join(FIXTURES, 'webapi.ps51-numeric-enums.json')],
    /AllowedClientTypes is the number 6: write it as text/,
  );
  const big = join(ws.dir, 'big.json');
  writeFileSync(big, `[${' '.repeat(1024 * 1024)}]`);
  refused(ws, ['import', big], /larger than the 1048576 bytes/);
  const notJson = join(ws.dir, 'x.json');
  writeFileSync(notJson, 'Name : Payroll\r\n');
  refused(ws, ['import', notJson], /not JSON \(ConvertTo-Json output\)/);
  const latin1 = join(ws.dir, 'latin1.json');
  writeFileSync(latin1, Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]));
  refused(ws, ['import', latin1], /neither UTF-8 nor UTF-16 text/);
  // One bad group among good ones: nothing of the good ones is written either.
  const mixed = join(ws.dir, 'mixed.json');
  writeFileSync(
    mixed,
    JSON.stringify([
      { Name: 'Good', ApplicationGroupIdentifier: 'Good', Enabled: true, Applications: [] },
      {
        Name: 'Bad',
        ApplicationGroupIdentifier: 'Bad',
        Enabled: true,
        Applications: [
          {
            Name: 'n',
            Identifier: 'c',
            RedirectUri: ['http://evil.example/'],
            ApplicationGroupIdentifier: 'Bad',
          },
        ],
      },
    ]),
  );
  refused(
    ws,
    ['import', mixed],
    /group "Bad": nativeClients\.0\.redirectUris\.0: must be an https/,
  );
  // Two Web APIs whose MFA rule files would share a name: refused rather than one overwriting the other.
  const mfa =
    '=> issue(Type = "http://schemas.microsoft.com/ws/2008/06/identity/claims/authenticationmethod", Value = "http://schemas.microsoft.com/claims/multipleauthn");';
  const clash = join(ws.dir, 'clash.json');
  writeFileSync(
    clash,
    JSON.stringify({
      Name: 'Clash',
      ApplicationGroupIdentifier: 'Clash',
      Enabled: true,
      Applications: ['urn:a:b', 'urn-a-b'].map((id) => ({
        Name: id,
        Identifier: [id],
        AccessControlPolicyName: 'Permit everyone',
        AdditionalAuthenticationRules: mfa,
        IssuanceTransformRules: '',
        AllowedClientTypes: 'Public',
        IssueOAuthRefreshTokensTo: 'AllDevices',
      })),
    }),
  );
  refused(ws, ['import', clash], /clash\.urn-a-b\.mfa\.rules already exists: nothing was written/);
});

test('import: a Web API with neither an access control policy nor authorization rules stays closed', () => {
  const ws = workspace();
  const file = join(ws.dir, 'closed.json');
  writeFileSync(
    file,
    JSON.stringify({
      Name: 'Closed',
      ApplicationGroupIdentifier: 'Closed',
      Enabled: true,
      Applications: [
        {
          Name: 'API',
          Identifier: ['urn:closed'],
          ApplicationGroupIdentifier: 'Closed',
          AccessControlPolicyName: null,
          IssuanceAuthorizationRules: '',
          IssuanceTransformRules: '',
          AllowedClientTypes: 'Public, Confidential',
          IssueOAuthRefreshTokensTo: 'AllDevices',
          TokenLifetime: 0,
        },
      ],
    }),
  );
  const r = ws.run('import', file);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /imported with a deny-all authorization rule/);
  assert.match(
    groupFile(ws, 'closed.yaml').webApis[0]?.authorizationRules ?? '',
    /=> issue\(Type = "http:\/\/schemas\.microsoft\.com\/authorization\/claims\/deny", Value = "DenyUsersWithClaim"\);/,
  );
});

test('the real CLI: exit 0 / 1 / 2, the secret on standard output, refusals as one line on standard error', () => {
  const ws = workspace();
  const cfg = ['--config', join(ws.dir, 'fedgate.yaml')];
  const a = runCli(['app', 'add-group', '--name', 'Payroll', ...cfg], ws.dir);
  assert.equal(a.status, 0, a.stderr);
  const s = runCli(
    [
      ...['--config', join(ws.dir, 'fedgate.yaml'), 'app', 'add', 'server', '--group', 'Payroll'],
      ...['--name', 'web', '--client-id', 'web', '--generate-client-secret'],
    ],
    ws.dir,
  );
  assert.equal(s.status, 0, s.stderr);
  const secret = printedSecret(s.stdout);
  assert.deepEqual(groupFile(ws, 'payroll.yaml').serverApplications[0]?.clientSecrets, [
    `sha256:${sha256b64url(secret)}`,
  ]);
  const dup = runCli(['app', 'add-group', '--name', 'Payroll', ...cfg], ws.dir);
  assert.equal(dup.status, 1);
  assert.deepEqual(
    dup.stderr.split('\n').filter((l) => l.startsWith('fedgate:')),
    [`fedgate: application group "Payroll" already exists in ${join(ws.apps, 'payroll.yaml')}`],
  );
  const use = runCli(['app', 'add', 'native', ...cfg], ws.dir);
  assert.equal(use.status, 2);
  assert.match(use.stderr, /app add native needs --group/);
  const list = runCli(['app', 'list', '--json', ...cfg], ws.dir);
  assert.equal(list.status, 0, list.stderr);
  assert.ok(!list.stdout.includes('sha256:'));
});
