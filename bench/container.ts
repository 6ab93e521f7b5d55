/**
 * The container image (issue 20, "The image"): its size, the runtime layers it adds on top of the Node base image
 * (target ≤ 60 MB), and cold start to the first 200 on /adfs/probe (target ≤ 2 s), with podman.
 *
 * The image is fedgate's own docker/Dockerfile, built by tests/container/images.ts (once per source hash). The base
 * images here are local stand-ins (tests/setup/podman.sh: no registry is reachable), so the whole image's size says
 * little about the official node:24-bookworm-slim; the layers on top of the base are what fedgate adds and what the
 * target is about.
 *
 * Start is measured from the moment `podman run` (or `podman start`) is invoked to the first 200 on the published
 * probe, polled every 10 ms from the host: engine work (container set-up, network, port publishing) plus the
 * server's own start. Every container runs as the README says: read-only root, tmpfs /tmp, configuration mounted
 * read-only, keys on a volume.
 *   node --import tsx bench/container.ts       this section alone (FEDGATE_BENCH_QUICK=1: fewer starts)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ensureFedgateImage,
  FEDGATE_IMAGE,
  NODE_BASE_IMAGE,
  podman,
  podmanOk,
} from '../tests/container/images.ts';
import { freePort } from '../tests/helpers/net.ts';
import { fmt, median, table } from './lib.ts';

const LAYER_TARGET_MB = 60;
const START_TARGET_MS = 2000;
const MB = 1e6;

export interface LayerRow {
  createdBy: string;
  bytes: number;
}

export interface StartRow {
  name: string;
  /** Invocation of podman to the first 200 on /adfs/probe, per start (ms). */
  runs: number[];
  medianMs: number;
  /** Invocation to podman's return (the container is running; the server is starting), median (ms). */
  engineMedianMs: number;
}

export interface ContainerBenchResult {
  image: string;
  imageBytes: number;
  baseImage: string;
  baseBytes: number;
  /** Sum of the layers the Dockerfile's runtime stage adds on top of the base (uncompressed, as podman counts). */
  runtimeLayerBytes: number;
  layers: LayerRow[];
  layerTargetMB: number;
  layerRatio: number;
  starts: StartRow[];
  startTargetMs: number;
  startRatio: number;
  /** Whether the image was built for this run (and how long that took), or reused. */
  build: { built: boolean; ms: number };
  /** The machine's 1-minute load average before and after the starts (other work on the machine skews starts). */
  loadAverage: { before: number; after: number };
}

interface HistoryEntry {
  CreatedBy: string;
  size: number;
}

async function history(image: string): Promise<HistoryEntry[]> {
  return JSON.parse(await podmanOk('history', '--format', 'json', image)) as HistoryEntry[];
}

async function sizeOf(image: string): Promise<number> {
  return Number((await podmanOk('image', 'inspect', '--format', '{{.Size}}', image)).trim());
}

/** The history entries above the base image's (newest first in podman's listing). */
async function layersOnTop(image: string, base: string): Promise<LayerRow[]> {
  const mine = await history(image);
  const theirs = await history(base);
  const top = mine.slice(0, mine.length - theirs.length);
  const below = mine.slice(mine.length - theirs.length).map((h) => h.CreatedBy);
  if (below.join('\n') !== theirs.map((h) => h.CreatedBy).join('\n'))
    throw new Error(`${image} is not built on ${base}`);
  return top.map((h) => ({ createdBy: h.CreatedBy, bytes: h.size })).reverse();
}

/** A short name for a history line: the instruction and what it copies or runs. */
function describe(createdBy: string): string {
  const s = createdBy.replace(/^\/bin\/sh -c (#\(nop\) )?/, '');
  const copy = /^COPY (?:dir|file):[0-9a-f]+ in (\S+)/.exec(s);
  if (copy?.[1] !== undefined) return `COPY → ${copy[1]}`;
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

async function probe200(port: number): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${String(port)}/adfs/probe`, {
      signal: AbortSignal.timeout(1000),
    });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

/** Polls the probe every 10 ms until 200 (at most 60 s: a start that never comes is an error, not a figure). */
async function untilReady(port: number, name: string): Promise<void> {
  const deadline = performance.now() + 60_000;
  while (!(await probe200(port))) {
    if (performance.now() > deadline) {
      const logs = await podman('logs', name);
      throw new Error(`${name} never answered 200 on /adfs/probe:\n${logs.stdout}${logs.stderr}`);
    }
    await new Promise((ok) => setTimeout(ok, 10));
  }
}

export async function containerBench(opts: { starts: number }): Promise<ContainerBenchResult> {
  const build = await ensureFedgateImage();
  const [imageBytes, baseBytes, layers] = await Promise.all([
    sizeOf(FEDGATE_IMAGE),
    sizeOf(NODE_BASE_IMAGE),
    layersOnTop(FEDGATE_IMAGE, NODE_BASE_IMAGE),
  ]);
  const runtimeLayerBytes = layers.reduce((a, l) => a + l.bytes, 0);

  const dir = mkdtempSync(join(tmpdir(), 'fedgate-bench-container-'));
  const config = join(dir, 'fedgate.yaml');
  writeFileSync(
    config,
    [
      'hostname: sts.example.test',
      'listen: { host: 0.0.0.0, port: 8080, tls: "off" }',
      'directory: { kind: embedded }',
      'store: { kind: memory }',
      'management: { host: 0.0.0.0, port: 9090 }',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const tag = `fedgate-bench-${String(process.pid)}`;
  let serial = 0;
  const volumes: string[] = [];
  const names: string[] = [];
  const volume = async (): Promise<string> => {
    const v = `${tag}-keys-${String(++serial)}`;
    await podmanOk('volume', 'create', v);
    volumes.push(v);
    return v;
  };
  const args = (name: string, port: number, vol: string): string[] => [
    '--name',
    name,
    '--read-only',
    '--read-only-tmpfs=false',
    '--tmpfs',
    '/tmp',
    '-v',
    `${config}:/etc/fedgate/fedgate.yaml:ro`,
    '-v',
    `${vol}:/var/lib/fedgate/keys`,
    '-p',
    `127.0.0.1:${String(port)}:8080`,
    FEDGATE_IMAGE,
  ];
  const remove = async (name: string): Promise<void> => {
    await podman('rm', '-f', '-t', '0', name);
  };

  const loadBefore = loadavg()[0] ?? NaN;
  try {
    // The keys a production node finds on its volume: made by one first start, not timed.
    const keys = await volume();
    {
      const name = `${tag}-${String(++serial)}`;
      names.push(name);
      const port = await freePort();
      await podmanOk('run', '-d', ...args(name, port, keys));
      await untilReady(port, name);
      await remove(name);
    }

    const measure = async (
      label: string,
      once: () => Promise<{ ms: number; engineMs: number }>,
    ): Promise<StartRow> => {
      const runs: number[] = [];
      const engine: number[] = [];
      for (let i = 0; i < opts.starts; i++) {
        const r = await once();
        runs.push(Math.round(r.ms));
        engine.push(r.engineMs);
      }
      return {
        name: label,
        runs,
        medianMs: Math.round(median(runs)),
        engineMedianMs: Math.round(median(engine)),
      };
    };

    const fresh = (vol: () => Promise<string>) => async () => {
      const name = `${tag}-${String(++serial)}`;
      names.push(name);
      const port = await freePort();
      const v = await vol();
      const t0 = performance.now();
      await podmanOk('run', '-d', ...args(name, port, v));
      const engineMs = performance.now() - t0;
      await untilReady(port, name);
      const ms = performance.now() - t0;
      await remove(name);
      return { ms, engineMs };
    };

    const starts = [
      await measure(
        'podman run (new container, keys on the volume)',
        fresh(() => Promise.resolve(keys)),
      ),
      await measure('podman start (container created beforehand)', async () => {
        const name = `${tag}-${String(++serial)}`;
        names.push(name);
        const port = await freePort();
        await podmanOk('create', ...args(name, port, keys));
        const t0 = performance.now();
        await podmanOk('start', name);
        const engineMs = performance.now() - t0;
        await untilReady(port, name);
        const ms = performance.now() - t0;
        await remove(name);
        return { ms, engineMs };
      }),
      await measure(
        'podman run, empty keys volume (first start generates the keys)',
        fresh(volume),
      ),
    ];
    const first = starts[0]!;
    return {
      image: FEDGATE_IMAGE,
      imageBytes,
      baseImage: NODE_BASE_IMAGE,
      baseBytes,
      runtimeLayerBytes,
      layers,
      layerTargetMB: LAYER_TARGET_MB,
      layerRatio: runtimeLayerBytes / MB / LAYER_TARGET_MB,
      starts,
      startTargetMs: START_TARGET_MS,
      startRatio: first.medianMs / START_TARGET_MS,
      build: { built: build.built, ms: build.ms },
      loadAverage: { before: loadBefore, after: loadavg()[0] ?? NaN },
    };
  } finally {
    for (const n of names) await remove(n);
    for (const v of volumes) await podman('volume', 'rm', '-f', v);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the section and prints it the way run.ts prints the others; returns what goes into results.json. */
export async function containerSection(opts: { quick: boolean }): Promise<ContainerBenchResult> {
  const r = await containerBench({ starts: opts.quick ? 3 : 7 });
  const mb = (b: number): string => fmt(b / MB);
  console.log(
    `Container image (podman; ${r.build.built ? `built for this run in ${fmt(r.build.ms / 1000)} s` : 'reused: same sources'}; sizes uncompressed, as podman counts them; the base is a local stand-in)`,
  );
  console.log(
    table(
      ['what', 'MB', 'target', 'ratio'],
      [
        [r.image, mb(r.imageBytes), '—', '—'],
        [`${r.baseImage} (stand-in)`, mb(r.baseBytes), '—', '—'],
        [
          'runtime layers on top of the base',
          mb(r.runtimeLayerBytes),
          `≤ ${String(r.layerTargetMB)}`,
          r.layerRatio.toFixed(2),
        ],
        ...r.layers
          .filter((l) => l.bytes > 0)
          .map((l) => [`  ${describe(l.createdBy)}`, mb(l.bytes), '', '']),
      ],
    ),
  );
  console.log(
    `\nCold start to the first 200 on /adfs/probe (read-only root, config mounted, median of ${String(r.starts[0]?.runs.length ?? 0)} starts; load average ${fmt(r.loadAverage.before)} → ${fmt(r.loadAverage.after)} on ${String(cpus().length)} cores)`,
  );
  console.log(
    table(
      ['start', 'median ms', 'podman returned ms', 'min ms', 'max ms', 'target', 'ratio'],
      r.starts.map((s, i) => [
        s.name,
        s.medianMs,
        s.engineMedianMs,
        Math.min(...s.runs),
        Math.max(...s.runs),
        i === 0 ? `≤ ${String(r.startTargetMs)}` : '—',
        (s.medianMs / r.startTargetMs).toFixed(2),
      ]),
    ),
  );
  console.log(
    `runtime layers ÷ target: ${r.layerRatio.toFixed(2)}; start to ready ÷ target: ${r.startRatio.toFixed(2)}\n`,
  );
  return r;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await containerSection({ quick: process.env.FEDGATE_BENCH_QUICK === '1' });
}
