/**
 * Interop: metadata built from key-store credentials (current + next), consumed the way a relying party
 * such as Entra ID consumes it — take the signing certificates from the STS RoleDescriptor, verify the
 * document, then verify tokens with those certificates — using xml-crypto and xmlsec1. The same verifiers
 * are first shown to accept a real AD FS 2016 metadata document (positive control for the wiring).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SIGNING_CERT_FILE, loadOrCreateSigningCredential } from '../../server/keys/store.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { buildFederationMetadata } from '../../server/protocols/metadata/federation-metadata.ts';
import { writeSignedSaml11Assertion } from '../../server/tokens/saml11.ts';
import { entraModel, readRealWorldFixture } from '../fixtures/tokens/credentials.ts';
import {
  METADATA_ID_ATTR,
  SAML11_ID_ATTR,
  certFromMetadata,
  readWsFedMetadata,
  verifyMetadataWithXmlCrypto,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
} from '../helpers/verify.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedgate-md-interop-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('federation metadata interop', () => {
  it('positive control: both verifiers accept real AD FS 2016 metadata with its own certificate', () => {
    const adfs = readRealWorldFixture('adfs2016-federationmetadata.xml');
    const view = readWsFedMetadata(adfs);
    assert.equal(view.issuer, 'http://fs.msidlab11.com/adfs/services/trust');
    assert.equal(view.passiveRequestorEndpoint, 'https://fs.msidlab11.com/adfs/ls/');
    assert.ok(
      view.activeTokenEndpoint?.startsWith('https://fs.msidlab11.com/adfs/services/trust/'),
    );
    const [cert] = certFromMetadata(adfs);
    assert.ok(cert);
    assert.equal(verifyMetadataWithXmlCrypto(adfs, cert).entityId, view.issuer);
    const r = verifyWithXmlsec1(adfs, cert, METADATA_ID_ATTR);
    assert.ok(r.ok, r.output);
  });

  it('an RP that trusts our metadata verifies it and then our tokens with the published certificate', async () => {
    const clock = new FixedClock('2026-05-01T12:00:00.000Z');
    const current = await loadOrCreateSigningCredential({
      dir: join(dir, 'current'),
      hostname: 'sts.contoso.test',
      clock,
    });
    const next = await loadOrCreateSigningCredential({
      dir: join(dir, 'next'),
      hostname: 'sts.contoso.test',
      clock,
    });
    const xml = buildFederationMetadata({
      issuerUri: 'http://sts.contoso.test/adfs/services/trust',
      publicUrl: 'https://sts.contoso.test',
      displayName: 'Contoso',
      signing: [current, next],
      id: `_${randomUUID()}`,
    });

    // What the RP learns, and that it is exactly what is on disk.
    const certs = certFromMetadata(xml);
    assert.deepEqual(certs, [
      readFileSync(join(dir, 'current', SIGNING_CERT_FILE), 'utf8'),
      readFileSync(join(dir, 'next', SIGNING_CERT_FILE), 'utf8'),
    ]);
    const [published] = certs;
    assert.ok(published);

    // The document verifies with the published current certificate, in both verifiers.
    assert.equal(
      verifyMetadataWithXmlCrypto(xml, published).entityId,
      'http://sts.contoso.test/adfs/services/trust',
    );
    const r = verifyWithXmlsec1(xml, published, METADATA_ID_ATTR);
    assert.ok(r.ok, r.output);

    // Tokens issued with the current key verify against it; and after rollover, against the next one.
    const token = writeSignedSaml11Assertion(
      entraModel({ issuer: readWsFedMetadata(xml).issuer }),
      current,
    );
    assert.equal(
      verifySaml11WithXmlCrypto(token, published).issuer,
      'http://sts.contoso.test/adfs/services/trust',
    );
    assert.ok(verifyWithXmlsec1(token, published, SAML11_ID_ATTR).ok);
    const rolled = writeSignedSaml11Assertion(entraModel(), next);
    assert.ok(verifyWithXmlsec1(rolled, certs[1] ?? '', SAML11_ID_ATTR).ok);
    assert.throws(() => verifySaml11WithXmlCrypto(rolled, published));
  });
});
