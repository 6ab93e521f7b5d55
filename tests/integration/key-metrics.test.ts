// The certificate expiry gauges as a running server serves them on its management port (issue 18, Observability):
// every key of the signing ring with its role, and the HTTPS listener's certificate. The values are checked against
// the certificates themselves, read with node's X509Certificate from the files and the live TLS handshake.
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveConfig } from '../../server/config/load.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { startServer } from '../../server/main.ts';
import { LogCapture } from '../helpers/app.ts';

const DAY = 86_400_000;

function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        resolve(body);
      });
    }).on('error', reject);
  });
}

/** The expiry gauge's samples: `use/role/thumbprint` → seconds. */
function expiries(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m =
      /^fedgate_certificate_expiry_seconds\{use="([^"]+)",role="([^"]+)",thumbprint="([^"]+)"\} (\S+)$/.exec(
        line,
      );
    if (m !== null) out.set(`${m[1]}/${m[2]}/${m[3]}`, Number(m[4]));
  }
  return out;
}

function peerCertificate(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
      const der = s.getPeerCertificate().raw;
      s.end();
      resolve(new X509Certificate(der));
    });
    s.on('error', reject);
  });
}

const thumb = (c: X509Certificate): string =>
  createHash('sha1').update(c.raw).digest('hex').toUpperCase();

test('the management port reports seconds to expiry for the signing primary, next and previous keys and the TLS listener', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-key-metrics-'));
  const clock = new FixedClock('2026-03-01T00:00:00Z');
  const config = resolveConfig(
    {
      hostname: 'localhost',
      listen: { port: 0, host: '127.0.0.1', tls: 'generate' },
      keys: { dir: join(dir, 'keys') },
      management: { port: 0 },
    },
    { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
  );
  const running = await startServer(config, { logDestination: new LogCapture(), clock });
  try {
    assert.ok(running.management !== undefined);
    const scrape = async (): Promise<Map<string, number>> =>
      expiries(await fetchText(`http://127.0.0.1:${running.management?.port ?? 0}/metrics`));

    const first = new X509Certificate(
      readFileSync(join(dir, 'keys', 'token-signing.crt.pem'), 'utf8'),
    );
    const tls = await peerCertificate(running.port);
    let m = await scrape();
    const expected = (c: X509Certificate): number =>
      (new Date(c.validTo).getTime() - clock.now().getTime()) / 1000;
    assert.equal(m.get(`signing/primary/${thumb(first)}`), expected(first));
    assert.equal(m.get(`tls/listener/${thumb(tls)}`), expected(tls));
    assert.equal(m.size, 2, [...m.keys()].join(', '));

    // A next key appears beside the primary; after the switch the old one is `previous`, the new one `primary`.
    clock.advance(10 * DAY);
    await running.services.keyLifecycle.generateNow();
    const next = new X509Certificate(
      running.services.keys.snapshot().next?.credential.certificatePem ?? '',
    );
    m = await scrape();
    assert.equal(m.get(`signing/next/${thumb(next)}`), expected(next));
    assert.equal(m.get(`signing/primary/${thumb(first)}`), expected(first));
    await running.services.keyLifecycle.promoteNow();
    m = await scrape();
    assert.equal(m.get(`signing/primary/${thumb(next)}`), expected(next));
    assert.equal(m.get(`signing/previous/${thumb(first)}`), expected(first));
    assert.equal(m.has(`signing/next/${thumb(next)}`), false, 'the next series is gone');
    assert.match(
      await fetchText(`http://127.0.0.1:${running.management.port}/metrics`),
      /^fedgate_signing_rollover_auto 1$/m,
    );
  } finally {
    await running.shutdown();
  }
});
