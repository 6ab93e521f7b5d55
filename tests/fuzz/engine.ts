/**
 * Runs fuzz targets with fast-check: each target for a bounded time (or a fixed number of runs) from a seed, with
 * the answer properties of harness.ts plus two of the process: it still answers /adfs/probe after every input, and
 * no single step holds the event loop longer than STALL_LIMIT_MS (issue 14 §1).
 *
 * The stall is the event-loop delay histogram's maximum while the server's step ran (harness.ts `timed`), which is
 * wall-clock: on a shared 2-core machine under load the scheduler stretches it several times over (measured: a
 * signed AuthnRequest costing 12–20 ms of CPU showed 30–100 ms stalls at load average 22). So a step over the
 * limit is measured twice more and the smallest figures are kept, and it fails the property only when that stall
 * AND the process CPU time it used are both over the limit: CPU time is an upper bound on how long the step can
 * have held the loop itself. `enforceStall: false` (the seeded run in `npm test`, where wall-clock assertions are
 * not allowed) records the figures without judging them.
 */
import fc from 'fast-check';
import {
  http,
  newStats,
  PropertyFailure,
  STALL_LIMIT_MS,
  type FuzzApp,
  type Measure,
  type Stats,
} from './harness.ts';
import type { Target } from './targets.ts';

export interface TargetResult {
  name: string;
  seed: number;
  stats: Stats;
  /** Wall-clock milliseconds the target ran, shrinking included. */
  elapsedMs: number;
  failure?: { message: string; counterexample: string; path?: string | undefined } | undefined;
}

/** Sends one input; returns the server step's figures. Throws PropertyFailure when an answer property fails. */
async function once(
  app: FuzzApp,
  target: Target<never>,
  input: never,
  stats: Stats,
): Promise<Measure> {
  app.last = { stallMs: 0, cpuMs: 0 };
  const status = await target.run(app, input);
  const m = app.last;
  stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1);
  // The process keeps serving: a crash, a wedged loop or a poisoned shared state shows here first.
  const probe = await http(app).get('/adfs/probe').timeout(10_000);
  if (probe.status !== 200)
    throw new PropertyFailure(`/adfs/probe answered ${probe.status} after this input`);
  return m;
}

export async function fuzzTarget(
  app: FuzzApp,
  target: Target<never>,
  opts: { seed: number; timeMs?: number; numRuns?: number; enforceStall: boolean },
): Promise<TargetResult> {
  const stats = newStats();
  // fast-check's time limit races the run in flight rather than waiting for it: that run would go on into the
  // next target (its request measured there, its failure lost). Keep it, and settle it before returning.
  let inflight: { input: unknown; done: Promise<void> } | undefined;
  const prop = fc.asyncProperty(target.arb, (input) => {
    const done = check(input);
    inflight = { input, done };
    return done;
  });
  const check = async (input: never): Promise<void> => {
    stats.runs++;
    let m = await once(app, target, input, stats);
    if (m.stallMs > STALL_LIMIT_MS) {
      const again = [await once(app, target, input, stats), await once(app, target, input, stats)];
      m = {
        stallMs: Math.min(m.stallMs, ...again.map((x) => x.stallMs)),
        cpuMs: Math.min(m.cpuMs, ...again.map((x) => x.cpuMs)),
      };
    }
    stats.maxStallMs = Math.max(stats.maxStallMs, m.stallMs);
    stats.maxCpuMs = Math.max(stats.maxCpuMs, m.cpuMs);
    // "Held": the loop was delayed AND the step burned that much CPU (see above); the figure reported as the
    // event-loop stall the server caused.
    stats.maxHeldMs = Math.max(stats.maxHeldMs, Math.min(m.stallMs, m.cpuMs));
    if (opts.enforceStall && m.stallMs > STALL_LIMIT_MS && m.cpuMs > STALL_LIMIT_MS)
      throw new PropertyFailure(
        `event loop held ${m.stallMs.toFixed(1)} ms, ${m.cpuMs.toFixed(1)} ms of CPU (limit ${STALL_LIMIT_MS} ms)`,
      );
  };
  const started = performance.now();
  const details = await fc.check(prop, {
    seed: opts.seed,
    numRuns: opts.numRuns ?? 1_000_000_000,
    // A request that never answers is a failure too (a hung handler), not a hung fuzzer.
    timeout: 30_000,
    ...(opts.timeMs === undefined
      ? {}
      : { interruptAfterTimeLimit: opts.timeMs, markInterruptAsFailure: false }),
    endOnFailure: false,
  });
  const result: TargetResult = {
    name: target.name,
    seed: opts.seed,
    stats,
    elapsedMs: performance.now() - started,
  };
  const last = inflight;
  if (last !== undefined) {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<void>((_ok, fail) => {
      timer = setTimeout(() => {
        fail(new PropertyFailure('a request did not finish within 30 s'));
      }, 30_000);
    });
    try {
      await Promise.race([last.done, hung]);
    } catch (err) {
      if (!details.failed)
        result.failure = {
          message: `${err instanceof Error ? err.message : String(err)} (the run the time limit cut short)`,
          counterexample: fc.stringify([last.input]).slice(0, 4000),
        };
    } finally {
      clearTimeout(timer);
    }
  }
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
