import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import request from 'supertest';
import express from 'express';
import { pino } from 'pino';
import { managementApp } from '../../server/http/health.ts';
import { requestLog } from '../../server/http/request-log.ts';
import { ROUTES, type RouteName } from '../../server/http/routes.ts';
import { Metrics } from '../../server/observability/metrics.ts';
import { LogCapture, makeTestApp, signIn, type TestApp } from '../helpers/app.ts';

/**
 * The request log (one `http_request` line per request, docs/events.md) and the HTTP metrics, through the whole
 * app: the route name comes from the route table, the line never carries the query string or the body (they carry
 * tokens and passwords, corpus C4.6/C7.1), and metric labels stay bounded whatever paths clients send.
 */

type Line = Record<string, unknown>;

/** The http_request line of one response, found by its activity id (bounded poll: the line is written on finish). */
async function lineOf(t: TestApp, activityId: string): Promise<{ line: Line; raw: string }> {
  for (let i = 0; i < 200; i++) {
    const lines = t.logs.lines.filter(
      (l) => l.event === 'http_request' && l.activityId === activityId,
    );
    if (lines.length > 0) {
      assert.equal(lines.length, 1, 'one line per request');
      const raw = t.logs.raw.filter((r) => r.includes('"http_request"') && r.includes(activityId));
      assert.equal(raw.length, 1);
      return { line: lines[0] as Line, raw: raw[0] as string };
    }
    await new Promise<void>((r) => setImmediate(r));
  }
  assert.fail(`no http_request line for activity ${activityId}`);
}

function activity(res: request.Response): string {
  const id = res.headers['x-activity-id'];
  assert.equal(typeof id, 'string');
  return id as string;
}

async function scrape(t: TestApp): Promise<string> {
  const res = await request(
    managementApp({
      lifecycle: t.services.lifecycle,
      store: t.services.store,
      directory: t.services.directory,
      keysLoaded: () => true,
      metrics: t.services.metrics,
    }),
  ).get('/metrics');
  assert.equal(res.status, 200);
  return res.text;
}

/** One sample's value from the Prometheus text format, labels in any order; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} (\S+)$/.exec(line);
    if (m?.[1] !== name || m[2] === undefined || m[3] === undefined) continue;
    const got = new Map<string, string>();
    for (const x of m[2].matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g))
      got.set(x[1] ?? '', x[2] ?? '');
    if (Object.entries(labels).every(([k, v]) => got.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}

test('each request writes one line with its route name, method, status, duration and activity id', async () => {
  const t = await makeTestApp();
  try {
    const md = await request(t.app).get('/federationmetadata/2007-06/federationmetadata.xml');
    assert.equal(md.status, 200);
    const { line } = await lineOf(t, activity(md));
    assert.equal(line.route, 'metadata');
    assert.equal(line.method, 'GET');
    assert.equal(line.status, 200);
    assert.equal(typeof line.durationMs, 'number');
    assert.ok((line.durationMs as number) >= 0);
    assert.equal(line.level, 30, 'info');
    assert.equal(line.stream, undefined, 'operational log, not the audit stream');

    // Load-balancer probes are logged at debug only (one every few seconds from every balancer).
    const probe = await request(t.app).get('/adfs/probe');
    assert.equal(probe.status, 200);
    await lineOf(t, activity(await request(t.app).get('/adfs/nothing/either')));
    assert.ok(
      !t.logs.lines.some((l) => l.activityId === activity(probe)),
      'no info line for the probe',
    );

    const nope = await request(t.app).get('/adfs/nothing/here');
    assert.equal(nope.status, 404);
    const n = (await lineOf(t, activity(nope))).line;
    assert.equal(n.route, 'unmatched');
    assert.equal(n.status, 404);

    const soap = await request(t.app)
      .post('/adfs/services/trust/13/usernamemixed')
      .type('application/soap+xml')
      .send('<not-soap/>');
    const s = (await lineOf(t, activity(soap))).line;
    assert.equal(s.route, 'wstrust13');
    assert.equal(s.method, 'POST');
    assert.equal(s.status, soap.status);
  } finally {
    await t.close();
  }
});

test('the line never carries the query string, the posted password or the token', async () => {
  const t = await makeTestApp();
  try {
    const ctx = `ctx-${randomUUID()}`;
    const password = 'Passw0rd!';
    const r = await signIn(t.app, {
      username: 'alice@fedgate.test',
      password,
      realm: 'urn:fedgate:test',
      query: { wctx: ctx },
    });
    assert.equal(r.res.status, 200);
    const wresult = /name="wresult" value="([^"]{40})/.exec(r.res.text)?.[1];
    assert.ok(wresult !== undefined, 'a token was issued');

    const post = await lineOf(t, activity(r.res));
    assert.equal(post.line.route, 'passive');
    assert.equal(post.line.method, 'POST');
    assert.equal(post.line.status, 200);
    // The sign-in page request carried wctx in its query string: its line has the route, not the URL.
    const pages = t.logs.raw.filter((l) => l.includes('"http_request"'));
    assert.equal(pages.length, 2, 'the sign-in page and the credential post');
    for (const raw of pages) {
      assert.ok(!raw.includes(ctx), `query string in ${raw}`);
      assert.ok(!raw.includes('wsignin1.0'), `query string in ${raw}`);
      assert.ok(!raw.includes(password), `password in ${raw}`);
      assert.ok(!raw.includes(wresult), `token in ${raw}`);
      assert.ok(!raw.includes('alice'), `user name in ${raw}`);
    }
  } finally {
    await t.close();
  }
});

test('/metrics counts requests by route name, method and status, and times them by route', async () => {
  const t = await makeTestApp();
  try {
    const before = await scrape(t);
    assert.equal(
      sample(before, 'fedgate_http_requests_total', { route: 'metadata' }),
      undefined,
      'nothing counted before the first request',
    );
    for (let i = 0; i < 2; i++)
      assert.equal(
        (await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml')).status,
        200,
      );
    assert.equal((await request(t.app).post('/adfs/probe')).status, 404);

    const text = await scrape(t);
    assert.equal(
      sample(text, 'fedgate_http_requests_total', {
        route: 'metadata',
        method: 'GET',
        status: '200',
      }),
      2,
    );
    assert.equal(
      sample(text, 'fedgate_http_requests_total', {
        route: 'probe',
        method: 'POST',
        status: '404',
      }),
      1,
    );
    assert.equal(
      sample(text, 'fedgate_http_request_duration_seconds_count', { route: 'metadata' }),
      2,
    );
    assert.equal(
      sample(text, 'fedgate_http_request_duration_seconds_bucket', {
        route: 'metadata',
        le: '+Inf',
      }),
      2,
    );
  } finally {
    await t.close();
  }
});

test('paths outside the route table share one label: clients cannot grow the metrics', async () => {
  const t = await makeTestApp();
  try {
    const paths = Array.from({ length: 25 }, (_, i) => `/adfs/ls/x${String(i)}-${randomUUID()}`);
    for (const p of paths) assert.equal((await request(t.app).get(p)).status, 404);
    const text = await scrape(t);
    for (const p of paths)
      assert.ok(!text.includes(p.slice(-36)), `a raw path became a label: ${p}`);
    assert.equal(
      sample(text, 'fedgate_http_requests_total', {
        route: 'unmatched',
        method: 'GET',
        status: '404',
      }),
      25,
    );
    const routes = new Set(
      [...text.matchAll(/^fedgate_http_requests_total\{[^}]*route="([^"]*)"/gm)].map((m) => m[1]),
    );
    assert.deepEqual([...routes], ['unmatched']);
  } finally {
    await t.close();
  }
});

test('every path in the route table is served (the table and the routers agree)', async () => {
  // At debug, so the load-balancer checks (logged at debug only) have their lines too.
  const t = await makeTestApp({ saml2: { idpInitiatedSignOn: true }, log: { level: 'debug' } });
  try {
    const management = managementApp({
      lifecycle: t.services.lifecycle,
      store: t.services.store,
      directory: t.services.directory,
      keysLoaded: () => true,
      metrics: t.services.metrics,
    });
    // The certificate routes exist only with certificate authentication configured (a PKI and a TLS listener):
    // tests/integration/certificate-*.test.ts drive them. /metrics is on the management listener.
    const elsewhere = new Set<RouteName>(['certificate', 'certificateComplete']);
    const unserved: string[] = [];
    for (const [name, path] of Object.entries(ROUTES) as [RouteName, string][]) {
      if (elsewhere.has(name)) continue;
      const app = name === 'metrics' ? management : t.app;
      const get = await request(app).get(path);
      const post = await request(app).post(path).type('form').send('a=b');
      // 404 from both methods is the not-found page: nothing is mounted there.
      if (get.status === 404 && post.status === 404)
        unserved.push(`${name} ${path}: GET ${String(get.status)}, POST ${String(post.status)}`);
      // A served path's requests carry its name, not 'unmatched'.
      if (name !== 'metrics') assert.equal((await lineOf(t, activity(get))).line.route, name, path);
    }
    assert.deepEqual(unserved, []);
  } finally {
    await t.close();
  }
});

test('a client that goes away before any response still gets its line: aborted, status 499', async () => {
  // A handler that never answers (nothing in fedgate stalls on purpose, so the middleware is mounted on its own
  // in front of one), real express and a real socket closed by the client.
  const logs = new LogCapture();
  const log = pino({ level: 'info' }, logs);
  const metrics = new Metrics();
  const app = express();
  app.use(requestLog({ log, metrics }));
  app.get('/adfs/ls', () => {
    /* never answers */
  });
  const server = createServer(app);
  try {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const arrived = new Promise<void>((r) =>
      server.once('request', () => {
        r();
      }),
    );
    const socket = connect(port, '127.0.0.1');
    socket.write('GET /adfs/ls/?wctx=secret-ctx HTTP/1.1\r\nHost: sts.fedgate.test\r\n\r\n');
    await arrived;
    socket.destroy();
    let line: Line | undefined;
    for (let i = 0; i < 2000 && line === undefined; i++) {
      line = logs.lines.find((l) => l.event === 'http_request');
      if (line === undefined) await new Promise<void>((r) => setTimeout(r, 5));
    }
    assert.ok(line !== undefined, 'no line for the aborted request');
    assert.equal(line.route, 'passive');
    assert.equal(line.method, 'GET');
    assert.equal(line.aborted, true);
    assert.equal(line.status, 499, 'not the default 200 of a response never sent');
    assert.ok(!JSON.stringify(line).includes('secret-ctx'));
    const text = await metrics.registry.metrics();
    assert.equal(
      sample(text, 'fedgate_http_requests_total', {
        route: 'passive',
        method: 'GET',
        status: '499',
      }),
      1,
    );
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) =>
      server.close(() => {
        r();
      }),
    );
  }
});

test('with log.level debug the probe and health checks are logged too, at debug', async () => {
  const t = await makeTestApp({ log: { level: 'debug' } });
  try {
    const probe = await request(t.app).get('/adfs/probe');
    assert.equal(probe.status, 200);
    const { line } = await lineOf(t, activity(probe));
    assert.equal(line.route, 'probe');
    assert.equal(line.level, 20, 'debug');
    const md = await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml');
    assert.equal((await lineOf(t, activity(md))).line.level, 30, 'everything else at info');
  } finally {
    await t.close();
  }
});
