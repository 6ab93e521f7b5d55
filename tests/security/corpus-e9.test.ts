// Security corpus E9 (load shedding): when the directory is slow, sign-ins the bind pool cannot serve soon are
// answered 503 at once instead of queueing behind it. Against the real Samba AD DC through a TCP proxy that holds
// every DC reply back (TLS passes through; the client still verifies the DC certificate), with one pooled bind
// connection: a burst of correct sign-ins gets some tokens and, for the rest, a clean 503 with the activity id;
// the same sign-ins one at a time all succeed (nothing is shed when nobody waits). Only correct passwords are
// used, so no lockout budget is spent. Fails when server/directory/pool.ts queues without bound.
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { isTokenPage } from '../helpers/account-protection.ts';
import { makeTestApp, signIn, type TestApp } from '../helpers/app.ts';
import { sambaEnv, sambaLdapConfig, type SambaEnv } from '../helpers/samba.ts';

/** How long each DC reply is held back: a DC far slower than a healthy one (a few ms). */
const DC_DELAY_MS = 250;
const BURST = 12;

/** Forwards to the DC's LDAPS port; every chunk from the DC reaches fedgate DC_DELAY_MS later, in order. */
class SlowDcProxy {
  readonly server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  url = '';
  constructor() {
    this.server = net.createServer((client) => {
      const upstream = net.connect(636, '127.0.0.1');
      this.#sockets.add(client).add(upstream);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        setTimeout(() => {
          if (!client.destroyed) client.write(chunk);
        }, DC_DELAY_MS);
      });
      upstream.on('end', () => setTimeout(() => client.end(), DC_DELAY_MS));
    });
  }
  async listen(): Promise<void> {
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    this.url = `ldaps://127.0.0.1:${String((this.server.address() as AddressInfo).port)}`;
  }
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise((ok) => this.server.close(ok));
  }
}

describe('corpus E9: a slow directory sheds load with 503 instead of queueing', () => {
  let env: SambaEnv;
  let proxy: SlowDcProxy;
  let t: TestApp;
  before(async () => {
    env = sambaEnv();
    proxy = new SlowDcProxy();
    await proxy.listen();
    t = await makeTestApp({
      directory: sambaLdapConfig(env, { urls: [proxy.url], poolSize: 1, maxQueueWaitMs: 1000 }),
    });
  });
  after(async () => {
    await t.close();
    await proxy.close();
  });

  const jdoe = (): { username: string; password: string; realm: string } => ({
    username: env.users.jdoe.upn,
    password: env.users.jdoe.password,
    realm: 'urn:fedgate:test',
  });

  test('E9 control: through the slow DC, sign-ins one at a time all get their token', async () => {
    for (let i = 0; i < 3; i++) {
      const { res } = await signIn(t.app, jdoe());
      assert.ok(isTokenPage(res), `sign-in ${String(i)}: ${String(res.status)}`);
    }
  });

  test('E9 a burst of correct sign-ins: some tokens, the rest a quick 503 with the activity id, nothing else', async () => {
    const results = await Promise.all(
      Array.from({ length: BURST }, () => signIn(t.app, jdoe()).then((r) => r.res)),
    );
    const tokens = results.filter(isTokenPage);
    const shed = results.filter((r) => r.status === 503);
    assert.equal(tokens.length + shed.length, BURST, results.map((r) => r.status).join(','));
    assert.ok(tokens.length >= 1, 'the pool still serves what it can');
    assert.ok(shed.length >= 1, 'the requests the slow DC cannot serve soon are shed');
    for (const r of shed) {
      const activityId = String(r.headers['x-activity-id']);
      assert.ok(r.text.includes(activityId), 'the 503 page shows the activity id');
      assert.doesNotMatch(r.text, /Error:|\bat \w+ \(|busy:|ldap/i);
    }
    // Shed sign-ins are outages, not failed passwords: no bad-password audit line, no lockout counting.
    assert.equal(t.logs.events('signin').filter((e) => e.kind === 'bad_credentials').length, 0);
    assert.ok(
      t.logs.raw.some((l) => l.includes('load shed')),
      'the operational log says the DC was busy',
    );
  });
});
