import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cliTs = join(root, 'server/cli/main.ts');
const tsxLoader = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;

function runCli(args: string[], opts: { cwd: string; env?: Record<string, string> }) {
  return spawnSync(process.execPath, ['--import', tsxLoader, cliTs, ...args], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...opts.env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

/** Starts `fedgate serve`, waits for the startup banner, then stops it with SIGTERM. */
async function serveAndStop(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<{ out: string; code: number | null; probe: number }> {
  const child = spawn(cmd, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const started = await new Promise<boolean>((ok) => {
    const timer = setTimeout(() => {
      ok(false);
    }, 60_000);
    const check = (): void => {
      if (/Probe\s+\S+/.test(out)) {
        clearTimeout(timer);
        ok(true);
      }
    };
    child.stdout.on('data', check);
    child.on('exit', () => {
      clearTimeout(timer);
      ok(false);
    });
  });
  let probe = 0;
  if (started) {
    const port = /listening on https?:\/\/[^:]+:(\d+)/.exec(out)?.[1];
    const r = await fetch(`http://127.0.0.1:${port ?? '0'}/adfs/probe`);
    probe = r.status;
  }
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((ok) => {
    if (child.exitCode !== null) ok(child.exitCode);
    else
      child.on('exit', (c) => {
        ok(c);
      });
  });
  assert.ok(started, `server did not start:\n${out}`);
  return { out, code, probe };
}

test('fedgate check reports every configuration problem by path and exits 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-cli-'));
  writeFileSync(
    join(dir, 'bad.yaml'),
    'hostname: "no spaces allowed"\nlisten: { port: -1 }\nstore: { kind: memcached }\n',
  );
  const r = runCli(['check', '--config', 'bad.yaml'], { cwd: dir });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /hostname: /);
  assert.match(r.stderr, /listen\.port: /);
  assert.match(r.stderr, /store\.kind: /);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const ok = runCli(['check'], { cwd: dir });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /configuration OK/);
});

test('fedgate check warns about a Redis store without TLS or without a password, and not about one with both (C7.2)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-cli-'));
  const cfg = (store: string): string => {
    writeFileSync(join(dir, 'r.yaml'), `store: ${store}\n`);
    return 'r.yaml';
  };
  const plain = runCli(
    ['check', '--config', cfg('{ kind: redis, url: "redis://10.0.0.5:6379" }')],
    {
      cwd: dir,
    },
  );
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stderr, /^warning: store\.url: Redis without TLS/m);
  assert.match(plain.stderr, /^warning: store: Redis without a password/m);
  assert.match(plain.stdout, /configuration OK/);
  const secured = runCli(
    [
      'check',
      '--config',
      cfg('{ kind: redis, url: "rediss://:s3cret-pass@redis.corp.test:6380" }'),
    ],
    { cwd: dir },
  );
  assert.equal(secured.status, 0, secured.stderr);
  assert.doesNotMatch(secured.stderr, /warning:/);
  // The password itself is never echoed.
  assert.doesNotMatch(plain.stderr + secured.stderr + secured.stdout, /s3cret-pass/);
});

test('fedgate with no or unknown arguments prints usage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-cli-'));
  assert.match(runCli([], { cwd: dir }).stdout, /Usage:/);
  const bad = runCli(['frobnicate'], { cwd: dir });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown command "frobnicate"/);
  const noDomain = runCli(['tenant'], { cwd: dir });
  assert.equal(noDomain.status, 2);
  assert.match(noDomain.stderr, /--domain/);
});

test('fedgate tenant prints the Graph PowerShell command and JSON body from the configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-cli-'));
  writeFileSync(
    join(dir, 'fedgate.yaml'),
    'hostname: sts.corp.example.test\nlisten: { port: 443, tls: "off" }\n',
  );
  const r = runCli(['tenant', '--domain', 'corp.example.test', '--config', 'fedgate.yaml'], {
    cwd: dir,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /New-MgDomainFederationConfiguration -DomainId 'corp\.example\.test'/);
  assert.match(r.stdout, /-IssuerUri 'http:\/\/sts\.corp\.example\.test\/adfs\/services\/trust'/);
  assert.match(r.stdout, /-PassiveSignInUri 'https:\/\/sts\.corp\.example\.test\/adfs\/ls\/'/);
  assert.match(
    r.stdout,
    /-ActiveSignInUri 'https:\/\/sts\.corp\.example\.test\/adfs\/services\/trust\/2005\/usernamemixed'/,
  );
  assert.match(
    r.stdout,
    /-MetadataExchangeUri 'https:\/\/sts\.corp\.example\.test\/adfs\/services\/trust\/mex'/,
  );
  assert.match(r.stdout, /-PreferredAuthenticationProtocol 'wsFed'/);
  const json = runCli(
    ['tenant', '--domain', 'corp.example.test', '--config', 'fedgate.yaml', '--json'],
    { cwd: dir },
  );
  const body = JSON.parse(json.stdout) as Record<string, string>;
  assert.equal(body['@odata.type'], '#microsoft.graph.internalDomainFederation');
  assert.equal(body.issuerUri, 'http://sts.corp.example.test/adfs/services/trust');
  assert.equal(body.signOutUri, 'https://sts.corp.example.test/adfs/ls/?wa=wsignout1.0');
  assert.equal(body.federatedIdpMfaBehavior, 'acceptIfMfaDoneByFederatedIdp');
  // The certificate printed is the one the server signs with (same keys dir), as base64 DER.
  const der = Buffer.from(body.signingCertificate ?? '', 'base64');
  assert.ok(der.length > 500 && der[0] === 0x30);
  assert.equal(statSync(join(dir, 'keys', 'token-signing.key.pem')).mode & 0o777, 0o600);
  const embedded = runCli(['tenant', '--domain', 'contoso.onmicrosoft.com'], { cwd: dir });
  assert.match(embedded.stdout, /WARNING: fedgate is running on embedded defaults/);
  assert.match(embedded.stdout, /onmicrosoft\.com domain cannot be federated/);
});

test('fedgate serve on embedded defaults prints the URLs to try, warns, and stops cleanly on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-cli-'));
  const { out, code, probe } = await serveAndStop(
    process.execPath,
    ['--import', tsxLoader, cliTs, 'serve'],
    dir,
    {
      FEDGATE_LISTEN__PORT: '0',
      FEDGATE_LISTEN__TLS: 'off',
      FEDGATE_LOG__LEVEL: 'warn',
    },
  );
  assert.match(
    out,
    /Federation metadata\s+https:\/\/localhost\/FederationMetadata\/2007-06\/FederationMetadata\.xml/,
  );
  assert.match(
    out,
    /Test sign-in\s+https:\/\/localhost\/adfs\/ls\/\?wa=wsignin1\.0&wtrealm=urn%3Afedgate%3Atest/,
  );
  assert.match(out, /Probe\s+https:\/\/localhost\/adfs\/probe/);
  assert.match(out, /WARNING: running on embedded defaults/);
  assert.equal(probe, 200);
  assert.equal(code, 0);
});

test('the built server (what npm start runs) starts from dist/', async () => {
  const build = spawnSync('npm', ['run', 'build'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.equal(build.status, 0, build.stdout + build.stderr);
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-cli-'));
  const { out, code, probe } = await serveAndStop(
    process.execPath,
    [join(root, 'dist/server/cli/main.js'), 'serve'],
    dir,
    {
      FEDGATE_LISTEN__PORT: '0',
      FEDGATE_LISTEN__TLS: 'off',
      FEDGATE_LOG__LEVEL: 'warn',
    },
  );
  assert.match(out, /Demo users\s+alice@fedgate\.test/);
  assert.equal(probe, 200);
  assert.equal(code, 0);
  // The built CLI finds its package.json from dist/ as the source one does from server/ (and the image's).
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const built = spawnSync(process.execPath, [join(root, 'dist/server/cli/main.js'), '--version'], {
    encoding: 'utf8',
  });
  assert.equal(built.stdout, `fedgate ${pkg.version}\n`);
  assert.equal(built.status, 0);
  const source = runCli(['--version'], { cwd: dir });
  assert.equal(source.stdout, `fedgate ${pkg.version}\n`);
});
