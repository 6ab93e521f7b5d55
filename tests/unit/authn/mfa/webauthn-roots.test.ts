// WebAuthn attestation roots (mfa.webauthn.attestationRootsFile, issue 16). With attestation direct, the AAGUID
// allow-list is only as good as the attestation certificate naming the model: anyone can mint a certificate that
// says "YubiKey". These tests mint exactly that — a software "packed" attestation (WebAuthn §8.2) with a P-256
// credential key and an attestation certificate from a test CA (tests/helpers/webauthn.ts, @peculiar/x509) — and
// check that, with roots configured, only a chain to one of them enrols (§7.1 step 22). Each refusal has a
// control that differs only in the roots. The last part runs Chromium's virtual authenticator, whose batch
// certificate chains to Chromium's own test root, not to ours.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  registrationOptions,
  verifyRegistration,
  webAuthnSettings,
  type WebAuthnSettings,
} from '../../../../server/authn/mfa/webauthn.ts';
import { ConfigError, resolveConfig } from '../../../../server/config/load.ts';
import type { ConfigInput } from '../../../../server/config/schema.ts';
import { makeTestApp } from '../../../helpers/app.ts';
import { launchChromium, mapHostsToLoopback, siteCertificate } from '../../../helpers/browser.ts';
import {
  addVirtualAuthenticator,
  attestationCa,
  attestationCertificate,
  packedRegistration,
  repoRoot,
  runCeremony,
  WebAuthnHarness,
  type AttestationCa,
} from '../../../helpers/webauthn.ts';

const HOST = 'login.fedgate.test';
const ORIGIN = `https://${HOST}`;
/** The model the software authenticator claims to be, and the only one allowed. */
const AAGUID = 'cb69481e-8ff7-4039-93ec-0a2729a154a8';
const USER = { id: Buffer.alloc(16, 7), name: 'alice@fedgate.test', displayName: 'Alice' };

let dir: string;
let vendor: AttestationCa;
/** Another CA with the very same name as the vendor's: only its key tells it apart. */
let impostor: AttestationCa;
let unrelated: AttestationCa;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fedgate-webauthn-roots-'));
  vendor = await attestationCa('C=SE, O=Vendor, CN=Vendor FIDO Root CA');
  impostor = await attestationCa('C=SE, O=Vendor, CN=Vendor FIDO Root CA');
  unrelated = await attestationCa('C=SE, O=Elsewhere, CN=Other FIDO Root CA');
});

function bundle(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

/** Settings as the server reads them: the bundle path is relative to the config file's directory. */
function settings(webauthn: NonNullable<ConfigInput['mfa']>['webauthn']): WebAuthnSettings {
  return webAuthnSettings(
    resolveConfig(
      { hostname: HOST, publicUrl: ORIGIN, displayName: 'fedgate test', mfa: { webauthn } },
      { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
    ),
  );
}

function direct(rootsFile?: string): WebAuthnSettings {
  return settings({
    attestation: 'direct',
    allowedAaguids: [AAGUID],
    ...(rootsFile === undefined ? {} : { attestationRootsFile: rootsFile }),
  });
}

/** One enrolment: options from the verifier's settings, a software packed response to them, the verdict. */
async function enrol(
  st: WebAuthnSettings,
  signer: AttestationCa,
  intermediates: AttestationCa[] = [],
  o: { noAuthorityKeyId?: boolean } = {},
): Promise<Awaited<ReturnType<typeof verifyRegistration>>> {
  const { challenge } = await registrationOptions(st, USER, []);
  const attestation = await attestationCertificate(signer, AAGUID, o);
  const response = await packedRegistration({
    rpId: HOST,
    origin: ORIGIN,
    challenge,
    aaguid: AAGUID,
    attestation,
    intermediates: intermediates.map((c) => c.cert),
  });
  return verifyRegistration(st, response, challenge, []);
}

describe('attestation roots: a chain to a configured root enrols, anything else is refused', () => {
  test('positive control: the vendor root configured, the vendor-signed attestation enrols', async () => {
    const st = direct(bundle('vendor.pem', vendor.pem));
    assert.equal(st.attestationRoots?.length, 1);
    const r = await enrol(st, vendor);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.credential.aaguid, AAGUID);
  });

  test('another vendor root configured: the same attestation is refused as attestation', async () => {
    const st = direct(bundle('unrelated.pem', unrelated.pem));
    const r = await enrol(st, vendor);
    assert.equal(!r.ok && r.reason, 'attestation', JSON.stringify(r));
    assert.match((!r.ok && r.detail) || '', /does not lead to a configured root/);
  });

  test('a self-made CA with the vendor root’s exact name is refused: names are not trust', async () => {
    const st = direct(bundle('vendor-only.pem', vendor.pem));
    const r = await enrol(st, impostor);
    assert.equal(!r.ok && r.reason, 'attestation', JSON.stringify(r));
  });

  test('the look-alike’s certificate without an authority key identifier: only the signature tells, and it is refused', async () => {
    const st = direct(bundle('vendor-only-2.pem', vendor.pem));
    const r = await enrol(st, impostor, [], { noAuthorityKeyId: true });
    assert.equal(!r.ok && r.reason, 'attestation', JSON.stringify(r));
    // Control: the vendor's own certificate without the identifier enrols.
    const control = await enrol(st, vendor, [], { noAuthorityKeyId: true });
    assert.ok(control.ok, JSON.stringify(control));
  });

  test('without the key, today’s behaviour: the chain is not checked, so the forged attestation enrols', async () => {
    const st = direct();
    assert.equal(st.attestationRoots, undefined);
    const forged = await enrol(st, unrelated);
    assert.ok(forged.ok, JSON.stringify(forged));
  });

  test('a bundle of several roots: any one of them anchors; an intermediate sent in x5c is followed', async () => {
    const st = direct(bundle('two.pem', `${unrelated.pem}\n${vendor.pem}`));
    assert.equal(st.attestationRoots?.length, 2);
    const intermediate = await attestationCa('C=SE, O=Vendor, CN=Vendor FIDO Batch CA', vendor);
    const r = await enrol(st, intermediate, [intermediate]);
    assert.ok(r.ok, JSON.stringify(r));
    // The same intermediate not sent along: the leaf alone does not reach the root.
    const missing = await enrol(st, intermediate);
    assert.equal(!missing.ok && missing.reason, 'attestation', JSON.stringify(missing));
  });
});

describe('the roots file: what does not parse stops start-up, with the key named', () => {
  test('not PEM, a damaged certificate, a missing file', () => {
    const cases: [string, RegExp][] = [
      [bundle('text.pem', 'these are not certificates\n'), /not a PEM bundle of certificates/],
      [bundle('empty.pem', ''), /not a PEM bundle of certificates/],
      [
        bundle(
          'broken.pem',
          '-----BEGIN CERTIFICATE-----\nMIIBAAAAAAAAAAAA\n-----END CERTIFICATE-----\n',
        ),
        /certificate 1 in .*broken\.pem does not parse/,
      ],
      [
        bundle('trailing.pem', `${vendor.pem}\n-----BEGIN PRIVATE KEY-----\nAAAA\n`),
        /not a PEM bundle/,
      ],
      ['absent.pem', /cannot read .*absent\.pem/],
    ];
    for (const [file, message] of cases)
      assert.throws(
        () => direct(file),
        (e: unknown) =>
          e instanceof Error &&
          message.test(e.message) &&
          /mfa\.webauthn\.attestationRootsFile/.test(e.message),
        file,
      );
  });

  test('fedgate does not start with a roots file that does not parse, and starts with a good one', async () => {
    const webauthn = (file: string) => ({
      mfa: {
        webauthn: {
          attestation: 'direct' as const,
          allowedAaguids: [AAGUID],
          attestationRootsFile: join(dir, file),
        },
      },
    });
    await assert.rejects(
      makeTestApp(webauthn(bundle('start-bad.pem', 'not a certificate\n'))),
      /mfa\.webauthn\.attestationRootsFile: .*start-bad\.pem is not a PEM bundle/,
    );
    const ok = await makeTestApp(webauthn(bundle('start-good.pem', vendor.pem)));
    await ok.close();
  });

  test('the key needs attestation direct (with none there is no chain to check)', () => {
    writeFileSync(join(dir, 'ok.pem'), vendor.pem);
    assert.throws(
      () => settings({ attestation: 'none', attestationRootsFile: 'ok.pem' }),
      (e: unknown) => e instanceof ConfigError && /attestation direct/.test(e.message),
    );
  });
});

describe('Chromium’s virtual authenticator against configured roots', () => {
  /** The AAGUID Chromium's virtual authenticator attests (see tests/integration/webauthn-chromium.test.ts). */
  const VIRTUAL_AAGUID = '01020304-0506-0708-0102-030405060708';
  let browser: Browser;
  let harness: WebAuthnHarness;
  let origin: string;

  before(async () => {
    const tls = siteCertificate(dir, [HOST]);
    harness = new WebAuthnHarness(
      { ...USER, factors: [] },
      repoRoot(new URL('../../x', import.meta.url).href),
    );
    await harness.start(tls);
    origin = `https://${HOST}:${harness.port}`;
    browser = await launchChromium([mapHostsToLoopback([HOST]), tls.spkiFlag]);
  });
  after(async () => {
    await browser.close();
    await harness.stop();
  });

  function chromiumSettings(rootsFile?: string): WebAuthnSettings {
    return webAuthnSettings(
      resolveConfig(
        {
          hostname: HOST,
          publicUrl: origin,
          displayName: 'fedgate test',
          mfa: {
            webauthn: {
              attestation: 'direct',
              allowedAaguids: [VIRTUAL_AAGUID],
              ...(rootsFile === undefined ? {} : { attestationRootsFile: rootsFile }),
            },
          },
        },
        { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
      ),
    );
  }

  test('its direct attestation is refused when the roots are our vendor CA, and enrols without roots', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable', { enableUI: false });
      await addVirtualAuthenticator(cdp);

      const rooted = chromiumSettings(bundle('chromium-vendor.pem', vendor.pem));
      const r = await runCeremony(page, origin, (await harness.prepare('create', rooted)).ceremony);
      assert.equal(!r.ok && r.reason, 'attestation', JSON.stringify(r));
      assert.match((!r.ok && r.detail) || '', /does not lead to a configured root/);
      assert.equal(harness.user.factors.length, 0);

      // Control: the same authenticator and settings without roots enrols (its model is listed).
      const plain = chromiumSettings();
      const ok = await runCeremony(page, origin, (await harness.prepare('create', plain)).ceremony);
      assert.ok(ok.ok, JSON.stringify(ok));
    } finally {
      await context.close();
    }
  });
});
