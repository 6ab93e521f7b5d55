import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import request from 'supertest';
import { DOMParser } from '@xmldom/xmldom';
import { ExclusiveCanonicalization, SignedXml } from 'xml-crypto';
import { FixedClock } from '../../server/lib/clock.ts';
import { Jar } from '../helpers/app.ts';
import {
  EMAIL,
  ENVELOPED,
  EXC_C14N,
  IDP_SSO,
  ISSUER,
  RSA_SHA256,
  SHA256,
  SP_ACS,
  SP_ID,
  SP_KEY,
  SP_SLO,
  SP2_ACS,
  SP2_ID,
  SP2_SLO,
  authnRequestXml,
  b64,
  getAndSignIn,
  pathOf,
  samlApp,
  postAndSignIn,
  postedSaml,
  signEnveloped,
  spMetadata,
  standardSp,
  uid,
  refusalDetail,
} from '../fixtures/saml2/harness.ts';

// One test per defence that `npm run mutate` (tests/mutate/mutants.ts) showed no other test pinned down
// (issue 14 §3). Each case starts from a request fedgate accepts (the positive control, sent through the same
// path) and changes only what the named defence should catch, so it fails when that defence is removed.
// Corpus ids: ../shared/security-corpus.md.

const SIGNED_SP = 'https://signed-sp.fedgate.test';
const DSIG = 'http://www.w3.org/2000/09/xmldsig#';

/** Signs SignedInfo again as it now stands: the SP's own key, so only the edited SignedInfo differs. */
function resignSignedInfo(xml: string): string {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const si = doc.getElementsByTagNameNS(DSIG, 'SignedInfo')[0];
  assert.ok(si !== undefined, 'SignedInfo');
  const canon = new ExclusiveCanonicalization().process(si, {});
  const value = createSign('sha256').update(canon).sign(SP_KEY).toString('base64');
  return xml.replace(
    /<ds:SignatureValue>[^<]*<\/ds:SignatureValue>/,
    `<ds:SignatureValue>${value}</ds:SignatureValue>`,
  );
}

/** HTTP-Redirect query (SAML Bindings §3.4.4.1), optionally without the Signature parameter. */
function redirectQuery(xml: string, o: { omitSignature?: boolean } = {}): string {
  const q = `SAMLRequest=${encodeURIComponent(deflateRawSync(xml).toString('base64'))}`;
  const signedPart = `${q}&SigAlg=${encodeURIComponent(RSA_SHA256)}`;
  if (o.omitSignature === true) return signedPart;
  const sig = createSign('sha256').update(signedPart).sign(SP_KEY).toString('base64');
  return `${signedPart}&Signature=${encodeURIComponent(sig)}`;
}

describe('SAML 2.0 defences pinned one by one (mutation-tested)', () => {
  let t: Awaited<ReturnType<typeof samlApp>>;
  before(async () => {
    t = await samlApp([
      // Signing optional: what an unsigned or half-signed message from it is turned into is the question.
      { file: 'sp', metadataXml: spMetadata(standardSp()), trust: { nameIdFormat: EMAIL } },
      {
        file: 'signed-sp',
        metadataXml: spMetadata(
          standardSp({
            entityId: SIGNED_SP,
            acs: [{ location: `${SIGNED_SP}/acs`, index: 0, isDefault: true }],
            authnRequestsSigned: true,
          }),
        ),
        trust: { nameIdFormat: EMAIL },
      },
    ]);
  });
  after(async () => {
    await t.close();
  });

  const post = (xml: string): Promise<request.Response> =>
    request(t.app)
      .post('/adfs/ls/')
      .type('form')
      .send({ SAMLRequest: b64(xml) });
  const get = (query: string, jar = new Jar()): Promise<request.Response> =>
    request(t.app).get(`/adfs/ls/?${query}`).set('Cookie', jar.header());

  function accepted(res: request.Response, what: string): void {
    assert.equal(res.status, 200, `${what}: ${res.text.slice(0, 300)}`);
    assert.match(res.text, /name="AuthState"/, what);
  }
  const refused = (res: request.Response, what = 'attack'): string =>
    refusalDetail(res, t.logs, what);
  const signedRequest = (): string => signEnveloped(authnRequestXml({ issuer: SIGNED_SP }));

  test('B2.16 a parameter inside the enveloped-signature transform (an XPath) is refused, even re-signed; control accepted', async () => {
    // Control: SignedInfo re-signed unchanged through the same helper is accepted.
    accepted(await post(resignSignedInfo(signedRequest())), 'control');
    const withXPath = resignSignedInfo(
      signedRequest().replace(
        /<ds:Transform Algorithm="http:\/\/www\.w3\.org\/2000\/09\/xmldsig#enveloped-signature"\/>/,
        '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"><ds:XPath>not(ancestor-or-self::samlp:Extensions)</ds:XPath></ds:Transform>',
      ),
    );
    assert.match(withXPath, /<ds:XPath>/);
    assert.match(refused(await post(withXPath), 'XPath parameter'), /transform parameters refused/);
  });

  test('B2.1 a SignatureValue that does not verify is refused, the rest of the signature intact; control accepted', async () => {
    const good = signedRequest();
    accepted(await post(good), 'control');
    // Same SignedInfo, digests still right: only the signature over SignedInfo is wrong (one byte changed).
    const value = /<ds:SignatureValue>([^<]*)<\/ds:SignatureValue>/.exec(good)?.[1] ?? '';
    const bytes = Buffer.from(value, 'base64');
    bytes[10] = (bytes[10] ?? 0) ^ 1;
    const bad = good.replace(value, bytes.toString('base64'));
    assert.match(refused(await post(bad), 'bad SignatureValue'), /does not verify/);
  });

  test('A6 a signature the verifier cannot even evaluate (no SignatureValue) is refused, not accepted; control accepted', async () => {
    const good = signedRequest();
    accepted(await post(good), 'control');
    const noValue = good.replace(/<ds:SignatureValue>[^<]*<\/ds:SignatureValue>/, '');
    assert.match(refused(await post(noValue), 'no SignatureValue'), /does not verify/);
  });

  test('B2.12 HTTP-Redirect: SigAlg without Signature is refused, not read as an unsigned request; control accepted', async () => {
    // The SP may send unsigned requests, so a stripped signature would otherwise pass as "unsigned".
    // Each request gets a fresh ID (the replay cache would refuse a second use).
    accepted(await get(redirectQuery(authnRequestXml({ issuer: SP_ID }))), 'signed control');
    const unsigned = deflateRawSync(authnRequestXml({ issuer: SP_ID })).toString('base64');
    accepted(await get(`SAMLRequest=${encodeURIComponent(unsigned)}`), 'unsigned control');
    const detail = refused(
      await get(redirectQuery(authnRequestXml({ issuer: SP_ID }), { omitSignature: true })),
      'SigAlg alone',
    );
    assert.match(detail, /SigAlg without Signature/);
  });

  test('B3.1 AssertionConsumerServiceURL and AssertionConsumerServiceIndex together are refused (SAML Core §3.4.1); each alone accepted', async () => {
    // Both name the same registered endpoint: only their being together is wrong.
    accepted(await post(authnRequestXml({ issuer: SP_ID, acsUrl: SP_ACS })), 'URL alone');
    accepted(await post(authnRequestXml({ issuer: SP_ID, acsIndex: 0 })), 'index alone');
    const res = await post(authnRequestXml({ issuer: SP_ID, acsUrl: SP_ACS, acsIndex: 0 }));
    assert.match(refused(res, 'URL and index'), /both AssertionConsumerServiceURL and Index/);
  });

  test('B3.8 LogoutRequest with the right NameID but another SessionIndex → session kept, PartialLogout; the right SessionIndex ends it', async () => {
    const jar = new Jar();
    const { res } = await postAndSignIn(
      t.app,
      { SAMLRequest: b64(authnRequestXml({ issuer: SP_ID })) },
      jar,
    );
    const token = Buffer.from(postedSaml(res.text).SAMLResponse ?? '', 'base64').toString('utf8');
    const sessionIndex = /SessionIndex="([^"]+)"/.exec(token)?.[1];
    assert.ok(sessionIndex !== undefined, token.slice(0, 300));
    const nameId = /<(?:\w+:)?NameID[^>]*>([^<]+)</.exec(token)?.[1];
    assert.ok(nameId !== undefined, token.slice(0, 300));
    const logout = async (index: string): Promise<string> => {
      const lr =
        '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"' +
        ` ID="${uid()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${IDP_SSO}">` +
        `<saml:Issuer>${SP_ID}</saml:Issuer><saml:NameID Format="${EMAIL}">${nameId}</saml:NameID>` +
        `<samlp:SessionIndex>${index}</samlp:SessionIndex></samlp:LogoutRequest>`;
      const r = await get(redirectQuery(lr), jar);
      assert.equal(r.status, 302, r.text.slice(0, 300));
      const loc = new URL(String(r.headers.location));
      return inflateRawSync(
        Buffer.from(loc.searchParams.get('SAMLResponse') ?? '', 'base64'),
      ).toString('utf8');
    };
    /**
     * A new AuthnRequest from this browser is answered without a sign-in form (SSO) only while the session
     * lives; returns the SessionIndex of that new assertion (the session's current one for this SP).
     */
    const ssoSessionIndex = async (): Promise<string | undefined> => {
      const r = await request(t.app)
        .post('/adfs/ls/')
        .set('Cookie', jar.header())
        .type('form')
        .send({ SAMLRequest: b64(authnRequestXml({ issuer: SP_ID })) });
      assert.equal(r.status, 200, r.text.slice(0, 300));
      if (r.text.includes('name="AuthState"')) return undefined;
      const xml = Buffer.from(postedSaml(r.text).SAMLResponse ?? '', 'base64').toString('utf8');
      return /SessionIndex="([^"]+)"/.exec(xml)?.[1];
    };
    assert.match(await logout(`_other${sessionIndex}`), /status:PartialLogout/, 'mismatch');
    const current = await ssoSessionIndex();
    assert.equal(current, sessionIndex, 'session kept after the mismatched SessionIndex');
    // Control: the same request with the session's own SessionIndex logs out.
    assert.match(await logout(sessionIndex), /status:Success/, 'control');
    assert.equal(await ssoSessionIndex(), undefined, 'session ended');
  });
});

describe('SAML 2.0 request freshness at the configured skew (frozen clock)', () => {
  // saml2.clockSkewSeconds is 180 by default; the bounds are checked a minute either side of it.
  const clock = new FixedClock();
  let t: Awaited<ReturnType<typeof samlApp>>;
  before(async () => {
    t = await samlApp(
      [{ file: 'sp', metadataXml: spMetadata(standardSp()), trust: { nameIdFormat: EMAIL } }],
      { saml2: { clockSkewSeconds: 180 } },
      { clock },
    );
  });
  after(async () => {
    await t.close();
  });
  const at = (offsetSeconds: number, zone = 'Z'): Promise<request.Response> =>
    request(t.app)
      .post('/adfs/ls/')
      .type('form')
      .send({
        SAMLRequest: b64(
          authnRequestXml({
            issuer: SP_ID,
            issueInstant: new Date(clock.now().getTime() + offsetSeconds * 1000)
              .toISOString()
              .replace('Z', zone),
          }),
        ),
      });

  test('E5 IssueInstant up to the skew ahead is accepted; a minute beyond it is refused', async () => {
    const inside = await at(120);
    assert.equal(inside.status, 200, inside.text.slice(0, 300));
    assert.match(inside.text, /name="AuthState"/);
    const beyond = await at(240);
    assert.equal(beyond.status, 400, beyond.text.slice(0, 300));
    assert.doesNotMatch(beyond.text, /name="AuthState"|SAMLResponse/);
    const activity = /id="activityId">([0-9a-f-]{36})</.exec(beyond.text)?.[1];
    const line = t.logs.lines.find((l) => l.activityId === activity && l.detail !== undefined);
    assert.match(String(line?.detail), /IssueInstant in the future/);
  });

  test('E5 IssueInstant must be UTC with no zone offset (SAML Core §1.3.3): the same instant as +00:00 is refused', async () => {
    const utc = await at(0);
    assert.equal(utc.status, 200, utc.text.slice(0, 300));
    assert.match(utc.text, /name="AuthState"/);
    const offset = await at(0, '+00:00');
    assert.equal(offset.status, 400, offset.text.slice(0, 300));
    assert.doesNotMatch(offset.text, /name="AuthState"|SAMLResponse/);
  });
});

describe('single logout: a participant LogoutResponse is taken only when it answers our LogoutRequest and verifies', () => {
  // SP1 starts the logout; fedgate sends a LogoutRequest to the session's other participant and waits for its
  // LogoutResponse (SAML Profiles §4.4.3.3) before answering SP1. A Success from that participant is what lets
  // fedgate tell SP1 "everyone is logged out", so it must be the participant's answer to *that* request (B3.8:
  // InResponseTo, SAML Core §3.2.2) and, when signed, a signature that verifies (B2.1). Both bindings: the
  // participant on POST answers with an enveloped signature, the one on Redirect with a query signature.
  // node-saml plays SP1 (and reads fedgate's LogoutRequests as the participants); the participants' answers
  // are written here so the control and each attack go through the same builder and differ in one thing.
  const SP3 = {
    id: 'https://sp3.fedgate.test',
    acs: 'https://sp3.fedgate.test/acs',
    slo: 'https://sp3.fedgate.test/slo',
  };
  const STATUS = 'urn:oasis:names:tc:SAML:2.0:status:';
  let t: Awaited<ReturnType<typeof samlApp>>;
  before(async () => {
    t = await samlApp([
      { file: 'sp', metadataXml: spMetadata(standardSp()), trust: { nameIdFormat: EMAIL } },
      {
        file: 'sp2',
        metadataXml: spMetadata(
          standardSp({
            entityId: SP2_ID,
            acs: [{ location: SP2_ACS, index: 0, isDefault: true }],
            slo: [{ location: SP2_SLO, binding: 'post' }],
          }),
        ),
        trust: { nameIdFormat: EMAIL },
      },
      {
        file: 'sp3',
        metadataXml: spMetadata(
          standardSp({
            entityId: SP3.id,
            acs: [{ location: SP3.acs, index: 0, isDefault: true }],
            slo: [{ location: SP3.slo, binding: 'redirect' }],
          }),
        ),
        trust: { nameIdFormat: EMAIL },
      },
    ]);
  });
  after(async () => {
    await t.close();
  });

  /** A service provider as node-saml plays it: signs its requests, verifies fedgate's messages. */
  const client = (id: string, acs: string, slo: string): SAML =>
    new SAML({
      entryPoint: IDP_SSO,
      logoutUrl: IDP_SSO,
      callbackUrl: acs,
      logoutCallbackUrl: slo,
      issuer: id,
      audience: id,
      idpCert: t.idpCert,
      idpIssuer: ISSUER,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      privateKey: SP_KEY,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      identifierFormat: EMAIL,
      validateInResponseTo: ValidateInResponseTo.never,
      acceptedClockSkewMs: 0,
    });

  const ROOT = "/*[local-name()='LogoutResponse']";
  /** An enveloped signature by the SP's key (xml-crypto), after the Issuer (SAML Core §5.4.1). */
  function signEnvelopedResponse(xml: string): string {
    const sx = new SignedXml({
      privateKey: SP_KEY,
      signatureAlgorithm: RSA_SHA256,
      canonicalizationAlgorithm: EXC_C14N,
    });
    sx.addReference({ xpath: ROOT, transforms: [ENVELOPED, EXC_C14N], digestAlgorithm: SHA256 });
    sx.computeSignature(xml, {
      prefix: 'ds',
      location: { reference: `${ROOT}/*[local-name()='Issuer']`, action: 'after' },
    });
    return sx.getSignedXml();
  }
  /** One bit of a base64 signature flipped: everything it covers unchanged, the value no longer verifies. */
  function flipBit(value: string): string {
    const bytes = Buffer.from(value, 'base64');
    bytes[10] = (bytes[10] ?? 0) ^ 1;
    return bytes.toString('base64');
  }
  const logoutResponseXml = (issuer: string, inResponseTo: string): string =>
    '<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"' +
    ` ID="${uid()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${IDP_SSO}" InResponseTo="${inResponseTo}">` +
    `<saml:Issuer>${issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="${STATUS}Success"/></samlp:Status>` +
    '</samlp:LogoutResponse>';
  const inflate = (b: string): string => inflateRawSync(Buffer.from(b, 'base64')).toString('utf8');

  type Attack = 'none' | 'inResponseTo' | 'signature' | 'unsigned';
  interface Participant {
    id: string;
    acs: string;
    slo: string;
    binding: 'post' | 'redirect';
  }
  const POST_SP: Participant = { id: SP2_ID, acs: SP2_ACS, slo: SP2_SLO, binding: 'post' };
  const REDIRECT_SP: Participant = { ...SP3, binding: 'redirect' };

  /**
   * One SSO session with SP1 and `other` (joined without a prompt), a signed LogoutRequest from SP1, then
   * `other`'s Success LogoutResponse to fedgate's LogoutRequest, altered by `attack`. Returns fedgate's answer
   * to that LogoutResponse and the ID of SP1's LogoutRequest.
   */
  async function logoutVia(
    other: Participant,
    attack: Attack,
  ): Promise<{ res: request.Response; sp1RequestId: string }> {
    const sp1 = client(SP_ID, SP_ACS, SP_SLO);
    const sp2 = client(other.id, other.acs, other.slo);
    const jar = new Jar();
    const { res: signedIn } = await getAndSignIn(
      t.app,
      await sp1.getAuthorizeUrlAsync('', undefined, {}),
      jar,
    );
    assert.equal(postedSaml(signedIn.text).action, SP_ACS, signedIn.text.slice(0, 300));
    const { profile } = await sp1.validatePostResponseAsync({
      SAMLResponse: postedSaml(signedIn.text).SAMLResponse ?? '',
    });
    assert.ok(profile, 'SP1 signed in');
    const joined = await request(t.app)
      .get(pathOf(await sp2.getAuthorizeUrlAsync('', undefined, {})))
      .set('Cookie', jar.header());
    assert.equal(joined.status, 200, joined.text.slice(0, 300));
    assert.doesNotMatch(joined.text, /name="AuthState"/, 'the second SP joined by SSO');
    assert.equal(postedSaml(joined.text).action, other.acs);
    assert.ok(
      (
        await sp2.validatePostResponseAsync({
          SAMLResponse: postedSaml(joined.text).SAMLResponse ?? '',
        })
      ).profile,
    );

    const logoutUrl = new URL(await sp1.getLogoutUrlAsync(profile, 'sp1-relay', {}));
    const sp1RequestId = /\sID="([^"]+)"/.exec(
      inflate(logoutUrl.searchParams.get('SAMLRequest') ?? ''),
    )?.[1];
    assert.ok(sp1RequestId !== undefined);
    const out = await request(t.app).get(pathOf(logoutUrl.href)).set('Cookie', jar.header());
    jar.take(out);

    // fedgate's LogoutRequest to the other participant, read and verified by node-saml as that SP.
    let requestId: string | undefined;
    let relayState: string | undefined;
    if (other.binding === 'post') {
      assert.equal(out.status, 200, out.text.slice(0, 300));
      const form = postedSaml(out.text);
      assert.equal(form.action, other.slo);
      requestId = (await sp2.validatePostRequestAsync({ SAMLRequest: form.SAMLRequest ?? '' }))
        .profile.ID;
      relayState = form.RelayState;
    } else {
      assert.equal(out.status, 302, out.text.slice(0, 300));
      const to = new URL(String(out.headers.location));
      assert.equal(to.origin + to.pathname, other.slo);
      requestId = (
        await sp2.validateRedirectAsync(Object.fromEntries(to.searchParams), to.search.slice(1))
      ).profile?.ID;
      relayState = to.searchParams.get('RelayState') ?? undefined;
    }
    assert.ok(
      requestId !== undefined && relayState !== undefined,
      'LogoutRequest ID and RelayState',
    );

    const xml = logoutResponseXml(other.id, attack === 'inResponseTo' ? uid() : requestId);
    let res: request.Response;
    if (other.binding === 'post') {
      let signed = attack === 'unsigned' ? xml : signEnvelopedResponse(xml);
      if (attack === 'signature') {
        const value = /<ds:SignatureValue>([^<]*)<\/ds:SignatureValue>/.exec(signed)?.[1] ?? '';
        assert.notEqual(value, '');
        signed = signed.replace(value, flipBit(value));
      }
      res = await request(t.app)
        .post('/adfs/ls/')
        .set('Cookie', jar.header())
        .type('form')
        .send({ SAMLResponse: b64(signed), RelayState: relayState });
    } else {
      // HTTP-Redirect signature over SAMLResponse, RelayState, SigAlg in that order (SAML Bindings §3.4.4.1).
      const signedPart =
        `SAMLResponse=${encodeURIComponent(deflateRawSync(xml).toString('base64'))}` +
        `&RelayState=${encodeURIComponent(relayState)}&SigAlg=${encodeURIComponent(RSA_SHA256)}`;
      let sig = createSign('sha256').update(signedPart).sign(SP_KEY).toString('base64');
      if (attack === 'signature') sig = flipBit(sig);
      // Unsigned: the same message and RelayState, no SigAlg and no Signature.
      const query =
        attack === 'unsigned'
          ? signedPart.slice(0, signedPart.indexOf('&SigAlg='))
          : `${signedPart}&Signature=${encodeURIComponent(sig)}`;
      res = await request(t.app).get(`/adfs/ls/?${query}`).set('Cookie', jar.header());
    }
    return { res, sp1RequestId };
  }

  /** The LogoutResponse fedgate sent SP1 (Redirect binding): its URL and status codes, top level first. */
  function answerToSp1(res: request.Response): { url: URL; codes: string[]; xml: string } {
    assert.equal(res.status, 302, res.text.slice(0, 300));
    const url = new URL(String(res.headers.location));
    assert.equal(url.origin + url.pathname, SP_SLO);
    assert.equal(url.searchParams.get('RelayState'), 'sp1-relay');
    const xml = inflate(url.searchParams.get('SAMLResponse') ?? '');
    const codes = [...xml.matchAll(/StatusCode[^>]*Value="([^"]+)"/g)].map((m) => m[1] ?? '');
    return { url, codes, xml };
  }

  async function assertSuccessToSp1(res: request.Response, sp1RequestId: string): Promise<void> {
    const { url, codes, xml } = answerToSp1(res);
    // node-saml checks fedgate's query signature, then refuses any top-level status but Success.
    const v = await client(SP_ID, SP_ACS, SP_SLO).validateRedirectAsync(
      Object.fromEntries(url.searchParams),
      url.search.slice(1),
    );
    assert.equal(v.loggedOut, true);
    assert.deepEqual(codes, [`${STATUS}Success`]);
    assert.match(xml, new RegExp(`InResponseTo="${sp1RequestId}"`));
  }

  /**
   * The logout is not reported to SP1 as a success: either fedgate refuses the participant's LogoutResponse
   * (error page, nothing for SP1) or SP1 gets a LogoutResponse, verified by node-saml, saying Responder /
   * PartialLogout (SAML Core §3.7.3.2).
   */
  async function assertNotSuccess(res: request.Response, reason: RegExp): Promise<void> {
    if (res.status !== 302) {
      assert.doesNotMatch(res.text, /SAMLRequest/);
      assert.match(refusalDetail(res, t.logs, 'participant answer'), reason);
      return;
    }
    const { url, codes } = answerToSp1(res);
    await assert.rejects(
      client(SP_ID, SP_ACS, SP_SLO).validateRedirectAsync(
        Object.fromEntries(url.searchParams),
        url.search.slice(1),
      ),
      /Bad status code: urn:oasis:names:tc:SAML:2\.0:status:Responder/,
    );
    assert.deepEqual(codes, [`${STATUS}Responder`, `${STATUS}PartialLogout`]);
  }

  for (const other of [POST_SP, REDIRECT_SP]) {
    const via = other.binding === 'post' ? 'HTTP-POST' : 'HTTP-Redirect';
    test(`control (${via}): the participant's signed Success answering our LogoutRequest → SP1 hears Success`, async () => {
      const { res, sp1RequestId } = await logoutVia(other, 'none');
      await assertSuccessToSp1(res, sp1RequestId);
    });
    test(`B3.8 (${via}): the same LogoutResponse with another InResponseTo is not the participant's answer`, async () => {
      const { res } = await logoutVia(other, 'inResponseTo');
      await assertNotSuccess(res, /does not answer our LogoutRequest/);
    });
    test(`B2.1 (${via}): the same LogoutResponse with a signature that does not verify is not the participant's answer`, async () => {
      const { res } = await logoutVia(other, 'signature');
      await assertNotSuccess(res, /does not verify with the registered certificate/);
    });
    test(`B3.8 (${via}): the same Success LogoutResponse unsigned, from a party whose metadata has a signing key, is not its answer`, async () => {
      // Whoever holds the browser sees our LogoutRequest's ID and could write this; only the SP's key can sign it.
      const { res } = await logoutVia(other, 'unsigned');
      await assertNotSuccess(res, /unsigned message from a service provider that must sign/);
    });
  }
});
