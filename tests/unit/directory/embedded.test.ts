// Embedded directory specifics beyond the shared contract: users files, validation, clock, equal work.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { EmbeddedDirectory, hashPassword } from '../../../server/directory/embedded.ts';
import type { DirectoryOperation } from '../../../server/directory/types.ts';
import { FixedClock } from '../../../server/lib/clock.ts';

const logger = pino({ level: 'silent' });

describe('EmbeddedDirectory users file', () => {
  let dir: string;
  let hash: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fedgate-users-'));
    hash = await hashPassword('S3cret-pass');
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const load = (
    name: string,
    content: string,
    clock = new FixedClock(),
    ops: DirectoryOperation[] = [],
  ): EmbeddedDirectory => {
    writeFileSync(join(dir, name), content);
    return new EmbeddedDirectory(
      { kind: 'embedded', file: name, netbiosDomain: 'CONTOSO' },
      { logger, clock, baseDir: dir, onOperation: (op) => ops.push(op) },
    );
  };

  it('reads a YAML file relative to baseDir, with hashPassword() hashes', async () => {
    const d = load(
      'users.yaml',
      `upnSuffix: contoso.example
users:
  - sAMAccountName: pat
    objectGuid: 00112233-4455-6677-8899-aabbccddeeff
    passwordHash: "${hash}"
    groups: [Ops]
`,
    );
    const r = await d.authenticate('CONTOSO\\pat', 'S3cret-pass');
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.user.userPrincipalName, 'pat@contoso.example');
    assert.equal(r.user.windowsAccountName, 'CONTOSO\\pat');
    assert.equal(r.user.dn, 'CN=pat,CN=Users,DC=contoso,DC=example');
    assert.equal(
      r.user.immutableId,
      Buffer.from('33221100554477668899aabbccddeeff', 'hex').toString('base64'),
    );
    assert.deepEqual(r.user.groups, ['Ops']);
    r.user.groups.push('Admins');
    const again = await d.findUser('pat');
    assert.deepEqual(again?.groups, ['Ops'], 'callers get copies');
    assert.match((await d.healthCheck()).servers[0]?.url ?? '', /users\.yaml$/);
  });

  it('accepts JSON, and an explicit userPrincipalName', async () => {
    const d = load(
      'users.json',
      JSON.stringify({
        users: [
          {
            sAMAccountName: 'kim',
            userPrincipalName: 'kim.lee@contoso.example',
            objectGuid: '11112222-3333-4444-5555-666677778888',
            passwordHash: hash,
          },
        ],
      }),
    );
    assert.ok((await d.authenticate('kim.lee@contoso.example', 'S3cret-pass')).ok);
    assert.equal(await d.findUser('kim@contoso.example'), undefined);
  });

  it('rejects invalid files with the path and the problem', () => {
    const guid = '00112233-4455-6677-8899-aabbccddeeff';
    const cases: [string, RegExp][] = [
      [
        `users:\n  - sAMAccountName: a\n    objectGuid: nope\n    passwordHash: "${hash}"\n`,
        /objectGuid/,
      ],
      [
        `users:\n  - sAMAccountName: a\n    objectGuid: ${guid}\n    passwordHash: plain-text\n`,
        /passwordHash/,
      ],
      [
        `users:\n  - sAMAccountName: a\n    objectGuid: ${guid}\n    passwordHash: "${hash}"\n    admin: true\n`,
        /admin/,
      ],
      [
        `users:\n  - sAMAccountName: a\n    objectGuid: ${guid}\n    passwordHash: "${hash}"\n  - sAMAccountName: A\n    objectGuid: 11112222-3333-4444-5555-666677778888\n    passwordHash: "${hash}"\n`,
        /duplicate sAMAccountName/,
      ],
      [
        `users:\n  - sAMAccountName: a\n    objectGuid: ${guid}\n    passwordHash: "scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="\n`,
        /passwordHash/,
      ],
    ];
    for (const [content, problem] of cases) {
      assert.throws(
        () => load('bad.yaml', content),
        (e: Error) => e.message.includes('bad.yaml') && problem.test(e.message),
        content,
      );
    }
  });

  it('evaluates accountExpires against the injected clock', async () => {
    const clock = new FixedClock('2026-01-15T10:00:00Z');
    const d = load(
      'expiry.yaml',
      `users:
  - sAMAccountName: temp
    objectGuid: 00112233-4455-6677-8899-aabbccddeeff
    passwordHash: "${hash}"
    accountExpires: 2026-01-15T11:00:00Z
`,
      clock,
    );
    assert.ok((await d.authenticate('CONTOSO\\temp', 'S3cret-pass')).ok);
    clock.advance(60 * 60 * 1000);
    const r = await d.authenticate('CONTOSO\\temp', 'S3cret-pass');
    assert.deepEqual(r.ok ? r : [r.kind, r.reason], ['account_expired', 'account_expired']);
  });

  it('does one password verification for known and unknown users alike (C2.2)', async () => {
    const ops: DirectoryOperation[] = [];
    const d = load(
      'work.yaml',
      `users:\n  - sAMAccountName: pat\n    objectGuid: 00112233-4455-6677-8899-aabbccddeeff\n    passwordHash: "${hash}"\n`,
      new FixedClock(),
      ops,
    );
    await d.authenticate('pat', 'wrong');
    await d.authenticate('nobody', 'wrong');
    assert.deepEqual(
      ops.map((o) => o.op),
      ['verify_password', 'verify_password'],
    );
  });
});

describe('hashPassword', () => {
  it('salts every hash', async () => {
    const [a, b] = await Promise.all([hashPassword('same'), hashPassword('same')]);
    assert.match(a, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    assert.notEqual(a, b);
  });
});
