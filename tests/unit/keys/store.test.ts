/**
 * Key store: generation on first start (modes, CN, validity, algorithms), reload, host-name change,
 * refusal of readable keys (security-corpus C7.1), configured files and their failure modes.
 */
import assert from 'node:assert/strict';
import {
  X509Certificate,
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
} from 'node:crypto';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  createSelfSignedCertificate,
  oneYearValidity,
  privateKeyToPem,
} from '../../../server/keys/generate.ts';
import {
  KeyMaterialError,
  SIGNING_CERT_FILE,
  SIGNING_KEY_FILE,
  TLS_CERT_FILE,
  TLS_KEY_FILE,
  loadOrCreateSigningCredential,
  loadOrCreateTlsCredential,
} from '../../../server/keys/store.ts';
import { FixedClock } from '../../../server/lib/clock.ts';

const root = mkdtempSync(join(tmpdir(), 'fedgate-keys-test-'));
after(() => {
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
const freshDir = (): string => join(root, `k${String(n++)}`, 'keys');
const clock = new FixedClock('2026-01-15T10:00:00.123Z');
const mode = (p: string): number => statSync(p).mode & 0o777;

function writeKeyPair(
  dir: string,
  keyPem: string,
  certPem: string,
  keyMode = 0o600,
): { keyFile: string; certFile: string } {
  const keyFile = join(dir, `${randomBytes(4).toString('hex')}.key.pem`);
  const certFile = join(dir, `${randomBytes(4).toString('hex')}.crt.pem`);
  writeFileSync(keyFile, keyPem, { mode: keyMode });
  chmodSync(keyFile, keyMode);
  writeFileSync(certFile, certPem);
  return { keyFile, certFile };
}

async function selfSigned(
  bits = 2048,
  cn = 'configured.test',
): Promise<{ keyPem: string; certPem: string }> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const certPem = await createSelfSignedCertificate({
    privateKey,
    commonName: cn,
    ...oneYearValidity(clock.now()),
    purpose: 'signing',
    serial: randomBytes(16),
  });
  return { keyPem: privateKeyToPem(privateKey), certPem };
}

describe('token-signing credential', () => {
  it('generates RSA-2048, a 1-year self-signed SHA-256 certificate named for the host, key 0600 in a 0700 dir', async () => {
    const dir = freshDir();
    const c = await loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock });
    assert.equal(c.generated, true);
    assert.equal(c.warning, undefined);
    assert.equal(mode(dir), 0o700);
    assert.equal(mode(join(dir, SIGNING_KEY_FILE)), 0o600);
    assert.deepEqual(
      readdirSync(dir).sort(),
      [SIGNING_CERT_FILE, SIGNING_KEY_FILE],
      'no temp files left behind',
    );

    assert.equal(c.privateKey.asymmetricKeyType, 'rsa');
    assert.equal(c.privateKey.asymmetricKeyDetails?.modulusLength, 2048);
    const x = new X509Certificate(c.certificatePem);
    assert.equal(x.subject, 'CN=fedgate Signing - sts.contoso.test');
    assert.equal(x.issuer, x.subject);
    assert.ok(x.verify(x.publicKey), 'self-signed');
    assert.ok(x.checkPrivateKey(c.privateKey));
    assert.equal(c.notBefore.toISOString(), '2026-01-15T10:00:00.000Z');
    assert.equal(c.notAfter.toISOString(), '2027-01-15T10:00:00.000Z');
    assert.equal(c.subject, x.subject);
    // Facts computed from the DER.
    assert.equal(c.certificateBase64, x.raw.toString('base64'));
    assert.match(c.thumbprintSha1, /^[0-9A-F]{40}$/);
    assert.equal(c.thumbprintSha1, x.fingerprint.replace(/:/g, ''));
    assert.equal(c.thumbprintSha1, createHash('sha1').update(x.raw).digest('hex').toUpperCase());
    // Signature algorithm sha256WithRSAEncryption (OID 1.2.840.113549.1.1.11) in the DER.
    assert.ok(x.raw.includes(Buffer.from('06092a864886f70d01010b', 'hex')));
    assert.ok(/^[0-9A-F]{32}$/.test(x.serialNumber), '128-bit serial');
    assert.equal(readFileSync(join(dir, SIGNING_CERT_FILE), 'utf8'), c.certificatePem);
  });

  it('reloads the same key on the next start, random serials differ between generations', async () => {
    const dir = freshDir();
    const first = await loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock });
    const again = await loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock });
    assert.equal(again.generated, false);
    assert.equal(again.thumbprintSha1, first.thumbprintSha1);
    assert.equal(privateKeyToPem(again.privateKey), privateKeyToPem(first.privateKey));
    const other = await loadOrCreateSigningCredential({
      dir: freshDir(),
      hostname: 'sts.contoso.test',
      clock,
    });
    assert.notEqual(
      new X509Certificate(other.certificatePem).serialNumber,
      new X509Certificate(first.certificatePem).serialNumber,
    );
  });

  it('keeps using a key whose certificate names another host, with a warning', async () => {
    const dir = freshDir();
    const first = await loadOrCreateSigningCredential({ dir, hostname: 'old.contoso.test', clock });
    const renamed = await loadOrCreateSigningCredential({
      dir,
      hostname: 'new.contoso.test',
      clock,
    });
    assert.equal(renamed.thumbprintSha1, first.thumbprintSha1);
    assert.equal(renamed.generated, false);
    assert.match(renamed.warning ?? '', /old\.contoso\.test/);
    assert.match(renamed.warning ?? '', /new\.contoso\.test/);
  });

  it('warns when the certificate is about to expire or has expired', async () => {
    const dir = freshDir();
    await loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock });
    const later = new FixedClock('2026-12-31T00:00:00Z');
    assert.match(
      (await loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock: later }))
        .warning ?? '',
      /expires on 2027-01-15/,
    );
    later.set('2027-02-01T00:00:00Z');
    assert.match(
      (await loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock: later }))
        .warning ?? '',
      /expired on 2027-01-15/,
    );
  });

  it('refuses a key file readable by group or others and tells the admin to chmod 600 (C7.1)', async () => {
    for (const bad of [0o640, 0o604, 0o644, 0o660, 0o700 | 0o010]) {
      const dir = freshDir();
      await loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock });
      const keyFile = join(dir, SIGNING_KEY_FILE);
      chmodSync(keyFile, bad);
      await assert.rejects(
        loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock }),
        (err: unknown) => {
          assert.ok(err instanceof KeyMaterialError);
          assert.equal(err.file, keyFile);
          assert.ok(err.message.includes(`chmod 600 ${keyFile}`), err.message);
          return true;
        },
      );
    }
    // 0400 (read-only owner) is fine.
    const dir = freshDir();
    await loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock });
    chmodSync(join(dir, SIGNING_KEY_FILE), 0o400);
    await loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock });
  });

  it('recovers from a start that stopped between writing the key and the certificate', async () => {
    const dir = freshDir();
    const first = await loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock });
    unlinkSync(join(dir, SIGNING_CERT_FILE));
    const again = await loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock });
    assert.equal(again.generated, true);
    assert.equal(
      privateKeyToPem(again.privateKey),
      privateKeyToPem(first.privateKey),
      'the key is kept',
    );
  });

  it('refuses a certificate without its key instead of silently replacing the pair', async () => {
    const dir = freshDir();
    await loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock });
    unlinkSync(join(dir, SIGNING_KEY_FILE));
    await assert.rejects(
      loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock }),
      /private key .* is missing/,
    );
  });

  it('converges on one key pair when two nodes start on the same empty directory at once', async () => {
    const dir = freshDir();
    const [a, b, c] = await Promise.all([
      loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock }),
      loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock }),
      loadOrCreateSigningCredential({ dir, hostname: 'sts.contoso.test', clock }),
    ]);
    assert.equal(a.thumbprintSha1, b.thumbprintSha1);
    assert.equal(b.thumbprintSha1, c.thumbprintSha1);
    assert.equal(privateKeyToPem(a.privateKey), privateKeyToPem(c.privateKey));
    assert.deepEqual(readdirSync(dir).sort(), [SIGNING_CERT_FILE, SIGNING_KEY_FILE]);
  });

  it('refuses a host name that cannot go into a certificate', async () => {
    await assert.rejects(
      loadOrCreateSigningCredential({ dir: freshDir(), hostname: 'bad host,CN=evil', clock }),
      /not a valid host name/,
    );
  });
});

describe('configured token-signing files', () => {
  const dir = join(root, 'configured');
  it('loads an admin-supplied PEM pair without generating anything', async () => {
    const { keyPem, certPem } = await selfSigned();
    const files = writeKeyPair(freshDirCreated(dir), keyPem, certPem);
    const c = await loadOrCreateSigningCredential({
      dir: join(root, 'unused'),
      hostname: 'sts.contoso.test',
      clock,
      configured: files,
    });
    assert.equal(c.generated, false);
    assert.equal(c.subject, 'CN=configured.test');
    assert.equal(c.keyFile, files.keyFile);
    assert.equal(c.warning, undefined, 'no host-name warning for an admin-supplied certificate');
    assert.throws(() => statSync(join(root, 'unused')), /ENOENT/);
  });

  it('refuses a key that does not match the certificate', async () => {
    const a = await selfSigned();
    const b = await selfSigned();
    const files = writeKeyPair(freshDirCreated(dir), a.keyPem, b.certPem);
    await assert.rejects(
      loadOrCreateSigningCredential({ dir, hostname: 'h', clock, configured: files }),
      (err: unknown) =>
        err instanceof KeyMaterialError &&
        err.file === files.keyFile &&
        /does not match/.test(err.message),
    );
  });

  it('refuses RSA keys under 2048 bits and non-RSA keys', async () => {
    const small = await selfSigned(1024);
    const f1 = writeKeyPair(freshDirCreated(dir), small.keyPem, small.certPem);
    await assert.rejects(
      loadOrCreateSigningCredential({ dir, hostname: 'h', clock, configured: f1 }),
      /RSA-1024/,
    );

    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rsa = await selfSigned();
    const f2 = writeKeyPair(
      freshDirCreated(dir),
      ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      rsa.certPem,
    );
    await assert.rejects(
      loadOrCreateSigningCredential({ dir, hostname: 'h', clock, configured: f2 }),
      /needs an RSA key/,
    );
  });

  it('names the file in every error: missing, not PEM, readable key, PKCS#1 accepted', async () => {
    const { keyPem, certPem } = await selfSigned();
    const d = freshDirCreated(dir);
    const missing = { keyFile: join(d, 'nope.key.pem'), certFile: join(d, 'nope.crt.pem') };
    await assert.rejects(
      loadOrCreateSigningCredential({ dir, hostname: 'h', clock, configured: missing }),
      /nope\.key\.pem does not exist/,
    );

    const garbage = writeKeyPair(d, 'not a key', certPem);
    await assert.rejects(
      loadOrCreateSigningCredential({ dir, hostname: 'h', clock, configured: garbage }),
      (err: unknown) => err instanceof KeyMaterialError && err.file === garbage.keyFile,
    );

    const badCert = writeKeyPair(d, keyPem, 'not a cert');
    await assert.rejects(
      loadOrCreateSigningCredential({ dir, hostname: 'h', clock, configured: badCert }),
      (err: unknown) => err instanceof KeyMaterialError && err.file === badCert.certFile,
    );

    const readable = writeKeyPair(d, keyPem, certPem, 0o644);
    await assert.rejects(
      loadOrCreateSigningCredential({ dir, hostname: 'h', clock, configured: readable }),
      /chmod 600/,
    );

    const pkcs1 = createPrivateKey(keyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
    const legacy = writeKeyPair(d, pkcs1, certPem);
    const c = await loadOrCreateSigningCredential({
      dir,
      hostname: 'h',
      clock,
      configured: legacy,
    });
    assert.equal(c.subject, 'CN=configured.test');
  });
});

describe('TLS credential', () => {
  it('for localhost: CN and SAN DNS localhost, SAN IP 127.0.0.1, serverAuth, key 0600', async () => {
    const dir = freshDir();
    const t = await loadOrCreateTlsCredential({ dir, hostname: 'localhost', clock });
    assert.equal(t.generated, true);
    assert.equal(t.warning, undefined);
    assert.equal(mode(join(dir, TLS_KEY_FILE)), 0o600);
    const x = new X509Certificate(t.certPem);
    assert.equal(x.subject, 'CN=localhost');
    assert.equal(x.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1');
    assert.equal(x.checkHost('localhost'), 'localhost');
    assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
    assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.ok(x.checkPrivateKey(createPrivateKey(t.keyPem)));
    assert.match(t.keyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(readFileSync(join(dir, TLS_CERT_FILE), 'utf8'), t.certPem);
  });

  it('for a DNS name: SAN is that name only; reload keeps the key; another host warns', async () => {
    const dir = freshDir();
    const t = await loadOrCreateTlsCredential({ dir, hostname: 'sts.contoso.test', clock });
    const x = new X509Certificate(t.certPem);
    assert.equal(x.subjectAltName, 'DNS:sts.contoso.test');
    const again = await loadOrCreateTlsCredential({ dir, hostname: 'sts.contoso.test', clock });
    assert.equal(again.generated, false);
    assert.equal(again.keyPem, t.keyPem);
    const renamed = await loadOrCreateTlsCredential({ dir, hostname: 'other.contoso.test', clock });
    assert.match(renamed.warning ?? '', /does not name other\.contoso\.test/);
  });

  it('for an IP address: SAN IP', async () => {
    const t = await loadOrCreateTlsCredential({ dir: freshDir(), hostname: '10.1.2.3', clock });
    assert.equal(new X509Certificate(t.certPem).subjectAltName, 'IP Address:10.1.2.3');
  });

  it('accepts a configured EC key (TLS does not need RSA) but refuses a readable one', async () => {
    const d = freshDirCreated(join(root, 'tls-configured'));
    // An ECDSA certificate made by OpenSSL, as an admin would bring one.
    const files = { keyFile: join(d, 'ec.key.pem'), certFile: join(d, 'ec.crt.pem') };
    const r = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        files.keyFile,
        '-out',
        files.certFile,
        '-subj',
        '/CN=ec.test',
        '-days',
        '30',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    chmodSync(files.keyFile, 0o600);
    const t = await loadOrCreateTlsCredential({
      dir: d,
      hostname: 'ec.test',
      clock,
      configured: files,
    });
    assert.equal(t.generated, false);
    chmodSync(files.keyFile, 0o640);
    await assert.rejects(
      loadOrCreateTlsCredential({ dir: d, hostname: 'ec.test', clock, configured: files }),
      /chmod 600/,
    );
  });
});

function freshDirCreated(base: string): string {
  const d = join(base, `d${String(n++)}`);
  mkdirSync(d, { recursive: true });
  return d;
}
