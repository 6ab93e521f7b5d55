import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpsServer, get as httpsGet } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { resolveConfig } from '../../server/config/load.ts';
import type { Config, ConfigInput } from '../../server/config/schema.ts';
import { checkPublicUrl } from '../../server/doctor/public-checks.ts';
import type { PlumbingCheck } from '../../server/doctor/types.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { startServer, type Running } from '../../server/main.ts';
import { LogCapture } from '../helpers/app.ts';
import { siteCertificate } from '../helpers/browser.ts';
import { freePort } from '../helpers/net.ts';

// fedgate doctor --public-url against real fedgate servers on HTTPS with a certificate from a throw-away test CA
// (openssl, tests/helpers/browser.ts), and against small servers that misbehave in one way each.

const clock = new FixedClock();
const OTHER_ISSUER = 'http://other.example.test/adfs/services/trust';

function config(dir: string, input: ConfigInput): Config {
  return resolveConfig(
    { hostname: 'localhost', log: { level: 'warn' }, ...input },
    { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
  );
}

let pkiDir: string;
let caFile: string;
let tlsFiles: { cert: string; key: string };
let aDir: string;
let a: Running;
let aConfig: Config;
let b: Running;
let bConfig: Config;
const closers: (() => Promise<void>)[] = [];

before(async () => {
  pkiDir = mkdtempSync(join(tmpdir(), 'fedgate-doctor-public-pki-'));
  const site = siteCertificate(pkiDir, ['localhost']);
  chmodSync(site.keyFile, 0o600);
  caFile = join(pkiDir, 'site-ca.crt');
  tlsFiles = { cert: site.certFile, key: site.keyFile };
  aDir = mkdtempSync(join(tmpdir(), 'fedgate-doctor-public-a-'));
  aConfig = config(aDir, {
    keys: { dir: join(aDir, 'keys') },
    listen: { port: 0, host: '127.0.0.1', tls: tlsFiles },
  });
  a = await startServer(aConfig, { logDestination: new LogCapture() });
  closers.push(() => a.stop());
  // Another federation service (its own issuer and keys) behind the same kind of certificate.
  const bDir = mkdtempSync(join(tmpdir(), 'fedgate-doctor-public-b-'));
  bConfig = config(bDir, {
    issuerUri: OTHER_ISSUER,
    keys: { dir: join(bDir, 'keys') },
    listen: { port: 0, host: '127.0.0.1', tls: tlsFiles },
  });
  b = await startServer(bConfig, { logDestination: new LogCapture() });
  closers.push(() => b.stop());
});

after(async () => {
  for (const close of closers.reverse()) await close();
});

const byCheck = (checks: PlumbingCheck[]): [string, string][] =>
  checks.map((c) => {
    assert.equal(c.area, 'public');
    return [c.check, c.status];
  });

test('fedgate over HTTPS with a certificate from the given CA: every check ok', async () => {
  const checks = await checkPublicUrl(aConfig, `https://localhost:${a.port}/`, {
    clock,
    ca: caFile,
  });
  assert.deepEqual(byCheck(checks), [
    ['metadata', 'ok'],
    ['metadata-entity-id', 'ok'],
    ['metadata-signing-certificate', 'ok'],
    ['probe', 'ok'],
  ]);
  assert.equal(
    checks[0]?.target,
    `https://localhost:${a.port}/FederationMetadata/2007-06/FederationMetadata.xml`,
  );
});

test('the same server without its CA: untrusted certificate → error (verification is never off)', async () => {
  const checks = await checkPublicUrl(aConfig, `https://localhost:${a.port}`, { clock });
  assert.deepEqual(byCheck(checks), [
    ['metadata', 'error'],
    ['probe', 'error'],
  ]);
  assert.match(checks[0]?.message ?? '', /not trusted/);
});

test('a URL the certificate does not name → error', async () => {
  const checks = await checkPublicUrl(aConfig, `https://127.0.0.1:${a.port}`, {
    clock,
    ca: caFile,
  });
  assert.deepEqual(byCheck(checks), [
    ['metadata', 'error'],
    ['probe', 'error'],
  ]);
  assert.match(checks[0]?.message ?? '', /does not name this host/);
});

test('a closed port → error', async () => {
  const port = await freePort();
  const checks = await checkPublicUrl(aConfig, `https://localhost:${port}`, { clock, ca: caFile });
  assert.deepEqual(byCheck(checks), [
    ['metadata', 'error'],
    ['probe', 'error'],
  ]);
  assert.match(checks[0]?.message ?? '', /refused/);
});

test('http:// and non-URLs are refused without a request', async () => {
  for (const url of [
    `http://localhost:${a.port}`,
    'localhost',
    `https://u:p@localhost:${a.port}`,
  ]) {
    const checks = await checkPublicUrl(aConfig, url, { clock, ca: caFile });
    assert.deepEqual(byCheck(checks), [['url', 'error']], url);
  }
});

test('another federation service answers: entityID error, signing certificate warning', async () => {
  const checks = await checkPublicUrl(aConfig, `https://localhost:${b.port}`, {
    clock,
    ca: caFile,
  });
  assert.deepEqual(byCheck(checks), [
    ['metadata', 'ok'],
    ['metadata-entity-id', 'error'],
    ['metadata-signing-certificate', 'warning'],
    ['probe', 'ok'],
  ]);
  assert.match(checks[1]?.message ?? '', new RegExp(`entityID is ${OTHER_ISSUER}, not`));
  // Same issuer, other keys (farm nodes that do not share keys.dir): only the certificate differs.
  const sameIssuerOtherKeys = config(aDir, {
    issuerUri: OTHER_ISSUER,
    keys: { dir: aConfig.keys.dir },
  });
  const c2 = await checkPublicUrl(sameIssuerOtherKeys, `https://localhost:${b.port}`, {
    clock,
    ca: caFile,
  });
  assert.deepEqual(byCheck(c2), [
    ['metadata', 'ok'],
    ['metadata-entity-id', 'ok'],
    ['metadata-signing-certificate', 'warning'],
    ['probe', 'ok'],
  ]);
});

test('a redirect to another host is not followed; a non-metadata answer and a silent server are errors', async () => {
  let hits = 0;
  const pems = { cert: readFileSync(tlsFiles.cert), key: readFileSync(tlsFiles.key) };
  const odd = createHttpsServer(pems, (req, res) => {
    hits++;
    if ((req.url ?? '').startsWith('/FederationMetadata')) {
      res.writeHead(302, { location: 'https://elsewhere.example.test/FederationMetadata.xml' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html><body>hello</body></html>');
  });
  await new Promise<void>((ok) => odd.listen(0, '127.0.0.1', ok));
  closers.push(
    () =>
      new Promise<void>((ok) =>
        odd.close(() => {
          ok();
        }),
      ),
  );
  const oddPort = (odd.address() as AddressInfo).port;
  const checks = await checkPublicUrl(aConfig, `https://localhost:${oddPort}`, {
    clock,
    ca: caFile,
  });
  assert.deepEqual(byCheck(checks), [
    ['metadata', 'error'],
    ['probe', 'ok'],
  ]);
  assert.match(checks[0]?.message ?? '', /redirect to another host.*not followed/);
  assert.equal(hits, 2);

  // A maintenance page answering for the metadata: not SAML metadata.
  const htmlAsMetadata = createHttpsServer(pems, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html><body>maintenance</body></html>');
  });
  await new Promise<void>((ok) => htmlAsMetadata.listen(0, '127.0.0.1', ok));
  closers.push(
    () =>
      new Promise<void>((ok) =>
        htmlAsMetadata.close(() => {
          ok();
        }),
      ),
  );
  const h = await checkPublicUrl(
    aConfig,
    `https://localhost:${(htmlAsMetadata.address() as AddressInfo).port}`,
    { clock, ca: caFile },
  );
  assert.deepEqual(byCheck(h), [
    ['metadata', 'error'],
    ['probe', 'ok'],
  ]);
  assert.match(h[0]?.message ?? '', /not SAML metadata/);

  // A server that accepts the connection and never answers: bounded by timeoutMs.
  const sockets: Socket[] = [];
  const silent = createTcpServer((s) => sockets.push(s));
  await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
  closers.push(
    () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        silent.close(() => {
          ok();
        });
      }),
  );
  const s = await checkPublicUrl(
    aConfig,
    `https://localhost:${(silent.address() as AddressInfo).port}`,
    { clock, ca: caFile, timeoutMs: 300 },
  );
  assert.deepEqual(byCheck(s), [
    ['metadata', 'error'],
    ['probe', 'error'],
  ]);
  assert.match(s[0]?.message ?? '', /no answer within 300 ms/);
});

test('the metadata is parsed as fedgate parses partner metadata: the same document with a DOCTYPE is refused', async () => {
  // The real metadata of server a, fetched with the test CA, then served again with an internal entity declared:
  // everything else is the document the first test accepts.
  const real = await new Promise<string>((ok, fail) => {
    const req = httpsGet(
      `https://localhost:${a.port}/FederationMetadata/2007-06/FederationMetadata.xml`,
      { ca: readFileSync(caFile) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          ok(body);
        });
      },
    );
    req.on('error', fail);
  });
  assert.match(real, /<(md:)?EntityDescriptor/);
  const withDoctype = real.replace(
    /<((md:)?EntityDescriptor)/,
    '<!DOCTYPE $1 [<!ENTITY fedgate "doctor">]><$1',
  );
  const pems = { cert: readFileSync(tlsFiles.cert), key: readFileSync(tlsFiles.key) };
  for (const body of [real, withDoctype]) {
    const server = createHttpsServer(pems, (req, res) => {
      res.writeHead(200, {
        'content-type': (req.url ?? '').startsWith('/Federation')
          ? 'application/xml'
          : 'text/plain',
      });
      res.end((req.url ?? '').startsWith('/Federation') ? body : 'ok');
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const checks = await checkPublicUrl(
        aConfig,
        `https://localhost:${(server.address() as AddressInfo).port}`,
        { clock, ca: caFile },
      );
      const md = checks.find((c) => c.check === 'metadata');
      assert.ok(md !== undefined);
      if (body === real) assert.equal(md.status, 'ok', md.message);
      else {
        assert.equal(md.status, 'error');
        assert.match(md.message, /DOCTYPE/);
      }
    } finally {
      await new Promise<void>((ok) =>
        server.close(() => {
          ok();
        }),
      );
    }
  }
});
