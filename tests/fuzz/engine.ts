/**
 * Runs fuzz targets with fast-check: each target for a bounded time (or a fixed number of runs) from a seed,
 * with the properties of harness.ts plus the event-loop property (no single request holds the loop longer than
 * STALL_LIMIT_MS, issue 14 §1). The stall is the event-loop delay histogram's maximum during the request (wall
 * clock); on a shared 2-core machine under load the scheduler stretches it several times over (measured: a signed
 * AuthnRequest costing 12–20 ms of CPU showed 30–100 ms stalls at load average 22). So a request fails the property
 * only when its stall AND the process CPU time it used are both over the limit, in three measurements of the same
 * input: CPU time is an upper bound on how long the request can have held the loop itself.
 */
import fc from 'fast-check';
import { measured, newStats, PropertyFailure, STALL_LIMIT_MS, type FuzzApp, type Stats } from './harness.ts';
import type { Target } from './targets.ts';

export interface TargetResult {
  name: string;
  seed: number;
  stats: Stats;
  failure?: { message: string; counterexample: string; path?: string | undefined } | undefined;
}

export async function fuzzTarget(
  app: FuzzApp,
  target: Target<never>,
  opts: { seed: number; timeMs?: number; numRuns?: number; enforceStall: boolean },
): Promise<TargetResult> {
  const stats = newStats();
  const once = async (input: never): Promise<{ stall: number; cpu: number }> => {
    const { value, stallMs, cpuMs } = await measured(app, () => target.run(app, input));
    stats.statuses.set(value, (stats.statuses.get(value) ?? 0) + 1);
    return { stall: stallMs, cpu: cpuMs };
  };
  const prop = fc.asyncProperty(target.arb, async (input) => {
    stats.runs++;
    let m = await once(input);
    if (m.stall > STALL_LIMIT_MS && m.cpu > STALL_LIMIT_MS) {
      const again = [await once(input), await once(input)];
      m = {
        stall: Math.min(m.stall, ...again.map((x) => x.stall)),
        cpu: Math.min(m.cpu, ...again.map((x) => x.cpu)),
      };
    }
    stats.maxStallMs = Math.max(stats.maxStallMs, m.stall);
    stats.maxCpuMs = Math.max(stats.maxCpuMs, m.cpu);
    if (opts.enforceStall && m.stall > STALL_LIMIT_MS && m.cpu > STALL_LIMIT_MS)
      throw new PropertyFailure(
        `event loop held ${m.stall.toFixed(1)} ms, ${m.cpu.toFixed(1)} ms of CPU (limit ${STALL_LIMIT_MS} ms)`,
      );
  });
  const details = await fc.check(prop, {
    seed: opts.seed,
    numRuns: opts.numRuns ?? 1_000_000_000,
    ...(opts.timeMs === undefined
      ? {}
      : { interruptAfterTimeLimit: opts.timeMs, markInterruptAsFailure: false }),
    endOnFailure: false,
  });
  const result: TargetResult = { name: target.name, seed: opts.seed, stats };
  if (details.failed) {
    const err = details.errorInstance;
    result.failure = {
      message: err instanceof Error ? err.message : String(err),
      counterexample: fc.stringify(details.counterexample).slice(0, 4000),
      path: details.counterexamplePath ?? undefined,
    };
  }
  return result;
}
