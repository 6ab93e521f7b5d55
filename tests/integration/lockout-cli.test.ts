// `fedgate lockout show|reset USER`, spawned as an operator runs it, against the Samba AD DC and a real Redis that a
// running fedgate instance (makeTestApp, same Redis) writes its smart-lockout state to.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { isTokenPage, signInFrom } from '../helpers/account-protection.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import {
  readObjectGuidWithCli,
  sambaEnv,
  sambaLdapConfig,
  sambaOperatorDirectory,
  type SambaEnv,
} from '../helpers/samba.ts';
import { runCli } from '../helpers/cli.ts';

const THRESHOLD = 3;
const FAMILIAR = '203.0.113.44';
// wstrust1 only ever signs in successfully in the suite: this test adds no bad password to it in AD. The failures
// are recorded through the running instance's own SmartLockout (the object its sign-in path calls), so the
// account's AD badPwdCount is untouched; the refusal itself is then shown by a real sign-in.
const USER = 'wstrust1';

function configDir(env: SambaEnv, store: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-lockout-cli-'));
  const config = {
    hostname: 'sts.corp.example.test',
    listen: { port: 0, tls: 'off' },
    keys: { dir: join(dir, 'keys') },
    directory: sambaOperatorDirectory(env),
    store,
    lockout: { threshold: THRESHOLD, observationWindowMinutes: 30 },
    log: { level: 'silent' },
  };
  writeFileSync(join(dir, 'fedgate.yaml'), stringify(config));
  return dir;
}

describe('fedgate lockout show|reset against Samba and Redis', () => {
  let env: SambaEnv;
  let redis: TestRedis;
  let t: TestApp;
  let dir: string;
  let account: string;

  before(async () => {
    env = sambaEnv();
    redis = await startRedis();
    t = await makeTestApp({
      directory: sambaLdapConfig(env),
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      store: { kind: 'redis', url: redis.url },
      lockout: { threshold: THRESHOLD, observationWindowMinutes: 30 },
    });
    dir = configDir(env, { kind: 'redis', url: redis.url });
    account = `guid:${readObjectGuidWithCli(env, USER).toString('base64')}`;
  });
  after(async () => {
    await (t as TestApp | undefined)?.close();
    await (redis as TestRedis | undefined)?.stop();
  });

  test('show resolves every name form to the account; reset clears it, audited, and sign-in works again', async () => {
    const pw = env.users[USER].password;
    const ok = await signInFrom(t.app, { username: USER, password: pw, xff: FAMILIAR });
    assert.ok(isTokenPage(ok.res), ok.res.text.slice(0, 300));
    for (let i = 0; i < THRESHOLD; i++) await t.services.lockout.recordFailure(account, 'unknown');
    // The server refuses even the right password from an unknown address now (no bind while locked).
    const refused = await signInFrom(t.app, { username: USER, password: pw, xff: '198.51.100.7' });
    assert.ok(!isTokenPage(refused.res));
    assert.equal(t.logs.events('extranet_lockout').length, 1);

    for (const name of [USER, `CORP\\${USER}`, env.users[USER].upn.toUpperCase()]) {
      const r = runCli(['lockout', 'show', name, '--config', 'fedgate.yaml'], dir);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`CORP\\\\${USER} \\(${env.users[USER].upn}\\)`, 'i'));
      assert.ok(r.stdout.includes(account.slice('guid:'.length)), r.stdout);
      assert.match(r.stdout, /unknown\s+bad passwords 3\/3\s+LOCKED until \d{4}-\d\d-\d\dT/);
      assert.match(r.stdout, /familiar\s+bad passwords 0\/3\s+not locked/);
      assert.match(r.stdout, /last failure \d{4}-\d\d-\d\dT/);
      assert.ok(r.stdout.includes(`familiar locations (1): ${FAMILIAR}`), r.stdout);
      assert.match(r.stdout, /store redis/);
      assert.ok(!r.stdout.includes('NOTE: the store is memory'));
    }

    const j = runCli(
      ['lockout', 'show', env.users[USER].upn, '--json', '--config', 'fedgate.yaml'],
      dir,
    );
    assert.equal(j.status, 0, j.stderr);
    const shown = JSON.parse(j.stdout) as {
      account: string;
      unknown: { count: number; lastFailure?: string; lockedUntil?: string };
      familiar: { count: number };
      familiarLocations: string[];
      user: { objectGuid: string } | null;
    };
    assert.equal(shown.account, account);
    assert.equal(shown.unknown.count, THRESHOLD);
    assert.ok(shown.unknown.lastFailure !== undefined && shown.unknown.lockedUntil !== undefined);
    // Locked until = last failure + the 30-minute observation window.
    assert.equal(
      Date.parse(shown.unknown.lockedUntil) - Date.parse(shown.unknown.lastFailure),
      30 * 60_000,
    );
    assert.deepEqual(shown.familiarLocations, [FAMILIAR]);
    assert.equal(shown.user?.objectGuid, account.slice('guid:'.length));

    const reset = runCli(['lockout', 'reset', `corp\\${USER}`, '--config', 'fedgate.yaml'], dir);
    assert.equal(reset.status, 0, reset.stderr);
    assert.match(reset.stdout, /cleared 0 familiar and 3 unknown bad-password counts/);
    assert.match(reset.stdout, /unknown\s+bad passwords 0\/3\s+not locked/);
    assert.ok(reset.stdout.includes(`familiar locations (1): ${FAMILIAR}`), 'locations kept');
    const auditLine = reset.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => e.event === 'lockout_reset');
    assert.ok(auditLine !== undefined, reset.stderr);
    assert.equal(auditLine.account, account);
    assert.equal(auditLine.unknownCount, THRESHOLD);
    assert.equal(auditLine.stream, 'audit');
    assert.equal(typeof auditLine.node, 'string');

    // The running instance sees the reset at once (shared Redis): the user signs in from a new address.
    assert.equal((await t.services.lockout.show(account)).unknown.count, 0);
    const again = await signInFrom(t.app, { username: USER, password: pw, xff: '198.51.100.8' });
    assert.ok(isTokenPage(again.res), again.res.text.slice(0, 300));

    // --forget-locations also drops the familiar list.
    const forget = runCli(
      ['lockout', 'reset', USER, '--forget-locations', '--json', '--config', 'fedgate.yaml'],
      dir,
    );
    assert.equal(forget.status, 0, forget.stderr);
    assert.deepEqual(
      (JSON.parse(forget.stdout) as { familiarLocations: string[] }).familiarLocations,
      [],
    );
  });

  test('a name the directory does not know shows the counters kept for that name', async () => {
    await t.services.lockout.recordFailure('name:nosuchuser', 'unknown');
    const r = runCli(['lockout', 'show', 'CORP\\NoSuchUser', '--config', 'fedgate.yaml'], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /"CORP\\NoSuchUser" is not in the directory/);
    assert.match(r.stdout, /key name:nosuchuser/);
    assert.match(r.stdout, /unknown\s+bad passwords 1\/3/);
  });

  test('with the memory store the output says the state is per process', () => {
    const memDir = configDir(env, { kind: 'memory' });
    const r = runCli(['lockout', 'show', USER, '--config', 'fedgate.yaml'], memDir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /NOTE: the store is memory/);
    assert.match(r.stdout, /store\.kind redis/);
  });

  test('usage errors exit 2; an unreachable Redis is a clear error, exit 1', async () => {
    const r = runCli(['lockout', 'show'], dir);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /lockout show\|reset USER/);
    const down = await startRedis();
    await down.stop();
    const deadDir = configDir(env, { kind: 'redis', url: down.url, connectTimeoutMs: 200 });
    const d = runCli(['lockout', 'show', USER, '--config', 'fedgate.yaml'], deadDir);
    assert.equal(d.status, 1, d.stdout);
    assert.match(d.stderr, /^fedgate: cannot reach the Redis store: /m);
    assert.ok(!/\n\s+at /.test(d.stderr), 'no stack trace');
  });
});
