/**
 * The Redis store through Redis Sentinel (real redis-server master and replica, a real sentinel, all on
 * loopback): the store finds the master through the sentinel, and after a failover it writes to the new master
 * without being restarted. A request that lands during the switch fails closed (StoreUnavailableError, a 503
 * page), never with a value from the wrong node.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { createClient } from 'redis';
import { resolveConfig } from '../../server/config/load.ts';
import { RedisStore, StoreUnavailableError } from '../../server/stores/redis.ts';
import { freePort, startRedis, type TestRedis } from '../helpers/redis.ts';

const run = promisify(execFile);
const script = new URL('../setup/redis.sh', import.meta.url).pathname;
const MASTER_SET = 'fedgate-test';

let master: TestRedis;
let replicaPort: number;
let replicaDir: string;
let sentinelPort: number;
let sentinelDir: string;

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout.trim();
}

async function until(what: string, check: () => Promise<boolean>, tries = 150): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting for: ${what}`);
}

async function valueOn(port: number, key: string): Promise<string | null> {
  const c = createClient({ url: `redis://127.0.0.1:${port}` });
  await c.connect();
  try {
    return await c.get(key);
  } finally {
    await c.close();
  }
}

before(async () => {
  master = await startRedis();
  replicaPort = await freePort();
  replicaDir = mkdtempSync(join(tmpdir(), 'fedgate-replica-'));
  await run('bash', [
    script,
    'start',
    String(replicaPort),
    replicaDir,
    '--replicaof',
    '127.0.0.1',
    String(master.port),
  ]);
  await until('replica in sync', async () =>
    (await cli(replicaPort, 'info', 'replication')).includes('master_link_status:up'),
  );
  sentinelPort = await freePort();
  sentinelDir = mkdtempSync(join(tmpdir(), 'fedgate-sentinel-'));
  const conf = join(sentinelDir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      'daemonize yes',
      `pidfile ${join(sentinelDir, 'redis.pid')}`,
      `logfile ${join(sentinelDir, 'sentinel.log')}`,
      `dir ${sentinelDir}`,
      `sentinel monitor ${MASTER_SET} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${MASTER_SET} 1000`,
      `sentinel failover-timeout ${MASTER_SET} 10000`,
      '',
    ].join('\n'),
  );
  await run('redis-server', [conf, '--sentinel']);
  await until('sentinel sees the replica', async () =>
    (await cli(sentinelPort, 'sentinel', 'replicas', MASTER_SET)).includes(String(replicaPort)),
  );
});

after(async () => {
  await run('bash', [script, 'stop', sentinelDir]);
  await run('bash', [script, 'stop', replicaDir]);
  await master.stop();
});

test('redis store via Sentinel: finds the master, follows a failover to the replica without a restart', async (t) => {
  const config = resolveConfig(
    {
      store: {
        kind: 'redis',
        url: 'redis://127.0.0.1:6379', // only credentials and db are taken from it with sentinel
        keyPrefix: 'sentinel-test:',
        sentinel: { name: MASTER_SET, nodes: [{ host: '127.0.0.1', port: sentinelPort }] },
      },
    },
    { env: {}, baseDir: '/', source: 'test', embeddedDefaults: false },
  ).store;
  assert.equal(config.kind, 'redis');
  const store = RedisStore.create(config, { baseDir: '/' });
  try {
    await store.put('lockoutCounter', 'before', 'one', 600);
    assert.equal(await store.find('lockoutCounter', 'before'), 'one');
    // It really went to the master the sentinel named.
    assert.notEqual(await valueOn(master.port, 'sentinel-test:counter:lockout:before'), null);

    await cli(sentinelPort, 'sentinel', 'failover', MASTER_SET);
    await until('the sentinel names the replica as master', async () =>
      (await cli(sentinelPort, 'sentinel', 'get-master-addr-by-name', MASTER_SET)).includes(
        String(replicaPort),
      ),
    );
    await until('the old master is a replica', async () =>
      (await cli(master.port, 'role')).startsWith('slave'),
    );

    // Writes succeed again without a new store; any failure meanwhile is the fail-closed error.
    let failures = 0;
    await until('the store writes to the new master', async () => {
      try {
        await store.put('lockoutCounter', 'after', 'two', 600);
        return true;
      } catch (err) {
        assert.ok(err instanceof StoreUnavailableError, String(err));
        failures++;
        return false;
      }
    });
    t.diagnostic(`store calls refused while the master moved: ${failures}`);
    assert.notEqual(await valueOn(replicaPort, 'sentinel-test:counter:lockout:after'), null);
    assert.equal(await store.find('lockoutCounter', 'before'), 'one', 'replicated data survives');
    assert.equal(await store.incr('lockoutCounter', 'n', 60), 1);
    assert.equal(await store.markSeen('replay', 'id-1', 60), true);
    assert.equal(await store.markSeen('replay', 'id-1', 60), false);
  } finally {
    await store.close();
  }
});
