/**
 * MFA defences that the curated mutants (tests/mutate/mutants.ts, module mfa) showed no other test pinned down
 * (issue 16 negatives):
 * - one use per TOTP code across the farm: two nodes on one real Redis both past the "last accepted step" read, at
 *   the same moment; only the store's set-if-absent can refuse the second (RFC 6238 §5.2);
 * - the enrolment policy: `intranet` enrols only from a corporateNetworks address, `certificate` only right after a
 *   certificate sign-in; a password from outside never enrols a first factor;
 * - the MFA lockout is one count for every method: wrong security-key answers lock TOTP out too;
 * - the page refuses every answer of a locked-out account, also a valid security-key assertion on a page that was
 *   opened before the lockout (WebAuthn has no lockout of its own).
 * TOTP codes come from Debian's oathtool; the security key is a P-256 key made here with node:crypto, signing as
 * WebAuthn §6.3.3 says (an independent authenticator; fedgate's verifier judges it).
 */
import assert from 'node:assert/strict';
import {
  createHash,
  createSign,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { resolveConfig } from '../../server/config/load.ts';
import { TotpVerifier } from '../../server/authn/mfa/totp.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { RedisStore } from '../../server/stores/redis.ts';
import type { ArtifactStore } from '../../server/stores/types.ts';
import { decodeEntities, hidden, Jar, makeTestApp, type TestApp } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { MULTIPLE_AUTHN, oathtool, postMfaForm } from '../helpers/mfa.ts';

const PASSWORD = 'Passw0rd!';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const T0 = Date.UTC(2026, 11, 6, 11, 0, 0);

/** A WS-Fed sign-in asking for MFA (wauth=…multipleauthn) through the password; the page after it. */
async function signInForMfa(
  t: TestApp,
  username: string,
  clientIp?: string,
): Promise<{ jar: Jar; page: string }> {
  const jar = new Jar();
  const q = new URLSearchParams({
    wa: 'wsignin1.0',
    wtrealm: 'urn:fedgate:test',
    wauth: MULTIPLE_AUTHN,
  });
  let get = request(t.app).get(`/adfs/ls/?${q.toString()}`);
  if (clientIp !== undefined) get = get.set('X-Forwarded-For', clientIp);
  const start = await get;
  jar.take(start);
  let post = request(t.app).post('/adfs/ls/').set('Cookie', jar.header());
  if (clientIp !== undefined) post = post.set('X-Forwarded-For', clientIp);
  const res = await post.type('form').send({
    AuthState: hidden(start.text, 'AuthState'),
    csrf: hidden(start.text, 'csrf'),
    UserName: username,
    Password: PASSWORD,
    AuthMethod: 'FormsAuthentication',
  });
  jar.take(res);
  assert.equal(res.status, 200);
  return { jar, page: res.text };
}

describe('TOTP one use per code across the farm (issue 16: replayed TOTP)', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });

  it('two nodes that both read "no code used yet" before either records one: only one accepts the code', async () => {
    const config = resolveConfig(
      { store: { kind: 'redis', url: redis.url, keyPrefix: 'mfa-defences:' } },
      { env: {}, baseDir: '/', source: 'test', embeddedDefaults: false },
    ).store;
    assert.equal(config.kind, 'redis');
    const a = RedisStore.create(config, { baseDir: '/' });
    const b = RedisStore.create(config, { baseDir: '/' });
    // The farm's worst timing, made certain: each node's read of the last accepted step waits until both nodes
    // have made it, so neither sees the other's record (the stores themselves are the real Redis ones).
    let arrived = 0;
    let release: () => void = () => undefined;
    const both = new Promise<void>((ok) => {
      release = ok;
    });
    const barrier = (store: ArtifactStore): ArtifactStore =>
      new Proxy(store, {
        get(target, prop, receiver) {
          if (prop !== 'find') {
            // The store's methods use its private fields: call them on the store itself.
            const v = Reflect.get(target, prop, receiver) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          }
          return async (kind: Parameters<ArtifactStore['find']>[0], key: string) => {
            if (kind === 'mfaReplay' && key.endsWith(':last')) {
              const value = await target.find(kind, key);
              if (++arrived === 2) release();
              await both;
              return value;
            }
            return target.find(kind, key);
          };
        },
      });
    try {
      const clock = new FixedClock(T0);
      const nodeA = new TotpVerifier({ store: barrier(a), clock });
      const nodeB = new TotpVerifier({ store: barrier(b), clock });
      const code = oathtool(SECRET, new Date(T0));
      // SECRET's bytes (base32 JBSWY3DPEHPK3PXP = "Hello!\xde\xad\xbe\xef", twice).
      const secret = Buffer.from('48656c6c6f21deadbeef'.repeat(2), 'hex');
      const [r1, r2] = await Promise.all([
        nodeA.verify('guid:farm', secret, code),
        nodeB.verify('guid:farm', secret, code),
      ]);
      assert.equal(arrived, 2, 'both nodes read the last step before either recorded one');
      assert.deepEqual([r1.ok, r2.ok].sort(), [false, true], 'exactly one node accepts the code');
      const refused = r1.ok ? r2 : r1;
      assert.equal(!refused.ok && refused.reason, 'replayed');
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('enrolment policy (issue 16: enrolment refused by policy)', () => {
  let t: TestApp;
  before(async () => {
    t = await makeTestApp(
      {
        listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
        corporateNetworks: ['10.0.0.0/8'],
        mfa: { methods: ['totp'], enrolment: { allow: ['intranet'] } },
      },
      { clock: new FixedClock(T0) },
    );
  });
  after(async () => {
    await t.close();
  });

  it('intranet: a first factor is offered from a corporate network address', async () => {
    const { page } = await signInForMfa(t, 'alice@fedgate.test', '10.1.2.3');
    assert.match(page, /id="enrolTotpForm"/);
  });

  it('intranet: from outside, a password alone enrols nothing; refused by policy and audited', async () => {
    const { page } = await signInForMfa(t, 'bob@fedgate.test', '203.0.113.7');
    assert.doesNotMatch(page, /id="enrolTotpForm"/);
    assert.doesNotMatch(page, /name="wresult"/);
    assert.match(page, /no verification method is set up/);
    assert.equal(t.logs.events('mfa_enrolment_refused').at(-1)?.reason, 'policy');
  });
});

describe('enrolment policy certificate: only right after a certificate sign-in', () => {
  let t: TestApp;
  before(async () => {
    t = await makeTestApp(
      { mfa: { methods: ['totp'], enrolment: { allow: ['certificate'] } } },
      { clock: new FixedClock(T0) },
    );
  });
  after(async () => {
    await t.close();
  });

  it('after a password sign-in no first factor is offered; refused by policy and audited', async () => {
    const { page } = await signInForMfa(t, 'alice@fedgate.test');
    assert.doesNotMatch(page, /id="enrolTotpForm"/);
    assert.doesNotMatch(page, /name="wresult"/);
    assert.match(page, /no verification method is set up/);
    assert.equal(t.logs.events('mfa_enrolment_refused').at(-1)?.reason, 'policy');
  });
});

/** A software security key (P-256), as WebAuthn §6.3.3 signs an assertion. */
interface Key {
  id: string;
  cose: string;
  priv: KeyObject;
}

function newKey(): Key {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  // COSE_Key EC2 / ES256 / P-256 (RFC 9053 §7.1.1), CBOR-encoded.
  const cose = Buffer.concat([
    Buffer.from([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]),
    Buffer.from(jwk.x ?? '', 'base64url'),
    Buffer.from([0x22, 0x58, 0x20]),
    Buffer.from(jwk.y ?? '', 'base64url'),
  ]);
  return {
    id: randomBytes(16).toString('base64url'),
    cose: cose.toString('base64url'),
    priv: privateKey,
  };
}

function signAssertion(
  key: Key,
  challenge: string,
  origin: string,
  rpId: string,
  counter: number,
): string {
  const clientData = Buffer.from(
    JSON.stringify({ type: 'webauthn.get', challenge, origin, crossOrigin: false }),
  );
  const authData = Buffer.alloc(37);
  createHash('sha256').update(rpId).digest().copy(authData, 0);
  authData[32] = 0x05; // user present, user verified
  authData.writeUInt32BE(counter, 33);
  const sig = createSign('SHA256')
    .update(Buffer.concat([authData, createHash('sha256').update(clientData).digest()]))
    .sign(key.priv);
  return JSON.stringify({
    id: key.id,
    rawId: key.id,
    type: 'public-key',
    response: {
      clientDataJSON: clientData.toString('base64url'),
      authenticatorData: authData.toString('base64url'),
      signature: sig.toString('base64url'),
    },
    clientExtensionResults: {},
  });
}

function challengeOf(page: string): string {
  const m = /id="webauthnForm" data-mode="get" data-options="([^"]*)"/.exec(page);
  assert.ok(m?.[1], 'the page offers the security key');
  const o = JSON.parse(decodeEntities(m[1])) as { challenge: string };
  return o.challenge;
}

describe('one MFA lockout for every method (issue 16: MFA lockout)', () => {
  let t: TestApp;
  const clock = new FixedClock(T0);
  const key = newKey();
  const ORIGIN = 'https://sts.fedgate.test';
  const RP_ID = 'sts.fedgate.test';

  before(async () => {
    t = await makeTestApp(
      {
        publicUrl: ORIGIN,
        mfa: { methods: ['totp', 'webauthn'], enrolment: { allow: ['code'] } },
      },
      { clock },
    );
    const store = t.services.mfa.enrolments;
    assert.ok(store);
    for (const name of ['alice', 'bob']) {
      const user = await t.services.directory.findUser(name);
      assert.ok(user);
      await store.write(user, {
        v: 1,
        factors: [
          {
            kind: 'totp',
            id: 'app',
            name: 'App',
            createdAt: clock.now().toISOString(),
            secret: SECRET,
          },
          {
            kind: 'webauthn',
            id: 'key',
            name: 'Key',
            createdAt: clock.now().toISOString(),
            credentialId: key.id,
            publicKey: key.cose,
            counter: 0,
          },
        ],
      });
    }
  });
  after(async () => {
    await t.close();
  });

  it('the software key signs in (the twin of the refusals below)', async () => {
    const s = await signInForMfa(t, 'alice@fedgate.test');
    const ok = await postMfaForm(t, s.jar, s.page, {
      Method: 'webauthn',
      WebAuthnResponse: signAssertion(key, challengeOf(s.page), ORIGIN, RP_ID, 1),
    });
    assert.match(ok.text, /name="wresult"/);
  });

  it('wrong security-key answers reach the lockout: then the right TOTP code is refused', async () => {
    clock.advance(60_000);
    // A page opened before the lockout (a locked one has no form left to answer).
    const later = await signInForMfa(t, 'bob@fedgate.test');
    const s = await signInForMfa(t, 'bob@fedgate.test');
    let page = s.page;
    for (let i = 0; i < 5; i++) {
      const r = await postMfaForm(t, s.jar, page, { Method: 'webauthn', WebAuthnResponse: '{}' });
      assert.doesNotMatch(r.text, /name="wresult"/);
      page = r.text.includes('id="webauthnForm"') ? r.text : page;
    }
    assert.equal(t.logs.events('mfa_locked_out').at(-1)?.method, 'webauthn');
    const again = await signInForMfa(t, 'bob@fedgate.test');
    assert.match(again.page, /Too many wrong verification attempts/);
    const right = await postMfaForm(t, later.jar, later.page, {
      Method: 'totp',
      Code: oathtool(SECRET, clock.now()),
    });
    assert.doesNotMatch(right.text, /name="wresult"/, 'no token while locked out');
  });

  it('a valid security-key assertion on a page opened before the lockout is refused once locked out', async () => {
    clock.advance(16 * 60_000); // bob's lockout is over; alice starts clean
    const opened = await signInForMfa(t, 'alice@fedgate.test');
    const challenge = challengeOf(opened.page);
    // Another browser (an attacker with the password) burns the MFA attempts.
    const other = await signInForMfa(t, 'alice@fedgate.test');
    let page = other.page;
    for (let i = 0; i < 5; i++) {
      const r = await postMfaForm(t, other.jar, page, {
        Method: 'totp',
        Code: i % 2 === 0 ? '000000' : '999999',
      });
      page = r.text.includes('id="totpForm"') ? r.text : page;
    }
    assert.equal(
      await t.services.mfa.lockout.locked(
        `guid:${(await t.services.directory.findUser('alice'))?.objectGuid.toString('base64') ?? ''}`,
      ),
      true,
    );
    const late = await postMfaForm(t, opened.jar, opened.page, {
      Method: 'webauthn',
      WebAuthnResponse: signAssertion(key, challenge, ORIGIN, RP_ID, 2),
    });
    assert.doesNotMatch(late.text, /name="wresult"/, 'no token while locked out');
    assert.match(late.text, /Too many wrong verification attempts/);
    assert.equal(t.logs.events('mfa').at(-1)?.outcome, 'locked');
  });
});
