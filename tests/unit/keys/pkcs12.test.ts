/**
 * PKCS#12 import (issue 18, "Custody"): PFX files made at test time by the openssl CLI, an independent writer,
 * in the shapes AD FS admins bring (`openssl pkcs12 -export -legacy`, OpenSSL 3's AES default, what Windows'
 * Export-PfxCertificate writes for AES256_SHA256 and TripleDES_SHA1), and each refusal with its reason.
 * Whatever readPkcs12 returns is checked with node:crypto against openssl's own key and certificate files.
 * The openssl binary is required: without it these tests fail, they do not skip.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  X509Certificate,
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  sign,
  verify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import forge from 'node-forge';
import {
  MAX_MAC_ITERATIONS,
  MAX_PKCS12_BYTES,
  PasswordSourceError,
  Pkcs12Error,
  Pkcs8Error,
  decryptPrivateKeyPkcs8,
  encryptPrivateKeyPkcs8,
  readPasswordFrom,
  readPkcs12,
} from '../../../server/keys/pkcs12.ts';
import type { Pkcs12Contents } from '../../../server/keys/pkcs12.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedgate-pkcs12-test-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
const at = (name: string): string => join(dir, name);
const PASSWORD = 'Pa55-word.for-PFX';
const UNICODE_PASSWORD = 'Geheimnis-äöü-ß-€';

/** Runs the openssl CLI and fails the test with its stderr if it fails (or is missing). */
function openssl(...args: string[]): string {
  return run(args).stdout;
}
function run(args: string[]): { stdout: string; stderr: string } {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw new Error(`openssl could not run (is it installed?): ${r.error.message}`);
  assert.equal(r.status, 0, `openssl ${args.join(' ')} failed:\n${r.stderr}`);
  return r;
}

/** `openssl pkcs12 -export` of `pfx` with `args`; returns the file's bytes and what openssl says it holds. */
function exportPfx(pfx: string, password: string, ...args: string[]): { der: Buffer; info: string } {
  openssl('pkcs12', '-export', '-out', pfx, '-passout', `pass:${password}`, ...args);
  // Reading RC2-40 needs OpenSSL 3's legacy provider too.
  const legacy = args.includes('-legacy') ? ['-legacy'] : [];
  // -info writes its description of the bags to stderr.
  const info = run(['pkcs12', '-info', '-noout', ...legacy, '-in', pfx, '-passin', `pass:${password}`]).stderr;
  return { der: readFileSync(at(pfx)), info };
}

/** Independent of readPkcs12: a signature made with the returned key verifies with openssl's certificate file. */
function assertSignsFor(key: KeyObject, certFile: string): void {
  const data = Buffer.from('<ds:SignedInfo>token-signing check</ds:SignedInfo>');
  const signature = sign('sha256', data, key);
  const cert = new X509Certificate(readFileSync(at(certFile)));
  assert.ok(verify('sha256', data, cert.publicKey, signature), 'signature verifies with the certificate');
  // And it is openssl's key itself.
  const theirs = createPrivateKey(readFileSync(at(certFile.replace(/\.crt$/, '.key'))));
  assert.ok(
    key.export({ type: 'pkcs8', format: 'der' }).equals(theirs.export({ type: 'pkcs8', format: 'der' })),
  );
}

function sameCertificate(pem: string, certFile: string): void {
  const expected = new X509Certificate(readFileSync(at(certFile)));
  const got = new X509Certificate(pem);
  assert.ok(got.raw.equals(expected.raw), `certificate is ${certFile}, byte for byte`);
}

function refusal(fn: () => unknown, reason: Pkcs12Error['reason'], message?: RegExp): Pkcs12Error {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof Pkcs12Error, `expected Pkcs12Error(${reason}), got ${String(caught)}`);
  assert.equal(caught.reason, reason, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

before(() => {
  // Keys and certificates by openssl too: the token-signing pair, a CA and a leaf it issued, a 1024-bit RSA
  // pair, a P-256 pair, and someone else's certificate.
  const selfSigned = (name: string, subject: string, ...keyArgs: string[]): void => {
    openssl(
      'req', '-x509', '-nodes', '-newkey', ...keyArgs, '-keyout', `${name}.key`, '-out', `${name}.crt`,
      '-subj', subject, '-days', '365', '-sha256',
    );
  };
  selfSigned('signing', '/CN=ADFS Signing - fs.contoso.test', 'rsa:2048');
  selfSigned('other', '/CN=Someone Else', 'rsa:2048');
  selfSigned('weak', '/CN=ADFS Signing - weak', 'rsa:1024');
  selfSigned('ec', '/CN=ADFS Signing - ec', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256');
  selfSigned('ca', '/CN=Contoso Issuing CA', 'rsa:2048');
  openssl('req', '-new', '-nodes', '-newkey', 'rsa:2048', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=ADFS Signing - chained');
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.crt', '-days', '365', '-sha256');
});

describe('readPkcs12 reads what AD FS admins bring', () => {
  const reads = (
    name: string,
    password: string,
    args: string[],
    info: RegExp[],
    certFile = 'signing.crt',
  ): Pkcs12Contents => {
    const pfx = exportPfx(name, password, ...args);
    for (const re of info) assert.match(pfx.info, re, `the fixture is what it claims:\n${pfx.info}`);
    const contents = readPkcs12(pfx.der, password);
    assertSignsFor(contents.privateKey, certFile);
    sameCertificate(contents.certificatePem, certFile);
    assert.equal(contents.privateKey.asymmetricKeyType, 'rsa');
    return contents;
  };

  it('openssl pkcs12 -export -legacy: 3DES key bag, RC2-40 certificate bag, SHA-1 MAC, friendlyName', () => {
    const c = reads(
      'legacy.pfx',
      PASSWORD,
      ['-legacy', '-in', 'signing.crt', '-inkey', 'signing.key', '-name', 'ADFS Signing 2026'],
      [/MAC: sha1/, /pbeWithSHA1And40BitRC2-CBC/, /pbeWithSHA1And3-KeyTripleDES-CBC/],
    );
    assert.equal(c.friendlyName, 'ADFS Signing 2026');
    assert.deepEqual(c.chainPem, []);
  });

  it("OpenSSL 3's default: PBES2/PBKDF2/AES-256-CBC bags, HMAC-SHA256 MAC", () => {
    const c = reads(
      'aes.pfx',
      PASSWORD,
      ['-in', 'signing.crt', '-inkey', 'signing.key'],
      [/MAC: sha256/, /PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/],
    );
    assert.equal(c.friendlyName, undefined);
  });

  it('like Export-PfxCertificate -CryptoAlgorithmOption AES256_SHA256 (2000 iterations, friendlyName)', () => {
    const c = reads(
      'windows-aes256-sha256.pfx',
      PASSWORD,
      [
        '-in', 'signing.crt', '-inkey', 'signing.key', '-name', 'ADFS Signing - fs.contoso.test',
        '-keypbe', 'AES-256-CBC', '-certpbe', 'AES-256-CBC', '-macalg', 'SHA256', '-iter', '2000',
      ],
      [/MAC: sha256, Iteration 2000/, /PBES2, PBKDF2, AES-256-CBC, Iteration 2000, PRF hmacWithSHA256/],
    );
    assert.equal(c.friendlyName, 'ADFS Signing - fs.contoso.test');
  });

  it('like Export-PfxCertificate -CryptoAlgorithmOption TripleDES_SHA1', () => {
    reads(
      'windows-3des-sha1.pfx',
      PASSWORD,
      [
        '-in', 'signing.crt', '-inkey', 'signing.key',
        '-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'SHA1', '-iter', '2000',
      ],
      [/MAC: sha1, Iteration 2000/, /Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC/],
    );
  });

  it('a certificate bag that is not encrypted', () => {
    reads(
      'plain-cert-bag.pfx',
      PASSWORD,
      ['-in', 'signing.crt', '-inkey', 'signing.key', '-certpbe', 'NONE'],
      [/^Certificate bag/m],
    );
  });

  it('a chain: the leaf is the certificate of the key, the CA comes back in chainPem', () => {
    const c = reads(
      'chain.pfx',
      PASSWORD,
      ['-in', 'leaf.crt', '-inkey', 'leaf.key', '-certfile', 'ca.crt'],
      [/Certificate bag[\s\S]*Certificate bag/],
      'leaf.crt',
    );
    assert.equal(c.chainPem.length, 1);
    sameCertificate(c.chainPem[0] ?? '', 'ca.crt');
  });

  it('two certificates of one key (a renewal that kept it): the one exported with the key, the other in the chain', () => {
    openssl('req', '-x509', '-new', '-key', 'signing.key', '-subj', '/CN=ADFS Signing - renewed', '-days', '30', '-out', 'renewed.crt');
    const c = reads(
      'renewed-in-chain.pfx',
      PASSWORD,
      ['-in', 'signing.crt', '-inkey', 'signing.key', '-certfile', 'renewed.crt'],
      [/Certificate bag[\s\S]*Certificate bag/],
    );
    assert.equal(c.chainPem.length, 1);
    sameCertificate(c.chainPem[0] ?? '', 'renewed.crt');
    const d = readPkcs12(
      exportPfx('renewed-first.pfx', PASSWORD, '-in', 'renewed.crt', '-inkey', 'signing.key', '-certfile', 'signing.crt').der,
      PASSWORD,
    );
    sameCertificate(d.certificatePem, 'renewed.crt');
    sameCertificate(d.chainPem[0] ?? '', 'signing.crt');
  });

  it('a non-ASCII password, with AES (PBES2 takes UTF-8) and legacy bags (PKCS#12 KDF takes BMPString)', () => {
    reads('unicode-aes.pfx', UNICODE_PASSWORD, ['-in', 'signing.crt', '-inkey', 'signing.key'], [/PBES2/]);
    reads(
      'unicode-legacy.pfx',
      UNICODE_PASSWORD,
      ['-legacy', '-in', 'signing.crt', '-inkey', 'signing.key'],
      [/pbeWithSHA1And3-KeyTripleDES-CBC/],
    );
    refusal(() => readPkcs12(readFileSync(at('unicode-aes.pfx')), 'Geheimnis-aou-ss-E'), 'bad-password');
  });
});

describe('a PFX written by Windows (tests/fixtures/keys/README.md)', () => {
  const windowsPfx = readFileSync(
    new URL('../../fixtures/keys/windows-3des-sha1.rsa1024.dotnet-runtime.pfx', import.meta.url),
  );

  it('is read through its MAC, 3DES bags and CSP attributes, and then refused for its 1024-bit key', () => {
    // weak-key is decided on the decrypted key: the MAC verified and both bags decrypted to get there.
    refusal(() => readPkcs12(windowsPfx, '12345'), 'weak-key', /1024 bits/);
    refusal(() => readPkcs12(windowsPfx, '1234'), 'bad-password');
  });
});

describe('readPkcs12 refuses, each with its reason and what to do', () => {
  it('a wrong password (legacy and AES): the MAC does not verify', () => {
    const legacy = exportPfx('wrong-legacy.pfx', PASSWORD, '-legacy', '-in', 'signing.crt', '-inkey', 'signing.key');
    const aes = exportPfx('wrong-aes.pfx', PASSWORD, '-in', 'signing.crt', '-inkey', 'signing.key');
    for (const { der } of [legacy, aes]) {
      refusal(() => readPkcs12(der, `${PASSWORD}x`), 'bad-password', /password is wrong/);
      refusal(() => readPkcs12(der, ''), 'bad-password');
    }
  });

  it('a wrong password on a PFX whose bags are not encrypted: only the MAC can notice it', () => {
    const { der, info } = exportPfx(
      'unencrypted-bags.pfx',
      PASSWORD,
      ...['-in', 'signing.crt', '-inkey', 'signing.key', '-keypbe', 'NONE', '-certpbe', 'NONE'],
    );
    assert.doesNotMatch(info, /Shrouded|Encrypted data/, info);
    assertSignsFor(readPkcs12(der, PASSWORD).privateKey, 'signing.crt');
    refusal(() => readPkcs12(der, 'not the password'), 'bad-password', /password is wrong/);
    // Nor may the UTF-8 second reading of bags (for PBES2) ever run without the MAC having verified.
    refusal(() => readPkcs12(der, 'nicht das Passwort, ä'), 'bad-password', /password is wrong/);
  });

  it('a PFX without a private key', () => {
    const { der } = exportPfx('no-key.pfx', PASSWORD, '-in', 'signing.crt', '-nokeys');
    refusal(() => readPkcs12(der, PASSWORD), 'no-key', /no private key.*Export it again with its private key/s);
  });

  it('a PFX with a key and no certificate', () => {
    const { der } = exportPfx('no-cert.pfx', PASSWORD, '-nocerts', '-inkey', 'signing.key');
    refusal(() => readPkcs12(der, PASSWORD), 'no-certificate', /no certificate/);
  });

  it("a key with someone else's certificate", () => {
    // openssl -in/-inkey refuses a pair that does not match; -certfile adds the certificate unchecked.
    const { der, info } = exportPfx('mismatch.pfx', PASSWORD, '-nocerts', '-inkey', 'signing.key', '-certfile', 'other.crt');
    assert.match(info, /Certificate bag[\s\S]*Shrouded Keybag/);
    refusal(() => readPkcs12(der, PASSWORD), 'mismatch', /CN=Someone Else.*own key/s);
  });

  it('not a PFX: random bytes, a PEM file, an empty file, a truncated PFX, more than 1 MiB', () => {
    const noise = Buffer.concat(
      Array.from({ length: 64 }, (_, i) => createHash('sha256').update(`noise ${String(i)}`).digest()),
    );
    refusal(() => readPkcs12(noise, PASSWORD), 'not-pkcs12', /not a PKCS#12/);
    refusal(() => readPkcs12(readFileSync(at('signing.crt')), PASSWORD), 'not-pkcs12', /PEM text/);
    refusal(() => readPkcs12(Buffer.alloc(0), PASSWORD), 'not-pkcs12');
    const { der } = exportPfx('truncated.pfx', PASSWORD, '-in', 'signing.crt', '-inkey', 'signing.key');
    refusal(() => readPkcs12(der.subarray(0, der.length >> 1), PASSWORD), 'not-pkcs12');
    const big = Buffer.concat([der, Buffer.alloc(MAX_PKCS12_BYTES + 1 - der.length)]);
    refusal(() => readPkcs12(big, PASSWORD), 'not-pkcs12', /few KB/);
  });

  it('an RSA key under 2048 bits', () => {
    const { der } = exportPfx('weak.pfx', PASSWORD, '-in', 'weak.crt', '-inkey', 'weak.key');
    refusal(() => readPkcs12(der, PASSWORD), 'weak-key', /1024 bits.*at least 2048/s);
  });

  it('a key that is not RSA (token signing is rsa-sha256)', () => {
    const { der } = exportPfx('ec.pfx', PASSWORD, '-in', 'ec.crt', '-inkey', 'ec.key');
    refusal(() => readPkcs12(der, PASSWORD), 'unsupported', /is ec, not RSA/);
  });

  it('a PFX without a MAC: a wrong password could not be told from a damaged file', () => {
    const { der } = exportPfx('no-mac.pfx', PASSWORD, '-nomac', '-in', 'signing.crt', '-inkey', 'signing.key');
    refusal(() => readPkcs12(der, PASSWORD), 'unsupported', /no integrity MAC/);
  });

  it('a MAC iteration count above the bound is refused before forge derives the key', () => {
    const { der, info } = exportPfx('many-iterations.pfx', PASSWORD, '-in', 'signing.crt', '-inkey', 'signing.key', '-iter', String(MAX_MAC_ITERATIONS + 1));
    assert.match(info, new RegExp(`MAC: sha256, Iteration ${String(MAX_MAC_ITERATIONS + 1)}`));
    refusal(() => readPkcs12(der, PASSWORD), 'unsupported', /iterations/);
  });

  it('so is one whose INTEGER reads negative when signed (0x80000000): forge reads it as 2^31', () => {
    const { der } = exportPfx('iterations-signed.pfx', PASSWORD, '-in', 'signing.crt', '-inkey', 'signing.key');
    // Re-encoded with forge's own ASN.1 codec: only the MacData iterations (RFC 7292 §4) change.
    const pfx = forge.asn1.fromDer(der.toString('binary'));
    const macData = (pfx.value as forge.asn1.Asn1[])[2];
    const iterations = (macData?.value as forge.asn1.Asn1[] | undefined)?.[2];
    assert.ok(iterations, 'openssl wrote a MAC iteration count');
    assert.equal(forge.util.bytesToHex(iterations.value as string), '0800');
    iterations.value = '\x80\x00\x00\x00';
    const bent = Buffer.from(forge.asn1.toDer(pfx).getBytes(), 'binary');
    refusal(() => readPkcs12(bent, PASSWORD), 'unsupported', /2147483648 iterations/);
  });

  it('bent or random bytes never throw anything but Pkcs12Error (seeded)', () => {
    const { der } = exportPfx('fuzz-seed.pfx', PASSWORD, '-legacy', '-in', 'signing.crt', '-inkey', 'signing.key');
    const bent = fc
      .array(fc.tuple(fc.nat({ max: der.length - 1 }), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      })
      .map((edits) => {
        const copy = Buffer.from(der);
        for (const [i, b] of edits) copy[i] = b;
        return copy;
      });
    const prefix = fc.nat({ max: der.length }).map((n) => der.subarray(0, n));
    const random = fc.uint8Array({ maxLength: 4096 }).map((u) => Buffer.from(u));
    fc.assert(
      fc.property(fc.oneof(bent, prefix, random), (input) => {
        try {
          readPkcs12(input, PASSWORD);
        } catch (err) {
          assert.ok(err instanceof Pkcs12Error, `unexpected ${String(err)}`);
        }
      }),
      { numRuns: 300, seed: 18 },
    );
  });
});

describe('readPasswordFrom', () => {
  const pwDir = (): string => {
    const d = at('passwords');
    mkdirSync(d, { recursive: true, mode: 0o700 });
    return d;
  };
  const file = (name: string, text: string, mode = 0o600): string => {
    const p = join(pwDir(), name);
    writeFileSync(p, text, { mode });
    chmodSync(p, mode);
    return p;
  };
  const rejects = (p: Promise<unknown>, re: RegExp): Promise<void> =>
    assert.rejects(p, (err: unknown) => err instanceof PasswordSourceError && re.test(err.message));

  it('reads an environment variable by name', async () => {
    assert.equal(await readPasswordFrom({ env: 'PFX_PW' }, { PFX_PW: 'from env\n' }), 'from env\n');
  });

  it('refuses an unset or empty variable, and both or neither source', async () => {
    await rejects(readPasswordFrom({ env: 'PFX_PW' }, {}), /PFX_PW.*not set/);
    await rejects(readPasswordFrom({ env: 'PFX_PW' }, { PFX_PW: '' }), /PFX_PW.*empty/);
    await rejects(readPasswordFrom({}, {}), /exactly one/);
    const f = file('both', 'x');
    await rejects(readPasswordFrom({ env: 'PFX_PW', file: f }, { PFX_PW: 'x' }), /exactly one/);
  });

  it('reads a 0600 file, dropping one trailing newline (LF or CRLF) and nothing else', async () => {
    assert.equal(await readPasswordFrom({ file: file('lf', `${PASSWORD}\n`) }, {}), PASSWORD);
    assert.equal(await readPasswordFrom({ file: file('crlf', `${PASSWORD}\r\n`) }, {}), PASSWORD);
    assert.equal(await readPasswordFrom({ file: file('none', ' pw ') }, {}), ' pw ');
    assert.equal(await readPasswordFrom({ file: file('two', 'pw\n\n') }, {}), 'pw\n');
    assert.equal(
      await readPasswordFrom({ file: file('unicode', `${UNICODE_PASSWORD}\n`, 0o400) }, {}),
      UNICODE_PASSWORD,
    );
  });

  it('refuses a missing, empty, group/other-readable file, or a directory', async () => {
    await rejects(readPasswordFrom({ file: join(pwDir(), 'absent') }, {}), /does not exist/);
    await rejects(readPasswordFrom({ file: file('empty', '\n') }, {}), /empty/);
    await rejects(readPasswordFrom({ file: file('group', 'pw', 0o640) }, {}), /group or others.*chmod 600/s);
    await rejects(readPasswordFrom({ file: file('other', 'pw', 0o604) }, {}), /mode 604/);
    await rejects(readPasswordFrom({ file: pwDir() }, {}), /not a regular file/);
  });
});

describe('encrypted PKCS#8 at rest', () => {
  const passphrase = 'c2VjcmV0LXBhc3NwaHJhc2UtZnJvbS1hLXNlY3JldA';
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

  it('encrypts with PBES2/AES-256-CBC, and openssl decrypts it to the same key', () => {
    const pem = encryptPrivateKeyPkcs8(privateKey, passphrase);
    assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    writeFileSync(at('encrypted.key'), pem, { mode: 0o600 });
    const parsed = openssl('asn1parse', '-in', 'encrypted.key');
    assert.match(parsed, /:PBES2/);
    assert.match(parsed, /:aes-256-cbc/);
    const plain = openssl('pkey', '-in', 'encrypted.key', '-passin', `pass:${passphrase}`);
    const theirs = createPrivateKey(plain);
    assert.ok(
      theirs.export({ type: 'pkcs1', format: 'der' }).equals(privateKey.export({ type: 'pkcs1', format: 'der' })),
    );
    assert.ok(decryptPrivateKeyPkcs8(pem, passphrase).equals(privateKey));
  });

  it('decrypts what openssl pkcs8 -topk8 -v2 aes-256-cbc wrote', () => {
    const pem = openssl('pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', 'signing.key', '-passout', `pass:${passphrase}`);
    const key = decryptPrivateKeyPkcs8(pem, passphrase);
    assertSignsFor(key, 'signing.crt');
  });

  it('refuses a wrong passphrase, a plain key, and a short passphrase', () => {
    const pem = encryptPrivateKeyPkcs8(privateKey, passphrase);
    const reason = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        assert.ok(err instanceof Pkcs8Error, String(err));
        return err.reason;
      }
      return 'no error';
    };
    assert.equal(reason(() => decryptPrivateKeyPkcs8(pem, `${passphrase}x`)), 'bad-password');
    assert.equal(
      reason(() => decryptPrivateKeyPkcs8(readFileSync(at('signing.key')), passphrase)),
      'not-encrypted-pkcs8',
    );
    assert.equal(reason(() => encryptPrivateKeyPkcs8(privateKey, 'short')), 'weak-passphrase');
  });
});
