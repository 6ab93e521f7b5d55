/**
 * The WS-Fed wresult (entra-protocol §1.4, [MS-MWBF] §2.2.4.1): a bare WS-Trust 2005 RSTR, compact, with
 * the signed assertion inside byte-identical, parseable the way MSAL parses it (regular expressions).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FederationError } from '../../../server/lib/errors.ts';
import {
  KEY_TYPE_NO_PROOF_KEY_2005,
  REQUEST_TYPE_ISSUE_2005,
  TOKEN_TYPE_SAML11,
  WSA_NS,
  WSP_NS,
  WSTRUST_2005_NS,
  WSU_NS,
  writeWsFedRstr,
} from '../../../server/tokens/rstr.ts';
import { createSaml11Signer } from '../../../server/tokens/saml11.ts';
import {
  entraModel,
  fixtureCredential,
  readRealWorldFixture,
} from '../../fixtures/tokens/credentials.ts';
import { assertGolden } from '../../fixtures/tokens/golden.ts';
import {
  SAML11_ID_ATTR,
  childElements,
  extractAssertionFromRstr,
  parseStrict,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
} from '../../helpers/verify.ts';

const cred = fixtureCredential('signing');
const model = entraModel();
const assertion = createSaml11Signer(cred).sign(model);
const rstr = writeWsFedRstr({
  assertionXml: assertion,
  appliesTo: model.audience,
  created: model.notBefore,
  expires: model.notOnOrAfter,
});

describe('WS-Trust 2005 RSTR (wresult)', () => {
  it('is byte-stable', () => {
    assertGolden('rstr.wsfed-2005.entra.golden.xml', rstr);
  });

  it('has the AD FS element order and namespaces', () => {
    const root = parseStrict(rstr).documentElement;
    assert.ok(root);
    assert.equal(root.namespaceURI, WSTRUST_2005_NS);
    assert.equal(root.localName, 'RequestSecurityTokenResponse');
    assert.deepEqual(
      childElements(root).map((e) => `${e.namespaceURI ?? ''} ${e.localName}`),
      [
        `${WSTRUST_2005_NS} Lifetime`,
        `${WSP_NS} AppliesTo`,
        `${WSTRUST_2005_NS} RequestedSecurityToken`,
        `${WSTRUST_2005_NS} TokenType`,
        `${WSTRUST_2005_NS} RequestType`,
        `${WSTRUST_2005_NS} KeyType`,
      ],
    );
    const [lifetime, appliesTo, , tokenType, requestType, keyType] = childElements(root);
    assert.ok(lifetime && appliesTo && tokenType && requestType && keyType);
    const [created, expires] = childElements(lifetime);
    assert.equal(created?.namespaceURI, WSU_NS);
    assert.equal(created.textContent, '2026-01-15T10:00:00.000Z');
    assert.equal(expires?.namespaceURI, WSU_NS);
    assert.equal(expires.textContent, '2026-01-15T11:00:00.000Z');
    const epr = childElements(appliesTo, WSA_NS, 'EndpointReference')[0];
    assert.ok(epr);
    assert.equal(
      childElements(epr, WSA_NS, 'Address')[0]?.textContent,
      'urn:federation:MicrosoftOnline',
    );
    assert.equal(tokenType.textContent, TOKEN_TYPE_SAML11);
    assert.equal(requestType.textContent, REQUEST_TYPE_ISSUE_2005);
    assert.equal(keyType.textContent, KEY_TYPE_NO_PROOF_KEY_2005);
    assert.doesNotMatch(rstr, />\s+</);
    assert.doesNotMatch(rstr, /\/>/);
  });

  it('follows the real AD FS RSTR: our children are, in order, a subsequence of AD FS 1.3 children', () => {
    const adfs = parseStrict(readRealWorldFixture('adfs-rst_response.xml'));
    const adfsRstr = adfs.getElementsByTagNameNS(
      'http://docs.oasis-open.org/ws-sx/ws-trust/200512',
      'RequestSecurityTokenResponse',
    )[0];
    assert.ok(adfsRstr);
    const theirs = childElements(adfsRstr).map((e) => e.localName);
    const root = parseStrict(rstr).documentElement;
    assert.ok(root);
    const ours = childElements(root).map((e) => e.localName);
    let j = 0;
    for (const name of theirs) if (name === ours[j]) j++;
    assert.equal(j, ours.length, `${ours.join(',')} is not a subsequence of ${theirs.join(',')}`);
  });

  it('carries the assertion byte-identical, extractable by MSAL-style regex, verifying in both verifiers', () => {
    const extracted = extractAssertionFromRstr(rstr);
    assert.equal(extracted, assertion);
    // msal/wstrust_response.py compares TokenType text as is.
    assert.equal(
      /<(?:\w+:)?TokenType[^>]*>(.*)<\/(?:\w+:)?TokenType/s.exec(rstr)?.[1],
      TOKEN_TYPE_SAML11,
    );
    assert.equal(
      verifySaml11WithXmlCrypto(extracted, cred.certificatePem).audience,
      'urn:federation:MicrosoftOnline',
    );
    // And verified in place, inside the RSTR (exc-c14n ignores the envelope's namespaces).
    assert.equal(verifySaml11WithXmlCrypto(rstr, cred.certificatePem).issuer, model.issuer);
    assert.ok(verifyWithXmlsec1(rstr, cred.certificatePem, SAML11_ID_ATTR).ok);
  });

  it('escapes AppliesTo and round-trips it exactly', () => {
    const appliesTo = 'https://rp.test/?a=1&b=<2>"\'';
    const x = writeWsFedRstr({
      assertionXml: assertion,
      appliesTo,
      created: model.notBefore,
      expires: model.notOnOrAfter,
    });
    const root = parseStrict(x).documentElement;
    assert.ok(root);
    assert.equal(root.getElementsByTagNameNS(WSA_NS, 'Address')[0]?.textContent, appliesTo);
  });

  it('refuses what would make a broken wresult', () => {
    const base = {
      assertionXml: assertion,
      appliesTo: 'urn:x',
      created: model.notBefore,
      expires: model.notOnOrAfter,
    };
    for (const bad of [
      { ...base, appliesTo: '' },
      { ...base, appliesTo: 'a\u0000' },
      { ...base, assertionXml: '<x/>' },
      { ...base, created: new Date(Number.NaN) },
    ]) {
      assert.throws(() => writeWsFedRstr(bad), FederationError);
    }
  });
});
