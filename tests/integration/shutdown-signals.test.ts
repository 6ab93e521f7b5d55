/**
 * Stopping from a terminal (issue 20): which stop signal drains, on real `fedgate serve` processes. A drain makes
 * /adfs/probe answer 503 and keeps serving for shutdown.drainDelayMs, for a load balancer to move away; a person
 * pressing Ctrl-C must not wait for it. The rule (server/main.ts drainDecision, docs/configuration.md "shutdown"):
 * embedded defaults never drain; SIGTERM with a configuration file drains; SIGINT drains only when
 * listen.trustedProxies is set; a second signal exits at once with status 1. Asserted on the log, the probe's
 * answers and the exit status, never on elapsed time.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { cliTs, tsxLoader } from '../helpers/cli.ts';
import { freePort, waitUntil } from '../helpers/net.ts';

interface Node {
  child: ChildProcessByStdio<null, Readable, Readable>;
  exited: Promise<number | null>;
  /** Every answer of /adfs/probe since the node was ready: a status, or 0 when the connection failed. */
  probes: number[];
  lines(): Record<string, unknown>[];
  messages(): string[];
  dispose(): Promise<void>;
}

/** One /adfs/probe on a fresh connection (a kept-alive one would hold the listener open). */
function probe(port: number): Promise<number> {
  return new Promise((ok) => {
    const req = get({ host: '127.0.0.1', port, path: '/adfs/probe', agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        ok(res.statusCode ?? 0);
      });
    });
    req.setTimeout(5000, () => req.destroy());
    req.on('error', () => {
      ok(0);
    });
  });
}

/**
 * `fedgate serve` (with `config` written to fedgate.yaml, or embedded defaults when undefined); ready once the probe
 * answers 200. From then on the probe is polled until the process exits.
 */
async function serve(config: Record<string, unknown> | undefined): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-signals-'));
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    FEDGATE_LISTEN__PORT: String(port),
    FEDGATE_LISTEN__HOST: '127.0.0.1',
    FEDGATE_LISTEN__TLS: 'off',
  };
  const args = ['--import', tsxLoader, cliTs, 'serve'];
  if (config !== undefined) {
    writeFileSync(join(dir, 'fedgate.yaml'), stringify(config));
    args.push('--config', 'fedgate.yaml');
  }
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(process.execPath, args, {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((ok) => child.once('exit', ok));
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const lines = (): Record<string, unknown>[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const dispose = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      () => `fedgate serve is ready (stderr: ${err})`,
      async () => {
        if (child.exitCode !== null) throw new Error(`fedgate exited: ${err}`);
        return (await probe(port)) === 200;
      },
      { timeoutMs: 60_000 },
    );
  } catch (e) {
    await dispose();
    throw e;
  }
  const probes: number[] = [];
  void (async () => {
    while (child.exitCode === null && child.signalCode === null) {
      probes.push(await probe(port));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    child,
    exited,
    probes,
    lines,
    messages: () => lines().map((l) => String(l.msg)),
    dispose,
  };
}

/** Waits (bounded) for the node to exit and returns its status. */
async function exitStatus(node: Node): Promise<number | null> {
  await waitUntil('the node exits', () => node.child.exitCode !== null, { timeoutMs: 60_000 });
  return node.exited;
}

const DRAINING = 'shutting down: draining (probes answer 503)';
const NO_DRAIN = 'shutting down: no drain';

test('embedded defaults + SIGINT (Ctrl-C on npm start): no drain, the probe never answers 503, exit 0', async () => {
  const node = await serve(undefined);
  try {
    node.child.kill('SIGINT');
    assert.equal(await exitStatus(node), 0);
    const decided = node.lines().find((l) => l.msg === NO_DRAIN);
    assert.equal(decided?.signal, 'SIGINT');
    assert.equal(decided.reason, 'embedded defaults');
    assert.ok(!node.messages().includes(DRAINING));
    assert.equal(node.messages().at(-1), 'shutdown complete');
    assert.ok(!node.probes.includes(503), `probe answers: ${node.probes.join(',')}`);
  } finally {
    await node.dispose();
  }
});

test('embedded defaults + SIGTERM: no drain either', async () => {
  const node = await serve(undefined);
  try {
    node.child.kill('SIGTERM');
    assert.equal(await exitStatus(node), 0);
    assert.equal(node.lines().find((l) => l.msg === NO_DRAIN)?.reason, 'embedded defaults');
    assert.ok(!node.probes.includes(503), `probe answers: ${node.probes.join(',')}`);
  } finally {
    await node.dispose();
  }
});

const configFile = (trustedProxies: string[], drainDelayMs: number): Record<string, unknown> => ({
  hostname: 'localhost',
  listen: { trustedProxies },
  keys: { dir: './keys' },
  shutdown: { drainDelayMs, timeoutMs: 2000 },
});

test('a configuration without a load balancer + SIGINT: no drain (listen.trustedProxies is empty)', async () => {
  // A drain here would last a minute: the bounded wait would fail long before it ended.
  const node = await serve(configFile([], 60_000));
  try {
    node.child.kill('SIGINT');
    assert.equal(await exitStatus(node), 0);
    assert.match(
      String(node.lines().find((l) => l.msg === NO_DRAIN)?.reason),
      /listen\.trustedProxies is empty/,
    );
    assert.ok(!node.probes.includes(503), `probe answers: ${node.probes.join(',')}`);
  } finally {
    await node.dispose();
  }
});

test('a load balancer configured (listen.trustedProxies) + SIGINT: drains, the probe answers 503 meanwhile, exit 0', async () => {
  const node = await serve(configFile(['127.0.0.2'], 3000));
  try {
    node.child.kill('SIGINT');
    await waitUntil('the probe answers 503', () => node.probes.includes(503));
    assert.equal(await exitStatus(node), 0);
    const decided = node.lines().find((l) => l.msg === DRAINING);
    assert.equal(decided?.signal, 'SIGINT');
    assert.equal(decided.drainDelayMs, 3000);
    assert.ok(!node.messages().includes(NO_DRAIN));
    assert.equal(node.messages().at(-1), 'shutdown complete');
  } finally {
    await node.dispose();
  }
});

test('SIGTERM with a configuration file drains (no load balancer named), exit 0', async () => {
  const node = await serve(configFile([], 3000));
  try {
    node.child.kill('SIGTERM');
    await waitUntil('the probe answers 503', () => node.probes.includes(503));
    assert.equal(await exitStatus(node), 0);
    const decided = node.lines().find((l) => l.msg === DRAINING);
    assert.equal(decided?.signal, 'SIGTERM');
    assert.equal(node.messages().at(-1), 'shutdown complete');
  } finally {
    await node.dispose();
  }
});

test('a second SIGINT during a drain exits at once with status 1', async () => {
  // A minute of drain: only the second signal can end the process within the bounded wait, and with status 1.
  const node = await serve(configFile(['127.0.0.2'], 60_000));
  try {
    node.child.kill('SIGINT');
    await waitUntil('the node drains (probe 503)', () => node.probes.includes(503));
    node.child.kill('SIGINT');
    assert.equal(await exitStatus(node), 1);
    const msgs = node.messages();
    assert.ok(msgs.includes(DRAINING));
    assert.equal(msgs.at(-1), 'second signal: exiting now');
    assert.ok(!msgs.includes('shutdown complete'));
  } finally {
    await node.dispose();
  }
});
