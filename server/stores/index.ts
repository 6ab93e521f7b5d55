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

/** The configured ArtifactStore: memory (one node) or Redis (a farm). */
export function createStore(config: Config['store'], deps: StoreDeps): ArtifactStore {
  if (config.kind === 'memory') return new MemoryStore(deps.clock);
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
