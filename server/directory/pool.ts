import type { Client } from 'ldapts';

/**
 * A fixed-size pool of persistent LDAPS connections used only for password binds. Reusing TLS connections
 * matters: Samba answers about 740 binds/s on reused connections against about 150/s with a TLS handshake
 * per bind (test-environment.md). A bind replaces the connection's identity (RFC 4511 §4.2.1), so a
 * connection left bound as the previous user is fine for the next bind; nothing else runs on these.
 * Connections are opened lazily; ldapts reconnects a client whose socket was closed on its next bind.
 */
export class BindPool {
  readonly #max: number;
  readonly #create: () => Client;
  readonly #all = new Set<Client>();
  readonly #idle: Client[] = [];
  readonly #waiters: { resolve: (c: Client) => void; reject: (e: Error) => void }[] = [];
  #closed = false;

  constructor(max: number, create: () => Client) {
    this.#max = max;
    this.#create = create;
  }

  /** Simple bind as `dn`; rejects with the ldapts error (InvalidCredentialsError for result 49). */
  async bind(dn: string, password: string): Promise<void> {
    const client = await this.#acquire();
    try {
      await client.bind(dn, password);
    } finally {
      this.#release(client);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w.reject(new Error('directory closed'));
    this.#idle.length = 0;
    const clients = [...this.#all];
    this.#all.clear();
    await Promise.all(clients.map((c) => c.unbind().catch(() => undefined)));
  }

  #acquire(): Promise<Client> {
    if (this.#closed) return Promise.reject(new Error('directory closed'));
    const idle = this.#idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.#all.size < this.#max) {
      const client = this.#create();
      this.#all.add(client);
      return Promise.resolve(client);
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  #release(client: Client): void {
    if (this.#closed) {
      void client.unbind().catch(() => undefined);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(client);
    else this.#idle.push(client);
  }
}
