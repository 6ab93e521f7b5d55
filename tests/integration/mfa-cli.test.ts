// `fedgate mfa show|reset|enrol-code USER` (issue 16), spawned as an operator runs it: against the embedded
// directory (its enrolment file) and against the Samba AD DC (the mfa1..mfa3 users and the attribute samba.sh grants
// svc-fedgate write access to). Records are planted with the server's EnrolmentStore, as the portal would write them;
// what the command stored is read back independently: the file as JSON, the attribute with ldapsearch, the seal
// opened with node:crypto from the documented construction (HKDF-SHA256, AES-256-GCM, AAD = objectGUID).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { createEnrolmentStore, type EnrolmentStore } from '../../server/authn/mfa/enrolments.ts';
import type { TotpFactor, WebAuthnFactor } from '../../server/authn/mfa/factors.ts';
import { loadConfig } from '../../server/config/load.ts';
import { createDirectory } from '../../server/directory/index.ts';
import type { DirectoryProvider, DirectoryUser } from '../../server/directory/types.ts';
import { systemClock } from '../../server/lib/clock.ts';
import {
  ldapsearchAsAdmin,
  readObjectGuidWithCli,
  sambaEnv,
  sambaOperatorDirectory,
  type SambaEnv,
} from '../helpers/samba.ts';
import { runCli } from '../helpers/cli.ts';
import {
  MFA_ATTRIBUTE,
  openSealedEnrolments,
  readMfaAttribute,
  setMfaAttribute,
} from '../helpers/mfa.ts';

const SECRET = 'mfa-cli-test-secret-0123456789abcdefghijklmn';
const TOTP_SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const PUBLIC_KEY = Buffer.alloc(77, 0xa5).toString('base64url');
const CREDENTIAL_ID = Buffer.alloc(32, 0x5a).toString('base64url');
const AAGUID = 'cb69481e-8ff7-4039-93ec-0a2729a154a8';
const LIFETIME_HOURS = 5;

const totp: TotpFactor = {
  kind: 'totp',
  id: 'totpFactorId0000000001',
  // A user-chosen name with a terminal escape and a bidi override: shown escaped, never raw.
  name: 'Phone \u001b[31mred\u202e',
  createdAt: '2026-12-01T08:00:00.000Z',
  secret: TOTP_SECRET,
};
const key: WebAuthnFactor = {
  kind: 'webauthn',
  id: 'webauthnFactorId000001',
  name: 'YubiKey 5',
  createdAt: '2026-12-02T09:00:00.000Z',
  lastUsedAt: '2026-12-05T10:00:00.000Z',
  credentialId: CREDENTIAL_ID,
  publicKey: PUBLIC_KEY,
  counter: 7,
  aaguid: AAGUID,
};

/** Independent open of a sealed value `keyId.iv.ciphertext+tag` (lib/sealer.ts's documented construction). */
function openSealed(sealed: string, objectGuid: Buffer): Record<string, unknown> {
  return JSON.parse(openSealedEnrolments(SECRET, objectGuid, sealed)) as Record<string, unknown>;
}

/** The hash a code is stored as: SHA-256 of the normalised code (no dashes), as authn/mfa/enrolments.ts documents. */
function codeHash(code: string): string {
  return createHash('sha256')
    .update(`fedgate-enrolment-code:${code.replace(/-/g, '')}`)
    .digest('base64url');
}

const CODE =
  /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;

interface AuditLine {
  event: string;
  action: string;
  account: string;
  upn?: string;
  by: string;
  operator?: string;
  count?: number;
  stream: string;
}

/** The audit lines on standard error (nothing else is JSON there). */
function auditLines(stderr: string): AuditLine[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as AuditLine);
}

function writeConfig(dir: string, extra: Record<string, unknown> = {}): void {
  writeFileSync(
    join(dir, 'fedgate.yaml'),
    stringify({
      hostname: 'sts.example.test',
      listen: { port: 443, tls: 'off' },
      keys: { dir: './keys' },
      log: { level: 'silent' },
      ...extra,
      mfa: { enrolment: { codeLifetimeHours: LIFETIME_HOURS }, ...(extra.mfa ?? {}) },
    }),
  );
}

function writeSecret(dir: string): void {
  mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'keys', 'mfa.secret'), `${SECRET}\n`, { mode: 0o600 });
}

describe('fedgate mfa against the embedded directory', () => {
  let dir: string;
  let directory: DirectoryProvider;
  let store: EnrolmentStore;
  let alice: DirectoryUser;
  const file = (): string => join(dir, 'keys', 'mfa-enrolments.json');
  /** The user's sealed value in the enrolment file, read as plain JSON. */
  const storedValue = (): string | undefined =>
    existsSync(file())
      ? (JSON.parse(readFileSync(file(), 'utf8')) as { users: Record<string, string> }).users[
          alice.objectGuid.toString('hex')
        ]
      : undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fedgate-mfa-cli-'));
    writeConfig(dir);
    writeSecret(dir);
    const config = loadConfig({ file: join(dir, 'fedgate.yaml') });
    directory = await createDirectory(config.directory, {
      logger: pino({ level: 'silent' }),
      clock: systemClock,
      baseDir: config.baseDir,
    });
    const found = await directory.findUser('alice');
    assert.ok(found);
    alice = found;
    const s = createEnrolmentStore(config, directory, { clock: systemClock, secrets: [SECRET] });
    assert.ok(s);
    store = s;
  });
  after(async () => {
    await directory.close();
  });

  test('show lists kind, id, name, created and last used, never a secret; audited as viewed by admin', async () => {
    await store.write(alice, { v: 1, factors: [totp, key] });
    const r = runCli(['mfa', 'show', 'alice', '--config', 'fedgate.yaml'], dir);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /FEDGATE\\alice \(alice@fedgate\.test\)/);
    assert.match(out, /Factors\s+2/);
    assert.match(
      out,
      /totp\s+totpFactorId0000000001\s+"Phone \\u\{1b\}\[31mred\\u\{202e\}"\s+created 2026-12-01T08:00:00\.000Z\s+last used never/,
    );
    assert.match(
      out,
      /webauthn\s+webauthnFactorId000001\s+"YubiKey 5"\s+created 2026-12-02T09:00:00\.000Z\s+last used 2026-12-05T10:00:00\.000Z\s+model cb69481e/,
    );
    assert.match(out, /Enrolment code\s+none/);
    // The factor name's escape sequence and bidi override never reach the operator's terminal.
    assert.equal(out.includes('\u001b') || out.includes('\u202e'), false);
    for (const secret of [TOTP_SECRET, PUBLIC_KEY, CREDENTIAL_ID])
      assert.equal(out.includes(secret) || r.stderr.includes(secret), false);

    const json = runCli(
      ['mfa', 'show', 'FEDGATE\\alice', '--config', 'fedgate.yaml', '--json'],
      dir,
    );
    assert.equal(json.status, 0, json.stderr);
    const body = JSON.parse(json.stdout) as {
      factors: Record<string, unknown>[];
      enrolmentCode: unknown;
    };
    assert.deepEqual(
      body.factors.map((f) => Object.keys(f).sort()),
      [
        ['createdAt', 'id', 'kind', 'lastUsedAt', 'name'],
        ['aaguid', 'createdAt', 'id', 'kind', 'lastUsedAt', 'name'],
      ],
    );
    assert.equal(body.enrolmentCode, null);
    for (const secret of [TOTP_SECRET, PUBLIC_KEY, CREDENTIAL_ID])
      assert.equal(json.stdout.includes(secret), false);

    const lines = auditLines(r.stderr);
    assert.equal(lines.length, 1);
    const { time, level, node, service, ...line } = lines[0] as AuditLine & Record<string, unknown>;
    assert.ok(typeof time === 'string' && level === 30 && typeof node === 'string');
    assert.equal(service, 'fedgate');
    assert.deepEqual(line, {
      stream: 'audit',
      event: 'mfa_enrolment',
      action: 'viewed',
      count: 2,
      account: `guid:${alice.objectGuid.toString('base64')}`,
      upn: 'alice@fedgate.test',
      by: 'admin',
      operator: userInfo().username,
      msg: 'second factors viewed',
    });
    // Standard output is the report only.
    assert.doesNotMatch(out, /mfa_enrolment/);
  });

  test('enrol-code prints a one-time code that the record holds only as its hash, valid codeLifetimeHours', async () => {
    await store.write(alice, { v: 1, factors: [key] });
    const before = Date.now();
    const r = runCli(['mfa', 'enrol-code', 'alice@fedgate.test', '--config', 'fedgate.yaml'], dir);
    const afterRun = Date.now();
    assert.equal(r.status, 0, r.stderr);
    const code = /Enrolment code for FEDGATE\\alice \(alice@fedgate\.test\): (\S+)/.exec(
      r.stdout,
    )?.[1];
    assert.ok(code !== undefined && CODE.test(code), r.stdout);
    const expires = /Expires (\S+) \(5 hours\)/.exec(r.stdout)?.[1] ?? '';
    const t = Date.parse(expires);
    assert.ok(
      t >= before + LIFETIME_HOURS * 3_600_000 && t <= afterRun + LIFETIME_HOURS * 3_600_000,
    );

    const sealed = storedValue();
    assert.ok(sealed !== undefined);
    assert.equal(sealed.includes(code.replace(/-/g, '')), false);
    const record = openSealed(sealed, alice.objectGuid) as {
      f: { i: string }[];
      cd: { h: string; x: number };
    };
    assert.equal(record.cd.h, codeHash(code));
    assert.equal(new Date(record.cd.x).toISOString(), expires);
    // The factor already enrolled is kept.
    assert.deepEqual(
      record.f.map((f) => f.i),
      [key.id],
    );

    const [line] = auditLines(r.stderr);
    assert.equal(line?.action, 'code_issued');
    assert.equal(line.by, 'admin');
    // The code is shown once, on standard output: never in the audit stream.
    assert.equal(r.stderr.includes(code), false);
    assert.equal(r.stderr.includes(code.replace(/-/g, '')), false);

    const show = runCli(['mfa', 'show', 'alice', '--config', 'fedgate.yaml'], dir);
    assert.match(show.stdout, new RegExp(`Enrolment code\\s+pending, expires ${expires}`));
    assert.equal(show.stdout.includes(code), false);

    // A second code replaces the first.
    const again = runCli(['mfa', 'enrol-code', 'alice', '--config', 'fedgate.yaml', '--json'], dir);
    assert.equal(again.status, 0, again.stderr);
    const second = (JSON.parse(again.stdout) as { code: string }).code;
    assert.notEqual(second, code);
    const replaced = openSealed(storedValue() ?? '', alice.objectGuid) as { cd: { h: string } };
    assert.equal(replaced.cd.h, codeHash(second));
  });

  test('reset removes every factor and the pending code, and prints what it removed', async () => {
    await store.write(alice, {
      v: 1,
      factors: [totp, key],
      code: { hash: codeHash('AAAA-BBBB-CCCC-DDDD'), expiresAt: '2099-01-01T00:00:00.000Z' },
    });
    assert.ok(storedValue() !== undefined);
    const r = runCli(['mfa', 'reset', 'alice', '--config', 'fedgate.yaml'], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Removed 2 factors from FEDGATE\\alice/);
    assert.match(r.stdout, /totpFactorId0000000001/);
    assert.match(r.stdout, /webauthnFactorId000001\s+"YubiKey 5"/);
    assert.match(r.stdout, /withdrew the pending enrolment code/);
    assert.match(r.stdout, /Next: fedgate mfa enrol-code alice/);
    // Nothing of the user's is left in the file.
    assert.equal(storedValue(), undefined);
    const [line] = auditLines(r.stderr);
    assert.equal(line?.action, 'reset');
    assert.equal(line.count, 2);

    const again = runCli(['mfa', 'reset', 'alice', '--config', 'fedgate.yaml'], dir);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /had no factors and no enrolment code: nothing to remove/);
  });

  test('a record that does not open: show says so and exits 1; reset clears it', async () => {
    await store.write(alice, { v: 1, factors: [totp] });
    const doc = JSON.parse(readFileSync(file(), 'utf8')) as { v: 1; users: Record<string, string> };
    const k = alice.objectGuid.toString('hex');
    const value = doc.users[k] ?? '';
    // One character of the ciphertext changed, as an edit outside fedgate would.
    const i = value.length - 5;
    doc.users[k] = `${value.slice(0, i)}${value[i] === 'A' ? 'B' : 'A'}${value.slice(i + 1)}`;
    writeFileSync(file(), JSON.stringify(doc));

    const show = runCli(['mfa', 'show', 'alice', '--config', 'fedgate.yaml'], dir);
    assert.equal(show.status, 1);
    assert.match(show.stderr, /fedgate: the enrolment record of FEDGATE\\alice .* cannot be read/);
    assert.match(show.stderr, /fedgate mfa reset alice clears it/);
    assert.doesNotMatch(show.stderr, /\n\s+at /, 'no stack trace');
    const code = runCli(['mfa', 'enrol-code', 'alice', '--config', 'fedgate.yaml'], dir);
    assert.equal(code.status, 1);
    assert.match(code.stderr, /cannot be read/);

    const reset = runCli(['mfa', 'reset', 'alice', '--config', 'fedgate.yaml'], dir);
    assert.equal(reset.status, 0, reset.stderr);
    assert.match(reset.stdout, /could not be read .*it was cleared/);
    assert.equal(storedValue(), undefined);
    const [line] = auditLines(reset.stderr);
    assert.equal(line?.action, 'reset');
    assert.equal(line.count, undefined);
  });

  test('refusals: unknown user, no user, unknown subcommand, enrol-code when codes are not allowed', async () => {
    const unknown = runCli(['mfa', 'show', 'nobody', '--config', 'fedgate.yaml'], dir);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /^fedgate: no user "nobody" in the directory\n$/);
    assert.equal(unknown.stdout, '');

    const noUser = runCli(['mfa', 'show', '--config', 'fedgate.yaml'], dir);
    assert.equal(noUser.status, 2);
    assert.match(noUser.stderr, /mfa needs a subcommand and a user/);
    const badSub = runCli(['mfa', 'delete', 'alice', '--config', 'fedgate.yaml'], dir);
    assert.equal(badSub.status, 2);

    await store.write(alice, { v: 1, factors: [key] });
    const stored = storedValue();
    const other = mkdtempSync(join(tmpdir(), 'fedgate-mfa-cli-'));
    writeConfig(other, {
      keys: { dir: join(dir, 'keys') },
      mfa: { enrolment: { allow: ['intranet'] } },
    });
    const refused = runCli(['mfa', 'enrol-code', 'alice', '--config', 'fedgate.yaml'], other);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /mfa\.enrolment\.allow does not include code/);
    assert.equal(storedValue(), stored, 'no code written');
    assert.equal(auditLines(refused.stderr).length, 0);
  });

  test('no MFA secret: refused, and none is made (records would not open on the servers)', () => {
    const other = mkdtempSync(join(tmpdir(), 'fedgate-mfa-cli-'));
    writeConfig(other);
    for (const sub of ['show', 'reset', 'enrol-code']) {
      const r = runCli(['mfa', sub, 'alice', '--config', 'fedgate.yaml'], other);
      assert.equal(r.status, 1, sub);
      assert.match(
        r.stderr,
        /no MFA secret: .*mfa\.secret does not exist and mfa\.secrets is not set/,
      );
    }
    assert.equal(existsSync(join(other, 'keys', 'mfa.secret')), false);
    assert.equal(existsSync(join(other, 'keys', 'mfa-enrolments.json')), false);
  });
});

describe('fedgate mfa against Active Directory (Samba)', () => {
  const ATTRIBUTE = MFA_ATTRIBUTE;
  let env: SambaEnv;
  let dir: string;
  let guid: Buffer;

  const ldapConfig = (attribute: string | undefined) => ({
    directory: sambaOperatorDirectory(env),
    mfa: {
      enrolment: {
        codeLifetimeHours: LIFETIME_HOURS,
        ...(attribute === undefined ? {} : { attribute }),
      },
    },
  });

  /** The attribute's value on a user, read as Administrator with ldapsearch (undefined when not set). */
  const readAttribute = (sam: string): string | undefined => readMfaAttribute(env, sam);
  /** Clears the attribute as Administrator with ldapmodify, so each run starts from no record. */
  const clearAttribute = (sam: string): void => {
    const dn = /^dn: (.+)$/m.exec(ldapsearchAsAdmin(env, sam, '1.1'))?.[1];
    assert.ok(dn !== undefined);
    setMfaAttribute(env, dn, undefined);
  };

  before(() => {
    env = sambaEnv();
    dir = mkdtempSync(join(tmpdir(), 'fedgate-mfa-cli-samba-'));
    writeConfig(dir, ldapConfig(ATTRIBUTE));
    writeSecret(dir);
    guid = readObjectGuidWithCli(env, 'mfa1');
    clearAttribute('mfa1');
  });
  after(() => {
    clearAttribute('mfa1');
  });

  test('enrol-code writes the sealed code to the attribute, show sees it, reset clears the attribute', () => {
    const issued = runCli(['mfa', 'enrol-code', 'CORP\\mfa1', '--config', 'fedgate.yaml'], dir);
    assert.equal(issued.status, 0, issued.stderr);
    const code = /Enrolment code for CORP\\mfa1 \(mfa1@corp\.example\.test\): (\S+)/.exec(
      issued.stdout,
    )?.[1];
    assert.ok(code !== undefined && CODE.test(code), issued.stdout);
    // Read back as Administrator with ldapsearch: the attribute holds the sealed record, bound to mfa1's GUID.
    const raw = readAttribute('mfa1');
    assert.ok(raw !== undefined, 'attribute written');
    const record = openSealed(raw, guid) as { f: unknown[]; cd: { h: string } };
    assert.equal(record.cd.h, codeHash(code));
    assert.deepEqual(record.f, []);
    const [line] = auditLines(issued.stderr);
    assert.equal(line?.account, `guid:${guid.toString('base64')}`);
    assert.equal(line.upn, 'mfa1@corp.example.test');

    const show = runCli(['mfa', 'show', 'mfa1@corp.example.test', '--config', 'fedgate.yaml'], dir);
    assert.equal(show.status, 0, show.stderr);
    assert.match(show.stdout, /directory attribute msDS-cloudExtensionAttribute10/);
    assert.match(show.stdout, /Enrolment code\s+pending, expires/);

    const reset = runCli(['mfa', 'reset', 'mfa1', '--config', 'fedgate.yaml'], dir);
    assert.equal(reset.status, 0, reset.stderr);
    assert.match(reset.stdout, /Withdrew the pending enrolment code of CORP\\mfa1/);
    assert.equal(readAttribute('mfa1'), undefined);
  });

  test('an ldap directory without mfa.enrolment.attribute: storage not configured, exit 1', () => {
    const other = mkdtempSync(join(tmpdir(), 'fedgate-mfa-cli-samba-'));
    writeConfig(other, ldapConfig(undefined));
    writeSecret(other);
    const r = runCli(['mfa', 'show', 'mfa2', '--config', 'fedgate.yaml'], other);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /MFA enrolment storage is not configured: mfa\.enrolment\.attribute is not set/,
    );
  });
});
