import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { before, describe, test } from 'node:test';
import { resolveConfig } from '../../server/config/load.ts';
import type { Config, LdapDirectoryConfig } from '../../server/config/schema.ts';
import {
  DirectoryScanError,
  scanDirectory,
  type ScanResult,
} from '../../server/doctor/directory-scan.ts';
import { fixLdif } from '../../server/doctor/ldif.ts';
import type { DirectoryFinding } from '../../server/doctor/types.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import {
  ambig1Upn,
  expectedFindings,
  seedDoctorOu,
  UNFIXABLE_CLASSES,
  writeBehindSamldb,
  type DoctorSeed,
  type ExpectedFinding,
} from '../helpers/doctor-seed.ts';
import { ldapToolAsAdmin, ldapsearchCli, sambaEnv, type SambaEnv } from '../helpers/samba.ts';

// fedgate doctor's directory scan against the Samba AD DC (issue 21), over the seeded OU of tests/helpers/
// doctor-seed.ts (the table "The seeded directory"). Everything the scan finds is compared with what the seed wrote;
// the DC's state is read independently with the OpenLDAP CLIs as Administrator, and fixes are applied with ldapmodify.
// Needs tests/setup/samba.sh and tests/setup/doctor-schema.sh (mailNickname/targetAddress in the schema).

const OU = 'OU=DoctorScan';
const clock = new FixedClock();
const PAGE = 3;

const UPN = 'userPrincipalName';

const key = (r: ExpectedFinding): string => JSON.stringify(r);
const sorted = (rows: ExpectedFinding[]): ExpectedFinding[] =>
  [...rows].sort((a, b) => key(a).localeCompare(key(b)));
/** The table's columns of each finding (dn, object class, container and detail are checked separately). */
const rows = (findings: readonly DirectoryFinding[]): ExpectedFinding[] =>
  sorted(
    findings.map((f) => ({
      commonName: f.commonName,
      attribute: f.attribute,
      class: f.class,
      severity: f.severity,
      value: f.value,
      update: f.update,
    })),
  );

function withDirectory(config: Config, overrides: Partial<LdapDirectoryConfig>): Config {
  if (config.directory.kind !== 'ldap') throw new Error('seed config is not ldap');
  return resolveConfig(
    {
      directory: { ...config.directory, ...overrides },
      microsoft365: { federatedDomains: [...config.microsoft365.federatedDomains] },
    },
    { baseDir: process.cwd(), source: 'doctor-directory.test', embeddedDefaults: false },
  );
}

/** ldapmodify (OpenLDAP) as Administrator over LDAPS with the test CA; the LDIF on stdin. */
function ldapmodify(env: SambaEnv, ldif: string): { status: number | null; stderr: string } {
  const r = ldapToolAsAdmin(env, 'ldapmodify', [], ldif);
  return { status: r.status, stderr: r.stderr };
}

/** The LDIF's change records (RFC 2849: separated by blank lines; comments and the version line dropped). */
function records(ldif: string): string[] {
  return ldif
    .split(/\r?\n\r?\n/)
    .map((r) =>
      r
        .split(/\r?\n/)
        .filter((l) => !l.startsWith('#') && !/^version:/i.test(l))
        .join('\n')
        .trim(),
    )
    .filter((r) => r.startsWith('dn:'));
}

/** The DN of a change record (`dn: x` or base64 `dn:: x`, unfolded). */
function dnOf(record: string): string {
  const unfolded = record.replace(/\n /g, '');
  const line = unfolded.split('\n')[0] ?? '';
  return line.startsWith('dn:: ')
    ? Buffer.from(line.slice(5), 'base64').toString('utf8')
    : line.slice(4);
}

/** highestCommittedUSN of the DC (rootDSE), read with ldapsearch as Administrator. */
function highestUsn(env: SambaEnv): number {
  const out = ldapsearchCli(env, {
    base: '',
    scope: 'base',
    filter: '(objectClass=*)',
    attributes: ['highestCommittedUSN'],
  });
  const m = /highestCommittedUSN: (\d+)/.exec(out);
  if (m === null) throw new Error('no highestCommittedUSN in the rootDSE');
  return Number(m[1]);
}

/** DNs of every object in the domain changed after `usn` (uSNChanged > usn), read with ldapsearch. */
function changedSince(env: SambaEnv, usn: number): string[] {
  const out = ldapsearchCli(env, {
    filter: `(uSNChanged>=${String(usn + 1)})`,
    attributes: ['1.1'],
  });
  return [...out.matchAll(/^dn: (.*)$/gm)].map((m) => m[1] ?? '');
}

describe('fedgate doctor: directory scan of the seeded Samba OU', () => {
  let env: SambaEnv;
  let seed: DoctorSeed;
  let first: ScanResult;

  before(async () => {
    env = sambaEnv();
    seed = await seedDoctorOu(env, OU);
    first = await scanDirectory(seed.config, { clock });
  });

  test('the exact findings of the seeded table; clean users and the group produce none', (t) => {
    assert.deepEqual(rows(first.findings), sorted(expectedFindings(seed)));
    const bySam = new Map(Object.values(seed.users).map((u) => [u.sam, u.dn]));
    for (const f of first.findings) {
      assert.equal(f.dn, bySam.get(f.commonName), `dn of ${f.commonName}`);
      assert.equal(f.objectClass, 'user');
      assert.equal(f.container, seed.ou);
      assert.equal(
        f.multiValued,
        f.attribute === 'proxyAddresses',
        `${f.commonName} ${f.attribute}`,
      );
      assert.ok(f.detail.length > 0 && !f.detail.includes('\n'), 'one sentence for the admin');
    }
    const flagged = new Set(first.findings.map((f) => f.commonName));
    const clean = [
      seed.users.clean1.sam,
      seed.users.clean2.sam,
      seed.users.ambig2.sam,
      seed.group.sam,
    ];
    for (const c of clean) assert.ok(!flagged.has(c), c);
    // Every seeded object was read (15 users, 1 group), none skipped, in one page of the default size.
    assert.deepEqual(
      { ...first.stats, elapsedMs: 0 },
      {
        bases: [seed.ou],
        objects: 16,
        users: 15,
        groups: 1,
        contacts: 0,
        skipped: 0,
        pages: 1,
        elapsedMs: 0,
      },
    );
    // The same count an independent reader (ldapsearch) gets for IdFix's filter under the OU.
    const cli = ldapsearchCli(env, {
      base: seed.ou,
      filter: '(|(objectCategory=Person)(objectCategory=Group))',
      attributes: ['1.1'],
    });
    assert.equal([...cli.matchAll(/^dn: /gm)].length, first.stats.objects);
    t.diagnostic(`stats ${JSON.stringify(first.stats)}`);
  });

  test('paged: with 3 entries a page the DC answers in pages and the findings are the same', async (t) => {
    const paged = await scanDirectory(seed.config, { clock, pageSize: PAGE });
    assert.deepEqual(rows(paged.findings), rows(first.findings));
    assert.equal(paged.stats.objects, first.stats.objects);
    // One search, ⌈16 / 3⌉ = 6 pages: the DC honoured the page size (RFC 2696), so the scan followed the cookie.
    assert.equal(paged.stats.pages, Math.ceil(paged.stats.objects / PAGE));
    assert.ok(paged.stats.pages > 1);
    t.diagnostic(
      `pageSize ${String(PAGE)}: ${String(paged.stats.pages)} pages for ${String(paged.stats.objects)} objects`,
    );
  });

  test('the fix LDIF applied with ldapmodify clears every fixable finding; the undo LDIF restores them', async (t) => {
    const ldif = fixLdif(first.findings);
    const fixed = ldapmodify(env, ldif.fix);
    assert.equal(fixed.status, 0, `ldapmodify of the fix LDIF: ${fixed.stderr}`);
    const after = await scanDirectory(seed.config, { clock });
    assert.deepEqual(
      rows(after.findings),
      sorted(expectedFindings(seed).filter((r) => UNFIXABLE_CLASSES.has(r.class))),
    );
    // Independent read: the proposed values are what the DC now holds.
    const upns = ldapsearchCli(env, {
      base: seed.ou,
      filter: '(objectClass=user)',
      attributes: [UPN],
    });
    for (const v of [
      `localupn${seed.suffix}@contoso.com`,
      `johnsmith${seed.suffix}@contoso.com`,
      `jurgen${seed.suffix}@contoso.com`,
      `ambig2${seed.suffix}@contoso.com`,
    ])
      assert.ok(upns.includes(`${UPN}: ${v}`), v);

    // Undo, one change record at a time so a refusal is seen record by record.
    const refused: string[] = [];
    for (const record of records(ldif.undo)) {
      const r = ldapmodify(env, `${record}\n`);
      if (r.status !== 0) {
        refused.push(dnOf(record));
        // The one undo Samba refuses and Windows AD accepts: ambig1's UPN equals ambig2's implicit UPN
        // (samldb's CVE-2020-25722 clash check). Written behind samldb, as the seed did.
        assert.match(r.stderr, /samldb: .* is already in use \(implied by /);
        assert.match(record, new RegExp(`^(?:replace|add): ${UPN}$`, 'm'));
        writeBehindSamldb(env, dnOf(record), UPN, ambig1Upn(seed.suffix));
      }
    }
    assert.deepEqual(refused, [seed.users.ambig1.dn]);
    const undone = await scanDirectory(seed.config, { clock });
    assert.deepEqual(rows(undone.findings), rows(first.findings));
    t.diagnostic(
      `fix: ${String(records(ldif.fix).length)} records; undo refused by Samba only for ${refused.join(', ')}`,
    );
  });

  test('the scan only reads: no object under the OU, nor the service account, changes (uSNChanged)', async (t) => {
    // Bound as Administrator, who may write anything: a scan that wrote would succeed at it and show here.
    const admin = withDirectory(seed.config, {
      bindDn: env.adminDn,
      bindPassword: env.adminPassword,
    });
    // Warm-up: any logon bookkeeping the DC itself does on a bind (lastLogonTimestamp) happens before the count.
    await scanDirectory(admin, { clock });
    await scanDirectory(seed.config, { clock });
    const before = highestUsn(env);
    await scanDirectory(admin, { clock, pageSize: PAGE });
    await scanDirectory(seed.config, { clock, pageSize: PAGE });
    const changed = changedSince(env, before);
    const ours = changed.filter(
      (dn) =>
        dn.toLowerCase().endsWith(seed.ou.toLowerCase()) ||
        dn.toLowerCase() === env.bindDn.toLowerCase() ||
        dn.toLowerCase() === env.adminDn.toLowerCase(),
    );
    assert.deepEqual(ours, []);
    t.diagnostic(
      `highestCommittedUSN ${String(before)} → ${String(highestUsn(env))}; objects changed meanwhile (other test files): ${String(changed.length)}`,
    );
  });

  test('an unreachable DC first in directory.urls falls through to the next', async () => {
    const config = withDirectory(seed.config, { urls: ['ldaps://127.0.0.1:1', ...env.urls] });
    const r = await scanDirectory(config, { clock });
    assert.deepEqual(rows(r.findings), rows(first.findings));
  });

  test('every DC unreachable: DirectoryScanError naming each, one line', async () => {
    const config = withDirectory(seed.config, {
      urls: ['ldaps://127.0.0.1:1', 'ldaps://127.0.0.1:2'],
    });
    const err = await scanDirectory(config, { clock }).then(
      () => assert.fail('scan succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof DirectoryScanError, String(err));
    assert.match(
      err.message,
      /^no domain controller answered \(ldaps:\/\/127\.0\.0\.1:1: .*ldaps:\/\/127\.0\.0\.1:2: .*\)$/,
    );
    assert.match(err.message, /ECONNREFUSED/);
    assert.doesNotMatch(err.message, /\n|\bat .*\.(?:ts|js):\d+/);
  });

  test('a DC certificate the configured CA did not issue is refused (checks never off)', async () => {
    // No directory.tls.ca: the test CA is not in Node's trust store, so the DC's certificate must fail.
    const config = withDirectory(seed.config, { tls: {} });
    const err = await scanDirectory(config, { clock }).then(
      () => assert.fail('scan succeeded against an untrusted certificate'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof DirectoryScanError, String(err));
    assert.match(err.message, /no domain controller answered .*(certificate|self.signed|issuer)/i);
  });

  test('a wrong service-account password: DirectoryScanError saying so, and no second DC is tried', async () => {
    // The second "DC" is a listener that only records connections: a scanner that took the refused bind to the
    // next DC (another bad password toward AD's lockout of the service account) would connect to it.
    const second = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    let connections = 0;
    await new Promise<void>((ok) => second.listen(0, '127.0.0.1', ok));
    try {
      const { port } = second.address() as AddressInfo;
      const config = withDirectory(seed.config, {
        urls: [env.urls[0] ?? '', `ldaps://127.0.0.1:${String(port)}`],
        bindPassword: 'Not-The-Password-1',
      });
      const err = await scanDirectory(config, { clock }).then(
        () => assert.fail('scan succeeded with a wrong password'),
        (e: unknown) => e,
      );
      assert.equal(connections, 0, 'the refused bind was taken to the next DC');
      assert.ok(err instanceof DirectoryScanError, String(err));
      assert.equal(
        err.message,
        `${env.urls[0] ?? ''} refused the service account ${env.bindDn}: wrong password or unknown account (AD data 52e); check directory.bindDn and directory.bindPassword`,
      );
    } finally {
      await new Promise((ok) => second.close(ok));
    }
    // A successful bind clears svc-fedgate's badPwdCount again (lockout budget of tests/helpers/samba.ts).
    await scanDirectory(seed.config, { clock });
  });

  test('a search base that does not exist: DirectoryScanError naming it', async () => {
    const base = `OU=NoSuchOu,${env.baseDn}`;
    await assert.rejects(scanDirectory(seed.config, { clock, base }), (e: unknown) => {
      assert.ok(e instanceof DirectoryScanError, String(e));
      assert.equal(
        e.message,
        `${env.urls[0] ?? ''}: the search base ${base} does not exist (check directory.baseDn)`,
      );
      return true;
    });
  });

  test('an unreadable issuance rule file is a configuration error, not a DC failure', async () => {
    if (seed.config.directory.kind !== 'ldap') throw new Error('seed config is not ldap');
    const config = resolveConfig(
      {
        directory: seed.config.directory,
        microsoft365: { federatedDomains: ['contoso.com'], issuanceRulesFile: 'no-such.rules' },
      },
      { baseDir: '/nonexistent-dir', source: 't', embeddedDefaults: false },
    );
    await assert.rejects(scanDirectory(config, { clock }), (e: unknown) => {
      assert.ok(e instanceof DirectoryScanError, String(e));
      assert.match(e.message, /^cannot read the Microsoft 365 issuance rules: .*no-such\.rules/);
      assert.doesNotMatch(e.message, /no domain controller answered/);
      return true;
    });
  });

  test('an embedded directory is refused with a clear message', async () => {
    const config = resolveConfig(
      {},
      { baseDir: process.cwd(), source: 't', embeddedDefaults: true },
    );
    await assert.rejects(scanDirectory(config, { clock }), (e: unknown) => {
      assert.ok(e instanceof DirectoryScanError);
      assert.match(e.message, /only an Active Directory \(kind ldap\)/);
      return true;
    });
  });
});
