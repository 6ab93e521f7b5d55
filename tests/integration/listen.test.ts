import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { test } from 'node:test';
import { resolveConfig } from '../../server/config/load.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import { startServer } from '../../server/main.ts';
import { LogCapture } from '../helpers/app.ts';
import { sambaEnv, sambaTlsFiles } from '../helpers/samba.ts';

// The main listener in each TLS mode, on real sockets.

function config(input: ConfigInput) {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-listen-'));
  return resolveConfig(
    { hostname: 'localhost', keys: { dir: join(dir, 'keys') }, log: { level: 'info' }, ...input },
    { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
  );
}

function httpsProbe(port: number, ca?: Buffer): Promise<{ status: number; cert: X509Certificate }> {
  return new Promise((ok, fail) => {
    const req = httpsGet(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        path: '/adfs/probe',
        ...(ca === undefined ? { rejectUnauthorized: false } : { ca }),
      },
      (res) => {
        const peer =
          res.socket instanceof TLSSocket ? res.socket.getPeerX509Certificate() : undefined;
        res.resume();
        res.on('end', () => {
          if (peer === undefined) fail(new Error('no peer certificate'));
          else ok({ status: res.statusCode ?? 0, cert: peer });
        });
      },
    );
    req.on('error', fail);
  });
}

test('tls: { cert, key } serves the configured certificate, verifiable with its CA', async () => {
  const env = sambaEnv(); // the test DC's CA-issued certificate (SAN localhost, 127.0.0.1) doubles as a server certificate
  const files = sambaTlsFiles(env);
  const running = await startServer(config({ listen: { port: 0, host: '127.0.0.1', tls: files } }));
  try {
    const { status, cert } = await httpsProbe(running.port, readFileSync(env.caFile));
    assert.equal(status, 200);
    assert.equal(cert.fingerprint256, new X509Certificate(readFileSync(files.cert)).fingerprint256);
  } finally {
    await running.stop();
  }
});

test('tls: generate makes a certificate for the hostname once and reuses it on restart', async () => {
  const c = config({ listen: { port: 0, host: '127.0.0.1', tls: 'generate' } });
  const first = await startServer(c);
  const a = await httpsProbe(first.port).finally(() => first.stop());
  assert.equal(a.status, 200);
  assert.match(a.cert.subjectAltName ?? '', /DNS:localhost/);
  const second = await startServer(c);
  const b = await httpsProbe(second.port).finally(() => second.stop());
  assert.equal(b.cert.fingerprint256, a.cert.fingerprint256);
});

test('tls: off serves plain HTTP; X-Forwarded-For is believed only from a configured proxy', async () => {
  for (const [trustedProxies, expectIp] of [
    [[], '127.0.0.1'],
    [['127.0.0.1'], '203.0.113.7'],
  ] as const) {
    const logs = new LogCapture();
    const running = await startServer(
      config({
        listen: { port: 0, host: '127.0.0.1', tls: 'off', trustedProxies: [...trustedProxies] },
      }),
      { logDestination: logs },
    );
    try {
      const base = `http://127.0.0.1:${running.port}`;
      assert.equal((await fetch(`${base}/adfs/probe`)).status, 200);
      const page = await fetch(
        `${base}/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline`,
      );
      const html = await page.text();
      const cookie = page.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const field = (n: string) => new RegExp(`name="${n}" value="([^"]*)"`).exec(html)?.[1] ?? '';
      await fetch(`${base}/adfs/ls/`, {
        method: 'POST',
        headers: {
          cookie,
          'content-type': 'application/x-www-form-urlencoded',
          'x-forwarded-for': '203.0.113.7',
        },
        body: new URLSearchParams({
          AuthState: field('AuthState'),
          csrf: field('csrf'),
          UserName: 'nobody@fedgate.test',
          Password: 'x',
        }),
      });
      const ev = logs.events('signin').at(-1);
      assert.equal(
        String(ev?.ip).replace('::ffff:', ''),
        expectIp,
        `trustedProxies ${JSON.stringify(trustedProxies)}`,
      );
    } finally {
      await running.stop();
    }
  }
});
