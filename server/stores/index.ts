import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { MemoryStore } from './memory.ts';
import { RedisStore } from './redis.ts';
import type { ArtifactStore } from './types.ts';

export interface StoreDeps {
  clock: Clock;
  log: Logger;
  baseDir: string;
  /** Counts failed store operations (metrics). */
  onError?: ((op: string, err: unknown) => void) | undefined;
}

/**
 * What is weak about a Redis store configuration (corpus C7.2): the shared store holds sealed sessions, replay
 * caches and lockout counters, so it should need a password and speak TLS. Warnings, not errors: a Redis on the
 * same host or a private network may be a deliberate choice. Shown by `fedgate check` and logged at start-up.
 */
export function storeWarnings(config: Config['store']): string[] {
  if (config.kind !== 'redis') return [];
  const out: string[] = [];
  let url: URL | undefined;
  try {
    url = new URL(config.url);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== 'rediss:' && config.sentinel === undefined)
    out.push(
      'store.url: Redis without TLS (redis://): sessions, replay caches and lockout counters cross the network in clear; use rediss://',
    );
  if (config.password === undefined && (url?.password ?? '') === '')
    out.push(
      'store: Redis without a password (AUTH): anyone who reaches it can read and change sessions and lockout counters; set store.password or FEDGATE_STORE__PASSWORD',
    );
  return out;
}

/** The configured ArtifactStore: memory (one node) or Redis (a farm). */
export function createStore(config: Config['store'], deps: StoreDeps): ArtifactStore {
  if (config.kind === 'memory') return new MemoryStore(deps.clock);
  const warnings = storeWarnings(config);
  if (warnings.length > 0)
    deps.log.warn({ event: 'store_insecure', warnings }, 'the Redis store is not protected');
  return RedisStore.create(config, {
    baseDir: deps.baseDir,
    onError: deps.onError,
    onConnectionEvent: (event, detail) => {
      if (event === 'error') {
        deps.log.error(
          { event: 'store_unreachable', detail },
          'Redis store unreachable: sign-ins answer 503 until it is back',
        );
      } else {
        deps.log.warn({ event: 'store_reconnected' }, 'Redis store reachable again');
      }
    },
  });
}
