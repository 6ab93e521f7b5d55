/**
 * FederationMetadata.xml (entra-protocol §5.2): signed, verifiable by xml-crypto and xmlsec1, readable the
 * way Microsoft.IdentityModel reads it, shaped like real AD FS output, built only from configuration, and
 * free of private key material (security-corpus B5.5, C7.1).
 */
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { describe, it } from 'node:test';
type XElement = Element;
import { CLAIM_TYPES_OFFERED } from '../../../server/protocols/metadata/claim-types.ts';
import {
  AUTH_NS,
  FED_NS,
  MD_NS,
  PROTOCOL_SUPPORT_ENUMERATION,
  buildFederationMetadata,
  passiveEndpoint,
} from '../../../server/protocols/metadata/federation-metadata.ts';
import type { FederationMetadataOptions } from '../../../server/protocols/metadata/federation-metadata.ts';
import { fixtureCredential, readRealWorldFixture } from '../../fixtures/tokens/credentials.ts';
import {
  DSIG_NS,
  METADATA_ID_ATTR,
  XSI_NS,
  certFromMetadata,
  childElements,
  parseStrict,
  readWsFedMetadata,
  verifyMetadataWithXmlCrypto,
  verifyWithXmlsec1,
} from '../../helpers/verify.ts';

const current = fixtureCredential('signing');
const next = fixtureCredential('attacker'); // any second key pair: plays the "next" certificate here

function options(over: Partial<FederationMetadataOptions> = {}): FederationMetadataOptions {
  return {
    issuerUri: 'http://sts.contoso.test/adfs/services/trust',
    publicUrl: 'https://sts.contoso.test',
    displayName: 'Contoso sign-in',
    signing: [current, next],
    id: '_b9fe7514-a527-4a24-86ef-8849d3ab008a',
    ...over,
  };
}

const xml = buildFederationMetadata(options());

function stsRole(doc: string): XElement {
  const root = parseStrict(doc).documentElement;
  assert.ok(root);
  const roles = childElements(root, MD_NS, 'RoleDescriptor');
  const [role] = roles;
  assert.ok(role && roles.length === 1);
  return role;
}

describe('federation metadata', () => {
  it('verifies with the current certificate in xml-crypto and xmlsec1', () => {
    const v = verifyMetadataWithXmlCrypto(xml, current.certificatePem);
    assert.equal(v.entityId, 'http://sts.contoso.test/adfs/services/trust');
    const r = verifyWithXmlsec1(xml, current.certificatePem, METADATA_ID_ATTR);
    assert.ok(r.ok, r.output);
    // Not with the next certificate: only the current key signs.
    assert.throws(() => verifyMetadataWithXmlCrypto(xml, next.certificatePem));
    assert.equal(verifyWithXmlsec1(xml, next.certificatePem, METADATA_ID_ATTR).ok, false);
  });

  it('fails verification after any change to signed content', () => {
    for (const [from, to] of [
      ['https://sts.contoso.test/adfs/ls/', 'https://evil.test/adfs/ls/'],
      ['Contoso sign-in', 'Contoso sign-on'],
      [next.certificateBase64, `${next.certificateBase64.slice(0, -8)}AAAAAAA=`],
    ] as const) {
      const tampered = xml.replace(from, to);
      assert.notEqual(tampered, xml);
      assert.throws(
        () => verifyMetadataWithXmlCrypto(tampered, current.certificatePem),
        Error,
        from,
      );
      assert.equal(
        verifyWithXmlsec1(tampered, current.certificatePem, METADATA_ID_ATTR).ok,
        false,
        from,
      );
    }
  });

  it('is what Microsoft.IdentityModel needs: issuer, signing certs (current first), passive endpoint', () => {
    const view = readWsFedMetadata(xml);
    assert.equal(view.issuer, 'http://sts.contoso.test/adfs/services/trust');
    assert.deepEqual(view.signingCertificates, [current.certificateBase64, next.certificateBase64]);
    assert.equal(view.passiveRequestorEndpoint, 'https://sts.contoso.test/adfs/ls/');
    assert.equal(
      view.activeTokenEndpoint,
      undefined,
      'no SecurityTokenServiceEndpoint until WS-Trust exists',
    );
    const pems = certFromMetadata(xml);
    assert.equal(pems.length, 2);
    assert.equal(
      new X509Certificate(pems[0] ?? '').fingerprint256,
      new X509Certificate(current.certificatePem).fingerprint256,
    );
  });

  it('has the EntityDescriptor / RoleDescriptor shape of entra-protocol §5.2', () => {
    const root = parseStrict(xml).documentElement;
    assert.ok(root);
    assert.equal(root.namespaceURI, MD_NS);
    assert.equal(root.prefix, null, 'default namespace like AD FS');
    assert.equal(root.getAttribute('ID'), '_b9fe7514-a527-4a24-86ef-8849d3ab008a');
    assert.deepEqual(
      childElements(root).map((e) => `${e.namespaceURI ?? ''} ${e.localName}`),
      [`${DSIG_NS} Signature`, `${MD_NS} RoleDescriptor`, `${MD_NS} IDPSSODescriptor`],
    );
    const role = stsRole(xml);
    assert.equal(role.getAttributeNS(XSI_NS, 'type'), 'fed:SecurityTokenServiceType');
    assert.equal(role.lookupNamespaceURI('fed'), FED_NS);
    assert.equal(role.getAttribute('protocolSupportEnumeration'), PROTOCOL_SUPPORT_ENUMERATION);
    assert.equal(role.getAttribute('ServiceDisplayName'), 'Contoso sign-in');
    assert.deepEqual(
      childElements(role).map((e) => e.localName),
      [
        'KeyDescriptor',
        'KeyDescriptor',
        'TokenTypesOffered',
        'ClaimTypesOffered',
        'PassiveRequestorEndpoint',
      ],
    );
    for (const kd of childElements(role, MD_NS, 'KeyDescriptor'))
      assert.equal(kd.getAttribute('use'), 'signing');
    const tokenTypes = childElements(role, FED_NS, 'TokenTypesOffered')[0];
    assert.ok(tokenTypes);
    assert.deepEqual(
      childElements(tokenTypes, FED_NS, 'TokenType').map((t) => t.getAttribute('Uri')),
      ['urn:oasis:names:tc:SAML:1.0:assertion'],
    );
    const claims = childElements(role, FED_NS, 'ClaimTypesOffered')[0];
    assert.ok(claims);
    const offered = childElements(claims, AUTH_NS, 'ClaimType');
    assert.deepEqual(
      offered.map((c) => c.getAttribute('Uri')),
      CLAIM_TYPES_OFFERED.map((c) => c.uri),
    );
    for (const c of offered) {
      assert.equal(c.getAttribute('Optional'), 'true');
      assert.deepEqual(
        childElements(c).map((e) => `${e.namespaceURI ?? ''} ${e.localName}`),
        [`${AUTH_NS} DisplayName`, `${AUTH_NS} Description`],
      );
    }
    for (const uri of [
      'http://schemas.xmlsoap.org/claims/UPN',
      'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID',
      'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier',
      'http://schemas.microsoft.com/claims/authnmethodsreferences',
      'http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname',
      'http://schemas.xmlsoap.org/claims/Group',
    ]) {
      assert.ok(
        CLAIM_TYPES_OFFERED.some((c) => c.uri === uri),
        uri,
      );
    }
  });

  it('matches the real AD FS 2016 document in every element and attribute it shares', () => {
    const adfsRoot = parseStrict(
      readRealWorldFixture('adfs2016-federationmetadata.xml'),
    ).documentElement;
    assert.ok(adfsRoot);
    const adfsSts = childElements(adfsRoot, MD_NS, 'RoleDescriptor').find(
      (r) => r.getAttributeNS(XSI_NS, 'type') === 'fed:SecurityTokenServiceType',
    );
    assert.ok(adfsSts);
    const ours = stsRole(xml);

    // Same root element and namespace, and the signature in the same place with the same algorithms.
    const ourRoot = parseStrict(xml).documentElement;
    assert.ok(ourRoot);
    assert.equal(ourRoot.namespaceURI, adfsRoot.namespaceURI);
    assert.equal(childElements(ourRoot)[0]?.localName, childElements(adfsRoot)[0]?.localName);
    const algorithms = (doc: string): string[] =>
      [
        ...doc.matchAll(
          /<ds:(?:CanonicalizationMethod|SignatureMethod|Transform|DigestMethod) Algorithm="([^"]+)"/g,
        ),
      ].map((m) => m[1] ?? '');
    assert.deepEqual(
      algorithms(xml),
      algorithms(readRealWorldFixture('adfs2016-federationmetadata.xml')),
    );

    // RoleDescriptor: same attributes (names and namespaces), same protocolSupportEnumeration.
    const attrs = (e: XElement): string[] =>
      Array.from(e.attributes)
        .filter((a) => a.prefix !== 'xmlns' && a.name !== 'xmlns')
        .map((a) => `${a.namespaceURI ?? ''} ${a.localName}`)
        .sort();
    assert.deepEqual(attrs(ours), attrs(adfsSts));
    assert.equal(
      ours.getAttribute('protocolSupportEnumeration'),
      adfsSts.getAttribute('protocolSupportEnumeration'),
    );

    // Each child kind we emit exists in AD FS's STS RoleDescriptor, in the same relative order, with the
    // same nested structure (element names and namespaces, first two levels below the child).
    const shape = (e: XElement, depth: number): string =>
      `${e.namespaceURI ?? ''} ${e.localName}` +
      (depth === 0
        ? ''
        : `(${[...new Set(childElements(e).map((c) => shape(c, depth - 1)))].join(',')})`);
    const theirKinds = childElements(adfsSts).map((c) => shape(c, 3));
    let j = 0;
    for (const child of childElements(ours)) {
      const s = shape(child, 3);
      while (j < theirKinds.length && theirKinds[j] !== s) j++;
      assert.ok(j < theirKinds.length, `no AD FS counterpart, in order, for ${s}`);
    }

    // The claim types we share with AD FS carry AD FS's display names.
    const adfsNames = new Map(
      adfsSts.getElementsByTagNameNS(AUTH_NS, 'ClaimType').length > 0
        ? Array.from(adfsSts.getElementsByTagNameNS(AUTH_NS, 'ClaimType')).map((c) => [
            c.getAttribute('Uri') ?? '',
            c.getElementsByTagNameNS(AUTH_NS, 'DisplayName')[0]?.textContent ?? '',
          ])
        : [],
    );
    for (const c of CLAIM_TYPES_OFFERED) {
      const theirs = adfsNames.get(c.uri);
      if (theirs !== undefined) assert.equal(c.displayName, theirs, c.uri);
    }
  });

  it('takes every URL from its arguments and normalises the trailing slash', () => {
    for (const publicUrl of [
      'https://login.fabrikam.test',
      'https://login.fabrikam.test/',
      'https://login.fabrikam.test:8443/',
    ]) {
      const doc = buildFederationMetadata(
        options({ publicUrl, issuerUri: 'http://fabrikam.test/adfs/services/trust' }),
      );
      const view = readWsFedMetadata(doc);
      assert.equal(view.passiveRequestorEndpoint, passiveEndpoint(publicUrl));
      assert.equal(view.issuer, 'http://fabrikam.test/adfs/services/trust');
      assert.ok(
        !doc.includes('contoso'),
        'nothing from a previous configuration or a request leaks in',
      );
      // Every non-namespace URL in the document is the configured service.
      const urls = [...doc.matchAll(/>(https?:\/\/[^<]+)</g)].map((m) => m[1] ?? '');
      assert.deepEqual(urls, [passiveEndpoint(publicUrl)]);
    }
    assert.equal(passiveEndpoint('https://a.test//'), 'https://a.test/adfs/ls/');
  });

  it('contains no private key material; the modulus appears only inside the certificates', () => {
    assert.doesNotMatch(xml, /PRIVATE KEY/);
    for (const cred of [current, next]) {
      const jwk = createPublicKey(cred.privateKey).export({ format: 'jwk' });
      const modulus = Buffer.from(jwk.n ?? '', 'base64url');
      const der = Buffer.from(cred.certificateBase64, 'base64');
      const withoutCerts = xml.split(cred.certificateBase64).join('');
      assert.ok(der.includes(modulus), 'control: the certificate holds the modulus');
      for (const enc of [
        modulus.toString('base64'),
        modulus.toString('hex'),
        modulus.toString('hex').toUpperCase(),
        jwk.n ?? '',
      ]) {
        assert.ok(!withoutCerts.includes(enc.slice(0, 40)), 'modulus outside a certificate');
      }
      const jwkPrivate = cred.privateKey.export({ format: 'jwk' });
      for (const part of [
        jwkPrivate.d,
        jwkPrivate.p,
        jwkPrivate.q,
        jwkPrivate.dp,
        jwkPrivate.dq,
        jwkPrivate.qi,
      ]) {
        const bytes = Buffer.from(part ?? '', 'base64url');
        for (const enc of [bytes.toString('base64'), bytes.toString('hex'), part ?? ''])
          assert.ok(!xml.includes(enc.slice(0, 24)));
      }
    }
  });

  it('escapes the display name and keeps it exact, also with XML 1.1 line ends and U+FFFD', () => {
    const displayName = 'Contoso <sign-in> & "more" \u2028 ]]> \ufffd';
    const doc = buildFederationMetadata(options({ displayName, signing: [current] }));
    assert.ok(verifyWithXmlsec1(doc, current.certificatePem, METADATA_ID_ATTR).ok);
    verifyMetadataWithXmlCrypto(doc, current.certificatePem);
    assert.equal(stsRole(doc).getAttribute('ServiceDisplayName'), displayName);
  });

  it('publishes validUntil when given', () => {
    const doc = buildFederationMetadata(options({ validUntil: new Date('2026-02-01T00:00:00Z') }));
    assert.equal(
      parseStrict(doc).documentElement.getAttribute('validUntil'),
      '2026-02-01T00:00:00.000Z',
    );
    verifyMetadataWithXmlCrypto(doc, current.certificatePem);
  });

  it('refuses arguments that would yield an unusable document', () => {
    for (const bad of [
      options({ signing: [] }),
      options({ id: '1abc' }),
      options({ id: '_a"b' }),
      options({ issuerUri: '' }),
      options({ displayName: 'a\u0000' }),
      options({ publicUrl: 'sts.contoso.test' }),
      options({ publicUrl: 'ftp://sts.contoso.test' }),
      options({ publicUrl: 'https://sts.contoso.test/?x=1' }),
      options({ validUntil: new Date(Number.NaN) }),
    ]) {
      assert.throws(() => buildFederationMetadata(bad), Error);
    }
  });
});
