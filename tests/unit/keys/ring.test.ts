/**
 * The token-signing ring's hot reload (issue 18, "Hot reload across the farm"), on real files: key pairs made with
 * the openssl CLI, manifests written by hand (the fedgate-signing-keys/1 format), signatures checked with
 * node:crypto against the certificate's public key. What each defence must do:
 * - a half-written file is never loaded: writers publish through a temporary name and rename(2)/link(2), and the
 *   ring reads only the names the manifest gives (so a temporary file is never looked at);
 * - a file that fails (bad PEM, key of another pair, thumbprint other than the manifest's) is refused for its
 *   entry, logged as key_reload_failed, and the last good version of that entry keeps serving;
 * - the node is not ready (/healthz/ready 503) only when no primary that can sign is left;
 * - the manifest names files inside keys.dir only; encrypted PKCS#8 needs keys.passphrase.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, randomBytes, verify } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import request from 'supertest';
import { KeyRing } from '../../../server/keys/ring.ts';
import { generateNextNow, promoteNow, rolloverIfDue } from '../../../server/keys/rollover.ts';
import { FixedClock } from '../../../server/lib/clock.ts';
import { MemoryStore } from '../../../server/stores/memory.ts';
import { makeTestApp, signIn } from '../../helpers/app.ts';

const DAY = 24 * 3600 * 1000;
const root = mkdtempSync(join(tmpdir(), 'fedgate-ring-test-'));
after(() => {
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
function freshDir(): string {
  const dir = join(root, `r${String(n++)}`, 'keys');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

interface Pair {
  cert: string;
  key: string;
  thumbprint: string;
  certPem: string;
}

/** An RSA-2048 self-signed pair made by the openssl CLI; with `passphrase`, the key is encrypted PKCS#8. */
function opensslPair(dir: string, base: string, passphrase?: string): Pair {
  const key = `${base}.key.pem`;
  const cert = `${base}.crt.pem`;
  const keyPath = join(dir, key);
  if (passphrase === undefined) {
    execFileSync('openssl', [
      ...['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyPath],
    ]);
  } else {
    execFileSync('openssl', [
      ...['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-aes-256-cbc'],
      ...['-pass', `pass:${passphrase}`, '-out', keyPath],
    ]);
  }
  chmodSync(keyPath, 0o600);
  execFileSync('openssl', [
    ...['req', '-x509', '-key', keyPath, '-sha256', '-days', '365'],
    ...(passphrase === undefined ? [] : ['-passin', `pass:${passphrase}`]),
    ...['-subj', `/CN=fedgate Signing - ${base}`, '-out', join(dir, cert)],
  ]);
  const certPem = readFileSync(join(dir, cert), 'utf8');
  const thumbprint = new X509Certificate(certPem).fingerprint.replace(/:/g, '');
  return { cert, key, thumbprint, certPem };
}

/** The pairs are expensive to make: a few, made once, copied into each test's directory. */
const pairsDir = join(root, 'pairs');
mkdirSync(pairsDir, { recursive: true, mode: 0o700 });
const A = opensslPair(pairsDir, 'a');
const B = opensslPair(pairsDir, 'b');
const C = opensslPair(pairsDir, 'c');
const PASSPHRASE = 'correct horse battery staple';
const E = opensslPair(pairsDir, 'e', PASSPHRASE);

function place(dir: string, ...pairs: Pair[]): void {
  for (const p of pairs) {
    writeFileSync(join(dir, p.cert), readFileSync(join(pairsDir, p.cert)), { mode: 0o644 });
    writeFileSync(join(dir, p.key), readFileSync(join(pairsDir, p.key)), { mode: 0o600 });
  }
}

interface Entry {
  role: 'primary' | 'next' | 'previous';
  cert: string;
  key?: string;
  thumbprint: string;
  added?: string;
  retired?: string;
}

/** Writes the manifest the way a correct writer does: a temporary name, then rename(2). */
function writeManifest(dir: string, entries: Entry[]): void {
  const body = JSON.stringify({
    format: 'fedgate-signing-keys/1',
    keys: entries.map((e) => ({
      added: '2026-01-01T00:00:00.000Z',
      source: 'imported',
      ...e,
    })),
  });
  const tmp = join(dir, `.token-signing.json.${randomBytes(4).toString('hex')}.tmp`);
  writeFileSync(tmp, body, { mode: 0o600 });
  renameSync(tmp, join(dir, 'token-signing.json'));
}
const entry = (role: Entry['role'], p: Pair, over: Partial<Entry> = {}): Entry => ({
  role,
  cert: p.cert,
  key: p.key,
  thumbprint: p.thumbprint,
  ...over,
});

class RingLog {
  readonly lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  info(obj: object, msg: string): void {
    this.lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg });
  }
  warn(obj: object, msg: string): void {
    this.lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg });
  }
  error(obj: object, msg: string): void {
    this.lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg });
  }
  /** The first key_reload_failed line (the test fails when there is none). */
  first(): Record<string, unknown> {
    const [f] = this.failures();
    assert.ok(f !== undefined, 'a key_reload_failed line');
    return f;
  }
  failures(): Record<string, unknown>[] {
    return this.lines.filter((l) => l.obj.event === 'key_reload_failed').map((l) => l.obj);
  }
}

const clock = new FixedClock(Date.now());
function ringOn(dir: string, passphrase?: string): { ring: KeyRing; log: RingLog } {
  const log = new RingLog();
  const ring = new KeyRing({
    dir,
    hostname: 'sts.fedgate.test',
    clock,
    log,
    create: false,
    ...(passphrase === undefined ? {} : { passphrase }),
  });
  return { ring, log };
}

const thumbs = (ring: KeyRing): string[] => ring.published().map((c) => c.thumbprintSha1);

/** The primary signs, and the signature verifies with `p`'s certificate (node:crypto, not the ring). */
function signsAs(ring: KeyRing, p: Pair): boolean {
  const data = randomBytes(32);
  const sig = ring.primary.signSha256(data);
  return verify('sha256', data, new X509Certificate(p.certPem).publicKey, sig);
}

describe('ring: loading a manifest', () => {
  test('primary, next and previous load; published primary first; the primary signs', async () => {
    const dir = freshDir();
    place(dir, A, B, C);
    writeManifest(dir, [
      entry('previous', C, { retired: '2026-01-01T00:00:00.000Z' }),
      entry('next', B),
      entry('primary', A),
    ]);
    const { ring, log } = ringOn(dir);
    await ring.load();
    assert.deepEqual(thumbs(ring), [A.thumbprint, B.thumbprint, C.thumbprint]);
    assert.ok(ring.ready(), "ring.ready()");
    assert.ok(signsAs(ring, A), "signsAs(ring, A)");
    assert.deepEqual(log.failures(), []);
    ring.close();
  });
});

describe('ring: a half-written file is never loaded', () => {
  test('temporary names are never read: a truncated PEM and a half manifest under temp names change nothing', async () => {
    const dir = freshDir();
    place(dir, A, B);
    writeManifest(dir, [entry('primary', A)]);
    const { ring, log } = ringOn(dir);
    await ring.load();
    // A writer in the middle of publishing B: its files and the new manifest exist only under temporary names,
    // each cut short.
    const certPem = B.certPem;
    writeFileSync(join(dir, `.${B.cert}.4242.0a0b0c.tmp`), certPem.slice(0, certPem.length / 2));
    const half = JSON.stringify({
      format: 'fedgate-signing-keys/1',
      keys: [entry('primary', A), entry('next', B)],
    });
    writeFileSync(join(dir, '.token-signing.json.4242.0d0e0f.tmp'), half.slice(0, 60), {
      mode: 0o600,
    });
    assert.equal(await ring.refresh(), false, 'nothing changed for the ring');
    assert.deepEqual(thumbs(ring), [A.thumbprint]);
    assert.deepEqual(log.failures(), [], 'the temporary files were not even looked at');
    // The writer finishes: rename(2) publishes the whole manifest; the ring takes it in.
    writeManifest(dir, [entry('primary', A), entry('next', B)]);
    assert.equal(await ring.refresh(), true);
    assert.deepEqual(thumbs(ring), [A.thumbprint, B.thumbprint]);
    ring.close();
  });

  test('a certificate cut short in place (a writer without rename) is refused, not published', async () => {
    const dir = freshDir();
    place(dir, A, B);
    writeManifest(dir, [entry('primary', A)]);
    const { ring, log } = ringOn(dir);
    await ring.load();
    writeFileSync(join(dir, B.cert), B.certPem.slice(0, 700));
    writeManifest(dir, [entry('primary', A), entry('next', B)]);
    await ring.refresh();
    assert.deepEqual(thumbs(ring), [A.thumbprint], 'the half certificate is not published');
    const f = log.first();
    assert.equal(f.role, 'next');
    assert.match(String(f.reason), /not a PEM X\.509 certificate/);
    assert.ok(ring.ready(), "ring.ready()");
    ring.close();
  });

  test('a rollover publishes every file whole: final names appear only by link/rename, never written in place', async () => {
    const dir = join(root, `r${String(n++)}`, 'keys');
    const now = new FixedClock(Date.now());
    const ring = new KeyRing({ dir, hostname: 'sts.fedgate.test', clock: now, log: new RingLog() });
    await ring.load(); // the single-pair layout, generated
    const events: { type: string; name: string }[] = [];
    const watcher = watch(dir, (type, name) => {
      events.push({ type, name: name ?? '' });
    });
    try {
      const ctx = {
        dir,
        hostname: 'sts.fedgate.test',
        clock: now,
        settings: {
          auto: true,
          generationThresholdDays: 20,
          promotionThresholdDays: 5,
          durationDays: 365,
          criticalThresholdDays: 2,
          gracePeriodDays: 7,
          checkIntervalMinutes: 720,
        },
        store: new MemoryStore(now),
        by: 'cli' as const,
        onChange: () => undefined,
      };
      assert.equal((await generateNextNow(ctx)).status, 'done');
      now.advance(6 * DAY);
      assert.equal((await promoteNow(ctx)).status, 'done');
      now.advance(8 * DAY);
      const r = await rolloverIfDue(ctx);
      assert.ok(r.status === 'done' && r.changes.some((c) => c.action === 'retired'), "r.status === 'done' && r.changes.some((c) => c.action === 'retired')");
      // inotify delivers in order: once the sentinel is seen, every event of the rollover has been.
      writeFileSync(join(dir, 'zz-sentinel'), 'x');
      const deadline = Date.now() + 10_000;
      while (!events.some((e) => e.name === 'zz-sentinel')) {
        assert.ok(Date.now() < deadline, 'inotify events did not arrive');
        await new Promise((res) => setImmediate(res));
      }
    } finally {
      watcher.close();
    }
    const isFinal = (name: string): boolean =>
      name.startsWith('token-signing') && !name.endsWith('.tmp');
    const finals = events.filter((e) => isFinal(e.name));
    assert.ok(
      finals.some((e) => e.name === 'token-signing.json') &&
        finals.some((e) => e.name.endsWith('.key.pem')) &&
        finals.some((e) => e.name.endsWith('.crt.pem')),
      `the manifest, a key and a certificate were published: ${JSON.stringify(finals)}`,
    );
    assert.deepEqual(
      finals.filter((e) => e.type !== 'rename'),
      [],
      'a published name was written to in place (a reader could load half of it)',
    );
    ring.close();
  });
});

describe('ring: a bad file keeps the last good key serving', () => {
  test('a broken key file in place of the loaded primary: the last good key signs, key_reload_failed, still ready', async () => {
    const dir = freshDir();
    place(dir, A, B);
    writeManifest(dir, [entry('primary', A), entry('next', B)]);
    const { ring, log } = ringOn(dir);
    await ring.load();
    writeFileSync(join(dir, A.key), '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAA\n', {
      mode: 0o600,
    });
    await ring.refresh();
    assert.ok(ring.ready(), 'still ready');
    assert.deepEqual(thumbs(ring), [A.thumbprint, B.thumbprint]);
    assert.ok(signsAs(ring, A), 'the last good primary key still signs');
    const f = log.first();
    assert.equal(f.role, 'primary');
    assert.equal(f.kept, A.thumbprint);
    assert.equal(f.file, join(dir, A.key));
    assert.match(String(f.reason), /not a PEM private key/);

    // Retried at the next poll even though nothing changed on disk; still the last good key.
    await ring.refresh();
    assert.equal(log.failures().length, 2, 'the broken file is retried, and logged again');
    assert.ok(signsAs(ring, A), "signsAs(ring, A)");

    // Repaired: loads again, no more failures.
    writeFileSync(join(dir, A.key), readFileSync(join(pairsDir, A.key)), { mode: 0o600 });
    await ring.refresh();
    await ring.refresh();
    assert.equal(log.failures().length, 2);
    assert.ok(signsAs(ring, A), "signsAs(ring, A)");
    ring.close();
  });

  test('a broken certificate in place of the loaded next: it stays published as last loaded', async () => {
    const dir = freshDir();
    place(dir, A, B);
    writeManifest(dir, [entry('primary', A), entry('next', B)]);
    const { ring, log } = ringOn(dir);
    await ring.load();
    writeFileSync(join(dir, B.cert), 'not a certificate\n');
    await ring.refresh();
    assert.deepEqual(thumbs(ring), [A.thumbprint, B.thumbprint]);
    assert.equal(log.failures()[0]?.kept, B.thumbprint);
    ring.close();
  });

  test('a key file made readable by others is refused and the last good key kept', async () => {
    const dir = freshDir();
    place(dir, A);
    writeManifest(dir, [entry('primary', A)]);
    const { ring, log } = ringOn(dir);
    await ring.load();
    chmodSync(join(dir, A.key), 0o644);
    // A mode change alone does not change the file's inode, size or mtime (what the poll compares): forced here.
    await ring.refresh(true);
    assert.ok(ring.ready(), "ring.ready()");
    assert.match(String(log.failures()[0]?.reason), /accessible by group or others/);
    ring.close();
  });
});

describe('ring: an entry whose files do not belong together is refused', () => {
  test('a manifest naming the key of one pair and the certificate of another: that entry is left out', async () => {
    const dir = freshDir();
    place(dir, A, B, C);
    writeManifest(dir, [entry('primary', A), entry('next', B, { key: C.key })]);
    const { ring, log } = ringOn(dir);
    await ring.load();
    assert.deepEqual(thumbs(ring), [A.thumbprint], 'the mismatched next is not published');
    const f = log.first();
    assert.equal(f.role, 'next');
    assert.match(String(f.reason), /different key pair/);
    assert.equal(f.kept, undefined);
    ring.close();
  });

  test('a mismatched primary at first load: no primary, load refuses to start', async () => {
    const dir = freshDir();
    place(dir, A, B);
    writeManifest(dir, [entry('primary', A, { key: B.key })]);
    const { ring, log } = ringOn(dir);
    await assert.rejects(ring.load(), /no usable primary token-signing key/);
    assert.ok(!ring.ready(), "!ring.ready()");
    assert.match(String(log.failures()[0]?.reason), /different key pair/);
  });

  test('a primary swapped for another pair under the same names: the last good key keeps signing', async () => {
    const dir = freshDir();
    place(dir, A, B);
    writeManifest(dir, [entry('primary', A)]);
    const { ring, log } = ringOn(dir);
    await ring.load();
    // Someone replaces A's key file with B's (its certificate unchanged): signing with it would give tokens no
    // relying party can verify.
    writeFileSync(join(dir, A.key), readFileSync(join(pairsDir, B.key)), { mode: 0o600 });
    await ring.refresh();
    assert.ok(signsAs(ring, A), "signsAs(ring, A)");
    assert.match(String(log.failures()[0]?.reason), /different key pair/);
    ring.close();
  });

  test('a certificate whose thumbprint is not the one the manifest names is refused', async () => {
    const dir = freshDir();
    place(dir, A, B);
    writeManifest(dir, [entry('primary', A), entry('next', B, { thumbprint: C.thumbprint })]);
    const { ring, log } = ringOn(dir);
    await ring.load();
    assert.deepEqual(thumbs(ring), [A.thumbprint]);
    assert.match(String(log.failures()[0]?.reason), /the manifest says/);
    ring.close();
  });
});

describe('ring: no primary left on disk', () => {
  test('manifest and files removed: ring.ready() is false after the reload', async () => {
    const dir = freshDir();
    place(dir, A, B);
    writeManifest(dir, [entry('primary', A), entry('next', B)]);
    const { ring, log } = ringOn(dir);
    await ring.load();
    for (const f of ['token-signing.json', A.cert, A.key, B.cert, B.key]) unlinkSync(join(dir, f));
    await ring.refresh();
    assert.equal(ring.ready(), false);
    assert.deepEqual(thumbs(ring), []);
    assert.ok(log.failures().some((f) => f.dir === dir), 'not-ready is logged');
    // Anything that needs the primary now gets the deliberate 503 error, never a 500.
    assert.throws(
      () => ring.primary,
      (e: unknown) =>
        e instanceof Error &&
        (e as { code?: unknown }).code === 'signing_unavailable' &&
        (e as { status?: unknown }).status === 503,
    );
    ring.close();
  });

  test('/healthz/ready answers 503 (keys: false) once the primary is gone from disk, 200 again when it is back', async () => {
    const t = await makeTestApp();
    try {
      const dir = t.config.keys.dir;
      const ready = async (): Promise<{ status: number; keys: unknown }> => {
        const r = await request(t.app).get('/healthz/ready');
        return { status: r.status, keys: (r.body as { keys?: unknown }).keys };
      };
      assert.deepEqual(await ready(), { status: 200, keys: true });
      const key = readFileSync(join(dir, 'token-signing.key.pem'));
      const cert = readFileSync(join(dir, 'token-signing.crt.pem'));
      unlinkSync(join(dir, 'token-signing.key.pem'));
      unlinkSync(join(dir, 'token-signing.crt.pem'));
      await t.services.keys.refresh();
      assert.deepEqual(await ready(), { status: 503, keys: false });
      // Meanwhile the metadata and a sign-in answer a deliberate 503 page, never a 500 or a stack trace.
      const meta = await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml');
      assert.equal(meta.status, 503, meta.text.slice(0, 200));
      const { res } = await signIn(t.app, {
        username: 'alice@fedgate.test',
        password: 'Passw0rd!',
        realm: 'urn:fedgate:test',
      });
      assert.equal(res.status, 503, res.text.slice(0, 200));
      assert.doesNotMatch(res.text, /\n\s+at /, 'no stack trace');
      writeFileSync(join(dir, 'token-signing.key.pem'), key, { mode: 0o600 });
      writeFileSync(join(dir, 'token-signing.crt.pem'), cert);
      await t.services.keys.refresh();
      assert.deepEqual(await ready(), { status: 200, keys: true });
    } finally {
      await t.close();
    }
  });
});

describe('ring: the manifest names files inside keys.dir only', () => {
  for (const bad of ['../a.crt.pem', '..', 'sub/a.crt.pem', '/etc/passwd', '.hidden.pem']) {
    test(`"${bad}" is refused and the ring keeps what it had`, async () => {
      const dir = freshDir();
      place(dir, A);
      // A valid pair one level up, where ../ would reach.
      place(join(dir, '..'), B);
      writeManifest(dir, [entry('primary', A)]);
      const { ring, log } = ringOn(dir);
      await ring.load();
      writeManifest(dir, [entry('primary', A), entry('next', B, { cert: bad })]);
      assert.equal(await ring.refresh(), false);
      assert.deepEqual(thumbs(ring), [A.thumbprint]);
      const f = log.first();
      assert.equal(f.file, join(dir, 'token-signing.json'));
      assert.match(String(f.reason), /plain file name inside keys\.dir/);
      ring.close();
    });
  }

  test('a ../ key path at first load: nothing loads, the node does not start', async () => {
    const dir = freshDir();
    place(join(dir, '..'), A);
    writeManifest(dir, [entry('primary', A, { cert: `../${A.cert}`, key: `../${A.key}` })]);
    const { ring } = ringOn(dir);
    await assert.rejects(ring.load(), /no usable primary/);
  });
});

describe('ring: encrypted PKCS#8 keys (keys.passphrase)', () => {
  test('an openssl-encrypted key loads with the passphrase and signs', async () => {
    const dir = freshDir();
    place(dir, E);
    assert.match(readFileSync(join(dir, E.key), 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);
    writeManifest(dir, [entry('primary', E)]);
    const { ring, log } = ringOn(dir, PASSPHRASE);
    await ring.load();
    assert.ok(signsAs(ring, E), "signsAs(ring, E)");
    assert.deepEqual(log.failures(), []);
    ring.close();
  });

  test('a wrong passphrase fails clearly, naming the file and the setting', async () => {
    const dir = freshDir();
    place(dir, E);
    writeManifest(dir, [entry('primary', E)]);
    const { ring, log } = ringOn(dir, 'not the passphrase at all');
    await assert.rejects(ring.load(), /no usable primary/);
    const f = log.first();
    assert.equal(f.file, join(dir, E.key));
    assert.match(String(f.reason), /cannot be decrypted with keys\.passphrase/);
  });

  test('no passphrase configured: the reason says to set keys.passphrase', async () => {
    const dir = freshDir();
    place(dir, E);
    writeManifest(dir, [entry('primary', E)]);
    const { ring, log } = ringOn(dir);
    await assert.rejects(ring.load(), /no usable primary/);
    assert.match(String(log.failures()[0]?.reason), /encrypted private key; set keys\.passphrase/);
  });

  test('a wrong passphrase after a good load keeps the last good key (a reload with a changed file)', async () => {
    const dir = freshDir();
    place(dir, E);
    writeManifest(dir, [entry('primary', E)]);
    const { ring, log } = ringOn(dir, PASSPHRASE);
    await ring.load();
    // The key re-encrypted under another passphrase (an admin's mistake): not loadable with ours.
    const other = join(dir, 'other.key.pem');
    execFileSync('openssl', [
      ...['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', join(dir, E.key)],
      ...['-passin', `pass:${PASSPHRASE}`, '-passout', 'pass:another passphrase', '-out', other],
    ]);
    chmodSync(other, 0o600);
    renameSync(other, join(dir, E.key));
    await ring.refresh();
    assert.ok(ring.ready(), "ring.ready()");
    assert.ok(signsAs(ring, E), "signsAs(ring, E)");
    assert.match(String(log.failures()[0]?.reason), /cannot be decrypted/);
    ring.close();
  });
});
