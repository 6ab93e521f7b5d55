import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createHash, webcrypto } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as x509 from '@peculiar/x509';
import { resolveConfig } from '../../server/config/load.ts';
import type { Config, ConfigInput } from '../../server/config/schema.ts';
import { checkCertificates } from '../../server/doctor/cert-checks.ts';
import type { PlumbingCheck } from '../../server/doctor/types.ts';
import { FixedClock } from '../../server/lib/clock.ts';

// fedgate doctor's certificate checks. Every certificate, key ring and CRL is made here with @peculiar/x509 on
// Node's WebCrypto (never with fedgate's own generator), with validity dates around a fixed clock.

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const NOW = new Date(Date.UTC(2026, 0, 15, 10, 0, 0));
const DAY = 24 * 3600 * 1000;
const at = (days: number): Date => new Date(NOW.getTime() + days * DAY);
const HOST = 'sts.fedgate.test';

const RSA = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

let serial = 0x100;
const nextSerial = (): string => (serial++).toString(16).padStart(4, '0');

interface Issued {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  pem: string;
}

async function keyPair(alg: typeof RSA | typeof EC): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey('pkcs8', key));
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

async function ca(name: string, from: Date, to: Date, isCa = true): Promise<Issued> {
  const keys = await keyPair(EC);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name,
    notBefore: from,
    notAfter: to,
    keys,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(isCa, undefined, true),
      new x509.KeyUsagesExtension(
        // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- flags combine by bitwise or
        isCa
          ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
          : x509.KeyUsageFlags.digitalSignature,
        true,
      ),
    ],
  });
  return { cert, keys, pem: cert.toString('pem') };
}

async function leaf(
  issuer: Issued,
  opts: { name: string; dns?: string[]; from: Date; to: Date; alg?: typeof RSA | typeof EC },
): Promise<Issued> {
  const keys = await keyPair(opts.alg ?? EC);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: nextSerial(),
    subject: opts.name,
    issuer: issuer.cert.subject,
    notBefore: opts.from,
    notAfter: opts.to,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      ...(opts.dns === undefined
        ? []
        : [
            new x509.SubjectAlternativeNameExtension(
              opts.dns.map((d) => ({ type: 'dns' as const, value: d })),
            ),
          ]),
    ],
  });
  return { cert, keys, pem: cert.toString('pem') };
}

/** A self-signed RSA token-signing certificate, as an admin or another tool would make it. */
async function signingPair(
  from: Date,
  to: Date,
): Promise<{ certPem: string; keyPem: string; thumbprint: string }> {
  const keys = await keyPair(RSA);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=fedgate Signing - ${HOST}`,
    notBefore: from,
    notAfter: to,
    keys,
    signingAlgorithm: RSA,
  });
  return {
    certPem: cert.toString('pem'),
    keyPem: await pkcs8Pem(keys.privateKey),
    thumbprint: createHash('sha1').update(Buffer.from(cert.rawData)).digest('hex').toUpperCase(),
  };
}

/** A key ring in keys.dir in the manifest format (docs/keys.md): primary and optionally next. */
async function writeRing(
  dir: string,
  primary: { from: Date; to: Date },
  next?: { from: Date; to: Date },
): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const entries: object[] = [];
  for (const [role, v] of [
    ['primary', primary],
    ['next', next],
  ] as const) {
    if (v === undefined) continue;
    const p = await signingPair(v.from, v.to);
    writeFileSync(join(dir, `${role}.crt.pem`), p.certPem);
    writeFileSync(join(dir, `${role}.key.pem`), p.keyPem, { mode: 0o600 });
    chmodSync(join(dir, `${role}.key.pem`), 0o600);
    entries.push({
      role,
      cert: `${role}.crt.pem`,
      key: `${role}.key.pem`,
      thumbprint: p.thumbprint,
      added: v.from.toISOString(),
      source: 'imported',
    });
  }
  writeFileSync(
    join(dir, 'token-signing.json'),
    JSON.stringify({ format: 'fedgate-signing-keys/1', keys: entries }),
  );
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'fedgate-doctor-certs-'));
}

function config(dir: string, input: ConfigInput = {}): Config {
  return resolveConfig(
    { hostname: HOST, keys: { dir: join(dir, 'keys') }, listen: { tls: 'off' }, ...input },
    { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
  );
}

/** Every file below keys.dir with its size, mode and time: what "nothing written" is checked against. */
function listing(dir: string): string[] {
  if (!existsSync(dir)) return ['(absent)'];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .sort()
    .map((f) => {
      const st = statSync(join(dir, f));
      return `${f}:${st.size}:${st.mode}:${st.mtimeMs}`;
    });
}

async function run(
  cfg: Config,
  opts: { warnDays?: number } = {},
): Promise<{ checks: PlumbingCheck[]; by: (name: string) => PlumbingCheck[] }> {
  const before = listing(cfg.keys.dir);
  const checks = await checkCertificates(cfg, { clock: new FixedClock(NOW), ...opts });
  assert.deepEqual(listing(cfg.keys.dir), before, 'the doctor changed keys.dir');
  for (const c of checks) assert.equal(c.area, 'certificates');
  return { checks, by: (name) => checks.filter((c) => c.check === name) };
}

const statusOf = (checks: PlumbingCheck[]): string[] => checks.map((c) => c.status);

test('a fresh install (no ring yet): info, and nothing is generated', async () => {
  const dir = tempDir();
  const cfg = config(dir);
  const { checks } = await run(cfg);
  assert.deepEqual(
    checks.map((c) => [c.check, c.status]),
    [
      ['signing-certificate', 'info'],
      ['tls-certificate', 'info'],
    ],
  );
  assert.match(checks[0]?.message ?? '', /generated on first start/);
  assert.equal(existsSync(cfg.keys.dir), false);
  // An existing but empty keys.dir stays empty too.
  mkdirSync(cfg.keys.dir, { mode: 0o700 });
  const again = await run(cfg);
  assert.deepEqual(statusOf(again.by('signing-certificate')), ['info']);
  assert.deepEqual(readdirSync(cfg.keys.dir), []);
});

test('an expired primary → error', async () => {
  const dir = tempDir();
  const cfg = config(dir);
  await writeRing(cfg.keys.dir, { from: at(-400), to: at(-1) });
  const { by } = await run(cfg);
  assert.deepEqual(statusOf(by('signing-certificate')), ['error']);
  assert.match(by('signing-certificate')[0]?.message ?? '', /expired on 2026-01-14/);
});

test('inside the 35-day window: warning without a next certificate, ok with one', async () => {
  const dir = tempDir();
  const cfg = config(dir);
  // 34 days and a bit: inside Entra's window.
  await writeRing(cfg.keys.dir, { from: at(-300), to: at(34.5) });
  const without = await run(cfg);
  assert.deepEqual(statusOf(without.by('signing-certificate')), ['warning']);
  assert.match(
    without.by('signing-certificate')[0]?.message ?? '',
    /expires in 34 days.*no next certificate/,
  );
  // Automatic rollover on (keys.dir writable): the next one comes at the generation threshold.
  assert.deepEqual(statusOf(without.by('next-signing-certificate')), ['info']);
  assert.match(without.by('next-signing-certificate')[0]?.message ?? '', /automatic rollover on/);

  const dir2 = tempDir();
  const cfg2 = config(dir2);
  await writeRing(cfg2.keys.dir, { from: at(-300), to: at(34.5) }, { from: at(-2), to: at(363) });
  const withNext = await run(cfg2);
  assert.deepEqual(statusOf(withNext.by('signing-certificate')), ['ok']);
  assert.deepEqual(statusOf(withNext.by('next-signing-certificate')), ['ok']);
  assert.match(
    withNext.by('next-signing-certificate')[0]?.message ?? '',
    /is published, valid 2026-01-13 to 2027-01-13/,
  );

  // Just outside the window (36 days) with no next: ok.
  const dir3 = tempDir();
  const cfg3 = config(dir3);
  await writeRing(cfg3.keys.dir, { from: at(-300), to: at(36) });
  assert.deepEqual(statusOf((await run(cfg3)).by('signing-certificate')), ['ok']);
});

test('inside the window with automatic rollover off and no next → both warn', async () => {
  const dir = tempDir();
  const cfg = config(dir, { keys: { dir: join(dir, 'keys'), rollover: { auto: false } } });
  await writeRing(cfg.keys.dir, { from: at(-300), to: at(10) });
  const { by } = await run(cfg);
  assert.deepEqual(statusOf(by('signing-certificate')), ['warning']);
  assert.deepEqual(statusOf(by('next-signing-certificate')), ['warning']);
  assert.match(by('next-signing-certificate')[0]?.message ?? '', /automatic rollover off/);
});

test('listen.tls: a certificate that does not name hostname → error; near expiry → warning; generate → warning', async () => {
  const dir = tempDir();
  const root = await ca('CN=doctor TLS CA', at(-100), at(3000));
  const write = (name: string, pem: string): string => {
    writeFileSync(join(dir, name), pem);
    return name;
  };
  const tls = async (dns: string[] | undefined, from: Date, to: Date, name = `CN=${HOST}`) => {
    const l = await leaf(root, { name, dns, from, to });
    const cert = write(`tls-${nextSerial()}.pem`, l.pem + root.pem);
    const key = write(`tls-${nextSerial()}.key`, await pkcs8Pem(l.keys.privateKey));
    return config(dir, { listen: { tls: { cert, key } } });
  };
  const one = async (cfg: Config): Promise<PlumbingCheck> => {
    const c = (await run(cfg)).by('tls-certificate');
    assert.equal(c.length, 1);
    return c[0] as PlumbingCheck;
  };

  const good = await one(await tls([HOST], at(-10), at(300)));
  assert.equal(good.status, 'ok', good.message);
  assert.match(good.message, /names sts\.fedgate\.test; valid until/);

  const wildcard = await one(await tls(['*.fedgate.test'], at(-10), at(300)));
  assert.equal(wildcard.status, 'ok', wildcard.message);

  const other = await one(await tls(['other.fedgate.test'], at(-10), at(300)));
  assert.equal(other.status, 'error');
  assert.match(other.message, /does not name sts\.fedgate\.test.*other\.fedgate\.test/);

  // The name only in the subject CN (no SAN): browsers refuse it, so does the doctor.
  const cnOnly = await one(await tls(undefined, at(-10), at(300)));
  assert.equal(cnOnly.status, 'error');

  const soon = await one(await tls([HOST], at(-300), at(10)));
  assert.equal(soon.status, 'warning');
  assert.match(soon.message, /expires in 10 days/);
  // warnDays is the caller's.
  const soonCfg = await tls([HOST], at(-300), at(10));
  assert.equal((await run(soonCfg, { warnDays: 5 })).by('tls-certificate')[0]?.status, 'ok');

  const expired = await one(await tls([HOST], at(-300), at(-1)));
  assert.equal(expired.status, 'error');
  assert.match(expired.message, /expired on/);

  const generated = await one(config(dir, { listen: { tls: 'generate' } }));
  assert.equal(generated.status, 'warning');
  assert.match(generated.message, /self-signed.*load balancer/);

  const missing = await one(
    config(dir, { listen: { tls: { cert: 'nope.pem', key: 'nope.key' } } }),
  );
  assert.equal(missing.status, 'error');
});

test('certificate sign-in: CA files and CRLs (fresh, stale, due within a day, signed by another CA); revocation off', async () => {
  const dir = tempDir();
  const write = (name: string, data: string | Buffer): string => {
    writeFileSync(join(dir, name), data);
    return name;
  };
  const root = await ca('CN=doctor Root CA', at(-1000), at(3000));
  const issuing = await ca('CN=doctor Issuing CA', at(-500), at(1000));
  const soonCa = await ca('CN=doctor Old Issuing CA', at(-500), at(12));
  const expiredCa = await ca('CN=doctor Expired CA', at(-500), at(-3));
  const notCa = await ca('CN=doctor Not A CA', at(-100), at(500), false);
  // Same issuer name as the issuing CA, another key: its CRL must not be believed.
  const lookalike = await ca('CN=doctor Issuing CA', at(-500), at(1000));

  const crl = async (
    signer: Issued,
    issuerOf: Issued,
    thisUpdate: Date,
    nextUpdate: Date | undefined,
    signingAlgorithm: typeof EC | { name: 'ECDSA'; hash: 'SHA-1' } = EC,
  ) =>
    x509.X509CrlGenerator.create({
      issuer: issuerOf.cert.subject,
      thisUpdate,
      ...(nextUpdate === undefined ? {} : { nextUpdate }),
      signingAlgorithm,
      signingKey: signer.keys.privateKey,
      entries: [{ serialNumber: '0badcafe', revocationDate: at(-3) }],
    });
  // RFC 7468 §5's label, as OpenSSL and AD CS write it (@peculiar/x509's toString('pem') says "CRL").
  const pem = (c: x509.X509Crl) => x509.PemConverter.encode(c.rawData, 'X509 CRL');

  const fresh = write('fresh.crl', pem(await crl(issuing, issuing, at(-1), at(6))));
  const freshDer = write(
    'fresh-der.crl',
    Buffer.from((await crl(issuing, issuing, at(-1), at(6))).rawData),
  );
  const stale = write('stale.crl', pem(await crl(issuing, issuing, at(-8), at(-1))));
  const dueSoon = write('due.crl', pem(await crl(issuing, issuing, at(-6), at(0.5))));
  const foreign = write('foreign.crl', pem(await crl(lookalike, issuing, at(-1), at(6))));
  // A PEM label fedgate's CRL reader does not take: doctor says so, as the sign-in path would refuse it.
  const wrongLabel = write(
    'wrong-label.crl',
    (await crl(issuing, issuing, at(-1), at(6))).toString('pem'),
  );
  const garbage = write('garbage.crl', 'not a CRL at all\n');
  // Signed by the issuing CA's key, but with SHA-1, which fedgate's revocation check refuses (signature.ts).
  const sha1 = write(
    'sha1.crl',
    pem(await crl(issuing, issuing, at(-1), at(6), { name: 'ECDSA', hash: 'SHA-1' })),
  );

  const cfg = config(dir, {
    certificateAuth: {
      enabled: true,
      port: 0,
      issuingCAs: [
        write('issuing.pem', issuing.pem + soonCa.pem),
        write('expired.pem', expiredCa.pem),
      ],
      caCertificates: [write('root.pem', root.pem), write('notca.pem', notCa.pem), 'absent.pem'],
      revocation: {
        mode: 'off',
        crlFiles: [fresh, freshDer, stale, dueSoon, foreign, garbage, wrongLabel, sha1],
      },
    },
  });
  const { by } = await run(cfg);

  const cas = by('certificate-auth-ca').map((c) => [c.target.replace(`${dir}/`, ''), c.status]);
  assert.deepEqual(cas, [
    ['issuing.pem: CN=doctor Issuing CA', 'ok'],
    ['issuing.pem: CN=doctor Old Issuing CA', 'warning'],
    ['expired.pem: CN=doctor Expired CA', 'error'],
    ['root.pem: CN=doctor Root CA', 'ok'],
    ['notca.pem: CN=doctor Not A CA', 'error'],
    ['absent.pem', 'error'],
  ]);
  assert.match(by('certificate-auth-ca')[4]?.message ?? '', /is not a CA certificate/);

  const crls = by('crl').map((c) => [c.target.replace(`${dir}/`, ''), c.status]);
  assert.deepEqual(crls, [
    ['fresh.crl', 'ok'],
    ['fresh-der.crl', 'ok'],
    ['stale.crl', 'error'],
    ['due.crl', 'warning'],
    ['foreign.crl', 'ok'],
    ['garbage.crl', 'error'],
    ['wrong-label.crl', 'error'],
    ['sha1.crl', 'ok'],
  ]);
  assert.match(by('crl')[2]?.message ?? '', /is stale/);
  assert.match(by('crl')[6]?.message ?? '', /no X509 CRL block in PEM/);
  const sigs = by('crl-signature').map((c) => [c.target.replace(`${dir}/`, ''), c.status]);
  assert.deepEqual(sigs, [
    ['fresh.crl', 'ok'],
    ['fresh-der.crl', 'ok'],
    ['stale.crl', 'ok'],
    ['due.crl', 'ok'],
    ['foreign.crl', 'error'],
    ['sha1.crl', 'error'],
  ]);
  assert.match(by('crl-signature')[4]?.message ?? '', /not signed by any configured CA/);
  assert.deepEqual(statusOf(by('revocation-mode')), ['warning']);

  // Off: no certificate-auth checks at all; require → ok.
  const off = await run(config(dir));
  assert.deepEqual(off.by('certificate-auth-ca'), []);
  const required = await run(
    config(dir, {
      certificateAuth: {
        enabled: true,
        port: 0,
        issuingCAs: ['issuing.pem'],
        caCertificates: ['root.pem'],
        revocation: { mode: 'require', crlFiles: [fresh] },
      },
    }),
  );
  assert.deepEqual(
    required.checks
      .map((c) => [c.check, c.status])
      .filter(([c]) => c !== 'signing-certificate' && c !== 'tls-certificate'),
    [
      ['certificate-auth-ca', 'ok'],
      ['certificate-auth-ca', 'warning'],
      ['certificate-auth-ca', 'ok'],
      ['crl', 'ok'],
      ['crl-signature', 'ok'],
      ['revocation-mode', 'ok'],
    ],
  );
});

test('certificate sign-in by SNI: its certificate must name the SNI host; none configured → warning', async () => {
  const dir = tempDir();
  const write = (name: string, data: string): string => {
    writeFileSync(join(dir, name), data);
    return name;
  };
  const root = await ca('CN=doctor SNI CA', at(-100), at(3000));
  const issuing = write('issuing.pem', (await ca('CN=doctor Issuing CA', at(-100), at(1000))).pem);
  const sni = `certauth.${HOST}`;
  const serverCert = async (dns: string[]): Promise<{ cert: string; key: string }> => {
    const l = await leaf(root, { name: `CN=${dns[0] ?? HOST}`, dns, from: at(-10), to: at(300) });
    return {
      cert: write(`sni-${nextSerial()}.pem`, l.pem),
      key: write(`sni-${nextSerial()}.key`, await pkcs8Pem(l.keys.privateKey)),
    };
  };
  const main = await serverCert([HOST]);
  const cfg = (tls: { cert: string; key: string } | undefined): Config =>
    config(dir, {
      listen: { tls: main },
      certificateAuth: {
        enabled: true,
        port: 'off',
        sniHostname: sni,
        issuingCAs: [issuing],
        ...(tls === undefined ? {} : { tls }),
      },
    });
  const one = async (c: Config): Promise<PlumbingCheck> => {
    const found = (await run(c)).by('certificate-auth-tls');
    assert.equal(found.length, 1);
    return found[0] as PlumbingCheck;
  };
  const good = await one(cfg(await serverCert([sni])));
  assert.equal(good.status, 'ok', good.message);
  const wrong = await one(cfg(await serverCert([HOST])));
  assert.equal(wrong.status, 'error');
  assert.match(wrong.message, /does not name certauth\.sts\.fedgate\.test/);
  const none = await one(cfg(undefined));
  assert.equal(none.status, 'warning');
  assert.match(none.message, /self-signed/);
});
