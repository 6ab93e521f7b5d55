import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hidden } from '../helpers/app.ts';
import {
  errorPage,
  beginThroughProxy,
  startCertAuthServer,
  stopProcess,
  viaProxy,
  type CertAuthServer,
  type ClientOptions,
  type Reply,
} from '../helpers/certauth.ts';
import { TestPki, freePort, type Leaf } from '../helpers/pki.ts';
import { readBinaryAttributeWithCli, sambaEnv, type SambaEnv } from '../helpers/samba.ts';
import { sidToString } from '../../server/directory/guid.ts';

// The HAProxy variant of TLS termination for certificate sign-in (docker/haproxy-certauth.cfg, run as is with its
// environment variables): base64 DER certificate header, SUCCESS only when HAProxy verified it.

const MAIN = 'sts.fedgate.test';
const CERTAUTH = `certauth.${MAIN}`;
const PROXY = '127.0.0.3';
const CFG = new URL('../../docker/haproxy-certauth.cfg', import.meta.url).pathname;

describe('certificate sign-in behind HAProxy terminating mTLS (docker/haproxy-certauth.cfg)', () => {
  let env: SambaEnv;
  let pki: TestPki;
  let srv: CertAuthServer;
  let haproxy: ChildProcess;
  let mainPort: number;
  let certPort: number;
  const leaves: Record<string, Leaf> = {};

  before(async () => {
    env = sambaEnv();
    pki = await TestPki.create();
    const sid = sidToString(readBinaryAttributeWithCli(env, 'cert1', 'objectSid')!)!;
    leaves.cert1 = pki.issue('cert1-haproxy', { sid, upn: env.users.cert1.upn });
    leaves.untrusted = pki.issue('untrusted-haproxy', { sid, issuer: pki.otherIssuing });
    mainPort = await freePort();
    certPort = await freePort();
    srv = await startCertAuthServer(pki, env, {
      config: {
        listen: { port: 0, host: '127.0.0.1', tls: 'off', trustedProxies: [PROXY] },
        publicUrl: `https://${MAIN}:${mainPort}`,
      },
      certificateAuth: {
        port: 'off',
        publicUrl: `https://${CERTAUTH}:${certPort}`,
        proxy: { header: 'X-SSL-Client-Cert', format: 'base64-der' },
      },
    });
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-haproxy-'));
    const server = pki.issue('haproxy-listener', {
      eku: 'serverAuth',
      cdp: [],
      extra: [`subjectAltName = DNS:${MAIN},DNS:${CERTAUTH}`],
    });
    writeFileSync(
      join(dir, 'lb.pem'),
      server.certPem + pki.issuing.certPem + readFileSync(server.keyFile, 'utf8'),
    );
    writeFileSync(join(dir, 'client-ca.pem'), pki.issuing.certPem + pki.root.certPem);
    let log = '';
    haproxy = spawn('haproxy', ['-db', '-f', CFG], {
      env: {
        PATH: process.env.PATH,
        FEDGATE_LB_BIND: `127.0.0.1:${mainPort}`,
        FEDGATE_LB_CERTAUTH: `127.0.0.1:${certPort}`,
        FEDGATE_LB_CERT: join(dir, 'lb.pem'),
        FEDGATE_LB_CLIENT_CA: join(dir, 'client-ca.pem'),
        FEDGATE_NODE1: `127.0.0.1:${srv.mainPort}`,
        FEDGATE_LB_SOURCE: PROXY,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    haproxy.stderr?.on('data', (d: Buffer) => (log += d.toString('utf8')));
    for (const port of [mainPort, certPort]) {
      for (let i = 0; ; i++) {
        const up = await new Promise<boolean>((ok) => {
          const s = connect(port, '127.0.0.1');
          s.once('connect', () => {
            s.destroy();
            ok(true);
          });
          s.once('error', () => {
            ok(false);
          });
        });
        if (up) break;
        if (haproxy.exitCode !== null || i > 100) throw new Error(`haproxy did not start: ${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  after(async () => {
    await stopProcess(haproxy);
    await srv.close();
    await pki.close();
  });

  const viaLb = (url: string, opts: ClientOptions = {}): Promise<Reply> =>
    viaProxy(pki.root.certPem, url, opts);

  const begin = () => beginThroughProxy(pki.root.certPem, `https://${MAIN}:${mainPort}`);

  test('smartcard sign-in through HAProxy (base64 DER header) reaches a token', async () => {
    const { jar, link } = await begin();
    const leg = await viaLb(link, { cert: leaves.cert1 });
    assert.equal(leg.status, 302, leg.body.slice(0, 300));
    const done = await viaLb(leg.headers.location ?? '', { cookie: jar.header() });
    assert.equal(done.status, 200, done.body.slice(0, 300));
    assert.ok(hidden(done.body, 'wresult').includes('authenticationmethod/tlsclient'));
    assert.equal(
      srv.logs
        .events('signin')
        .filter((l) => l.outcome === 'success')
        .at(-1)?.source,
      'proxy',
    );
  });

  test('an unverifiable certificate: HAProxy sends FAILED and no certificate; fedgate shows the page', async () => {
    const r = await viaLb((await begin()).link, { cert: leaves.untrusted });
    assert.equal(r.status, 401, r.body.slice(0, 300));
    assert.match(errorPage(r).message, /could not be verified/);
  });

  test('certificate headers a client sends are removed on both hosts', async () => {
    const spoof = {
      'X-SSL-Client-Cert': leaves.cert1!.der.toString('base64'),
      'X-SSL-Client-Verify': 'SUCCESS',
    };
    const { link, authState } = await begin();
    const viaCertauth = await viaLb(link, { headers: spoof });
    assert.equal(viaCertauth.status, 401);
    assert.match(errorPage(viaCertauth).message, /No certificate was presented/);
    // The main host does not serve the certificate route with a header at all: fedgate sees none.
    const viaMain = await viaLb(
      `https://${MAIN}:${mainPort}/adfs/ls/certauth?AuthState=${authState}`,
      { headers: spoof },
    );
    assert.equal(viaMain.status, 401);
    assert.match(errorPage(viaMain).message, /No certificate was presented/);
  });
});
