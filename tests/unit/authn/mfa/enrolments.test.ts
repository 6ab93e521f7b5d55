// MFA enrolment records (issue 16 "Where enrolments live"): the sealed, objectGUID-bound record in the embedded
// directory's own file (the demo), its strict reading, the compare-and-swap update, the one-time enrolment codes
// and keys.dir/mfa.secret. The sealing is checked with an independent AES-256-GCM open written here from the
// documented construction (HKDF-SHA256, AAD = the account's objectGUID), not with fedgate's Sealer. The same store
// against Samba AD is tests/integration/mfa-enrolments-samba.test.ts.
import assert from 'node:assert/strict';
import { createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import {
  createEnrolmentStore,
  EnrolmentError,
  EnrolmentStore,
  fileBackend,
  type EnrolmentBackend,
  issueEnrolmentCode,
  MAX_FACTORS,
  newFactorId,
  redeemEnrolmentCode,
} from '../../../../server/authn/mfa/enrolments.ts';
import {
  EMPTY_ENROLMENTS,
  type Enrolments,
  type TotpFactor,
  type WebAuthnFactor,
} from '../../../../server/authn/mfa/factors.ts';
import { resolveConfig } from '../../../../server/config/load.ts';
import type { Config } from '../../../../server/config/schema.ts';
import { EmbeddedDirectory } from '../../../../server/directory/embedded.ts';
import { LdapDirectory } from '../../../../server/directory/ldap.ts';
import type { DirectoryUser } from '../../../../server/directory/types.ts';
import { loadOrCreateMfaSecret } from '../../../../server/keys/mfa-secret.ts';
import { FixedClock } from '../../../../server/lib/clock.ts';
import { SeededRandom, type Random } from '../../../../server/lib/random.ts';
import { Sealer } from '../../../../server/lib/sealer.ts';

const logger = pino({ level: 'silent' });
const SECRET = 'mfa-test-secret-0123456789abcdefghijklmnop';
const OTHER_SECRET = 'another-farm-secret-0123456789abcdefghijkl';

function totp(id: string, secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'): TotpFactor {
  return { kind: 'totp', id, name: `Phone ${id}`, createdAt: '2026-12-06T01:00:00.000Z', secret };
}

function webauthn(id: string, credentialBytes = 32): WebAuthnFactor {
  return {
    kind: 'webauthn',
    id,
    name: 'YubiKey 5',
    createdAt: '2026-12-06T01:00:00.000Z',
    lastUsedAt: '2026-12-06T02:00:00.000Z',
    credentialId: Buffer.alloc(credentialBytes, id.charCodeAt(0)).toString('base64url'),
    publicKey: Buffer.alloc(77, 0xa5).toString('base64url'),
    counter: 7,
    aaguid: 'cb69481e-8ff7-4039-93ec-0a2729a154a8',
    transports: ['usb', 'nfc'],
    userVerified: true,
  };
}

/** Independent open of a sealed value: `keyId.iv.ct+tag`, key = HKDF-SHA256(secret, salt, info), AES-256-GCM. */
function independentOpen(secret: string, sealed: string, aad: string): string {
  const [, ivB, ctB] = sealed.split('.') as [string, string, string];
  const key = Buffer.from(
    hkdfSync('sha256', secret, 'fedgate-sealer-v1', 'fedgate mfa-enrolments', 32),
  );
  const ct = Buffer.from(ctB, 'base64url');
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(ivB, 'base64url'));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(ct.subarray(ct.length - 16));
  return Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]).toString('utf8');
}

describe('EnrolmentStore on the embedded directory file', () => {
  let work: string;
  let config: Config;
  let directory: EmbeddedDirectory;
  let alice: DirectoryUser;
  let bob: DirectoryUser;
  let file: string;
  const clock = new FixedClock('2026-12-06T01:00:00Z');
  const store = (secrets: string[] = [SECRET]): EnrolmentStore => {
    const s = createEnrolmentStore(config, directory, { clock, secrets });
    assert.ok(s);
    return s;
  };
  const rawFile = (): { v: number; users: Record<string, string> } =>
    JSON.parse(readFileSync(file, 'utf8')) as { v: number; users: Record<string, string> };
  const writeRaw = (users: Record<string, string>): void => {
    writeFileSync(file, JSON.stringify({ v: 1, users }));
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'fedgate-enrol-'));
    config = resolveConfig(
      { keys: { dir: join(work, 'keys') }, mfa: { enrolment: { file: 'state/enrol.json' } } },
      { baseDir: work, source: 'test', embeddedDefaults: false },
    );
    file = join(work, 'state', 'enrol.json');
    directory = new EmbeddedDirectory(
      { kind: 'embedded', netbiosDomain: 'FEDGATE' },
      { logger, clock, baseDir: work },
    );
    const a = await directory.findUser('alice');
    const b = await directory.findUser('bob');
    assert.ok(a && b);
    alice = a;
    bob = b;
  });
  after(() => {
    rmSync(work, { recursive: true, force: true });
  });

  test('nothing stored reads as EMPTY_ENROLMENTS; a written record reads back equal', async () => {
    rmSync(file, { force: true });
    const s = store();
    assert.deepEqual(await s.read(alice), EMPTY_ENROLMENTS);
    const record: Enrolments = {
      v: 1,
      factors: [totp('t1'), webauthn('w1')],
      code: {
        hash: createHash('sha256').update('x').digest('base64url'),
        expiresAt: '2026-12-09T01:00:00.000Z',
      },
    };
    await s.write(alice, record);
    assert.deepEqual(await s.read(alice), record);
    // Another store on the same file (another process of the demo) reads it too.
    assert.deepEqual(await store().read(alice), record);
    assert.deepEqual(await s.read(bob), EMPTY_ENROLMENTS);
    // 0600, keyed by the objectGUID (hex), and an empty record removes the entry.
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(Object.keys(rawFile().users), [alice.objectGuid.toString('hex')]);
    await s.write(alice, EMPTY_ENROLMENTS);
    assert.deepEqual(rawFile().users, {});
    assert.deepEqual(await s.read(alice), EMPTY_ENROLMENTS);
  });

  test('the stored value is sealed: no secret, name or credential in clear; it opens only with the account objectGUID as AAD', async () => {
    const s = store();
    const f = totp('t1', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    await s.write(alice, { v: 1, factors: [f, webauthn('w1')] });
    const sealed = rawFile().users[alice.objectGuid.toString('hex')];
    assert.ok(sealed !== undefined);
    for (const clear of [f.secret, f.name, 'YubiKey', webauthn('w1').credentialId, 'totp'])
      assert.ok(!sealed.includes(clear), `${clear} appears in the stored value`);
    const aad = `mfa-enrolments:v1:${alice.objectGuid.toString('hex')}`;
    const plain = JSON.parse(independentOpen(SECRET, sealed, aad)) as { v: number };
    assert.equal(plain.v, 1);
    assert.ok(JSON.stringify(plain).includes(f.secret));
    assert.throws(() =>
      independentOpen(SECRET, sealed, `mfa-enrolments:v1:${bob.objectGuid.toString('hex')}`),
    );
  });

  test('a value copied from another account does not open (AAD = objectGUID)', async () => {
    const s = store();
    await s.write(alice, { v: 1, factors: [totp('t1')] });
    await s.write(bob, EMPTY_ENROLMENTS);
    const users = rawFile().users;
    const aliceValue = users[alice.objectGuid.toString('hex')];
    assert.ok(aliceValue !== undefined);
    writeRaw({ ...users, [bob.objectGuid.toString('hex')]: aliceValue });
    await assert.rejects(
      s.read(bob),
      (e: unknown) => e instanceof EnrolmentError && e.kind === 'unreadable',
    );
    // Alice's own copy still opens: only the account binding refused it.
    assert.equal((await s.read(alice)).factors.length, 1);
  });

  test('an edited value, one sealed by another farm key, and garbage are unreadable; rotation keeps old records', async () => {
    const s = store();
    await s.write(alice, { v: 1, factors: [totp('t1')] });
    const k = alice.objectGuid.toString('hex');
    const sealed = rawFile().users[k];
    assert.ok(sealed !== undefined);
    // One character of the ciphertext changed (not the last, whose low bits base64url may not carry).
    const i = sealed.length - 10;
    const edited = sealed.slice(0, i) + (sealed[i] === 'A' ? 'B' : 'A') + sealed.slice(i + 1);
    for (const bad of [edited, 'not-sealed', `${sealed}x`, sealed.replace(/^[^.]+/, 'zzzzzz')]) {
      writeRaw({ [k]: bad });
      await assert.rejects(
        s.read(alice),
        (e: unknown) => e instanceof EnrolmentError && e.kind === 'unreadable',
        bad,
      );
      // update refuses too: nothing is written over a record that did not open (the helpdesk resets it).
      await assert.rejects(
        s.update(alice, (c) => c),
        EnrolmentError,
      );
      assert.equal(rawFile().users[k], bad);
    }
    writeRaw({ [k]: sealed });
    await assert.rejects(
      store([OTHER_SECRET]).read(alice),
      (e: unknown) => e instanceof EnrolmentError && e.kind === 'unreadable',
    );
    // Rotation: the new secret first, the old one still opens what it sealed.
    assert.equal((await store([OTHER_SECRET, SECRET]).read(alice)).factors.length, 1);
  });

  test('a well-sealed record that is not a strict version 1 record is unreadable', async () => {
    const sealer = new Sealer([SECRET], 'mfa-enrolments');
    const aad = `mfa-enrolments:v1:${alice.objectGuid.toString('hex')}`;
    const k = alice.objectGuid.toString('hex');
    const t = { k: 't', i: 'abc', n: 'Phone', c: 1, s: 'JBSWY3DPEHPK3PXP' };
    const good = { v: 1, f: [t] };
    writeRaw({ [k]: sealer.seal(JSON.stringify(good), aad) });
    assert.equal((await store().read(alice)).factors.length, 1, 'the control record opens');
    const bad: unknown[] = [
      { v: 2, f: [t] },
      { v: 1, f: [{ ...t, extra: true }] },
      { v: 1, f: [t], admin: true },
      { v: 1, f: [{ ...t, k: 'x' }] },
      { v: 1, f: [{ ...t, s: 'not base32!' }] },
      { v: 1, f: [{ ...t, n: 'n'.repeat(65) }] },
      { v: 1, f: [t, { ...t }] }, // duplicate id
      { v: 1, f: Array.from({ length: MAX_FACTORS + 1 }, (_, n) => ({ ...t, i: `id${n}` })) },
      { v: 1, f: [{ k: 'w', i: 'w', n: 'k', c: 1, ci: 'AA', pk: 'AA', ct: -1 }] },
      { v: 1, f: [], cd: { h: 'short', x: 1 } },
      [],
      'text',
    ];
    for (const record of bad) {
      writeRaw({ [k]: sealer.seal(JSON.stringify(record), aad) });
      await assert.rejects(
        store().read(alice),
        (e: unknown) => e instanceof EnrolmentError && e.kind === 'unreadable',
        JSON.stringify(record).slice(0, 80),
      );
    }
    writeRaw({ [k]: sealer.seal('{not json', aad) });
    await assert.rejects(
      store().read(alice),
      (e: unknown) => e instanceof EnrolmentError && e.kind === 'unreadable',
    );
  });

  test('too many factors, or a record longer than the bound, is refused as too-large and nothing is written', async () => {
    const s = store();
    await s.write(alice, { v: 1, factors: [totp('t1')] });
    const before = rawFile();
    await assert.rejects(
      s.write(alice, {
        v: 1,
        factors: Array.from({ length: MAX_FACTORS + 1 }, (_, n) => totp(`t${n}`)),
      }),
      (e: unknown) => e instanceof EnrolmentError && e.kind === 'too-large',
    );
    // Ten security keys with the longest credential IDs WebAuthn allows (1023 bytes) exceed 8192 characters.
    await assert.rejects(
      s.write(alice, {
        v: 1,
        factors: Array.from({ length: MAX_FACTORS }, (_, n) =>
          webauthn(String.fromCharCode(97 + n), 1023),
        ),
      }),
      (e: unknown) => e instanceof EnrolmentError && e.kind === 'too-large',
    );
    assert.deepEqual(rawFile(), before);
    // Ten ordinary ones fit.
    const ten = {
      v: 1 as const,
      factors: Array.from({ length: MAX_FACTORS }, (_, n) =>
        webauthn(String.fromCharCode(97 + n), 64),
      ),
    };
    await s.write(alice, ten);
    assert.deepEqual(await s.read(alice), ten);
  });

  test('an invalid record is refused before it is written (what is written is what reading accepts)', async () => {
    const s = store();
    await s.write(alice, EMPTY_ENROLMENTS);
    await assert.rejects(
      s.write(alice, { v: 1, factors: [{ ...totp('t1'), name: '' }] }),
      /invalid/,
    );
    await assert.rejects(
      s.write(alice, { v: 1, factors: [{ ...totp('t1'), createdAt: 'yesterday' }] }),
      /not a date/,
    );
    assert.deepEqual(await s.read(alice), EMPTY_ENROLMENTS);
  });

  test('update is a compare-and-swap: a change another node made in between is kept, not overwritten', async () => {
    await store().write(alice, { v: 1, factors: [totp('t1')] });
    // Node A's backend is the real file backend; only the moment of its write is steered, so that node B's whole
    // update lands between A's read and A's write.
    const real = fileBackend(file);
    let between: (() => Promise<unknown>) | undefined;
    const racing: EnrolmentBackend = {
      limit: () => real.limit(),
      read: (u) => real.read(u),
      write: async (u, v, e) => {
        const run = between;
        between = undefined;
        if (run !== undefined) await run();
        return real.write(u, v, e);
      },
    };
    const nodeA = new EnrolmentStore(racing, [SECRET]);
    const nodeB = store();
    between = () => nodeB.update(alice, (c) => ({ ...c, factors: [...c.factors, totp('fromB')] }));
    let calls = 0;
    const result = await nodeA.update(alice, (c) => {
      calls += 1;
      return { ...c, factors: [...c.factors, totp('fromA')] };
    });
    assert.equal(calls, 2, 'the change is applied again to what node B wrote');
    assert.deepEqual(
      result.factors.map((f) => f.id),
      ['t1', 'fromB', 'fromA'],
    );
    assert.deepEqual(
      (await store().read(alice)).factors.map((f) => f.id),
      ['t1', 'fromB', 'fromA'],
    );
  });
});

/** A Random that hands out the given bytes (for codes whose characters a test needs to know). */
function fixedBytes(bytes: Buffer): Random {
  return { bytes: (n) => bytes.subarray(0, n), token: () => 'x', uuid: () => 'x' };
}

/** Crockford base32 decoding written here, to show every character carries 5 of the 80 random bits. */
function crockfordDecode(code: string): Buffer {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let bits = 0n;
  for (const ch of code.replace(/-/g, '')) bits = (bits << 5n) | BigInt(alphabet.indexOf(ch));
  return Buffer.from(bits.toString(16).padStart(20, '0'), 'hex');
}

describe('one-time enrolment codes', () => {
  const clock = new FixedClock('2026-12-06T01:00:00Z');
  const base: Enrolments = { v: 1, factors: [totp('t1')] };

  test('16 characters in 4 groups from an unambiguous alphabet, 80 random bits, only a SHA-256 kept', () => {
    const random = new SeededRandom(7);
    const seen = new Set<string>();
    for (let n = 0; n < 200; n++) {
      const bytes = random.bytes(10);
      const { code, enrolments } = issueEnrolmentCode(base, {
        clock,
        random: fixedBytes(bytes),
        lifetimeHours: 72,
      });
      assert.match(code, /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
      assert.deepEqual(crockfordDecode(code), bytes, 'the code is exactly the random bytes');
      seen.add(code);
      const stored = JSON.stringify(enrolments);
      assert.ok(!stored.includes(code) && !stored.includes(code.replace(/-/g, '')));
      assert.match(enrolments.code?.hash ?? '', /^[A-Za-z0-9_-]{43}$/);
      assert.equal(enrolments.code?.expiresAt, '2026-12-09T01:00:00.000Z');
      assert.deepEqual(enrolments.factors, base.factors);
    }
    assert.equal(seen.size, 200);
  });

  test('redeem: case, spaces, dashes and O/I/L for 0/1 do not matter; the code is gone afterwards', () => {
    const { code, enrolments } = issueEnrolmentCode(base, {
      clock,
      random: fixedBytes(Buffer.from('00000084210842108421', 'hex')),
      lifetimeHours: 1,
    });
    assert.equal(
      code,
      '0000-1111-1111-1111'.replace(/1/g, (c) => c),
    ); // zeros and ones to mistype
    for (const typed of [
      code,
      code.toLowerCase(),
      ` ${code.replace(/-/g, ' ')} `,
      'OOOO-IIII-llll-1111',
      'oooo1111IIIIllll',
    ]) {
      const r = redeemEnrolmentCode(enrolments, typed, clock);
      assert.ok(r.ok, typed);
      assert.equal(r.enrolments.code, undefined);
      assert.deepEqual(r.enrolments.factors, base.factors);
      // One use: the record without the code refuses it.
      assert.deepEqual(redeemEnrolmentCode(r.enrolments, typed, clock), {
        ok: false,
        reason: 'none',
      });
    }
  });

  test('wrong, expired and absent codes are refused', () => {
    const { code, enrolments } = issueEnrolmentCode(base, {
      clock,
      random: new SeededRandom(3),
      lifetimeHours: 2,
    });
    const last = code.at(-1) === '2' ? '3' : '2';
    for (const wrong of [code.slice(0, -1) + last, '', 'x'.repeat(10_000), code.slice(0, -1)])
      assert.deepEqual(redeemEnrolmentCode(enrolments, wrong, clock), {
        ok: false,
        reason: 'wrong',
      });
    const later = new FixedClock(clock.now());
    later.advance(2 * 3_600_000 - 1);
    assert.ok(redeemEnrolmentCode(enrolments, code, later).ok, 'valid until the last millisecond');
    later.advance(1);
    assert.deepEqual(redeemEnrolmentCode(enrolments, code, later), {
      ok: false,
      reason: 'expired',
    });
    assert.deepEqual(redeemEnrolmentCode(base, code, clock), { ok: false, reason: 'none' });
    // A later code replaces the earlier one.
    const again = issueEnrolmentCode(enrolments, {
      clock,
      random: new SeededRandom(4),
      lifetimeHours: 2,
    });
    assert.deepEqual(redeemEnrolmentCode(again.enrolments, code, clock), {
      ok: false,
      reason: 'wrong',
    });
    assert.ok(redeemEnrolmentCode(again.enrolments, again.code, clock).ok);
  });

  test('newFactorId: 128 random bits, base64url', () => {
    const random = new SeededRandom(9);
    const ids = new Set(Array.from({ length: 100 }, () => newFactorId(random)));
    assert.equal(ids.size, 100);
    for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  });
});

describe('createEnrolmentStore and keys.dir/mfa.secret', () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'fedgate-enrol-cfg-'));
  });
  after(() => {
    rmSync(work, { recursive: true, force: true });
  });

  test('ldap without mfa.enrolment.attribute has no store; the embedded file defaults to keys.dir/mfa-enrolments.json', async () => {
    const clock = new FixedClock();
    const ldapConfig = resolveConfig(
      {
        directory: {
          kind: 'ldap',
          urls: ['ldaps://127.0.0.1:1'],
          baseDn: 'DC=corp,DC=example,DC=test',
          bindDn: 'CN=svc,DC=corp,DC=example,DC=test',
          bindPassword: 'x',
          netbiosDomain: 'CORP',
        },
      },
      { baseDir: work, source: 'test', embeddedDefaults: false },
    );
    assert.equal(ldapConfig.directory.kind, 'ldap');
    const ldap = new LdapDirectory(ldapConfig.directory, { logger, clock, baseDir: work });
    assert.equal(createEnrolmentStore(ldapConfig, ldap, { clock, secrets: [SECRET] }), undefined);
    await ldap.close();

    const config = resolveConfig(
      { keys: { dir: join(work, 'keys') } },
      { baseDir: work, source: 'test', embeddedDefaults: false },
    );
    const directory = new EmbeddedDirectory(
      { kind: 'embedded', netbiosDomain: 'FEDGATE' },
      { logger, clock, baseDir: work },
    );
    const s = createEnrolmentStore(config, directory, { clock, secrets: [SECRET] });
    const user = await directory.findUser('carol');
    assert.ok(s && user);
    await s.write(user, { v: 1, factors: [totp('t1')] });
    const onDisk = JSON.parse(readFileSync(join(work, 'keys', 'mfa-enrolments.json'), 'utf8')) as {
      users: Record<string, string>;
    };
    assert.deepEqual(Object.keys(onDisk.users), [user.objectGuid.toString('hex')]);
    assert.throws(
      () => createEnrolmentStore(config, directory, { clock, secrets: [] }),
      EnrolmentError,
    );
  });

  test('mfa.secret is made once (0600, 256 bits), kept across starts, and refused when others can read it', async () => {
    const dir = join(work, 'secret-keys');
    const first = await loadOrCreateMfaSecret(dir);
    assert.equal(Buffer.from(first, 'base64url').length, 32);
    assert.equal(statSync(join(dir, 'mfa.secret')).mode & 0o777, 0o600);
    assert.equal(await loadOrCreateMfaSecret(dir), first);
    chmodSync(join(dir, 'mfa.secret'), 0o640);
    await assert.rejects(loadOrCreateMfaSecret(dir), /chmod 600/);
  });
});

test('an empty read is a fresh record: changing it does not change EMPTY_ENROLMENTS', async () => {
  const work = mkdtempSync(join(tmpdir(), 'fedgate-enrol-empty-'));
  try {
    const clock = new FixedClock();
    const config = resolveConfig(
      { keys: { dir: work } },
      { baseDir: work, source: 'test', embeddedDefaults: false },
    );
    const directory = new EmbeddedDirectory(
      { kind: 'embedded', netbiosDomain: 'FEDGATE' },
      { logger, clock, baseDir: work },
    );
    const user = await directory.findUser('dave');
    const s = createEnrolmentStore(config, directory, { clock, secrets: [SECRET] });
    assert.ok(s && user);
    const e = await s.read(user);
    e.factors.push(totp('t1'));
    assert.deepEqual(EMPTY_ENROLMENTS, { v: 1, factors: [] });
    assert.deepEqual(await s.read(user), { v: 1, factors: [] });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
