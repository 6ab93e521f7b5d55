/**
 * `fedgate doctor`: the store checks (issue 21, "Store"): Redis reachable, and its persistence and eviction settings
 * safe for what fedgate keeps there (sealed SSO sessions, replay caches, extranet lockout counters). Read-only: only
 * PING, INFO and CONFIG GET are sent, never a write.
 */
import { createClient, createSentinel } from 'redis';
import { clientOptions, sentinelOptions } from '../stores/redis.ts';
import type { Config, RedisStoreConfig } from '../config/schema.ts';
import type { Clock } from '../lib/clock.ts';
import type { CheckStatus, PlumbingCheck } from './types.ts';

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The Redis URL without its password, for the report. */
export function redactedRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return 'store.url';
  }
}

interface Conn {
  send(args: string[]): Promise<unknown>;
  close(): void;
}

async function connect(config: RedisStoreConfig, baseDir: string): Promise<Conn> {
  // The server's own options (URL, credentials, TLS files, timeouts), connecting once: no reconnect loop.
  const opts = clientOptions(config, baseDir, { reconnect: false });
  if (config.sentinel === undefined) {
    const c = createClient(opts);
    c.on('error', () => {
      /* the failure is reported by connect()'s rejection */
    });
    try {
      await c.connect();
    } catch (err) {
      c.destroy();
      throw err;
    }
    return {
      send: (args) => c.sendCommand(args),
      close: () => {
        c.destroy();
      },
    };
  }
  const s = createSentinel(sentinelOptions(config.sentinel, config, opts));
  s.on('error', () => {
    /* reported by connect()'s rejection */
  });
  try {
    await s.connect();
  } catch (err) {
    await s.destroy().catch(() => undefined);
    throw err;
  }
  // false: the master answers (the read-only replica question is about the node fedgate writes to).
  return {
    send: (args) => s.sendCommand(false, args),
    close: () => {
      void s.destroy().catch(() => undefined);
    },
  };
}

/** A promise with a deadline (a command to a Redis that stops answering must not hang the doctor). */
async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`${what}: no answer within ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** INFO's `key:value` lines. */
function infoFields(text: unknown): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of String(text).split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) m.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return m;
}

/** CONFIG GET's reply (a flat array in RESP2, a map in RESP3) as the value of `name`, or undefined. */
const text = (v: unknown): string =>
  typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : JSON.stringify(v);

function configValue(reply: unknown, name: string): string | undefined {
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2)
      if (String(reply[i]).toLowerCase() === name) return String(reply[i + 1]);
    return undefined;
  }
  if (reply instanceof Map) {
    const v: unknown = reply.get(name);
    return v === undefined ? undefined : text(v);
  }
  if (typeof reply === 'object' && reply !== null) {
    const v = (reply as Record<string, unknown>)[name];
    return v === undefined ? undefined : text(v);
  }
  return undefined;
}

export async function checkStore(
  config: Config,
  _opts: { clock: Clock },
): Promise<PlumbingCheck[]> {
  const store = config.store;
  if (store.kind === 'memory')
    return [
      {
        area: 'store',
        target: 'memory',
        check: 'store-kind',
        status: 'info',
        message:
          'store.kind is memory: sessions and lockout counters live in one process (lost on restart, not shared): fine for one node; a farm needs store.kind: redis',
      },
    ];
  const target = redactedRedisUrl(store.url);
  const check = (name: string, status: CheckStatus, message: string): PlumbingCheck => ({
    area: 'store',
    target,
    check: name,
    status,
    message,
  });
  const timeout = store.commandTimeoutMs;
  let conn: Conn;
  try {
    conn = await bounded(
      connect(store, config.baseDir),
      store.connectTimeoutMs + timeout,
      'connect',
    );
  } catch (err) {
    return [check('reachable', 'error', unreachable(err))];
  }
  const out: PlumbingCheck[] = [];
  try {
    try {
      const pong = await bounded(conn.send(['PING']), timeout, 'PING');
      out.push(check('reachable', 'ok', `Redis answers PING (${String(pong)})`));
    } catch (err) {
      out.push(check('reachable', 'error', unreachable(err)));
      return out;
    }
    const send = (args: string[]): Promise<unknown> =>
      bounded(conn.send(args), timeout, args.slice(0, 2).join(' '));

    // CONFIG is often renamed or refused on managed Redis (ElastiCache, Azure Cache): then INFO is all there is.
    const config1 = async (name: string): Promise<string | undefined> => {
      try {
        return configValue(await send(['CONFIG', 'GET', name]), name);
      } catch {
        return undefined;
      }
    };
    const info = async (section: string): Promise<Map<string, string>> => {
      try {
        return infoFields(await send(['INFO', section]));
      } catch {
        return new Map();
      }
    };

    // Persistence: without RDB snapshots or the AOF, a Redis restart forgets every session (users sign in again)
    // and every lockout counter (an attacker gets a fresh allowance of password guesses).
    const persistence = await info('persistence');
    const aofInfo = persistence.get('aof_enabled');
    const appendonly = await config1('appendonly');
    const save = await config1('save');
    const aof = appendonly === 'yes' || aofInfo === '1';
    const rdb = save !== undefined && save.trim() !== '';
    if (aof || rdb)
      out.push(
        check(
          'persistence',
          'ok',
          `Redis persists its data (${[aof ? 'AOF' : '', rdb ? `RDB save "${save}"` : ''].filter(Boolean).join(', ')})`,
        ),
      );
    else if (save === undefined)
      out.push(
        check(
          'persistence',
          'info',
          'CONFIG GET is refused (managed Redis?) and the AOF is off: cannot tell whether RDB snapshots are on; make sure the service persists data, or sessions and lockout counters are lost on restart',
        ),
      );
    else
      out.push(
        check(
          'persistence',
          'warning',
          'Redis has neither RDB snapshots (save "") nor the AOF (appendonly no): a restart loses every session and lockout counter; set appendonly yes or a save schedule',
        ),
      );

    // Eviction: fedgate's keys all carry a TTL, so volatile-* policies may evict sessions under memory pressure;
    // allkeys-* may evict lockout counters too, which silently switches extranet lockout off.
    const policy =
      (await config1('maxmemory-policy')) ?? (await info('memory')).get('maxmemory_policy');
    if (policy === undefined)
      out.push(
        check(
          'eviction',
          'info',
          'maxmemory-policy cannot be read (CONFIG and INFO refused): make sure it is noeviction',
        ),
      );
    else if (policy === 'noeviction')
      out.push(
        check(
          'eviction',
          'ok',
          'maxmemory-policy is noeviction: when memory is full writes fail (sign-ins get a 503) rather than data silently disappearing',
        ),
      );
    else if (policy.startsWith('allkeys-'))
      out.push(
        check(
          'eviction',
          'error',
          `maxmemory-policy is ${policy}: under memory pressure Redis may evict lockout counters, which silently switches extranet lockout off; set noeviction`,
        ),
      );
    else
      out.push(
        check(
          'eviction',
          'warning',
          `maxmemory-policy is ${policy}: under memory pressure Redis evicts keys with a TTL, i.e. SSO sessions and lockout counters; set noeviction`,
        ),
      );

    // A replica refuses writes (or loses them at the next resync): fedgate writes on every sign-in.
    const replication = await info('replication');
    const role = replication.get('role');
    if (role === undefined)
      out.push(check('role', 'info', 'INFO replication is refused: cannot tell the node role'));
    else if (role === 'master')
      out.push(check('role', 'ok', 'the node is a master: it takes fedgate\u2019s writes'));
    else
      out.push(
        check(
          'role',
          'error',
          `the node is a replica of ${replication.get('master_host') ?? '?'}:${replication.get('master_port') ?? '?'}${(await config1('replica-read-only')) === 'no' ? '' : ' (read-only)'}: fedgate's writes fail; point store.url at the master (or use store.sentinel)`,
        ),
      );
    return out;
  } finally {
    conn.close();
  }
}

function unreachable(err: unknown): string {
  const text = errText(err);
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(text))
    return `Redis refuses the credentials (AUTH failed: ${text}): check store.password / store.username (or FEDGATE_STORE__PASSWORD)`;
  return `Redis cannot be reached: ${text}`;
}
