/**
 * Logging never blocks (issue 20): a real `fedgate serve` whose standard output goes into a reader that stops
 * reading. The reader's pause stops Node from taking data off the pipe, so the kernel's buffer fills and fedgate's
 * writes to stdout fail with EAGAIN.
 *  - Every sign-in must complete while the reader is still stalled (ordering: they all finish before it reads
 *    again), and after a graceful shutdown every sign-in's token_issued audit line must be in the output, with
 *    `shutdown complete` the last line. With a synchronous destination (`pino.destination({ sync: true })`) the event
 *    loop sleeps in sonic-boom's retry loop and no sign-in is answered: this test fails.
 *  - A reader that never reads: the buffer stays within log.bufferBytes, the lines past it are counted and reported,
 *    and SIGTERM still ends the process. With pino 10's default destination (asynchronous but unbounded) nothing is
 *    dropped or counted, and its exit-time flush retries forever: the process never exits.
 * No timing is asserted; p50/p99 of the sign-ins with a fast reader and with the stalled one are printed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { cliTs, tsxLoader } from '../helpers/cli.ts';
import { freePort, waitUntil } from '../helpers/net.ts';

const SIGN_INS_PER_PHASE = 240;
const CONCURRENCY = 4;
const TEST_RP = 'urn:fedgate:test';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(
  agent: Agent,
  port: number,
  method: 'GET' | 'POST',
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
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
    // A safety net against a server stalled on its log (what this test catches): the request fails, never hangs.
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer to ${method} ${path}`)));
    req.on('error', fail);
    req.end(body);
  });
}

const field = (html: string, name: string): string =>
  new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';

/** One WS-Fed passive sign-in (page, password, token); returns the activity id of the request that issued it. */
async function signIn(agent: Agent, port: number): Promise<string> {
  const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: TEST_RP }).toString();
  const page = await call(agent, port, 'GET', `/adfs/ls/?${q}`);
  assert.equal(page.status, 200, page.body.slice(0, 300));
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
  assert.equal(res.status, 200, res.body.slice(0, 300));
  assert.match(res.body, /name="wresult"/, 'the answer carries the token');
  const id = res.headers['x-activity-id'];
  assert.equal(typeof id, 'string');
  return id as string;
}

/** `count` sign-ins, `CONCURRENCY` at a time, each on its own connection pool; activity ids and latencies (ms). */
async function signIns(port: number, count: number): Promise<{ ids: string[]; ms: number[] }> {
  const ids: string[] = [];
  const ms: number[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        while (started < count) {
          started++;
          const t0 = performance.now();
          ids.push(await signIn(agent, port));
          ms.push(performance.now() - t0);
        }
      } finally {
        agent.destroy();
      }
    }),
  );
  return { ids, ms };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

/** The sum of a metric's samples on /metrics (only those whose labels contain `labels`, when given). */
async function metric(mgmtPort: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${String(mgmtPort)}/metrics`)).text();
  const samples = text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || (l.startsWith(`${name}{`) && l.includes(labels)));
  assert.ok(samples.length > 0, `${name} is on /metrics`);
  return samples.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

interface ServeProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  port: number;
  mgmtPort: number;
  exited: Promise<number | null>;
  /** Resolves when standard output has been read to its end. */
  ended: Promise<void>;
  /** Bytes the reader took while it was stalled (must stay 0: the stall is real). */
  readonly bytesWhileStalled: number;
  stall(): void;
  read(): void;
  bytes(): number;
  lines(): Record<string, unknown>[];
  stderr(): string;
  dispose(): Promise<void>;
}

/** `fedgate serve --config` in a fresh folder, its standard output kept; ready once the probe answers 200. */
async function serve(extra: Record<string, unknown> = {}): Promise<ServeProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-logbp-'));
  const port = await freePort();
  const mgmtPort = await freePort();
  writeFileSync(
    join(dir, 'fedgate.yaml'),
    stringify({
      hostname: 'localhost',
      publicUrl: `http://127.0.0.1:${String(port)}`,
      listen: { host: '127.0.0.1', port, tls: 'off' },
      keys: { dir: './keys' },
      testRelyingParty: true,
      management: { host: '127.0.0.1', port: mgmtPort },
      shutdown: { drainDelayMs: 100, timeoutMs: 5000 },
      ...extra,
    }),
  );
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(
    process.execPath,
    ['--import', tsxLoader, cliTs, 'serve', '--config', 'fedgate.yaml'],
    {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((ok) => child.once('exit', ok));
  const ended = new Promise<void>((ok) => child.stdout.once('end', ok));
  const chunks: Buffer[] = [];
  let stalled = false;
  let bytesWhileStalled = 0;
  child.stdout.on('data', (d: Buffer) => {
    if (stalled) bytesWhileStalled += d.length;
    chunks.push(d);
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const proc: ServeProcess = {
    child,
    port,
    mgmtPort,
    exited,
    ended,
    get bytesWhileStalled() {
      return bytesWhileStalled;
    },
    // Node stops reading the pipe once its own small buffer is full; the kernel's buffer fills next.
    stall() {
      child.stdout.pause();
      stalled = true;
    },
    read() {
      stalled = false;
      child.stdout.resume();
    },
    bytes: () => Buffer.concat(chunks).length,
    lines: () =>
      Buffer.concat(chunks)
        .toString('utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    stderr: () => stderr,
    async dispose() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitUntil(
      () => `fedgate serve is ready (stderr: ${stderr})`,
      async () => {
        if (child.exitCode !== null) throw new Error(`fedgate exited: ${stderr}`);
        return (
          (await fetch(`http://127.0.0.1:${String(port)}/adfs/probe`).catch(() => undefined))
            ?.status === 200
        );
      },
      { timeoutMs: 60_000 },
    );
  } catch (err) {
    await proc.dispose();
    throw err;
  }
  return proc;
}

const DROP_WARNING = 'log lines dropped: standard output was not read and the log buffer was full';
const fmt = (x: number): string => x.toFixed(1);

test('a stalled reader of standard output never stalls sign-ins, and no audit line is lost across a graceful shutdown', async (t) => {
  const node = await serve();
  try {
    // Warm-up (JIT, key caches), so both measured phases run on a warm server.
    await signIns(node.port, 20);
    // A fast reader: stdout is read as it comes.
    const fast = await signIns(node.port, SIGN_INS_PER_PHASE);

    node.stall();
    const slow = await signIns(node.port, SIGN_INS_PER_PHASE);
    // Every sign-in completed while nothing was read.
    assert.equal(slow.ids.length, SIGN_INS_PER_PHASE);
    assert.equal(node.bytesWhileStalled, 0, 'the reader took nothing while stalled');
    // The stall really held fedgate's output back: lines wait in its own buffer, the pipe being full.
    const waiting = await metric(node.mgmtPort, 'fedgate_log_buffered_bytes');
    t.diagnostic(
      `log bytes waiting in fedgate's buffer while the reader stalled: ${String(waiting)}`,
    );
    assert.ok(waiting > 0, 'the pipe was full: log bytes wait in the buffer');
    assert.equal(await metric(node.mgmtPort, 'fedgate_log_dropped_lines_total'), 0);

    // The reader reads again; the node is stopped as an orchestrator does.
    node.read();
    node.child.kill('SIGTERM');
    assert.equal(await node.exited, 0, `graceful exit (stderr: ${node.stderr()})`);
    await node.ended;

    const lines = node.lines();
    const issued = new Set(
      lines.filter((l) => l.event === 'token_issued').map((l) => l.activityId as string),
    );
    const missing = [...fast.ids, ...slow.ids].filter((id) => !issued.has(id));
    assert.deepEqual(missing, [], 'every sign-in has its token_issued audit line');
    assert.equal(lines.at(-1)?.msg, 'shutdown complete', 'shutdown complete is the last line');
    assert.ok(!lines.some((l) => l.msg === DROP_WARNING));

    t.diagnostic(
      `${String(SIGN_INS_PER_PHASE)} sign-ins per phase, ${String(CONCURRENCY)} at a time; ${String(node.bytes())} bytes of log in all`,
    );
    t.diagnostic(
      `fast reader:    p50 ${fmt(percentile(fast.ms, 50))} ms, p99 ${fmt(percentile(fast.ms, 99))} ms`,
    );
    t.diagnostic(
      `stalled reader: p50 ${fmt(percentile(slow.ms, 50))} ms, p99 ${fmt(percentile(slow.ms, 99))} ms`,
    );
  } finally {
    await node.dispose();
  }
});

test('a reader that never reads: the buffer stays within log.bufferBytes, dropped lines are counted and reported, and SIGTERM still exits', async (t) => {
  const bufferBytes = 65_536;
  const node = await serve({ log: { level: 'info', bufferBytes, flushTimeoutMs: 200 } });
  try {
    node.stall();
    const first = await signIns(node.port, SIGN_INS_PER_PHASE);
    assert.equal(first.ids.length, SIGN_INS_PER_PHASE, 'every sign-in completed');
    assert.equal(node.bytesWhileStalled, 0);
    const waiting = await metric(node.mgmtPort, 'fedgate_log_buffered_bytes');
    const droppedAudit = await metric(
      node.mgmtPort,
      'fedgate_log_dropped_lines_total',
      'stream="audit"',
    );
    t.diagnostic(
      `with log.bufferBytes ${String(bufferBytes)}: ${String(waiting)} bytes waiting, ${String(droppedAudit)} audit lines dropped`,
    );
    assert.ok(waiting <= bufferBytes, 'memory held for the reader stays within the bound');
    assert.ok(droppedAudit > 0, 'lines past the bound were dropped and counted, not buffered');

    // Once the reader reads again and the buffer empties, one warning marks the gap.
    node.read();
    await waitUntil('the dropped-lines warning is logged', () =>
      node.lines().some((l) => l.msg === DROP_WARNING),
    );
    const warning = node.lines().find((l) => l.msg === DROP_WARNING);
    assert.ok(typeof warning?.droppedLines === 'number' && warning.droppedLines >= droppedAudit);

    // Stalled again and full again: SIGTERM still ends the process (the exit flush gives up after
    // log.flushTimeoutMs instead of waiting for a reader that never comes back).
    node.stall();
    await signIns(node.port, SIGN_INS_PER_PHASE / 2);
    assert.ok((await metric(node.mgmtPort, 'fedgate_log_buffered_bytes')) > 0, 'lines wait');
    node.child.kill('SIGTERM');
    await waitUntil(
      () => `the node exits with its reader stalled (stderr: ${node.stderr()})`,
      () => node.child.exitCode !== null,
      { timeoutMs: 60_000 },
    );
    assert.equal(await node.exited, 0);
    node.read();
    await node.ended;
  } finally {
    await node.dispose();
  }
});
