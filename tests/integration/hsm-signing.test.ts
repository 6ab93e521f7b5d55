/**
 * Token signing with a key inside a PKCS#11 device (issue 18, Custody): a real SoftHSM2 token (private to this
 * file, tests/setup/softhsm.sh) through the real pkcs11js binding. What the key is allowed to do is read back
 * through pkcs11js directly (tests/helpers/softhsm.ts DirectToken), never through fedgate's module; tokens are
 * checked by xmlsec1, xml-crypto and node-saml with the certificate's PEM.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { KeyObject, X509Certificate, createPublicKey, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, afterEach, before, describe, it, mock } from 'node:test';
import {
  Pkcs11Error,
  createPkcs11Certificate,
  generatePkcs11RsaKey,
  openPkcs11Key,
  pkcs11SigningCredential,
  type Pkcs11Key,
  type Pkcs11Options,
} from '../../server/keys/pkcs11.ts';
import { ClaimTypes, NameIdFormatProperty, NameIdFormats } from '../../server/claims/types.ts';
import { toSaml11Model } from '../../server/tokens/saml11-model.ts';
import { writeSignedSaml11Assertion } from '../../server/tokens/saml11.ts';
import { writeSignedSaml2Response } from '../../server/tokens/saml2.ts';
import {
  ENTRA_ACS,
  ENTRA_ENTITY_ID,
  ENTRA_IDP_ISSUER,
  ENTRA_REQUEST_ID,
  ENTRA_T,
  entraSaml2Response,
} from '../fixtures/tokens/saml2.ts';
import { DirectToken, startSoftHsm, type SoftHsm } from '../helpers/softhsm.ts';
import {
  SAML11_ID_ATTR,
  validateWithNodeSaml,
  verifySaml11WithXmlCrypto,
  verifySaml2ResponseWithXmlCrypto,
  verifySaml2WithXmlsec1,
  verifyWithXmlsec1,
} from '../helpers/verify.ts';

// Distinctive PINs, so a leak is found by a plain substring search.
const PIN = 'pin-7c1e-93ad';
const PIN_B = 'pin-b2f0-5d1e';
const TOKEN = 'fedgate-test';
const TOKEN_B = 'fedgate-test-b';

let hsm: SoftHsm;
const opened: Pkcs11Key[] = [];
const directs: DirectToken[] = [];

before(() => {
  // Both tokens exist before the library is first initialised in this process.
  hsm = startSoftHsm([
    { label: TOKEN, pin: PIN },
    { label: TOKEN_B, pin: PIN_B },
  ]);
});
after(() => {
  for (const d of directs.splice(0)) d.close();
  for (const k of opened.splice(0)) k.close();
  hsm.remove();
});
afterEach(() => {
  mock.timers.reset();
});

function opts(keyLabel: string, over: Partial<Pkcs11Options> = {}): Pkcs11Options {
  return { module: hsm.module, tokenLabel: TOKEN, keyLabel, pin: PIN, ...over };
}
function keep(k: Pkcs11Key): Pkcs11Key {
  opened.push(k);
  return k;
}
function direct(tokenLabel = TOKEN, pin = PIN): DirectToken {
  const d = new DirectToken(hsm.module, tokenLabel, pin);
  directs.push(d);
  return d;
}
function dropDirect(d: DirectToken): void {
  directs.splice(directs.indexOf(d), 1);
  d.close();
}

/** The RSA public key as the device reports it, read through pkcs11js directly. */
function devicePublicKey(d: DirectToken, label: string) {
  const pub = d.one(d.p.CKO_PUBLIC_KEY, label);
  const n = d.attribute(pub, d.p.CKA_MODULUS);
  const e = d.attribute(pub, d.p.CKA_PUBLIC_EXPONENT);
  assert.ok('value' in n && 'value' in e);
  return createPublicKey({
    key: { kty: 'RSA', n: n.value.toString('base64url'), e: e.value.toString('base64url') },
    format: 'jwk',
  });
}

/** Asserts `fn` throws a Pkcs11Error whose message matches `re` and shows none of the PINs. */
function assertPkcs11Error(fn: () => unknown, re: RegExp): Pkcs11Error {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof Pkcs11Error, `expected a Pkcs11Error, got ${inspect(caught)}`);
  assert.match(caught.message, re);
  for (const secret of [PIN, PIN_B]) {
    assert.ok(!inspect(caught, { depth: 10 }).includes(secret), 'the PIN is in the error');
  }
  return caught;
}

const serial = Buffer.from('0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex');
const notBefore = new Date('2026-01-01T00:00:00Z');
const notAfter = new Date('2027-01-01T00:00:00Z');

describe('PKCS#11 token signing (SoftHSM2, pkcs11js)', () => {
  let key: Pkcs11Key;

  it('generates the key inside the token: sensitive, never extractable, sign only, persistent', () => {
    key = keep(generatePkcs11RsaKey(opts('signing-2026')));
    assert.equal(key.bits, 2048);
    const d = direct();
    const priv = d.one(d.p.CKO_PRIVATE_KEY, 'signing-2026');
    const pub = d.one(d.p.CKO_PUBLIC_KEY, 'signing-2026');
    assert.equal(d.bool(priv, d.p.CKA_SENSITIVE), true, 'CKA_SENSITIVE');
    assert.equal(d.bool(priv, d.p.CKA_EXTRACTABLE), false, 'CKA_EXTRACTABLE');
    // Set by the device: true only if the key has been so since it was generated (PKCS#11 v2.40 §4.9).
    assert.equal(d.bool(priv, d.p.CKA_ALWAYS_SENSITIVE), true, 'CKA_ALWAYS_SENSITIVE');
    assert.equal(d.bool(priv, d.p.CKA_NEVER_EXTRACTABLE), true, 'CKA_NEVER_EXTRACTABLE');
    assert.equal(d.bool(priv, d.p.CKA_TOKEN), true, 'CKA_TOKEN');
    assert.equal(d.bool(priv, d.p.CKA_PRIVATE), true, 'CKA_PRIVATE');
    assert.equal(d.bool(priv, d.p.CKA_SIGN), true, 'CKA_SIGN');
    assert.equal(d.bool(priv, d.p.CKA_DECRYPT), false, 'CKA_DECRYPT');
    assert.equal(d.bool(pub, d.p.CKA_TOKEN), true, 'public key CKA_TOKEN');
    const id = d.attribute(priv, d.p.CKA_ID);
    assert.ok('value' in id && id.value.length > 0);
    assert.deepEqual(d.attribute(pub, d.p.CKA_ID), id, 'public and private key share CKA_ID');
    // fedgate's public key is the device's.
    assert.ok(key.publicKey.equals(devicePublicKey(d, 'signing-2026')));
    // And a signature from fedgate verifies with it (node:crypto, RSASSA-PKCS1-v1_5 SHA-256).
    const data = Buffer.from('SignedInfo bytes');
    assert.ok(verify('sha256', data, devicePublicKey(d, 'signing-2026'), key.signSha256(data)));
  });

  it('the process cannot get the private key: its secret attributes are refused and it cannot be wrapped out', () => {
    const d = direct();
    const priv = d.one(d.p.CKO_PRIVATE_KEY, 'signing-2026');
    for (const [name, type] of [
      ['CKA_PRIVATE_EXPONENT', d.p.CKA_PRIVATE_EXPONENT],
      ['CKA_PRIME_1', d.p.CKA_PRIME_1],
      ['CKA_PRIME_2', d.p.CKA_PRIME_2],
      ['CKA_VALUE', d.p.CKA_VALUE],
    ] as const) {
      const a = d.attribute(priv, type);
      assert.ok('error' in a, `${name} was readable`);
      assert.match(a.error, /CKR_ATTRIBUTE_(SENSITIVE|TYPE_INVALID)/, name);
    }
    assert.equal(d.tryWrap(priv), 'CKR_KEY_UNEXTRACTABLE');
    // And fedgate's key object holds nothing private: only the public key is a KeyObject.
    for (const v of Object.values(key) as unknown[]) {
      assert.ok(!(v instanceof KeyObject && v.type === 'private'));
    }
    assert.equal(key.publicKey.type, 'public');
  });

  let certPem: string;

  it('a self-signed certificate for the HSM key is signed by the device', async () => {
    certPem = await createPkcs11Certificate(
      key,
      'fedgate Signing - sts.contoso.test',
      notBefore,
      notAfter,
      serial,
    );
    const cert = new X509Certificate(certPem);
    const d = direct();
    // The certificate's key is the device's key, and the device's key signed it (OpenSSL checks).
    assert.ok(cert.publicKey.equals(devicePublicKey(d, 'signing-2026')));
    assert.ok(cert.verify(devicePublicKey(d, 'signing-2026')));
    assert.equal(cert.subject, 'CN=fedgate Signing - sts.contoso.test');
    assert.equal(cert.issuer, cert.subject);
    assert.equal(new Date(cert.validFrom).toISOString(), notBefore.toISOString());
    assert.equal(new Date(cert.validTo).toISOString(), notAfter.toISOString());
    // The extensions as OpenSSL reads them: not a CA, digitalSignature only (both critical).
    const text = spawnSync('openssl', ['x509', '-noout', '-text'], {
      input: certPem,
      encoding: 'utf8',
    });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text.stdout, /Key Usage: critical\s+Digital Signature\n/);
    assert.match(text.stdout, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(cert.serialNumber, /^4F1E2D3C/); // top bit cleared, next set (positive, no 00 octet)
  });

  it('signs a SAML 1.1 assertion that xmlsec1 and xml-crypto verify with the certificate', async () => {
    const cred = pkcs11SigningCredential(key, certPem);
    assert.equal(cred.custody, 'pkcs11');
    assert.equal(cred.privateKey, undefined);
    const model = toSaml11Model({
      claims: [
        { type: ClaimTypes.upn, value: 'adele.vance@contoso.test' },
        {
          type: ClaimTypes.nameIdentifier,
          value: 'nzZdCy48Sk2aYS9+jB0OVQ==',
          properties: { [NameIdFormatProperty]: NameIdFormats.unspecified },
        },
      ],
      assertionId: '_hsm-saml11-1',
      issuer: 'http://sts.contoso.test/adfs/services/trust',
      audience: 'urn:federation:MicrosoftOnline',
      now: ENTRA_T,
      lifetimeMinutes: 60,
      authMethod: 'urn:oasis:names:tc:SAML:1.0:am:password',
      authInstant: ENTRA_T,
    });
    const xml = writeSignedSaml11Assertion(model, cred);
    const r = verifyWithXmlsec1(xml, certPem, SAML11_ID_ATTR);
    assert.ok(r.ok, r.output);
    const claims = verifySaml11WithXmlCrypto(xml, certPem);
    assert.equal(claims.assertionId, '_hsm-saml11-1');
    assert.deepEqual(claims.attributes['http://schemas.xmlsoap.org/claims/UPN'], [
      'adele.vance@contoso.test',
    ]);
    // Control: another key's certificate does not verify it.
    const other = keep(generatePkcs11RsaKey(opts('other-key')));
    const otherPem = await createPkcs11Certificate(other, 'other', notBefore, notAfter, serial);
    assert.equal(verifyWithXmlsec1(xml, otherPem, SAML11_ID_ATTR).ok, false);
    assert.throws(() => verifySaml11WithXmlCrypto(xml, otherPem));
  });

  it('signs a SAML 2.0 Response that node-saml, xmlsec1 and xml-crypto accept', async () => {
    const cred = pkcs11SigningCredential(key, certPem);
    mock.timers.enable({ apis: ['Date'], now: new Date(ENTRA_T.getTime() + 1000) });
    for (const signResponse of [false, true]) {
      const xml = writeSignedSaml2Response(entraSaml2Response(), cred, { signResponse });
      const profile = await validateWithNodeSaml(Buffer.from(xml).toString('base64'), {
        certPem,
        entityId: ENTRA_ENTITY_ID,
        callbackUrl: ENTRA_ACS,
        idpIssuer: ENTRA_IDP_ISSUER,
        wantAuthnResponseSigned: signResponse,
        outstandingRequestIds: [ENTRA_REQUEST_ID],
      });
      assert.equal(profile.issuer, ENTRA_IDP_ISSUER);
      const a = verifySaml2WithXmlsec1(xml, certPem, 'assertion');
      assert.ok(a.ok, a.output);
      if (signResponse) {
        const rr = verifySaml2WithXmlsec1(xml, certPem, 'response');
        assert.ok(rr.ok, rr.output);
      }
      verifySaml2ResponseWithXmlCrypto(xml, certPem, { responseSigned: signResponse });
    }
  });

  it('a credential refuses a certificate that is not for the HSM key', async () => {
    const other = keep(openPkcs11Key(opts('other-key')));
    const otherPem = await createPkcs11Certificate(other, 'other', notBefore, notAfter, serial);
    assertPkcs11Error(() => pkcs11SigningCredential(key, otherPem), /is not for the HSM key/);
  });

  it('a second key on the same module and token, and a key on another token, sign side by side; closing one leaves the others logged in', () => {
    const again = openPkcs11Key(opts('signing-2026'));
    const onB = generatePkcs11RsaKey(opts('signing-b', { tokenLabel: TOKEN_B, pin: PIN_B }));
    const data = Buffer.from('x');
    assert.ok(verify('sha256', data, key.publicKey, again.signSha256(data)));
    assert.ok(verify('sha256', data, onB.publicKey, onB.signSha256(data)));
    // C_Logout would end the token's login for every session of this process: only the last user logs out.
    const d = direct();
    again.close();
    onB.close();
    assert.equal(d.loggedIn(), true, 'closing one key logged the token out');
    assert.ok(verify('sha256', data, key.publicKey, key.signSha256(data)));
    // A closed key refuses to sign, with a clear error.
    assertPkcs11Error(() => again.signSha256(data), /is closed/);
  });

  it('the key persists in the token: opened again after every user closed it (module finalized and re-initialised)', () => {
    const publicKey = key.publicKey;
    for (const d of directs.splice(0)) d.close();
    for (const k of opened.splice(0)) k.close();
    key = keep(openPkcs11Key(opts('signing-2026')));
    assert.ok(key.publicKey.equals(publicKey));
    // A slot index instead of the token label.
    const slot = direct().slotIndex();
    const bySlot = openPkcs11Key({ module: hsm.module, slot, keyLabel: 'signing-2026', pin: PIN });
    assert.ok(bySlot.publicKey.equals(publicKey));
    bySlot.close();
  });

  it('after a token reset (every session closed) signing reopens the session once and goes on', () => {
    const d = direct();
    d.closeAllSessions(PIN);
    const data = Buffer.from('after reset');
    assert.ok(verify('sha256', data, key.publicKey, key.signSha256(data)));
    assert.ok(verify('sha256', data, key.publicKey, key.signSha256(data)));
  });

  it('after a reset that also removed the key, signing throws a clear Pkcs11Error', () => {
    const temp = generatePkcs11RsaKey(opts('short-lived'));
    const d = direct();
    d.closeAllSessions(PIN);
    d.destroy(d.p.CKO_PRIVATE_KEY, 'short-lived');
    d.destroy(d.p.CKO_PUBLIC_KEY, 'short-lived');
    const data = Buffer.from('x');
    assertPkcs11Error(() => temp.signSha256(data), /no private key labelled "short-lived"/);
    // Still no key on the next try (each call reopens at most once), and close() is clean.
    assertPkcs11Error(() => temp.signSha256(data), /no private key labelled "short-lived"/);
    temp.close();
    // The other key survived the same reset.
    assert.ok(verify('sha256', data, key.publicKey, key.signSha256(data)));
  });

  it('a token re-provisioned with another key under the same label is refused, not used', () => {
    const temp = generatePkcs11RsaKey(opts('replaced'));
    const d = direct();
    d.closeAllSessions(PIN);
    d.destroy(d.p.CKO_PRIVATE_KEY, 'replaced');
    d.destroy(d.p.CKO_PUBLIC_KEY, 'replaced');
    d.generate('replaced', { rsaBits: 2048 });
    assertPkcs11Error(() => temp.signSha256(Buffer.from('x')), /no longer the same key/);
    temp.close();
  });
});

describe('PKCS#11 errors are clear and never show the PIN', () => {
  before(() => {
    const d = direct();
    if (d.find(d.p.CKO_PRIVATE_KEY, 'signing-2026').length === 0) {
      d.generate('signing-2026', { rsaBits: 2048 });
    }
    d.generate('ec-key', 'ec-p256');
    d.generate('rsa-1024', { rsaBits: 1024 });
    dropDirect(d);
  });

  it('wrong PIN: refused by the device, or found by fedgate when the token is already logged in', () => {
    // Nothing in this process is logged in to token B: the device checks the PIN.
    const e = assertPkcs11Error(
      () => openPkcs11Key(opts('signing-b', { tokenLabel: TOKEN_B, pin: 'pin-wrong-0000' })),
      /token "fedgate-test-b" refused the PIN \(wrong PIN\) \(CKR_PIN_INCORRECT\)/,
    );
    assert.equal(e.code, 'CKR_PIN_INCORRECT');
    assert.ok(!e.message.includes('pin-wrong-0000'));
    // Token A is logged in (the key above): the device answers CKR_USER_ALREADY_LOGGED_IN whatever the PIN,
    // so fedgate compares it with the PIN it logged in with.
    const e2 = assertPkcs11Error(
      () => openPkcs11Key(opts('signing-2026', { pin: PIN_B })),
      /token "fedgate-test" refused the PIN \(wrong PIN\)/,
    );
    assert.equal(e2.code, 'CKR_PIN_INCORRECT');
  });

  it('unknown key label', () => {
    assertPkcs11Error(
      () => openPkcs11Key(opts('no-such-key')),
      /no private key labelled "no-such-key" on token "fedgate-test"/,
    );
  });

  it('unknown token label (the message lists the tokens there are)', () => {
    assertPkcs11Error(
      () => openPkcs11Key(opts('signing-2026', { tokenLabel: 'nope' })),
      /no token labelled "nope" in ".*libsofthsm2\.so" \(tokens: "fedgate-test", "fedgate-test-b"\)/,
    );
  });

  it('slot index out of range, or neither slot nor token label', () => {
    assertPkcs11Error(
      () => openPkcs11Key({ module: hsm.module, slot: 99, keyLabel: 'x', pin: PIN }),
      /slot index 99 does not exist/,
    );
    assertPkcs11Error(
      () => openPkcs11Key({ module: hsm.module, keyLabel: 'x', pin: PIN }),
      /needs tokenLabel \(preferred\) or slot/,
    );
  });

  it('a module path that is not a PKCS#11 library, or no file at all', () => {
    const notPkcs11 = join(hsm.dir, 'not-pkcs11.so');
    writeFileSync(notPkcs11, 'not an ELF file');
    assertPkcs11Error(
      () => openPkcs11Key(opts('k', { module: notPkcs11 })),
      /could not load the PKCS#11 module ".*not-pkcs11\.so"/,
    );
    // A real shared object without C_GetFunctionList: the pkcs11js binding itself.
    const binding = new URL(
      '../../node_modules/pkcs11js/build/Release/pkcs11.node',
      import.meta.url,
    ).pathname;
    assertPkcs11Error(
      () => openPkcs11Key(opts('k', { module: binding })),
      /is not a PKCS#11 library \(it has no C_GetFunctionList\)/,
    );
    assertPkcs11Error(
      () => openPkcs11Key(opts('k', { module: join(hsm.dir, 'missing.so') })),
      /the PKCS#11 module ".*missing\.so" does not exist/,
    );
  });

  it('a key that is not RSA, or RSA under 2048 bits', () => {
    assertPkcs11Error(
      () => openPkcs11Key(opts('ec-key')),
      /is not an RSA key \(CKA_KEY_TYPE 0x3\)/,
    );
    assertPkcs11Error(
      () => openPkcs11Key(opts('rsa-1024')),
      /is RSA-1024; token signing needs at least 2048 bits/,
    );
    assertPkcs11Error(() => generatePkcs11RsaKey(opts('small'), 1024), /at least 2048 bits/);
  });

  it('a public key object of another key under the label is refused (a test signature does not verify)', () => {
    const d = direct();
    d.generate('mixed', { rsaBits: 2048 });
    d.generate('mixed-other', { rsaBits: 2048 });
    d.destroy(d.p.CKO_PUBLIC_KEY, 'mixed');
    d.relabel(d.one(d.p.CKO_PUBLIC_KEY, 'mixed-other'), 'mixed');
    assertPkcs11Error(
      () => openPkcs11Key(opts('mixed')),
      /the public key labelled "mixed" on token "fedgate-test" does not belong to the private key/,
    );
  });

  it('without the pkcs11js module the key code still loads, and opening an HSM key says what is missing', () => {
    // A child process in which resolving 'pkcs11js' fails the way it does when the optional dependency did
    // not install (npm drops an optional package whose native build failed).
    const preload = join(hsm.dir, 'hide-pkcs11js.cjs');
    writeFileSync(
      preload,
      "const M = require('node:module');\n" +
        'const load = M._load;\n' +
        'M._load = function (request, ...rest) {\n' +
        "  if (request === 'pkcs11js') {\n" +
        "    throw Object.assign(new Error(\"Cannot find module 'pkcs11js'\"), { code: 'MODULE_NOT_FOUND' });\n" +
        '  }\n' +
        '  return load.call(this, request, ...rest);\n' +
        '};\n',
    );
    const moduleUrl = new URL('../../server/keys/pkcs11.ts', import.meta.url).href;
    const script =
      `const m = await import(${JSON.stringify(moduleUrl)});\n` +
      'try {\n' +
      `  m.openPkcs11Key(${JSON.stringify(opts('signing-2026'))});\n` +
      "  console.log('opened');\n" +
      '} catch (e) {\n' +
      '  console.log(JSON.stringify({ pkcs11Error: e instanceof m.Pkcs11Error, message: e.message }));\n' +
      '}\n';
    const r = spawnSync(
      process.execPath,
      ['--require', preload, '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { pkcs11Error: boolean; message: string };
    assert.equal(out.pkcs11Error, true);
    assert.match(out.message, /^the pkcs11js module is not installed/);
    assert.ok(!r.stdout.includes(PIN) && !r.stderr.includes(PIN));
  });

  it('generating under a label that is taken is refused (no second key with the same label)', () => {
    assertPkcs11Error(
      () => generatePkcs11RsaKey(opts('signing-2026')),
      /already has an object labelled "signing-2026"/,
    );
  });

  it('a PIN pasted into another setting is not quoted back', () => {
    // e.g. the PIN's secret file mounted where the key label was expected.
    const e = assertPkcs11Error(
      () => openPkcs11Key(opts(PIN)),
      /no private key labelled "\[PIN\]" on token "fedgate-test"/,
    );
    assert.ok(!e.message.includes(PIN));
    assertPkcs11Error(
      () => openPkcs11Key(opts('signing-2026', { tokenLabel: `x${PIN}` })),
      /no token labelled "x\[PIN\]"/,
    );
    assertPkcs11Error(
      () => openPkcs11Key(opts('signing-2026', { module: join(hsm.dir, PIN) })),
      /the PKCS#11 module ".*\/\[PIN\]" does not exist/,
    );
  });

  it('the key object and its credential show no PIN when logged or serialised', async () => {
    const k = keep(openPkcs11Key(opts('signing-2026')));
    const pem = await createPkcs11Certificate(k, 'fedgate Signing', notBefore, notAfter, serial);
    const cred = pkcs11SigningCredential(k, pem);
    for (const view of [
      inspect(k, { depth: 20, showHidden: true }),
      inspect(cred, { depth: 20, showHidden: true }),
      JSON.stringify(k),
      JSON.stringify(cred),
    ]) {
      assert.ok(!view.includes(PIN));
    }
  });
});
