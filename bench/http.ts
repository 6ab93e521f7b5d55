/** Requests/s for the probe and the federation metadata against a bare express route, same run, same load. */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
const autocannon = require('autocannon') as (
  opts: Record<string, unknown>,
) => Promise<AutocannonResult>;

export interface HttpRate {
  name: string;
  perSec: number;
  p50ms: number;
  p99ms: number;
  non2xx: number;
}

export async function httpRate(
  name: string,
  url: string,
  seconds: number,
  connections = 16,
): Promise<HttpRate> {
  const r = await autocannon({ url, connections, duration: seconds, pipelining: 1 });
  return {
    name,
    perSec: r.requests.average,
    p50ms: r.latency.p50,
    p99ms: r.latency.p99,
    non2xx: r.non2xx + r.errors,
  };
}

export async function startBareExpress(): Promise<{ port: number; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('./bare-express.mjs', import.meta.url))],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((ok, fail) => {
    child.stdout.on('data', (d: Buffer) => {
      const m = /:(\d+)/.exec(d.toString());
      if (m?.[1] !== undefined) ok(Number(m[1]));
    });
    child.on('exit', () => {
      fail(new Error('bare express exited'));
    });
  });
  return {
    port,
    stop: () =>
      new Promise<void>((ok) => {
        child.once('exit', () => {
          ok();
        });
        child.kill('SIGTERM');
      }),
  };
}
