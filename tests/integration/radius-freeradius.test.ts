// Third-party MFA over RADIUS (issue 16): fedgate's RADIUS client against a real FreeRADIUS 3.2 (Debian
// `freeradius`, started by tests/helpers/freeradius.ts on a loopback port, configured from
// tests/fixtures/freeradius/ to require a Message-Authenticator from us), plus a silent UDP socket (a server that is
// down) and a test-only responder that knows the secret but gets the Message-Authenticator wrong or leaves it out
// (Blast-RADIUS, CVE-2024-3596: such an answer must never decide). Outcomes are asserted, never durations.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  RadiusClient,
  type RadiusClientOptions,
  type RadiusResult,
  type RadiusServer,
} from '../../server/authn/mfa/radius.ts';
import {
  startFreeRadius,
  startResponder,
  startSilentServer,
  type ResponderMode,
  type TestFreeRadius,
} from '../helpers/freeradius.ts';
import { waitUntil } from '../helpers/net.ts';

let radius: TestFreeRadius;
before(async () => {
  radius = await startFreeRadius();
});
after(async () => {
  await radius.stop();
});

function real(name = 'freeradius'): RadiusServer {
  return { name, host: '127.0.0.1', port: radius.port, secret: radius.secret };
}

// Small per-attempt timeouts so silent servers fail over quickly; a reply to an earlier transmission still counts
// (same socket, Identifier and Request Authenticator), so a slow machine only costs a retransmission.
function client(servers: RadiusServer[], extra: Partial<RadiusClientOptions> = {}): RadiusClient {
  return new RadiusClient({
    servers,
    nasIdentifier: 'fedgate-test',
    attemptTimeoutMs: 300,
    retries: 2,
    totalTimeoutMs: 20_000,
    ...extra,
  });
}

function kind<K extends RadiusResult['kind']>(
  r: RadiusResult,
  k: K,
): Extract<RadiusResult, { kind: K }> {
  assert.equal(r.kind, k, JSON.stringify(r));
  return r as Extract<RadiusResult, { kind: K }>;
}

describe('RADIUS client against FreeRADIUS', () => {
  test('the right code is accepted; the Reply-Message comes back as text', async () => {
    const r = kind(
      await client([real()]).authenticate({ username: 'accepted', password: '123456' }),
      'accept',
    );
    assert.equal(r.server, 'freeradius');
    assert.equal(r.replyMessage, 'Welcome, accepted');
    assert.deepEqual(r.dropped, []);
  });

  test('a wrong code, and a user the server refuses, are rejected', async () => {
    const wrong = kind(
      await client([real()]).authenticate({ username: 'accepted', password: '123457' }),
      'reject',
    );
    assert.equal(wrong.replyMessage, undefined);
    const r = kind(
      await client([real()]).authenticate({ username: 'rejected', password: '123456' }),
      'reject',
    );
    assert.equal(r.replyMessage, 'Denied');
  });

  test('Access-Challenge round trip: State and the answer go back; the right answer is accepted, a wrong one rejected', async () => {
    const silent = await startSilentServer();
    const c = client([
      { name: 'silent', host: '127.0.0.1', port: silent.port, secret: radius.secret },
      real(),
    ]);
    try {
      // The first server is silent, so the challenge comes from the second: the answer must go there too.
      const ch = kind(
        await c.authenticate({ username: 'challenged', password: 'start' }),
        'challenge',
      );
      const silentBefore = silent.received();
      assert.equal(ch.server, 'freeradius');
      assert.equal(ch.serverIndex, 1);
      assert.equal(ch.state?.toString(), 'fedgatestate01');
      assert.equal(ch.replyMessage, 'Enter the code we sent');
      kind(
        await c.authenticate({ username: 'challenged', password: '777111', challenge: ch }),
        'accept',
      );
      kind(
        await c.authenticate({ username: 'challenged', password: '777112', challenge: ch }),
        'reject',
      );
      assert.equal(
        silent.received(),
        silentBefore,
        'the answers went only to the challenging server',
      );
    } finally {
      await silent.close();
    }
  });

  test('a wrong shared secret: FreeRADIUS drops our request, so the only server is unavailable (timeout)', async () => {
    const before = radius.log().split('invalid Message-Authenticator').length;
    const r = kind(
      await client([{ ...real('wrong-secret'), secret: 'not-the-secret' }], {
        retries: 1,
      }).authenticate({
        username: 'accepted',
        password: '123456',
      }),
      'unavailable',
    );
    assert.deepEqual(r.servers, [{ server: 'wrong-secret', reason: 'timeout' }]);
    // It was the secret: FreeRADIUS says why it dropped the request.
    await waitUntil(
      'FreeRADIUS logs the invalid Message-Authenticator',
      () => radius.log().split('invalid Message-Authenticator').length > before,
    );
  });

  test('a wrong shared secret on the first server, a good one on the second: accepted by failover', async () => {
    const r = kind(
      await client([
        { ...real('wrong-secret'), secret: 'not-the-secret' },
        real('good'),
      ]).authenticate({
        username: 'accepted',
        password: '123456',
      }),
      'accept',
    );
    assert.equal(r.server, 'good');
  });

  test('a silent server first, then FreeRADIUS: accepted by failover after the silent one was tried', async () => {
    const silent = await startSilentServer();
    try {
      const r = kind(
        await client([
          { name: 'silent', host: '127.0.0.1', port: silent.port, secret: radius.secret },
          real(),
        ]).authenticate({ username: 'accepted', password: '123456' }),
        'accept',
      );
      assert.equal(r.server, 'freeradius');
      assert.equal(
        silent.received(),
        3,
        'first try and two retransmissions went to the silent server',
      );
    } finally {
      await silent.close();
    }
  });

  test('every server silent: unavailable with a reason per server, within the total bound', async () => {
    const a = await startSilentServer();
    const b = await startSilentServer();
    try {
      const r = kind(
        await client(
          [
            { name: 'a', host: '127.0.0.1', port: a.port, secret: 'x' },
            { name: 'b', host: '127.0.0.1', port: b.port, secret: 'y' },
          ],
          { retries: 0 },
        ).authenticate({ username: 'accepted', password: '123456' }),
        'unavailable',
      );
      assert.deepEqual(r.servers, [
        { server: 'a', reason: 'timeout' },
        { server: 'b', reason: 'timeout' },
      ]);
      // A total bound shorter than one attempt: the second server is never asked.
      const cut = kind(
        await client(
          [
            { name: 'a', host: '127.0.0.1', port: a.port, secret: 'x' },
            { name: 'b', host: '127.0.0.1', port: b.port, secret: 'y' },
          ],
          { retries: 5, attemptTimeoutMs: 200, totalTimeoutMs: 100 },
        ).authenticate({ username: 'accepted', password: '123456' }),
        'unavailable',
      );
      assert.deepEqual(cut.servers, [
        { server: 'a', reason: 'timeout' },
        { server: 'b', reason: 'deadline' },
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('input RADIUS cannot carry is refused before anything is sent', async () => {
    const c = client([real()]);
    assert.deepEqual(await c.authenticate({ username: '', password: '1' }), {
      kind: 'invalid-input',
      reason: 'user-name',
    });
    assert.deepEqual(await c.authenticate({ username: 'accepted', password: 'x'.repeat(129) }), {
      kind: 'invalid-input',
      reason: 'password',
    });
  });
});

describe('replies without a valid Message-Authenticator, or not matching the request, never decide (Blast-RADIUS)', () => {
  const SECRET = 'responder-secret';

  async function withResponder(
    mode: ResponderMode,
    then: (port: number, answered: () => number) => Promise<void>,
  ): Promise<void> {
    const r = await startResponder(SECRET, mode);
    try {
      await then(r.port, r.answered);
    } finally {
      await r.close();
    }
  }

  test('control: the responder with a valid Message-Authenticator is believed', async () => {
    await withResponder('valid', async (port) => {
      const r = kind(
        await client([{ name: 'responder', host: '127.0.0.1', port, secret: SECRET }]).authenticate(
          {
            username: 'rejected',
            password: '000000',
          },
        ),
        'accept',
      );
      assert.equal(r.replyMessage, 'responder says yes');
    });
  });

  for (const [mode, reason, what] of [
    ['bad-message-authenticator', 'bad-message-authenticator', 'a bad Message-Authenticator'],
    ['no-message-authenticator', 'missing-message-authenticator', 'no Message-Authenticator'],
    ['wrong-identifier', 'wrong-identifier', "another request's Identifier"],
    ['bad-response-authenticator', 'bad-response-authenticator', 'a bad Response Authenticator'],
    ['from-other-port', 'wrong-source', 'a source other than the server asked'],
    ['truncated', 'malformed', 'a Length past the datagram'],
    ['oversize', 'too-large', 'a datagram over 4096 octets'],
  ] as const) {
    test(`an Access-Accept with ${what} is dropped: alone, unavailable`, async () => {
      await withResponder(mode, async (port, answered) => {
        const r = kind(
          await client([{ name: 'responder', host: '127.0.0.1', port, secret: SECRET }], {
            retries: 1,
          }).authenticate({ username: 'rejected', password: '000000' }),
          'unavailable',
        );
        assert.equal(answered(), 2);
        assert.deepEqual(r.servers, [{ server: 'responder', reason: 'bad-responses' }]);
        assert.deepEqual(
          r.dropped.map((d) => [d.server, d.reason]),
          [
            ['responder', reason],
            ['responder', reason],
          ],
        );
      });
    });

    test(`an Access-Accept with ${what} first, FreeRADIUS second: FreeRADIUS's Reject decides`, async () => {
      await withResponder(mode, async (port) => {
        const r = kind(
          await client([
            { name: 'responder', host: '127.0.0.1', port, secret: SECRET },
            real(),
          ]).authenticate({ username: 'rejected', password: '000000' }),
          'reject',
        );
        assert.equal(r.server, 'freeradius');
        assert.ok(r.dropped.length > 0 && r.dropped.every((d) => d.reason === reason));
      });
    });
  }

  for (const [code, name] of [
    [3, 'Access-Reject'],
    [11, 'Access-Challenge'],
  ] as const) {
    for (const mode of ['bad-message-authenticator', 'no-message-authenticator'] as const) {
      test(`an ${name} with ${mode === 'no-message-authenticator' ? 'no' : 'a bad'} Message-Authenticator is dropped too`, async () => {
        const r = await startResponder(SECRET, mode, code);
        try {
          const res = kind(
            await client([
              { name: 'responder', host: '127.0.0.1', port: r.port, secret: SECRET },
              real(),
            ]).authenticate({ username: 'accepted', password: '123456' }),
            'accept',
          );
          assert.equal(res.server, 'freeradius');
          assert.ok(res.dropped.length > 0 && res.dropped.every((d) => d.server === 'responder'));
        } finally {
          await r.close();
        }
      });
    }
  }
});
