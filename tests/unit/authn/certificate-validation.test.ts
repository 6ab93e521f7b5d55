import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  certificateAuthSchema,
  type CertificateRevocationConfig,
} from '../../../server/config/schema.ts';
import { checkCertificateFiles } from '../../../server/authn/certificate/authenticator.ts';
import { httpFetcher } from '../../../server/authn/certificate/fetch.ts';
import {
  OcspError,
  buildOcspRequest,
  certIdFor,
  readOcspResponse,
} from '../../../server/authn/certificate/ocsp.ts';
import { RevocationChecker } from '../../../server/authn/certificate/revocation.ts';
import {
  TrustStore,
  ekuOid,
  validateCertificate,
  type CertificatePolicy,
} from '../../../server/authn/certificate/validate.ts';
import {
  parseCertificate,
  parsePemCertificates,
  type ParsedCertificate,
} from '../../../server/authn/certificate/x509.ts';
import { FixedClock } from '../../../server/lib/clock.ts';
import { TestPki, type Leaf } from '../../helpers/pki.ts';

// Security corpus C6.4 (chain), C6.5 (EKU / key usage), C6.6 (revocation): every certificate here is made by the
// openssl CLI (tests/helpers/pki.ts), revocation answers come from real CRLs and a real `openssl ocsp` responder.

const POLICY: CertificatePolicy = {
  allowedEkus: ['clientAuth', 'smartcardLogon'].map(ekuOid),
  allowNoEku: false,
  requiredPolicies: [],
  minRsaBits: 2048,
};

const REVOCATION: CertificateRevocationConfig = {
  mode: 'require',
  crlFiles: [],
  fetchCdp: true,
  fileCdpRoots: [],
  ocsp: true,
  checkChain: true,
  timeoutMs: 2000,
  maxCrlBytes: 1024 * 1024,
  clockSkewSeconds: 300,
  ocspMaxAgeSeconds: 3600,
};

const silent = { warn: () => undefined, debug: () => undefined };

describe('certificate validation and revocation (openssl-made PKI)', () => {
  let pki: TestPki;
  let trust: TrustStore;
  let issuing: ParsedCertificate;
  const parsed = (l: Leaf): ParsedCertificate => parseCertificate(l.der);
  const now = (): Date => new Date();

  before(async () => {
    pki = await TestPki.create();
    issuing = parsePemCertificates(pki.issuing.certPem)[0]!;
    trust = new TrustStore([issuing], parsePemCertificates(pki.root.certPem));
  });
  after(async () => {
    await pki.close();
  });

  test('a user certificate from the issuing CA chains to the root and is accepted', () => {
    const leaf = pki.issue('good', { upn: 'good@corp.example.test' });
    const r = validateCertificate(parsed(leaf), trust, POLICY, now());
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.deepEqual(
      r.chain.map((c) => c.x509.subject),
      [
        'CN=good',
        'DC=test\nDC=example\nDC=corp\nCN=Corp Issuing CA',
        'O=fedgate tests\nCN=fedgate Test Root CA',
      ],
    );
  });

  test('C6.4: an issuing CA that does not chain to a configured root is refused at startup', () => {
    assert.throws(() => new TrustStore([issuing], []), /does not chain to a configured root/);
  });

  test('fedgate check reports an issuing CA without its root and an unreadable CRL file', () => {
    const bad = certificateAuthSchema.parse({
      enabled: true,
      issuingCAs: [pki.issuing.certFile],
      revocation: { crlFiles: ['missing.crl'] },
    });
    const problems = checkCertificateFiles(bad, pki.dir);
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(
      problems[0] ?? '',
      /^certificateAuth: issuing CA [0-9A-F]+ does not chain to a configured root/,
    );
    assert.match(problems[1] ?? '', /crlFiles: .*missing\.crl/);
    const good = certificateAuthSchema.parse({
      enabled: true,
      issuingCAs: [pki.issuing.certFile],
      caCertificates: [pki.root.certFile],
      revocation: { crlFiles: [pki.issuing.crlFile] },
    });
    assert.deepEqual(checkCertificateFiles(good, pki.dir), []);
  });

  test('C6.4: a certificate from an untrusted CA is refused', () => {
    const leaf = pki.issue('stranger', { issuer: pki.otherIssuing });
    const r = validateCertificate(parsed(leaf), trust, POLICY, now());
    assert.deepEqual(r.ok ? 'ok' : r.reason, 'untrusted_issuer');
    // The untrusted CA has our issuing CA's exact name: only the signature tells them apart.
    assert.equal(parsed(leaf).issuer.der.equals(issuing.subject.der), true);
    assert.match(r.ok ? '' : r.detail, /signature does not verify/);
  });

  test('C6.4: a certificate issued by the root (a CA not in the issuing list, "intermediate missing") is refused', () => {
    const leaf = pki.issue('from-root', { issuer: pki.root });
    const r = validateCertificate(parsed(leaf), trust, POLICY, now());
    assert.deepEqual(r.ok ? 'ok' : r.reason, 'untrusted_issuer');
  });

  test('C6.4: expired and not-yet-valid certificates are refused', () => {
    const day = 86_400_000;
    const expired = pki.issue('expired', {
      notBefore: new Date(Date.now() - 400 * day),
      notAfter: new Date(Date.now() - 35 * day),
    });
    const future = pki.issue('future', {
      notBefore: new Date(Date.now() + 2 * day),
      notAfter: new Date(Date.now() + 300 * day),
    });
    const a = validateCertificate(parsed(expired), trust, POLICY, now());
    const b = validateCertificate(parsed(future), trust, POLICY, now());
    assert.equal(a.ok ? 'ok' : a.reason, 'expired');
    assert.equal(b.ok ? 'ok' : b.reason, 'not_yet_valid');
  });

  test('C6.5: a TLS server certificate, an e-mail-only certificate and one without EKU are refused', () => {
    for (const [name, eku] of [
      ['server-only', 'serverAuth'],
      ['email-only', 'emailProtection'],
      ['no-eku', ''],
      ['any-eku', 'anyExtendedKeyUsage'],
    ] as const) {
      const leaf = pki.issue(name, { eku, dns: 'host.corp.example.test' });
      const r = validateCertificate(parsed(leaf), trust, POLICY, now());
      assert.equal(r.ok ? 'ok' : r.reason, 'eku', name);
    }
  });

  test('C6.5: Client Authentication alone and Smart Card Logon alone each satisfy the default policy; a policy can require one', () => {
    const client = parsed(pki.issue('client-only', { eku: 'clientAuth' }));
    const smartcard = parsed(pki.issue('smartcard-only', { eku: '1.3.6.1.4.1.311.20.2.2' }));
    assert.equal(validateCertificate(client, trust, POLICY, now()).ok, true);
    assert.equal(validateCertificate(smartcard, trust, POLICY, now()).ok, true);
    const scOnly = { ...POLICY, allowedEkus: [ekuOid('smartcardLogon')] };
    const r = validateCertificate(client, trust, scOnly, now());
    assert.equal(r.ok ? 'ok' : r.reason, 'eku');
  });

  test('C6.5: keyUsage without digitalSignature, a CA certificate, a short RSA key and a missing policy are refused', () => {
    const ku = validateCertificate(
      parsed(pki.issue('ku-encipher', { keyUsage: 'critical,keyEncipherment' })),
      trust,
      POLICY,
      now(),
    );
    assert.equal(ku.ok ? 'ok' : ku.reason, 'key_usage');
    const ca = validateCertificate(
      parsed(pki.issue('sub-ca', { ca: true, keyUsage: 'critical,digitalSignature,keyCertSign' })),
      trust,
      POLICY,
      now(),
    );
    assert.equal(ca.ok ? 'ok' : ca.reason, 'not_end_entity');
    const short = validateCertificate(
      parsed(pki.issue('rsa1024', { bits: 1024 })),
      trust,
      POLICY,
      now(),
    );
    assert.equal(short.ok ? 'ok' : short.reason, 'weak_key');
    const withPolicy = parsed(
      pki.issue('with-policy', { extra: ['certificatePolicies = 1.3.6.1.4.1.99999.1.2'] }),
    );
    const required = { ...POLICY, requiredPolicies: ['1.3.6.1.4.1.99999.1.2'] };
    assert.equal(validateCertificate(withPolicy, trust, required, now()).ok, true);
    const missing = validateCertificate(parsed(pki.issue('no-policy')), trust, required, now());
    assert.equal(missing.ok ? 'ok' : missing.reason, 'policy');
  });

  test('an unknown critical extension is refused', () => {
    const leaf = pki.issue('critical-unknown', {
      extra: ['1.3.6.1.4.1.99999.7 = critical,ASN1:NULL'],
    });
    const r = validateCertificate(parsed(leaf), trust, POLICY, now());
    assert.equal(r.ok ? 'ok' : r.reason, 'unsupported_critical_extension');
  });

  describe('revocation', () => {
    const checker = (
      over: Partial<CertificateRevocationConfig> = {},
      clock = new FixedClock(new Date()),
    ): RevocationChecker =>
      new RevocationChecker({ ...REVOCATION, ...over }, { clock, log: silent, baseDir: pki.dir });

    test("C6.6: a serial in the issuing CA's CRL is revoked (configured CRL file and HTTP CDP); others are good", async () => {
      const revoked = pki.issue('revoked');
      const fine = pki.issue('not-revoked');
      pki.revoke(revoked);
      pki.crl(pki.issuing);
      for (const over of [
        { crlFiles: [pki.issuing.crlFile], fetchCdp: false, ocsp: false },
        { ocsp: false },
      ]) {
        const c = checker(over);
        const r = await c.check(parsed(revoked), issuing);
        assert.equal(r.status, 'revoked', JSON.stringify(over));
        const g = await c.check(parsed(fine), issuing);
        assert.equal(g.status, 'good', JSON.stringify(over));
      }
    });

    test('C6.6: a CDP CRL is cached until its nextUpdate, then fetched again', async () => {
      const leaf = parsed(pki.issue('cache-test'));
      pki.crl(pki.issuing, { hours: 2 });
      const clock = new FixedClock(new Date());
      const c = checker({ ocsp: false }, clock);
      const path = '/crl/issuing.crl';
      const before = pki.cdpHits.get(path) ?? 0;
      assert.equal((await c.check(leaf, issuing)).status, 'good');
      assert.equal((await c.check(leaf, issuing)).status, 'good');
      clock.advance(60 * 60_000);
      assert.equal((await c.check(leaf, issuing)).status, 'good');
      assert.equal((pki.cdpHits.get(path) ?? 0) - before, 1, 'one download within nextUpdate');
      clock.advance(2 * 60 * 60_000);
      pki.crl(pki.issuing, { hours: 2 });
      clock.set(Date.now() + 30_000);
      assert.equal((await c.check(leaf, issuing)).status, 'good');
      pki.crl(pki.issuing);
    });

    test('C6.6: a stale CRL (past nextUpdate) answers nothing: the status is unknown', async () => {
      const leaf = parsed(pki.issue('stale-test'));
      pki.crl(pki.issuing, { hours: 1 });
      const clock = new FixedClock(Date.now() + 3 * 3600_000);
      const c = checker({ crlFiles: [pki.issuing.crlFile], ocsp: false }, clock);
      const r = await c.check(leaf, issuing);
      assert.equal(r.status, 'unknown');
      assert.match(r.detail, /stale/);
      pki.crl(pki.issuing);
    });

    test('C6.6: an unreachable CDP and no other source give unknown (the authenticator then fails closed)', async () => {
      const leaf = parsed(pki.issue('no-cdp-server', { cdp: ['http://127.0.0.1:9/none.crl'] }));
      const r = await checker({ ocsp: false, timeoutMs: 500 }).check(leaf, issuing);
      assert.equal(r.status, 'unknown');
    });

    test('a CRL signed by the look-alike CA (same name, other key) is not used', async () => {
      const leaf = parsed(pki.issue('lookalike-crl'));
      const r = await checker({
        crlFiles: [pki.otherIssuing.crlFile],
        fetchCdp: false,
        ocsp: false,
      }).check(leaf, issuing);
      assert.equal(r.status, 'unknown');
      assert.match(r.detail, /signed by another key|signature invalid/);
    });

    test('file: CDPs are read only inside fileCdpRoots', async () => {
      const leaf = parsed(pki.issue('file-cdp', { cdp: [pki.fileCdp(pki.issuing)] }));
      assert.equal((await checker({ ocsp: false }).check(leaf, issuing)).status, 'unknown');
      assert.equal(
        (await checker({ ocsp: false, fileCdpRoots: [pki.dir] }).check(leaf, issuing)).status,
        'good',
      );
    });

    test('C6.6: OCSP (delegated responder, nonce): good and revoked answers; responder down gives unknown', async () => {
      const good = parsed(pki.issue('ocsp-good', { ocsp: pki.ocspUrl, cdp: [] }));
      const bad = pki.issue('ocsp-revoked', { ocsp: pki.ocspUrl, cdp: [] });
      pki.revoke(bad);
      await pki.startOcsp();
      const c = checker({ fetchCdp: false });
      const g = await c.check(good, issuing);
      assert.equal(g.status, 'good');
      assert.match(g.source, /^ocsp:/);
      const r = await c.check(parsed(bad), issuing);
      assert.equal(r.status, 'revoked');
      await pki.stopOcsp();
      // Responder gone: no OCSP answer and no CRL → unknown (a cached answer would still be used).
      const fresh = parsed(pki.issue('ocsp-down', { ocsp: pki.ocspUrl, cdp: [] }));
      assert.equal(
        (await checker({ fetchCdp: false, timeoutMs: 500 }).check(fresh, issuing)).status,
        'unknown',
      );
    });

    test('C6.6: an OCSP response with a broken signature, for another issuer, or for another nonce is not used', async () => {
      const leaf = parsed(pki.issue('ocsp-tamper', { ocsp: pki.ocspUrl, cdp: [] }));
      await pki.startOcsp();
      const nonce = Buffer.alloc(16, 7);
      const body = await httpFetcher(pki.ocspUrl, {
        method: 'POST',
        body: buildOcspRequest(certIdFor(leaf, issuing), nonce),
        contentType: 'application/ocsp-request',
        timeoutMs: 2000,
        maxBytes: 65536,
      });
      await pki.stopOcsp();
      const opts = { now: new Date(), skewMs: 300_000, maxAgeMs: 3600_000, nonce };
      assert.equal(readOcspResponse(body, leaf, issuing, opts).status, 'good');
      // The signature is the BIT STRING before the responder certificates: flip one of its bytes.
      const tampered = Buffer.from(body);
      const sigAt = tampered.indexOf(Buffer.from([0x03, 0x82, 0x01, 0x01, 0x00]));
      assert.ok(sigAt > 0);
      tampered[sigAt + 20] = (tampered[sigAt + 20] ?? 0) ^ 0xff;
      assert.throws(() => readOcspResponse(tampered, leaf, issuing, opts), /signature invalid/);
      const lookalike = parsePemCertificates(pki.otherIssuing.certPem)[0]!;
      assert.throws(() => readOcspResponse(body, leaf, lookalike, opts), OcspError);
      assert.throws(
        () => readOcspResponse(body, leaf, issuing, { ...opts, nonce: Buffer.alloc(16, 8) }),
        /nonce/,
      );
      assert.throws(
        () =>
          readOcspResponse(body, leaf, issuing, {
            ...opts,
            now: new Date(Date.now() + 2 * 3600_000),
          }),
        /stale/,
      );
    });
  });
});
