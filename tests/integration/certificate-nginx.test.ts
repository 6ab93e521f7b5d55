import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hidden } from '../helpers/app.ts';
import {
  errorPage,
  send,
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

// Certificate sign-in behind a real nginx (Debian) that terminates mTLS and forwards the certificate in a header,
// configured by docker/nginx-certauth.conf rendered with envsubst exactly as its header says (security-corpus C6.1–
// C6.3). nginx connects to fedgate from 127.0.0.2, the only trusted proxy; a test client connecting from 127.0.0.1
// is "anyone else". Then the header rules against fedgate directly, from the trusted address.

const MAIN = 'sts.fedgate.test';
const CERTAUTH = `certauth.${MAIN}`;
const PROXY = '127.0.0.2';
const TEMPLATE = new URL('../../docker/nginx-certauth.conf', import.meta.url);

function waitForPort(port: number, proc: ChildProcess, log: () => string): Promise<void> {
  return new Promise((ok, fail) => {
    let tries = 0;
    const attempt = (): void => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        ok();
      });
      s.once('error', () => {
        if (proc.exitCode !== null || ++tries > 100)
          fail(new Error(`nginx did not start: ${log()}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

describe('certificate sign-in behind nginx terminating mTLS (docker/nginx-certauth.conf)', () => {
  let env: SambaEnv;
  let pki: TestPki;
  let srv: CertAuthServer;
  let nginx: ChildProcess;
  let prefix: string;
  let mainPort: number;
  let certPort: number;
  const leaves: Record<string, Leaf> = {};

  before(async () => {
    env = sambaEnv();
    pki = await TestPki.create();
    const sid = sidToString(readBinaryAttributeWithCli(env, 'cert1', 'objectSid')!)!;
    const cert1 = { sid, upn: env.users.cert1.upn };
    leaves.cert1 = pki.issue('cert1-nginx', cert1);
    leaves.untrusted = pki.issue('untrusted-nginx', { ...cert1, issuer: pki.otherIssuing });
    leaves.revoked = pki.issue('revoked-nginx', cert1);
    leaves.serverEku = pki.issue('server-eku-nginx', { ...cert1, eku: 'serverAuth' });
    pki.revoke(leaves.revoked);
    pki.crl(pki.issuing);
    pki.crl(pki.root);

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
        proxy: {
          header: 'X-SSL-Client-Cert',
          format: 'nginx',
          verifyHeader: 'X-SSL-Client-Verify',
        },
      },
    });

    prefix = mkdtempSync(join(tmpdir(), 'fedgate-nginx-'));
    mkdirSync(join(prefix, 'logs'));
    const server = pki.issue('nginx-listener', {
      eku: 'serverAuth',
      cdp: [],
      extra: [`subjectAltName = DNS:${MAIN},DNS:${CERTAUTH}`],
    });
    writeFileSync(join(prefix, 'chain.pem'), server.certPem + pki.issuing.certPem);
    writeFileSync(join(prefix, 'client-ca.pem'), pki.issuing.certPem + pki.root.certPem);
    const vars: Record<string, string> = {
      FEDGATE_NGINX_PREFIX: prefix,
      FEDGATE_NGINX_LISTEN: `127.0.0.1:${mainPort}`,
      FEDGATE_NGINX_CERTAUTH: `127.0.0.1:${certPort}`,
      FEDGATE_NGINX_CERT: join(prefix, 'chain.pem'),
      FEDGATE_NGINX_KEY: server.keyFile,
      FEDGATE_NGINX_CLIENT_CA: join(prefix, 'client-ca.pem'),
      FEDGATE_NGINX_UPSTREAM: `127.0.0.1:${srv.mainPort}`,
      FEDGATE_NGINX_SOURCE: PROXY,
    };
    // The command from the template's header: only FEDGATE_NGINX_* are substituted.
    const rendered = spawnSync(
      'sh',
      ['-c', `envsubst "$(env | sed -n 's/^\\(FEDGATE_NGINX_[A-Z_]*\\)=.*/\${\\1}/p')"`],
      {
        input: readFileSync(TEMPLATE, 'utf8'),
        env: { PATH: process.env.PATH, ...vars },
        encoding: 'utf8',
      },
    );
    assert.equal(rendered.status, 0, rendered.stderr);
    assert.match(rendered.stdout, /\$ssl_client_escaped_cert/, 'nginx variables survive rendering');
    assert.doesNotMatch(rendered.stdout, /\$\{FEDGATE_NGINX_/);
    writeFileSync(join(prefix, 'nginx.conf'), rendered.stdout);
    let log = '';
    nginx = spawn(
      '/usr/sbin/nginx',
      ['-c', join(prefix, 'nginx.conf'), '-p', prefix, '-g', 'daemon off;'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    nginx.stderr?.on('data', (d: Buffer) => (log += d.toString('utf8')));
    await waitForPort(mainPort, nginx, () => log);
    await waitForPort(certPort, nginx, () => log);
  });
  after(async () => {
    await stopProcess(nginx);
    await srv.close();
    await pki.close();
  });

  const viaNginx = (url: string, opts: ClientOptions = {}): Promise<Reply> =>
    viaProxy(pki.root.certPem, url, opts);

  const begin = () => beginThroughProxy(pki.root.certPem, `https://${MAIN}:${mainPort}`);

  function assertRefused(r: Reply, status: number, message: RegExp): void {
    assert.equal(r.status, status, r.body.slice(0, 400));
    const page = errorPage(r);
    assert.match(page.message, message);
    assert.match(page.activityId ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(r.headers.location, undefined);
  }

  test('smartcard sign-in through nginx: certificate forwarded by the trusted proxy, validated by fedgate, token issued', async () => {
    const { jar, link } = await begin();
    assert.equal(new URL(link).origin, `https://${CERTAUTH}:${certPort}`);
    const leg = await viaNginx(link, { cert: leaves.cert1 });
    assert.equal(leg.status, 302, leg.body.slice(0, 300));
    const back = new URL(leg.headers.location ?? '');
    assert.equal(back.origin, `https://${MAIN}:${mainPort}`);
    const done = await viaNginx(back.href, { cookie: jar.header() });
    assert.equal(done.status, 200, done.body.slice(0, 300));
    assert.ok(hidden(done.body, 'wresult').includes('authenticationmethod/tlsclient'));
    const ok = srv.logs
      .events('signin')
      .filter((l) => l.outcome === 'success')
      .at(-1)!;
    assert.equal(ok.source, 'proxy');
    assert.equal(ok.thumbprint, leaves.cert1!.x509.fingerprint.replace(/:/g, ''));
  });

  test('C6.1: the same header sent straight to fedgate from an untrusted address is ignored and audited', async () => {
    const { authState } = await begin();
    const r = await send(`http://127.0.0.1/adfs/ls/certauth?AuthState=${authState}`, srv.mainPort, {
      localAddress: '127.0.0.1',
      headers: {
        'X-SSL-Client-Cert': encodeURIComponent(leaves.cert1!.certPem),
        'X-SSL-Client-Verify': 'SUCCESS',
      },
    });
    assertRefused(r, 401, /No certificate was presented/);
    const ignored = srv.logs.events('certificate_header_ignored').at(-1)!;
    assert.equal(ignored.reason, 'peer is not a trusted proxy');
    assert.equal(ignored.peer, '127.0.0.1');
  });

  test('C6.1/C6.3: certificate headers a client sends through nginx are overwritten (main host: removed)', async () => {
    const spoof = {
      'X-SSL-Client-Cert': encodeURIComponent(leaves.cert1!.certPem),
      'X-SSL-Client-Verify': 'SUCCESS',
    };
    const { authState, link } = await begin();
    // The main host never forwards them.
    const viaMain = await viaNginx(
      `https://${MAIN}:${mainPort}/adfs/ls/certauth?AuthState=${authState}`,
      { headers: spoof },
    );
    assertRefused(viaMain, 401, /No certificate was presented/);
    // The certificate host replaces them with its own (no client certificate: empty certificate, NONE).
    const viaCertauth = await viaNginx(link, { headers: spoof });
    assertRefused(viaCertauth, 401, /No certificate was presented/);
  });

  test('C6.4 through nginx: a certificate from an unknown CA is refused by nginx and fedgate says so', async () => {
    const { link } = await begin();
    const r = await viaNginx(link, { cert: leaves.untrusted });
    assertRefused(r, 401, /could not be verified/);
    const line = srv.logs.events('signin').at(-1)!;
    assert.equal(line.kind, 'proxy_rejected');
    assert.match(String(line.reason), /FAILED/);
  });

  test('fedgate validates again what nginx accepted: revoked (CRL) and server-only EKU certificates are refused', async () => {
    const revoked = await viaNginx((await begin()).link, { cert: leaves.revoked });
    assertRefused(revoked, 401, /has been revoked/);
    const server = await viaNginx((await begin()).link, { cert: leaves.serverEku });
    // nginx's own purpose check may already refuse it; either way no sign-in.
    assertRefused(server, 401, /not meant for signing in|could not be verified/);
  });

  describe('C6.2: header rules, from the trusted proxy address itself', () => {
    const pem = (): string => encodeURIComponent(leaves.cert1!.certPem);
    const fromProxy = async (opts: ClientOptions): Promise<Reply> => {
      const { authState } = await begin();
      return send(`http://127.0.0.1/adfs/ls/certauth?AuthState=${authState}`, srv.mainPort, {
        localAddress: PROXY,
        ...opts,
      });
    };

    test('control: one header and SUCCESS from the trusted proxy is accepted', async () => {
      const r = await fromProxy({
        headers: { 'X-SSL-Client-Cert': pem(), 'X-SSL-Client-Verify': 'SUCCESS' },
      });
      assert.equal(r.status, 302, r.body.slice(0, 300));
    });

    for (const [name, opts, message] of [
      [
        'duplicated certificate header',
        () => ({
          rawHeaders: [
            ['X-SSL-Client-Cert', pem()],
            ['x-ssl-client-cert', pem()],
            ['X-SSL-Client-Verify', 'SUCCESS'],
          ],
        }),
        /could not be read/,
      ],
      [
        'verify FAILED',
        () => ({
          headers: {
            'X-SSL-Client-Cert': pem(),
            'X-SSL-Client-Verify': 'FAILED:certificate has expired',
          },
        }),
        /could not be verified/,
      ],
      [
        'verify NONE',
        () => ({ headers: { 'X-SSL-Client-Cert': pem(), 'X-SSL-Client-Verify': 'NONE' } }),
        /could not be verified/,
      ],
      [
        'no verify header',
        () => ({ headers: { 'X-SSL-Client-Cert': pem() } }),
        /could not be verified/,
      ],
      [
        'verify header duplicated',
        () => ({
          rawHeaders: [
            ['X-SSL-Client-Cert', pem()],
            ['X-SSL-Client-Verify', 'SUCCESS'],
            ['X-SSL-Client-Verify', 'SUCCESS'],
          ],
        }),
        /could not be verified/,
      ],
      [
        'empty certificate header',
        () => ({ headers: { 'X-SSL-Client-Cert': '', 'X-SSL-Client-Verify': 'SUCCESS' } }),
        /could not be read/,
      ],
      [
        'name variant X_SSL_Client_Cert (never read)',
        () => ({
          rawHeaders: [
            ['X_SSL_Client_Cert', pem()],
            ['X-SSL-Client-Verify', 'SUCCESS'],
          ],
        }),
        /No certificate was presented/,
      ],
      [
        'certificate in another format (base64 DER where URL-encoded PEM is configured)',
        () => ({
          headers: {
            'X-SSL-Client-Cert': leaves.cert1?.der.toString('base64') ?? '',
            'X-SSL-Client-Verify': 'SUCCESS',
          },
        }),
        /could not be read/,
      ],
    ] as [string, () => ClientOptions, RegExp][]) {
      test(name, async () => {
        const r = await fromProxy(opts());
        assertRefused(r, 401, message);
      });
    }

    test('no verification header at all: refused by the presence rule itself (audited as such), nobody signed in', async () => {
      const cert = { 'X-SSL-Client-Cert': pem() };
      const r = await fromProxy({ headers: cert });
      assertRefused(r, 401, /could not be verified/);
      const line = srv.logs
        .events('signin')
        .filter((l) => l.activityId === r.headers['x-activity-id'])
        .at(-1);
      assert.equal(line?.outcome, 'failure');
      assert.equal(line.kind, 'proxy_rejected');
      // Not the later "is it SUCCESS" comparison: the missing header is refused for being missing.
      assert.equal(line.reason, 'no verification header');
      // Control: the same request with the proxy's SUCCESS signs in.
      const ok = await fromProxy({ headers: { ...cert, 'X-SSL-Client-Verify': 'SUCCESS' } });
      assert.equal(ok.status, 302, ok.body.slice(0, 300));
    });

    test('a name variant is audited', () => {
      const line = srv.logs
        .events('certificate_header_ignored')
        .find((l) => l.reason === 'header name variant');
      assert.deepEqual(line?.names, ['X_SSL_Client_Cert']);
    });

    test('a folded (obs-fold) certificate header is refused by the HTTP parser before fedgate sees it', async () => {
      const { authState } = await begin();
      const reply = await new Promise<string>((ok, fail) => {
        const s = connect({ port: srv.mainPort, host: '127.0.0.1', localAddress: PROXY }, () => {
          s.write(
            `GET /adfs/ls/certauth?AuthState=${authState} HTTP/1.1\r\nHost: x\r\n` +
              `X-SSL-Client-Cert: ${pem().slice(0, 40)}\r\n ${pem().slice(40)}\r\nX-SSL-Client-Verify: SUCCESS\r\n` +
              'Connection: close\r\n\r\n',
          );
        });
        let out = '';
        s.on('data', (d: Buffer) => (out += d.toString('latin1')));
        s.on('end', () => {
          ok(out);
        });
        s.on('error', fail);
      });
      assert.match(reply, /^HTTP\/1\.1 400/);
      assert.doesNotMatch(reply, /Location:/i);
    });
  });
});
