import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Jar, M365, hidden } from '../helpers/app.ts';
import {
  certificateLink,
  send,
  startCertAuthServer,
  takeCookies,
  type CertAuthServer,
} from '../helpers/certauth.ts';
import { waitUntil } from '../helpers/net.ts';
import { TestPki, freePort, type Leaf } from '../helpers/pki.ts';
import { readBinaryAttributeWithCli, sambaEnv, type SambaEnv } from '../helpers/samba.ts';
import { sidToString } from '../../server/directory/guid.ts';
import { clientHelloServerName } from '../../server/http/sni.ts';

// AD FS's other binding: certauth.<name> on the main port, told apart by SNI. The main host must never ask for a
// client certificate (browsers would prompt on every page); the certauth host must. Observed with openssl s_client,
// which prints the CA names of a CertificateRequest.

const MAIN = 'sts.fedgate.test';
const CERTAUTH = `certauth.${MAIN}`;

/** The CA names a server's CertificateRequest lists (openssl s_client), undefined when it asks for no certificate. */
async function caNamesRequested(port: number, servername: string): Promise<string | undefined> {
  // Asynchronous: the server under test runs in this process.
  const proc = spawn(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let exited = false;
  proc.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  proc.once('close', () => (exited = true));
  // Keep stdin open until the handshake is through (TLS 1.3 sends the CertificateRequest with the server's flight):
  // s_client prints its session summary, which ends in "SSL handshake has read", once the handshake completes. It
  // may also exit first, when the server refuses the handshake.
  try {
    await waitUntil(
      () =>
        `openssl s_client finished the handshake with ${servername} (output: ${out.slice(0, 300)})`,
      () => exited || out.includes('SSL handshake has read'),
    );
    proc.stdin.end();
    await waitUntil('openssl s_client exited after stdin closed', () => exited);
  } finally {
    // Never leave s_client running when a wait ran out.
    if (proc.exitCode === null && proc.signalCode === null) proc.kill();
  }
  if (!out.includes('CONNECTED')) throw new Error(`s_client failed: ${out.slice(0, 300)}`);
  // openssl prints the list after a CertificateRequest, "No client certificate CA names sent" otherwise.
  const m =
    /Acceptable client certificate CA names\n([\s\S]*?)\n(?:Requested|Client Certificate Types|Shared)/.exec(
      out,
    );
  return m?.[1];
}

describe('certificate sign-in on the main port via SNI (certauth.<hostname>)', () => {
  let env: SambaEnv;
  let pki: TestPki;
  let srv: CertAuthServer;
  let port: number;
  let user: Leaf;

  before(async () => {
    env = sambaEnv();
    pki = await TestPki.create();
    port = await freePort();
    const mainCert = pki.issue('main-listener', {
      eku: 'serverAuth',
      cdp: [],
      extra: [`subjectAltName = DNS:${MAIN}`],
    });
    // The main listener sends its chain (leaf + issuing CA) from the file; the certauth one builds it from its CA list.
    const mainChain = join(pki.dir, 'main-listener.chain.pem');
    writeFileSync(mainChain, mainCert.certPem + pki.issuing.certPem);
    const certauthCert = pki.issue('certauth-listener', {
      eku: 'serverAuth',
      cdp: [],
      extra: [`subjectAltName = DNS:${CERTAUTH}`],
    });
    const sid = sidToString(readBinaryAttributeWithCli(env, 'cert1', 'objectSid')!)!;
    user = pki.issue('cert1-sni', { sid, upn: env.users.cert1.upn });
    srv = await startCertAuthServer(pki, env, {
      config: {
        listen: {
          port,
          host: '127.0.0.1',
          tls: { cert: mainChain, key: mainCert.keyFile },
        },
        publicUrl: `https://${MAIN}:${port}`,
      },
      certificateAuth: {
        port: 'off',
        sniHostname: CERTAUTH,
        tls: { cert: certauthCert.certFile, key: certauthCert.keyFile },
      },
    });
  });
  after(async () => {
    await srv.close();
    await pki.close();
  });

  test('ClientHello parser: non-TLS bytes go to the main server, a partial record waits for more', () => {
    assert.equal(clientHelloServerName(Buffer.from('GET / HTTP/1.1\r\n\r\n')), null);
    assert.equal(clientHelloServerName(Buffer.from([0x16, 0x03, 0x01])), undefined);
  });

  test('only the certauth host asks for a client certificate, naming the issuing CA', async () => {
    assert.equal(await caNamesRequested(port, MAIN), undefined);
    const names = await caNamesRequested(port, CERTAUTH);
    assert.match(names ?? '', /CN\s?=\s?Corp Issuing CA/);
  });

  test('sign-in page on the main host → certauth host with the smartcard certificate → token on the main host', async () => {
    const jar = new Jar();
    const opts = { ca: pki.root.certPem, servername: MAIN };
    const page = await send(
      `https://${MAIN}/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}`,
      port,
      opts,
    );
    takeCookies(jar, page);
    const link = certificateLink(page.body);
    assert.equal(new URL(link).origin, `https://${CERTAUTH}:${port}`);
    const leg = await send(link, port, { ca: pki.root.certPem, servername: CERTAUTH, cert: user });
    assert.equal(leg.status, 302, leg.body.slice(0, 300));
    const back = new URL(leg.headers.location ?? '');
    assert.equal(back.origin, `https://${MAIN}:${port}`);
    const done = await send(back.href, port, { ...opts, cookie: jar.header() });
    assert.equal(done.status, 200, done.body.slice(0, 300));
    assert.ok(hidden(done.body, 'wresult').includes('authenticationmethod/tlsclient'));
  });

  test('the certificate route is not served on the main host name', async () => {
    const r = await send(
      `https://${MAIN}/adfs/ls/certauth?AuthState=AAAAAAAAAAAAAAAAAAAAAA`,
      port,
      {
        ca: pki.root.certPem,
        servername: MAIN,
        cert: user,
      },
    );
    assert.equal(r.status, 404);
  });
});
