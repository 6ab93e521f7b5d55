/**
 * ArtifactStore: the shared state of a fedgate farm (sessions, in-flight sign-in requests, replay caches,
 * counters). Memory and Redis implementations pass one contract suite (tests/contract/store.contract.ts).
 * Values are JSON-serialisable; every entry has a TTL so the store never grows without bound.
 */
export type ArtifactKind = 'session' | 'signin-request' | 'replay' | 'counter';

/** TTL per kind, seconds: the one table (architecture.md). A call may pass a shorter TTL. */
export const DEFAULT_TTL_SECONDS: Record<ArtifactKind, number> = {
  session: 8 * 3600,
  'signin-request': 15 * 60,
  replay: 3600,
  counter: 3600,
};

export interface ArtifactStore {
  readonly kind: 'memory' | 'redis';
  put(kind: ArtifactKind, key: string, value: unknown, ttlSeconds?: number): Promise<void>;
  find<T>(kind: ArtifactKind, key: string): Promise<T | undefined>;
  /** Atomic read-and-delete: exactly one caller gets the value. */
  consume<T>(kind: ArtifactKind, key: string): Promise<T | undefined>;
  /** Set-if-absent with TTL: true the first time, false on replay. */
  markSeen(kind: ArtifactKind, key: string, ttlSeconds?: number): Promise<boolean>;
  /** Atomic increment; the TTL starts with the first increment. Returns the new value. */
  incr(kind: ArtifactKind, key: string, ttlSeconds?: number): Promise<number>;
  destroy(kind: ArtifactKind, key: string): Promise<void>;
  /** Liveness of the backing store (for readiness probes). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
