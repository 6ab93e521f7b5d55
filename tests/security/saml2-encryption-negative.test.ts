import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { RpError, checkSamlTrusts, rpAdd } from '../../server/cli/rp.ts';
import { resolveConfig } from '../../server/config/load.ts';
import {
  EMAIL,
  IDP_SSO,
  ISSUER,
  SP_KEY,
  getAndSignIn,
  postedSaml,
  samlApp,
  spMetadata,
  standardSp,
  writeTrusts,
} from '../fixtures/saml2/harness.ts';
import { EC_CERT, ENC_CERT, ENC_KEY, withEncryptionKey } from '../fixtures/saml2/encryption.ts';

// Assertion encryption, the failure side (issue 5 §2): no key = a plain signed assertion (never an error, never
// an attempt to encrypt to something else); a trust that demands encryption without a usable key is refused
// when it loads, with the reason; the encrypted Response carries no attribute value or NameID in clear; a
// metadata refresh that loses the key keeps the last good trust rather than falling back to plaintext.

const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';

function entity(n: string): { id: string; acs: string } {
  return {
    id: `https://neg-${n}.fedgate.test/saml`,
    acs: `https://neg-${n}.fedgate.test/saml/acs`,
  };
}
const PLAIN = entity('plain');
const OFF = entity('off');
const FORCED = entity('forced');
const REFRESH = entity('refresh');

function metadata(e: { id: string; acs: string }, cert?: string, methods?: string[]): string {
  const xml = spMetadata(
    standardSp({
      entityId: e.id,
      acs: [{ location: e.acs, index: 0, isDefault: true }],
      authnRequestsSigned: true,
    }),
  );
  return cert === undefined ? xml : withEncryptionKey(xml, cert, { methods: methods ?? [] });
}

type App = Awaited<ReturnType<typeof samlApp>>;

function client(t: App, e: { id: string; acs: string }, decrypt: boolean): SAML {
  return new SAML({
    entryPoint: IDP_SSO,
    callbackUrl: e.acs,
    issuer: e.id,
    audience: e.id,
    idpCert: t.idpCert,
    idpIssuer: ISSUER,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: false,
    privateKey: SP_KEY,
    ...(decrypt ? { decryptionPvk: ENC_KEY } : {}),
    signatureAlgorithm: 'sha256',
    identifierFormat: EMAIL,
    validateInResponseTo: ValidateInResponseTo.always,
    acceptedClockSkewMs: 0,
  });
}

async function responseFor(
  t: App,
  c: SAML,
  e: { acs: string },
): Promise<{ b64: string; xml: string }> {
  const { res } = await getAndSignIn(t.app, await c.getAuthorizeUrlAsync('', undefined, {}));
  assert.equal(res.status, 200, res.text.slice(0, 400));
  const posted = postedSaml(res.text);
  assert.equal(posted.action, e.acs);
  const b64 = posted.SAMLResponse ?? '';
  return { b64, xml: Buffer.from(b64, 'base64').toString('utf8') };
}

function count(xml: string, localName: string): number {
  return (xml.match(new RegExp(`<saml:${localName}[ >]`, 'g')) ?? []).length;
}

describe('SAML 2.0 assertion encryption: negative cases', () => {
  let t: App;
  before(async () => {
    t = await samlApp([
      { file: 'plain', metadataXml: metadata(PLAIN), trust: { nameIdFormat: EMAIL } },
      {
        file: 'off',
        metadataXml: metadata(OFF, ENC_CERT),
        trust: { nameIdFormat: EMAIL, encryptAssertion: false },
      },
      {
        file: 'forced',
        metadataXml: metadata(FORCED, ENC_CERT),
        trust: { nameIdFormat: EMAIL, encryptAssertion: true },
      },
      {
        file: 'refresh',
        metadataXml: metadata(REFRESH, ENC_CERT),
        trust: { nameIdFormat: EMAIL, encryptAssertion: true },
      },
    ]);
  });
  after(async () => {
    await t.close();
  });

  test('an SP without an encryption key gets a plain signed assertion (node-saml without a decryption key accepts it)', async () => {
    const c = client(t, PLAIN, false);
    const { b64, xml } = await responseFor(t, c, PLAIN);
    assert.equal(count(xml, 'Assertion'), 1);
    assert.equal(count(xml, 'EncryptedAssertion'), 0);
    const { profile } = await c.validatePostResponseAsync({ SAMLResponse: b64 });
    assert.equal(profile?.nameID, 'alice@fedgate.test');
    assert.equal(t.logs.events('token_issued').at(-1)?.encrypted, false);
  });

  test('encryptAssertion: false sends a plain signed assertion even though the SP has a key', async () => {
    const c = client(t, OFF, false);
    const { b64, xml } = await responseFor(t, c, OFF);
    assert.equal(count(xml, 'EncryptedAssertion'), 0);
    assert.equal(count(xml, 'Assertion'), 1);
    const { profile } = await c.validatePostResponseAsync({ SAMLResponse: b64 });
    assert.equal(profile?.nameID, 'alice@fedgate.test');
  });

  test('the encrypted Response carries no NameID, attribute value, audience or session index in clear', async () => {
    const c = client(t, FORCED, true);
    const { b64, xml } = await responseFor(t, c, FORCED);
    const { profile } = await c.validatePostResponseAsync({ SAMLResponse: b64 });
    assert.ok(profile);
    const secrets = new Set<string>([profile.nameID, profile.sessionIndex ?? '']);
    for (const [k, v] of Object.entries(profile))
      if (k.startsWith('http'))
        for (const x of [v].flat()) if (typeof x === 'string') secrets.add(x);
    secrets.delete('');
    assert.ok(secrets.size >= 6, `attribute values read: ${[...secrets].join(', ')}`);
    for (const s of secrets) assert.ok(!xml.includes(s), `"${s}" appears in clear in the Response`);
    assert.ok(!xml.includes('Alice') && !xml.includes('alice'));
    assert.ok(!xml.includes(`<saml:Audience>`) && !xml.includes('AttributeValue'));
    assert.equal(count(xml, 'Assertion'), 0);
    assert.ok(!xml.includes(`xmlns:saml="${SAML_NS}" ID=`), 'no assertion element');
  });

  test('a ciphertext altered in transit is refused by the SP (AES-GCM authentication tag)', async () => {
    const c = client(t, FORCED, true);
    const { xml } = await responseFor(t, c, FORCED);
    const values = [...xml.matchAll(/<xenc:CipherValue>([^<]+)<\/xenc:CipherValue>/g)].map(
      (m) => m[1]!,
    );
    assert.equal(values.length, 2, 'wrapped key and content');
    const content = Buffer.from(values[1]!, 'base64');
    content[20] = content[20]! ^ 0x01; // a bit inside the ciphertext, after the 12-byte IV
    const tampered = xml.replace(values[1]!, content.toString('base64'));
    assert.notEqual(tampered, xml);
    await assert.rejects(
      c.validatePostResponseAsync({ SAMLResponse: Buffer.from(tampered).toString('base64') }),
      /unable to authenticate data/,
    );
  });

  test('a metadata refresh that drops the encryption key of a trust that requires encryption keeps the last good copy', async () => {
    writeFileSync(join(t.trustsDir, 'refresh.metadata.xml'), metadata(REFRESH));
    await t.services.samlTrusts.load(false);
    const failed = t.logs.events('saml_metadata_refresh_failed').at(-1);
    assert.equal(failed?.entityId, REFRESH.id);
    assert.equal(failed.keptLastGood, true);
    assert.match(
      String(failed.reason),
      /encryptAssertion is true but the SP metadata has no encryption certificate/,
    );
    const c = client(t, REFRESH, true);
    const { b64, xml } = await responseFor(t, c, REFRESH);
    assert.equal(count(xml, 'EncryptedAssertion'), 1);
    const { profile } = await c.validatePostResponseAsync({ SAMLResponse: b64 });
    assert.equal(profile?.nameID, 'alice@fedgate.test');
  });
});

describe('SAML 2.0 assertion encryption: configuration errors are reported when the trust loads', () => {
  const cases: { name: string; xml: string; trust: Record<string, unknown>; error: RegExp }[] = [
    {
      name: 'encryption forced on, SP metadata without an encryption key',
      xml: metadata(entity('cfg-nokey')),
      trust: { encryptAssertion: true },
      error:
        /cfg\.yaml: encryptAssertion is true but the SP metadata has no encryption certificate \(KeyDescriptor use="encryption" or without use\)/,
    },
    {
      name: 'encryption key is not RSA (EC P-256)',
      xml: metadata(entity('cfg-ec'), EC_CERT),
      trust: {},
      error:
        /cfg\.yaml: the SP encryption certificate has a ec key; .*RSA-OAEP.*encryptAssertion: false/,
    },
    {
      name: 'SP lists only aes128-cbc, trust allows aes256-gcm',
      xml: metadata(entity('cfg-alg'), ENC_CERT, ['http://www.w3.org/2001/04/xmlenc#aes128-cbc']),
      trust: {},
      error:
        /cfg\.yaml: the SP metadata lists content encryption http:\/\/www\.w3\.org\/2001\/04\/xmlenc#aes128-cbc and none of them is in encryptionAlgorithms \(aes256-gcm\)/,
    },
    {
      name: 'an unknown algorithm name in encryptionAlgorithms',
      xml: metadata(entity('cfg-name'), ENC_CERT),
      trust: { encryptionAlgorithms: ['aes128-cbc'] },
      error: /cfg\.yaml: encryptionAlgorithms\.0: /,
    },
  ];
  for (const c of cases)
    test(c.name, async () => {
      await assert.rejects(
        samlApp([{ file: 'cfg', metadataXml: c.xml, trust: { nameIdFormat: EMAIL, ...c.trust } }]),
        (e: unknown) => {
          assert.ok(e instanceof Error);
          assert.match(e.message, /^SAML trust /);
          assert.match(e.message, c.error);
          return true;
        },
      );
    });
});

describe('fedgate rp add checks assertion encryption before writing the trust', () => {
  test('reports the algorithm for an SP with an RSA key; refuses an EC-only encryption key and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-rp-enc-'));
    const config = resolveConfig(
      { hostname: 'sts.fedgate.test', listen: { tls: 'off' } },
      { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
    );
    writeFileSync(join(dir, 'rsa.xml'), metadata(entity('rp-rsa'), ENC_CERT));
    writeFileSync(join(dir, 'ec.xml'), metadata(entity('rp-ec'), EC_CERT));
    const out = await rpAdd(config, { metadata: join(dir, 'rsa.xml') });
    assert.match(out, /assertion encryption: aes256-gcm to the metadata's encryption key/);
    await assert.rejects(
      rpAdd(config, { metadata: join(dir, 'ec.xml') }),
      (e: unknown) =>
        e instanceof RpError &&
        /the metadata is not usable: the SP encryption certificate has a ec key/.test(e.message),
    );
    assert.deepEqual(readdirSync(join(dir, 'metadata/trusts')).sort(), [
      'neg-rp-rsa-fedgate-test-saml.metadata.xml',
      'neg-rp-rsa-fedgate-test-saml.yaml',
    ]);
  });
});

describe('fedgate check reports a trust that requires encryption without a key', () => {
  test('checkSamlTrusts names the file and the reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-check-enc-'));
    const trustsDir = writeTrusts(
      [
        {
          file: 'forced',
          metadataXml: metadata(entity('check-nokey')),
          trust: { encryptAssertion: true },
        },
        { file: 'fine', metadataXml: metadata(entity('check-ok'), ENC_CERT), trust: {} },
      ],
      dir,
    );
    const config = resolveConfig(
      { hostname: 'sts.fedgate.test', listen: { tls: 'off' }, saml2: { trustsDir } },
      { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
    );
    const r = checkSamlTrusts(config);
    assert.equal(r.count, 2);
    assert.equal(r.problems.length, 1, r.problems.join('\n'));
    assert.match(
      r.problems[0] ?? '',
      /forced\.yaml: \(bad trust: encryptAssertion is true but the SP metadata has no encryption certificate/,
    );
  });
});
