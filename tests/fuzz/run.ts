/**
 * `npm run fuzz`: property-based fuzzing of every entry point that parses outside input (issue 14 §1), through the
 * real app in process. FUZZ_SECONDS (default 300) is split evenly across the targets; FUZZ_SEED fixes the seed
 * (default: random, printed); FUZZ_ONLY=substring runs only the matching targets. Prints per-target counts, the
 * status codes seen and the longest event-loop stall; exits 1 on any failure, with the shrunk counterexample and
 * the seed and path that replay it.
 */
import { fuzzTarget, type TargetResult } from './engine.ts';
import { startFuzzApp, STALL_LIMIT_MS } from './harness.ts';
import { TARGETS } from './targets.ts';

const seconds = Number(process.env.FUZZ_SECONDS ?? 300);
const seed = process.env.FUZZ_SEED === undefined ? Date.now() ^ (Math.random() * 0x7fffffff) : Number(process.env.FUZZ_SEED);
const only = process.env.FUZZ_ONLY;
const targets = TARGETS.filter((t) => only === undefined || t.name.includes(only));

const crashes: unknown[] = [];
process.on('uncaughtException', (e) => crashes.push(e));
process.on('unhandledRejection', (e) => crashes.push(e));

console.log(`fuzz: seed ${seed}, ${seconds} s over ${targets.length} targets`);
const app = await startFuzzApp();
const results: TargetResult[] = [];
try {
  for (const [i, t] of targets.entries()) {
    const r = await fuzzTarget(app, t, {
      seed: seed + i,
      timeMs: (seconds * 1000) / targets.length,
      enforceStall: true,
    });
    results.push(r);
    const statuses = [...r.stats.statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s === 0 ? 'direct' : s}:${n}`).join(' ');
    console.log(
      `${r.failure === undefined ? 'ok  ' : 'FAIL'} ${t.name.padEnd(44)} runs ${String(r.stats.runs).padStart(6)}  max stall ${r.stats.maxStallMs.toFixed(1).padStart(6)} ms  max cpu ${r.stats.maxCpuMs.toFixed(1).padStart(6)} ms  [${statuses}]`,
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
  console.log(`replay: FUZZ_SEED=${r.seed - targets.findIndex((t) => t.name === r.name)} FUZZ_ONLY='${r.name}' (seed ${r.seed}, path ${r.failure.path ?? '-'})`);
  console.log(`shrunk counterexample: ${r.failure.counterexample}`);
}
if (crashes.length > 0) {
  failed = true;
  console.log(`\n--- uncaught errors (process would have crashed): ${crashes.map(String).join('\n')}`);
}
const total = results.reduce((n, r) => n + r.stats.runs, 0);
const stall = Math.max(0, ...results.map((r) => r.stats.maxStallMs));
const cpu = Math.max(0, ...results.map((r) => r.stats.maxCpuMs));
console.log(`\nfuzz: ${total} executions, max event-loop stall ${stall.toFixed(1)} ms, max CPU per request ${cpu.toFixed(1)} ms (limit ${STALL_LIMIT_MS} ms), seed ${seed}: ${failed ? 'FAILED' : 'passed'}`);
process.exit(failed ? 1 : 0);
