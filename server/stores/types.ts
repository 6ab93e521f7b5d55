/**
 * ArtifactStore: the shared state of a fedgate farm (sessions, in-flight sign-in requests, replay caches,
 * counters). Memory and Redis implementations pass one contract suite (tests/contract/store.contract.ts).
 * Values are JSON-serialisable; every entry has a TTL so the store never grows without bound.
 */
import { NAMESPACES, type Namespace } from './namespaces.ts';

/** The kind of state an entry is (namespaces.ts names each one with its key prefix and TTL). */
export type ArtifactKind = Namespace;

/** Default TTL per kind, seconds: the one table is NAMESPACES (namespaces.ts). A call may pass a shorter TTL. */
export const DEFAULT_TTL_SECONDS: Record<ArtifactKind, number> = Object.fromEntries(
  Object.entries(NAMESPACES).map(([k, v]) => [k, v.ttlSeconds]),
) as Record<ArtifactKind, number>;

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
