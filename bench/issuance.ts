/**
 * Issuance per core: how many signed tokens one core produces, next to the floor (one raw RSA-2048 SHA-256
 * signature over the same number of bytes) and to peer libraries building the same kind of token.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { createRequire } from 'node:module';
import { SignedXml } from 'xml-crypto';
import * as samlify from 'samlify';
import {
  createSelfSignedCertificate,
  describeCertificate,
  generateRsaKey,
  oneYearValidity,
  privateKeyToPem,
} from '../server/keys/index.ts';
import { fileSigningCredential, type FileSigningCredential } from '../server/keys/credential.ts';
import { toSaml11Model } from '../server/tokens/saml11-model.ts';
import {
  ClaimTypes,
  NameIdFormatProperty,
  NameIdFormats,
  type Claim,
} from '../server/claims/types.ts';
import {
  writeCanonicalSaml11Assertion,
  writeSignedSaml11Assertion,
  writeSignedSaml2Response,
  writeWsFedRstr,
} from '../server/tokens/index.ts';
import { entraSaml2Assertion, entraSaml2Response } from '../tests/fixtures/tokens/saml2.ts';
import type { DirectoryUser } from '../server/directory/types.ts';
import { compare, type Rate } from './lib.ts';

const require = createRequire(import.meta.url);
// Auth0's `saml` package (what node-wsfed uses): CommonJS, no types.
const saml11 = (require('saml') as { Saml11: { create(opts: Record<string, unknown>): string } })
  .Saml11;

export interface IssuanceResult {
  bytes: number;
  rates: Rate[];
}

async function credential(): Promise<FileSigningCredential & { keyPem: string }> {
  const privateKey = await generateRsaKey();
  const certificatePem = await createSelfSignedCertificate({
    privateKey,
    commonName: 'fedgate Signing - bench.test',
    purpose: 'signing',
    ...oneYearValidity(new Date()),
    serial: Buffer.alloc(16, 7),
  });
  return {
    ...fileSigningCredential(privateKey, describeCertificate(certificatePem)),
    keyPem: privateKeyToPem(privateKey),
  };
}

const user: DirectoryUser = {
  dn: 'CN=John Doe,CN=Users,DC=corp,DC=example,DC=test',
  objectGuid: Buffer.from('1TIu064jGEmmf+hnI+F0Jg==', 'base64'),
  immutableId: '1TIu064jGEmmf+hnI+F0Jg==',
  sAMAccountName: 'jdoe',
  userPrincipalName: 'jdoe@corp.example.test',
  netbiosDomain: 'CORP',
  windowsAccountName: 'CORP\\jdoe',
  groups: [],
  enabled: true,
};

// What metadata/microsoft365.rules issues for this user (the claims step itself is measured end to end in
// e2e.ts; this benchmark isolates token writing and signing).
const m365Claims: Claim[] = [
  { type: ClaimTypes.upn, value: user.userPrincipalName ?? '' },
  { type: ClaimTypes.immutableId, value: user.immutableId },
  {
    type: ClaimTypes.nameIdentifier,
    value: user.immutableId,
    properties: { [NameIdFormatProperty]: NameIdFormats.unspecified },
  },
  {
    type: ClaimTypes.authnMethodsReferences,
    value: 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password',
  },
];

export async function issuanceBench(opts: { rounds: number; ms: number }): Promise<IssuanceResult> {
  const cred = await credential();
  const now = new Date();
  let counter = 0;
  const model = () =>
    toSaml11Model({
      claims: m365Claims,
      assertionId: `_bench-${++counter}`,
      issuer: 'http://sts.corp.example.test/adfs/services/trust',
      audience: 'urn:federation:MicrosoftOnline',
      now,
      lifetimeMinutes: 60,
      authMethod: 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password',
      authInstant: now,
    });

  const fedgateWsFed = () => {
    const m = model();
    const assertionXml = writeSignedSaml11Assertion(m, cred);
    return writeWsFedRstr({
      assertionXml,
      appliesTo: m.audience,
      created: now,
      expires: m.notOnOrAfter,
    });
  };
  const sample = fedgateWsFed();
  const bytes = Buffer.byteLength(sample);
  const payload = Buffer.alloc(bytes, 0x61);
  const keyObject = createPrivateKey(cred.keyPem);

  // fedgate SAML 2.0: the SP-Lite Response Entra expects (assertion signed), base64 for the POST binding,
  // with fresh IDs per token like samlify's row.
  const fedgateSaml2 = () => {
    const id = `_bench-${++counter}`;
    const assertion = entraSaml2Assertion({
      assertionId: id,
      issueInstant: now,
      notBefore: now,
      notOnOrAfter: new Date(now.getTime() + 3600_000),
      subjectConfirmation: {
        recipient: 'https://login.microsoftonline.com/login.srf',
        notOnOrAfter: new Date(now.getTime() + 300_000),
      },
      authn: {
        instant: now,
        sessionIndex: id,
        contextClassRef: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
      },
    });
    const xml = writeSignedSaml2Response(
      entraSaml2Response({ responseId: `${id}-r`, issueInstant: now }, assertion),
      cred,
    );
    return Buffer.from(xml, 'utf8').toString('base64');
  };

  // (b) The straightforward xml-crypto build: the same unsigned assertion, signed by SignedXml.
  const xmlCryptoWsFed = () => {
    const m = model();
    const unsigned = writeCanonicalSaml11Assertion(m);
    const sx = new SignedXml({
      privateKey: cred.keyPem,
      publicCert: cred.certificatePem,
      idAttribute: 'AssertionID',
      signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
      canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
    });
    sx.addReference({
      xpath: "/*[local-name(.)='Assertion']",
      transforms: [
        'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
        'http://www.w3.org/2001/10/xml-exc-c14n#',
      ],
      digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
    });
    sx.computeSignature(unsigned, {
      prefix: 'ds',
      location: { reference: "/*[local-name(.)='Assertion']", action: 'append' },
    });
    return writeWsFedRstr({
      assertionXml: sx.getSignedXml(),
      appliesTo: m.audience,
      created: now,
      expires: m.notOnOrAfter,
    });
  };

  // (c) samlify's IdP login response (SAML 2.0, assertion signed with RSA-SHA256).
  samlify.setSchemaValidator({ validate: () => Promise.resolve('not parsing in this benchmark') });
  const idp = samlify.IdentityProvider({
    entityID: 'http://sts.corp.example.test/adfs/services/trust',
    privateKey: cred.keyPem,
    signingCert: cred.certificatePem,
    requestSignatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    singleSignOnService: [
      {
        Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
        Location: 'https://sts.corp.example.test/adfs/ls/',
      },
    ],
  });
  const sp = samlify.ServiceProvider({
    entityID: 'urn:federation:MicrosoftOnline',
    wantAssertionsSigned: true,
    assertionConsumerService: [
      {
        Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
        Location: 'https://login.microsoftonline.com/login.srf',
      },
    ],
  });
  const samlifyResponse = () =>
    idp.createLoginResponse(sp, { extract: { request: { id: `_req${++counter}` } } }, 'post', {
      email: 'jdoe@corp.example.test',
    });

  // (d) Auth0's `saml` package, SAML 1.1 assertion (xml-crypto 2.x inside), wrapped in the same RSTR.
  const samlPackage = () => {
    const assertionXml = saml11.create({
      cert: Buffer.from(cred.certificatePem),
      key: Buffer.from(cred.keyPem),
      issuer: 'http://sts.corp.example.test/adfs/services/trust',
      lifetimeInSeconds: 3600,
      audiences: 'urn:federation:MicrosoftOnline',
      nameIdentifier: user.immutableId,
      attributes: {
        'http://schemas.xmlsoap.org/claims/UPN': user.userPrincipalName,
        'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID': user.immutableId,
      },
      signatureAlgorithm: 'rsa-sha256',
      digestAlgorithm: 'sha256',
    });
    return writeWsFedRstr({
      assertionXml,
      appliesTo: 'urn:federation:MicrosoftOnline',
      created: now,
      expires: now,
    });
  };

  // Fair comparison: every candidate must really produce a signed token (checked once, outside the timing).
  const signedCount = (xml: string) => (xml.match(/SignatureValue>/g) ?? []).length / 2;
  const samlifyXml = Buffer.from(
    ((await samlifyResponse()) as { context: string }).context,
    'base64',
  ).toString('utf8');
  for (const [name, xml] of [
    ['fedgate', sample],
    ['fedgate SAML 2.0', Buffer.from(fedgateSaml2(), 'base64').toString('utf8')],
    ['xml-crypto', xmlCryptoWsFed()],
    ['samlify', samlifyXml],
    ['saml', samlPackage()],
  ] as const) {
    if (signedCount(xml) < 1) throw new Error(`benchmark candidate ${name} produced no signature`);
  }

  const rates = await compare(
    [
      {
        name: 'raw crypto.sign RSA-2048 SHA-256 (the limit)',
        fn: () => sign('sha256', payload, keyObject),
      },
      { name: 'fedgate WS-Fed (RSTR + signed SAML 1.1)', fn: fedgateWsFed },
      { name: 'fedgate SAML 2.0 Response (signed assertion, base64)', fn: fedgateSaml2 },
      { name: 'xml-crypto SignedXml, same SAML 1.1 assertion', fn: xmlCryptoWsFed },
      { name: 'samlify IdP login response (SAML 2.0)', fn: samlifyResponse },
      { name: '`saml` package SAML 1.1 (node-wsfed)', fn: samlPackage },
    ],
    opts,
  );
  return { bytes, rates };
}
