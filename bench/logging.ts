/**
 * Sign-ins while standard output is read promptly vs while its reader has stalled (issue 20, "Logging that never
 * blocks"). One built `fedgate serve` (dist/, embedded demo directory, plain HTTP on loopback), its stdout a pipe into
 * this process. Rounds alternate: the reader reads as lines come, then it stops reading (the pipe fills and fedgate
 * keeps its lines in its own bounded buffer), then it reads again. WS-Fed passive sign-ins (page + password + token),
 * a fixed count per phase, CONCURRENCY at a time. Same process, same run, interleaved, so a noisy moment hits both.
 *   import { loggingSection } from './logging.ts'; results.logging = await loggingSection({ quick });
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { freePort } from '../tests/helpers/net.ts';
import { fmt, percentile, table } from './lib.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const CONCURRENCY = 4;

export interface LoggingRow {
  name: string;
  signIns: number;
  failed: number;
  p50ms: number;
  p99ms: number;
}

export interface LoggingBenchResult {
  rows: [LoggingRow, LoggingRow];
  /** Stalled ÷ fast. */
  p50Ratio: number;
  p99Ratio: number;
  /** Largest number of log bytes seen waiting in fedgate's buffer at the end of a stalled phase. */
  maxBufferedBytes: number;
  droppedLines: number;
  logBytesPerSignIn: number;
}

function call(
  agent: Agent,
  port: number,
  method: 'GET' | 'POST',
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> {
  return new Promise((ok, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: {
          ...headers,
          ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          ok({ status: res.statusCode ?? 0, headers: res.headers, body: text });
        });
        res.on('error', fail);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end(body);
  });
}

const field = (html: string, name: string): string =>
  new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';

async function signIn(agent: Agent, port: number): Promise<boolean> {
  const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: 'urn:fedgate:test' }).toString();
  const page = await call(agent, port, 'GET', `/adfs/ls/?${q}`);
  if (page.status !== 200) return false;
  const cookie = ([] as string[])
    .concat(page.headers['set-cookie'] ?? [])
    .map((c) => c.split(';')[0])
    .join('; ');
  const form = new URLSearchParams({
    AuthState: field(page.body, 'AuthState'),
    csrf: field(page.body, 'csrf'),
    UserName: 'alice@fedgate.test',
    Password: 'Passw0rd!',
  }).toString();
  const res = await call(
    agent,
    port,
    'POST',
    '/adfs/ls/',
    { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    form,
  );
  return res.status === 200 && res.body.includes('name="wresult"');
}

async function phase(port: number, count: number, into: { ms: number[]; failed: number }) {
  let started = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        while (started < count) {
          started++;
          const t0 = performance.now();
          if (await signIn(agent, port).catch(() => false)) into.ms.push(performance.now() - t0);
          else into.failed++;
        }
      } finally {
        agent.destroy();
      }
    }),
  );
}

async function scrape(mgmtPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${String(mgmtPort)}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

export async function loggingBench(opts: {
  rounds: number;
  perPhase: number;
}): Promise<LoggingBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-bench-logging-'));
  const port = await freePort();
  const mgmtPort = await freePort();
  writeFileSync(
    join(dir, 'fedgate.yaml'),
    [
      'hostname: localhost',
      `publicUrl: http://127.0.0.1:${String(port)}`,
      `listen: { port: ${String(port)}, host: 127.0.0.1, tls: "off" }`,
      `management: { port: ${String(mgmtPort)}, host: 127.0.0.1 }`,
      'keys: { dir: ./keys }',
      'testRelyingParty: true',
      'shutdown: { drainDelayMs: 0, timeoutMs: 5000 }',
      'log: { level: info }',
      '',
    ].join('\n'),
  );
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('FEDGATE_')),
  );
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(
    process.execPath,
    [join(root, 'dist/server/cli/main.js'), 'serve', '--config', 'fedgate.yaml'],
    { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((ok) =>
    child.once('exit', () => {
      ok();
    }),
  );
  let logBytes = 0;
  child.stdout.on('data', (d: Buffer) => (logBytes += d.length));
  child.stderr.resume();
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error('fedgate exited before it was ready');
      const r = await fetch(`http://127.0.0.1:${String(port)}/adfs/probe`).catch(() => undefined);
      if (r?.status === 200) break;
      if (i > 1200) throw new Error('fedgate did not start');
      await new Promise((ok) => setTimeout(ok, 50));
    }
    await phase(port, 30, { ms: [], failed: 0 }); // warm-up
    const fast = { ms: [] as number[], failed: 0 };
    const slow = { ms: [] as number[], failed: 0 };
    let maxBufferedBytes = 0;
    const bytes0 = logBytes;
    for (let r = 0; r < opts.rounds; r++) {
      child.stdout.resume();
      await phase(port, opts.perPhase, fast);
      child.stdout.pause();
      await phase(port, opts.perPhase, slow);
      maxBufferedBytes = Math.max(
        maxBufferedBytes,
        await scrape(mgmtPort, 'fedgate_log_buffered_bytes'),
      );
    }
    child.stdout.resume();
    const droppedLines = await scrape(mgmtPort, 'fedgate_log_dropped_lines_total');
    child.kill('SIGTERM');
    await exited;
    const row = (name: string, x: { ms: number[]; failed: number }): LoggingRow => ({
      name,
      signIns: x.ms.length,
      failed: x.failed,
      p50ms: percentile(x.ms, 50),
      p99ms: percentile(x.ms, 99),
    });
    const rows: [LoggingRow, LoggingRow] = [
      row('stdout read as it comes', fast),
      row('stdout reader stalled (pipe full)', slow),
    ];
    return {
      rows,
      p50Ratio: rows[1].p50ms / rows[0].p50ms,
      p99Ratio: rows[1].p99ms / rows[0].p99ms,
      maxBufferedBytes,
      droppedLines,
      logBytesPerSignIn: (logBytes - bytes0) / (fast.ms.length + slow.ms.length),
    };
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The section as `npm run bench` prints it (bench/run.ts). */
export async function loggingSection(opts: { quick: boolean }): Promise<LoggingBenchResult> {
  const r = await loggingBench({
    rounds: opts.quick ? 2 : 5,
    perPhase: opts.quick ? 120 : 300,
  });
  console.log(
    `Sign-ins with standard output read promptly vs its reader stalled (fedgate serve, embedded directory, ${String(CONCURRENCY)} at a time, rounds interleaved; ≈ ${fmt(r.logBytesPerSignIn)} log bytes per sign-in)`,
  );
  console.log(
    table(
      ['stdout', 'sign-ins', 'p50 ms', 'p99 ms', 'failed'],
      r.rows.map((x) => [x.name, x.signIns, x.p50ms, x.p99ms, String(x.failed)]),
    ),
  );
  console.log(
    `stalled ÷ read: p50 ${fmt(r.p50Ratio)}, p99 ${fmt(r.p99Ratio)}; at most ${fmt(r.maxBufferedBytes / 1024)} KiB waiting in the log buffer, ${String(r.droppedLines)} lines dropped\n`,
  );
  return r;
}

// `node --import tsx bench/logging.ts` runs the section alone (after `npm run build`).
if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  await loggingSection({ quick: process.env.FEDGATE_BENCH_QUICK === '1' });
}
