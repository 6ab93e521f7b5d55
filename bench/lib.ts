/** Small measurement helpers shared by the benchmarks. Figures are ratios measured side by side in one run. */

export interface Rate {
  name: string;
  opsPerSec: number;
  /** ops/s of each round, for spread. */
  rounds: number[];
}

/**
 * Runs `fn` back to back for `ms` milliseconds after a warm-up and returns operations per second. Several rounds
 * of all candidates are interleaved by the caller, so a noisy moment hits every candidate alike.
 */
export async function rate(fn: () => unknown, ms: number): Promise<number> {
  const warmEnd = performance.now() + Math.min(300, ms / 3);
  while (performance.now() < warmEnd) await fn();
  let n = 0;
  const start = performance.now();
  const end = start + ms;
  let now = start;
  while (now < end) {
    await fn();
    n++;
    // Reading the clock every call is cheap next to an RSA signature.
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

export async function compare(
  candidates: { name: string; fn: () => unknown }[],
  opts: { rounds: number; ms: number },
): Promise<Rate[]> {
  const results = candidates.map((c) => ({ name: c.name, rounds: [] as number[], opsPerSec: 0 }));
  for (let r = 0; r < opts.rounds; r++) {
    // Interleaved, and the order reversed every other round, so a busy moment of the machine falls on every
    // candidate alike: ratios are then taken per round (pairedRatio) rather than between separate runs.
    const order = [...candidates.entries()];
    if (r % 2 === 1) order.reverse();
    for (const [i, c] of order) results[i]!.rounds.push(await rate(c.fn, opts.ms));
  }
  for (const r of results) r.opsPerSec = median(r.rounds);
  return results;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)),
  );
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(headers),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...cells.map((r) => line(r.map(String))),
  ].join('\n');
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}
