/**
 * The container images the container tests run: fedgate's own, built from the unchanged docker/Dockerfile with
 * podman, and the demo DC from docker/samba/. The base images the Dockerfiles name are local stand-ins built by
 * tests/setup/podman.sh (no registry is reachable here).
 *
 * Each image is built once per source: it carries a label with a hash of everything its build context sends (the
 * files .dockerignore admits, and the Dockerfile), so a second test file, or a second run on unchanged sources,
 * reuses it. Builds are serialised across test processes with a lock directory.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
/**
 * The tag fedgate's image is built under. CONTAINER_TEST_FEDGATE_IMAGE builds and tests another tag instead: how a
 * mutant Dockerfile in a private worktree is checked without ever replacing the image the other container tests
 * share (the name does not start with FEDGATE_, which the server reads as configuration).
 */
export const FEDGATE_IMAGE = process.env.CONTAINER_TEST_FEDGATE_IMAGE ?? 'localhost/fedgate:local';
export const SAMBA_IMAGE = 'localhost/fedgate-samba:local';
export const NODE_BASE_IMAGE = 'docker.io/library/node:24-bookworm-slim';
const LABEL = 'org.fedgate.source';

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs podman (or another command) to completion; never throws on a non-zero status. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<Run> {
  return new Promise((ok, fail) => {
    const p = spawn(cmd, args, {
      cwd: root,
      env: { ...process.env, BUILDAH_FORMAT: 'docker', ...opts.env },
      // No input: stdin is /dev/null (a pipe the child never reads can fail with EPIPE once it has exited).
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout?.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    p.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    p.once('error', fail);
    p.once('close', (status) => {
      ok({ status: status ?? 1, stdout, stderr });
    });
    if (opts.input !== undefined && p.stdin !== null) {
      // A child that exits without reading its input is judged by its status, not by the EPIPE.
      p.stdin.on('error', () => undefined);
      p.stdin.end(opts.input);
    }
  });
}

export function podman(...args: string[]): Promise<Run> {
  return run('podman', args);
}

/** podman, throwing with its output when it fails. */
export async function podmanOk(...args: string[]): Promise<string> {
  const r = await podman(...args);
  if (r.status !== 0)
    throw new Error(`podman ${args.join(' ')} → ${r.status}\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** What docker/Dockerfile's context sends (mirrors .dockerignore's allow list) plus the Dockerfile. */
function fedgateSources(): string[] {
  const files = [
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'docker/Dockerfile',
  ].map((f) => join(root, f));
  for (const d of ['server', 'views', 'metadata']) files.push(...walk(join(root, d)));
  return files.filter(
    (f) => !/^metadata\/(applications|trusts)\//.test(relative(root, f)) && existsSync(f),
  );
}

function hashOf(files: string[]): string {
  const h = createHash('sha256');
  for (const f of files) {
    h.update(relative(root, f));
    h.update('\0');
    h.update(readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 32);
}

async function labelOf(image: string): Promise<string | undefined> {
  const r = await podman('image', 'inspect', '--format', `{{index .Labels "${LABEL}"}}`, image);
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** A lock directory (atomic mkdir) so that two test processes do not build the same image at once. */
async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const dir = `/tmp/fedgate-image-${name}.lock`;
  for (let i = 0; ; i++) {
    try {
      mkdirSync(dir);
      break;
    } catch {
      // A lock older than 15 minutes is a crashed build's.
      try {
        if (Date.now() - statSync(dir).mtimeMs > 15 * 60_000)
          rmSync(dir, { recursive: true, force: true });
      } catch {
        /* gone meanwhile */
      }
      if (i > 3600) throw new Error(`image lock ${dir} held too long`);
      await new Promise((ok) => setTimeout(ok, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The CA bundle that lets `npm ci` inside the build reach the registry from this machine (whose egress inspects
 * TLS): handed to the build as a secret (docker/Dockerfile's `npm_ca`), never stored in the image.
 */
export function buildCaFile(): string | undefined {
  const c = process.env.NODE_EXTRA_CA_CERTS;
  if (c !== undefined && c !== '' && existsSync(c)) return c;
  return existsSync('/etc/ssl/certs/ca-certificates.crt')
    ? '/etc/ssl/certs/ca-certificates.crt'
    : undefined;
}

function checkPodman(): void {
  const r = spawnSync('podman', ['--version'], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error('podman is not installed: run bash tests/setup/podman.sh all');
  if (spawnSync('podman', ['image', 'exists', NODE_BASE_IMAGE]).status !== 0)
    throw new Error(`${NODE_BASE_IMAGE} is missing: run bash tests/setup/podman.sh images`);
}

export interface Built {
  image: string;
  /** false when an image of the same sources already existed. */
  built: boolean;
  /** Build time in ms (0 when reused). */
  ms: number;
}

/** fedgate's image from docker/Dockerfile, built unless an image of the same sources exists. */
export async function ensureFedgateImage(): Promise<Built> {
  checkPodman();
  const hash = hashOf(fedgateSources());
  const lock =
    FEDGATE_IMAGE === 'localhost/fedgate:local'
      ? 'fedgate'
      : `fedgate-${FEDGATE_IMAGE.replace(/[^A-Za-z0-9]+/g, '-')}`;
  return withLock(lock, async () => {
    if ((await labelOf(FEDGATE_IMAGE)) === hash)
      return { image: FEDGATE_IMAGE, built: false, ms: 0 };
    const previous = await podman('image', 'inspect', '--format', '{{.Id}}', FEDGATE_IMAGE);
    const ca = buildCaFile();
    const t0 = performance.now();
    await podmanOk(
      'build',
      '--layers',
      '--label',
      `${LABEL}=${hash}`,
      ...(ca === undefined ? [] : ['--secret', `id=npm_ca,src=${ca}`]),
      '-f',
      'docker/Dockerfile',
      '-t',
      FEDGATE_IMAGE,
      '.',
    );
    const ms = Math.round(performance.now() - t0);
    // The image of the previous sources, now untagged, would stay on disk at every source change: removed unless a
    // container still uses it (then podman refuses and it stays).
    const old = previous.status === 0 ? previous.stdout.trim() : '';
    const now = (await podmanOk('image', 'inspect', '--format', '{{.Id}}', FEDGATE_IMAGE)).trim();
    if (old !== '' && old !== now) await podman('rmi', old);
    return { image: FEDGATE_IMAGE, built: true, ms };
  });
}

/** The demo DC image from docker/samba/ (compose.yaml's `samba` service). */
export async function ensureSambaImage(): Promise<Built> {
  checkPodman();
  const hash = hashOf(walk(join(root, 'docker/samba')));
  return withLock('samba', async () => {
    if ((await labelOf(SAMBA_IMAGE)) === hash) return { image: SAMBA_IMAGE, built: false, ms: 0 };
    const t0 = performance.now();
    await podmanOk(
      'build',
      '--layers',
      '--label',
      `${LABEL}=${hash}`,
      '-t',
      SAMBA_IMAGE,
      'docker/samba',
    );
    return { image: SAMBA_IMAGE, built: true, ms: Math.round(performance.now() - t0) };
  });
}
