import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resolveConfig } from '../../server/config/load.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import { startServer, type Running } from '../../server/main.ts';
import { LogCapture } from '../helpers/app.ts';
import { freePort } from '../helpers/redis.ts';
import {
  readObjectGuidWithCli,
  sambaEnv,
  sambaLdapConfig,
  sambaTlsFiles,
  type SambaEnv,
} from '../helpers/samba.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
} from '../helpers/verify.ts';

// The real client: Microsoft's MSAL for Python (Debian python3-msal), its MEX parser and its WS-Trust request
// and response code, against fedgate on a real HTTPS socket (certificate from the test CA, which MSAL's
// requests session trusts through REQUESTS_CA_BUNDLE: certificate checks stay on), authenticating a user of
// the real Samba AD DC. Every returned assertion is verified by xml-crypto and xmlsec1 with the certificate
// pinned from our published federation metadata.

interface MsalRun {
  msal_version: string;
  preferred: { address: string; action: string } | null;
  endpoints: { address: string; action: string }[];
  tokens: { address: string; action: string; type: string; token: string }[];
  fault: string | null;
}

const ACTION_13 = 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue';
const ACTION_2005 = 'http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue';
const DRIVER = new URL('./msal_wstrust.py', import.meta.url).pathname;

function runMsal(
  mexUrl: string,
  audience: string,
  creds: { username: string; password: string; wrong_password?: string },
  caFile: string,
): Promise<MsalRun> {
  return new Promise((ok, fail) => {
    // Debian's python3 (where python3-msal lives), not whatever python3 is first on PATH.
    const child = spawn('/usr/bin/python3', [DRIVER, mexUrl, audience], {
      env: { PATH: '/usr/bin:/bin', REQUESTS_CA_BUNDLE: caFile, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', fail);
    child.on('close', (code) => {
      if (code !== 0) fail(new Error(`msal driver exited ${code}: ${err.slice(-3000)}`));
      else ok(JSON.parse(out) as MsalRun);
    });
    child.stdin.end(JSON.stringify(creds));
  });
}

function httpsText(url: string, caFile: string): Promise<string> {
  return new Promise((ok, fail) => {
    httpsGet(url, { ca: readFileSync(caFile) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        if (res.statusCode === 200) ok(body);
        else fail(new Error(`GET ${url}: ${res.statusCode ?? 0}`));
      });
    }).on('error', fail);
  });
}

describe('MSAL for Python against fedgate WS-Trust (real HTTPS, real AD)', () => {
  let env: SambaEnv;
  let base: string;
  const servers: Running[] = [];

  async function start(
    input: ConfigInput,
  ): Promise<{ running: Running; base: string; cert: string }> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-msal-'));
    const url = `https://127.0.0.1:${port}`;
    const config = resolveConfig(
      {
        hostname: 'localhost',
        publicUrl: url,
        listen: { port, host: '127.0.0.1', tls: sambaTlsFiles(env) },
        keys: { dir: join(dir, 'keys') },
        directory: sambaLdapConfig(env),
        log: { level: 'info' },
        ...input,
      },
      { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
    );
    const running = await startServer(config, { logDestination: new LogCapture() });
    servers.push(running);
    // The certificate is pinned from the metadata as published on the HTTPS socket (checked with the test CA).
    const [cert] = certFromMetadata(
      await httpsText(`${url}/FederationMetadata/2007-06/FederationMetadata.xml`, env.caFile),
    );
    assert.ok(cert !== undefined);
    return { running, base: url, cert };
  }

  let cert: string;
  before(async () => {
    env = sambaEnv();
    ({ base, cert } = await start({}));
  });
  after(async () => {
    for (const s of servers) await s.stop();
  });

  test('MEX drives MSAL to both usernamemixed endpoints; each returns a SAML 1.1 token that verifies', async () => {
    const user = env.users.wstrust1;
    const run = await runMsal(
      `${base}/adfs/services/trust/mex`,
      'urn:federation:MicrosoftOnline',
      { username: user.upn, password: user.password },
      env.caFile,
    );
    assert.deepEqual(run.preferred, {
      address: `${base}/adfs/services/trust/13/usernamemixed`,
      action: ACTION_13,
    });
    assert.deepEqual(
      run.endpoints.map((e) => [e.address, e.action]).sort(),
      [
        [`${base}/adfs/services/trust/13/usernamemixed`, ACTION_13],
        [`${base}/adfs/services/trust/2005/usernamemixed`, ACTION_2005],
      ].sort(),
    );
    assert.equal(run.tokens.length, 2);
    const guid = readObjectGuidWithCli(env, 'wstrust1').toString('base64');
    const ids = new Set<string>();
    for (const tok of run.tokens) {
      assert.equal(tok.type, 'urn:oasis:names:tc:SAML:1.0:assertion', tok.address);
      const xmlsec = verifyWithXmlsec1(tok.token, cert, SAML11_ID_ATTR);
      assert.equal(xmlsec.ok, true, xmlsec.output);
      const claims = verifySaml11WithXmlCrypto(tok.token, cert);
      assert.equal(claims.audience, 'urn:federation:MicrosoftOnline');
      assert.equal(claims.issuer, 'http://localhost/adfs/services/trust');
      assert.equal(claims.nameIdentifier, guid);
      assert.deepEqual(
        claims.attributes['http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID'],
        [guid],
      );
      assert.deepEqual(claims.attributes['http://schemas.xmlsoap.org/claims/UPN'], [user.upn]);
      assert.equal(claims.authMethod, 'urn:oasis:names:tc:SAML:1.0:am:password');
      ids.add(claims.assertionId);
    }
    assert.equal(ids.size, 2);
  });

  test('MSAL parses our fault for a wrong password (one bad password for wstrust2) and the extSTS.srf alias works', async () => {
    const user = env.users.wstrust2;
    const run = await runMsal(
      `${base}/adfs/services/trust/mex`,
      'https://login.microsoftonline.com/extSTS.srf',
      { username: user.upn, password: user.password, wrong_password: `${user.password}-wrong` },
      env.caFile,
    );
    assert.equal(run.tokens.length, 2);
    for (const tok of run.tokens) {
      const claims = verifySaml11WithXmlCrypto(tok.token, cert);
      // AD FS answers an extSTS.srf request with that Audience (fixtures/real-world/adfs-rst_response.xml).
      assert.equal(claims.audience, 'https://login.microsoftonline.com/extSTS.srf');
    }
    assert.ok(run.fault !== null);
    assert.match(run.fault, /FailedAuthentication/);
    assert.match(run.fault, /ID3242/);
  });

  test('with the 1.3 endpoint switched off, MEX and MSAL fall back to the 2005 endpoint', async () => {
    const only2005 = await start({ wstrust: { endpoints: { usernamemixed13: false } } });
    const run = await runMsal(
      `${only2005.base}/adfs/services/trust/mex`,
      'urn:federation:MicrosoftOnline',
      { username: env.users.wstrust1.upn, password: env.users.wstrust1.password },
      env.caFile,
    );
    assert.deepEqual(run.endpoints, [
      { address: `${only2005.base}/adfs/services/trust/2005/usernamemixed`, action: ACTION_2005 },
    ]);
    assert.equal(run.tokens.length, 1);
    assert.equal(run.tokens[0]!.type, 'urn:oasis:names:tc:SAML:1.0:assertion');
    verifySaml11WithXmlCrypto(run.tokens[0]!.token, only2005.cert);
  });
});
