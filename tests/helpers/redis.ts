import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = new URL('../setup/redis.sh', import.meta.url).pathname;

export { freePort } from './net.ts';
import { freePort } from './net.ts';

export interface TestRedis {
  port: number;
  url: string;
  dir: string;
  /** Stops the server (data is lost: no persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

/** Starts a throwaway redis-server on a free loopback port (tests/setup/redis.sh). */
export async function startRedis(
  opts: { password?: string; tls?: { cert: string; key: string; ca: string } } = {},
): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-redis-'));
  const extra = opts.password === undefined ? [] : ['--requirepass', opts.password];
  if (opts.tls !== undefined) {
    extra.push(
      ...[
        '--tls-port',
        String(port),
        '--tls-cert-file',
        opts.tls.cert,
        '--tls-key-file',
        opts.tls.key,
      ],
      ...['--tls-ca-cert-file', opts.tls.ca, '--tls-auth-clients', 'no'],
    );
  }
  const start = async (): Promise<void> => {
    await run('bash', [
      script,
      'start',
      opts.tls === undefined ? String(port) : '0',
      dir,
      ...extra,
    ]);
  };
  await start();
  const auth = opts.password === undefined ? '' : `:${encodeURIComponent(opts.password)}@`;
  return {
    port,
    url: `${opts.tls === undefined ? 'redis' : 'rediss'}://${auth}127.0.0.1:${port}`,
    dir,
    start,
    stop: async () => {
      await run('bash', [script, 'stop', dir]);
    },
  };
}
