import { Counter, Gauge } from 'prom-client';
import type { DirectoryCacheStatus } from '../directory/cache/types.ts';
import type { DirectoryProvider } from '../directory/types.ts';
import type { Metrics } from './metrics.ts';

/** The directory cache's status when the directory has one (a CachedDirectory, possibly behind instrumentDirectory). */
export function directoryCacheStatus(
  directory: DirectoryProvider,
): DirectoryCacheStatus | undefined {
  const d = directory as DirectoryProvider & { cacheStatus?: () => DirectoryCacheStatus };
  return typeof d.cacheStatus === 'function' ? d.cacheStatus() : undefined;
}

/**
 * Directory cache metrics (issue 22), read from cacheStatus() at scrape time: nothing is counted on the sign-in
 * path. Registered only when the cache is on.
 */
export function watchDirectoryCache(metrics: Metrics, directory: DirectoryProvider): void {
  if (directoryCacheStatus(directory) === undefined) return;
  const registers = [metrics.registry];
  const read = (): DirectoryCacheStatus | undefined => directoryCacheStatus(directory);
  const gauge = (name: string, help: string, value: (s: DirectoryCacheStatus) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const s = read();
        if (s !== undefined) this.set(value(s));
      },
    });
  gauge(
    'fedgate_directory_cache_staleness_seconds',
    'Seconds since change tracking last completed a sync (-1 before the first full read).',
    (s) => s.stalenessSeconds ?? -1,
  );
  gauge(
    'fedgate_directory_cache_max_staleness_seconds',
    'directory.cache.maxStalenessSeconds: cached answers are served only while the staleness is within it.',
    (s) => s.maxStalenessSeconds,
  );
  gauge(
    'fedgate_directory_cache_serving',
    '1 while cached answers are served; 0 while every directory read goes to the DC.',
    (s) => (s.serving ? 1 : 0),
  );
  gauge('fedgate_directory_cache_users', 'Users held in the cache.', (s) => s.users);
  gauge('fedgate_directory_cache_groups', 'Groups in the group graph.', (s) => s.groups);
  gauge(
    'fedgate_directory_cache_member_links',
    'member values held in the group graph.',
    (s) => s.memberLinks,
  );
  // Monotonic totals kept by the cache: exposed as counters, advanced by the difference at each scrape.
  const counter = (name: string, help: string, value: (s: DirectoryCacheStatus) => number) => {
    let last = 0;
    return new Counter({
      name,
      help,
      registers,
      collect() {
        const s = read();
        if (s === undefined) return;
        const now = value(s);
        if (now > last) this.inc(now - last);
        last = Math.max(last, now);
      },
    });
  };
  counter(
    'fedgate_directory_cache_hits_total',
    'Directory reads answered from the cache.',
    (s) => s.hits,
  );
  counter(
    'fedgate_directory_cache_misses_total',
    'Directory reads the cache sent to the DC.',
    (s) => s.misses,
  );
  counter(
    'fedgate_directory_cache_resyncs_total',
    'Full reads of the group graph (start, DC switch, USN regression).',
    (s) => s.resyncs,
  );
}
