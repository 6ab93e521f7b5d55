import type { Clock } from '../lib/clock.ts';
import { DEFAULT_TTL_SECONDS, type ArtifactKind, type ArtifactStore } from './types.ts';
import { namespacedKey } from './namespaces.ts';

interface Entry {
  json: string;
  expiresAt: number;
}

/**
 * Single-process store for one-node installs and the embedded defaults. Values are stored as JSON text so
 * callers get copies (the Redis store behaves the same way) and cannot mutate shared state by accident.
 * Expired entries are dropped lazily on access and by a sweep every `sweepEvery` writes, which bounds memory
 * without a timer (no open handles, time fully driven by the injected clock).
 */
export class MemoryStore implements ArtifactStore {
  readonly kind = 'memory' as const;
  readonly #map = new Map<string, Entry>();
  readonly #clock: Clock;
  readonly #maxEntries: number;
  #writes = 0;

  constructor(clock: Clock, opts: { maxEntries?: number } = {}) {
    this.#clock = clock;
    this.#maxEntries = opts.maxEntries ?? 1_000_000;
  }

  #key(kind: ArtifactKind, key: string): string {
    return namespacedKey(kind, key);
  }

  #live(k: string): Entry | undefined {
    const e = this.#map.get(k);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.#clock.now().getTime()) {
      this.#map.delete(k);
      return undefined;
    }
    return e;
  }

  #write(k: string, json: string, ttlSeconds: number): void {
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
      throw new RangeError('ttlSeconds must be > 0');
    if (++this.#writes % 1024 === 0) this.#sweep();
    if (this.#map.size >= this.#maxEntries && !this.#map.has(k)) {
      this.#sweep();
      if (this.#map.size >= this.#maxEntries) throw new Error('memory store is full');
    }
    this.#map.set(k, { json, expiresAt: this.#clock.now().getTime() + ttlSeconds * 1000 });
  }

  #sweep(): void {
    const now = this.#clock.now().getTime();
    for (const [k, e] of this.#map) if (e.expiresAt <= now) this.#map.delete(k);
  }

  put(kind: ArtifactKind, key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    try {
      this.#write(
        this.#key(kind, key),
        JSON.stringify(value),
        ttlSeconds ?? DEFAULT_TTL_SECONDS[kind],
      );
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  find<T>(kind: ArtifactKind, key: string): Promise<T | undefined> {
    const e = this.#live(this.#key(kind, key));
    return Promise.resolve(e === undefined ? undefined : (JSON.parse(e.json) as T));
  }

  consume<T>(kind: ArtifactKind, key: string): Promise<T | undefined> {
    const k = this.#key(kind, key);
    const e = this.#live(k);
    if (e === undefined) return Promise.resolve(undefined);
    this.#map.delete(k);
    return Promise.resolve(JSON.parse(e.json) as T);
  }

  markSeen(kind: ArtifactKind, key: string, ttlSeconds?: number): Promise<boolean> {
    const k = this.#key(kind, key);
    if (this.#live(k) !== undefined) return Promise.resolve(false);
    this.#write(k, '1', ttlSeconds ?? DEFAULT_TTL_SECONDS[kind]);
    return Promise.resolve(true);
  }

  incr(kind: ArtifactKind, key: string, ttlSeconds?: number): Promise<number> {
    const k = this.#key(kind, key);
    const e = this.#live(k);
    if (e === undefined) {
      this.#write(k, '1', ttlSeconds ?? DEFAULT_TTL_SECONDS[kind]);
      return Promise.resolve(1);
    }
    const n = (JSON.parse(e.json) as number) + 1;
    e.json = String(n); // keeps the original expiry, as Redis INCR does
    return Promise.resolve(n);
  }

  destroy(kind: ArtifactKind, key: string): Promise<void> {
    this.#map.delete(this.#key(kind, key));
    return Promise.resolve();
  }

  ping(): Promise<boolean> {
    return Promise.resolve(true);
  }

  close(): Promise<void> {
    this.#map.clear();
    return Promise.resolve();
  }
}
