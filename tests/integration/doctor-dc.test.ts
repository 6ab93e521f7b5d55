/**
 * `fedgate doctor`'s domain-controller checks against the real Samba AD DC (issue 21): a healthy DC, DCs whose
 * certificate is expired, wrongly named, untrusted or near expiry (a TLS forwarder in front of Samba's LDAPS port
 * presenting a certificate made here), a skewed clock (the injected clock set away from the DC's time, which is
 * read with the ldapsearch CLI), an unreachable DC first in the list, and a wrong service password. Read-only
 * against AD; the wrong password costs svc-fedgate one bad bind per run (samba.ts lockout budget).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
// @peculiar/x509's tsyringe needs the Reflect metadata polyfill loaded first (server/keys/generate.ts does the same).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { resolveConfig } from '../../server/config/load.ts';
import type { Config } from '../../server/config/schema.ts';
import { checkDomainControllers } from '../../server/doctor/dc-checks.ts';
import type { PlumbingCheck } from '../../server/doctor/types.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import {
  ldapCliEnv,
  ldapToolAsAdmin,
  ldapsearchCli,
  sambaEnv,
  sambaOperatorDirectory,
  sambaTlsFiles,
} from '../helpers/samba.ts';

x509.cryptoProvider.set(webcrypto as Crypto);
const env = sambaEnv();
const DAY = 86_400_000;
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const CHECKS = [
  'reachable',
  'ldaps-certificate',
  'clock-skew',
  'service-account',
  'service-account-password',
  'token-groups',
  'cdp-container',
];

function config(directory: Record<string, unknown> = {}): Config {
  return resolveConfig(
    { directory: { ...sambaOperatorDirectory(env), connectTimeoutMs: 2000, ...directory } },
    { baseDir: '/', source: 'doctor-dc test', embeddedDefaults: false },
  );
}

function byCheck(checks: PlumbingCheck[], target: string): Map<string, PlumbingCheck> {
  return new Map(checks.filter((c) => c.target === target).map((c) => [c.check, c]));
}

function get(m: Map<string, PlumbingCheck>, check: string): PlumbingCheck {
  const c = m.get(check);
  assert.ok(c !== undefined, `check ${check} present`);
  return c;
}

/** The DC's own clock, read with the ldapsearch CLI (rootDSE currentTime), not with fedgate. */
function dcTimeWithCli(): Date {
  const out = execFileSync(
    'ldapsearch',
    ['-LLL', '-x', '-H', env.urls[0] ?? '', '-b', '', '-s', 'base', 'currentTime'],
    { env: ldapCliEnv(env), encoding: 'utf8' },
  );
  const m = /currentTime: (\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)/.exec(out);
  assert.ok(m !== null, `currentTime in ${out}`);
  const [, y, mo, d, h, mi, s] = m.map(Number);
  return new Date(Date.UTC(y ?? 0, (mo ?? 1) - 1, d, h, mi, s));
}

/** The figure of seconds in a clock-skew message. */
function skewSeconds(c: PlumbingCheck): number {
  const m = /(\d+) s (ahead of|behind)/.exec(c.message);
  assert.ok(m !== null, c.message);
  return Number(m[1]);
}

interface TestCa {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  pemFile: string;
}

async function makeCa(dir: string): Promise<TestCa> {
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: `01${randomBytes(8).toString('hex')}`,
    name: 'CN=doctor-dc test CA',
    notBefore: new Date(now - 365 * DAY),
    notAfter: new Date(now + 3650 * DAY),
    signingAlgorithm: EC,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pemFile = join(dir, 'doctor-ca.pem');
  writeFileSync(pemFile, cert.toString('pem'));
  return { cert, keys, pemFile };
}

/** A DC server certificate from the test CA. */
async function dcCertificate(
  ca: TestCa,
  o: { notBefore: Date; notAfter: Date; names: x509.JsonGeneralName[] },
): Promise<{ cert: string; key: string }> {
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: `01${randomBytes(8).toString('hex')}`,
    subject: 'CN=dc1.corp.example.test',
    issuer: ca.cert.subject,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    signingAlgorithm: EC,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(o.names),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`;
  return { cert: cert.toString('pem'), key };
}

/**
 * A "DC" presenting `cert`: a TLS server that forwards every connection over verified TLS to Samba's LDAPS port,
 * so LDAP behind it is the real DC's.
 */
async function forwarder(cert: {
  cert: string;
  key: string;
}): Promise<{ url: string; close: () => Promise<void> }> {
  const sambaCa = readFileSync(env.caFile);
  const [upHost, upPort] = ['127.0.0.1', Number(new URL(env.urls[0] ?? '').port || 636)];
  const server = tls.createServer({ cert: cert.cert, key: cert.key }, (client) => {
    const upstream = tls.connect({ host: upHost, port: upPort, ca: sambaCa });
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ldaps://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) =>
        server.close(() => {
          r();
        }),
      ),
  };
}

async function closedPort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) =>
    s.close(() => {
      r();
    }),
  );
  return port;
}

/** ldapmodify / ldapdelete as Administrator over LDAPS (the OpenLDAP CLIs); throws when the tool refuses. */
function asAdmin(tool: 'ldapmodify' | 'ldapdelete', args: string[], input?: string): void {
  const r = ldapToolAsAdmin(env, tool, args, input);
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed: ${r.stderr}`);
}

function removeSeed(ou: string): void {
  try {
    asAdmin('ldapdelete', ['-r', ou]);
  } catch {
    // Not there: nothing to remove.
  }
}

/** The service account's SID, read with the CLI (binary objectSid → S-1-5-21-…). */
function serviceSid(): string {
  const ldif = ldapsearchCli(env, {
    base: env.bindDn,
    scope: 'base',
    filter: '(objectClass=*)',
    attributes: ['objectSid'],
  });
  const b64 = /^objectSid:: (\S+)$/m.exec(ldif)?.[1];
  assert.ok(b64 !== undefined, ldif);
  const b = Buffer.from(b64, 'base64');
  const subs: number[] = [];
  for (let i = 0; i < b[1]!; i++) subs.push(b.readUInt32LE(8 + 4 * i));
  return `S-${b[0]}-${b.readUIntBE(2, 6)}-${subs.join('-')}`;
}

/**
 * OU + user, then a deny ACE for the service account on the user's tokenGroups (schemaIDGUID b7c69e6d-…, [MS-ADA3]
 * Token-Groups).
 */
function seedDeniedUser(ou: string, user: string): void {
  removeSeed(ou);
  asAdmin(
    'ldapmodify',
    [],
    `dn: ${ou}\nchangetype: add\nobjectClass: organizationalUnit\n\ndn: ${user}\nchangetype: add\nobjectClass: user\nsAMAccountName: doctordc1\n\n`,
  );
  denyAce(user, `(OD;;RP;b7c69e6d-2cc7-11d2-854e-00a0c983f608;;${serviceSid()})`);
}

/**
 * Adds an ACE to an object this file seeded. Samba's LDAP server takes nTSecurityDescriptor in binary only, so the
 * ACE is added with samba-tool on the DC's own database, as tests/setup/samba.sh edits it with ldbmodify.
 */
function denyAce(dn: string, sddl: string): void {
  execFileSync(
    'samba-tool',
    [
      'dsacl',
      'set',
      '-H',
      join(env.stateDir, 'dc', 'private', 'sam.ldb'),
      `--objectdn=${dn}`,
      `--sddl=${sddl}`,
    ],
    { stdio: 'ignore' },
  );
}

describe('fedgate doctor: domain-controller checks (Samba AD DC)', () => {
  const url = env.urls[0] ?? '';
  let tmp: string;
  let ca: TestCa;
  const closers: (() => Promise<void>)[] = [];
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'fedgate-doctor-dc-'));
    ca = await makeCa(tmp);
  });
  after(async () => {
    await Promise.all(closers.map((c) => c()));
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a healthy DC: every check ok, with the figures the CLI reads', async (t) => {
    const checks = await checkDomainControllers(config(), {
      clock: new FixedClock(dcTimeWithCli()),
    });
    const m = byCheck(checks, url);
    assert.deepEqual([...m.keys()], CHECKS);
    for (const c of m.values()) assert.equal(c.status, 'ok', `${c.check}: ${c.message}`);
    t.diagnostic(checks.map((c) => `${c.check}: ${c.message}`).join('\n'));
    // The CDP container really exists on this DC (Samba's provision creates it), read independently.
    const cdp = ldapsearchCli(env, {
      base: `CN=CDP,CN=Public Key Services,CN=Services,CN=Configuration,${env.baseDn}`,
      scope: 'base',
      filter: '(objectClass=*)',
      attributes: ['1.1'],
    });
    assert.match(cdp, /^dn: CN=CDP,/m);
    // tokenGroups of the service account as the CLI reads it (bound as the service account).
    const own = ldapsearchCli(env, {
      bindDn: env.bindDn,
      password: env.bindPassword,
      base: env.bindDn,
      scope: 'base',
      filter: '(objectClass=*)',
      attributes: ['tokenGroups'],
    });
    const n = own.split('\n').filter((l) => l.startsWith('tokenGroups:')).length;
    assert.ok(n > 0);
    assert.match(get(m, 'token-groups').message, new RegExp(`${env.bindDn} ${n} groups`));
    // The subject and names come from the certificate the DC really uses.
    const dcCert = new X509Certificate(readFileSync(sambaTlsFiles(env).cert));
    assert.ok(get(m, 'ldaps-certificate').message.includes(dcCert.subjectAltName ?? '?'));
  });

  it('the injected clock decides validity: 10 days before the DC certificate expires → warning; after → error', async () => {
    const notAfter = Date.parse(new X509Certificate(readFileSync(sambaTlsFiles(env).cert)).validTo);
    const soon = byCheck(
      await checkDomainControllers(config(), { clock: new FixedClock(notAfter - 10 * DAY) }),
      url,
    );
    const warn = get(soon, 'ldaps-certificate');
    assert.equal(warn.status, 'warning', warn.message);
    assert.match(warn.message, /in 10 days/);
    const later = byCheck(
      await checkDomainControllers(config(), { clock: new FixedClock(notAfter + DAY) }),
      url,
    );
    const expired = get(later, 'ldaps-certificate');
    assert.equal(expired.status, 'error', expired.message);
    assert.match(expired.message, /expired on \d{4}-\d\d-\d\d \(1 days ago\)/);
    // warnDays is honoured: 5 days of warning leaves 10 days ok.
    const narrow = byCheck(
      await checkDomainControllers(config(), {
        clock: new FixedClock(notAfter - 10 * DAY),
        warnDays: 5,
      }),
      url,
    );
    assert.equal(get(narrow, 'ldaps-certificate').status, 'ok');
  });

  it('a DC presenting an expired certificate → ldaps-certificate error, and nothing is bound through it', async () => {
    const now = Date.now();
    const fw = await forwarder(
      await dcCertificate(ca, {
        notBefore: new Date(now - 40 * DAY),
        notAfter: new Date(now - 5 * DAY),
        names: [
          { type: 'ip', value: '127.0.0.1' },
          { type: 'dns', value: 'localhost' },
        ],
      }),
    );
    closers.push(fw.close);
    const m = byCheck(
      await checkDomainControllers(config({ urls: [fw.url], tls: { ca: ca.pemFile } }), {
        clock: new FixedClock(now),
      }),
      fw.url,
    );
    assert.equal(get(m, 'reachable').status, 'ok');
    const cert = get(m, 'ldaps-certificate');
    assert.equal(cert.status, 'error', cert.message);
    assert.match(cert.message, /expired on .* \(5 days ago\)/);
    assert.match(cert.message, /CN=dc1\.corp\.example\.test/);
    // The verified connection refuses it: the service account is never used over it.
    assert.equal(get(m, 'service-account').status, 'error');
  });

  it('a DC whose certificate does not name it → error; one from a CA that is not directory.tls.ca → error', async () => {
    const now = Date.now();
    const fw = await forwarder(
      await dcCertificate(ca, {
        notBefore: new Date(now - DAY),
        notAfter: new Date(now + 365 * DAY),
        names: [{ type: 'dns', value: 'wrong.example.test' }],
      }),
    );
    closers.push(fw.close);
    const m = byCheck(
      await checkDomainControllers(config({ urls: [fw.url], tls: { ca: ca.pemFile } }), {
        clock: new FixedClock(now),
      }),
      fw.url,
    );
    const named = get(m, 'ldaps-certificate');
    assert.equal(named.status, 'error', named.message);
    assert.match(named.message, /does not name 127\.0\.0\.1/);
    assert.match(named.message, /DNS:wrong\.example\.test/);

    // Right name and dates, but the configured CA is Samba's, not the one that issued it.
    const fw2 = await forwarder(
      await dcCertificate(ca, {
        notBefore: new Date(now - DAY),
        notAfter: new Date(now + 365 * DAY),
        names: [{ type: 'ip', value: '127.0.0.1' }],
      }),
    );
    closers.push(fw2.close);
    const m2 = byCheck(
      await checkDomainControllers(config({ urls: [fw2.url] }), { clock: new FixedClock(now) }),
      fw2.url,
    );
    const untrusted = get(m2, 'ldaps-certificate');
    assert.equal(untrusted.status, 'error', untrusted.message);
    assert.match(untrusted.message, /does not chain to directory\.tls\.ca/);
  });

  it('a DC certificate expiring in 10 days → warning, and the DC behind it is otherwise healthy', async (t) => {
    const now = Date.now();
    const fw = await forwarder(
      await dcCertificate(ca, {
        notBefore: new Date(now - 30 * DAY),
        notAfter: new Date(now + 10 * DAY + 3_600_000),
        names: [{ type: 'ip', value: '127.0.0.1' }],
      }),
    );
    closers.push(fw.close);
    const checks = await checkDomainControllers(
      config({ urls: [fw.url], tls: { ca: ca.pemFile } }),
      {
        clock: new FixedClock(dcTimeWithCli()),
      },
    );
    const m = byCheck(checks, fw.url);
    const cert = get(m, 'ldaps-certificate');
    assert.equal(cert.status, 'warning', cert.message);
    assert.match(cert.message, /expires on \d{4}-\d\d-\d\d, in 10 days/);
    for (const check of [
      'reachable',
      'clock-skew',
      'service-account',
      'token-groups',
      'cdp-container',
    ])
      assert.equal(get(m, check).status, 'ok', `${check}: ${get(m, check).message}`);
    t.diagnostic(cert.message);
  });

  it('a clock 10 minutes off the DC → clock-skew error with the figure; 2 minutes → warning', async (t) => {
    const dc = dcTimeWithCli().getTime();
    const far = byCheck(
      await checkDomainControllers(config(), { clock: new FixedClock(dc + 600_000) }),
      url,
    );
    const err = get(far, 'clock-skew');
    assert.equal(err.status, 'error', err.message);
    assert.match(err.message, /behind this host's/);
    // The DC's clock moves on while the test runs; the fixed clock does not.
    const s = skewSeconds(err);
    assert.ok(s <= 600 && s >= 580, `skew ${s}`);
    const near = byCheck(
      await checkDomainControllers(config(), { clock: new FixedClock(dc - 120_000) }),
      url,
    );
    const warn = get(near, 'clock-skew');
    assert.equal(warn.status, 'warning', warn.message);
    assert.match(warn.message, /ahead of this host's/);
    const w = skewSeconds(warn);
    assert.ok(w >= 120 && w <= 140, `skew ${w}`);
    // Only the clock was moved: the rest of the DC is fine.
    assert.equal(get(near, 'service-account').status, 'ok');
    t.diagnostic(`${err.message}\n${warn.message}`);
  });

  it('an unreachable DC first in the list: its reachable error, and the second DC is still checked', async () => {
    const dead = `ldaps://127.0.0.1:${await closedPort()}`;
    const checks = await checkDomainControllers(config({ urls: [dead, url] }), {
      clock: new FixedClock(dcTimeWithCli()),
    });
    const first = byCheck(checks, dead);
    assert.equal(get(first, 'reachable').status, 'error');
    assert.match(get(first, 'reachable').message, /ECONNREFUSED/);
    for (const check of CHECKS.slice(2)) assert.equal(get(first, check).status, 'info');
    const second = byCheck(checks, url);
    assert.deepEqual([...second.keys()], CHECKS);
    for (const c of second.values()) assert.equal(c.status, 'ok', `${c.check}: ${c.message}`);
  });

  it('a wrong service password → service-account error, no crash; the clock is still read', async () => {
    const m = byCheck(
      await checkDomainControllers(config({ bindPassword: `${env.bindPassword}-wrong` }), {
        clock: new FixedClock(dcTimeWithCli()),
      }),
      url,
    );
    const svc = get(m, 'service-account');
    assert.equal(svc.status, 'error', svc.message);
    assert.match(svc.message, /wrong password \(AD data 52e\)/);
    assert.equal(get(m, 'clock-skew').status, 'ok');
    assert.equal(get(m, 'token-groups').status, 'info');
  });

  it("the service account's password: never expires → ok; an expiring one → warning, then error", async () => {
    // samba.sh marks svc-fedgate "password never expires", as service accounts usually are.
    const svc = byCheck(
      await checkDomainControllers(config(), { clock: new FixedClock(dcTimeWithCli()) }),
      url,
    );
    assert.equal(get(svc, 'service-account-password').status, 'ok');
    assert.match(get(svc, 'service-account-password').message, /never expires/);

    // jsmith's password expires with the domain's maxPwdAge: bind as jsmith and move the injected clock around the
    // expiry the DC computed (read independently with the ldapsearch CLI).
    const jsmith = env.users.jsmith;
    const ldif = ldapsearchCli(env, {
      base: jsmith.dn,
      scope: 'base',
      filter: '(objectClass=*)',
      attributes: ['msDS-UserPasswordExpiryTimeComputed'],
    });
    const m = /msDS-UserPasswordExpiryTimeComputed: (\d+)/.exec(ldif);
    assert.ok(m !== null, ldif);
    const expiresMs = Number(BigInt(m[1] ?? '0') / 10_000n) - 11_644_473_600_000;
    const asJsmith = config({ bindDn: jsmith.dn, bindPassword: jsmith.password });
    const at = async (ms: number) =>
      get(
        byCheck(await checkDomainControllers(asJsmith, { clock: new FixedClock(ms) }), url),
        'service-account-password',
      );
    const far = await at(expiresMs - 40 * DAY);
    assert.equal(far.status, 'ok', far.message);
    assert.match(far.message, /in 40 days/);
    const near = await at(expiresMs - 5 * DAY);
    assert.equal(near.status, 'warning', near.message);
    assert.match(near.message, /in 5 days/);
    const past = await at(expiresMs + DAY);
    assert.equal(past.status, 'error', past.message);
    assert.match(past.message, /expired on/);
  });

  it('a user whose tokenGroups the service account may not read → token-groups error naming it', async (t) => {
    // Seeded as Administrator in this file's own OU, and removed afterwards: one user whose DACL denies the
    // service account Read Property on tokenGroups (what a hardened domain without "Windows Authorization Access
    // Group" membership looks like). baseDn is the OU, so that user is the one the check reads.
    const ou = `OU=DoctorDcChecks,${env.baseDn}`;
    const user = `CN=doctordc1,${ou}`;
    seedDeniedUser(ou, user);
    try {
      // Independently: the CLI bound as the service account gets the entry without tokenGroups.
      const cli = ldapsearchCli(env, {
        bindDn: env.bindDn,
        password: env.bindPassword,
        base: user,
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: ['tokenGroups', 'cn'],
      });
      assert.match(cli, /^cn: doctordc1$/m);
      assert.doesNotMatch(cli, /tokenGroups/);
      const m = byCheck(
        await checkDomainControllers(config({ baseDn: ou }), {
          clock: new FixedClock(dcTimeWithCli()),
        }),
        url,
      );
      assert.equal(get(m, 'service-account').status, 'ok');
      const tg = get(m, 'token-groups');
      assert.equal(tg.status, 'error', tg.message);
      assert.match(tg.message, new RegExp(`tokenGroups of ${user}: empty`));
      assert.match(tg.message, /Windows Authorization Access Group/);
      t.diagnostic(tg.message);
    } finally {
      removeSeed(ou);
    }
  });

  it('a baseDn the service account may not read, or that does not exist → service-account error', async () => {
    const hidden = `OU=DoctorDcHidden,${env.baseDn}`;
    removeSeed(hidden);
    asAdmin(
      'ldapmodify',
      [],
      `dn: ${hidden}\nchangetype: add\nobjectClass: organizationalUnit\n\n`,
    );
    // Deny the service account Read Property, List Contents and List Object on the OU.
    denyAce(hidden, `(D;;RPLCLO;;;${serviceSid()})`);
    try {
      const m = byCheck(
        await checkDomainControllers(config({ baseDn: hidden }), {
          clock: new FixedClock(dcTimeWithCli()),
        }),
        url,
      );
      const svc = get(m, 'service-account');
      assert.equal(svc.status, 'error', svc.message);
      assert.match(svc.message, /may not read directory\.baseDn OU=DoctorDcHidden/);
    } finally {
      removeSeed(hidden);
    }
    const missing = `OU=DoctorDcNoSuchOu,${env.baseDn}`;
    const m = byCheck(
      await checkDomainControllers(config({ baseDn: missing }), {
        clock: new FixedClock(dcTimeWithCli()),
      }),
      url,
    );
    assert.equal(get(m, 'service-account').status, 'error');
    assert.match(get(m, 'service-account').message, /DoctorDcNoSuchOu,.* does not exist/);
  });

  it('the embedded directory: one info line', async () => {
    const c = resolveConfig({}, { baseDir: '/', source: 'test', embeddedDefaults: false });
    const checks = await checkDomainControllers(c, { clock: new FixedClock() });
    assert.equal(checks.length, 1);
    assert.equal(checks[0]?.status, 'info');
  });
});
