import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { loadOrCreateSigningCredential } from '../../server/keys/index.ts';
import { freePort } from '../helpers/redis.ts';

const run = promisify(execFile);
export const root = new URL('../../', import.meta.url).pathname;
export const HAPROXY_CFG = join(root, 'docker/haproxy.cfg');
export const HOSTNAME = 'sts.fedgate.test';
/** haproxy connects to the nodes from this address; the nodes trust only it (listen.trustedProxies). */
export const LB_SOURCE = '127.0.0.2';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Cookies by hand (Secure __Host- cookies over a client without a jar): the farm tests, the soak, the container farm. */
export class Cookies {
  readonly #c = new Map<string, string>();
  take(r: HttpResult): void {
    const set = r.headers['set-cookie'];
    for (const sc of Array.isArray(set) ? set : []) {
      const [pair = ''] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /max-age=0/i.test(sc)) this.#c.delete(name);
      else this.#c.set(name, value);
    }
  }
  header(): string {
    return [...this.#c].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

/** One fedgate process (`fedgate serve`), its stdout JSON log lines kept for assertions. */
export class FarmNode {
  readonly name: string;
  readonly port: number;
  readonly mgmtPort: number;
  readonly logs: Record<string, unknown>[] = [];
  /** Log lines by pino level (30 info, 40 warn, 50 error, 60 fatal), counted even when not retained. */
  readonly levels = new Map<number, number>();
  /** Keep every parsed line in `logs` (tests); a soak only counts them (and keeps its first warnings, errors). */
  retainLogs = true;
  readonly problems: Record<string, unknown>[] = [];
  proc: ChildProcess | undefined;
  exited: Promise<number | null> = Promise.resolve(null);
  readonly #configFile: string;

  constructor(name: string, port: number, mgmtPort: number, configFile: string) {
    this.name = name;
    this.port = port;
    this.mgmtPort = mgmtPort;
    this.#configFile = configFile;
  }

  async start(): Promise<void> {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'server/cli/main.ts'), 'serve', '--config', this.#configFile],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          FEDGATE_LISTEN__PORT: String(this.port),
          FEDGATE_MANAGEMENT__PORT: String(this.mgmtPort),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.proc = proc;
    this.exited = new Promise((ok) =>
      proc.once('exit', (code) => {
        ok(code);
      }),
    );
    let buf = '';
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('{')) {
          try {
            const entry = JSON.parse(line) as Record<string, unknown>;
            const level = typeof entry.level === 'number' ? entry.level : 0;
            this.levels.set(level, (this.levels.get(level) ?? 0) + 1);
            if (this.retainLogs) this.logs.push(entry);
            else if (level >= 40 && this.problems.length < 100) this.problems.push(entry);
          } catch {
            /* partial */
          }
        }
      }
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-4000);
    });
    for (let i = 0; i < 400; i++) {
      const r = await get(`http://127.0.0.1:${this.port}/adfs/probe`).catch(() => undefined);
      if (r?.status === 200) return;
      if (proc.exitCode !== null)
        throw new Error(`${this.name} exited with ${proc.exitCode}: ${stderr} ${buf.slice(-2000)}`);
      await sleep(50);
    }
    throw new Error(`${this.name} did not start`);
  }

  kill(sig: NodeJS.Signals): void {
    this.proc?.kill(sig);
  }

  events(name: string): Record<string, unknown>[] {
    return this.logs.filter((l) => l.event === name);
  }
}

/** Plain HTTP GET (node probes, management port). */
export function get(url: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((ok, fail) => {
    const req = httpRequest(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        ok({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    req.on('error', fail);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/**
 * HTTPS client for the load balancer, pinned to the LB's test certificate. keepAlive false = one request per
 * connection: HAProxy 2.6 logs a request whose node died only when it was the first on its client connection
 * (a later keep-alive request is closed silently and not logged, so that the browser retries it: http_ana.c
 * abort_keep_alive), so the tests that count losses from HAProxy's log use fresh connections.
 */
export class LbClient {
  readonly agent: Agent;
  readonly port: number;
  constructor(port: number, caPem: string, opts: { keepAlive?: boolean } = {}) {
    this.port = port;
    this.agent = new Agent({
      keepAlive: opts.keepAlive ?? true,
      maxSockets: 64,
      ca: caPem,
      servername: HOSTNAME,
    });
  }
  request(
    method: 'GET' | 'POST',
    path: string,
    opts: { headers?: Record<string, string>; form?: Record<string, string>; body?: string } = {},
  ): Promise<HttpResult> {
    const body =
      opts.body ??
      (opts.form === undefined ? undefined : new URLSearchParams(opts.form).toString());
    return new Promise((ok, fail) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path,
          agent: this.agent,
          servername: HOSTNAME,
          headers: {
            host: `${HOSTNAME}:${this.port}`,
            ...(body === undefined
              ? {}
              : {
                  'content-type':
                    opts.form === undefined
                      ? 'application/octet-stream'
                      : 'application/x-www-form-urlencoded',
                  'content-length': String(Buffer.byteLength(body)),
                }),
            ...opts.headers,
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
      req.on('error', fail);
      req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
      req.end(body);
    });
  }
  close(): void {
    this.agent.destroy();
  }
}

/** One line of HAProxy's stdout log, with the time the test read it (HAProxy's raw format has no header). */
export interface LbLogLine {
  at: number;
  line: string;
}

/** A request line of `option httplog` with the two captures of docker/haproxy.cfg (X-Request-Id, X-Activity-Id). */
export interface LbRequestLog {
  backend: string;
  /** Server that handled the last attempt ('<NOSRV>' when none). */
  server: string;
  status: number;
  /** Four characters: who ended the session and in which state (configuration.txt §8.5), '----' when normal. */
  termination: string;
  /** Number of retries (connection or L7) the request needed. */
  retries: number;
  /** Whether a retry went to another server (the '+' before the retries count). */
  redispatched: boolean;
  requestId: string;
  activityId: string;
  method: string;
  path: string;
}

// configuration.txt §8.2.3: "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc
// %sq/%bq %hr %hs %{+Q}r"
const HTTPLOG =
  /^\S+ \[[^\]]+\] \S+ ([^/\s]+)\/(\S+) -?\d+\/-?\d+\/-?\d+\/-?\d+\/\+?-?\d+ (-?\d+) \+?\d+ \S+ \S+ (\S{4}) \d+\/\d+\/\d+\/\d+\/(\+?)(\d+) \d+\/\d+ \{([^}]*)\} \{([^}]*)\} "(\S+) (\S+)/;

/** Parses an httplog line; undefined for anything else (server state changes, alerts). */
export function parseLbRequest(line: string): LbRequestLog | undefined {
  const m = HTTPLOG.exec(line);
  if (m === null) return undefined;
  return {
    backend: m[1] ?? '',
    server: m[2] ?? '',
    status: Number(m[3]),
    termination: m[4] ?? '',
    redispatched: m[5] === '+',
    retries: Number(m[6]),
    requestId: m[7] ?? '',
    activityId: m[8] ?? '',
    method: m[9] ?? '',
    path: m[10] ?? '',
  };
}

export interface Farm {
  dir: string;
  nodes: FarmNode[];
  lbPort: number;
  caPem: string;
  haproxy: ChildProcess;
  /** Everything HAProxy logged (stdout: access log and server state changes; stderr: startup notices). */
  lbLog: LbLogLine[];
  publicUrl: string;
  stop(): Promise<void>;
}

/** HAProxy time value ('200ms', '2s') in ms. */
function parseDuration(v: string): number {
  const m = /^(\d+)(ms|s)$/.exec(v);
  if (m === null) throw new Error(`not a duration: ${v}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

export interface FarmOptions {
  /** Extra top-level configuration keys for every node (e.g. saml2.trustsDir for the soak). */
  config?: Record<string, unknown>;
  /** false: nodes and HAProxy lines are counted or handed to onLbLine, not kept (long runs). Default true. */
  retainLogs?: boolean;
  /** Called with every line HAProxy writes. */
  onLbLine?: (line: string) => void;
  /**
   * HAProxy's probe interval, also its probe timeout (default 200ms: the fault tests want a dead node noticed
   * quickly). A long run on a shared machine uses the production 2s, so a CPU-starved probe is not taken for a
   * dead node; nodes then drain for longer than inter x fall.
   */
  checkInter?: string;
}

/** Writes the shared config and keys, starts three nodes and haproxy with docker/haproxy.cfg. */
export async function startFarm(
  dir: string,
  redisUrl: string,
  opts: FarmOptions = {},
): Promise<Farm> {
  const retain = opts.retainLogs ?? true;
  mkdirSync(dir, { recursive: true });
  const keysDir = join(dir, 'keys');
  // The farm shares one token-signing key (mounted keys/ in production); made once, before the nodes start.
  await loadOrCreateSigningCredential({
    dir: keysDir,
    hostname: HOSTNAME,
    clock: { now: () => new Date() },
  });
  const lbPort = await freePort();
  const certauthPort = await freePort();
  const publicUrl = `https://${HOSTNAME}:${lbPort}`;
  const configFile = join(dir, 'fedgate.yaml');
  writeFileSync(
    configFile,
    stringify({
      hostname: HOSTNAME,
      publicUrl,
      listen: { host: '127.0.0.1', tls: 'off', trustedProxies: [LB_SOURCE] },
      keys: { dir: keysDir },
      store: { kind: 'redis', url: redisUrl, commandTimeoutMs: 1000 },
      session: {
        secrets: ['farm-test-session-secret-0123456789abcdef'],
      },
      testRelyingParty: true,
      management: { host: '127.0.0.1' },
      // The LB notices a draining node within inter (200 ms) x fall (3); drain for well over that.
      shutdown:
        opts.checkInter === undefined
          ? { drainDelayMs: 1500, timeoutMs: 5000 }
          : { drainDelayMs: 3 * parseDuration(opts.checkInter) + 1000, timeoutMs: 5000 },
      log: { level: 'info' },
      ...opts.config,
    }),
  );
  const nodes: FarmNode[] = [];
  for (const name of ['node1', 'node2', 'node3']) {
    const n = new FarmNode(name, await freePort(), await freePort(), configFile);
    n.retainLogs = retain;
    nodes.push(n);
  }
  await Promise.all(nodes.map((n) => n.start()));

  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    join(dir, 'lb.key'),
    '-out',
    join(dir, 'lb.crt'),
    '-subj',
    `/CN=${HOSTNAME}`,
    '-addext',
    `subjectAltName=DNS:${HOSTNAME}`,
    '-days',
    '2',
  ]);
  const caPem = readFileSync(join(dir, 'lb.crt'), 'utf8');
  writeFileSync(join(dir, 'lb.pem'), caPem + readFileSync(join(dir, 'lb.key'), 'utf8'));
  // No certificate-authentication listener in fedgate yet: that backend points at a closed port (checks fail).
  const deadPort = String(await freePort());
  const haproxy = spawn('haproxy', ['-db', '-f', HAPROXY_CFG], {
    env: {
      PATH: process.env.PATH,
      FEDGATE_LB_BIND: `127.0.0.1:${lbPort}`,
      FEDGATE_LB_CERT: join(dir, 'lb.pem'),
      FEDGATE_LB_CERTAUTH: `127.0.0.1:${certauthPort}`,
      FEDGATE_LB_SOURCE: LB_SOURCE,
      FEDGATE_LB_CHECK_INTER: opts.checkInter ?? '200ms',
      FEDGATE_NODE1: `127.0.0.1:${nodes[0]?.port ?? 0}`,
      FEDGATE_NODE2: `127.0.0.1:${nodes[1]?.port ?? 0}`,
      FEDGATE_NODE3: `127.0.0.1:${nodes[2]?.port ?? 0}`,
      FEDGATE_CERT1: `127.0.0.1:${deadPort}`,
      FEDGATE_CERT2: `127.0.0.1:${deadPort}`,
      FEDGATE_CERT3: `127.0.0.1:${deadPort}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lbLog: LbLogLine[] = [];
  let haproxyErr = '';
  const lines = (stream: NodeJS.ReadableStream, onText?: (t: string) => void): void => {
    let buf = '';
    stream.on('data', (d: Buffer) => {
      const text = d.toString('utf8');
      onText?.(text);
      buf += text;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        opts.onLbLine?.(line);
        if (retain) lbLog.push({ at: Date.now(), line });
      }
    });
  };
  lines(haproxy.stdout);
  lines(haproxy.stderr, (t) => (haproxyErr = (haproxyErr + t).slice(-4000)));
  const lb = new LbClient(lbPort, caPem);
  try {
    for (let i = 0; ; i++) {
      const r = await lb.request('GET', '/adfs/probe').catch(() => undefined);
      if (r?.status === 200) break;
      if (haproxy.exitCode !== null || i > 200)
        throw new Error(`haproxy did not start: ${haproxyErr}`);
      await sleep(50);
    }
  } finally {
    lb.close();
  }
  const haproxyExit = new Promise((ok) => haproxy.once('exit', ok));
  return {
    dir,
    nodes,
    lbPort,
    caPem,
    haproxy,
    lbLog,
    publicUrl,
    async stop() {
      haproxy.kill('SIGTERM');
      await haproxyExit;
      for (const n of nodes) {
        if (n.proc !== undefined && n.proc.exitCode === null) n.kill('SIGKILL');
      }
      await Promise.all(nodes.map((n) => n.exited));
    },
  };
}
