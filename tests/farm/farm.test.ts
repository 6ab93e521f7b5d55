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
import {
  Cookies,
  get,
  LbClient,
  parseLbRequest,
  sleep,
  startFarm,
  type Farm,
  type HttpResult,
  type LbRequestLog,
} from './farm.ts';

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

interface SignInOutcome {
  ok: boolean;
  statuses: number[];
  nodes: string[];
  /** X-Request-Id of each request sent, in order (HAProxy logs it). */
  ids: string[];
  /** The step that failed: the sign-in form (GET) or the credential POST. */
  failedAt?: 'GET' | 'POST';
  wresult?: string;
  activityId?: string;
  error?: string;
}

let requestSeq = 0;
/** A unique X-Request-Id per request: docker/haproxy.cfg captures it, so every request is found in its log. */
function requestId(kind: string): string {
  requestSeq += 1;
  return `farm-${String(process.pid)}-${String(requestSeq)}-${kind}`;
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
  const out: SignInOutcome = { ok: false, statuses: [], nodes: [], ids: [] };
  const jar = new Cookies();
  try {
    const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: TEST_RP });
    out.failedAt = 'GET';
    out.ids.push(requestId('form'));
    const page = await client.request('GET', `/adfs/ls/?${q.toString()}`, {
      headers: { 'x-request-id': out.ids[0] ?? '', ...extraHeaders },
    });
    out.statuses.push(page.status);
    out.nodes.push(node(page));
    jar.take(page);
    if (page.status !== 200) return out;
    out.failedAt = 'POST';
    out.ids.push(requestId('credentials'));
    const res = await client.request('POST', '/adfs/ls/', {
      headers: { cookie: jar.header(), 'x-request-id': out.ids[1] ?? '', ...extraHeaders },
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
      delete out.failedAt;
      out.wresult = hidden(res.body, 'wresult');
    }
  } catch (err) {
    out.error = err instanceof Error ? err.message : String(err);
  }
  return out;
}

/**
 * Runs `total` sign-ins with `concurrency` workers; `during` runs alongside (kills, restarts). One request per
 * connection, so HAProxy logs every request whatever happened to its node (see LbClient).
 */
async function load(
  total: number,
  concurrency: number,
  during?: (progress: () => number) => Promise<void>,
): Promise<SignInOutcome[]> {
  const results: SignInOutcome[] = [];
  let next = 0;
  const client = new LbClient(farm.lbPort, farm.caPem, { keepAlive: false });
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

/** HAProxy's log lines from index `from` on that match `re` (server state changes). */
function lbLines(from: number, re: RegExp): { at: number; line: string }[] {
  return farm.lbLog.slice(from).filter((l) => re.test(l.line));
}

/** HAProxy's request log entries for these X-Request-Ids, waiting (bounded) until every one is logged. */
async function lbRequests(ids: string[]): Promise<Map<string, LbRequestLog>> {
  const want = new Set(ids);
  const found = new Map<string, LbRequestLog>();
  let scanned = 0;
  for (let i = 0; i < 200; i++) {
    for (; scanned < farm.lbLog.length; scanned++) {
      const r = parseLbRequest(farm.lbLog[scanned]?.line ?? '');
      if (r !== undefined && want.has(r.requestId)) {
        assert.ok(!found.has(r.requestId), `one log line per request: ${r.requestId}`);
        found.set(r.requestId, r);
      }
    }
    if (found.size === want.size) return found;
    await sleep(50);
  }
  const missing = ids.filter((id) => !found.has(id));
  throw new Error(
    `HAProxy never logged ${String(missing.length)} requests: ${missing.slice(0, 5).join(' ')}`,
  );
}

/**
 * What HAProxy saw of a run: the requests it could not complete on the killed node (server = victim, ended
 * abnormally: first termination character not '-', configuration.txt §8.5; e.g. SH-- 502 = the node closed
 * before answering), those it re-sent (retries > 0; '+' = to another node), and every 5xx it returned.
 */
interface LbAccount {
  logged: LbRequestLog[];
  inFlightOnVictim: LbRequestLog[];
  retried: LbRequestLog[];
  redispatched: LbRequestLog[];
  fivexx: LbRequestLog[];
}
async function account(ids: string[], victim: string): Promise<LbAccount> {
  const logged = [...(await lbRequests(ids)).values()];
  return {
    logged,
    inFlightOnVictim: logged.filter((r) => r.server === victim && !r.termination.startsWith('-')),
    retried: logged.filter((r) => r.retries > 0),
    redispatched: logged.filter((r) => r.redispatched),
    fivexx: logged.filter((r) => r.status >= 500),
  };
}

/** The request each lost sign-in lost: the last one it sent. */
function lostRequests(results: SignInOutcome[]): string[] {
  return results
    .filter((r) => !r.ok)
    .map((r) => r.ids[r.ids.length - 1] ?? '?')
    .sort();
}

function figures(what: string, attempted: number, lost: number, acc: LbAccount): string {
  const posts = acc.inFlightOnVictim.filter((r) => r.method === 'POST').length;
  return (
    `${what}: ${String(attempted)} attempted, ${String(lost)} lost; HAProxy: ${String(acc.logged.length)} ` +
    `requests, ${String(acc.inFlightOnVictim.length)} in flight on the victim (${String(posts)} POST), ` +
    `${String(acc.retried.length)} retried (${String(acc.redispatched.length)} to another node), ` +
    `${String(acc.fivexx.length)} 5xx`
  );
}

/** Assertions shared by the kill runs: a loss is a credential POST HAProxy saw die on the victim, nothing else. */
function assertOnlyInFlightLost(results: SignInOutcome[], acc: LbAccount): void {
  const lost = results.filter((r) => !r.ok);
  // Every lost sign-in failed on its credential POST, with HAProxy's 502 (never a fedgate error page).
  for (const f of lost) {
    assert.equal(f.failedAt, 'POST', `a sign-in form GET was lost: ${JSON.stringify(f)}`);
    assert.equal(f.statuses[f.statuses.length - 1], 502, JSON.stringify(f));
    assert.equal(f.error, undefined, JSON.stringify(f));
  }
  // ... and those POSTs are exactly the requests HAProxy logged as cut on the victim: each loss is one of them,
  // and each of them is a loss (none was replayed into a success).
  assert.deepEqual(
    lostRequests(results),
    acc.inFlightOnVictim.map((r) => r.requestId).sort(),
    'lost sign-ins = requests in flight on the killed node per HAProxy',
  );
  // No GET among them: a GET the dying node held was re-sent to another node (retry-on empty-response).
  assert.deepEqual(
    acc.inFlightOnVictim.filter((r) => r.method !== 'POST'),
    [],
    'no GET cut on the victim',
  );
  // The only 5xx HAProxy returned are those cut POSTs (no fedgate 5xx, no 503 for lack of a server).
  assert.deepEqual(
    acc.fivexx.map((r) => r.requestId).sort(),
    acc.inFlightOnVictim.map((r) => r.requestId).sort(),
  );
}

test("farm: SIGKILL of one node under load loses only the credential POSTs in flight on it (counted from HAProxy's log)", async (t) => {
  const total = 240;
  const concurrency = 8;
  const victim = farm.nodes[1];
  assert.ok(victim !== undefined);
  const logFrom = farm.lbLog.length;
  let killedAt = 0;
  const results = await load(total, concurrency, async (progress) => {
    await until('load under way', () => Promise.resolve(progress() >= 60), 2000);
    killedAt = Date.now();
    victim.kill('SIGKILL');
    await victim.exited;
  });
  assert.equal(results.length, total);
  const acc = await account(
    results.flatMap((r) => r.ids),
    victim.name,
  );
  const lost = results.filter((r) => !r.ok).length;
  t.diagnostic(figures(`${String(concurrency)} workers, one node SIGKILLed`, total, lost, acc));
  assertOnlyInFlightLost(results, acc);
  // The dead node was taken out by the failed connections HAProxy observed (observe layer4, on-error mark-down),
  // not by the probe (which needs fall x inter); the connections refused meanwhile were re-sent elsewhere.
  const [down] = lbLines(logFrom, new RegExp(`Server be_fedgate/${victim.name} is DOWN`));
  assert.ok(down !== undefined, `HAProxy logged ${victim.name} DOWN`);
  t.diagnostic(
    `${down.line.slice(0, 160)} (logged ${String(down.at - killedAt)} ms after the kill)`,
  );
  assert.match(down.line, /reason: Health analyze/, 'marked down by observed connection failures');
  await victim.start();
  await allNodesInRotation();
});

test('farm: a hung node (SIGSTOP) taken out by the probe, then SIGKILLed: the GETs it held are re-sent elsewhere, its credential POSTs never', async (t) => {
  const victim = farm.nodes[2];
  assert.ok(victim !== undefined);
  const logFrom = farm.lbLog.length;
  const client = new LbClient(farm.lbPort, farm.caPem, { keepAlive: false });
  const results: SignInOutcome[] = [];
  const polls: { id: string; status: number; error?: string }[] = [];
  let stop = false;
  const signer = async (): Promise<void> => {
    while (!stop) results.push(await signIn(client));
  };
  // Metadata pollers: GETs that are certain to be held by the hung node when it dies.
  const poller = async (): Promise<void> => {
    while (!stop) {
      const id = requestId('metadata');
      const r = await client
        .request('GET', '/FederationMetadata/2007-06/FederationMetadata.xml', {
          headers: { 'x-request-id': id },
        })
        .then((x) => ({ id, status: x.status }))
        .catch((e: unknown) => ({ id, status: 0, error: String(e) }));
      polls.push(r);
    }
  };
  const workers = [...Array.from({ length: 6 }, signer), ...Array.from({ length: 3 }, poller)];
  try {
    await until('load under way', () => Promise.resolve(results.length >= 20), 2000);
    victim.kill('SIGSTOP');
    // The hung node accepts connections (its kernel does) but answers nothing: only the probe can tell.
    await until(
      `${victim.name} DOWN`,
      () =>
        Promise.resolve(
          lbLines(logFrom, new RegExp(`Server be_fedgate/${victim.name} is DOWN`)).length > 0,
        ),
      400,
    );
    victim.kill('SIGKILL');
    await victim.exited;
    const after = results.length;
    await until('load continues', () => Promise.resolve(results.length >= after + 20), 2000);
  } finally {
    stop = true;
    await Promise.all(workers);
    client.close();
  }
  const acc = await account(
    [...results.flatMap((r) => r.ids), ...polls.map((p) => p.id)],
    victim.name,
  );
  const lost = results.filter((r) => !r.ok).length;
  t.diagnostic(
    figures(`hung then killed, 6 signers + 3 metadata pollers`, results.length, lost, acc) +
      `; ${String(polls.length)} metadata GETs`,
  );
  assertOnlyInFlightLost(results, acc);
  assert.deepEqual(
    polls.filter((p) => p.status !== 200),
    [],
    'every metadata GET answered',
  );
  // The hung node held GETs when it died, and HAProxy re-sent them to another node ...
  const resent = acc.redispatched.filter((r) => r.method === 'GET');
  assert.ok(resent.length > 0, 'GETs held by the hung node were re-sent');
  // ... but no POST: it had no connection failure to excuse a retry (the node accepted every connection), so a
  // retried POST here would be a credential POST replayed after it reached the node.
  assert.deepEqual(
    acc.retried.filter((r) => r.method === 'POST'),
    [],
    'no POST re-sent',
  );
  await victim.start();
  await allNodesInRotation();
});

test('farm: rolling SIGTERM of every node under load gives zero 5xx and no lost sign-in', async (t) => {
  let stop = false;
  const results: SignInOutcome[] = [];
  // Keep-alive, like browsers: a drained node must not cut a reused connection either.
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
  const acc = await account(
    results.flatMap((r) => r.ids),
    '-',
  );
  const lost = results.filter((r) => !r.ok).length;
  t.diagnostic(figures('rolling SIGTERM of 3 nodes, 6 workers', results.length, lost, acc));
  assert.ok(results.length > 30, `${results.length} sign-ins ran during the roll`);
  const fivexx = results.filter((r) => r.statuses.some((s) => s >= 500) || r.error !== undefined);
  assert.deepEqual(fivexx, []);
  assert.ok(results.every((r) => r.ok));
  // HAProxy agrees: it returned no 5xx either.
  assert.deepEqual(acc.fivexx, []);
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
