import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { SignedXml } from 'xml-crypto';
import { stringify } from 'yaml';
import { FixedClock } from '../../server/lib/clock.ts';
import {
  ATTACKER_KEY,
  EMAIL,
  SP_CERT,
  SP_KEY,
  samlApp,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';

// Trusts from metadata (issue 5 §6): a trust file naming SP metadata by URL, signature-checked against a
// pinned certificate, refreshed without a restart; a bad refresh keeps the last good copy and logs an
// error; trust files added and removed take effect at the next refresh.

const URL_SP = 'https://url-sp.fedgate.test';

function signedMetadata(acs: string, key = SP_KEY): string {
  const xml = spMetadata(
    standardSp({
      entityId: URL_SP,
      acs: [{ location: acs, index: 0, isDefault: true }],
      cacheDuration: 'PT1H',
    }),
  ).replace('<md:EntityDescriptor ', '<md:EntityDescriptor ID="_md1" ');
  const sx = new SignedXml({
    privateKey: key,
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sx.addReference({
    xpath: "/*[local-name()='EntityDescriptor']",
    transforms: [
      'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
      'http://www.w3.org/2001/10/xml-exc-c14n#',
    ],
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
  });
  sx.computeSignature(xml, {
    prefix: 'ds',
    location: { reference: "/*[local-name()='EntityDescriptor']", action: 'prepend' },
  });
  return sx.getSignedXml();
}

describe('SAML 2.0 trusts from metadata files and URLs', () => {
  let served = signedMetadata('https://url-sp.fedgate.test/acs-v1');
  let server: Server;
  let base: string;
  let t: Awaited<ReturnType<typeof samlApp>>;
  const clock = new FixedClock(new Date());
  before(async () => {
    server = createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/samlmetadata+xml');
      res.end(served);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await samlApp(
      [{ file: 'file-sp', metadataXml: spMetadata(standardSp()), trust: { nameIdFormat: EMAIL } }],
      { saml2: { metadataRefreshMinutes: 60 } },
      { clock },
    );
    // A URL trust with a pinned metadata-signing certificate, added while running.
    writeFileSync(join(t.trustsDir, 'md-signer.pem'), SP_CERT);
    writeFileSync(
      join(t.trustsDir, 'url-sp.yaml'),
      stringify({
        name: 'URL SP',
        metadata: `${base}/md.xml`,
        metadataCertificate: 'md-signer.pem',
      }),
    );
  });
  after(async () => {
    await t.close();
    await new Promise((r) => server.close(r));
  });

  const acsOf = (id: string): string[] | undefined =>
    t.services.trusts.find(id)?.saml?.metadata.assertionConsumerServices.map((a) => a.location);

  test('a trust file added while running is picked up at the next refresh', async () => {
    assert.equal(acsOf(URL_SP), undefined);
    await t.services.samlTrusts.load(false);
    assert.deepEqual(acsOf(URL_SP), ['https://url-sp.fedgate.test/acs-v1']);
    assert.ok(t.services.samlTrusts.list().some((l) => l.entityId === URL_SP));
  });

  test('URL metadata is refreshed when due (cacheDuration), not before', async () => {
    served = signedMetadata('https://url-sp.fedgate.test/acs-v2');
    await t.services.samlTrusts.load(false);
    assert.deepEqual(acsOf(URL_SP), ['https://url-sp.fedgate.test/acs-v1'], 'not due yet');
    clock.advance(61 * 60_000);
    await t.services.samlTrusts.load(false);
    assert.deepEqual(acsOf(URL_SP), ['https://url-sp.fedgate.test/acs-v2']);
  });

  test('a refresh that fails (bad XML, wrong signer) keeps the last good copy and logs an error', async () => {
    served = '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"><oops>';
    clock.advance(61 * 60_000);
    await t.services.samlTrusts.load(false);
    assert.deepEqual(acsOf(URL_SP), ['https://url-sp.fedgate.test/acs-v2']);
    served = signedMetadata('https://evil.example/acs', ATTACKER_KEY);
    clock.advance(61 * 60_000);
    await t.services.samlTrusts.load(false);
    assert.deepEqual(acsOf(URL_SP), ['https://url-sp.fedgate.test/acs-v2']);
    const errors = t.logs.events('saml_metadata_refresh_failed');
    assert.equal(errors.length, 2);
    assert.ok(errors.every((e) => e.keptLastGood === true && e.level === 50));
    assert.match(String(errors[1]?.reason), /signature/);
  });

  test('removing a trust file removes the trust; requests naming it are refused', async () => {
    rmSync(join(t.trustsDir, 'url-sp.yaml'));
    await t.services.samlTrusts.load(false);
    assert.equal(t.services.trusts.find(URL_SP), undefined);
    const req =
      `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x1" Version="2.0" IssueInstant="${clock.now().toISOString()}">` +
      `<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">${URL_SP}</saml:Issuer></samlp:AuthnRequest>`;
    const res = await request(t.app)
      .post('/adfs/ls/')
      .type('form')
      .send({ SAMLRequest: Buffer.from(req).toString('base64') });
    assert.equal(res.status, 400);
    assert.match(res.text, /not known/);
  });

  test('a trust file with bad metadata stops startup with a clear message', async () => {
    await assert.rejects(
      samlApp([{ file: 'broken', metadataXml: '<!DOCTYPE x><x/>', trust: {} }]),
      /SAML trust .*broken\.yaml: .*DOCTYPE/,
    );
    await assert.rejects(
      samlApp([
        {
          file: 'http-acs',
          metadataXml: spMetadata(
            standardSp({ acs: [{ location: 'http://sp.example/acs', index: 0 }] }),
          ),
          trust: {},
        },
      ]),
      /must be https/,
    );
  });
});
