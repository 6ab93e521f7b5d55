/**
 * `npm run fuzz`: property-based fuzzing of every entry point that parses outside input (issue 14 §1), through the
 * real app in process. FUZZ_SECONDS (default 120) is split evenly across the targets; FUZZ_SEED fixes the seed
 * (default: random, printed; target i runs from seed + i); FUZZ_ONLY=substring runs only the matching targets.
 * Prints per target the runs, runs per second, status codes seen and the event-loop figures; exits 1 on any
 * failure, with the shrunk counterexample and the seed that replays it.
 */
import { fuzzTarget, type TargetResult } from './engine.ts';
import { startFuzzApp, STALL_LIMIT_MS } from './harness.ts';
import { TARGETS } from './targets.ts';

const seconds = Number(process.env.FUZZ_SECONDS ?? 120);
const seed =
  process.env.FUZZ_SEED === undefined
    ? (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0
    : Number(process.env.FUZZ_SEED);
const only = process.env.FUZZ_ONLY;
const targets = TARGETS.filter((t) => only === undefined || t.name.includes(only));
if (!Number.isFinite(seconds) || seconds <= 0 || !Number.isInteger(seed) || targets.length === 0) {
  console.error(
    'fuzz: FUZZ_SECONDS must be a positive number, FUZZ_SEED an integer, FUZZ_ONLY match a target',
  );
  process.exit(2);
}

// A throw outside a request's promise chain would kill a real node: count it as a failure here.
const crashes: unknown[] = [];
process.on('uncaughtException', (e) => crashes.push(e));
process.on('unhandledRejection', (e) => crashes.push(e));

// The loop can also empty with the run unfinished (a throw swallowed above left a promise unsettled): never let
// that pass as success.
let reported = false;
process.on('exit', () => {
  if (reported) return;
  console.log(`\nfuzz: ended before its report, seed ${seed}:\n${crashes.map(String).join('\n')}`);
  process.exitCode = 1;
});

console.log(`fuzz: seed ${seed}, ${seconds} s over ${targets.length} targets`);
const app = await startFuzzApp();
const results: TargetResult[] = [];
try {
  for (const t of targets) {
    // The seed of a target does not depend on which others run, so FUZZ_ONLY replays it exactly.
    const r = await fuzzTarget(app, t, {
      seed: seed + TARGETS.indexOf(t),
      timeMs: (seconds * 1000) / targets.length,
      enforceStall: true,
    });
    results.push(r);
    const statuses = [...r.stats.statuses]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s === 0 ? 'direct' : s}:${n}`)
      .join(' ');
    const rate = r.stats.runs / (r.elapsedMs / 1000);
    console.log(
      `${r.failure === undefined ? 'ok  ' : 'FAIL'} ${t.name.padEnd(48)} runs ${String(r.stats.runs).padStart(6)} ` +
        `${rate.toFixed(0).padStart(5)}/s  held ${r.stats.maxHeldMs.toFixed(1).padStart(5)} ms  ` +
        `stall ${r.stats.maxStallMs.toFixed(1).padStart(5)} ms  cpu ${r.stats.maxCpuMs.toFixed(1).padStart(5)} ms  [${statuses}]`,
    );
  }
} finally {
  await app.close();
}

let failed = false;
for (const r of results) {
  if (r.failure === undefined) continue;
  failed = true;
  console.log(`\n--- ${r.name}: ${r.failure.message}`);
  console.log(
    `replay: FUZZ_SEED=${seed} FUZZ_ONLY='${r.name}' (target seed ${r.seed}, path ${r.failure.path ?? '-'})`,
  );
  console.log(`shrunk counterexample: ${r.failure.counterexample}`);
}
if (crashes.length > 0) {
  failed = true;
  console.log(
    `\n--- uncaught errors (a real node would have crashed):\n${crashes.map(String).join('\n')}`,
  );
}
const total = results.reduce((n, r) => n + r.stats.runs, 0);
const max = (f: (r: TargetResult) => number): string => Math.max(0, ...results.map(f)).toFixed(1);
console.log(
  `\nfuzz: ${total} executions; event loop: longest held by one step ${max((r) => r.stats.maxHeldMs)} ms ` +
    `(min of stall and CPU; raw stall max ${max((r) => r.stats.maxStallMs)} ms, CPU max ${max((r) => r.stats.maxCpuMs)} ms; ` +
    `limit ${STALL_LIMIT_MS} ms); seed ${seed}: ${failed ? 'FAILED' : 'passed'}`,
);
reported = true;
process.exit(failed ? 1 : 0);
