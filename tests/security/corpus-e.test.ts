import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { FixedClock } from '../../server/lib/clock.ts';
import { Jar, makeTestApp, type TestApp } from '../helpers/app.ts';
import {
  EMAIL,
  IDP_SSO,
  SP_ID,
  SP_SLO,
  authnRequestXml,
  b64,
  samlApp,
  signEnveloped,
  spMetadata,
  standardSp,
  uid,
} from '../fixtures/saml2/harness.ts';
import { buildRst, rstHeaders, V13, V2005, wsuTime } from '../fixtures/wstrust/rst.ts';

// Security corpus E5 (inbound clock skew). The clock is injected (FixedClock), so every boundary is exact:
// a message dated one second inside the allowed skew is accepted, one second outside it is refused with a
// reason of its own in the log. Nothing else in the message changes between the accepted and the refused
// case, so each refusal can only come from the freshness check (see docs/security.md for the mutants).

const NOW = new Date('2026-03-02T10:00:00.000Z');
const SEC = 1000;
const at = (ms: number): string => new Date(NOW.getTime() + ms).toISOString();

describe('corpus E5: inbound clock skew with an injected clock', () => {
  describe('SAML 2.0 AuthnRequest and LogoutRequest IssueInstant', () => {
    let t: Awaited<ReturnType<typeof samlApp>>;
    const clock = new FixedClock(NOW);
    // Defaults written out so the boundaries below are visibly the configured ones.
    const SKEW = 180;
    const MAX_AGE = 300;
    before(async () => {
      t = await samlApp(
        [
          {
            file: 'sp',
            metadataXml: spMetadata(
              standardSp({ slo: [{ location: SP_SLO, binding: 'redirect' }] }),
            ),
            trust: { nameIdFormat: EMAIL },
          },
        ],
        { saml2: { clockSkewSeconds: SKEW, requestMaxAgeSeconds: MAX_AGE } },
        { clock },
      );
    });
    after(async () => {
      await t.close();
    });

    const post = (samlRequest: string): Promise<request.Response> =>
      request(t.app)
        .post('/adfs/ls/')
        .set('Cookie', new Jar().header())
        .type('form')
        .send({ SAMLRequest: b64(samlRequest) });

    /** The logged reason of the refusal answered with this activity id. */
    function refusalDetail(res: request.Response): string {
      const line = t.logs.lines.find(
        (l) => l.activityId === res.headers['x-activity-id'] && typeof l.detail === 'string',
      );
      const detail = line?.detail;
      return typeof detail === 'string' ? detail : '';
    }

    const logoutRequest = (issueInstant: string): string =>
      signEnveloped(
        '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"' +
          ` ID="${uid()}" Version="2.0" IssueInstant="${issueInstant}" Destination="${IDP_SSO}">` +
          `<saml:Issuer>${SP_ID}</saml:Issuer><saml:NameID Format="${EMAIL}">alice@fedgate.test</saml:NameID></samlp:LogoutRequest>`,
      );

    test('E5 AuthnRequest IssueInstant just inside the skew (ahead and behind) is accepted', async () => {
      for (const issueInstant of [
        at((SKEW - 1) * SEC), // sender's clock ahead of ours by just under the skew
        at(-(MAX_AGE + SKEW - 1) * SEC), // oldest request still accepted: max age plus skew
      ]) {
        const res = await post(authnRequestXml({ issueInstant }));
        assert.equal(res.status, 200, `${issueInstant}: ${res.text.slice(0, 300)}`);
        assert.match(res.text, /name="AuthState"/, 'the sign-in form is shown');
      }
    });

    test('E5 AuthnRequest IssueInstant just outside the skew is refused with a distinct reason', async () => {
      const future = await post(authnRequestXml({ issueInstant: at((SKEW + 1) * SEC) }));
      assert.equal(future.status, 400);
      assert.doesNotMatch(future.text, /name="AuthState"/);
      assert.match(refusalDetail(future), /AuthnRequest IssueInstant in the future/);
      const old = await post(authnRequestXml({ issueInstant: at(-(MAX_AGE + SKEW + 1) * SEC) }));
      assert.equal(old.status, 400);
      assert.doesNotMatch(old.text, /name="AuthState"/);
      assert.match(refusalDetail(old), /AuthnRequest IssueInstant too old/);
    });

    test('E5 LogoutRequest IssueInstant just inside the skew is answered, just outside is refused', async () => {
      for (const issueInstant of [at((SKEW - 1) * SEC), at(-(MAX_AGE + SKEW - 1) * SEC)]) {
        const res = await post(logoutRequest(issueInstant));
        // No session here, so the answer is a LogoutResponse to the registered SLO endpoint (a status, not an
        // error page): the request itself was accepted as fresh.
        assert.equal(res.status, 302, `${issueInstant}: ${res.text.slice(0, 300)}`);
        assert.ok(String(res.headers.location).startsWith(`${SP_SLO}?SAMLResponse=`));
      }
      const future = await post(logoutRequest(at((SKEW + 1) * SEC)));
      assert.equal(future.status, 400);
      assert.match(refusalDetail(future), /LogoutRequest IssueInstant in the future/);
      const old = await post(logoutRequest(at(-(MAX_AGE + SKEW + 1) * SEC)));
      assert.equal(old.status, 400);
      assert.match(refusalDetail(old), /LogoutRequest IssueInstant too old/);
    });
  });

  describe('WS-Trust wsu:Timestamp Created', () => {
    let t: TestApp;
    const clock = new FixedClock(NOW);
    const SKEW = 300;
    before(async () => {
      t = await makeTestApp(
        {
          listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
          wstrust: { clockSkewSeconds: SKEW },
        },
        { clock },
      );
    });
    after(async () => {
      await t.close();
    });

    const rst = (version: typeof V13 | typeof V2005, createdOffsetMs: number) => {
      const created = new Date(NOW.getTime() + createdOffsetMs);
      return {
        version,
        username: 'alice@fedgate.test',
        password: 'Passw0rd!',
        now: NOW,
        // No Expires: only Created is under test (WS-Security 1.0 §10).
        timestamp: `<wsu:Timestamp><wsu:Created>${wsuTime(created)}</wsu:Created></wsu:Timestamp>`,
      };
    };
    async function post(o: ReturnType<typeof rst>): Promise<request.Response> {
      let r = request(t.app).post(o.version.path);
      for (const [k, v] of Object.entries(rstHeaders(o))) r = r.set(k, v);
      return r.set('X-Forwarded-Proto', 'https').send(buildRst(o));
    }
    function refusal(res: request.Response): Record<string, unknown> | undefined {
      return t.logs.lines.find(
        (l) => l.activityId === res.headers['x-activity-id'] && l.fault !== undefined,
      );
    }

    test('E5 WS-Trust Created just inside the skew (ahead and behind) is accepted on both versions', async () => {
      for (const v of [V13, V2005])
        for (const offset of [(SKEW - 1) * SEC, -(SKEW - 1) * SEC]) {
          const res = await post(rst(v, offset));
          assert.equal(res.status, 200, `${v.path} ${offset}: ${res.text.slice(0, 300)}`);
          assert.match(res.text, /RequestSecurityTokenResponse/);
        }
    });

    test('E5 WS-Trust Created just outside the skew is refused (MessageExpired) with a distinct reason', async () => {
      for (const v of [V13, V2005]) {
        const ahead = await post(rst(v, (SKEW + 1) * SEC));
        assert.equal(ahead.status, 500);
        assert.match(ahead.text, /MessageExpired/);
        assert.doesNotMatch(ahead.text, /RequestSecurityTokenResponse/);
        assert.equal(refusal(ahead)?.fault, 'message_expired');
        assert.match(JSON.stringify(refusal(ahead)?.detail), /Created is in the future/);
        const behind = await post(rst(v, -(SKEW + 1) * SEC));
        assert.equal(behind.status, 500);
        assert.match(behind.text, /MessageExpired/);
        assert.match(
          JSON.stringify(refusal(behind)?.detail),
          /Created is older than the skew window/,
        );
      }
    });
  });
});
