import type { Client } from 'ldapts';

/**
 * The pool has no connection free and the wait would be too long: the sign-in is refused at once (503) rather
 * than queued behind a slow directory (corpus E9, AD FS's congestion control). Not a fault of the DC: the
 * caller tries the next DC without demoting this one.
 */
export class DirectoryBusyError extends Error {
  constructor(detail: string) {
    super(`directory busy: ${detail}`);
    this.name = 'DirectoryBusyError';
  }
}

export interface BindPoolOptions {
  /**
   * Longest a bind may wait for a free connection, ms. A request that would wait longer (judged from the queue
   * length and the recent bind time) is refused at once; one still waiting at this bound is refused then.
   */
  maxWaitMs: number;
  /** Monotonic milliseconds (injected: performance.now in production). */
  now?: () => number;
  /**
   * Per-connection set-up, run before the first bind on each new LDAP connection: when a connection is not open yet
   * (first use, or ldapts will reconnect a dropped one). ldap.ts puts the connection in AD's fast concurrent bind
   * mode here when the DC supports it. A rejection fails the bind like a connection error.
   */
  prepare?: ((client: Client) => Promise<void>) | undefined;
}

/** Weight of the newest bind in the moving average of bind times. */
const EWMA_WEIGHT = 0.2;
/** Waiters per connection beyond which nobody else queues, whatever the estimate. */
const MAX_WAITERS_PER_CONNECTION = 16;

interface Waiter {
  resolve: (c: Client) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A fixed-size pool of persistent LDAPS connections used only for password binds. Reusing TLS connections
 * matters: Samba answers about 740 binds/s on reused connections against about 150/s with a TLS handshake
 * per bind (test-environment.md). A bind replaces the connection's identity (RFC 4511 §4.2.1), so a
 * connection left bound as the previous user is fine for the next bind; nothing else runs on these.
 * Connections are opened lazily; ldapts reconnects a client whose socket was closed on its next bind.
 *
 * Load shedding (corpus E9): the pool keeps a moving average of how long a bind takes. When every connection is
 * busy, a bind that would wait longer than maxWaitMs (waiters ahead ÷ connections × average bind time), or that
 * finds the queue full, fails at once with DirectoryBusyError; a waiter still queued at maxWaitMs fails then.
 * A slow DC thus costs the users it cannot serve a quick 503, not a long hang that also delays everyone else.
 */
export class BindPool {
  readonly #max: number;
  readonly #create: () => Client;
  readonly #maxWaitMs: number;
  readonly #now: () => number;
  readonly #prepare: ((client: Client) => Promise<void>) | undefined;
  readonly #all = new Set<Client>();
  readonly #idle: Client[] = [];
  readonly #waiters: Waiter[] = [];
  #averageBindMs = 0;
  #closed = false;

  constructor(max: number, create: () => Client, opts: BindPoolOptions) {
    this.#max = max;
    this.#create = create;
    this.#maxWaitMs = opts.maxWaitMs;
    this.#now = opts.now ?? (() => performance.now());
    this.#prepare = opts.prepare;
  }

  /** Simple bind as `dn`; rejects with the ldapts error (InvalidCredentialsError for result 49). */
  async bind(dn: string, password: string): Promise<void> {
    const client = await this.#acquire();
    let started = this.#now();
    try {
      if (this.#prepare !== undefined && !client.isConnected) {
        await this.#prepare(client);
        started = this.#now();
      }
      await client.bind(dn, password);
    } finally {
      const took = this.#now() - started;
      this.#averageBindMs =
        this.#averageBindMs === 0
          ? took
          : this.#averageBindMs + EWMA_WEIGHT * (took - this.#averageBindMs);
      this.#release(client);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error('directory closed'));
    }
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
    const ahead = this.#waiters.length;
    if (ahead >= this.#max * MAX_WAITERS_PER_CONNECTION)
      return Promise.reject(new DirectoryBusyError(`${String(ahead)} binds already waiting`));
    const expectedWaitMs = ((ahead + 1) / this.#max) * this.#averageBindMs;
    if (expectedWaitMs > this.#maxWaitMs)
      return Promise.reject(
        new DirectoryBusyError(
          `expected wait ${Math.round(expectedWaitMs).toString()} ms over ${this.#maxWaitMs.toString()} ms`,
        ),
      );
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(
            new DirectoryBusyError(`no connection free within ${this.#maxWaitMs.toString()} ms`),
          );
        }, this.#maxWaitMs),
      };
      this.#waiters.push(waiter);
    });
  }

  #release(client: Client): void {
    if (this.#closed) {
      void client.unbind().catch(() => undefined);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(client);
    } else this.#idle.push(client);
  }
}
