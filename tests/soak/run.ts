/**
 * `npm run soak`: the 3-node process farm (real HAProxy with docker/haproxy.cfg, three `fedgate serve`, real
 * redis-server; tests/farm/farm.ts) under a mixed load at about 70 % of its measured capacity.
 *
 * 1. Capacity: closed-loop workers in steps (2, 4, 8, ...) until throughput stops rising; the best step is the
 *    capacity in operations/s (an operation = one flow of tests/soak/flows.ts MIX).
 * 2. Soak: open loop at FEDGATE_SOAK_LOAD (0.7) x capacity for FEDGATE_SOAK_MINUTES (15), operations started on
 *    a fixed schedule whatever the answers (so a slow farm shows as latency, not as a lower request rate). The
 *    first FEDGATE_SOAK_WARMUP_SECONDS (60) are the warm-up.
 * 3. Report: RSS per node after the warm-up and at the end, p50/p99 per minute per request kind, errors, and the
 *    event-loop delay of every node per minute (prom-client's nodejs_eventloop_lag_* from the management
 *    /metrics; prom-client resets its delay histogram at each scrape, so each minute's figures are that
 *    minute's). Written to reports/soak-<time>.json and printed.
 *    prom-client samples the delay with a 10 ms timer (monitorEventLoopDelay resolution), so ~10 ms is an idle
 *    loop; what lies above it is delay.
 * 4. Targets: RSS growth < 10 % after the warm-up, zero errors, every minute's p99 within 1.5x the first
 *    measured minute's (per kind). Exit code 1 when one is missed.
 *
 * The figures are this machine's: the nodes, HAProxy, Redis and this load generator share its cores (and other
 * work running at the same time shows in them); loadavg is recorded at the start and the end.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMAIL, spMetadata, standardSp, writeTrusts } from '../fixtures/saml2/harness.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { get, LbClient, parseLbRequest, root, sleep, startFarm, type Farm } from '../farm/farm.ts';
import { KINDS, MIX, runFlow, type Kind, type Sample } from './flows.ts';

function envNumber(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not ${v}`);
  return n;
}

const MINUTES = envNumber('FEDGATE_SOAK_MINUTES', 15);
const WARMUP_S = envNumber('FEDGATE_SOAK_WARMUP_SECONDS', 60);
const LOAD = envNumber('FEDGATE_SOAK_LOAD', 0.7);
const RAMP_STEP_S = envNumber('FEDGATE_SOAK_RAMP_SECONDS', 10);
const MINUTE_MS = 60_000;
/** Operations in flight above which the farm is not keeping up with the schedule (counted as errors). */
const MAX_IN_FLIGHT = 400;

const TARGETS = { rssGrowth: 0.1, p99Factor: 1.5 };

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? NaN;
}
const round = (n: number, d = 1): number => Math.round(n * 10 ** d) / 10 ** d;

/** Prometheus text exposition: the value of an unlabelled sample. */
function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
}

interface NodeScrape {
  node: string;
  pid: number | undefined;
  rssBytes: number | undefined;
  heapUsedBytes: number | undefined;
  /** nodejs_eventloop_lag_*_seconds in ms: the delay distribution since the previous scrape. */
  eventLoopMs: Record<string, number | undefined>;
}

const LAG = ['min', 'mean', 'p50', 'p90', 'p99', 'max'] as const;

/** Clock ticks: the machine's busy time (/proc/stat) and that of our own processes (/proc/<pid>/stat). */
function machineBusyTicks(): { busy: number; total: number } {
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  const total = cpu.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  return { busy: total - idle, total };
}
function processTicks(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th (proc(5) 14, 15).
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/**
 * Per minute: how busy the machine was (% of all CPUs) and how much of that was the farm (its nodes, HAProxy and
 * this load generator; redis-server counts as other): the rest is other work on the machine, which shows in the
 * latencies too.
 */
class CpuShare {
  #last: { machine: { busy: number; total: number }; farm: number };
  constructor(private readonly pids: () => (number | undefined)[]) {
    this.#last = { machine: machineBusyTicks(), farm: this.#farm() };
  }
  #farm(): number {
    return this.pids().reduce<number>((a, p) => a + processTicks(p), 0);
  }
  sample(): { machineBusyPct: number; farmPct: number; otherPct: number } {
    const machine = machineBusyTicks();
    const farm = this.#farm();
    const total = machine.total - this.#last.machine.total;
    const busy = machine.busy - this.#last.machine.busy;
    const ours = Math.max(0, farm - this.#last.farm);
    this.#last = { machine, farm };
    const pct = (x: number): number => (total > 0 ? round((100 * x) / total) : NaN);
    return {
      machineBusyPct: pct(busy),
      farmPct: pct(ours),
      otherPct: pct(Math.max(0, busy - ours)),
    };
  }
}

async function scrape(farm: Farm): Promise<NodeScrape[]> {
  return Promise.all(
    farm.nodes.map(async (n) => {
      const text = (await get(`http://127.0.0.1:${String(n.mgmtPort)}/metrics`)).body;
      const ms = (name: string): number | undefined => {
        const v = metric(text, name);
        return v === undefined ? undefined : round(v * 1000, 2);
      };
      return {
        node: n.name,
        pid: n.proc?.pid,
        rssBytes: metric(text, 'process_resident_memory_bytes'),
        heapUsedBytes: metric(text, 'nodejs_heap_size_used_bytes'),
        eventLoopMs: Object.fromEntries(
          LAG.map((k) => [k, ms(`nodejs_eventloop_lag_${k}_seconds`)]),
        ),
      };
    }),
  );
}

interface CapacityStep {
  workers: number;
  seconds: number;
  opsPerSecond: number;
  errors: number;
  p99Ms: number;
}

/** Closed loop: `workers` clients each running the mix back to back for `seconds`. */
async function closedLoop(
  farm: Farm,
  client: LbClient,
  workers: number,
  seconds: number,
): Promise<CapacityStep> {
  const end = performance.now() + seconds * 1000;
  let ops = 0;
  let i = 0;
  const samples: Sample[] = [];
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const flow = MIX[i++ % MIX.length] ?? 'metadata';
      await runFlow(flow, client, farm.publicUrl, samples);
      ops++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: workers }, worker));
  const took = (performance.now() - t0) / 1000;
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  return {
    workers,
    seconds: round(took),
    opsPerSecond: round(ops / took),
    errors: samples.filter((s) => s.error !== undefined).length,
    p99Ms: round(quantile(ms, 0.99)),
  };
}

async function measureCapacity(farm: Farm, client: LbClient): Promise<CapacityStep[]> {
  const steps: CapacityStep[] = [];
  let best = 0;
  for (const workers of [1, 2, 4, 8, 16, 32, 64]) {
    const s = await closedLoop(farm, client, workers, RAMP_STEP_S);
    steps.push(s);
    console.log(
      `capacity: ${String(workers)} workers → ${String(s.opsPerSecond)} ops/s, p99 ${String(s.p99Ms)} ms, ${String(s.errors)} errors`,
    );
    // Throughput stopped rising: less than 5 % above the best so far (queueing only adds latency now).
    if (s.opsPerSecond < best * 1.05) break;
    best = Math.max(best, s.opsPerSecond);
  }
  return steps;
}

interface MinuteKind {
  count: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const loadStart = loadavg();
  const trustsDir = writeTrusts([
    { file: 'soak-sp', metadataXml: spMetadata(standardSp()), trust: { nameIdFormat: EMAIL } },
  ]);
  let lb5xx = 0;
  let lbRequests = 0;
  let lbRetried = 0;
  const lbOther: string[] = [];
  const redis: TestRedis = await startRedis();
  let farm: Farm | undefined;
  let client: LbClient | undefined;
  try {
    farm = await startFarm(mkdtempSync(join(tmpdir(), 'fedgate-soak-')), redis.url, {
      config: { saml2: { trustsDir } },
      retainLogs: false,
      checkInter: '2s',
      onLbLine: (line) => {
        const r = parseLbRequest(line);
        if (r === undefined) {
          if (lbOther.length < 50) lbOther.push(line);
          return;
        }
        lbRequests++;
        if (r.status >= 500) lb5xx++;
        if (r.retries > 0) lbRetried++;
      },
    });
    // Keep-alive like browsers and rich clients.
    client = new LbClient(farm.lbPort, farm.caPem);
    const f = farm;
    const c = client;

    // Every flow works before anything is measured.
    for (const flow of new Set(MIX)) {
      const out: Sample[] = [];
      await runFlow(flow, c, f.publicUrl, out);
      const bad = out.find((s) => s.error !== undefined);
      if (bad !== undefined)
        throw new Error(`${flow} does not work: ${bad.kind}: ${String(bad.error)}`);
    }

    const capacity = await measureCapacity(f, c);
    const best = Math.max(...capacity.map((s) => s.opsPerSecond));
    const rate = best * LOAD;
    console.log(
      `capacity ${String(best)} ops/s; soak at ${String(round(rate))} ops/s for ${String(MINUTES)} min (warm-up ${String(WARMUP_S)} s)`,
    );
    const lbBefore = { requests: lbRequests, fivexx: lb5xx, retried: lbRetried };
    const levelsBefore = f.nodes.map((n) => new Map(n.levels));

    // Open loop.
    const samples: Sample[] = [];
    const scrapes: {
      minute: number;
      at: string;
      nodes: NodeScrape[];
      cpu: ReturnType<CpuShare['sample']>;
      loadavg1: number;
    }[] = [];
    const cpu = new CpuShare(() => [
      ...f.nodes.map((n) => n.proc?.pid),
      f.haproxy.pid,
      process.pid,
    ]);
    let overload = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    let started = 0;
    const pending = new Set<Promise<void>>();
    await scrape(f); // resets the event-loop histograms: the first minute's figures are its own
    const t0 = Date.now();
    const runMs = MINUTES * MINUTE_MS;
    let nextScrape = t0 + MINUTE_MS;
    let minute = 0;
    const interval = 1000 / rate;
    let due = performance.now();
    const p0 = due;
    while (performance.now() - p0 < runMs) {
      const now = performance.now();
      while (due <= now) {
        due += interval;
        if (inFlight >= MAX_IN_FLIGHT) {
          overload++;
          continue;
        }
        const flow = MIX[started++ % MIX.length] ?? 'metadata';
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const p: Promise<void> = runFlow(flow, c, f.publicUrl, samples).finally(() => {
          inFlight--;
          pending.delete(p);
        });
        pending.add(p);
      }
      if (Date.now() >= nextScrape) {
        minute++;
        nextScrape += MINUTE_MS;
        const nodes = await scrape(f);
        scrapes.push({
          minute,
          at: new Date().toISOString(),
          nodes,
          cpu: cpu.sample(),
          loadavg1: round(loadavg()[0] ?? NaN, 2),
        });
        const done = samples.filter((s) => s.startedAt >= t0 + (minute - 1) * MINUTE_MS);
        console.log(
          `minute ${String(minute)}: ${String(done.length)} requests, ${String(done.filter((s) => s.error !== undefined).length)} errors, in flight ${String(inFlight)}, RSS MB ${nodes
            .map((n) => String(round((n.rssBytes ?? 0) / 1e6)))
            .join(
              '/',
            )}, loop p99 ms ${nodes.map((n) => String(n.eventLoopMs.p99)).join('/')}, CPU busy/farm/other % ${Object.values(scrapes[scrapes.length - 1]?.cpu ?? {}).join('/')}`,
        );
      }
      await sleep(Math.max(1, Math.min(due - performance.now(), 20)));
    }
    await Promise.all(pending);
    const endMs = Date.now();
    // A last scrape for a partial final minute (short runs).
    if (minute < Math.ceil(runMs / MINUTE_MS)) {
      minute++;
      scrapes.push({
        minute,
        at: new Date().toISOString(),
        nodes: await scrape(f),
        cpu: cpu.sample(),
        loadavg1: round(loadavg()[0] ?? NaN, 2),
      });
    }

    // Per minute, per kind.
    const minutes = Math.ceil(runMs / MINUTE_MS);
    const perMinute: {
      minute: number;
      warmup: boolean;
      kinds: Partial<Record<Kind, MinuteKind>>;
    }[] = [];
    for (let m = 0; m < minutes; m++) {
      const from = t0 + m * MINUTE_MS;
      const inMinute = samples.filter((s) => s.startedAt >= from && s.startedAt < from + MINUTE_MS);
      const kinds: Partial<Record<Kind, MinuteKind>> = {};
      for (const k of KINDS) {
        const ks = inMinute.filter((s) => s.kind === k);
        if (ks.length === 0) continue;
        const ms = ks.map((s) => s.ms).sort((a, b) => a - b);
        kinds[k] = {
          count: ks.length,
          errors: ks.filter((s) => s.error !== undefined).length,
          p50Ms: round(quantile(ms, 0.5)),
          p99Ms: round(quantile(ms, 0.99)),
        };
      }
      perMinute.push({ minute: m + 1, warmup: (m + 1) * MINUTE_MS <= WARMUP_S * 1000, kinds });
    }

    // Targets.
    const warmupScrape = scrapes.find((s) => s.minute * MINUTE_MS >= WARMUP_S * 1000) ?? scrapes[0];
    const lastScrape = scrapes[scrapes.length - 1];
    const rss = f.nodes.map((n, i) => {
      const start = warmupScrape?.nodes[i]?.rssBytes ?? NaN;
      const end = lastScrape?.nodes[i]?.rssBytes ?? NaN;
      return {
        node: n.name,
        pid: n.proc?.pid,
        startMB: round(start / 1e6),
        endMB: round(end / 1e6),
        growth: round((end - start) / start, 3),
      };
    });
    const errors = samples.filter((s) => s.error !== undefined);
    const measured = perMinute.filter((m) => !m.warmup);
    const baseline = measured[0] ?? perMinute[0];
    const p99Drift: {
      kind: Kind;
      firstMs: number;
      worstMs: number;
      worstMinute: number;
      factor: number;
    }[] = [];
    for (const k of KINDS) {
      const first = baseline?.kinds[k]?.p99Ms;
      if (first === undefined) continue;
      let worst = first;
      let worstMinute = baseline?.minute ?? 1;
      for (const m of measured) {
        const v = m.kinds[k]?.p99Ms;
        if (v !== undefined && v > worst) {
          worst = v;
          worstMinute = m.minute;
        }
      }
      p99Drift.push({
        kind: k,
        firstMs: first,
        worstMs: worst,
        worstMinute,
        factor: round(worst / first, 2),
      });
    }
    const nodeLevels = f.nodes.map((n, i) => {
      const before = levelsBefore[i] ?? new Map<number, number>();
      const d = (lvl: number): number => (n.levels.get(lvl) ?? 0) - (before.get(lvl) ?? 0);
      return {
        node: n.name,
        warn: d(40),
        error: d(50),
        fatal: d(60),
        first: n.problems.slice(0, 10).map((l) => ({
          level: l.level,
          msg: l.msg,
          event: l.event,
          err: l.err,
          route: l.route,
          status: l.status,
        })),
      };
    });
    const lb = {
      requests: lbRequests - lbBefore.requests,
      fivexx: lb5xx - lbBefore.fivexx,
      retried: lbRetried - lbBefore.retried,
    };
    const verdicts = [
      {
        target: `RSS growth after warm-up < ${String(TARGETS.rssGrowth * 100)} % on every node`,
        pass: rss.every((r) => r.growth < TARGETS.rssGrowth),
        detail: rss
          .map(
            (r) =>
              `${r.node} ${String(r.startMB)}→${String(r.endMB)} MB (${String(round(r.growth * 100))} %)`,
          )
          .join(', '),
      },
      {
        target: 'zero errors',
        pass: errors.length === 0 && overload === 0 && lb.fivexx === 0,
        detail: `${String(errors.length)} failed requests, ${String(overload)} operations not started (over ${String(MAX_IN_FLIGHT)} in flight), HAProxy 5xx ${String(lb.fivexx)}`,
      },
      {
        target: `p99 of every minute within ${String(TARGETS.p99Factor)}x the first measured minute (minute ${String(baseline?.minute)})`,
        pass: p99Drift.every((d) => d.factor <= TARGETS.p99Factor),
        detail: p99Drift
          .map(
            (d) =>
              `${d.kind} ${String(d.firstMs)}→${String(d.worstMs)} ms (x${String(d.factor)}, minute ${String(d.worstMinute)})`,
          )
          .join(', '),
      },
    ];
    const report = {
      startedAt: startedAt.toISOString(),
      endedAt: new Date().toISOString(),
      machine: { cpus: cpus().length, loadavgStart: loadStart, loadavgEnd: loadavg() },
      settings: {
        minutes: MINUTES,
        warmupSeconds: WARMUP_S,
        load: LOAD,
        rampStepSeconds: RAMP_STEP_S,
        mix: MIX,
      },
      capacity: { steps: capacity, opsPerSecond: best },
      soak: {
        targetOpsPerSecond: round(rate),
        achievedOpsPerSecond: round(started / ((endMs - t0) / 1000)),
        operations: started,
        requests: samples.length,
        maxInFlight,
        overload,
      },
      perMinute,
      rss,
      cpu: scrapes.map((s) => ({ minute: s.minute, loadavg1: s.loadavg1, ...s.cpu })),
      eventLoop: scrapes.map((s) => ({
        minute: s.minute,
        nodes: s.nodes.map((n) => ({ node: n.node, ...n.eventLoopMs })),
      })),
      memory: scrapes.map((s) => ({
        minute: s.minute,
        nodes: s.nodes.map((n) => ({
          node: n.node,
          rssMB: round((n.rssBytes ?? NaN) / 1e6),
          heapUsedMB: round((n.heapUsedBytes ?? NaN) / 1e6),
        })),
      })),
      errors: { count: errors.length, first: errors.slice(0, 20) },
      haproxy: { ...lb, otherLines: lbOther.slice(0, 20) },
      nodeLogLevels: nodeLevels,
      verdicts,
    };
    const reports = join(root, 'reports');
    mkdirSync(reports, { recursive: true });
    const file = join(reports, `soak-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(report, null, 2) + '\n');

    console.log('\nper minute (p50/p99 ms, errors):');
    for (const m of perMinute) {
      console.log(
        `  ${String(m.minute).padStart(2)}${m.warmup ? ' (warm-up)' : '          '} ` +
          KINDS.map((k) => {
            const v = m.kinds[k];
            return v === undefined
              ? ''
              : `${k} ${String(v.p50Ms)}/${String(v.p99Ms)}${v.errors > 0 ? ` ERR ${String(v.errors)}` : ''}`;
          })
            .filter((s) => s !== '')
            .join('  '),
      );
    }
    console.log('\nevent-loop delay per node per minute (ms: p50 / p99 / max):');
    for (const s of scrapes) {
      console.log(
        `  ${String(s.minute).padStart(2)} ` +
          s.nodes
            .map(
              (n) =>
                `${n.node} ${String(n.eventLoopMs.p50)} / ${String(n.eventLoopMs.p99)} / ${String(n.eventLoopMs.max)}`,
            )
            .join('  '),
      );
    }
    console.log(
      '\nCPU per minute (% of all CPUs: machine busy / the farm and load generator / other work):',
    );
    for (const s of scrapes)
      console.log(
        `  ${String(s.minute).padStart(2)} ${String(s.cpu.machineBusyPct)} / ${String(s.cpu.farmPct)} / ${String(s.cpu.otherPct)}  (load ${String(s.loadavg1)})`,
      );
    console.log(
      `\nnode warnings/errors during the soak: ${nodeLevels.map((l) => `${l.node} ${String(l.warn)}/${String(l.error)}/${String(l.fatal)}`).join(', ')}`,
    );
    for (const l of nodeLevels)
      for (const p of l.first.slice(0, 3))
        console.log(`  ${l.node}: ${JSON.stringify(p).slice(0, 300)}`);
    console.log(`HAProxy: ${JSON.stringify(lb)}`);
    console.log(
      `load average: start ${loadStart.map((x) => x.toFixed(2)).join(' ')}, end ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} (${String(cpus().length)} CPUs, shared)`,
    );
    console.log('\nverdicts:');
    for (const v of verdicts)
      console.log(`  ${v.pass ? 'PASS' : 'FAIL'}  ${v.target}: ${v.detail}`);
    console.log(`\nreport: ${file}`);
    return verdicts.every((v) => v.pass) ? 0 : 1;
  } finally {
    client?.close();
    await farm?.stop();
    await redis.stop();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 2;
  },
);
