/**
 * A stand-in domain controller for failover tests: a TCP forwarder in front of the Samba DC's LDAPS port. TLS passes
 * through untouched, so fedgate still verifies the DC's own certificate (it names 127.0.0.1) end to end, and the test
 * can stop the "DC", cut chosen connections, or refuse new ones while the real DC keeps running. The idea follows
 * tests/integration/ldap-failover.test.ts's DcProxy (not shared: that file is not this helper's to change).
 */
import net, { type AddressInfo } from 'node:net';
import { waitUntil } from './net.ts';

/** One forwarded connection, in the order the forwarder accepted them. */
export interface ForwardedConnection {
  /** 0 for the first connection this forwarder accepted, and so on. */
  readonly index: number;
  /** fedgate's side. */
  readonly client: net.Socket;
  /** The DC's side. */
  readonly upstream: net.Socket;
}

export class DcForwarder {
  readonly #server = net.createServer({ allowHalfOpen: false });
  readonly #upstreamPort: number;
  readonly #upstreamHost: string;
  readonly connections: ForwardedConnection[] = [];
  /** forward: pass connections on; refuse: reset every new connection at once (the DC is unreachable). */
  #mode: 'forward' | 'refuse' = 'forward';
  /** Connections reset while refusing. */
  refused = 0;
  url = '';

  constructor(upstream: { host?: string; port?: number } = {}) {
    this.#upstreamHost = upstream.host ?? '127.0.0.1';
    this.#upstreamPort = upstream.port ?? 636;
    this.#server.on('connection', (client: net.Socket) => {
      client.on('error', () => undefined);
      if (this.#mode === 'refuse') {
        this.refused += 1;
        client.resetAndDestroy();
        return;
      }
      const upstreamSocket = net.connect(this.#upstreamPort, this.#upstreamHost);
      upstreamSocket.on('error', () => client.destroy());
      client.on('error', () => upstreamSocket.destroy());
      client.on('close', () => upstreamSocket.destroy());
      upstreamSocket.on('close', () => client.destroy());
      client.pipe(upstreamSocket).pipe(client);
      this.connections.push({ index: this.connections.length, client, upstream: upstreamSocket });
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `ldaps://127.0.0.1:${String((this.#server.address() as AddressInfo).port)}`;
    return this;
  }

  /** Connections whose fedgate side is still open. */
  open(): ForwardedConnection[] {
    return this.connections.filter((c) => !c.client.closed);
  }

  /** New connections are reset from now on (existing ones keep working). */
  refuseNew(): void {
    this.#mode = 'refuse';
  }

  /** New connections are forwarded again. */
  allowNew(): void {
    this.#mode = 'forward';
  }

  /**
   * The DC drops these connections, as an idle timeout or a crash does: the DC side is cut and fedgate's side gets a
   * FIN. Resolves once fedgate has closed each of them in turn (its FIN comes back only once its client handled the
   * drop), so what the test does next never races the drop.
   */
  async hangUp(conns: readonly ForwardedConnection[]): Promise<void> {
    const clients = conns.map((c) => c.client).filter((c) => !c.closed);
    for (const c of conns) {
      c.upstream.unpipe();
      c.upstream.destroy();
      // Keep reading (and dropping) what fedgate still sends, so its FIN is seen.
      c.client.unpipe();
      c.client.resume();
      c.client.end();
    }
    await waitUntil(
      () =>
        `fedgate closed its side of each dropped connection (${String(clients.filter((c) => !c.closed).length)} of ${String(clients.length)} open)`,
      () => clients.every((c) => c.closed),
    );
  }

  /** The DC goes away: every connection dropped and every new one reset. */
  async stop(): Promise<void> {
    this.refuseNew();
    await this.hangUp(this.connections);
  }

  async close(): Promise<void> {
    for (const c of this.connections) {
      c.client.destroy();
      c.upstream.destroy();
    }
    await new Promise<void>((resolve, reject) =>
      this.#server.close((err) => {
        if (err !== undefined) reject(err);
        else resolve();
      }),
    );
  }
}
