/**
 * docker/compose.yaml brought up for real: docker-compose 1.29 against podman's Docker-API socket (so depends_on
 * health conditions work; podman-compose ignores them), with the test-only override tests/container/farm.override.yaml
 * naming the images tests/container/images.ts built and the files this module generates. One unique compose
 * project per run; everything it made (containers, network, volumes) is removed by down().
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest, Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podman, podmanOk, root, run, type Run } from './images.ts';
import { freePort } from '../helpers/net.ts';
import type { HttpResult } from '../farm/farm.ts';

export const HOSTNAME = 'sts.corp.example.test';
export const OVERRIDE = 'tests/container/farm.override.yaml';
export const COMPOSE_FILE = 'docker/compose.yaml';
/** docker/compose.yaml's services, as `<project>_<service>_1` containers. */
export const NODES = ['fedgate1', 'fedgate2', 'fedgate3'] as const;
/** HAProxy's server names for the nodes (docker/haproxy.cfg be_fedgate). */
export const SERVER_OF: Record<string, string> = {
  fedgate1: 'node1',
  fedgate2: 'node2',
  fedgate3: 'node3',
};

export function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

/** Fails loudly (never skips) when a tool the farm needs is missing. */
export function requireTools(): void {
  for (const [cmd, args, hint] of [
    ['podman', ['--version'], 'bash tests/setup/podman.sh all'],
    ['docker-compose', ['--version'], 'bash tests/setup/podman.sh install'],
    ['xmlsec1', ['--version'], 'apt-get install xmlsec1'],
    ['/usr/bin/chromium', ['--version'], 'apt-get install chromium'],
  ] as const) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.error !== undefined || r.status !== 0)
      throw new Error(`${cmd} is missing or broken (${hint}): ${r.error?.message ?? r.stderr}`);
  }
}

/** podman's Docker-API socket (started by tests/setup/podman.sh when not running), as a DOCKER_HOST value. */
export function dockerHost(): string {
  const r = spawnSync('bash', [join(root, 'tests/setup/podman.sh'), 'socket'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`podman socket: ${r.stderr}${r.stdout}`);
  return `unix://${r.stdout.trim()}`;
}

export interface FarmFiles {
  /** The temp dir: env file, configuration, TLS material, everything mounted (FARM_DIR in the override). */
  dir: string;
  envFile: string;
  httpsPort: number;
  certauthPort: number;
}

/** A random secret (hex) with a prefix that gives Samba's password policy its upper/lower/digit/symbol classes. */
export function secret(bytes = 16): string {
  return `Aa1-${Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex')}`;
}

/**
 * The farm's env file (docker-compose --env-file), as a user's docker/.env per docker/.env.example, with generated
 * secrets, plus the override's FARM_DIR and the published ports (free loopback ports).
 */
export async function farmFiles(): Promise<FarmFiles> {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-compose-'));
  // The mounted files are read by the containers' own users (node, uid 1000).
  chmodSync(dir, 0o755);
  const httpsPort = await freePort();
  const certauthPort = await freePort();
  const envFile = join(dir, 'farm.env');
  writeFileSync(
    envFile,
    [
      `REDIS_PASSWORD=${secret()}`,
      `FEDGATE_SESSION_SECRETS=${secret(24)}`,
      `DC_ADMIN_PASSWORD=${secret()}`,
      `SVC_FEDGATE_PASSWORD=${secret()}`,
      `HTTPS_PORT=127.0.0.1:${String(httpsPort)}`,
      `CERTAUTH_PORT=127.0.0.1:${String(certauthPort)}`,
      `FARM_DIR=${dir}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return { dir, envFile, httpsPort, certauthPort };
}

export class ComposeFarm {
  readonly project: string;
  readonly files: FarmFiles;
  readonly #dockerHost: string;

  constructor(files: FarmFiles, dockerHostValue: string) {
    this.files = files;
    this.#dockerHost = dockerHostValue;
    this.project = `fedgatetest${String(process.pid)}${Math.random().toString(36).slice(2, 6)}`;
  }

  #args(args: string[]): string[] {
    return [
      '-p',
      this.project,
      '-f',
      COMPOSE_FILE,
      '-f',
      OVERRIDE,
      '--env-file',
      this.files.envFile,
      ...args,
    ];
  }

  /** docker-compose with this farm's project, files and env file (never throws on failure). */
  compose(args: string[]): Promise<Run> {
    return run('docker-compose', this.#args(args), { env: { DOCKER_HOST: this.#dockerHost } });
  }

  async composeOk(args: string[]): Promise<string> {
    const r = await this.compose(args);
    if (r.status !== 0)
      throw new Error(`docker-compose ${args.join(' ')} → ${String(r.status)}\n${r.stderr}`);
    return r.stdout;
  }

  /**
   * `docker-compose exec -T SERVICE CMD <input` (bytes on stdin). docker-compose 1.29 hands stdin to the container
   * only through the docker CLI (its own API client attaches none and waits for ever), so without a docker CLI this
   * runs the same exec with podman directly, and says so.
   */
  execWithInput(service: string, cmd: string[], input: Buffer): Promise<{ via: string }> {
    const cli = spawnSync('docker', ['--version']).status === 0;
    const [file, args] = cli
      ? ['docker-compose', this.#args(['exec', '-T', service, ...cmd])]
      : ['podman', ['exec', '-i', this.container(service), ...cmd]];
    return new Promise((ok, fail) => {
      const p = spawn(file, args, {
        cwd: root,
        env: { ...process.env, DOCKER_HOST: this.#dockerHost },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let err = '';
      p.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
      p.stdout.resume();
      p.once('error', fail);
      p.once('close', (code) => {
        if (code === 0) ok({ via: cli ? 'docker-compose exec -T' : 'podman exec -i' });
        else fail(new Error(`${file} ${args.join(' ')} → ${String(code)}: ${err}`));
      });
      p.stdin.end(input);
    });
  }

  container(service: string): string {
    return `${this.project}_${service}_1`;
  }

  /**
   * `up -d --no-build`. Healthchecks never run by themselves here (podman schedules them with systemd timers, and
   * there is no systemd), so while compose waits on service_healthy the test runs them, as the timer would.
   */
  async up(): Promise<{ ms: number }> {
    const t0 = performance.now();
    const state = { done: false };
    const up = this.compose(['up', '-d', '--no-build']).finally(() => {
      state.done = true;
    });
    const checks = (async () => {
      while (!state.done) {
        await Promise.all(
          ['redis', 'samba'].map((s) => podman('healthcheck', 'run', this.container(s))),
        );
        await sleep(500);
      }
    })();
    const r = await up;
    await checks;
    if (r.status !== 0) throw new Error(`docker-compose up → ${String(r.status)}\n${r.stderr}`);
    return { ms: Math.round(performance.now() - t0) };
  }

  /** Removes everything the project made; podman's own listing catches what compose missed. */
  async down(): Promise<void> {
    await this.compose(['down', '-v', '--remove-orphans', '-t', '2']);
    const label = `label=com.docker.compose.project=${this.project}`;
    const left = (await podman('ps', '-aq', '--filter', label)).stdout.split('\n').filter(Boolean);
    if (left.length > 0) await podman('rm', '-f', '-t', '0', ...left);
    const nets = (await podman('network', 'ls', '-q', '--filter', label)).stdout
      .split('\n')
      .filter(Boolean);
    if (nets.length > 0) await podman('network', 'rm', '-f', ...nets);
    const vols = (await podman('volume', 'ls', '-q', '--filter', label)).stdout
      .split('\n')
      .filter(Boolean);
    if (vols.length > 0) await podman('volume', 'rm', '-f', ...vols);
    rmSync(this.files.dir, { recursive: true, force: true });
  }

  logs(service: string): Promise<string> {
    return podman('logs', this.container(service)).then((r) => r.stdout + r.stderr);
  }

  /** A node's JSON log lines (pino on stdout). */
  async nodeLog(service: string): Promise<Record<string, unknown>[]> {
    const r = await podman('logs', this.container(service));
    const out: Record<string, unknown>[] = [];
    for (const line of r.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not JSON */
      }
    }
    return out;
  }

  podmanOk(...args: string[]): Promise<string> {
    return podmanOk(...args);
  }

  /** The container's start time and restart count (a node restarted behind the test's back changes them). */
  async startedAt(service: string): Promise<string> {
    return (
      await podmanOk('inspect', '--format', '{{.State.StartedAt}}', this.container(service))
    ).trim();
  }
}

// One cookie jar and response shape for the process farm, the soak and this container farm.
export { Cookies, type HttpResult } from '../farm/farm.ts';

/**
 * HTTPS to a published port on loopback, as a browser that resolves sts.corp.example.test there: SNI and Host name
 * the public host (port 443 implied, as fedgate's publicUrl says), the throw-away CA pinned.
 */
export class Client {
  readonly agent: Agent;
  readonly port: number;
  readonly #ca: string;
  constructor(port: number, ca: string, opts: { keepAlive?: boolean } = {}) {
    this.port = port;
    this.#ca = ca;
    this.agent = new Agent({ keepAlive: opts.keepAlive ?? true, maxSockets: 64, ca });
  }
  request(
    method: 'GET' | 'POST',
    path: string,
    opts: {
      headers?: Record<string, string>;
      form?: Record<string, string>;
      cert?: { certPem: string; keyPem: string };
    } = {},
  ): Promise<HttpResult> {
    const body = opts.form === undefined ? undefined : new URLSearchParams(opts.form).toString();
    return new Promise((ok, fail) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path,
          servername: HOSTNAME,
          ...(opts.cert === undefined
            ? { agent: this.agent }
            : { agent: false, ca: this.#ca, cert: opts.cert.certPem, key: opts.cert.keyPem }),
          headers: {
            host: HOSTNAME,
            ...(body === undefined
              ? {}
              : {
                  'content-type': 'application/x-www-form-urlencoded',
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

/** An `option httplog` line with docker/haproxy.cfg's captures ({X-Request-Id} {X-Activity-Id}). */
export interface LbRequestLog {
  backend: string;
  server: string;
  status: number;
  /** Termination state (configuration.txt §8.5): '----' normal; first char not '-' = ended abnormally. */
  termination: string;
  retries: number;
  redispatched: boolean;
  requestId: string;
  method: string;
}

// configuration.txt §8.2.3 (HTTP log format): "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc
// %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r"
const HTTPLOG =
  /^\S+ \[[^\]]+\] \S+ ([^/\s]+)\/(\S+) -?\d+\/-?\d+\/-?\d+\/-?\d+\/\+?-?\d+ (-?\d+) \+?\d+ \S+ \S+ (\S{4}) \d+\/\d+\/\d+\/\d+\/(\+?)(\d+) \d+\/\d+ \{([^}|]*)[^}]*\} \{[^}]*\} "(\S+) /;

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
    method: m[8] ?? '',
  };
}
