import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionManager } from '../../../server/authn/session.ts';
import { FixedClock } from '../../../server/lib/clock.ts';
import { cryptoRandom } from '../../../server/lib/random.ts';
import { MemoryStore } from '../../../server/stores/memory.ts';

function setup() {
  const clock = new FixedClock();
  const store = new MemoryStore(clock);
  const sessions = new SessionManager({ store, clock, random: cryptoRandom, lifetimeMinutes: 60 });
  return { clock, sessions };
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

test('destroy ends the session everywhere; relying parties are remembered', async () => {
  const { sessions } = setup();
  const s = await sessions.create(init);
  await sessions.addRelyingParty(s, 'urn:federation:MicrosoftOnline');
  await sessions.addRelyingParty(s, 'urn:federation:MicrosoftOnline');
  assert.deepEqual((await sessions.find(s.id))?.relyingParties, ['urn:federation:MicrosoftOnline']);
  assert.equal((await sessions.destroy(s.id))?.id, s.id);
  assert.equal(await sessions.find(s.id), undefined);
});
