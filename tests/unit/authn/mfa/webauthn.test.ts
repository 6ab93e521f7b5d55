// WebAuthn second factor (issue 16), the verifiers on their own: what a form post can throw at them. The responses
// below are real, made by Chromium's virtual authenticator (CTAP2, via CDP) through views/theme/webauthn.js and
// captured from the harness in tests/helpers/webauthn.ts: a registration (attestation none), a sign-in with it,
// and a registration with attestation direct (packed, with the virtual authenticator's batch certificate). Each
// test changes one thing in them. Every malformed, oversized or tampered input must come back as a reason —
// never an exception, never a stack trace. The ceremonies themselves run in Chromium in
// tests/integration/webauthn-chromium.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { WebAuthnFactor } from '../../../../server/authn/mfa/factors.ts';
import {
  authenticationOptions,
  registrationOptions,
  verifyAuthentication,
  verifyRegistration,
  webAuthnSettings,
  webAuthnSettingsProblem,
  type WebAuthnSettings,
} from '../../../../server/authn/mfa/webauthn.ts';
import { resolveConfig } from '../../../../server/config/load.ts';
import type { ConfigInput } from '../../../../server/config/schema.ts';

const CAPTURED = {
  origin: 'https://login.fedgate.test:45621',
  registration: {
    challenge: 'wNSlb--i6f78L82mmRO56Mxus6a5nfmpqwJ7ka0gb6g',
    response: {
      id: 'luYK2KU4ZZYF936zYP6zZj8zKl6J1IrANUC0UUt8QBo',
      rawId: 'luYK2KU4ZZYF936zYP6zZj8zKl6J1IrANUC0UUt8QBo',
      type: 'public-key',
      response: {
        clientDataJSON:
          'eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoid05TbGItLWk2Zjc4TDgybW1STzU2TXh1czZhNW5mbXBxd0o3a2EwZ2I2ZyIsIm9yaWdpbiI6Imh0dHBzOi8vbG9naW4uZmVkZ2F0ZS50ZXN0OjQ1NjIxIiwiY3Jvc3NPcmlnaW4iOmZhbHNlfQ',
        attestationObject:
          'o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YViBeiZe9585igySiMtSy_AGjzYNlmhRax7CruQ7cSHVNmpFAAAAAQAAAAAAAAAAAAAAAAAAAAAAIJbmCtilOGWWBfd-s2D-s2Y_MypeidSKwDVAtFFLfEAapAEBAycgBiFYIDZKzQg6QHvLF_okodZAh0sqCEqFWmTTx9UNW15QzWNA',
        transports: ['usb'],
      },
      authenticatorAttachment: 'cross-platform',
      clientExtensionResults: {
        credProps: {},
      },
    },
  },
  factor: {
    kind: 'webauthn',
    id: 'gyYNr_pJGKYJ',
    name: 'key 1',
    createdAt: '1970-01-01T00:00:00.000Z',
    credentialId: 'luYK2KU4ZZYF936zYP6zZj8zKl6J1IrANUC0UUt8QBo',
    publicKey: 'pAEBAycgBiFYIDZKzQg6QHvLF_okodZAh0sqCEqFWmTTx9UNW15QzWNA',
    counter: 1,
    transports: ['usb'],
    userVerified: true,
  },
  authentication: {
    challenge: '-3UqJxRC7ZuNfz8tCho2-Qy7J8uikqiFQYBXHOMHDYA',
    response: {
      id: 'luYK2KU4ZZYF936zYP6zZj8zKl6J1IrANUC0UUt8QBo',
      rawId: 'luYK2KU4ZZYF936zYP6zZj8zKl6J1IrANUC0UUt8QBo',
      type: 'public-key',
      response: {
        clientDataJSON:
          'eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiLTNVcUp4UkM3WnVOZno4dENobzItUXk3Sjh1aWtxaUZRWUJYSE9NSERZQSIsIm9yaWdpbiI6Imh0dHBzOi8vbG9naW4uZmVkZ2F0ZS50ZXN0OjQ1NjIxIiwiY3Jvc3NPcmlnaW4iOmZhbHNlLCJvdGhlcl9rZXlzX2Nhbl9iZV9hZGRlZF9oZXJlIjoiZG8gbm90IGNvbXBhcmUgY2xpZW50RGF0YUpTT04gYWdhaW5zdCBhIHRlbXBsYXRlLiBTZWUgaHR0cHM6Ly9nb28uZ2wveWFiUGV4In0',
        authenticatorData: 'eiZe9585igySiMtSy_AGjzYNlmhRax7CruQ7cSHVNmoFAAAAAg',
        signature:
          'muiG8yJBmnKZ8ck4ano_oescwxBrTDmG39Uv0abI72wueRKjJq-sY6VmcnGV9PKA3_sqvpwSVUCdTF66sbwvCQ',
      },
      authenticatorAttachment: 'cross-platform',
      clientExtensionResults: {},
    },
  },
  direct: {
    challenge: 'iXU_TXLfj12fdu3iYAmFZw-HNfdtRHeNAuFfQD9FkTg',
    response: {
      id: '8rFfHvXCEVbzMyq8sEOCN3kAg5Q85wuv4YDwqnMpD40',
      rawId: '8rFfHvXCEVbzMyq8sEOCN3kAg5Q85wuv4YDwqnMpD40',
      type: 'public-key',
      response: {
        clientDataJSON:
          'eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiaVhVX1RYTGZqMTJmZHUzaVlBbUZady1ITmZkdFJIZU5BdUZmUUQ5RmtUZyIsIm9yaWdpbiI6Imh0dHBzOi8vbG9naW4uZmVkZ2F0ZS50ZXN0OjQ1NjIxIiwiY3Jvc3NPcmlnaW4iOmZhbHNlLCJvdGhlcl9rZXlzX2Nhbl9iZV9hZGRlZF9oZXJlIjoiZG8gbm90IGNvbXBhcmUgY2xpZW50RGF0YUpTT04gYWdhaW5zdCBhIHRlbXBsYXRlLiBTZWUgaHR0cHM6Ly9nb28uZ2wveWFiUGV4In0',
        attestationObject:
          'o2NmbXRmcGFja2VkZ2F0dFN0bXSjY2FsZyZjc2lnWEcwRQIgbcuXODfTCjfQIn9O8Q83TFyqXXwFoMY4p59y1fXOJnoCIQCPxRES-hqWiVIuqfe9ZJYb3UH_HdLswLGB1BzihpTC-GN4NWOBWQHZMIIB1TCCAXqgAwIBAgIBATAKBggqhkjOPQQDAjBgMQswCQYDVQQGEwJVUzERMA8GA1UECgwIQ2hyb21pdW0xIjAgBgNVBAsMGUF1dGhlbnRpY2F0b3IgQXR0ZXN0YXRpb24xGjAYBgNVBAMMEUJhdGNoIENlcnRpZmljYXRlMB4XDTE3MDcxNDAyNDAwMFoXDTQ2MTIwMTAyMTgyNFowYDELMAkGA1UEBhMCVVMxETAPBgNVBAoMCENocm9taXVtMSIwIAYDVQQLDBlBdXRoZW50aWNhdG9yIEF0dGVzdGF0aW9uMRowGAYDVQQDDBFCYXRjaCBDZXJ0aWZpY2F0ZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABI1hfmXJUI5kvMVnOsgqZ5naPBRGaCwljEY__99Y39L6Pmw3i1PXlcSk3_tBme3Xhi8jq68CA7S4kRugVpmU4QGjJTAjMAwGA1UdEwEB_wQCMAAwEwYLKwYBBAGC5RwCAQEEBAMCBSAwCgYIKoZIzj0EAwIDSQAwRgIhAKKOQYrNucRPwVO3SISJRwcqY5I7QhyopPRvBYZY0G-AAiEApSkFK9tc9mulYLUh_3nzAQksEtrInF3TO-EtawEIMNZoYXV0aERhdGFYgXomXvefOYoMkojLUsvwBo82DZZoUWsewq7kO3Eh1TZqRQAAAAEBAgMEBQYHCAECAwQFBgcIACDysV8e9cIRVvMzKrywQ4I3eQCDlDznC6_hgPCqcykPjaQBAQMnIAYhWCB-fGJHPUkbOJgGeSvmNiMSQDT7x7xFHFOmBakXPcfYgw',
        transports: ['usb'],
      },
      authenticatorAttachment: 'cross-platform',
      clientExtensionResults: {
        credProps: {},
      },
    },
  },
} as const;

const HOST = 'login.fedgate.test';
const VIRTUAL_AAGUID = '01020304-0506-0708-0102-030405060708';

const ST: WebAuthnSettings = {
  rpId: HOST,
  rpName: 'fedgate test',
  origin: CAPTURED.origin,
  userVerification: 'preferred',
  attestation: 'none',
  allowedAaguids: [],
  timeoutSeconds: 120,
};

const REGISTRATION_REASONS = [
  'malformed',
  'challenge',
  'origin',
  'rp-id',
  'attestation',
  'aaguid',
  'user-verification',
  'duplicate',
  'invalid',
];
const AUTHENTICATION_REASONS = [
  'malformed',
  'unknown-credential',
  'challenge',
  'origin',
  'rp-id',
  'counter',
  'user-verification',
  'invalid',
];

type Json = Record<string, unknown>;
/** A deep, mutable copy of a captured response. */
const copy = (o: unknown): Json => JSON.parse(JSON.stringify(o)) as Json;
const inner = (o: Json): Json => o.response as Json;

function factor(over: Partial<WebAuthnFactor> = {}): WebAuthnFactor {
  return { ...(copy(CAPTURED.factor) as unknown as WebAuthnFactor), ...over };
}

const register = (response: unknown, st: WebAuthnSettings = ST, existing: WebAuthnFactor[] = []) =>
  verifyRegistration(st, response, CAPTURED.registration.challenge, existing);
const registerDirect = (response: unknown, st: WebAuthnSettings) =>
  verifyRegistration(st, response, CAPTURED.direct.challenge, []);
const authenticate = (response: unknown, st: WebAuthnSettings = ST, factors = [factor()]) =>
  verifyAuthentication(st, response, CAPTURED.authentication.challenge, factors);

/** clientDataJSON with `change` applied to its parsed form (its signature no longer matches, on purpose). */
function withClientData(response: unknown, change: (c: Json) => void): Json {
  const r = copy(response);
  const c = JSON.parse(
    Buffer.from(inner(r).clientDataJSON as string, 'base64url').toString('utf8'),
  ) as Json;
  change(c);
  inner(r).clientDataJSON = Buffer.from(JSON.stringify(c)).toString('base64url');
  return r;
}

/** A byte of a base64url field changed at `index` (negative: from the end). */
function withByte(
  response: unknown,
  field: string,
  index: number,
  value: (b: number) => number,
): Json {
  const r = copy(response);
  const bytes = Buffer.from(inner(r)[field] as string, 'base64url');
  const i = index < 0 ? bytes.length + index : index;
  bytes[i] = value(bytes[i]!);
  inner(r)[field] = bytes.toString('base64url');
  return r;
}

function reasonOf(r: { ok: boolean; reason?: string }): string | true {
  return r.ok ? true : (r.reason ?? 'no reason');
}

describe('settings from the configuration', () => {
  const config = (input: ConfigInput) =>
    resolveConfig(input, { env: {}, baseDir: '/', source: 'test', embeddedDefaults: false });

  test('RP ID is the hostname, the origin that of publicUrl; AAGUIDs compare in lower case', () => {
    const st = webAuthnSettings(
      config({
        hostname: 'Login.Example.COM',
        publicUrl: 'https://login.example.com/adfs/ls/',
        displayName: 'Example sign-in',
        mfa: {
          webauthn: {
            userVerification: 'required',
            attestation: 'direct',
            allowedAaguids: ['CB69481E-8FF7-4039-93EC-0A2729A154A8'],
            timeoutSeconds: 60,
          },
        },
      }),
    );
    assert.deepEqual(st, {
      rpId: 'login.example.com',
      rpName: 'Example sign-in',
      origin: 'https://login.example.com',
      userVerification: 'required',
      attestation: 'direct',
      allowedAaguids: ['cb69481e-8ff7-4039-93ec-0a2729a154a8'],
      timeoutSeconds: 60,
    });
    assert.equal(webAuthnSettingsProblem(st), undefined);
    assert.ok(Object.isFrozen(st));
  });

  test('defaults: user verification preferred, attestation none, any model, two minutes; a port stays in the origin', () => {
    const st = webAuthnSettings(
      config({ hostname: 'sts.example.com', publicUrl: 'https://sts.example.com:8443' }),
    );
    assert.equal(st.origin, 'https://sts.example.com:8443');
    assert.equal(st.userVerification, 'preferred');
    assert.equal(st.attestation, 'none');
    assert.deepEqual(st.allowedAaguids, []);
    assert.equal(st.timeoutSeconds, 120);
  });

  test('settings browsers would refuse are named', () => {
    const base = { ...ST, rpId: 'sts.example.com' };
    assert.equal(
      webAuthnSettingsProblem({ ...base, origin: 'https://sts.example.com' }),
      undefined,
    );
    assert.equal(
      webAuthnSettingsProblem({ ...base, rpId: 'example.com', origin: 'https://sts.example.com' }),
      undefined,
      'a parent domain is a valid RP ID',
    );
    assert.match(
      webAuthnSettingsProblem({ ...base, origin: 'https://sts.example.org' }) ?? '',
      /not the host/,
    );
    assert.match(
      webAuthnSettingsProblem({ ...base, origin: 'http://sts.example.com' }) ?? '',
      /not https/,
    );
    assert.match(
      webAuthnSettingsProblem({ ...base, rpId: '10.0.0.5', origin: 'https://10.0.0.5' }) ?? '',
      /IP address/,
    );
    assert.equal(
      webAuthnSettingsProblem({ ...base, rpId: 'localhost', origin: 'http://localhost:8080' }),
      undefined,
    );
  });
});

describe('ceremony options', () => {
  test('registration: RP, user handle (objectGUID bytes), exclusion of enrolled keys, policy; a fresh challenge each time', async () => {
    const guid = Buffer.from('086ffe47984f4734bd0db90223cff0b0', 'hex');
    const existing = [
      factor({ transports: ['usb', 'smart-card', 'nfc'] }),
      factor({ id: 'x', credentialId: 'not base64url!' }),
    ];
    const st = { ...ST, userVerification: 'required' as const, attestation: 'direct' as const };
    const a = await registrationOptions(
      st,
      { id: guid, name: 'alice@x', displayName: 'Alice' },
      existing,
    );
    const b = await registrationOptions(
      st,
      { id: guid, name: 'alice@x', displayName: 'Alice' },
      [],
    );
    const o = a.options as Json;
    assert.equal(o.challenge, a.challenge);
    assert.match(a.challenge, /^[A-Za-z0-9_-]{43}$/, '32 random bytes');
    assert.notEqual(a.challenge, b.challenge);
    assert.deepEqual(o.rp, { name: 'fedgate test', id: HOST });
    assert.deepEqual(o.user, {
      id: guid.toString('base64url'),
      name: 'alice@x',
      displayName: 'Alice',
    });
    assert.equal(o.timeout, 120_000);
    assert.equal(o.attestation, 'direct');
    assert.deepEqual(o.excludeCredentials, [
      { id: CAPTURED.factor.credentialId, transports: ['usb', 'nfc'], type: 'public-key' },
    ]);
    assert.equal((o.authenticatorSelection as Json).userVerification, 'required');
  });

  test('authentication: the user’s credentials only, user verification per settings', async () => {
    const { options, challenge } = await authenticationOptions(
      { ...ST, userVerification: 'discouraged' },
      [factor()],
    );
    const o = options as Json;
    assert.equal(o.challenge, challenge);
    assert.equal(o.rpId, HOST);
    assert.equal(o.userVerification, 'discouraged');
    assert.deepEqual(o.allowCredentials, [
      { id: CAPTURED.factor.credentialId, transports: ['usb'], type: 'public-key' },
    ]);
  });
});

describe('registration', () => {
  test('the captured registration verifies (control for every test below)', async () => {
    const r = await register(CAPTURED.registration.response);
    assert.deepEqual(r, {
      ok: true,
      credential: {
        credentialId: CAPTURED.factor.credentialId,
        publicKey: CAPTURED.factor.publicKey,
        counter: CAPTURED.factor.counter,
        aaguid: undefined,
        transports: ['usb'],
        userVerified: true,
      },
    });
  });

  test('each client-data check has its reason', async () => {
    const res = CAPTURED.registration.response;
    assert.equal(reasonOf(await verifyRegistration(ST, res, 'another-challenge', [])), 'challenge');
    assert.equal(reasonOf(await verifyRegistration(ST, res, '', [])), 'challenge');
    const origin = withClientData(
      res,
      (c) => (c.origin = 'https://login.fedgate.test.evil.example'),
    );
    assert.equal(reasonOf(await register(origin)), 'origin');
    const framed = withClientData(res, (c) => (c.crossOrigin = true));
    assert.equal(reasonOf(await register(framed)), 'origin');
    const top = withClientData(res, (c) => (c.topOrigin = 'https://evil.example'));
    assert.equal(reasonOf(await register(top)), 'origin');
    const get = withClientData(res, (c) => (c.type = 'webauthn.get'));
    assert.equal(reasonOf(await register(get)), 'invalid');
    assert.equal(reasonOf(await register(res, { ...ST, rpId: 'fedgate.test' })), 'rp-id');
    assert.equal(
      reasonOf(await register(res, { ...ST, origin: 'https://fedgate.test' })),
      'origin',
    );
  });

  test('an already enrolled credential is a duplicate', async () => {
    assert.equal(
      reasonOf(await register(CAPTURED.registration.response, ST, [factor()])),
      'duplicate',
    );
    assert.equal(
      reasonOf(
        await register(CAPTURED.registration.response, ST, [factor({ credentialId: 'AAAA' })]),
      ),
      true,
    );
  });

  test('the id the browser reports must be the one the authenticator attested', async () => {
    const r = copy(CAPTURED.registration.response);
    r.id = r.rawId = Buffer.alloc(32, 1).toString('base64url');
    assert.deepEqual(await register(r), {
      ok: false,
      reason: 'malformed',
      detail: 'credential id',
    });
  });

  test('attestation direct wants a certificate and a listed model; the captured packed attestation is one', async () => {
    const direct = { ...ST, attestation: 'direct' as const };
    const listed = { ...direct, allowedAaguids: [VIRTUAL_AAGUID] };
    const ok = await registerDirect(CAPTURED.direct.response, listed);
    assert.ok(ok.ok && ok.credential.aaguid === VIRTUAL_AAGUID, JSON.stringify(ok));
    // Attestation none (fmt none, zeroed AAGUID) where direct is required.
    assert.equal(reasonOf(await register(CAPTURED.registration.response, listed)), 'attestation');
    // An empty allow-list with direct admits no model (fail closed).
    assert.equal(reasonOf(await registerDirect(CAPTURED.direct.response, direct)), 'aaguid');
    assert.equal(
      reasonOf(
        await registerDirect(CAPTURED.direct.response, {
          ...direct,
          allowedAaguids: ['cb69481e-8ff7-4039-93ec-0a2729a154a8'],
        }),
      ),
      'aaguid',
    );
    // The attestation signature (inside attStmt) tampered with.
    const att = Buffer.from(CAPTURED.direct.response.response.attestationObject, 'base64url');
    const at = att.indexOf(Buffer.from([0x63, 0x73, 0x69, 0x67, 0x58])); // "sig": bstr
    assert.ok(at > 0);
    const tampered = withByte(CAPTURED.direct.response, 'attestationObject', at + 10, (b) => b ^ 1);
    assert.equal(reasonOf(await registerDirect(tampered, listed)), 'attestation');
    // With attestation none and no list, the same packed response enrols and keeps its model.
    const none = await registerDirect(CAPTURED.direct.response, ST);
    assert.ok(none.ok && none.credential.aaguid === VIRTUAL_AAGUID);
  });

  test('user verification: the UV flag is read from the attested data', async () => {
    const att = Buffer.from(CAPTURED.registration.response.response.attestationObject, 'base64url');
    // authData starts after "hauthData" X 81; the flags byte is at rpIdHash (32) + 0.
    const at = att.indexOf(Buffer.from('authData')) + 'authData'.length + 2 + 32;
    assert.equal(att[at]! & 0x05, 0x05, 'UP and UV set in the captured response');
    const noUv = withByte(
      CAPTURED.registration.response,
      'attestationObject',
      at,
      (b) => b & ~0x04,
    );
    assert.equal(
      reasonOf(await register(noUv, { ...ST, userVerification: 'required' })),
      'user-verification',
    );
    assert.equal(
      reasonOf(await register(noUv)),
      true,
      'attestation none signs nothing: preferred accepts',
    );
    const noUp = withByte(
      CAPTURED.registration.response,
      'attestationObject',
      at,
      (b) => b & ~0x01,
    );
    assert.deepEqual(await register(noUp), {
      ok: false,
      reason: 'invalid',
      detail: 'user not present',
    });
    const rpHash = withByte(
      CAPTURED.registration.response,
      'attestationObject',
      at - 1,
      (b) => b ^ 1,
    );
    assert.equal(reasonOf(await register(rpHash)), 'rp-id');
  });
});

describe('authentication', () => {
  test('the captured sign-in verifies, with its counter (control for every test below)', async () => {
    const f = factor();
    assert.deepEqual(await authenticate(CAPTURED.authentication.response, ST, [f]), {
      ok: true,
      factorId: f.id,
      newCounter: 2,
    });
    assert.equal(
      reasonOf(await authenticate(CAPTURED.authentication.response, ST, [factor({ counter: 0 })])),
      true,
    );
  });

  test('a counter that does not increase is a cloned authenticator, named by factor', async () => {
    for (const counter of [2, 3, 1_000_000]) {
      const f = factor({ counter });
      const r = await authenticate(CAPTURED.authentication.response, ST, [f]);
      assert.equal(reasonOf(r), 'counter', `stored ${counter}`);
      assert.ok(!r.ok && r.factorId === f.id);
    }
  });

  test('a forged response never raises the clone alarm: the signature is judged first', async () => {
    const forged = withByte(CAPTURED.authentication.response, 'signature', -1, (b) => b ^ 0x80);
    assert.equal(reasonOf(await authenticate(forged, ST, [factor({ counter: 5 })])), 'invalid');
    assert.equal(reasonOf(await authenticate(forged)), 'invalid');
  });

  test('each check has its reason', async () => {
    const res = CAPTURED.authentication.response;
    assert.equal(reasonOf(await authenticate(res, ST, [])), 'unknown-credential');
    assert.equal(
      reasonOf(
        await authenticate(res, ST, [factor({ credentialId: CAPTURED.direct.response.id })]),
      ),
      'unknown-credential',
    );
    assert.equal(reasonOf(await verifyAuthentication(ST, res, 'other', [factor()])), 'challenge');
    assert.equal(
      reasonOf(await authenticate(withClientData(res, (c) => (c.origin = 'https://evil.example')))),
      'origin',
    );
    assert.equal(
      reasonOf(await authenticate(withClientData(res, (c) => (c.type = 'webauthn.create')))),
      'invalid',
    );
    assert.equal(reasonOf(await authenticate(res, { ...ST, rpId: 'fedgate.test' })), 'rp-id');
    // The flags byte is authenticatorData[32]: UV cleared. Required: refused for it; preferred: the signature
    // covers the flags, so the change is caught there.
    const noUv = withByte(res, 'authenticatorData', 32, (b) => b & ~0x04);
    assert.equal(
      reasonOf(await authenticate(noUv, { ...ST, userVerification: 'required' })),
      'user-verification',
    );
    assert.equal(reasonOf(await authenticate(noUv)), 'invalid');
    const counterUp = withByte(res, 'authenticatorData', -1, (b) => b + 100);
    assert.equal(reasonOf(await authenticate(counterUp)), 'invalid', 'the counter is signed too');
    assert.equal(reasonOf(await authenticate(res, ST, [factor({ publicKey: '!!' })])), 'invalid');
    assert.equal(reasonOf(await authenticate(res, ST, [factor({ publicKey: 'AAAA' })])), 'invalid');
  });
});

describe('untrusted input: shapes and sizes', () => {
  const reg = CAPTURED.registration.response;
  const auth = CAPTURED.authentication.response;

  test('not an object, or fields of the wrong kind, are malformed', async () => {
    const shapes: unknown[] = [undefined, null, 0, 'x', true, [], [reg], () => 1];
    for (const s of shapes) {
      assert.equal(reasonOf(await register(s)), 'malformed');
      assert.equal(reasonOf(await authenticate(s)), 'malformed');
    }
    const edits: [string, (r: Json) => void][] = [
      ['no id', (r) => delete r.id],
      ['id is not rawId', (r) => (r.rawId = 'AAAA')],
      ['id with padding', (r) => (r.id = r.rawId = `${r.id as string}=`)],
      ['id not base64url', (r) => (r.id = r.rawId = 'ab+/')],
      ['id a number', (r) => (r.id = r.rawId = 5)],
      ['type', (r) => (r.type = 'password')],
      ['no response', (r) => delete r.response],
      ['response an array', (r) => (r.response = [])],
      ['clientDataJSON missing', (r) => delete inner(r).clientDataJSON],
      ['clientDataJSON an object', (r) => (inner(r).clientDataJSON = {})],
      [
        'clientDataJSON not JSON',
        (r) => (inner(r).clientDataJSON = Buffer.from('{').toString('base64url')),
      ],
      [
        'clientDataJSON an array',
        (r) => (inner(r).clientDataJSON = Buffer.from('[]').toString('base64url')),
      ],
      [
        'clientDataJSON not UTF-8',
        (r) => (inner(r).clientDataJSON = Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')),
      ],
      ['clientDataJSON base64 of one char', (r) => (inner(r).clientDataJSON = 'A')],
      [
        'clientDataJSON challenge a number',
        (r) =>
          Object.assign(
            r,
            withClientData(r, (c) => (c.challenge = 1)),
          ),
      ],
    ];
    for (const [what, edit] of edits) {
      for (const [name, base, run] of [
        ['registration', reg, register],
        ['authentication', auth, authenticate],
      ] as const) {
        const r = copy(base);
        edit(r);
        assert.equal(reasonOf(await run(r)), 'malformed', `${name}: ${what}`);
      }
    }
    const regEdits: [string, (r: Json) => void][] = [
      ['attestationObject missing', (r) => delete inner(r).attestationObject],
      ['attestationObject not CBOR', (r) => (inner(r).attestationObject = 'AAAA')],
      ['attestationObject a CBOR number', (r) => (inner(r).attestationObject = 'AQ')],
      [
        'attestationObject truncated',
        (r) => (inner(r).attestationObject = (inner(r).attestationObject as string).slice(0, 100)),
      ],
      ['transports not a list', (r) => (inner(r).transports = 'usb')],
      ['transports of objects', (r) => (inner(r).transports = [{}])],
      ['too many transports', (r) => (inner(r).transports = new Array<string>(9).fill('usb'))],
      ['a transport name too long', (r) => (inner(r).transports = ['u'.repeat(33)])],
    ];
    for (const [what, edit] of regEdits) {
      const r = copy(reg);
      edit(r);
      assert.equal(reasonOf(await register(r)), 'malformed', what);
    }
    const authEdits: [string, (r: Json) => void][] = [
      ['authenticatorData missing', (r) => delete inner(r).authenticatorData],
      ['authenticatorData short', (r) => (inner(r).authenticatorData = 'AAAA')],
      ['signature missing', (r) => delete inner(r).signature],
      ['signature empty', (r) => (inner(r).signature = '')],
      ['userHandle a number', (r) => (inner(r).userHandle = 7)],
      [
        'userHandle over 64 bytes',
        (r) => (inner(r).userHandle = Buffer.alloc(65).toString('base64url')),
      ],
    ];
    for (const [what, edit] of authEdits) {
      const r = copy(auth);
      edit(r);
      assert.equal(reasonOf(await authenticate(r)), 'malformed', what);
    }
    // Extra members, unknown transports, a 64-byte user handle: ignored or kept within bounds, not refused.
    const extra = copy(reg);
    extra.__proto__ = { polluted: true };
    extra.extra = 'x'.repeat(10);
    inner(extra).transports = ['usb', 'smart-card', 'usb'];
    const r = await register(extra);
    assert.ok(r.ok && JSON.stringify(r.credential.transports) === '["usb"]', JSON.stringify(r));
    assert.equal(({} as Json).polluted, undefined);
    const handle = copy(auth);
    inner(handle).userHandle = Buffer.alloc(64, 1).toString('base64url');
    assert.equal(reasonOf(await authenticate(handle)), true);
  });

  test('sizes are bounded: a credential id of 1023 bytes passes the shape check, 1024 does not', async () => {
    const id = (bytes: number) => Buffer.alloc(bytes, 0xab).toString('base64url');
    const at = (bytes: number) => {
      const r = copy(auth);
      r.id = r.rawId = id(bytes);
      return r;
    };
    assert.equal(reasonOf(await authenticate(at(1023))), 'unknown-credential');
    assert.equal(reasonOf(await authenticate(at(1024))), 'malformed');
    const huge: [Json, string, number][] = [
      [copy(reg), 'clientDataJSON', 4097],
      [copy(reg), 'attestationObject', 32_769],
      [copy(auth), 'authenticatorData', 4097],
      [copy(auth), 'signature', 4097],
      [copy(auth), 'clientDataJSON', 1_000_000],
    ];
    for (const [r, field, chars] of huge) {
      inner(r)[field] = 'A'.repeat(chars);
      const result = 'attestationObject' in inner(r) ? await register(r) : await authenticate(r);
      assert.equal(reasonOf(result), 'malformed', `${field} of ${chars} characters`);
    }
  });

  test('seeded random damage to real responses never throws and always names a known reason', async () => {
    // mulberry32: a small seeded generator, so a failure reproduces.
    let seed = 0x5eed1e55;
    const rand = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const junk = (): unknown =>
      pick([
        () => null,
        () => Math.floor(rand() * 1e9),
        () => 'x'.repeat(Math.floor(rand() * 5000)),
        () => [],
        () => ({}),
        () =>
          Buffer.from(
            Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256)),
          ).toString('base64url'),
      ])();
    const damage = (base: unknown): Json => {
      const r = copy(base);
      const where = rand() < 0.3 ? r : inner(r);
      const keys = Object.keys(where);
      const key = pick(keys);
      const v = where[key];
      if (typeof v === 'string' && v.length > 0 && rand() < 0.7) {
        // Flip bits in the decoded bytes, or truncate.
        const bytes = Buffer.from(v, 'base64url');
        if (rand() < 0.5 && bytes.length > 0) {
          const i = Math.floor(rand() * bytes.length);
          bytes[i] = bytes[i]! ^ (1 << Math.floor(rand() * 8));
        }
        const cut = rand() < 0.3 ? Math.floor(rand() * bytes.length) : bytes.length;
        where[key] = bytes.subarray(0, cut).toString('base64url');
      } else if (rand() < 0.5) {
        where[key] = junk();
      } else {
        Reflect.deleteProperty(where, key);
      }
      return r;
    };
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 1500; i++) {
      const regResult = await register(damage(reg));
      const authResult = await authenticate(damage(auth));
      const directResult = await registerDirect(damage(CAPTURED.direct.response), {
        ...ST,
        attestation: 'direct',
        allowedAaguids: [VIRTUAL_AAGUID],
      });
      for (const [r, reasons] of [
        [regResult, REGISTRATION_REASONS],
        [authResult, AUTHENTICATION_REASONS],
        [directResult, REGISTRATION_REASONS],
      ] as const) {
        const k = reasonOf(r);
        outcomes.set(String(k), (outcomes.get(String(k)) ?? 0) + 1);
        if (k === true) continue;
        assert.ok(reasons.includes(k), k);
        const detail = 'detail' in r ? (r.detail ?? '') : '';
        assert.ok(detail.length <= 200 && !/\n|\bat .*:\d+:\d+/.test(detail), detail);
      }
    }
    // The damage reached past the shape checks into the decoders and the signature checks.
    for (const reason of ['malformed', 'invalid', 'attestation'])
      assert.ok((outcomes.get(reason) ?? 0) > 0, reason);
  });
});
