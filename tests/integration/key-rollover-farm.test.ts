/**
 * Issue 18 across a farm: nodes that share one keys.dir and one real Redis (tests/setup/redis.sh).
 * - "Two nodes share one keys directory. One rolls over, and the other serves the new metadata without a restart":
 *   node B notices node A's generation and promotion through its own reload timer (keys.reloadIntervalSeconds 1),
 *   waited for with a bounded poll, and then signs with the new primary (xmlsec1 against the certificate B's
 *   metadata names first).
 * - "Concurrent runs across the farm produce one new key (a lock in the store)": six runIfDue() at once, spread over
 *   three nodes' services, when generation is due: one key is made, counted in the manifest and in the files.
 * - The same race with no shared store (each node its own memory store): the lock file in keys.dir alone holds.
 * - A node whose ring has not yet taken in another node's generation does not generate a second key: the plan is
 *   made from the disk inside the lock, not from what the node loaded earlier.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DOMParser } from '@xmldom/xmldom';
import request from 'supertest';
import type { ConfigInput } from '../../server/config/schema.ts';
import type { RolloverResult } from '../../server/keys/rollover.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { hidden, makeTestApp, signIn, type TestApp } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import {
  METADATA_ID_ATTR,
  SAML11_ID_ATTR,
  extractAssertionFromRstr,
  verifyWithXmlsec1,
} from '../helpers/verify.ts';

const DAY = 24 * 3600 * 1000;
const T0 = new Date('2027-02-01T09:00:00.000Z');
const ALICE = { username: 'alice@fedgate.test', password: 'Passw0rd!' };
const METADATA = '/FederationMetadata/2007-06/FederationMetadata.xml';
const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';

/** The signing certificates of the metadata's KeyDescriptor use="signing" in its STS role, base64 DER, in order. */
function signingCerts(xml: string): string[] {
  const doc = new DOMParser({
    errorHandler: (level: string, msg: unknown) => {
      throw new Error(`metadata does not parse (${level}): ${String(msg)}`);
    },
  }).parseFromString(xml, 'text/xml');
  const [role] = Array.from(doc.getElementsByTagNameNS(MD, 'RoleDescriptor'));
  assert.ok(role !== undefined, 'an STS RoleDescriptor');
  return Array.from(role.getElementsByTagNameNS(MD, 'KeyDescriptor'))
    .filter((kd) => kd.getAttribute('use') === 'signing')
    .flatMap((kd) => Array.from(kd.getElementsByTagNameNS(DS, 'X509Certificate')))
    .map((c) => c.textContent.replace(/\s+/g, ''));
}
const pemOf = (b64: string): string => new X509Certificate(Buffer.from(b64, 'base64')).toString();
const sha1 = (b64: string): string =>
  new X509Certificate(Buffer.from(b64, 'base64')).fingerprint.replace(/:/g, '');

async function metadataOf(t: TestApp): Promise<string> {
  const res = await request(t.app).get(METADATA);
  assert.equal(res.status, 200);
  return res.text;
}

/** Polls `check` (no fixed sleep: each round waits for a short timer only while the answer is still no). */
async function until(what: string, check: () => Promise<boolean>, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** The manifest's entries and the key/certificate files in keys.dir, as a reader of the directory sees them. */
function onDisk(dir: string): { entries: { role: string; thumbprint: string }[]; pem: string[] } {
  const m = JSON.parse(readFileSync(join(dir, 'token-signing.json'), 'utf8')) as {
    keys: { role: string; thumbprint: string }[];
  };
  return {
    entries: m.keys.map((k) => ({ role: k.role, thumbprint: k.thumbprint })),
    pem: readdirSync(dir).filter((f) => f.endsWith('.pem') && f.startsWith('token-signing')),
  };
}

describe('key rollover across a farm (shared keys.dir, real Redis)', () => {
  let redis: TestRedis;
  const nodes: TestApp[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const n of nodes) await n.close();
    await (redis as TestRedis | undefined)?.stop();
  });

  async function node(
    keysDir: string,
    clock: FixedClock,
    input: ConfigInput = {},
  ): Promise<TestApp> {
    const t = await makeTestApp(
      {
        keys: { dir: keysDir, reloadIntervalSeconds: 1 },
        store: { kind: 'redis', url: redis.url },
        ...input,
      },
      { clock },
    );
    nodes.push(t);
    return t;
  }

  test('node A rolls over; node B serves the new metadata and signs with the new primary, without a restart', async () => {
    const keysDir = join(mkdtempSync(join(tmpdir(), 'fedgate-farm-')), 'keys');
    const clockA = new FixedClock(T0);
    const clockB = new FixedClock(T0);
    const a = await node(keysDir, clockA);
    const b = await node(keysDir, clockB);
    const servicesB = b.services;
    const [k1 = ''] = signingCerts(await metadataOf(b));
    assert.deepEqual(signingCerts(await metadataOf(a)), [k1], 'both nodes start on the same key');

    // Generation on A (fedgate keys rollover --now, in-process).
    const gen = await a.services.keyLifecycle.generateNow();
    assert.ok(
      gen.status === 'done' && gen.changes.length === 1,
      "gen.status === 'done' && gen.changes.length === 1",
    );
    const [, k2 = ''] = signingCerts(await metadataOf(a));
    assert.notEqual(k2, '');
    await until('B to publish the next certificate', async () => {
      return signingCerts(await metadataOf(b)).length === 2;
    });
    const mdB1 = await metadataOf(b);
    assert.deepEqual(
      signingCerts(mdB1).map(sha1),
      [sha1(k1), sha1(k2)],
      'primary first, then next',
    );
    assert.ok(
      verifyWithXmlsec1(mdB1, pemOf(k1), METADATA_ID_ATTR).ok,
      'B signs its metadata with K1',
    );
    const tokenB1 = await tokenFrom(b);
    assert.ok(verifyWithXmlsec1(tokenB1, pemOf(k1), SAML11_ID_ATTR).ok, 'B still signs with K1');
    assert.ok(
      !verifyWithXmlsec1(tokenB1, pemOf(k2), SAML11_ID_ATTR).ok,
      '!verifyWithXmlsec1(tokenB1, pemOf(k2), SAML11_ID_ATTR).ok',
    );

    // Promotion on A, five days later.
    clockA.advance(5 * DAY);
    clockB.advance(5 * DAY);
    const prom = await a.services.keyLifecycle.promoteNow();
    assert.ok(
      prom.status === 'done' && prom.changes[0]?.action === 'promoted',
      "prom.status === 'done' && prom.changes[0]?.action === 'promoted'",
    );
    await until('B to sign with the new primary', async () => {
      return sha1(signingCerts(await metadataOf(b))[0] ?? '') === sha1(k2);
    });
    const mdB2 = await metadataOf(b);
    assert.deepEqual(
      signingCerts(mdB2).map(sha1),
      [sha1(k2), sha1(k1)],
      'K1 kept for the grace period',
    );
    const x1 = verifyWithXmlsec1(mdB2, pemOf(k2), METADATA_ID_ATTR);
    assert.ok(x1.ok, x1.output);
    const tokenB2 = await tokenFrom(b);
    const x2 = verifyWithXmlsec1(tokenB2, pemOf(k2), SAML11_ID_ATTR);
    assert.ok(
      x2.ok,
      `B's token verifies with the certificate its metadata names first: ${x2.output}`,
    );
    assert.ok(
      !verifyWithXmlsec1(tokenB2, pemOf(k1), SAML11_ID_ATTR).ok,
      '!verifyWithXmlsec1(tokenB2, pemOf(k1), SAML11_ID_ATTR).ok',
    );
    assert.equal(b.services, servicesB, 'the same node, not restarted');
    assert.equal(b.services.signing.thumbprintSha1, sha1(k2));
    assert.ok(b.logs.events('keys_reloaded').length >= 2, 'B logged both reloads');
    // B took no step itself: every key_rollover event is A's.
    assert.deepEqual(b.logs.events('key_rollover'), []);
    assert.deepEqual(
      a.logs.events('key_rollover').map((e) => e.action),
      ['generated', 'promoted'],
    );
  });

  async function tokenFrom(t: TestApp): Promise<string> {
    const { res } = await signIn(t.app, ALICE);
    assert.equal(res.status, 200, res.text.slice(0, 300));
    return extractAssertionFromRstr(hidden(res.text, 'wresult'));
  }

  /**
   * Three nodes on one keys.dir, six rollover checks at once at `when`; returns what they did. `shared`: one Redis
   * store (else each node its own memory store, so only the lock file in keys.dir is shared).
   */
  async function race(shared: boolean): Promise<{
    keysDir: string;
    farm: TestApp[];
    clocks: FixedClock[];
    notAfter: Date;
  }> {
    const keysDir = join(mkdtempSync(join(tmpdir(), 'fedgate-farm-race-')), 'keys');
    const clocks = [new FixedClock(T0), new FixedClock(T0), new FixedClock(T0)];
    const farm: TestApp[] = [];
    for (const c of clocks)
      farm.push(
        shared ? await node(keysDir, c) : await node(keysDir, c, { store: { kind: 'memory' } }),
      );
    const notAfter = farm[0]?.services.signing.notAfter;
    assert.ok(notAfter !== undefined, 'notAfter !== undefined');
    return { keysDir, farm, clocks, notAfter };
  }

  async function sixAtOnce(farm: TestApp[]): Promise<{ changes: string[]; busy: number }> {
    const calls: Promise<RolloverResult>[] = [];
    for (let i = 0; i < 6; i++) {
      const t = farm[i % farm.length];
      assert.ok(t !== undefined, 't !== undefined');
      calls.push(t.services.keyLifecycle.runIfDue());
    }
    const results = await Promise.all(calls);
    return {
      changes: results.flatMap((r) =>
        r.status === 'busy' ? [] : r.changes.map((c) => `${c.action}:${c.role}`),
      ),
      busy: results.filter((r) => r.status === 'busy').length,
    };
  }

  for (const shared of [true, false]) {
    test(`six concurrent rollover checks on three nodes make one new key (${shared ? 'one Redis store' : 'no shared store: the lock file alone'})`, async () => {
      const { keysDir, farm, clocks, notAfter } = await race(shared);
      // Generation due: exactly 20 days before the primary expires.
      for (const c of clocks) c.set(notAfter.getTime() - 20 * DAY);
      const g = await sixAtOnce(farm);
      assert.deepEqual(g.changes, ['generated:next'], 'one generation in all');
      assert.ok(g.busy >= 1, 'the checks overlapped (some found the lock taken)');
      const gen = onDisk(keysDir);
      assert.deepEqual(gen.entries.map((e) => e.role).sort(), ['next', 'primary']);
      assert.equal(gen.pem.length, 4, `one key and one certificate each: ${gen.pem.join(', ')}`);

      // Promotion due five days later: one promotion.
      for (const c of clocks) c.advance(5 * DAY);
      assert.deepEqual((await sixAtOnce(farm)).changes, ['promoted:primary']);
      assert.deepEqual(
        onDisk(keysDir)
          .entries.map((e) => e.role)
          .sort(),
        ['previous', 'primary'],
      );

      // Grace over seven days later: one retirement, the old files gone.
      for (const c of clocks) c.advance(7 * DAY);
      assert.deepEqual((await sixAtOnce(farm)).changes, ['retired:removed']);
      const end = onDisk(keysDir);
      assert.deepEqual(
        end.entries.map((e) => e.role),
        ['primary'],
      );
      assert.equal(end.pem.length, 2);
      assert.deepEqual(
        readdirSync(keysDir).filter((f) => f.endsWith('.tmp') || f === '.rollover.lock'),
        [],
      );
    });
  }

  test('with keys.passphrase the next key is written as encrypted PKCS#8 and the other node loads it', async () => {
    const keysDir = join(mkdtempSync(join(tmpdir(), 'fedgate-farm-pass-')), 'keys');
    const passphrase = 'farm-wide key passphrase';
    const keys = { dir: keysDir, reloadIntervalSeconds: 1, passphrase };
    const a = await node(keysDir, new FixedClock(T0), { keys });
    const b = await node(keysDir, new FixedClock(T0), { keys });
    const gen = await a.services.keyLifecycle.generateNow();
    assert.ok(gen.status === 'done', "gen.status === 'done'");
    const m = JSON.parse(readFileSync(join(keysDir, 'token-signing.json'), 'utf8')) as {
      keys: { role: string; key: string; thumbprint: string }[];
    };
    const next = m.keys.find((k) => k.role === 'next');
    assert.ok(next !== undefined, 'next !== undefined');
    const keyFile = join(keysDir, next.key);
    assert.match(readFileSync(keyFile, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    // openssl opens it with the passphrase, and not without it.
    execFileSync('openssl', ['pkey', '-in', keyFile, '-passin', `pass:${passphrase}`, '-noout']);
    assert.throws(() =>
      execFileSync(
        'openssl',
        ['pkey', '-in', keyFile, '-passin', 'pass:wrong passphrase', '-noout'],
        {
          stdio: 'pipe',
        },
      ),
    );
    await until('B to publish the encrypted next key', async () => {
      return signingCerts(await metadataOf(b))
        .map(sha1)
        .includes(next.thumbprint);
    });
    assert.deepEqual(b.logs.events('key_reload_failed'), []);
  });

  test("a node that has not yet reloaded another node's generation does not make a second key", async () => {
    const keysDir = join(mkdtempSync(join(tmpdir(), 'fedgate-farm-stale-')), 'keys');
    const clockA = new FixedClock(T0);
    const clockB = new FixedClock(T0);
    const a = await node(keysDir, clockA);
    // B polls keys.dir only every hour: its ring still has the primary alone when its rollover check runs.
    const b = await node(keysDir, clockB, { keys: { dir: keysDir, reloadIntervalSeconds: 3600 } });
    const due = a.services.signing.notAfter.getTime() - 19 * DAY;
    clockA.set(due);
    clockB.set(due);
    const ra = await a.services.keyLifecycle.runIfDue();
    assert.ok(
      ra.status === 'done' && ra.changes.length === 1,
      "ra.status === 'done' && ra.changes.length === 1",
    );
    assert.equal(b.services.keys.published().length, 1, 'B has not seen the next key yet');
    const rb = await b.services.keyLifecycle.runIfDue();
    assert.deepEqual(rb, { status: 'done', changes: [] }, 'B plans from the disk: nothing is due');
    assert.equal(onDisk(keysDir).pem.length, 4);
  });
});
