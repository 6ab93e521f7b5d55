import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeEntities, hidden } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import {
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
} from '../helpers/verify.ts';
import { get, LbClient, sleep, startFarm, type Farm, type HttpResult } from './farm.ts';

/**
 * The farm: real HAProxy (docker/haproxy.cfg, the file the container deployment uses) in front of three fedgate
 * processes (`fedgate serve`, TLS off behind the LB) sharing one real redis-server. Embedded demo directory.
 */

const TEST_RP = 'urn:fedgate:test';
let redis: TestRedis;
let farm: Farm;
let lb: LbClient;

before(async () => {
  redis = await startRedis();
  farm = await startFarm(mkdtempSync(join(tmpdir(), 'fedgate-farm-')), redis.url);
  lb = new LbClient(farm.lbPort, farm.caPem);
});

after(async () => {
  // Each part may be missing when setup failed half way.
  (lb as LbClient | undefined)?.close();
  await (farm as Farm | undefined)?.stop();
  await (redis as TestRedis | undefined)?.stop();
});

/** Cookies by hand (Secure __Host- cookies over a client without a jar). */
class Cookies {
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

interface SignInOutcome {
  ok: boolean;
  statuses: number[];
  nodes: string[];
  wresult?: string;
  activityId?: string;
  error?: string;
}

function node(r: HttpResult): string {
  const v = r.headers['x-fedgate-node'];
  return typeof v === 'string' ? v : '?';
}

/** One WS-Fed sign-in through the LB: GET the form, POST credentials, expect the auto-POST token page. */
async function signIn(
  client: LbClient,
  user = 'alice@fedgate.test',
  extraHeaders: Record<string, string> = {},
): Promise<SignInOutcome> {
  const out: SignInOutcome = { ok: false, statuses: [], nodes: [] };
  const jar = new Cookies();
  try {
    const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: TEST_RP });
    const page = await client.request('GET', `/adfs/ls/?${q.toString()}`, {
      headers: { ...extraHeaders },
    });
    out.statuses.push(page.status);
    out.nodes.push(node(page));
    jar.take(page);
    if (page.status !== 200) return out;
    const res = await client.request('POST', '/adfs/ls/', {
      headers: { cookie: jar.header(), ...extraHeaders },
      form: {
        AuthState: hidden(page.body, 'AuthState'),
        csrf: hidden(page.body, 'csrf'),
        UserName: user,
        Password: 'Passw0rd!',
        AuthMethod: 'FormsAuthentication',
      },
    });
    out.statuses.push(res.status);
    out.nodes.push(node(res));
    const aid = res.headers['x-activity-id'];
    if (typeof aid === 'string') out.activityId = aid;
    if (res.status === 200 && res.body.includes('name="wresult"')) {
      out.ok = true;
      out.wresult = hidden(res.body, 'wresult');
    }
  } catch (err) {
    out.error = err instanceof Error ? err.message : String(err);
  }
  return out;
}

/** Runs `total` sign-ins with `concurrency` workers; `during` runs alongside (kills, restarts). */
async function load(
  total: number,
  concurrency: number,
  during?: (progress: () => number) => Promise<void>,
): Promise<SignInOutcome[]> {
  const results: SignInOutcome[] = [];
  let next = 0;
  const client = new LbClient(farm.lbPort, farm.caPem);
  const worker = async (): Promise<void> => {
    while (next < total) {
      next += 1;
      results.push(await signIn(client));
    }
  };
  try {
    await Promise.all([
      ...Array.from({ length: concurrency }, worker),
      during?.(() => results.length),
    ]);
  } finally {
    client.close();
  }
  return results;
}

async function until(what: string, cond: () => Promise<boolean>, tries = 300): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The LB routes to every node again (each name seen on a probe through the LB). */
async function allNodesInRotation(): Promise<void> {
  const seen = new Set<string>();
  await until('all nodes in rotation', async () => {
    const r = await lb.request('GET', '/adfs/probe').catch(() => undefined);
    if (r?.status === 200) seen.add(node(r));
    return seen.size === 3;
  });
}

test('farm: one sign-in spread over two nodes succeeds; the token verifies against the published metadata', async () => {
  const r = await signIn(lb);
  assert.ok(r.ok, JSON.stringify(r));
  assert.notEqual(
    r.nodes[0],
    r.nodes[1],
    `form and credentials handled by different nodes: ${r.nodes.join(',')}`,
  );
  // Every node signs with the farm's key: verify with xml-crypto, pinning the cert from metadata fetched via the LB.
  const md = await lb.request('GET', '/FederationMetadata/2007-06/FederationMetadata.xml');
  assert.equal(md.status, 200);
  const [certPem] = certFromMetadata(md.body);
  assert.ok(certPem !== undefined);
  const claims = verifySaml11WithXmlCrypto(
    extractAssertionFromRstr(decodeEntities(r.wresult ?? '')),
    certPem,
  );
  assert.ok(JSON.stringify(claims).includes('alice@fedgate.test'));
  // Round robin without stickiness: a few sign-ins touch all three nodes.
  const many = await Promise.all(Array.from({ length: 6 }, () => signIn(lb)));
  assert.ok(many.every((m) => m.ok));
  assert.equal(new Set(many.flatMap((m) => m.nodes)).size, 3);
});

test('farm: SIGKILL of one node under load loses only requests in flight on it', async (t) => {
  const total = 240;
  const concurrency = 8;
  const victim = farm.nodes[1];
  assert.ok(victim !== undefined);
  const results = await load(total, concurrency, async (progress) => {
    await until('load under way', () => Promise.resolve(progress() >= 60), 2000);
    victim.kill('SIGKILL');
    await victim.exited;
  });
  const failed = results.filter((r) => !r.ok);
  t.diagnostic(
    `${total} sign-ins, ${concurrency} workers, one node SIGKILLed: ${failed.length} lost`,
  );
  assert.equal(results.length, total);
  // At most one request per worker can have been in flight on the killed node.
  assert.ok(
    failed.length <= concurrency,
    `lost ${failed.length} sign-ins: ${JSON.stringify(failed.slice(0, 3))}`,
  );
  // Nothing but gateway errors for the cut requests: no fedgate 5xx, no half-done sign-in shown as success.
  for (const f of failed) {
    const last = f.statuses[f.statuses.length - 1];
    assert.ok(
      last === undefined || last === 502 || last === 503 || f.error !== undefined,
      JSON.stringify(f),
    );
  }
  await victim.start();
  await allNodesInRotation();
});

test('farm: rolling SIGTERM of every node under load gives zero 5xx and no lost sign-in', async (t) => {
  let stop = false;
  const results: SignInOutcome[] = [];
  const client = new LbClient(farm.lbPort, farm.caPem);
  const worker = async (): Promise<void> => {
    while (!stop) results.push(await signIn(client));
  };
  const workers = Array.from({ length: 6 }, worker);
  try {
    for (const n of farm.nodes) {
      const before = results.length;
      n.kill('SIGTERM');
      // Draining: probe 503 at once, while the node still serves.
      await until(`${n.name} probe 503`, async () => {
        const r = await get(`http://127.0.0.1:${n.port}/adfs/probe`).catch(() => undefined);
        return r === undefined || r.status === 503;
      });
      assert.equal(await n.exited, 0, `${n.name} exits cleanly after draining`);
      await n.start();
      await allNodesInRotation();
      await until('load continues', () => Promise.resolve(results.length > before + 5), 2000);
    }
  } finally {
    stop = true;
    await Promise.all(workers);
    client.close();
  }
  t.diagnostic(`${results.length} sign-ins during the rolling restart of 3 nodes`);
  assert.ok(results.length > 30, `${results.length} sign-ins ran during the roll`);
  const fivexx = results.filter((r) => r.statuses.some((s) => s >= 500) || r.error !== undefined);
  assert.deepEqual(fivexx, []);
  assert.ok(results.every((r) => r.ok));
  // Every node logged its drain and a clean shutdown.
  for (const n of farm.nodes) {
    assert.ok(
      n.logs.some((l) => l.msg === 'shutdown complete'),
      `${n.name} logged shutdown complete`,
    );
  }
});

test('farm: Redis stopped → clean 503 pages with an activity id; restarted → sign-ins work without restarting fedgate', async () => {
  const pids = farm.nodes.map((n) => n.proc?.pid);
  await redis.stop();
  try {
    const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: TEST_RP });
    for (let i = 0; i < 3; i++) {
      const r = await lb.request('GET', `/adfs/ls/?${q.toString()}`);
      assert.equal(r.status, 503);
      assert.notEqual(node(r), '?', 'the page comes from fedgate, not from haproxy');
      const aid = r.headers['x-activity-id'];
      assert.ok(typeof aid === 'string' && r.body.includes(aid), 'activity id on the page');
      assert.match(r.body, /temporarily unavailable/);
      assert.doesNotMatch(r.body, /at .*\.ts:\d+|ECONNREFUSED|redis/i);
    }
    // The LB probe stays up (an outage must not empty the pool); readiness says why the node is not ready.
    const n1 = farm.nodes[0];
    assert.ok(n1 !== undefined);
    assert.equal((await get(`http://127.0.0.1:${n1.port}/adfs/probe`)).status, 200);
    const ready = await get(`http://127.0.0.1:${n1.mgmtPort}/healthz/ready`);
    assert.equal(ready.status, 503);
    assert.equal((JSON.parse(ready.body) as { store: boolean }).store, false);
    assert.equal((await get(`http://127.0.0.1:${n1.mgmtPort}/healthz/live`)).status, 200);
  } finally {
    await redis.start();
  }
  await until('sign-ins recover', async () => (await signIn(lb)).ok);
  const again = await Promise.all(Array.from({ length: 6 }, () => signIn(lb)));
  assert.ok(again.every((r) => r.ok));
  assert.deepEqual(
    farm.nodes.map((n) => n.proc?.pid),
    pids,
    'no node was restarted',
  );
  // Store errors and sign-ins are visible in Prometheus metrics on the management port.
  const metrics = await Promise.all(
    farm.nodes.map((n) => get(`http://127.0.0.1:${n.mgmtPort}/metrics`)),
  );
  const all = metrics.map((m) => m.body).join('\n');
  assert.match(all, /fedgate_store_errors_total\{op="put"\} [1-9]/);
  assert.match(
    all,
    /fedgate_signins_total\{protocol="wsfed",trust="urn:fedgate:test",method="password",result="success"\} [1-9]/,
  );
  assert.match(
    all,
    /fedgate_directory_operation_seconds_count\{operation="authenticate",result="ok"\} [1-9]/,
  );
});

test('farm: forwarding headers from an untrusted address change neither the client IP nor any URL', async () => {
  const spoof = {
    'x-forwarded-for': '203.0.113.9',
    'x-forwarded-proto': 'http',
    'x-forwarded-host': 'evil.example',
    forwarded: 'for=203.0.113.9;host=evil.example;proto=http',
  };
  const n1 = farm.nodes[0];
  assert.ok(n1 !== undefined);
  // Straight to a node from 127.0.0.1, which is not in listen.trustedProxies (only the LB's 127.0.0.2 is).
  const direct = await get(
    `http://127.0.0.1:${n1.port}/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(TEST_RP)}`,
    { ...spoof, host: 'evil.example' },
  );
  assert.equal(direct.status, 200);
  assert.doesNotMatch(direct.body, /evil\.example/);
  const md = await get(
    `http://127.0.0.1:${n1.port}/FederationMetadata/2007-06/FederationMetadata.xml`,
    spoof,
  );
  assert.doesNotMatch(md.body, /evil\.example/);

  // Through the LB: the client's own X-Forwarded-For is replaced, so the audit trail shows the real address.
  const r = await signIn(lb, 'alice@fedgate.test', spoof);
  assert.ok(r.ok);
  assert.doesNotMatch(r.wresult ?? '', /evil\.example|203\.0\.113\.9/);
  // The node writes the line before it answers, but it reaches us through its stdout pipe: wait for it.
  let audit: Record<string, unknown> | undefined;
  for (let i = 0; i < 100 && audit === undefined; i++) {
    audit = farm.nodes
      .flatMap((n) => n.events('token_issued'))
      .find((e) => e.activityId === r.activityId);
    if (audit === undefined) await sleep(50);
  }
  assert.ok(audit !== undefined, 'token_issued audit event logged');
  assert.equal(audit.ip, '127.0.0.1');
});
