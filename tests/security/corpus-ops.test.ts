import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { FixedClock } from '../../server/lib/clock.ts';
import { isTokenPage, signInFrom, type FromResult } from '../helpers/account-protection.ts';
import { Jar, hidden, makeTestApp, type TestApp } from '../helpers/app.ts';

// Security corpus E10 (observability): the audit events SIEM rules written for AD FS look for, emitted by the
// real sign-in flow (embedded directory, smart lockout in the store, X-Forwarded-For from a trusted proxy so
// each attempt has its own client address), each carrying eventId, activityId (the one the response returned),
// the user, the relying party and the client address; and no password or token in any log line.
//
// Server edits each test was seen to catch (one at a time, file restored byte for byte): eventId dropped from
// the 515, 516 or 1210 event, or 1203 written as 1201 (authn/password.ts); `rp` dropped from the sign-in audit
// fields (authn/password.ts baseFields); activityId dropped from token_issued (protocols/issuance/issue-token.ts). Redaction:
// the error renderer logging the request body (http/errors.ts) leaks the form's `Password` (the redact paths
// name `password`, lower case, so they would not catch it); token_issued
// logging `wresult` passes while the `wresult` redact paths are there and fails without them.
//
// E9 (load shedding) is tested in tests/security/corpus-e9.test.ts: before server/directory/pool.ts shed load,
// 20 concurrent sign-ins through a proxy delaying each DC reply by 400 ms (poolSize 1) all queued and all
// succeeded, the last after 11.5 s, none answered 503.

const TEST_RP = 'urn:fedgate:test';
const FAMILIAR = '203.0.113.10';
const THRESHOLD = 3;
const PASSWORD = 'Passw0rd!'; // the embedded demo directory's password (server/directory/demo-directory.ts)

describe('corpus E10: AD FS audit events from the real sign-in flow', () => {
  let t: TestApp;
  const clock = new FixedClock(new Date('2026-04-01T09:00:00.000Z'));
  /** Every password typed in this file: none may reach a log line. */
  const typed = new Set<string>([PASSWORD]);
  /** Token material that went to the browser: none may reach a log line either. */
  const tokens: string[] = [];

  before(async () => {
    t = await makeTestApp(
      {
        listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
        lockout: {
          threshold: THRESHOLD,
          observationWindowMinutes: 30,
          spray: { maxFailuresPerSource: 1000, distinctAccountsAlert: 1000, windowMinutes: 10 },
        },
        // Debug: whatever a log line could carry, it carries now.
        log: { level: 'debug' },
      },
      { clock },
    );
  });
  after(async () => {
    await t.close();
  });

  async function attempt(username: string, password: string, xff: string): Promise<FromResult> {
    typed.add(password);
    const r = await signInFrom(t.app, { username, password, xff, realm: TEST_RP });
    if (isTokenPage(r.res)) {
      const wresult = hidden(r.res.text, 'wresult');
      tokens.push(wresult);
      const sig = /SignatureValue>([^<]+)</.exec(wresult)?.[1];
      assert.ok(sig !== undefined);
      tokens.push(sig);
      const sso = r.jar.get('__Host-fedgate_sso');
      if (sso !== undefined) tokens.push(sso);
    }
    return r;
  }

  const activityOf = (r: FromResult): string => {
    const id = r.res.headers['x-activity-id'];
    assert.equal(typeof id, 'string');
    return id as string;
  };

  /** The audit lines answering one response, with the given AD FS event id. */
  function eventsFor(r: FromResult, eventId: number): Record<string, unknown>[] {
    const id = activityOf(r);
    return t.logs.lines.filter(
      (l) => l.stream === 'audit' && l.activityId === id && l.eventId === eventId,
    );
  }

  /** The fields every one of these events carries (AD FS: activity id, user, relying party, client IP). */
  function assertShape(
    e: Record<string, unknown> | undefined,
    o: { eventId: number; activityId: string; user: string; ip: string },
  ): void {
    assert.ok(e !== undefined, `no ${String(o.eventId)} event`);
    assert.equal(e.eventId, o.eventId);
    assert.equal(e.activityId, o.activityId);
    const user = e.upn ?? e.username;
    assert.equal(typeof user, 'string');
    assert.ok(String(user).toLowerCase().startsWith(o.user), `user ${String(user)}`);
    assert.equal(e.rp, TEST_RP);
    assert.equal(e.ip, o.ip);
    assert.equal(typeof e.node, 'string', 'which farm member wrote it');
  }

  test('E10 token issued: 1200 with the assertion id, and the sign-in success beside it', async () => {
    const r = await attempt('bob@fedgate.test', PASSWORD, FAMILIAR);
    assert.ok(isTokenPage(r.res), r.res.text.slice(0, 300));
    const [e] = eventsFor(r, 1200);
    assertShape(e, { eventId: 1200, activityId: activityOf(r), user: 'bob', ip: FAMILIAR });
    assert.match(String(e?.assertionId), /^_/);
    assert.equal(eventsFor(r, 1201).length + eventsFor(r, 1203).length, 0);
  });

  test('E10 bad password: 1203 for each, and 516 once when the threshold is reached', async () => {
    for (let i = 1; i <= THRESHOLD; i++) {
      const ip = `198.51.100.${String(i)}`;
      const r = await attempt('bob@fedgate.test', `Wrong-${String(i)}-pw`, ip);
      assert.ok(!isTokenPage(r.res));
      const bad = eventsFor(r, 1203);
      assert.equal(bad.length, 1, `attempt ${String(i)}`);
      assertShape(bad[0], { eventId: 1203, activityId: activityOf(r), user: 'bob', ip });
      const locked = eventsFor(r, 516);
      assert.equal(locked.length, i === THRESHOLD ? 1 : 0, `516 at attempt ${String(i)}`);
      if (i === THRESHOLD)
        assertShape(locked[0], { eventId: 516, activityId: activityOf(r), user: 'bob', ip });
    }
  });

  test('E10 an attempt while locked out: 1210, and no password check (no 1203)', async () => {
    const ip = '198.51.100.20';
    const r = await attempt('bob@fedgate.test', 'Wrong-while-locked', ip);
    assert.ok(!isTokenPage(r.res));
    const [e] = eventsFor(r, 1210);
    assertShape(e, { eventId: 1210, activityId: activityOf(r), user: 'bob', ip });
    assert.equal(eventsFor(r, 1203).length, 0);
    assert.equal(eventsFor(r, 515).length, 0, 'a wrong password while locked is not 515');
  });

  test('E10 the correct password while locked out: 515 (and 1210), still refused', async () => {
    const ip = '198.51.100.21';
    const r = await attempt('bob@fedgate.test', PASSWORD, ip);
    assert.ok(!isTokenPage(r.res), 'refused while locked');
    assertShape(eventsFor(r, 1210)[0], {
      eventId: 1210,
      activityId: activityOf(r),
      user: 'bob',
      ip,
    });
    const [e] = eventsFor(r, 515);
    assertShape(e, { eventId: 515, activityId: activityOf(r), user: 'bob', ip });
    assert.equal(eventsFor(r, 1200).length, 0);
  });

  test('E10 a sign-in that fails for another reason (disabled account): 1201, not 1203', async () => {
    const ip = '198.51.100.30';
    // carol is disabled in the demo directory; her password is right.
    const r = await attempt('carol@fedgate.test', PASSWORD, ip);
    assert.ok(!isTokenPage(r.res));
    const [e] = eventsFor(r, 1201);
    assertShape(e, { eventId: 1201, activityId: activityOf(r), user: 'carol', ip });
    assert.equal(e?.kind, 'disabled');
    assert.equal(eventsFor(r, 1203).length, 0);
  });

  test('E10 no password and no token reaches any log line (debug level, a refused form included)', async () => {
    // A credential post refused before any check (anti-CSRF token wrong): its error is logged with the request.
    const jar = new Jar();
    const page = await request(t.app)
      .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(TEST_RP)}`)
      .set('X-Forwarded-For', '198.51.100.40');
    jar.take(page);
    const refusedPassword = 'Refused-form-pw-7';
    typed.add(refusedPassword);
    const refused = await request(t.app)
      .post('/adfs/ls/')
      .set('X-Forwarded-For', '198.51.100.40')
      .set('Cookie', jar.header())
      .type('form')
      .send({
        AuthState: hidden(page.text, 'AuthState'),
        csrf: 'not-the-token',
        UserName: 'alice@fedgate.test',
        Password: refusedPassword,
        AuthMethod: 'FormsAuthentication',
      });
    assert.equal(refused.status, 403, refused.text.slice(0, 200));
    assert.ok(
      t.logs.lines.some((l) => l.activityId === refused.headers['x-activity-id']),
      'control: the refusal was logged',
    );
    // Control: the earlier tests issued a token and typed passwords, so there is something to find.
    assert.ok(tokens.length >= 3 && typed.size >= 6, `${String(tokens.length)} tokens`);
    assert.equal(t.services.log.level, 'debug');

    const text = t.logs.raw.join('\n');
    for (const pw of typed) assert.ok(!text.includes(pw), `a password in the log: ${pw}`);
    for (const tok of tokens)
      assert.ok(!text.includes(tok.slice(0, 64)), 'token material in the log');
  });
});
