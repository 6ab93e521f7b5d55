import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium, headless, with the flags this closed network needs (../shared/test-environment.md).
 * Playwright gives every launch a fresh temporary profile.
 */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extraArgs,
    ],
  });
}

/**
 * Chromium flags that resolve the given host names to loopback, so one test can put fedgate and a service
 * provider on really different sites (issue 14 §2: SameSite is decided by registrable domain, not by port).
 */
export function mapHostsToLoopback(hosts: string[]): string {
  return `--host-resolver-rules=${hosts.map((h) => `MAP ${h} 127.0.0.1`).join(', ')}`;
}

/** A TLS server certificate for some host names, and the Chromium flag that makes the browser accept it. */
export interface SiteCertificate {
  /** PEM files (leaf + issuing test CA), for a listener's `cert`/`key`. */
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
  /**
   * `--ignore-certificate-errors-spki-list=<sha256 of the leaf's SubjectPublicKeyInfo>`: Chromium trusts exactly
   * this key, so the pages are ordinary secure contexts (Secure and SameSite=None cookies behave as on a real
   * site), without `ignoreHTTPSErrors`, which would accept any certificate.
   */
  spkiFlag: string;
}

/** Makes a throw-away CA and one certificate naming `hosts` with the openssl CLI (never fedgate's own code). */
export function siteCertificate(dir: string, hosts: string[]): SiteCertificate {
  const run = (args: string[], input?: string): string =>
    execFileSync('openssl', args, { cwd: dir, input, encoding: 'utf8', stdio: 'pipe' });
  run(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=fedgate test sites CA',
    ].concat(['-keyout', 'site-ca.key', '-out', 'site-ca.crt']),
  );
  run(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${hosts[0] ?? 'localhost'}`].concat([
      '-keyout',
      'site.key',
      '-out',
      'site.csr',
    ]),
  );
  writeFileSync(
    join(dir, 'site.ext'),
    `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(',')}\nextendedKeyUsage=serverAuth\n`,
  );
  run(
    ['x509', '-req', '-in', 'site.csr', '-CA', 'site-ca.crt', '-CAkey', 'site-ca.key'].concat([
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'site.ext',
      '-out',
      'site.crt',
    ]),
  );
  const leaf = readFileSync(join(dir, 'site.crt'), 'utf8');
  const cert = leaf + readFileSync(join(dir, 'site-ca.crt'), 'utf8');
  writeFileSync(join(dir, 'site-chain.crt'), cert);
  const spki = new X509Certificate(leaf).publicKey.export({ type: 'spki', format: 'der' });
  return {
    certFile: join(dir, 'site-chain.crt'),
    keyFile: join(dir, 'site.key'),
    cert,
    key: readFileSync(join(dir, 'site.key'), 'utf8'),
    spkiFlag: `--ignore-certificate-errors-spki-list=${createHash('sha256').update(spki).digest('base64')}`,
  };
}
