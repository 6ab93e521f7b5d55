import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createClient, createSentinel, type RedisClientOptions } from 'redis';
import type { RedisStoreConfig } from '../config/schema.ts';
import { FederationError } from '../lib/errors.ts';
import { DEFAULT_TTL_SECONDS, type ArtifactKind, type ArtifactStore } from './types.ts';
import { namespacedKey } from './namespaces.ts';

/**
 * Raised for every store failure (Redis down, partitioned, timing out). Per data class (security-corpus E3):
 * replay checks and one-use operations fail closed, so the request ends in a 503 page with its activity id;
 * SSO session look-ups treat it as "no session" (SessionManager) so the user is asked to sign in again.
 */
export class StoreUnavailableError extends FederationError {
  constructor(op: string, cause: unknown) {
    super(
      'store_unavailable',
      'The sign-in service is temporarily unavailable. Try again in a few minutes.',
      {
        detail: `store ${op} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause,
      },
    );
  }
}

/** INCR and, on the first increment (or a key somehow left without TTL), EXPIRE, in one atomic step. */
const INCR_WITH_TTL = `
local n = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) == -1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n`;

/** The commands fedgate uses; the plain client and the Sentinel client both have them. */
interface Commands {
  set(key: string, value: string, opts: { EX: number; NX?: true }): Promise<string | null>;
  get(key: string): Promise<string | null>;
  getDel(key: string): Promise<string | null>;
  del(key: string): Promise<number>;
  eval(script: string, opts: { keys: string[]; arguments: string[] }): Promise<unknown>;
  ping(): Promise<string>;
}

interface Connection extends Commands {
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  on(event: 'error', fn: (err: unknown) => void): unknown;
  readonly isReady?: boolean;
}

export interface RedisStoreDeps {
  baseDir: string;
  /** Called for each failed operation (metrics, logs). */
  onError?: ((op: string, err: unknown) => void) | undefined;
  /** Logged when the client loses or regains its connection. */
  onConnectionEvent?: ((event: 'error' | 'ready', detail?: string) => void) | undefined;
}

function validTtl(ttl: number): number {
  if (!Number.isFinite(ttl) || ttl <= 0) throw new RangeError('ttlSeconds must be > 0');
  return Math.ceil(ttl);
}

/**
 * node-redis options from the store configuration (URL, credentials, TLS files, timeouts). The server reconnects
 * forever; `fedgate doctor` passes `reconnect: false` to connect once, so an unreachable Redis is a finding, not a hang.
 */
export function clientOptions(
  config: RedisStoreConfig,
  baseDir: string,
  opts: { reconnect: boolean } = { reconnect: true },
): RedisClientOptions {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const t = config.tls;
  const tlsOn = config.url.toLowerCase().startsWith('rediss:') || t !== undefined;
  const socket = {
    connectTimeout: config.connectTimeoutMs,
    // Reconnect forever with a capped back-off: Redis coming back must heal the farm without restarts.
    reconnectStrategy: opts.reconnect
      ? (retries: number) => Math.min(50 * 2 ** Math.min(retries, 5), 1000)
      : (false as const),
    ...(tlsOn
      ? {
          tls: true as const,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.2' as const,
          ...(t?.ca === undefined ? {} : { ca: readFileSync(abs(t.ca)) }),
          ...(t?.cert === undefined ? {} : { cert: readFileSync(abs(t.cert)) }),
          ...(t?.key === undefined ? {} : { key: readFileSync(abs(t.key)) }),
          ...(t?.servername === undefined ? {} : { servername: t.servername }),
        }
      : {}),
  };
  return {
    url: config.url,
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(config.password === undefined ? {} : { password: config.password }),
    // While disconnected, commands fail at once instead of queueing: a sign-in gets a quick 503, not a hang.
    disableOfflineQueue: true,
    socket,
  };
}

/**
 * createSentinel options: the master set and sentinels, and for the nodes the client options without the URL (only
 * its credentials are used, unless username/password are set on their own).
 */
export function sentinelOptions(
  sentinel: NonNullable<RedisStoreConfig['sentinel']>,
  config: RedisStoreConfig,
  opts: RedisClientOptions,
) {
  const { url: _url, socket, ...nodeOpts } = opts;
  const u = new URL(config.url);
  return {
    name: sentinel.name,
    sentinelRootNodes: sentinel.nodes.map((n) => ({ host: n.host, port: n.port })),
    nodeClientOptions: {
      ...nodeOpts,
      ...(u.password === '' || config.password !== undefined
        ? {}
        : { password: decodeURIComponent(u.password) }),
      ...(u.username === '' || config.username !== undefined
        ? {}
        : { username: decodeURIComponent(u.username) }),
      socket: socket as never,
    },
  };
}

/**
 * ArtifactStore on Redis (node-redis): the shared state of a farm. Every key has a TTL; every multi-step
 * operation is one atomic Redis command (SET NX EX, GETDEL, INCR+EXPIRE in a Lua script), so two nodes
 * racing on the same sign-in request or assertion id can never both win. Key material never goes here.
 */
export class RedisStore implements ArtifactStore {
  readonly kind = 'redis' as const;
  readonly #conn: Connection;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #onError: ((op: string, err: unknown) => void) | undefined;
  #closed = false;
  /** Settles when the first connection attempt ends; commands issued before then wait for it (bounded). */
  #firstConnect: Promise<void> = Promise.resolve();

  private constructor(conn: Connection, config: RedisStoreConfig, deps: RedisStoreDeps) {
    this.#conn = conn;
    this.#prefix = config.keyPrefix;
    this.#timeoutMs = config.commandTimeoutMs;
    this.#onError = deps.onError;
  }

  /**
   * Builds the client and starts connecting. Startup does not wait for Redis: a node that boots while Redis
   * is down serves 503 pages (and reports not ready) until it comes back.
   */
  static create(config: RedisStoreConfig, deps: RedisStoreDeps): RedisStore {
    const opts = clientOptions(config, deps.baseDir);
    let conn: Connection;
    if (config.sentinel === undefined) {
      conn = createClient(opts);
    } else {
      conn = createSentinel(sentinelOptions(config.sentinel, config, opts));
    }
    let down = false;
    conn.on('error', (err: unknown) => {
      // node-redis emits 'error' on every failed reconnect; report the first of a run only.
      if (!down)
        deps.onConnectionEvent?.('error', err instanceof Error ? err.message : String(err));
      down = true;
    });
    (conn as unknown as { on(e: 'ready', fn: () => void): void }).on('ready', () => {
      if (down) deps.onConnectionEvent?.('ready');
      down = false;
    });
    const store = new RedisStore(conn, config, deps);
    store.#firstConnect = conn.connect().then(
      () => undefined,
      (err: unknown) => {
        deps.onConnectionEvent?.('error', err instanceof Error ? err.message : String(err));
      },
    );
    return store;
  }

  #key(kind: ArtifactKind, key: string): string {
    return `${this.#prefix}${namespacedKey(kind, key)}`;
  }

  /** Runs one command with a deadline; any failure becomes StoreUnavailableError. */
  async #do<T>(op: string, fn: (c: Commands) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError(op, new Error('store closed'));
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.#firstConnect.then(() => fn(this.#conn)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            reject(new Error(`no answer within ${this.#timeoutMs} ms`));
          }, this.#timeoutMs);
        }),
      ]);
    } catch (err) {
      this.#onError?.(op, err);
      throw new StoreUnavailableError(op, err);
    } finally {
      clearTimeout(timer);
    }
  }

  async put(kind: ArtifactKind, key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    const ttl = validTtl(ttlSeconds ?? DEFAULT_TTL_SECONDS[kind]);
    const json = JSON.stringify(value);
    await this.#do('put', (c) => c.set(this.#key(kind, key), json, { EX: ttl }));
  }

  async find<T>(kind: ArtifactKind, key: string): Promise<T | undefined> {
    const v = await this.#do('find', (c) => c.get(this.#key(kind, key)));
    return v === null ? undefined : (JSON.parse(v) as T);
  }

  async consume<T>(kind: ArtifactKind, key: string): Promise<T | undefined> {
    const v = await this.#do('consume', (c) => c.getDel(this.#key(kind, key)));
    return v === null ? undefined : (JSON.parse(v) as T);
  }

  async markSeen(kind: ArtifactKind, key: string, ttlSeconds?: number): Promise<boolean> {
    const ttl = validTtl(ttlSeconds ?? DEFAULT_TTL_SECONDS[kind]);
    const r = await this.#do('markSeen', (c) =>
      c.set(this.#key(kind, key), '1', { EX: ttl, NX: true }),
    );
    return r === 'OK';
  }

  async incr(kind: ArtifactKind, key: string, ttlSeconds?: number): Promise<number> {
    const ttl = validTtl(ttlSeconds ?? DEFAULT_TTL_SECONDS[kind]);
    const n = await this.#do('incr', (c) =>
      c.eval(INCR_WITH_TTL, { keys: [this.#key(kind, key)], arguments: [String(ttl)] }),
    );
    return Number(n);
  }

  async destroy(kind: ArtifactKind, key: string): Promise<void> {
    await this.#do('destroy', (c) => c.del(this.#key(kind, key)));
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.#do('ping', (c) => c.ping())) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A client that is not connected (Redis down, wrong password) would wait for its reconnect loop: destroy it.
    if (this.#conn.isReady !== true) {
      this.#conn.destroy();
      return;
    }
    try {
      await this.#conn.close();
    } catch {
      this.#conn.destroy();
    }
  }
}
