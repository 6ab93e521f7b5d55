/**
 * Helpers for the account-protection tests (smart lockout, spray, password change) against the Samba AD DC:
 * administrator-side reads and resets with the OpenLDAP CLI (independent of ldapts), and a sign-in driver that
 * presents a client address through X-Forwarded-For (the test app trusts loopback as its load balancer).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import type { DirectoryProvider } from '../../server/directory/types.ts';
import { Jar, M365, hidden } from './app.ts';
import { readBinaryAttributeWithCli, type SambaEnv, type SambaUserName } from './samba.ts';

function cliEnv(env: SambaEnv): NodeJS.ProcessEnv {
  return { ...process.env, LDAPTLS_CACERT: env.caFile, LDAPTLS_REQCERT: 'demand' };
}

/** ldapmodify as Administrator over LDAPS. */
export function adminModify(env: SambaEnv, ldif: string): void {
  execFileSync(
    'ldapmodify',
    ['-x', '-H', env.urls[0] ?? '', '-D', env.adminDn, '-y', join(env.stateDir, 'admin.pw')],
    { env: cliEnv(env), input: ldif, stdio: ['pipe', 'ignore', 'pipe'] },
  );
}

/** AD's badPwdCount of a user, read as Administrator with ldapsearch. */
export function badPwdCount(env: SambaEnv, user: SambaUserName): number {
  const v = readBinaryAttributeWithCli(env, user, 'badPwdCount');
  return v === undefined ? 0 : Number.parseInt(v.toString('utf8'), 10);
}

/** Unlocks and clears badPwdCount (writing lockoutTime 0, AD semantics). */
export function clearAdLockout(env: SambaEnv, user: SambaUserName): void {
  adminModify(
    env,
    `dn: ${env.users[user].dn}\nchangetype: modify\nreplace: lockoutTime\nlockoutTime: 0\n`,
  );
}

/**
 * Administrator reset of a test user's password to the one in env.json, then its password state: `mustChange`
 * (pwdLastSet 0 → 773) or `expired` (pwdLastSet backdated to 2012 in sam.ldb, as samba.sh does → 532).
 */
export function resetPassword(
  env: SambaEnv,
  user: SambaUserName,
  state: 'normal' | 'mustChange' | 'expired' = 'normal',
): void {
  const pw = Buffer.from(`"${env.users[user].password}"`, 'utf16le').toString('base64');
  const dn = env.users[user].dn;
  adminModify(
    env,
    `dn: ${dn}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: ${pw}\n-\nreplace: lockoutTime\nlockoutTime: 0\n`,
  );
  if (state === 'mustChange')
    adminModify(env, `dn: ${dn}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: 0\n`);
  if (state === 'expired') {
    execFileSync(
      'ldbmodify',
      [
        '-H',
        join(env.stateDir, 'dc', 'private', 'sam.ldb'),
        '--controls=local_oid:1.3.6.1.4.1.7165.4.3.12:0',
      ],
      {
        input: `dn: ${dn}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: 130000000000000000\n`,
        stdio: ['pipe', 'ignore', 'pipe'],
      },
    );
  }
}

export interface FromResult {
  res: request.Response;
  jar: Jar;
}

/** GET the sign-in page and POST credentials, both with `X-Forwarded-For: <xff>` (a trusted-proxy header). */
export async function signInFrom(
  app: Express,
  o: { username: string; password: string; xff: string; jar?: Jar; realm?: string },
): Promise<FromResult> {
  const jar = o.jar ?? new Jar();
  const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: o.realm ?? M365, wfresh: '0' });
  const page = await request(app)
    .get(`/adfs/ls/?${q.toString()}`)
    .set('X-Forwarded-For', o.xff)
    .set('Cookie', jar.header());
  jar.take(page);
  if (page.status !== 200) throw new Error(`sign-in page: ${String(page.status)}`);
  const res = await request(app)
    .post('/adfs/ls/')
    .set('X-Forwarded-For', o.xff)
    .set('Cookie', jar.header())
    .type('form')
    .send({
      AuthState: hidden(page.text, 'AuthState'),
      csrf: hidden(page.text, 'csrf'),
      UserName: o.username,
      Password: o.password,
      AuthMethod: 'FormsAuthentication',
    });
  jar.take(res);
  return { res, jar };
}

/** A token auto-POST page (the sign-in succeeded). */
export function isTokenPage(res: request.Response): boolean {
  return res.status === 200 && res.text.includes('name="wresult"');
}

/**
 * Counts calls of one method of the real directory provider the app uses (a spy, not a stub: every call goes
 * through unchanged), so a test can prove a request was refused before the directory was asked.
 */
export function spyOnDirectory(
  directory: DirectoryProvider,
  method: 'authenticate' | 'findUser' | 'changePassword',
): { count: () => number } {
  let n = 0;
  const target = directory as unknown as Record<string, (...a: unknown[]) => unknown>;
  const real = target[method];
  if (real === undefined) throw new Error(`directory has no ${method}`);
  target[method] = (...args: unknown[]) => {
    n++;
    return real.apply(directory, args);
  };
  return { count: () => n };
}
