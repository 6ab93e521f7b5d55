// keys.pkcs11 end to end (issue 18, Custody): a node configured with a SoftHSM2 token generates its first
// token-signing key inside the token on first start, signs Entra-shaped WS-Fed tokens there, and rolls over to a
// second HSM key; keys.dir holds certificates and the manifest only, never a private key. Tokens and metadata are
// checked with xmlsec1 against the certificate published in the metadata, as Entra would read it.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { FixedClock } from '../../server/lib/clock.ts';
import { hidden, makeTestApp, signIn, type TestApp } from '../helpers/app.ts';
import { startSoftHsm, type SoftHsm } from '../helpers/softhsm.ts';
import {
  METADATA_ID_ATTR,
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  verifyWithXmlsec1,
} from '../helpers/verify.ts';

const PIN = '246810';
const DAY = 86_400_000;
let hsm: SoftHsm;

before(() => {
  hsm = startSoftHsm([{ label: 'fedgate-signing', pin: PIN }]);
});
after(() => {
  hsm.remove();
});

async function metadata(t: TestApp): Promise<string> {
  const res = await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml');
  assert.equal(res.status, 200);
  return res.text;
}

async function token(t: TestApp): Promise<string> {
  const { res } = await signIn(t.app, {
    username: 'alice@fedgate.test',
    password: 'Passw0rd!',
    realm: 'urn:fedgate:test',
  });
  assert.equal(res.status, 200, res.text.slice(0, 300));
  return extractAssertionFromRstr(hidden(res.text, 'wresult'));
}

test('keys.pkcs11: the first key is made in the HSM, tokens are signed there and verify with xmlsec1; a rollover makes the next key in the HSM too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-hsm-config-'));
  const pinFile = join(dir, 'pin');
  writeFileSync(pinFile, `${PIN}\n`);
  chmodSync(pinFile, 0o600);
  const keysDir = join(dir, 'keys');
  const clock = new FixedClock('2026-05-01T09:00:00Z');
  const t = await makeTestApp(
    {
      keys: {
        dir: keysDir,
        pkcs11: { module: hsm.module, tokenLabel: 'fedgate-signing', pinFile },
      },
    },
    { clock },
  );
  try {
    assert.equal(t.services.signing.custody, 'pkcs11');
    assert.equal(t.services.signing.privateKey, undefined, 'no key object in the process');
    const files = readdirSync(keysDir);
    assert.deepEqual(
      files.filter((f) => f.startsWith('token-signing') && f.endsWith('.key.pem')),
      [],
      `no private key file in keys.dir (${files.join(', ')})`,
    );
    const manifest = JSON.parse(readFileSync(join(keysDir, 'token-signing.json'), 'utf8')) as {
      keys: { role: string; pkcs11Label?: string }[];
    };
    assert.equal(manifest.keys.length, 1);
    assert.match(manifest.keys[0]?.pkcs11Label ?? '', /^fedgate-signing-/);

    // Entra's view: the certificate from the metadata checks the metadata and the token.
    const meta1 = await metadata(t);
    const [cert1] = certFromMetadata(meta1);
    assert.ok(cert1 !== undefined);
    assert.ok(verifyWithXmlsec1(meta1, cert1, METADATA_ID_ATTR).ok, 'metadata verifies');
    const v1 = verifyWithXmlsec1(await token(t), cert1, SAML11_ID_ATTR);
    assert.ok(v1.ok, v1.output);

    // A rollover: the next key is generated in the token, published, then signs.
    clock.advance(30 * DAY);
    await t.services.keyLifecycle.generateNow();
    const meta2 = await metadata(t);
    const certs2 = certFromMetadata(meta2);
    assert.equal(certs2.length, 2, 'primary and next published');
    assert.equal(certs2[0], cert1);
    await t.services.keyLifecycle.promoteNow();
    const meta3 = await metadata(t);
    const [cert3] = certFromMetadata(meta3);
    assert.ok(cert3 !== undefined && cert3 !== cert1, 'a new primary');
    assert.ok(verifyWithXmlsec1(meta3, cert3, METADATA_ID_ATTR).ok);
    const tok = await token(t);
    assert.ok(verifyWithXmlsec1(tok, cert3, SAML11_ID_ATTR).ok, 'signed by the new HSM key');
    assert.equal(verifyWithXmlsec1(tok, cert1, SAML11_ID_ATTR).ok, false, 'not by the old one');
    assert.equal(t.services.signing.custody, 'pkcs11');
    assert.deepEqual(
      readdirSync(keysDir).filter((f) => f.endsWith('.key.pem')),
      [],
      'still no private key file',
    );

    // The HSM stops answering (here: its sessions are closed under the node): a sign-in ends in a deliberate 503
    // page with the activity id, never a 500, a stack trace or a token signed some other way.
    t.services.keys.close();
    const { res } = await signIn(t.app, {
      username: 'alice@fedgate.test',
      password: 'Passw0rd!',
      realm: 'urn:fedgate:test',
    });
    assert.equal(res.status, 503, res.text.slice(0, 300));
    assert.doesNotMatch(res.text, /wresult/);
    assert.doesNotMatch(res.text, /\n\s+at /);
    assert.match(res.text, /temporarily unavailable/);
  } finally {
    await t.close();
  }
});
