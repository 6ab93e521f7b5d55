import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { resolveConfig } from '../../server/config/load.ts';
import type { Config, ConfigInput } from '../../server/config/schema.ts';
import { checkStore } from '../../server/doctor/store-checks.ts';
import type { PlumbingCheck } from '../../server/doctor/types.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { freePort } from '../helpers/net.ts';

// fedgate doctor's store checks against real redis-server instances, each started with the setting under test
// (tests/setup/redis.sh: loopback, daemonized, no persistence unless a test asks for it). Redis itself (through
// redis-cli) is the independent witness that the doctor wrote nothing.

const run = promisify(execFile);
const script = new URL('../setup/redis.sh', import.meta.url).pathname;
const clock = new FixedClock();
/** Redis's own default snapshot schedule (redis.sh switches snapshots off; the "default" instance turns them back on). */
const DEFAULT_SAVE = '3600 1 300 100 60 10000';

interface Instance {
  port: number;
  dir: string;
  password?: string;
}
const started: Instance[] = [];

async function redis(args: string[], password?: string): Promise<Instance> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-doctor-redis-'));
  const extra = password === undefined ? args : [...args, '--requirepass', password];
  await run('bash', [script, 'start', String(port), dir, ...extra]);
  const inst: Instance = { port, dir, ...(password === undefined ? {} : { password }) };
  started.push(inst);
  return inst;
}

async function cli(inst: Instance, ...cmd: string[]): Promise<string> {
  const auth = inst.password === undefined ? [] : ['-a', inst.password, '--no-auth-warning'];
  const { stdout } = await run('redis-cli', [
    '-h',
    '127.0.0.1',
    '-p',
    String(inst.port),
    ...auth,
    ...cmd,
  ]);
  return stdout.trim();
}

function config(store: ConfigInput['store']): Config {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-doctor-store-'));
  return resolveConfig(
    { hostname: 'sts.fedgate.test', keys: { dir: join(dir, 'keys') }, store },
    { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
  );
}

const url = (inst: Instance, password?: string): string =>
  `redis://${password === undefined ? '' : `:${encodeURIComponent(password)}@`}127.0.0.1:${inst.port}`;

function statuses(checks: PlumbingCheck[]): Record<string, string> {
  for (const c of checks) assert.equal(c.area, 'store');
  return Object.fromEntries(checks.map((c) => [c.check, c.status]));
}

function find(checks: PlumbingCheck[], name: string): PlumbingCheck {
  const c = checks.find((x) => x.check === name);
  assert.ok(c, `no ${name} check in ${JSON.stringify(checks)}`);
  return c;
}

let defaults: Instance;
before(async () => {
  defaults = await redis(['--save', DEFAULT_SAVE]);
});

after(async () => {
  await Promise.all(
    started.map((inst) => run('bash', [script, 'stop', inst.dir]).catch(() => undefined)),
  );
});

test('Redis with its default settings: reachable, persistent, noeviction, master; nothing written', async (t) => {
  await cli(defaults, 'CONFIG', 'RESETSTAT');
  const checks = await checkStore(config({ kind: 'redis', url: url(defaults) }), { clock });
  assert.deepEqual(statuses(checks), {
    reachable: 'ok',
    persistence: 'ok',
    eviction: 'ok',
    role: 'ok',
  });
  assert.equal(find(checks, 'reachable').target, `redis://127.0.0.1:${defaults.port}`);
  // Read-only: the keyspace is empty and Redis counted no write command from the doctor.
  assert.equal(await cli(defaults, 'DBSIZE'), '0');
  const stats = await cli(defaults, 'INFO', 'commandstats');
  const used = [...stats.matchAll(/^cmdstat_([a-z|_-]+):/gm)].map((m) => m[1] ?? '');
  t.diagnostic(`commands the doctor sent: ${used.join(', ')}`);
  for (const c of used)
    assert.ok(
      [
        'ping',
        'info',
        'config|get',
        'config|resetstat',
        'hello',
        'client|setinfo',
        'dbsize',
      ].includes(c),
      `unexpected command ${c}`,
    );
});

test('neither RDB nor AOF → persistence warning; the AOF alone → ok', async () => {
  const none = await redis([]);
  const checks = await checkStore(config({ kind: 'redis', url: url(none) }), { clock });
  assert.equal(find(checks, 'persistence').status, 'warning');
  assert.match(
    find(checks, 'persistence').message,
    /restart loses every session and lockout counter/,
  );
  const aof = await redis(['--appendonly', 'yes']);
  assert.equal(
    find(await checkStore(config({ kind: 'redis', url: url(aof) }), { clock }), 'persistence')
      .status,
    'ok',
  );
});

test('maxmemory-policy allkeys-lru → error; volatile-lru → warning', async () => {
  const allkeys = await redis(['--save', DEFAULT_SAVE, '--maxmemory-policy', 'allkeys-lru']);
  const a = await checkStore(config({ kind: 'redis', url: url(allkeys) }), { clock });
  assert.deepEqual(statuses(a), {
    reachable: 'ok',
    persistence: 'ok',
    eviction: 'error',
    role: 'ok',
  });
  assert.match(find(a, 'eviction').message, /allkeys-lru.*lockout/);
  const volatile = await redis(['--save', DEFAULT_SAVE, '--maxmemory-policy', 'volatile-lru']);
  const v = await checkStore(config({ kind: 'redis', url: url(volatile) }), { clock });
  assert.deepEqual(statuses(v), {
    reachable: 'ok',
    persistence: 'ok',
    eviction: 'warning',
    role: 'ok',
  });
});

test('a replica → role error (fedgate writes)', async () => {
  const replica = await redis([
    '--save',
    DEFAULT_SAVE,
    '--replicaof',
    '127.0.0.1',
    String(defaults.port),
  ]);
  const checks = await checkStore(config({ kind: 'redis', url: url(replica) }), { clock });
  assert.deepEqual(statuses(checks), {
    reachable: 'ok',
    persistence: 'ok',
    eviction: 'ok',
    role: 'error',
  });
  assert.match(
    find(checks, 'role').message,
    new RegExp(`replica of 127\\.0\\.0\\.1:${defaults.port}`),
  );
});

test('a password: the right one → ok; a wrong or missing one → a clear AUTH error; the password is not shown', async () => {
  const secret = 'doctor-Redis-pass-1';
  const inst = await redis(['--save', DEFAULT_SAVE], secret);
  const good = await checkStore(config({ kind: 'redis', url: url(inst, secret) }), { clock });
  assert.equal(find(good, 'reachable').status, 'ok');
  assert.ok(!JSON.stringify(good).includes(secret), 'the password appears in the report');
  const viaKey = await checkStore(config({ kind: 'redis', url: url(inst), password: secret }), {
    clock,
  });
  assert.equal(find(viaKey, 'reachable').status, 'ok');

  const wrong = await checkStore(config({ kind: 'redis', url: url(inst, 'not-the-password') }), {
    clock,
  });
  assert.deepEqual(statuses(wrong), { reachable: 'error' });
  assert.match(find(wrong, 'reachable').message, /refuses the credentials \(AUTH failed/);
  assert.ok(!JSON.stringify(wrong).includes('not-the-password'));

  const missing = await checkStore(config({ kind: 'redis', url: url(inst) }), { clock });
  assert.deepEqual(statuses(missing), { reachable: 'error' });
  assert.match(find(missing, 'reachable').message, /refuses the credentials \(AUTH failed: NOAUTH/);
});

test('CONFIG disabled (managed Redis): persistence → info, eviction read from INFO', async () => {
  const managed = await redis(['--rename-command', 'CONFIG', '']);
  const checks = await checkStore(config({ kind: 'redis', url: url(managed) }), { clock });
  assert.deepEqual(statuses(checks), {
    reachable: 'ok',
    persistence: 'info',
    eviction: 'ok',
    role: 'ok',
  });
  assert.match(find(checks, 'persistence').message, /CONFIG GET is refused/);
});

test('nothing listening → reachable error, bounded, no throw', async () => {
  const port = await freePort();
  const checks = await checkStore(
    config({ kind: 'redis', url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 500 }),
    { clock },
  );
  assert.deepEqual(statuses(checks), { reachable: 'error' });
  assert.match(find(checks, 'reachable').message, /cannot be reached.*ECONNREFUSED/);
});

test('memory store → info: one process', async () => {
  const checks = await checkStore(config({ kind: 'memory' }), { clock });
  assert.deepEqual(statuses(checks), { 'store-kind': 'info' });
  assert.match(checks[0]?.message ?? '', /live in one process/);
});
