import { FixedClock } from '../../server/lib/clock.ts';
import { MemoryStore } from '../../server/stores/memory.ts';
import { storeContract } from './store.contract.ts';

// The Redis implementation (farm issue) runs the same contract against a real redis-server.
storeContract('memory store', () => {
  const clock = new FixedClock();
  return Promise.resolve({
    store: new MemoryStore(clock),
    advance: (ms: number) => {
      clock.advance(ms);
      return Promise.resolve();
    },
  });
});
