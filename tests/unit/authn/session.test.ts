import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Participants } from '../../../server/authn/participants.ts';
import { SessionManager } from '../../../server/authn/session.ts';
import { FixedClock } from '../../../server/lib/clock.ts';
import { cryptoRandom } from '../../../server/lib/random.ts';
import { MemoryStore } from '../../../server/stores/memory.ts';

function setup() {
  const clock = new FixedClock();
  const store = new MemoryStore(clock);
  const sessions = new SessionManager({ store, clock, random: cryptoRandom, lifetimeMinutes: 60 });
  return { clock, sessions, store };
}

const init = {
  objectGuid: 'AAAA',
  windowsAccountName: 'CORP\\jdoe',
  authMethod: 'pw',
  authInstant: '2026-01-01T00:00:00.000Z',
};

test('each sign-in gets a fresh random id; find returns it until it expires', async () => {
  const { clock, sessions } = setup();
  const a = await sessions.create(init);
  const b = await sessions.create(init);
  assert.notEqual(a.id, b.id);
  assert.equal((await sessions.find(a.id))?.windowsAccountName, 'CORP\\jdoe');
  clock.advance(59 * 60 * 1000);
  assert.ok(await sessions.find(a.id));
  clock.advance(61 * 1000);
  assert.equal(await sessions.find(a.id), undefined);
});

test('malformed or unknown cookie values find nothing', async () => {
  const { sessions } = setup();
  for (const v of [undefined, '', 'x', '../../etc', 'a'.repeat(200), 'AAAAAAAAAAAAAAAAAAAAAA']) {
    assert.equal(await sessions.find(v), undefined);
  }
});

test('destroy ends the session everywhere; its participants are one record, one entry per party', async () => {
  const { sessions, store, clock } = setup();
  const participants = new Participants({ store, clock });
  const s = await sessions.create(init);
  await participants.remember(s, {
    protocol: 'wsfed',
    rp: 'urn:a',
    reply: 'https://a.example/old',
  });
  await participants.remember(s, {
    protocol: 'saml2',
    rp: 'urn:b',
    nameId: 'n',
    sessionIndex: '_1',
  });
  await participants.remember(s, { protocol: 'wsfed', rp: 'urn:a', reply: 'https://a.example/' });
  assert.deepEqual(
    (await participants.of(s)).map((p) => p.rp),
    ['urn:b', 'urn:a'],
  );
  assert.deepEqual(await participants.take(s), [
    { protocol: 'saml2', rp: 'urn:b', nameId: 'n', sessionIndex: '_1' },
    { protocol: 'wsfed', rp: 'urn:a', reply: 'https://a.example/' },
  ]);
  assert.deepEqual(await participants.of(s), []);
  assert.equal((await sessions.destroy(s.id))?.id, s.id);
  assert.equal(await sessions.find(s.id), undefined);
});
