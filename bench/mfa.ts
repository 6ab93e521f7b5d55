/**
 * The cost of the MFA step per sign-in (issue 16 "npm run bench"): a Microsoft 365 WS-Fed sign-in that asks
 * wauth=…multipleauthn (sign-in page, password, second-factor page, TOTP code, token) next to the same sign-in
 * without wauth (page, password, token), on the same fedgate instance against the Samba AD DC, rounds interleaved,
 * reported as a ratio. The MFA side adds one HTTP round trip, an LDAP read of the sealed enrolment attribute and
 * its AES-GCM open, a lookup by objectGUID, the TOTP check and its replay record.
 *
 * One sign-in at a time: a TOTP code is accepted once per account and time step, so the server's clock (FixedClock,
 * injected) moves three steps after every sign-in of both kinds; concurrent sign-ins would race that clock. The
 * codes come from a small RFC 4226/6238 implementation here (the user's authenticator app), not fedgate's.
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FixedClock } from '../server/lib/clock.ts';
import { makeTestApp } from '../tests/helpers/app.ts';
import { ensureAdUser, MFA_ATTRIBUTE, MFA_SECRET } from '../tests/helpers/mfa.ts';
import { sambaLdapConfig, type SambaEnv } from '../tests/helpers/samba.ts';
import { median, percentile } from './lib.ts';

const SECRET_B32 = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const MULTIPLE_AUTHN = 'http://schemas.microsoft.com/claims/multipleauthn';

function base32Bytes(s: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of s) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP (SHA-1, 30 s, 6 digits) over RFC 4226 §5.3 dynamic truncation. */
function totp(key: Buffer, at: Date): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at.getTime() / 30_000)));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = (h[h.length - 1] ?? 0) & 0x0f;
  const n = (h.readUInt32BE(o) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

export interface MfaBenchRow {
  name: string;
  /** Sign-ins per second of each round, and their median. */
  rounds: number[];
  perSec: number;
  p50ms: number;
  p99ms: number;
  failed: number;
}

export interface MfaBenchResult {
  rows: [MfaBenchRow, MfaBenchRow];
  /**
   * Password-only sign-ins per second ÷ sign-ins with the TOTP step per second (the MFA step's cost factor): the
   * median over rounds of each MFA round against the password round just before it.
   */
  ratio: number;
  /** Added latency of the MFA step at the median, milliseconds. */
  addedP50ms: number;
}

interface Reply {
  status: number;
  cookies: string[];
  text: string;
}

export async function mfaBench(
  env: SambaEnv,
  opts: { rounds: number; seconds: number },
): Promise<MfaBenchResult> {
  const user = ensureAdUser(env, 'mfabench');
  const clock = new FixedClock(Math.floor(Date.now() / 30_000) * 30_000);
  const t = await makeTestApp(
    {
      hostname: 'localhost',
      publicUrl: 'http://127.0.0.1',
      log: { level: 'silent' },
      directory: sambaLdapConfig(env, { poolSize: 2 }),
      microsoft365: { federatedDomains: [env.upnSuffix] },
      mfa: { methods: ['totp'], secrets: [MFA_SECRET], enrolment: { attribute: MFA_ATTRIBUTE } },
    },
    { clock },
  );
  const du = await t.services.directory.findUser(user.sAMAccountName);
  if (du === undefined || t.services.mfa.enrolments === undefined)
    throw new Error('bench user or enrolment store missing');
  await t.services.mfa.enrolments.write(du, {
    v: 1,
    factors: [
      {
        kind: 'totp',
        id: 'bench',
        name: 'Bench',
        createdAt: clock.now().toISOString(),
        secret: SECRET_B32,
      },
    ],
  });
  const server: Server = createServer(t.app);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const key = base32Bytes(SECRET_B32);

  const call = (method: string, path: string, cookie: string, body?: string): Promise<Reply> =>
    new Promise((ok, fail) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          agent,
          headers: {
            cookie,
            ...(body === undefined
              ? {}
              : {
                  'content-type': 'application/x-www-form-urlencoded',
                  'content-length': String(Buffer.byteLength(body)),
                }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            ok({
              status: res.statusCode ?? 0,
              cookies: ([] as string[])
                .concat(res.headers['set-cookie'] ?? [])
                .map((c) => c.split(';')[0] ?? ''),
              text: Buffer.concat(chunks).toString('utf8'),
            });
          });
          res.on('error', fail);
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', fail);
      if (body !== undefined) req.write(body);
      req.end();
    });
  const field = (html: string, name: string): string =>
    (new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '').replace(/&#x2F;/g, '/');

  /** One full sign-in; true when the token form came back (and, with MFA, only after the code). */
  async function signIn(withMfa: boolean): Promise<boolean> {
    const jar = new Map<string, string>();
    const header = (): string => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const take = (r: Reply): void => {
      for (const c of r.cookies) {
        const eq = c.indexOf('=');
        jar.set(c.slice(0, eq), c.slice(eq + 1));
      }
    };
    const q = new URLSearchParams({
      wa: 'wsignin1.0',
      wtrealm: 'urn:federation:MicrosoftOnline',
      wctx: 'bench',
    });
    if (withMfa) q.set('wauth', MULTIPLE_AUTHN);
    const page = await call('GET', `/adfs/ls/?${q.toString()}`, '');
    take(page);
    if (page.status !== 200) return false;
    const pw = await call(
      'POST',
      '/adfs/ls/',
      header(),
      new URLSearchParams({
        AuthState: field(page.text, 'AuthState'),
        csrf: field(page.text, 'csrf'),
        UserName: user.upn,
        Password: user.password,
      }).toString(),
    );
    take(pw);
    if (!withMfa) return pw.status === 200 && pw.text.includes('name="wresult"');
    if (!pw.text.includes('id="totpForm"')) return false;
    const done = await call(
      'POST',
      '/adfs/ls/mfa',
      header(),
      new URLSearchParams({
        AuthState: field(pw.text, 'AuthState'),
        csrf: field(pw.text, 'csrf'),
        Method: 'totp',
        Code: totp(key, clock.now()),
      }).toString(),
    );
    return done.status === 200 && done.text.includes('name="wresult"');
  }

  async function round(withMfa: boolean, latencies: number[]): Promise<[number, number]> {
    let n = 0;
    let failed = 0;
    const start = performance.now();
    const end = start + opts.seconds * 1000;
    while (performance.now() < end) {
      const s = performance.now();
      const ok = await signIn(withMfa).catch(() => false);
      // Three TOTP steps on: the next code is never one already used (replay) nor within the drift of one.
      clock.advance(90_000);
      if (ok) {
        latencies.push(performance.now() - s);
        n++;
      } else failed++;
    }
    return [(n * 1000) / (performance.now() - start), failed];
  }

  try {
    // Warm-up of both paths: LDAPS connections, JIT, the enrolment attribute's schema check.
    for (let i = 0; i < 3; i++) {
      if (!(await signIn(false))) throw new Error('password-only sign-in failed in warm-up');
      clock.advance(90_000);
      if (!(await signIn(true))) throw new Error('MFA sign-in failed in warm-up');
      clock.advance(90_000);
    }
    const lat: [number[], number[]] = [[], []];
    const rates: [number[], number[]] = [[], []];
    const failed = [0, 0];
    for (let r = 0; r < opts.rounds; r++) {
      for (const i of [0, 1] as const) {
        const [perSec, f] = await round(i === 1, lat[i]);
        rates[i].push(perSec);
        failed[i] = (failed[i] ?? 0) + f;
      }
    }
    const row = (i: 0 | 1, name: string): MfaBenchRow => ({
      name,
      rounds: rates[i],
      perSec: median(rates[i]),
      p50ms: percentile(lat[i], 50),
      p99ms: percentile(lat[i], 99),
      failed: failed[i] ?? 0,
    });
    const rows: [MfaBenchRow, MfaBenchRow] = [
      row(0, 'WS-Fed sign-in, password only (page + password + token)'),
      row(1, 'WS-Fed sign-in with TOTP MFA step (+ MFA page + code)'),
    ];
    // Each MFA round against the password round run just before it, then the median of those ratios: rounds of
    // one kind are not compared with rounds run under a different load (a busy machine moves both sides together).
    const paired = rates[1].map((mfaRate, r) => (rates[0][r] ?? 0) / mfaRate);
    return {
      rows,
      ratio: median(paired),
      addedP50ms: rows[1].p50ms - rows[0].p50ms,
    };
  } finally {
    agent.destroy();
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
    await t.close();
  }
}
