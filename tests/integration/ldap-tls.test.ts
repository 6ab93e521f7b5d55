/**
 * LDAPS certificate verification against the Samba AD DC (security-corpus C4.6): a DC whose certificate
 * does not chain to the configured CA, or does not name the expected server, is never used; there is no
 * fallback to an unverified connection. No wrong passwords are used here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { LdapDirectoryConfig } from '../../server/config/schema.ts';
import { createDirectory, type DirectoryOperation } from '../../server/directory/index.ts';
import type { AuthResult } from '../../server/directory/types.ts';
import { systemClock } from '../../server/lib/clock.ts';
import { sambaEnv, sambaLdapConfig } from '../helpers/samba.ts';

const env = sambaEnv();
const { jdoe } = env.users;

async function signIn(
  overrides: Partial<LdapDirectoryConfig>,
  baseDir = '/',
): Promise<{ r: AuthResult; ops: DirectoryOperation[] }> {
  const ops: DirectoryOperation[] = [];
  const dir = await createDirectory(
    sambaLdapConfig(env, { connectTimeoutMs: 2000, ...overrides }),
    {
      logger: pino({ level: 'silent' }),
      clock: systemClock,
      baseDir,
      onOperation: (op) => ops.push(op),
    },
  );
  try {
    return { r: await dir.authenticate('jdoe', jdoe.password), ops };
  } finally {
    await dir.close();
  }
}

function assertRefused(r: AuthResult, ops: DirectoryOperation[], reason: RegExp): void {
  assert.equal(r.ok, false);
  assert.equal(r.kind, 'unavailable');
  assert.match(r.reason, reason);
  assert.ok(
    ops.some((o) => o.op === 'connect'),
    'a connection was attempted',
  );
  assert.ok(!ops.some((o) => o.op === 'search' || o.op === 'bind'), 'no LDAP message was sent');
}

describe('LDAPS certificate verification (Samba AD DC)', () => {
  let otherCaDir: string;
  before(() => {
    // A CA that did not issue the DC certificate.
    otherCaDir = mkdtempSync(join(tmpdir(), 'fedgate-other-ca-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(otherCaDir, 'ca.key'),
        '-out',
        join(otherCaDir, 'ca.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=some other CA',
      ],
      { stdio: 'ignore' },
    );
  });
  after(() => {
    rmSync(otherCaDir, { recursive: true, force: true });
  });

  it('the configured CA, given relative to baseDir, verifies the DC', async () => {
    const { r } = await signIn({ tls: { ca: 'tls/ca.pem' } }, env.stateDir);
    assert.ok(r.ok, JSON.stringify(r));
  });

  it('a certificate from another CA is refused', async () => {
    const { r, ops } = await signIn({ tls: { ca: join(otherCaDir, 'ca.pem') } });
    assertRefused(
      r,
      ops,
      /^connection:(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/,
    );
  });

  it('without a configured CA the system roots apply, and they do not know the test CA', async () => {
    const { r, ops } = await signIn({ tls: {} });
    assertRefused(r, ops, /^connection:/);
  });

  it('a certificate that does not name the expected server is refused', async () => {
    const { r, ops } = await signIn({ tls: { ca: env.caFile, servername: 'dc1.other.example' } });
    assertRefused(r, ops, /^connection:ERR_TLS_CERT_ALTNAME_INVALID$/);
  });

  it('tls.servername is checked instead of the URL host', async () => {
    const { r } = await signIn({ tls: { ca: env.caFile, servername: 'localhost' } });
    assert.ok(r.ok, JSON.stringify(r));
  });
});
