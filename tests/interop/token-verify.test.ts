/**
 * Interop: a token issued with a key from the real key store, wrapped in the WS-Fed RSTR, taken out the way
 * MSAL takes it (regex over the raw bytes), verified by xml-crypto and xmlsec1 with the certificate read
 * back from disk; and the assertion's structure compared with a real AD FS token.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
type XElement = Element;
import { SIGNING_CERT_FILE, loadOrCreateSigningCredential } from '../../server/keys/store.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { SeededRandom } from '../../server/lib/random.ts';
import { writeWsFedRstr } from '../../server/tokens/rstr.ts';
import { writeSignedSaml11Assertion } from '../../server/tokens/saml11.ts';
import type { Saml11AssertionModel } from '../../server/tokens/types.ts';
import { readRealWorldFixture } from '../fixtures/tokens/credentials.ts';
import {
  SAML11_ID_ATTR,
  SAML11_NS,
  childElements,
  extractAssertionFromRstr,
  parseStrict,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
} from '../helpers/verify.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedgate-interop-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** ImmutableID as Entra Connect computes it: base64 of objectGUID's bytes (Guid.ToByteArray order). */
function immutableIdFromGuid(guid: string): string {
  const hex = guid.replace(/-/g, '');
  const b = Buffer.from(hex, 'hex');
  const le = Buffer.concat([
    Buffer.from(b.subarray(0, 4)).reverse(),
    Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(),
    b.subarray(8),
  ]);
  return le.toString('base64');
}

describe('SAML 1.1 token interop', () => {
  const clock = new FixedClock('2026-03-01T08:30:00.000Z');
  const random = new SeededRandom(42);

  it('a key-store key signs an Entra token that MSAL-style extraction, xml-crypto and xmlsec1 accept', async () => {
    const cred = await loadOrCreateSigningCredential({
      dir: join(dir, 'keys'),
      hostname: 'sts.contoso.test',
      clock,
    });
    const certFromDisk = readFileSync(join(dir, 'keys', SIGNING_CERT_FILE), 'utf8');
    const now = clock.now();
    const immutableId = immutableIdFromGuid('0b5d5a9f-3c2e-4d4a-9a61-2f7e8c1d0e55');
    const model: Saml11AssertionModel = {
      assertionId: `_${random.uuid()}`,
      issuer: 'http://sts.contoso.test/adfs/services/trust',
      issueInstant: now,
      notBefore: now,
      notOnOrAfter: new Date(now.getTime() + 3_600_000),
      audience: 'urn:federation:MicrosoftOnline',
      nameIdentifier: { value: immutableId },
      attributes: [
        {
          name: 'UPN',
          namespace: 'http://schemas.xmlsoap.org/claims',
          values: ['adele.vance@contoso.test'],
        },
        {
          name: 'ImmutableID',
          namespace: 'http://schemas.microsoft.com/LiveID/Federation/2008/05',
          values: [immutableId],
        },
        {
          name: 'insidecorporatenetwork',
          namespace: 'http://schemas.microsoft.com/ws/2012/01',
          values: ['false'],
        },
      ],
      authentication: { method: 'urn:oasis:names:tc:SAML:1.0:am:password', instant: now },
    };
    const assertion = writeSignedSaml11Assertion(model, cred);
    const rstr = writeWsFedRstr({
      assertionXml: assertion,
      appliesTo: model.audience,
      created: now,
      expires: model.notOnOrAfter,
    });

    const token = extractAssertionFromRstr(rstr);
    assert.equal(token, assertion, 'the bytes a client forwards are the bytes that were signed');
    const claims = verifySaml11WithXmlCrypto(token, certFromDisk);
    assert.equal(claims.issuer, model.issuer);
    assert.equal(claims.audience, 'urn:federation:MicrosoftOnline');
    assert.equal(claims.nameIdentifier, immutableId);
    assert.deepEqual(claims.attributes['http://schemas.xmlsoap.org/claims/UPN'], [
      'adele.vance@contoso.test',
    ]);
    assert.deepEqual(
      claims.attributes['http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID'],
      [immutableId],
    );
    for (const doc of [token, rstr]) {
      const r = verifyWithXmlsec1(doc, certFromDisk, SAML11_ID_ATTR);
      assert.ok(r.ok, r.output);
    }
  });

  it('has the element and attribute structure of a real AD FS token with the same claims', async () => {
    const cred = await loadOrCreateSigningCredential({
      dir: join(dir, 'keys'),
      hostname: 'sts.contoso.test',
      clock,
    });
    const adfsDoc = parseStrict(readRealWorldFixture('adfs-rst_response.xml'));
    const adfs = adfsDoc.getElementsByTagNameNS(SAML11_NS, 'Assertion')[0];
    assert.ok(adfs);
    const ours = parseStrict(
      writeSignedSaml11Assertion(
        {
          assertionId: '_9bd2b280-f153-471a-9b73-c1df0d555075',
          issuer: 'http://fs.contoso.test/adfs/services/trust',
          issueInstant: clock.now(),
          notBefore: clock.now(),
          notOnOrAfter: new Date(clock.now().getTime() + 3_600_000),
          audience: 'https://login.microsoftonline.com/extSTS.srf',
          nameIdentifier: { value: '1TIu064jGEmmf+hnI+F0Jg==' },
          attributes: [
            {
              name: 'UPN',
              namespace: 'http://schemas.xmlsoap.org/claims',
              values: ['frizzo@contoso.test'],
            },
            {
              name: 'ImmutableID',
              namespace: 'http://schemas.microsoft.com/LiveID/Federation/2008/05',
              values: ['1TIu064jGEmmf+hnI+F0Jg=='],
            },
          ],
          authentication: {
            method: 'urn:oasis:names:tc:SAML:1.0:am:password',
            instant: clock.now(),
          },
        },
        cred,
      ),
    ).documentElement;
    assert.ok(ours);
    // Element names + namespaces + attribute names, recursively; values differ (times, keys, digests).
    const shape = (e: XElement): unknown => ({
      el: `${e.namespaceURI ?? ''} ${e.localName}`,
      attrs: Array.from(e.attributes)
        .filter((a) => a.prefix !== 'xmlns' && a.name !== 'xmlns')
        .map((a) => a.name)
        .sort(),
      children: childElements(e).map(shape),
    });
    assert.deepEqual(shape(ours), shape(adfs));
    // Same constant values where AD FS has them.
    for (const [sel, attr] of [
      ['NameIdentifier', 'Format'],
      ['AuthenticationStatement', 'AuthenticationMethod'],
    ] as const) {
      assert.equal(
        ours.getElementsByTagNameNS(SAML11_NS, sel)[0]?.getAttribute(attr),
        adfs.getElementsByTagNameNS(SAML11_NS, sel)[0]?.getAttribute(attr),
      );
    }
  });
});
