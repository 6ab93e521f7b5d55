import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import request from 'supertest';
import { resolveConfig } from '../../server/config/load.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import { createDirectory } from '../../server/directory/index.ts';
import { Lifecycle, readiness } from '../../server/http/health.ts';
import { systemClock } from '../../server/lib/clock.ts';
import { startServer } from '../../server/main.ts';
import { MemoryStore } from '../../server/stores/memory.ts';
import { LogCapture, makeTestApp, signIn } from '../helpers/app.ts';
import { get } from '../farm/farm.ts';

function config(input: ConfigInput = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-health-'));
  return resolveConfig(
    {
      hostname: 'sts.fedgate.test',
      listen: { port: 0, host: '127.0.0.1', tls: 'off' },
      keys: { dir: join(dir, 'keys') },
      testRelyingParty: true,
      management: { port: 0 },
      shutdown: { drainDelayMs: 400, timeoutMs: 2000 },
      ...input,
    },
    { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
  );
}

test('probe, live and ready answer 200 on a serving node; draining turns probe and ready to 503 at once', async () => {
  const t = await makeTestApp();
  try {
    assert.equal((await request(t.app).get('/adfs/probe')).status, 200);
    assert.equal((await request(t.app).get('/healthz/live')).status, 200);
    const ready = await request(t.app).get('/healthz/ready');
    assert.equal(ready.status, 200);
    assert.equal((ready.body as { store: boolean }).store, true);
    t.services.lifecycle.startDraining();
    const probe = await request(t.app).get('/adfs/probe');
    assert.equal(probe.status, 503);
    assert.equal(probe.headers.connection, 'close');
    assert.equal((await request(t.app).get('/healthz/ready')).status, 503);
    assert.equal(
      (await request(t.app).get('/healthz/live')).status,
      200,
      'liveness never depends on draining',
    );
    // Still serving while draining: a sign-in completes.
    const r = await signIn(t.app, {
      username: 'alice@fedgate.test',
      password: 'Passw0rd!',
      realm: 'urn:fedgate:test',
    });
    assert.equal(r.res.status, 200);
    assert.match(r.res.text, /name="wresult"/);
    // Metrics fed from the audit stream: success with its issuance latency, and a failure by kind.
    await signIn(t.app, {
      username: 'bob@fedgate.test',
      password: 'wrong-password',
      realm: 'urn:fedgate:test',
    });
    const text = await t.services.metrics.registry.metrics();
    assert.match(text, /fedgate_token_issuance_seconds_count\{protocol="wsfed"\} 1\n/);
    assert.match(
      text,
      /fedgate_signins_total\{protocol="wsfed",trust="urn:fedgate:test",method="password",result="success"\} 1\n/,
    );
    assert.match(text, /fedgate_signins_total\{[^}]*result="bad_credentials"\} 1\n/);
    assert.match(
      text,
      /fedgate_directory_operation_seconds_count\{operation="authenticate",result="ok"\} 2\n/,
    );
  } finally {
    await t.close();
  }
});

test('readiness: not ready when every DC is demoted by the failover breaker (no LDAP traffic to find out)', async () => {
  const c = config();
  const dir = await createDirectory(c.directory, {
    logger: {
      warn: () => undefined,
      info: () => undefined,
      error: () => undefined,
      debug: () => undefined,
    } as never,
    clock: systemClock,
    baseDir: c.baseDir,
  });
  let healthy = true;
  const withBreaker = Object.assign(Object.create(dir) as typeof dir, {
    circuitState: () => [
      { url: 'ldaps://dc1', healthy },
      { url: 'ldaps://dc2', healthy: false },
    ],
  });
  const deps = {
    lifecycle: new Lifecycle(),
    store: new MemoryStore(systemClock),
    directory: withBreaker,
    keysLoaded: () => true,
  };
  assert.equal((await readiness(deps)).ready, true);
  healthy = false;
  const r = await readiness(deps);
  assert.equal(r.ready, false);
  assert.equal(r.checks.directory, false);
  await dir.close();
});

test('graceful shutdown: 503 probe at once, serves during the drain delay, then stops accepting; metrics on the management port', async () => {
  const logs = new LogCapture();
  const running = await startServer(config(), { logDestination: logs });
  const base = `http://127.0.0.1:${running.port}`;
  assert.ok(running.management !== undefined);
  const mgmt = `http://127.0.0.1:${running.management.port}`;
  // Metrics only on the management listener; with one, the health details (which DCs are down) are not public.
  assert.equal((await get(`${base}/metrics`)).status, 404);
  assert.equal((await get(`${base}/healthz/ready`)).status, 404);
  assert.equal((await get(`${base}/healthz/live`)).status, 404);
  assert.equal((await get(`${mgmt}/healthz/ready`)).status, 200);
  const m = await get(`${mgmt}/metrics`);
  assert.equal(m.status, 200);
  assert.match(m.body, /# TYPE fedgate_signins_total counter/);
  assert.match(m.body, /fedgate_draining 0/);

  const done = running.shutdown();
  assert.equal((await get(`${base}/adfs/probe`)).status, 503);
  assert.equal((await get(`${mgmt}/healthz/ready`)).status, 503);
  const page = await get(`${base}/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afedgate%3Atest`);
  assert.equal(page.status, 200, 'still serving during the drain delay');
  assert.equal(page.headers.connection, 'close');
  await done;
  await assert.rejects(get(`${base}/adfs/probe`), /ECONNREFUSED/);
  await assert.rejects(get(`${mgmt}/healthz/live`), /ECONNREFUSED/);
});
