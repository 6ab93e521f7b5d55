/**
 * End-to-end sign-ins: the full WS-Fed passive flow (GET the sign-in page, POST the password, receive the signed
 * token) through a fedgate server process against the Samba AD DC, next to the directory's own LDAPS bind rate
 * at the same concurrency, measured in the same run. Bounded in time and count; loopback only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'ldapts';
import { sambaEnv, type SambaEnv } from '../tests/helpers/samba.ts';
import { percentile } from './lib.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

/** CPU time (ms) used so far by a set of processes, from /proc (utime + stime, USER_HZ = 100). */
export function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${String(pid)}/stat`, 'utf8')
        .split(') ')[1]!
        .split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      /* process ended */
    }
  }
  return ticks * 10;
}

/** The Samba root process and all its descendants (prefork workers are renamed, e.g. `ldap[master]`). */
export function sambaPids(): number[] {
  const roots = spawnSync('pgrep', ['-x', 'samba'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const f = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ');
      parent.set(Number(name), Number(f[1]));
    } catch {
      /* gone */
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, i = 0; p > 1 && i < 64; p = parent.get(p) ?? 0, i++)
      if (roots.includes(p)) return true;
    return false;
  };
  return [...parent.keys()].filter(inTree);
}

export interface LoadResult {
  name: string;
  concurrency: number;
  seconds: number;
  completed: number;
  failed: number;
  perSec: number;
  p50ms: number;
  p99ms: number;
  peakRssMB?: number;
  /** Samba's CPU per completed operation (ms). */
  sambaCpuMsPerOp?: number;
  /** fedgate's CPU per completed sign-in (ms). */
  fedgateCpuMsPerOp?: number;
}

/** Runs `op` in `concurrency` loops until `seconds` pass (or `maxOps` complete); latency per op. */
async function load(
  name: string,
  concurrency: number,
  seconds: number,
  op: (worker: number, index: number) => Promise<boolean>,
  maxOps = 200_000,
  latencies: number[] = [],
): Promise<LoadResult> {
  const first = latencies.length;
  let failed = 0;
  let started = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < end && started < maxOps) {
        const index = started++;
        const s = performance.now();
        const ok = await op(w, index).catch(() => false);
        if (ok) latencies.push(performance.now() - s);
        else failed++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const mine = latencies.slice(first);
  return {
    name,
    concurrency,
    seconds: elapsed,
    completed: mine.length,
    failed,
    perSec: mine.length / elapsed,
    p50ms: percentile(mine, 50),
    p99ms: percentile(mine, 99),
  };
}

/** The directory's own rate: simple binds as the user over persistent LDAPS connections, one per worker. */
export async function bindRate(
  env: SambaEnv,
  concurrency: number,
  seconds: number,
  opts: { latencies?: number[] } = {},
): Promise<LoadResult> {
  const ca = readFileSync(env.caFile);
  const clients = Array.from(
    { length: concurrency },
    () =>
      new Client({
        url: env.urls[0]!,
        tlsOptions: { ca, minVersion: 'TLSv1.2' },
        timeout: 5000,
        connectTimeout: 3000,
      }),
  );
  const user = env.users.jdoe;
  for (const c of clients) await c.bind(user.dn, user.password); // connect + TLS before timing
  const samba = sambaPids();
  const s0 = cpuMs(samba);
  const r = await load(
    'Samba AD LDAPS bind (reused connections)',
    concurrency,
    seconds,
    async (w) => {
      await clients[w]!.bind(user.dn, user.password);
      return true;
    },
    200_000,
    opts.latencies,
  );
  const sambaCpu = cpuMs(samba) - s0;
  await Promise.all(clients.map((c) => c.unbind().catch(() => undefined)));
  return { ...r, sambaCpuMsPerOp: sambaCpu / r.completed };
}

function httpCall(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}> {
  return new Promise((ok, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: {
          ...headers,
          ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
        },
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          ok({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', fail);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  /** Calls `fn` with every later line of the server's standard output (the JSON log and audit lines). */
  onLine(fn: (line: string) => void): void;
  peakRssMB(): number;
  stop(): Promise<void>;
}

/** Starts the built fedgate (dist/) with a config file; resolves when the startup banner shows the port. */
export async function startFedgate(config: string): Promise<ServerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-bench-'));
  const file = join(dir, 'fedgate.yaml');
  writeFileSync(file, config);
  // Only the config file configures the server: FEDGATE_* variables of the benchmark's own shell are not passed on.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('FEDGATE_')),
  );
  const child = spawn(
    process.execPath,
    [
      ...(process.env.FEDGATE_BENCH_PROFILE === '1'
        ? ['--cpu-prof', `--cpu-prof-dir=${tmpdir()}/fedgate-prof`]
        : []),
      join(root, 'dist/server/cli/main.js'),
      'serve',
      '--config',
      file,
    ],
    { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let errText = '';
  child.stderr.on('data', (d: Buffer) => (errText += d.toString()));
  const port = await new Promise<number>((ok, fail) => {
    const timer = setTimeout(() => {
      fail(new Error(`fedgate did not start: ${errText}`));
    }, 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on https?:\/\/[^:]+:(\d+)/.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        ok(Number(m[1]));
      }
    });
    child.on('exit', (c) => {
      fail(new Error(`fedgate exited (${String(c)}): ${errText}`));
    });
  });
  // Keep draining stdout (audit log lines) so the pipe never blocks the server, handing lines to watchers.
  child.stdout.removeAllListeners('data');
  const watchers: ((line: string) => void)[] = [];
  let partial = '';
  child.stdout.on('data', (d: Buffer) => {
    if (watchers.length === 0) return;
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) for (const w of watchers) w(l);
  });
  return {
    child,
    port,
    onLine(fn) {
      watchers.push(fn);
    },
    peakRssMB() {
      const status = readFileSync(`/proc/${String(child.pid)}/status`, 'utf8');
      const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
      return kb / 1024;
    },
    stop: () =>
      new Promise<void>((ok) => {
        child.once('exit', () => {
          ok();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** Who signs in: the i-th sign-in of a run (0-based) uses `user(i)`. */
export interface SignInOptions {
  concurrency: number;
  seconds: number;
  /** Stop after this many sign-ins (default: time only). */
  maxOps?: number;
  user?: (i: number) => { upn: string; password: string };
  /** Latencies (ms) of successful sign-ins are appended here. */
  latencies?: number[];
  name?: string;
}

/** Full passive sign-ins (no SSO cookie, so every iteration checks the password against AD). */
export async function signIns(
  server: ServerProcess,
  env: SambaEnv,
  opts: SignInOptions,
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const jdoe = env.users.jdoe;
  const userOf = opts.user ?? (() => jdoe);
  const path = '/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=bench';
  const samba = sambaPids();
  const s0 = cpuMs(samba);
  const f0 = cpuMs([server.child.pid ?? -1]);
  const field = (html: string, name: string) =>
    new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';
  const r = await load(
    opts.name ?? 'fedgate WS-Fed sign-in (page + password + token)',
    opts.concurrency,
    opts.seconds,
    async (_w, i) => {
      const user = userOf(i);
      const page = await httpCall(agent, server.port, 'GET', path, {});
      if (page.status !== 200) return false;
      const setCookie = ([] as string[]).concat(page.headers['set-cookie'] ?? []);
      const cookie = setCookie.map((c) => c.split(';')[0]).join('; ');
      const body = new URLSearchParams({
        AuthState: field(page.text, 'AuthState'),
        csrf: field(page.text, 'csrf'),
        UserName: user.upn,
        Password: user.password,
      }).toString();
      const res = await httpCall(
        agent,
        server.port,
        'POST',
        '/adfs/ls/',
        { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      );
      return res.status === 200 && res.text.includes('name="wresult"');
    },
    opts.maxOps,
    opts.latencies,
  );
  const sambaCpu = cpuMs(samba) - s0;
  const fedgateCpu = cpuMs([server.child.pid ?? -1]) - f0;
  agent.destroy();
  return {
    ...r,
    peakRssMB: server.peakRssMB(),
    sambaCpuMsPerOp: sambaCpu / r.completed,
    fedgateCpuMsPerOp: fedgateCpu / r.completed,
  };
}

/** jdoe's sign-ins for `seconds` (the same user every time: a warm directory cache). */
export function signInRate(
  server: ServerProcess,
  env: SambaEnv,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  return signIns(server, env, { concurrency, seconds });
}

/**
 * The bench's fedgate.yaml. `cache` sets directory.cache (absent: the defaults); `managementPort` opens the
 * management listener (/metrics, /healthz/ready).
 */
export function benchConfig(
  env: SambaEnv,
  concurrency: number,
  opts: {
    cache?: { maxStalenessSeconds: number; maxUsers?: number };
    managementPort?: number;
  } = {},
): string {
  return [
    'hostname: localhost',
    'publicUrl: http://127.0.0.1',
    'listen: { port: 0, host: 127.0.0.1, tls: "off" }',
    'keys: { dir: ./keys }',
    'log: { level: info }',
    'directory:',
    '  kind: ldap',
    `  urls: [${env.urls.join(', ')}]`,
    `  baseDn: "${env.baseDn}"`,
    `  bindDn: "${env.bindDn}"`,
    `  bindPassword: "${env.bindPassword}"`,
    `  netbiosDomain: ${env.netbiosDomain}`,
    `  tls: { ca: "${env.caFile}" }`,
    `  poolSize: ${concurrency}`,
    ...(opts.cache === undefined
      ? []
      : [
          `  cache: { maxStalenessSeconds: ${String(opts.cache.maxStalenessSeconds)}${
            opts.cache.maxUsers === undefined ? '' : `, maxUsers: ${String(opts.cache.maxUsers)}`
          } }`,
        ]),
    ...(opts.managementPort === undefined
      ? []
      : [`management: { port: ${String(opts.managementPort)}, host: 127.0.0.1 }`]),
    '',
  ].join('\n');
}

export { sambaEnv };
