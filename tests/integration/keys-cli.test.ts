// `fedgate keys list|rollover|promote|import|export-public` and `fedgate tenant` with a next key (issue 18), the CLI
// spawned as an admin runs it, against temporary keys directories. Certificates, keys and PFX files are made by the
// openssl command line at test time, and what fedgate writes or prints is read back with openssl (thumbprints,
// exported certificates) or as plain JSON (the manifest): never with fedgate's own code.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { cliTs, tsxLoader } from '../helpers/cli.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { startSoftHsm } from '../helpers/softhsm.ts';

const DOMAIN = 'corp.example.test';

function cli(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--import', tsxLoader, cliTs, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

/** A folder with fedgate.yaml (keys in ./keys); `extra` is merged into the configuration. */
function workspace(extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-keys-cli-'));
  writeFileSync(
    join(dir, 'fedgate.yaml'),
    stringify({
      hostname: 'sts.corp.example.test',
      listen: { port: 443, tls: 'off' },
      log: { level: 'silent' },
      keys: { dir: 'keys' },
      microsoft365: { federatedDomains: [DOMAIN] },
      ...extra,
    }),
  );
  return dir;
}

function openssl(args: string[], cwd: string, env: Record<string, string> = {}): string {
  const r = spawnSync('openssl', args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A self-signed RSA-2048 certificate and its key (mode 0600), valid `days` from now, made by openssl. */
function opensslPair(cwd: string, name: string, days: number): { cert: string; key: string } {
  const cert = join(cwd, `${name}.crt.pem`);
  const key = join(cwd, `${name}.key.pem`);
  openssl(
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert],
      ...['-days', String(days), '-subj', `/CN=ADFS Signing - ${name}`],
    ],
    cwd,
  );
  chmodSync(key, 0o600);
  return { cert, key };
}

/** The SHA-1 thumbprint openssl computes for a PEM (or DER with `inform`) certificate file. */
function thumbprint(file: string, inform: 'PEM' | 'DER' = 'PEM'): string {
  const out = openssl(
    ['x509', '-inform', inform, '-in', file, '-noout', '-fingerprint', '-sha1'],
    '/',
  );
  return (/=([0-9A-F:]+)/.exec(out)?.[1] ?? '').replace(/:/g, '');
}

/** Base64 DER of a PEM certificate, as openssl converts it. */
function derBase64(file: string): string {
  const r = spawnSync('openssl', ['x509', '-in', file, '-outform', 'DER'], { encoding: 'buffer' });
  assert.equal(r.status, 0);
  return r.stdout.toString('base64');
}

interface ManifestJson {
  keys: { role: string; cert: string; key?: string; thumbprint: string; source: string }[];
}
const manifest = (ws: string): ManifestJson =>
  JSON.parse(readFileSync(join(ws, 'keys', 'token-signing.json'), 'utf8')) as ManifestJson;
const roleOf = (ws: string, role: string) => manifest(ws).keys.find((k) => k.role === role);

/** Every file in keys.dir with the hash of its contents and its mode: "nothing written" compares two of these. */
function snapshot(ws: string): string[] {
  const dir = join(ws, 'keys');
  return readdirSync(dir)
    .sort()
    .map((f) => {
      const p = join(dir, f);
      return `${f} ${(statSync(p).mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    });
}

/** The key_rollover audit events the command wrote to standard error (JSON lines). */
function auditEvents(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e.event === 'key_rollover');
}

/** A ring whose primary is `pair`'s certificate (imported as primary over the generated first key). */
function ringWithPrimary(ws: string, pair: { cert: string; key: string }): void {
  const first = cli(['tenant', '--domain', DOMAIN, '--config', 'fedgate.yaml', '--json'], ws);
  assert.equal(first.status, 0, first.stderr);
  const r = cli(
    [
      'keys',
      'import',
      '--cert',
      pair.cert,
      '--key',
      pair.key,
      '--as',
      'primary',
      '--config',
      'fedgate.yaml',
    ],
    ws,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(roleOf(ws, 'primary')?.thumbprint, thumbprint(pair.cert));
}

/** openssl pkcs12 -export of `pair` with the password in $PFX_PASSWORD; `extra` chooses the encryption. */
function pfx(
  ws: string,
  name: string,
  pair: { cert: string; key: string },
  extra: string[],
): string {
  const out = join(ws, name);
  openssl(
    [
      'pkcs12',
      '-export',
      '-inkey',
      pair.key,
      '-in',
      pair.cert,
      '-out',
      out,
      '-passout',
      'env:PFX_PASSWORD',
      ...extra,
    ],
    ws,
    { PFX_PASSWORD: 'Adfs-export-2026!' },
  );
  return out;
}

/** A certificate that expired in 2021 (openssl ca -selfsign with explicit dates: req -x509 cannot backdate). */
function expiredPair(ws: string): { cert: string; key: string } {
  const ca = mkdtempSync(join(ws, 'expired-'));
  writeFileSync(
    join(ca, 'ca.cnf'),
    '[ca]\ndefault_ca = d\n[d]\ndatabase = ./index.txt\nnew_certs_dir = .\nserial = ./serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n',
  );
  writeFileSync(join(ca, 'index.txt'), '');
  writeFileSync(join(ca, 'serial'), '01\n');
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'k.pem',
      '-out',
      'r.csr',
      '-subj',
      '/CN=expired',
    ],
    ca,
  );
  openssl(
    [
      ...['ca', '-batch', '-config', 'ca.cnf', '-selfsign', '-keyfile', 'k.pem', '-in', 'r.csr'],
      ...[
        '-out',
        'c.pem',
        '-startdate',
        '20200101000000Z',
        '-enddate',
        '20210101000000Z',
        '-notext',
      ],
    ],
    ca,
  );
  chmodSync(join(ca, 'k.pem'), 0o600);
  return { cert: join(ca, 'c.pem'), key: join(ca, 'k.pem') };
}

test('keys list never generates; after the first key it shows the primary, the schedule and auto rollover', () => {
  const ws = workspace();
  const empty = cli(['keys', 'list', '--config', 'fedgate.yaml'], ws);
  assert.equal(empty.status, 2, empty.stderr);
  assert.match(empty.stderr, /keys holds no token-signing key yet/);
  for (const args of [
    ['rollover', '--if-due'],
    ['rollover', '--now'],
    ['promote'],
    ['export-public'],
  ]) {
    const r = cli(['keys', ...args, '--config', 'fedgate.yaml'], ws);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /holds no token-signing key yet/);
  }
  assert.doesNotMatch(empty.stderr, /\n\s+at /, 'no stack trace');
  assert.throws(
    () => statSync(join(ws, 'keys', 'token-signing.crt.pem')),
    /ENOENT/,
    'list generated nothing',
  );

  // `fedgate tenant` on an empty keys.dir still generates the first key, as it always did.
  const t = cli(['tenant', '--domain', DOMAIN, '--config', 'fedgate.yaml', '--json'], ws);
  assert.equal(t.status, 0, t.stderr);
  const cert = join(ws, 'keys', 'token-signing.crt.pem');
  const before = snapshot(ws);

  const text = cli(['keys', 'list', '--config', 'fedgate.yaml'], ws);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`primary\\s+${thumbprint(cert)}`));
  assert.match(
    text.stdout,
    /next key generated and published \(20 days before the primary expires\)/,
  );
  assert.match(text.stdout, /Due now: nothing/);
  assert.match(text.stdout, /Automatic rollover: on/);

  const json = cli(['keys', 'list', '--config', 'fedgate.yaml', '--json'], ws);
  assert.equal(json.status, 0, json.stderr);
  const l = JSON.parse(json.stdout) as {
    keys: { role: string; thumbprint: string; daysLeft: number; custody: string; source: string }[];
    schedule: { step: string; at: string }[];
    dueNow: unknown[];
    autoRollover: { enabled: boolean };
  };
  assert.equal(l.keys.length, 1);
  assert.deepEqual(
    [l.keys[0]?.role, l.keys[0]?.thumbprint, l.keys[0]?.custody, l.keys[0]?.source],
    ['primary', thumbprint(cert), 'file', 'generated'],
  );
  assert.ok((l.keys[0]?.daysLeft ?? 0) >= 363 && (l.keys[0]?.daysLeft ?? 0) <= 365);
  const notAfter = openssl(['x509', '-in', cert, '-noout', '-enddate'], ws)
    .trim()
    .slice('notAfter='.length);
  const generation = l.schedule.find((s) => s.step === 'generate');
  assert.equal(
    new Date(generation?.at ?? 0).getTime(),
    new Date(notAfter).getTime() - 20 * 86_400_000,
    'generation 20 days before the primary expires (AD FS default)',
  );
  assert.deepEqual(l.dueNow, []);
  assert.equal(l.autoRollover.enabled, true);
  assert.deepEqual(snapshot(ws), before, 'list and tenant change nothing in an existing ring');
  const again = cli(['tenant', '--domain', DOMAIN, '--config', 'fedgate.yaml', '--json'], ws);
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(snapshot(ws), before);
});

test('rollover --if-due applies what is due once (then nothing), promote switches, --now generates; each change audited', () => {
  const ws = workspace();
  // A primary with 10 days left: inside the generation threshold (20), outside the critical one (2).
  const adfs = opensslPair(ws, 'adfs', 10);
  ringWithPrimary(ws, adfs);

  const first = cli(['keys', 'rollover', '--if-due', '--config', 'fedgate.yaml'], ws);
  assert.equal(first.status, 0, first.stderr);
  const next = roleOf(ws, 'next');
  assert.ok(next !== undefined, 'a next key was generated');
  const nextCert = join(ws, 'keys', next.cert);
  assert.equal(next.thumbprint, thumbprint(nextCert));
  assert.match(first.stdout, new RegExp(`generated the next token-signing key ${next.thumbprint}`));
  assert.ok(
    first.stdout.includes(
      `Update-MgDomainFederationConfiguration -DomainId $d -InternalDomainFederationId (Get-MgDomainFederationConfiguration -DomainId $d).Id -NextSigningCertificate "${derBase64(nextCert)}"`,
    ),
    first.stdout,
  );
  assert.ok(first.stdout.includes(`$d = "${DOMAIN}"`));
  const events = auditEvents(first.stderr);
  assert.equal(events.length, 1, first.stderr);
  const [generatedEvent] = events;
  assert.ok(generatedEvent !== undefined);
  assert.equal(generatedEvent.action, 'generated');
  assert.equal(generatedEvent.by, 'cli');
  assert.equal(typeof generatedEvent.operator, 'string');
  assert.match(String(generatedEvent.tenantCommand), /-NextSigningCertificate/);
  assert.equal(statSync(join(ws, 'keys', next.key ?? '')).mode & 0o777, 0o600);

  const afterFirst = snapshot(ws);
  const second = cli(['keys', 'rollover', '--if-due', '--config', 'fedgate.yaml'], ws);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /Nothing is due/);
  assert.deepEqual(auditEvents(second.stderr), []);
  assert.deepEqual(snapshot(ws), afterFirst, 'the second run changed nothing');

  const now = cli(['keys', 'rollover', '--now', '--config', 'fedgate.yaml'], ws);
  assert.equal(now.status, 2, 'a next key is already waiting');
  assert.match(now.stderr, /a next key is already published; promote it/);
  assert.deepEqual(snapshot(ws), afterFirst);

  const promote = cli(['keys', 'promote', '--config', 'fedgate.yaml', '--json'], ws);
  assert.equal(promote.status, 0, promote.stderr);
  assert.equal(roleOf(ws, 'primary')?.thumbprint, next.thumbprint);
  assert.ok(
    manifest(ws).keys.some((k) => k.role === 'previous' && k.thumbprint === thumbprint(adfs.cert)),
    'the replaced primary stays published as previous',
  );
  assert.equal(roleOf(ws, 'next'), undefined);
  const p = JSON.parse(promote.stdout) as { tenantCommands: { role: string; command: string }[] };
  assert.ok(
    p.tenantCommands.some(
      (c) =>
        c.role === 'primary' && c.command.includes(`-SigningCertificate "${derBase64(nextCert)}"`),
    ),
  );
  assert.deepEqual(
    auditEvents(promote.stderr).map((e) => [e.action, e.thumbprint, e.by]),
    [['promoted', next.thumbprint, 'cli']],
  );

  const generated = cli(['keys', 'rollover', '--now', '--config', 'fedgate.yaml'], ws);
  assert.equal(generated.status, 0, generated.stderr);
  const third = roleOf(ws, 'next');
  assert.ok(third !== undefined && third.thumbprint !== next.thumbprint);
  assert.equal(third.thumbprint, thumbprint(join(ws, 'keys', third.cert)));
  assert.equal(auditEvents(generated.stderr)[0]?.reason, 'requested');

  const nothing = cli(['keys', 'promote', '--config', 'fedgate.yaml'], ws);
  assert.equal(nothing.status, 0, nothing.stderr);
  const none = cli(['keys', 'promote', '--config', 'fedgate.yaml'], ws);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /there is no next key to promote/);
});

describe('keys import', () => {
  const PW = { PFX_PASSWORD: 'Adfs-export-2026!' };

  test('a legacy (3DES/RC2) PFX as next and an AES one as primary: thumbprints as openssl computes them', () => {
    const ws = workspace();
    cli(['tenant', '--domain', DOMAIN, '--config', 'fedgate.yaml', '--json'], ws);
    const legacyPair = opensslPair(ws, 'legacy', 365);
    const legacy = pfx(ws, 'legacy.pfx', legacyPair, ['-legacy']);
    const r = cli(
      [
        'keys',
        'import',
        '--pfx',
        legacy,
        '--password-env',
        'PFX_PASSWORD',
        '--config',
        'fedgate.yaml',
      ],
      ws,
      PW,
    );
    assert.equal(r.status, 0, r.stderr);
    const tp = thumbprint(legacyPair.cert);
    assert.match(r.stdout, new RegExp(`^thumbprint ${tp}$`, 'm'));
    assert.ok(r.stdout.includes(`-NextSigningCertificate "${derBase64(legacyPair.cert)}"`));
    const next = roleOf(ws, 'next');
    assert.ok(next?.key !== undefined);
    assert.equal(next.thumbprint, tp);
    assert.equal(next.source, 'imported');
    // The written key is the PFX's key: openssl says the written certificate and key are one pair.
    const modulus = (args: string[]): string => openssl(args, ws).trim();
    assert.equal(
      modulus(['rsa', '-in', join(ws, 'keys', next.key), '-noout', '-modulus']),
      modulus(['x509', '-in', legacyPair.cert, '-noout', '-modulus']),
    );
    assert.equal(statSync(join(ws, 'keys', next.key)).mode & 0o777, 0o600);
    assert.deepEqual(
      auditEvents(r.stderr).map((e) => [e.action, e.role, e.thumbprint, e.by]),
      [['imported', 'next', tp, 'cli']],
    );

    const aesPair = opensslPair(ws, 'aes', 365);
    const aes = pfx(ws, 'aes.pfx', aesPair, [
      '-keypbe',
      'AES-256-CBC',
      '-certpbe',
      'AES-256-CBC',
      '-macalg',
      'sha256',
    ]);
    const pwFile = join(ws, 'pfx-password');
    writeFileSync(pwFile, `${PW.PFX_PASSWORD}\n`, { mode: 0o600 });
    const p = cli(
      [
        'keys',
        'import',
        '--pfx',
        aes,
        '--password-file',
        pwFile,
        '--as',
        'primary',
        '--config',
        'fedgate.yaml',
      ],
      ws,
    );
    assert.equal(p.status, 0, p.stderr);
    assert.equal(roleOf(ws, 'primary')?.thumbprint, thumbprint(aesPair.cert));
    assert.match(
      p.stdout,
      /The tenant needs no change when this certificate is what it already has/,
    );
    // Imported as primary, it replaced the waiting next key (audited as removed).
    assert.deepEqual(
      auditEvents(p.stderr).map((e) => [e.action, e.role]),
      [
        ['retired', 'removed'],
        ['imported', 'primary'],
      ],
    );
  });

  test("a new installation keeps AD FS's certificate: import --as primary starts the ring in an empty keys.dir (as next it is refused)", () => {
    const ws = workspace();
    const pair = opensslPair(ws, 'adfs', 365);
    const file = pfx(ws, 'adfs.pfx', pair, []);
    const args = ['keys', 'import', '--pfx', file, '--password-env', 'PFX_PASSWORD'];
    const listing = (): string[] => (existsSync(join(ws, 'keys')) ? snapshot(ws) : []);
    const before = listing();
    const asNext = cli([...args, '--config', 'fedgate.yaml'], ws, PW);
    assert.equal(asNext.status, 2, asNext.stderr);
    assert.match(asNext.stderr, /holds no token-signing key yet/);
    assert.deepEqual(listing(), before, 'nothing written');

    const r = cli([...args, '--as', 'primary', '--config', 'fedgate.yaml'], ws, PW);
    assert.equal(r.status, 0, r.stderr);
    const m = manifest(ws);
    assert.equal(m.keys.length, 1, 'the imported key is the whole ring');
    assert.equal(m.keys[0]?.role, 'primary');
    assert.equal(m.keys[0].thumbprint, thumbprint(pair.cert));
    // And the ring it started is what the server and `fedgate tenant` use: the tenant gets AD FS's certificate.
    const t = cli(['tenant', '--domain', DOMAIN, '--config', 'fedgate.yaml', '--json'], ws);
    assert.equal(t.status, 0, t.stderr);
    assert.equal(
      (JSON.parse(t.stdout) as { signingCertificate: string }).signingCertificate,
      derBase64(pair.cert),
    );
    assert.throws(
      () => statSync(join(ws, 'keys', 'token-signing.crt.pem')),
      /ENOENT/,
      'no generated key beside it',
    );
  });

  test('each refusal is a clear message, exit 2, and nothing is written to keys.dir', () => {
    const ws = workspace();
    cli(['tenant', '--domain', DOMAIN, '--config', 'fedgate.yaml', '--json'], ws);
    const good = opensslPair(ws, 'good', 365);
    const other = opensslPair(ws, 'other', 365);
    const expired = expiredPair(ws);
    const goodPfx = pfx(ws, 'good.pfx', good, ['-legacy']);
    const noKeyPfx = pfx(ws, 'nokey.pfx', good, ['-nokeys']);
    const before = snapshot(ws);
    const cases: { name: string; args: string[]; env?: Record<string, string>; message: RegExp }[] =
      [
        {
          name: 'wrong PFX password',
          args: ['--pfx', goodPfx, '--password-env', 'PFX_PASSWORD'],
          env: { PFX_PASSWORD: 'not-the-password' },
          message: /password/i,
        },
        {
          name: 'PFX without a key',
          args: ['--pfx', noKeyPfx, '--password-env', 'PFX_PASSWORD'],
          env: PW,
          message: /no private key|no key|without a key/i,
        },
        {
          name: 'certificate and key of different pairs',
          args: ['--cert', good.cert, '--key', other.key],
          message: /does not match the certificate/,
        },
        {
          name: 'expired certificate',
          args: ['--cert', expired.cert, '--key', expired.key, '--as', 'primary'],
          message: /the certificate expired on 2021-01-01/,
        },
        {
          name: 'expired certificate as next',
          args: ['--cert', expired.cert, '--key', expired.key],
          message: /the certificate expired on 2021-01-01/,
        },
        {
          name: 'password variable not set',
          args: ['--pfx', goodPfx, '--password-env', 'NO_SUCH_VARIABLE'],
          message: /NO_SUCH_VARIABLE .*is not set/,
        },
        {
          name: 'no password source',
          args: ['--pfx', goodPfx],
          message: /--password-env NAME or --password-file FILE \(never an argument\)/,
        },
      ];
    for (const c of cases) {
      const r = cli(['keys', 'import', ...c.args, '--config', 'fedgate.yaml'], ws, c.env);
      assert.equal(r.status, 2, `${c.name}: ${r.stderr}`);
      assert.match(r.stderr, c.message, c.name);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${c.name}: no stack trace`);
      assert.deepEqual(auditEvents(r.stderr), [], c.name);
      assert.deepEqual(snapshot(ws), before, `${c.name}: nothing written to keys.dir`);
    }
    // A password is never an argument: there is no option to pass one.
    const arg = cli(
      [
        'keys',
        'import',
        '--pfx',
        goodPfx,
        '--password',
        PW.PFX_PASSWORD,
        '--config',
        'fedgate.yaml',
      ],
      ws,
    );
    assert.equal(arg.status, 2);
    assert.doesNotMatch(arg.stderr + arg.stdout, /Adfs-export-2026/);
    assert.deepEqual(snapshot(ws), before);
    // Control: the same PFX with the right password imports.
    const ok = cli(
      [
        'keys',
        'import',
        '--pfx',
        goodPfx,
        '--password-env',
        'PFX_PASSWORD',
        '--config',
        'fedgate.yaml',
      ],
      ws,
      PW,
    );
    assert.equal(ok.status, 0, ok.stderr);
    assert.notDeepEqual(snapshot(ws), before);
  });
});

test('export-public writes certificates only, which openssl reads back with the ring thumbprints', () => {
  const ws = workspace();
  cli(['tenant', '--domain', DOMAIN, '--config', 'fedgate.yaml', '--json'], ws);
  assert.equal(cli(['keys', 'rollover', '--now', '--config', 'fedgate.yaml'], ws).status, 0);
  const primary = roleOf(ws, 'primary');
  const next = roleOf(ws, 'next');
  assert.ok(primary !== undefined && next !== undefined);

  const out = join(ws, 'all.pem');
  const r = cli(
    ['keys', 'export-public', '--which', 'all', '--out', out, '--config', 'fedgate.yaml'],
    ws,
  );
  assert.equal(r.status, 0, r.stderr);
  const pem = readFileSync(out, 'utf8');
  assert.doesNotMatch(pem, /PRIVATE KEY/);
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
  assert.equal(blocks.length, 2);
  const tps = blocks.map((b, i) => {
    const f = join(ws, `block${String(i)}.pem`);
    writeFileSync(f, b);
    return thumbprint(f);
  });
  assert.deepEqual(tps, [primary.thumbprint, next.thumbprint]);
  const again = cli(['keys', 'export-public', '--out', out, '--config', 'fedgate.yaml'], ws);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /exists; give --force/);

  const b64 = cli(
    ['keys', 'export-public', '--which', 'next', '--format', 'base64', '--config', 'fedgate.yaml'],
    ws,
  );
  assert.equal(b64.status, 0, b64.stderr);
  const lines = b64.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const der = join(ws, 'next.der');
  writeFileSync(der, Buffer.from(lines[0] ?? '', 'base64'));
  assert.equal(thumbprint(der, 'DER'), next.thumbprint);

  const stdoutPem = cli(['keys', 'export-public', '--config', 'fedgate.yaml'], ws);
  assert.doesNotMatch(stdoutPem.stdout, /PRIVATE KEY/);
  const f = join(ws, 'primary.pem');
  writeFileSync(f, stdoutPem.stdout);
  assert.equal(thumbprint(f), primary.thumbprint);
});

describe('concurrent rollover --if-due across a farm (one Redis, one keys.dir)', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });

  test('a lock held elsewhere (in Redis, or the lock file in keys.dir) is busy: exit 3, nothing written', () => {
    const ws = workspace({ store: { kind: 'redis', url: redis.url } });
    ringWithPrimary(ws, opensslPair(ws, 'adfs', 10));
    const before = snapshot(ws);
    // Another node's lock, set with redis-cli (the key the store's markSeen uses: prefix, namespace, name).
    const lockKey = 'fedgate:key-rollover-lock:token-signing';
    const redisCli = (...args: string[]): string =>
      spawnSync('redis-cli', ['-p', String(redis.port), ...args], {
        encoding: 'utf8',
      }).stdout.trim();
    assert.equal(redisCli('SET', lockKey, '1', 'EX', '60', 'NX'), 'OK');
    const busy = cli(['keys', 'rollover', '--if-due', '--config', 'fedgate.yaml'], ws);
    assert.equal(busy.status, 3, busy.stderr);
    assert.match(
      busy.stderr,
      /busy: another node or process holds the token-signing rollover lock/,
    );
    assert.deepEqual(snapshot(ws), before);
    assert.equal(redisCli('GET', lockKey), '1', 'the other holder keeps its lock');
    redisCli('DEL', lockKey);

    // A node that shares the directory but not the store: the lock file.
    writeFileSync(join(ws, 'keys', '.rollover.lock'), `99999 ${new Date().toISOString()}\n`);
    const before2 = snapshot(ws);
    const fileBusy = cli(['keys', 'rollover', '--if-due', '--config', 'fedgate.yaml'], ws);
    assert.equal(fileBusy.status, 3, fileBusy.stderr);
    assert.deepEqual(snapshot(ws), before2);
    rmSync(join(ws, 'keys', '.rollover.lock'));

    const free = cli(['keys', 'rollover', '--if-due', '--config', 'fedgate.yaml'], ws);
    assert.equal(free.status, 0, free.stderr);
    assert.match(free.stdout, /generated the next token-signing key/);
  });

  test('four processes at once when generation is due produce exactly one new key', async () => {
    const ws = workspace({ store: { kind: 'redis', url: redis.url } });
    ringWithPrimary(ws, opensslPair(ws, 'adfs', 10));
    const certsBefore = readdirSync(join(ws, 'keys')).filter((f) => f.endsWith('.crt.pem'));
    const runs = await Promise.all(
      [0, 1, 2, 3].map(
        () =>
          new Promise<{ code: number | null; out: string; err: string }>((ok) => {
            const child = spawn(
              process.execPath,
              [
                '--import',
                tsxLoader,
                cliTs,
                'keys',
                'rollover',
                '--if-due',
                '--config',
                'fedgate.yaml',
              ],
              { cwd: ws, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' } },
            );
            let out = '';
            let err = '';
            child.stdout.on('data', (d: Buffer) => (out += d.toString()));
            child.stderr.on('data', (d: Buffer) => (err += d.toString()));
            child.on('close', (code) => {
              ok({ code, out, err });
            });
          }),
      ),
    );
    for (const r of runs)
      assert.ok(r.code === 0 || r.code === 3, `exit ${String(r.code)}: ${r.err}`);
    for (const r of runs.filter((x) => x.code === 3))
      assert.match(r.err, /busy: another node or process holds/);
    const certsAfter = readdirSync(join(ws, 'keys')).filter((f) => f.endsWith('.crt.pem'));
    assert.equal(
      certsAfter.length,
      certsBefore.length + 1,
      `one new certificate: ${certsAfter.join(', ')}`,
    );
    assert.equal(
      readdirSync(join(ws, 'keys')).filter((f) => f.endsWith('.key.pem')).length,
      certsAfter.length,
    );
    assert.equal(runs.filter((r) => /generated the next token-signing key/.test(r.out)).length, 1);
    assert.equal(runs.flatMap((r) => auditEvents(r.err)).length, 1);
    assert.equal(manifest(ws).keys.filter((k) => k.role === 'next').length, 1);
  });
});

describe('fedgate tenant with a next key, and --current-tenant-json', () => {
  let ws: string;
  let primaryB64: string;
  let nextB64: string;
  let primaryTp: string;
  let nextTp: string;

  before(() => {
    ws = workspace();
    assert.equal(cli(['tenant', '--domain', DOMAIN, '--config', 'fedgate.yaml'], ws).status, 0);
    assert.equal(cli(['keys', 'rollover', '--now', '--config', 'fedgate.yaml'], ws).status, 0);
    const m = manifest(ws);
    const p = m.keys.find((k) => k.role === 'primary');
    const n = m.keys.find((k) => k.role === 'next');
    assert.ok(p !== undefined && n !== undefined);
    primaryB64 = derBase64(join(ws, 'keys', p.cert));
    nextB64 = derBase64(join(ws, 'keys', n.cert));
    primaryTp = thumbprint(join(ws, 'keys', p.cert));
    nextTp = thumbprint(join(ws, 'keys', n.cert));
  });

  test('the Graph body carries nextSigningCertificate (WS-Fed and SAML); the text has both update lines', () => {
    for (const protocol of ['wsfed', 'saml']) {
      const r = cli(
        [
          'tenant',
          '--domain',
          DOMAIN,
          '--protocol',
          protocol,
          '--config',
          'fedgate.yaml',
          '--json',
        ],
        ws,
      );
      assert.equal(r.status, 0, r.stderr);
      const body = JSON.parse(r.stdout) as Record<string, string>;
      assert.equal(body.signingCertificate, primaryB64, protocol);
      assert.equal(body.nextSigningCertificate, nextB64, protocol);
    }
    const t = cli(['tenant', '--domain', DOMAIN, '--config', 'fedgate.yaml'], ws);
    assert.equal(t.status, 0, t.stderr);
    assert.ok(
      t.stdout.includes(`  -NextSigningCertificate '${nextB64}' \``),
      'in the New- command',
    );
    assert.match(t.stdout, new RegExp(`# Next token-signing certificate: .*thumbprint ${nextTp}`));
    assert.ok(t.stdout.includes(`-NextSigningCertificate "${nextB64}"`), 'the one line for now');
    assert.ok(
      t.stdout.includes(
        `#   $d = "${DOMAIN}"; Update-MgDomainFederationConfiguration -DomainId $d -InternalDomainFederationId (Get-MgDomainFederationConfiguration -DomainId $d).Id -SigningCertificate "${nextB64}"`,
      ),
      'the one line for after promotion',
    );
  });

  /** What `Get-MgDomainFederationConfiguration -DomainId X | ConvertTo-Json` prints (PowerShell property names). */
  function powershellJson(o: {
    signing: string | null;
    next: string | null;
    issuerUri?: string;
  }): Record<string, unknown> {
    const body = JSON.parse(
      cli(['tenant', '--domain', DOMAIN, '--config', 'fedgate.yaml', '--json'], ws).stdout,
    ) as Record<string, string>;
    return {
      ActiveSignInUri: body.activeSignInUri,
      DisplayName: body.displayName,
      FederatedIdpMfaBehavior: body.federatedIdpMfaBehavior,
      Id: '6f0a3b2e-1c1d-4e0b-9a55-2b1f0c9d8e7a',
      IsSignedAuthenticationRequestRequired: null,
      IssuerUri: o.issuerUri ?? body.issuerUri,
      MetadataExchangeUri: body.metadataExchangeUri,
      NextSigningCertificate: o.next,
      PassiveSignInUri: body.passiveSignInUri,
      PreferredAuthenticationProtocol: body.preferredAuthenticationProtocol,
      PromptLoginBehavior: body.promptLoginBehavior,
      SignOutUri: body.signOutUri,
      SigningCertificate: o.signing,
      SigningCertificateUpdateStatus: { CertificateUpdateResult: 'Success', LastRunDateTime: null },
      AdditionalProperties: {},
    };
  }

  test('a tenant that has both certificates (Windows PowerShell UTF-16LE file, an array of one): nothing to do', () => {
    const file = join(ws, 'tenant-utf16.json');
    const text = JSON.stringify(
      [
        powershellJson({
          signing: primaryB64,
          next: nextB64,
        }),
      ],
      null,
      4,
    ).replace(/\n/g, '\r\n');
    writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
    const r = cli(
      ['tenant', '--domain', DOMAIN, '--current-tenant-json', file, '--config', 'fedgate.yaml'],
      ws,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `OK: the tenant already has the current token-signing certificate ${primaryTp} \\(as signingCertificate\\)`,
      ),
    );
    assert.match(
      r.stdout,
      new RegExp(
        `OK: the tenant already has the next certificate ${nextTp} \\(as nextSigningCertificate; it starts signing on \\d{4}-`,
      ),
    );
    assert.match(r.stdout, /OK: issuerUri, passiveSignInUri, .* match/);
    assert.match(r.stdout, /Nothing to do\./);
    const j = cli(
      [
        'tenant',
        '--domain',
        DOMAIN,
        '--current-tenant-json',
        file,
        '--config',
        'fedgate.yaml',
        '--json',
      ],
      ws,
    );
    assert.equal((JSON.parse(j.stdout) as { upToDate: boolean }).upToDate, true);
  });

  test('a stale tenant (old AD FS certificate, another issuer, no next): what is missing and the lines that fix it', () => {
    const old = opensslPair(ws, 'old-adfs', 30);
    const file = join(ws, 'tenant-stale.json');
    writeFileSync(
      file,
      JSON.stringify(
        powershellJson({
          signing: derBase64(old.cert),
          next: null,
          issuerUri: 'http://adfs.corp.example.test/adfs/services/trust',
        }),
      ),
    );
    const r = cli(
      ['tenant', '--domain', DOMAIN, '--current-tenant-json', file, '--config', 'fedgate.yaml'],
      ws,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`signingCertificate ${thumbprint(old.cert)} \\(expires`));
    assert.match(
      r.stdout,
      new RegExp(
        `NOT OK: the tenant does not have the current token-signing certificate ${primaryTp}`,
      ),
    );
    assert.ok(r.stdout.includes(`-SigningCertificate "${primaryB64}"`));
    assert.match(
      r.stdout,
      new RegExp(`NOT YET: the tenant does not have the next certificate ${nextTp}`),
    );
    assert.ok(r.stdout.includes(`-NextSigningCertificate "${nextB64}"`));
    assert.match(
      r.stdout,
      /issuerUri: the tenant has "http:\/\/adfs\.corp\.example\.test\/adfs\/services\/trust", fedgate "http:\/\/corp\.example\.test\/adfs\/services\/trust\/"/,
    );
    assert.doesNotMatch(r.stdout, /passiveSignInUri: the tenant has/);
    assert.match(r.stdout, /Action needed/);

    // The current primary as the tenant's next certificate is accepted by Entra: said as such.
    const asNext = join(ws, 'tenant-as-next.json');
    writeFileSync(
      asNext,
      JSON.stringify(
        powershellJson({
          signing: derBase64(old.cert),
          next: primaryB64,
        }),
      ),
    );
    const n = cli(
      ['tenant', '--domain', DOMAIN, '--current-tenant-json', asNext, '--config', 'fedgate.yaml'],
      ws,
    );
    assert.match(
      n.stdout,
      /OK: the tenant already has the current token-signing certificate .* \(as nextSigningCertificate\)/,
    );
  });

  test('a file that is not one federation configuration is refused (exit 2), nothing read beyond 1 MiB', () => {
    const cases: [string, Buffer, RegExp][] = [
      ['big.json', Buffer.alloc(1024 * 1024 + 1, 0x20), /bytes; .*at most 1048576 are read/],
      [
        'two.json',
        Buffer.from(JSON.stringify([{ issuerUri: 'a' }, { issuerUri: 'b' }])),
        /holds 2 federation configurations/,
      ],
      ['text.json', Buffer.from('Id : 6f0a3b2e\r\nIssuerUri : http://x\r\n'), /is not JSON/],
      [
        'other.json',
        Buffer.from(JSON.stringify({ name: 'x' })),
        /neither signingCertificate nor issuerUri/,
      ],
    ];
    for (const [name, data, message] of cases) {
      const f = join(ws, name);
      writeFileSync(f, data);
      const r = cli(
        ['tenant', '--domain', DOMAIN, '--current-tenant-json', f, '--config', 'fedgate.yaml'],
        ws,
      );
      assert.equal(r.status, 2, `${name}: ${r.stderr}`);
      assert.match(r.stderr, message, name);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${name}: no stack trace`);
    }
  });
});

test('fedgate check warns when the rollover thresholds leave too little overlap', () => {
  const ws = workspace({ keys: { dir: 'keys', rollover: { promotionThresholdDays: 1 } } });
  const r = cli(['check', '--config', 'fedgate.yaml'], ws);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stderr,
    /warning: keys\.rollover\.promotionThresholdDays is 1: the next certificate is in the metadata for fewer than two of Entra ID's daily polls/,
  );
  const fine = cli(['check', '--config', 'fedgate.yaml'], workspace());
  assert.doesNotMatch(fine.stderr, /keys\.rollover/);
});

test('keys.pkcs11 (SoftHSM2): tenant on an empty keys.dir makes the first key in the HSM; import --pkcs11-label adds a key already there, no key file', () => {
  const hsm = startSoftHsm([{ label: 'adfs', pin: '24681357' }]);
  try {
    const env = { SOFTHSM2_CONF: join(hsm.dir, 'softhsm2.conf') };
    // An empty keys.dir with keys.pkcs11: `fedgate tenant` makes the first key inside the HSM, as a first start does.
    const fresh = workspace();
    const freshPin = join(fresh, 'hsm.pin');
    writeFileSync(freshPin, '24681357\n', { mode: 0o600 });
    writeFileSync(
      join(fresh, 'fedgate.yaml'),
      stringify({
        hostname: 'sts.corp.example.test',
        listen: { port: 443, tls: 'off' },
        log: { level: 'silent' },
        keys: {
          dir: 'keys',
          pkcs11: { module: hsm.module, tokenLabel: 'adfs', pinFile: freshPin },
        },
      }),
    );
    const first = cli(
      ['tenant', '--domain', DOMAIN, '--json', '--config', 'fedgate.yaml'],
      fresh,
      env,
    );
    assert.equal(first.status, 0, first.stderr);
    const made = roleOf(fresh, 'primary');
    assert.ok(
      made !== undefined && made.key === undefined,
      'the first key is in the HSM, not in a file',
    );
    assert.equal(
      (JSON.parse(first.stdout) as { signingCertificate: string }).signingCertificate,
      derBase64(join(fresh, 'keys', made.cert)),
    );
    assert.deepEqual(
      readdirSync(join(fresh, 'keys')).filter((f) => f.includes('key.pem')),
      [],
    );
    assert.deepEqual(
      auditEvents(first.stderr).map((e) => [e.action, e.role, e.custody, e.by]),
      [['generated', 'primary', 'pkcs11', 'cli']],
    );
    const ws = workspace();
    assert.equal(cli(['tenant', '--domain', DOMAIN, '--config', 'fedgate.yaml'], ws).status, 0);
    // The AD FS key pair, put into the token by softhsm2-util (not by fedgate), as a PKCS#8 file.
    const adfs = opensslPair(ws, 'hsm-adfs', 200);
    const pkcs8 = join(ws, 'hsm-adfs.p8');
    openssl(['pkcs8', '-topk8', '-nocrypt', '-in', adfs.key, '-out', pkcs8], ws);
    const imported = spawnSync(
      'softhsm2-util',
      [
        '--import',
        pkcs8,
        '--token',
        'adfs',
        '--label',
        'adfs-signing',
        '--id',
        '01',
        '--pin',
        '24681357',
      ],
      { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' },
    );
    assert.equal(imported.status, 0, imported.stderr);
    const pinFile = join(ws, 'hsm.pin');
    writeFileSync(pinFile, '24681357\n', { mode: 0o600 });
    writeFileSync(
      join(ws, 'fedgate.yaml'),
      stringify({
        hostname: 'sts.corp.example.test',
        listen: { port: 443, tls: 'off' },
        log: { level: 'silent' },
        keys: { dir: 'keys', pkcs11: { module: hsm.module, tokenLabel: 'adfs', pinFile } },
      }),
    );
    const before = snapshot(ws);
    const other = opensslPair(ws, 'not-in-hsm', 200);
    for (const [args, message] of [
      [['--pkcs11-label', 'adfs-signing', '--cert', other.cert], /does not match the certificate/],
      [['--pkcs11-label', 'no-such-label', '--cert', adfs.cert], /no-such-label/],
    ] as const) {
      const r = cli(
        ['keys', 'import', ...args, '--as', 'primary', '--config', 'fedgate.yaml'],
        ws,
        env,
      );
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.deepEqual(snapshot(ws), before, 'nothing written');
    }
    const ok = cli(
      [
        'keys',
        'import',
        '--pkcs11-label',
        'adfs-signing',
        '--cert',
        adfs.cert,
        '--as',
        'primary',
        '--config',
        'fedgate.yaml',
      ],
      ws,
      env,
    );
    assert.equal(ok.status, 0, ok.stderr);
    const primary = roleOf(ws, 'primary');
    assert.equal(primary?.thumbprint, thumbprint(adfs.cert));
    assert.equal(primary.key, undefined, 'no key file for an HSM key');
    assert.equal((primary as { pkcs11Label?: string }).pkcs11Label, 'adfs-signing');
    assert.deepEqual(
      readdirSync(join(ws, 'keys')).filter((f) => f.endsWith('.key.pem')),
      ['token-signing.key.pem'],
      'only the first (file) key, now previous, has a key file',
    );
    const list = cli(['keys', 'list', '--json', '--config', 'fedgate.yaml'], ws, env);
    assert.equal(list.status, 0, list.stderr);
    const keys = (JSON.parse(list.stdout) as { keys: { role: string; custody: string }[] }).keys;
    assert.deepEqual(
      keys.map((k) => [k.role, k.custody]),
      [
        ['primary', 'pkcs11'],
        ['previous', 'file'],
      ],
    );
    const t = cli(['tenant', '--domain', DOMAIN, '--json', '--config', 'fedgate.yaml'], ws, env);
    assert.equal(t.status, 0, t.stderr);
    assert.equal(
      (JSON.parse(t.stdout) as { signingCertificate: string }).signingCertificate,
      derBase64(adfs.cert),
    );
  } finally {
    hsm.remove();
  }
});
