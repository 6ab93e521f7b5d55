// MFA enrolment records in Active Directory (issue 16 "Where enrolments live"), against the Samba AD DC: the sealed
// record in msDS-cloudExtensionAttribute10, written and read through the service account svc-fedgate, which
// tests/setup/samba.sh granted write property on that one attribute of user objects (the dsacls grant of
// docs/mfa-directory.md). What the DC holds is read and changed independently with the OpenLDAP CLI as
// Administrator (and as the user himself, who may write his own msDS-cloudExtensionAttributeN: it is in the
// Personal Information property set), and the sealing is checked with an AES-256-GCM open written here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import {
  createEnrolmentStore,
  EnrolmentError,
  type EnrolmentStore,
} from '../../server/authn/mfa/enrolments.ts';
import {
  EMPTY_ENROLMENTS,
  type Enrolments,
  type TotpFactor,
} from '../../server/authn/mfa/factors.ts';
import { resolveConfig } from '../../server/config/load.ts';
import type { Config } from '../../server/config/schema.ts';
import { LdapDirectory } from '../../server/directory/ldap.ts';
import type {
  DirectoryOperation,
  DirectoryProvider,
  DirectoryUser,
} from '../../server/directory/types.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { FederationError } from '../../server/lib/errors.ts';
import { instrumentDirectory } from '../../server/observability/directory-metrics.ts';
import { Metrics } from '../../server/observability/metrics.ts';
import {
  ensureAdUser,
  MFA_ATTRIBUTE,
  openSealedEnrolments,
  readMfaAttribute,
  setMfaAttribute,
  type AdUser,
} from '../helpers/mfa.ts';
import {
  ldapCliEnv,
  ldapsearchAsAdmin,
  ldapsearchCli,
  ldifTextValue,
  readObjectGuidWithCli,
  sambaEnv,
  sambaLdapConfig,
  type SambaEnv,
} from '../helpers/samba.ts';

const ATTRIBUTE = MFA_ATTRIBUTE;
const SECRET = 'samba-mfa-test-secret-0123456789abcdefghij';
const logger = pino({ level: 'silent' });

/**
 * This file's own accounts, created as Administrator (tests/helpers/mfa.ts ensureAdUser): samba.sh's mfa1..mfa3 are
 * used by other MFA test files that may run at the same time.
 */
type Key = 'u1' | 'u2' | 'u3';
const ACCOUNT_NAMES: Record<Key, string> = {
  u1: 'enrolstore1',
  u2: 'enrolstore2',
  u3: 'enrolstore3',
};
const accounts = {} as Record<Key, AdUser>;

function totp(id: string, secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'): TotpFactor {
  return { kind: 'totp', id, name: `Phone ${id}`, createdAt: '2026-12-06T01:00:00.000Z', secret };
}

/** ldapmodify bound as the user himself (not the service account, not an administrator). */
function selfSet(
  env: SambaEnv,
  user: Key,
  target: Key,
  value: string,
  attribute = ATTRIBUTE,
): void {
  execFileSync(
    'ldapmodify',
    ['-x', '-H', env.urls[0] ?? '', '-D', accounts[user].dn, '-w', accounts[user].password],
    {
      input: `dn: ${accounts[target].dn}\nchangetype: modify\nreplace: ${attribute}\n${attribute}: ${value}\n-\n`,
      env: ldapCliEnv(env),
      stdio: ['pipe', 'ignore', 'pipe'],
    },
  );
}

/** The attribute as `user` (bound with his own password) reads it on `target` with ldapsearch; undefined when not seen. */
function readAs(env: SambaEnv, user: Key, target: Key, attribute: string): string | undefined {
  const out = ldapsearchCli(env, {
    bindDn: accounts[user].dn,
    password: accounts[user].password,
    base: accounts[target].dn,
    scope: 'base',
    filter: '(objectClass=*)',
    attributes: [attribute],
  });
  return ldifTextValue(out, attribute);
}

const unreadable = (e: unknown): boolean => e instanceof EnrolmentError && e.kind === 'unreadable';

describe('MFA enrolments in an AD attribute (Samba, svc-fedgate with write property on that attribute only)', () => {
  let env: SambaEnv;
  let config: Config;
  let directory: LdapDirectory;
  let store: EnrolmentStore;
  const ops: DirectoryOperation[] = [];
  const users = {} as Record<Key, DirectoryUser>;
  const clock = new FixedClock('2026-12-06T01:00:00Z');

  const makeDirectory = (sink?: DirectoryOperation[]): LdapDirectory =>
    new LdapDirectory(sambaLdapConfig(env), {
      logger,
      clock,
      baseDir: process.cwd(),
      onOperation: sink === undefined ? undefined : (op) => sink.push(op),
    });
  const makeStore = (dir: DirectoryProvider, attribute = ATTRIBUTE): EnrolmentStore => {
    const c = resolveConfig(
      { directory: sambaLdapConfig(env), mfa: { enrolment: { attribute } } },
      { baseDir: process.cwd(), source: 'test', embeddedDefaults: false },
    );
    const s = createEnrolmentStore(c, dir, { clock, secrets: [SECRET] });
    assert.ok(s);
    return s;
  };

  before(async () => {
    env = sambaEnv();
    for (const u of ['u1', 'u2', 'u3'] as const) accounts[u] = ensureAdUser(env, ACCOUNT_NAMES[u]);
    directory = makeDirectory(ops);
    config = resolveConfig(
      { directory: sambaLdapConfig(env), mfa: { enrolment: { attribute: ATTRIBUTE } } },
      { baseDir: process.cwd(), source: 'test', embeddedDefaults: false },
    );
    const s = createEnrolmentStore(config, directory, { clock, secrets: [SECRET] });
    assert.ok(s);
    store = s;
    for (const u of ['u1', 'u2', 'u3'] as const) {
      const found = await directory.findUser(accounts[u].sAMAccountName);
      assert.ok(found, u);
      users[u] = found;
    }
  });
  after(async () => {
    for (const u of ['u1', 'u2', 'u3'] as const) setMfaAttribute(env, accounts[u].dn, undefined);
    await directory.close();
  });

  test('written through the service account, read back; the DC holds a sealed value bound to the objectGUID', async () => {
    assert.deepEqual(await store.read(users.u1), EMPTY_ENROLMENTS);
    const record: Enrolments = { v: 1, factors: [totp('t1')] };
    ops.length = 0;
    await store.write(users.u1, record);
    assert.ok(
      ops.some((o) => o.op === 'modify'),
      'the write is reported as a modify',
    );
    assert.deepEqual(await store.read(users.u1), record);
    // Another node (its own connection) reads the same record: farm-wide.
    const other = makeDirectory();
    try {
      assert.deepEqual(await makeStore(other).read(users.u1), record);
    } finally {
      await other.close();
    }
    const raw = readMfaAttribute(env, accounts.u1.sAMAccountName);
    assert.ok(raw !== undefined);
    assert.throws(() => JSON.parse(raw) as unknown, 'the stored value is not readable JSON');
    for (const clear of ['GEZDGNBVGY3TQOJQ', 'Phone', 'totp'])
      assert.ok(!raw.includes(clear), clear);
    assert.match(raw, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    // Opened independently with the objectGUID ldapsearch reads: the binding is to the account's objectGUID.
    const guid = readObjectGuidWithCli(env, accounts.u1.sAMAccountName);
    const plain = openSealedEnrolments(SECRET, guid, raw);
    assert.ok(plain.includes('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'));
    assert.throws(() =>
      openSealedEnrolments(SECRET, readObjectGuidWithCli(env, accounts.u2.sAMAccountName), raw),
    );
    // A reset (empty record) removes the attribute.
    await store.write(users.u1, EMPTY_ENROLMENTS);
    assert.equal(readMfaAttribute(env, accounts.u1.sAMAccountName), undefined);
  });

  test('a value changed by the Administrator is unreadable, and update does not write over it', async () => {
    await store.write(users.u1, { v: 1, factors: [totp('t1')] });
    const raw = readMfaAttribute(env, accounts.u1.sAMAccountName);
    assert.ok(raw !== undefined);
    const i = raw.length - 10;
    const tampered = raw.slice(0, i) + (raw[i] === 'A' ? 'B' : 'A') + raw.slice(i + 1);
    setMfaAttribute(env, accounts.u1.dn, tampered);
    await assert.rejects(store.read(users.u1), unreadable);
    await assert.rejects(
      store.update(users.u1, (c) => c),
      unreadable,
    );
    assert.equal(readMfaAttribute(env, accounts.u1.sAMAccountName), tampered);
    // A plain JSON record written by an admin (an authenticator of his choosing) is not taken either.
    setMfaAttribute(env, accounts.u1.dn, JSON.stringify({ v: 1, factors: [totp('planted')] }));
    await assert.rejects(store.read(users.u1), unreadable);
    setMfaAttribute(env, accounts.u1.dn, undefined);
  });

  test('a value copied from one user to another by the Administrator is unreadable for the second', async () => {
    await store.write(users.u1, { v: 1, factors: [totp('t1')] });
    const raw = readMfaAttribute(env, accounts.u1.sAMAccountName);
    assert.ok(raw !== undefined);
    setMfaAttribute(env, accounts.u2.dn, raw);
    assert.equal(readMfaAttribute(env, accounts.u2.sAMAccountName), raw);
    await assert.rejects(store.read(users.u2), unreadable);
    assert.equal((await store.read(users.u1)).factors.length, 1, 'the original still opens');
    setMfaAttribute(env, accounts.u1.dn, undefined);
    setMfaAttribute(env, accounts.u2.dn, undefined);
  });

  test('the user may write his own msDS-cloudExtensionAttribute10 (Personal Information), but what he plants does not open', async () => {
    // Samba and AD grant SELF write on the Personal Information property set, which holds this attribute: the
    // sealing, not the ACL, is what keeps a user (or whoever has his password) from planting an authenticator.
    await store.write(users.u1, { v: 1, factors: [totp('t1')] });
    const fromU1 = readMfaAttribute(env, accounts.u1.sAMAccountName);
    assert.ok(fromU1 !== undefined);
    selfSet(env, 'u3', 'u3', fromU1);
    assert.equal(readMfaAttribute(env, accounts.u3.sAMAccountName), fromU1);
    await assert.rejects(store.read(users.u3), unreadable);
    selfSet(env, 'u3', 'u3', JSON.stringify({ v: 1, f: [] }));
    await assert.rejects(store.read(users.u3), unreadable);
    // …and not another user's.
    assert.throws(() => {
      selfSet(env, 'u3', 'u2', fromU1);
    });
    assert.equal(readMfaAttribute(env, accounts.u2.sAMAccountName), undefined);
    setMfaAttribute(env, accounts.u1.dn, undefined);
    setMfaAttribute(env, accounts.u3.dn, undefined);
  });

  test('the grant is narrow: the service account cannot write description or another extension attribute', async () => {
    const before = ldapsearchAsAdmin(env, accounts.u1.sAMAccountName, 'description');
    await assert.rejects(
      directory.writeAttribute(users.u1.dn, 'description', 'written by svc-fedgate'),
      /may not write description/,
    );
    await assert.rejects(
      directory.writeAttribute(users.u1.dn, 'msDS-cloudExtensionAttribute11', 'x'),
      /may not write msDS-cloudExtensionAttribute11/,
    );
    // Nor the attribute on an object that is not a user (the grant's inherited object type is the user class).
    await assert.rejects(
      directory.writeAttribute(`CN=Users,${env.baseDn}`, ATTRIBUTE, 'x'),
      /may not write/,
    );
    assert.equal(ldapsearchAsAdmin(env, accounts.u1.sAMAccountName, 'description'), before);
    // The same call on the granted attribute succeeds (the refusals above are the ACL, not the method).
    assert.equal(await directory.writeAttribute(users.u1.dn, ATTRIBUTE, 'x'), 'written');
    assert.equal(readMfaAttribute(env, accounts.u1.sAMAccountName), 'x');
    setMfaAttribute(env, accounts.u1.dn, undefined);
  });

  test('update is a compare-and-swap on the DC: a change by another node in between is kept', async () => {
    await store.write(users.u2, { v: 1, factors: [totp('t1')] });
    const nodeB = makeDirectory();
    const storeB = makeStore(nodeB);
    // Node A's directory is the real one; only the moment of its write is steered, so that node B's whole
    // update lands between A's read and A's write.
    let between: (() => Promise<unknown>) | undefined = () =>
      storeB.update(users.u2, (c) => ({ ...c, factors: [...c.factors, totp('fromB')] }));
    const steered = new Proxy(directory, {
      get(target, prop, receiver) {
        if (prop === 'writeAttribute')
          return async (...args: Parameters<LdapDirectory['writeAttribute']>) => {
            const run = between;
            between = undefined;
            if (run !== undefined) await run();
            return target.writeAttribute(...args);
          };
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    try {
      let calls = 0;
      const result = await makeStore(steered).update(users.u2, (c) => {
        calls += 1;
        return { ...c, factors: [...c.factors, totp('fromA')] };
      });
      assert.equal(calls, 2);
      assert.deepEqual(
        result.factors.map((f) => f.id),
        ['t1', 'fromB', 'fromA'],
      );
      assert.deepEqual(
        (await store.read(users.u2)).factors.map((f) => f.id),
        ['t1', 'fromB', 'fromA'],
      );
    } finally {
      await nodeB.close();
      setMfaAttribute(env, accounts.u2.dn, undefined);
    }
  });

  test('an attribute the schema does not have, or a multi-valued one, is refused as not-configured', async () => {
    const notConfigured = (e: unknown): boolean =>
      e instanceof EnrolmentError && e.kind === 'not-configured';
    await assert.rejects(
      makeStore(directory, 'fedgateNoSuchAttribute').read(users.u1),
      notConfigured,
    );
    await assert.rejects(makeStore(directory, 'description').read(users.u1), notConfigured);
    await assert.rejects(
      makeStore(directory, 'description').write(users.u1, { v: 1, factors: [totp('t1')] }),
      notConfigured,
    );
  });

  test('no DC answering is FederationError directory_unavailable; the metrics wrapper passes the methods through', async () => {
    const down = new LdapDirectory(
      sambaLdapConfig(env, { urls: ['ldaps://127.0.0.1:1'], connectTimeoutMs: 1000 }),
      { logger, clock, baseDir: process.cwd() },
    );
    try {
      const isUnavailable = (e: unknown): boolean =>
        e instanceof FederationError && e.code === 'directory_unavailable';
      await assert.rejects(makeStore(down).read(users.u1), isUnavailable);
      await assert.rejects(down.readAttribute(users.u1.dn, ATTRIBUTE), isUnavailable);
      await assert.rejects(down.writeAttribute(users.u1.dn, ATTRIBUTE, 'x'), isUnavailable);
    } finally {
      await down.close();
    }
    const metrics = new Metrics();
    const instrumented = instrumentDirectory(directory, metrics);
    const s = makeStore(instrumented);
    await s.write(users.u3, { v: 1, factors: [totp('t1')] });
    assert.equal((await s.read(users.u3)).factors.length, 1);
    const text = await metrics.registry.metrics();
    for (const op of ['readAttribute', 'writeAttribute', 'describeAttribute'])
      assert.match(
        text,
        new RegExp(`fedgate_directory_operation_seconds_count\\{[^}]*operation="${op}"`),
        op,
      );
    setMfaAttribute(env, accounts.u3.dn, undefined);
  });

  describe('the schema extension of docs/mfa-schema.ldif (loaded into the DC by tests/setup/samba.sh)', () => {
    const EXT = 'fedgateMfaEnrolments';
    const schemaEntry = (name: string, attrs: string[]): string =>
      ldapsearchCli(env, {
        base: `CN=Schema,CN=Configuration,${env.baseDn}`,
        filter: `(lDAPDisplayName=${name})`,
        attributes: attrs,
      });

    test('the attribute is in the schema as the LDIF says: single-valued, Unicode string, confidential, on user through fedgateMfaUser', async () => {
      const attr = schemaEntry(EXT, [
        'isSingleValued',
        'attributeSyntax',
        'oMSyntax',
        'searchFlags',
        'rangeUpper',
      ]);
      assert.match(attr, /^isSingleValued: TRUE$/m);
      assert.match(attr, /^attributeSyntax: 2\.5\.5\.12$/m);
      assert.match(attr, /^oMSyntax: 64$/m);
      assert.match(attr, /^searchFlags: 128$/m);
      assert.match(attr, /^rangeUpper: 8192$/m);
      assert.match(
        schemaEntry('fedgateMfaUser', ['objectClassCategory', 'mayContain']),
        /^mayContain: fedgateMfaEnrolments$/m,
      );
      assert.match(schemaEntry('user', ['auxiliaryClass']), /^auxiliaryClass: fedgateMfaUser$/m);
      assert.deepEqual(await directory.describeAttribute(EXT), {
        name: EXT,
        syntax: '2.5.5.12',
        singleValued: true,
        rangeUpper: 8192,
        confidential: true,
      });
    });

    test('the store keeps records in it; other users, and the user himself, can neither read nor write it', async () => {
      const ext = makeStore(directory, EXT);
      const record: Enrolments = { v: 1, factors: [totp('t1')] };
      await ext.write(users.u1, record);
      assert.deepEqual(await ext.read(users.u1), record);
      try {
        // The Administrator sees the value (so its absence below is confidentiality, not a missing value).
        assert.match(
          ldapsearchAsAdmin(env, accounts.u1.sAMAccountName, EXT),
          new RegExp(`^${EXT}: [A-Za-z0-9_-]+\\.`, 'mi'),
        );
        assert.equal(readAs(env, 'u3', 'u1', EXT), undefined, 'another user cannot read it');
        assert.equal(readAs(env, 'u1', 'u1', EXT), undefined, 'the user cannot read his own');
        // Unlike msDS-cloudExtensionAttribute10 (Personal Information), SELF may not write it.
        assert.throws(() => {
          selfSet(env, 'u1', 'u1', 'planted', EXT);
        });
        assert.deepEqual(await ext.read(users.u1), record);
      } finally {
        await ext.write(users.u1, EMPTY_ENROLMENTS);
      }
    });
  });
});
