/**
 * DC failover and timeouts against the Samba AD DC (security-corpus C3.1, E1, E2). Dead DCs are local test
 * servers: a closed port, a TCP listener that never completes TLS, a TLS listener (with the DC's own
 * certificate) that never answers LDAP, and a TCP proxy whose connections the test cuts.
 *
 * Wrong passwords used (lockout budget, tests/helpers/samba.ts): jsmith 1.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { pino } from 'pino';
import { LogCapture } from '../helpers/app.ts';
import type { LdapDirectoryConfig } from '../../server/config/schema.ts';
import { createDirectory, type DirectoryOperation } from '../../server/directory/index.ts';
import type { DirectoryProvider } from '../../server/directory/types.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { FederationError } from '../../server/lib/errors.ts';
import { waitUntil } from '../helpers/net.ts';
import { sambaEnv, sambaLdapConfig, sambaTlsFiles } from '../helpers/samba.ts';

const env = sambaEnv();
const { jdoe, jsmith } = env.users;
const CLOSED = 'ldaps://127.0.0.1:1';

/** A listening server that records its accepted sockets and whether each was closed again. */
class TestServer {
  readonly sockets = new Set<net.Socket>();
  closed = 0;
  constructor(readonly server: net.Server) {
    server.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => (this.closed += 1));
    });
  }
  url = '';
  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `ldaps://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }
  async close(): Promise<void> {
    this.dropAll();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Forwards to the real DC; TLS passes through, so the client still verifies the DC certificate. */
class DcProxy extends TestServer {
  readonly #clients = new Set<net.Socket>();
  readonly #upstreams = new Set<net.Socket>();
  constructor() {
    super(net.createServer());
    this.server.on('connection', (client: net.Socket) => {
      const upstream = net.connect(636, '127.0.0.1');
      this.#clients.add(client);
      this.#upstreams.add(upstream);
      this.sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      client.pipe(upstream).pipe(client);
    });
  }

  /**
   * The DC drops every connection, as an idle timeout does: the upstream side is cut and fedgate's side gets a FIN.
   * Resolves once fedgate's client has closed each connection in turn: Node sockets do not stay half-open, so its
   * FIN comes back only once the client has handled the drop. Node closes that socket, and ldapts's 'close' handler
   * marks the connection unbound, in the event-loop turn that sends the FIN, so before the poll timer that sees it.
   * Without this wait the next sign-in races the drop and fails.
   */
  async hangUp(): Promise<void> {
    const clients = [...this.#clients];
    assert.ok(clients.length > 0, 'fedgate holds connections through the proxy');
    for (const upstream of this.#upstreams) upstream.destroy();
    for (const client of clients) {
      // Keep reading (and dropping) what fedgate sends, so the proxy sees its FIN.
      client.unpipe();
      client.resume();
      client.end();
    }
    await waitUntil(
      () =>
        `fedgate closed its side of each dropped connection (${clients.filter((c) => !c.closed).length} of ${clients.length} open)`,
      () => clients.every((c) => c.closed),
    );
  }
}

function open(
  overrides: Partial<LdapDirectoryConfig>,
  clock = new FixedClock(),
): {
  dir: Promise<DirectoryProvider>;
  ops: DirectoryOperation[];
  clock: FixedClock;
  logs: LogCapture;
} {
  const ops: DirectoryOperation[] = [];
  const logs = new LogCapture();
  const dir = createDirectory(sambaLdapConfig(env, overrides), {
    logger: pino({ level: 'warn' }, logs),
    clock,
    baseDir: '/',
    onOperation: (op) => ops.push(op),
  });
  return { dir, ops, clock, logs };
}

/** The DC `url` was given up on for a timeout (the directory's own warning), not for another failure. */
function timedOut(logs: LogCapture, url: string): boolean {
  return logs.lines.some((l) => l.url === url && l.reason === 'timeout');
}

const count = (ops: DirectoryOperation[], url: string, op: DirectoryOperation['op']): number =>
  ops.filter((o) => o.url === url && o.op === op).length;

describe('LDAP directory failover (Samba AD DC)', () => {
  let blackhole: TestServer;
  let silentTls: TestServer;
  const opened: Promise<DirectoryProvider>[] = [];
  const track = (o: ReturnType<typeof open>): ReturnType<typeof open> => {
    opened.push(o.dir);
    return o;
  };

  before(async () => {
    // Accepts TCP, never answers the TLS ClientHello. Reading (and dropping) input lets it see the client's FIN.
    blackhole = await new TestServer(net.createServer((s) => s.resume())).listen();
    // Completes TLS with a certificate the client trusts, then never answers an LDAP message.
    const { cert, key } = sambaTlsFiles(env);
    const tlsServer = tls.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (s) =>
      s.resume(),
    );
    silentTls = await new TestServer(tlsServer).listen();
  });
  after(async () => {
    await Promise.all(opened.map(async (d) => (await d).close()));
    await Promise.all([blackhole.close(), silentTls.close()]);
  });

  it('skips a closed port, then tries the failed DC last until it has been down 30 s', async () => {
    const { dir: d, ops, clock } = track(open({ urls: [CLOSED, ...env.urls] }));
    const dir = await d;
    const first = await dir.authenticate('jdoe', jdoe.password);
    assert.ok(first.ok, JSON.stringify(first));
    assert.equal(count(ops, CLOSED, 'connect'), 1);
    assert.ok((await dir.authenticate('jdoe', jdoe.password)).ok);
    assert.equal(
      count(ops, CLOSED, 'connect'),
      1,
      'demoted DC not tried while the live one answers',
    );
    clock.advance(31_000);
    assert.ok((await dir.authenticate('jdoe', jdoe.password)).ok);
    assert.equal(count(ops, CLOSED, 'connect'), 2, 'tried first again after 30 s');
  });

  it('gives up on a DC that never completes TLS after connectTimeoutMs', async () => {
    const o = track(open({ urls: [blackhole.url, ...env.urls], connectTimeoutMs: 300 }));
    const dir = await o.dir;
    const r = await dir.authenticate(env.users.jsmith.upn, jsmith.password);
    assert.ok(r.ok, JSON.stringify(r));
    // Given up on for its connect timeout (no wall-clock assertion: the directory says why it moved on).
    assert.ok(timedOut(o.logs, blackhole.url), JSON.stringify(o.logs.lines));
  });

  it('gives up on a DC that accepts TLS but never answers after timeoutMs', async () => {
    const o = track(open({ urls: [silentTls.url, ...env.urls], timeoutMs: 400 }));
    const dir = await o.dir;
    const r = await dir.authenticate(`${env.netbiosDomain}\\jdoe`, jdoe.password);
    assert.ok(r.ok, JSON.stringify(r));
    assert.ok(timedOut(o.logs, silentTls.url), JSON.stringify(o.logs.lines));
  });

  it('all DCs down: unavailable without throwing, within the timeout budget, sockets closed', async () => {
    const acceptedBefore = blackhole.sockets.size + silentTls.sockets.size;
    const closedBefore = blackhole.closed + silentTls.closed;
    const { dir: d, ops } = track(
      open({ urls: [CLOSED, blackhole.url, silentTls.url], connectTimeoutMs: 300, timeoutMs: 400 }),
    );
    const dir = await d;
    const r = await dir.authenticate('jdoe', jdoe.password);
    assert.equal(r.ok, false);
    assert.equal(r.kind, 'unavailable');
    // The closed port is refused at once; the other two are given up on for their timeouts.
    assert.equal(r.reason, 'timeout');
    assert.equal(ops.filter((o) => o.op === 'bind').length, 0);

    await assert.rejects(
      dir.findUser('jdoe'),
      (e) => e instanceof FederationError && e.code === 'directory_unavailable',
    );
    const health = await dir.healthCheck();
    assert.equal(health.ok, false);
    assert.deepEqual(
      health.servers.map((s) => [s.url, s.ok]),
      [
        [CLOSED, false],
        [blackhole.url, false],
        [silentTls.url, false],
      ],
    );
    assert.ok(health.servers.every((s) => (s.detail ?? '').length > 0));
    assert.doesNotMatch(JSON.stringify(health), new RegExp(env.bindPassword));

    // E2: the client destroyed every socket it opened to the dead DCs. The dead DCs see each close on their side
    // a moment later; one that stays open is a leaked socket, and the wait runs out.
    const accepted = (): number => blackhole.sockets.size + silentTls.sockets.size - acceptedBefore;
    const closed = (): number => blackhole.closed + silentTls.closed - closedBefore;
    assert.ok(accepted() > 0);
    await waitUntil(
      () => `every socket the dead DCs accepted is closed (${closed()} of ${accepted()})`,
      () => closed() === accepted(),
    );
    assert.equal(closed(), accepted());
  });

  it('a refused password is never retried on another DC (C3.1)', async () => {
    const second = 'ldaps://localhost:636';
    const { dir: d, ops } = track(open({ urls: [env.urls[0] ?? '', second] }));
    const dir = await d;
    const health = await dir.healthCheck();
    assert.ok(
      health.ok && health.servers.every((s) => s.ok),
      `both URLs reach the DC: ${JSON.stringify(health)}`,
    );
    const r = await dir.authenticate('jsmith', `${jsmith.password}-wrong`);
    assert.equal(r.ok, false);
    assert.deepEqual([r.kind, r.reason], ['bad_credentials', 'ad:52e']);
    assert.equal(count(ops, env.urls[0] ?? '', 'bind'), 1);
    assert.equal(count(ops, second, 'bind'), 0, 'no bind on the second DC');
    assert.ok((await dir.authenticate('jsmith', jsmith.password)).ok, 'resets badPwdCount');
  });

  it('re-binds the service connection after the DC dropped it; never searches unauthenticated (E2)', async () => {
    const proxy = await new DcProxy().listen();
    try {
      const { dir: d, ops } = track(open({ urls: [proxy.url] }));
      const dir = await d;
      assert.ok((await dir.authenticate('jdoe', jdoe.password)).ok);
      await proxy.hangUp();
      ops.length = 0;
      // Samba refuses user searches without a bind, so success here means the search ran authenticated.
      const r = await dir.authenticate('jdoe', jdoe.password);
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(
        ops.map((o) => o.op),
        ['service_bind', 'connect', 'search', 'bind', 'connect'],
        'service re-bound before searching; pooled connection re-opened',
      );
    } finally {
      await proxy.close();
    }
  });
});
