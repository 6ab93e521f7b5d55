import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Client } from 'ldapts';
import request from 'supertest';
import {
  adminModify,
  isTokenPage,
  signInFrom,
  spyOnDirectory,
} from '../helpers/account-protection.ts';
import { Jar, M365, hidden, makeTestApp, type TestApp } from '../helpers/app.ts';
import { ldapsearchAsAdmin, sambaEnv, sambaLdapConfig, type SambaEnv } from '../helpers/samba.ts';
import { buildRst, rstHeaders, V13 } from '../fixtures/wstrust/rst.ts';

// Security corpus C2.3 (no existence oracle on the pre-authentication pages and faults) and C4.2 (no bind DN or
// search built from user input) against the real Samba AD DC. Accounts are this file's own, created and deleted
// here, so no other test's lockout budget moves: each gets at most 3 wrong passwords per run (AD locks at 5).

const SUFFIX_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Creates (re-creates) a user as Administrator; `cnEscaped` is the RDN value already escaped for a DN. */
function createUser(
  env: SambaEnv,
  o: { cnEscaped: string; sam: string; upn: string; password: string },
): string {
  const dn = `CN=${o.cnEscaped},CN=Users,${env.baseDn}`;
  try {
    adminModify(env, `dn: ${dn}\nchangetype: delete\n`);
  } catch {
    /* not there yet */
  }
  const pw = Buffer.from(`"${o.password}"`, 'utf16le').toString('base64');
  // The DN as base64 (`dn::`, RFC 2849) so its RFC 4514 escapes reach the DC byte for byte.
  adminModify(
    env,
    `dn:: ${Buffer.from(dn, 'utf8').toString('base64')}\nchangetype: add\nobjectClass: user\n` +
      `sAMAccountName: ${o.sam}\nuserPrincipalName: ${o.upn}\nunicodePwd:: ${pw}\nuserAccountControl: 512\n`,
  );
  return dn;
}

/** The DN of an account as the DC reports it, read with the OpenLDAP CLI (independent of ldapts). */
function dnWithCli(env: SambaEnv, sam: string): string {
  const out = ldapsearchAsAdmin(env, sam, '1.1');
  const line = out.split('\n').find((l) => l.startsWith('dn:'));
  if (line === undefined) throw new Error(`ldapsearch found no ${sam}`);
  return line.startsWith('dn:: ')
    ? Buffer.from(line.slice(5), 'base64').toString('utf8')
    : line.slice(4);
}

/** The start of the account search filter (objectCategory person, objectClass user, then the name). */
const PERSON = '(&(objectCategory=person)(objectClass=user)';

/** Sign-in names are looked up case- and width-folded and trimmed (corpus C1.6). */
const normalised = (typed: string): string => typed.normalize('NFKC').trim().toLowerCase();

/** RFC 4515 §3 value escaping, written here from the RFC (not fedgate's or ldapts' code). */
function rfc4515(v: string): string {
  // eslint-disable-next-line no-control-regex -- NUL is one of the five characters RFC 4515 escapes
  return v.replace(/[*()\\\u0000]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

interface SearchSeen {
  base: string;
  filter: string;
  sizeLimit: number | undefined;
  entries: number;
}

/**
 * Spies on the real ldapts client (prototype methods: every connection of the provider, the pooled bind
 * connections included). Each call still goes to the DC; binds by DN, searches by base, filter text, sizeLimit
 * and how many entries the DC returned.
 */
function spyOnLdap(): { binds: string[]; searches: SearchSeen[]; restore: () => void } {
  const binds: string[] = [];
  const searches: SearchSeen[] = [];
  const proto = Client.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const realBind = proto.bind;
  const realSearch = proto.search;
  if (realBind === undefined || realSearch === undefined) throw new Error('ldapts Client changed');
  proto.bind = function (this: unknown, ...args: unknown[]) {
    binds.push(typeof args[0] === 'string' ? args[0] : '?');
    return realBind.apply(this, args);
  };
  proto.search = async function (this: unknown, ...args: unknown[]) {
    const opts = (args[1] ?? {}) as { filter?: unknown; sizeLimit?: number };
    const seen: SearchSeen = {
      base: typeof args[0] === 'string' ? args[0] : '?',
      filter:
        typeof opts.filter === 'string'
          ? opts.filter
          : ((opts.filter as { toString(): string } | undefined)?.toString() ?? ''),
      sizeLimit: opts.sizeLimit,
      entries: -1,
    };
    searches.push(seen);
    const result = (await realSearch.apply(this, args)) as { searchEntries: unknown[] };
    seen.entries = result.searchEntries.length;
    return result;
  };
  return {
    binds,
    searches,
    restore: () => {
      proto.bind = realBind;
      proto.search = realSearch;
    },
  };
}

// ---- C2.3 ------------------------------------------------------------------------------------------------

/** A response reduced to what may legitimately differ between two callers: nothing but the per-request values. */
interface Shape {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function shape(res: request.Response, username: string): Shape {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers as Record<string, string | string[]>)) {
    if (k === 'date' || k === 'x-activity-id') continue;
    const value = Array.isArray(v) ? v.join('\n') : v;
    // Cookie values are per request (binding tokens); their names and attributes are compared.
    headers[k] = k === 'set-cookie' ? value.replace(/^([^=\n]+)=[^;\n]*/gm, '$1=…') : value;
  }
  const body = res.text
    .replace(SUFFIX_RE, 'ACTIVITY')
    .replace(/name="(AuthState|csrf|Ticket)" value="[^"]*"/g, 'name="$1" value="…"')
    // The resume address (the language picker's way back, "different account") carries the handle too.
    .replace(/AuthState(=|&#x3D;)[A-Za-z0-9_-]+/g, 'AuthState$1…')
    .split(username)
    .join('USER');
  return { status: res.status, headers, body };
}

describe('corpus C2.3 on Samba AD: pre-authentication answers do not say whether an account exists', () => {
  let env: SambaEnv;
  let t: TestApp;
  let finds: { count: () => number };
  let authns: { count: () => number };
  const SAM = 'fgcorpusc23a';
  const PASSWORD = `Cd-${randomUUID().slice(0, 12)}!3`;
  let dn = '';
  // Same length as the real name, so Content-Length must match too.
  let existing = '';
  let unknown = '';
  before(async () => {
    env = sambaEnv();
    existing = `${SAM}@${env.upnSuffix}`;
    unknown = `fgcorpusc23z@${env.upnSuffix}`;
    dn = createUser(env, { cnEscaped: SAM, sam: SAM, upn: existing, password: PASSWORD });
    t = await makeTestApp({
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      directory: sambaLdapConfig(env),
      passwordChange: { enabled: true, maxAttemptsPerSource: 10, expiryNoticeDays: 14 },
    });
    finds = spyOnDirectory(t.services.directory, 'findUser');
    authns = spyOnDirectory(t.services.directory, 'authenticate');
  });
  after(async () => {
    await t.close();
    adminModify(env, `dn: ${dn}\nchangetype: delete\n`);
  });

  test('C2.3 the username-first sign-in page (username= hint from Entra ID HRD) is the same for an existing and an unknown account, and asks no directory', async () => {
    const page = async (username: string): Promise<request.Response> => {
      const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: M365, username });
      return request(t.app)
        .get(`/adfs/ls/?${q.toString()}`)
        .set('X-Forwarded-For', '198.51.100.31');
    };
    const before = finds.count() + authns.count();
    const a = await page(existing);
    const b = await page(unknown);
    assert.equal(a.status, 200, a.text.slice(0, 300));
    // Control: the hint is shown (the page really is username-first), for both.
    assert.match(a.text, new RegExp(`value="${existing}"`));
    assert.deepEqual(shape(a, existing), shape(b, unknown));
    assert.equal(finds.count() + authns.count(), before, 'the page consulted the directory');
  });

  test('C2.3 a failed sign-in: unknown account and wrong password give identical answers (form and WS-Trust fault)', async () => {
    const ip = '198.51.100.32';
    const wrong = await signInFrom(t.app, {
      username: existing,
      password: 'Wrong-Pw-c23-1',
      xff: ip,
    });
    const none = await signInFrom(t.app, {
      username: unknown,
      password: 'Wrong-Pw-c23-1',
      xff: ip,
    });
    assert.equal(isTokenPage(wrong.res), false);
    assert.match(wrong.res.text, new RegExp(`value="${existing}"`)); // the form came back, name kept
    assert.deepEqual(shape(wrong.res, existing), shape(none.res, unknown));

    const rst = (username: string): Promise<request.Response> =>
      request(t.app)
        .post(V13.path)
        .set(rstHeaders({ version: V13 }))
        .set('X-Forwarded-Proto', 'https')
        .set('X-Forwarded-For', ip)
        .send(buildRst({ version: V13, username, password: 'Wrong-Pw-c23-2', appliesTo: M365 }));
    const faultWrong = await rst(existing);
    const faultNone = await rst(unknown);
    assert.equal(faultWrong.status, 500); // a SOAP fault, as AD FS answers
    assert.match(faultWrong.text, /Fault/);
    assert.deepEqual(shape(faultWrong, existing), shape(faultNone, unknown));
    // Control: the right password at the same endpoint gets a token, so the fault above is the credential check's.
    const ok = await request(t.app)
      .post(V13.path)
      .set(rstHeaders({ version: V13 }))
      .set('X-Forwarded-Proto', 'https')
      .set('X-Forwarded-For', '10.3.3.3')
      .send(buildRst({ version: V13, username: existing, password: PASSWORD, appliesTo: M365 }));
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
  });

  test('C2.3 the password-change page answers an unknown account exactly as a wrong current password', async () => {
    const ip = '198.51.100.33';
    const attempt = async (user: string): Promise<request.Response> => {
      const jar = new Jar();
      const page = await request(t.app)
        .get('/adfs/portal/updatepassword/')
        .set('X-Forwarded-For', ip)
        .set('Cookie', jar.header());
      jar.take(page);
      assert.equal(page.status, 200, page.text.slice(0, 300));
      return request(t.app)
        .post('/adfs/portal/updatepassword/')
        .set('X-Forwarded-For', ip)
        .set('Cookie', jar.header())
        .type('form')
        .send({
          Ticket: hidden(page.text, 'Ticket'),
          csrf: hidden(page.text, 'csrf'),
          UserName: user,
          OldPassword: 'Wrong-Pw-c23-3',
          NewPassword: 'N3w-Passw0rd!c23',
          ConfirmNewPassword: 'N3w-Passw0rd!c23',
        });
    };
    const wrong = await attempt(existing);
    const none = await attempt(unknown);
    assert.doesNotMatch(wrong.text, /id="passwordUpdated"/);
    assert.match(wrong.text, /name="OldPassword"/); // the form again, not an error page
    assert.deepEqual(shape(wrong, existing), shape(none, unknown));
  });
});

// ---- C4.2 ------------------------------------------------------------------------------------------------

describe('corpus C4.2 on Samba AD: the bind DN is the one entry an escaped search found, never built from input', () => {
  let env: SambaEnv;
  let t: TestApp;
  let ldap: ReturnType<typeof spyOnLdap>;
  // The attacker knows this account's password.
  const ATTACKER = 'fgc42a';
  const ATTACKER_PW = `Ca-${randomUUID().slice(0, 12)}!2`;
  // The victim's CN is full of RFC 4514 specials and is not its sAMAccountName: a DN built from the sign-in name
  // (CN=<name>,CN=Users,…) can never be its DN.
  const VICTIM = 'fgc42v';
  const VICTIM_PW = `Cv-${randomUUID().slice(0, 12)}!2`;
  // DN text: \#fgc42 v\, \"q\"\+\<x\>\;\\  (leading #, comma, quotes, plus, angle brackets, semicolon, backslash).
  const VICTIM_CN = '\\#fgc42 v\\, \\"q\\"\\+\\<x\\>\\;\\\\';
  let attackerDn = '';
  let victimDn = '';

  before(async () => {
    env = sambaEnv();
    attackerDn = createUser(env, {
      cnEscaped: ATTACKER,
      sam: ATTACKER,
      upn: `${ATTACKER}@${env.upnSuffix}`,
      password: ATTACKER_PW,
    });
    victimDn = createUser(env, {
      cnEscaped: VICTIM_CN,
      sam: VICTIM,
      upn: `${VICTIM}@${env.upnSuffix}`,
      password: VICTIM_PW,
    });
    t = await makeTestApp({
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      directory: sambaLdapConfig(env),
      passwordChange: { enabled: false },
      // Many failed names from one test address: keep the per-source spray limit out of the way.
      lockout: {
        spray: { maxFailuresPerSource: 10_000, distinctAccountsAlert: 10_000, windowMinutes: 10 },
      },
    });
    ldap = spyOnLdap();
  });
  after(async () => {
    ldap.restore();
    await t.close();
    for (const d of [attackerDn, victimDn])
      adminModify(env, `dn:: ${Buffer.from(d, 'utf8').toString('base64')}\nchangetype: delete\n`);
  });

  const userBinds = (from: number): string[] =>
    ldap.binds.slice(from).filter((d) => d.toLowerCase() !== env.bindDn.toLowerCase());

  test("C4.2 a user whose DN holds RFC 4514 specials signs in: the bind DN is the DC's own DN of the one entry found (sizeLimit 2)", async () => {
    const reported = dnWithCli(env, VICTIM);
    assert.notEqual(reported.toLowerCase(), `cn=${VICTIM},cn=users,${env.baseDn}`.toLowerCase());
    for (const username of [
      VICTIM,
      `${env.netbiosDomain}\\${VICTIM}`,
      `${VICTIM}@${env.upnSuffix}`,
    ]) {
      const b = ldap.binds.length;
      const s = ldap.searches.length;
      const res = await signInFrom(t.app, { username, password: VICTIM_PW, xff: '10.4.2.1' });
      assert.ok(isTokenPage(res.res), `${username}: ${res.res.text.slice(0, 300)}`);
      assert.deepEqual(userBinds(b), [reported], username);
      const lookups = ldap.searches.slice(s).filter((x) => x.filter.startsWith(PERSON));
      assert.ok(lookups.length >= 1, 'no user search');
      for (const l of lookups) {
        assert.equal(l.sizeLimit, 2, 'search not limited to 2 entries');
        assert.equal(l.entries, 1);
      }
    }
  });

  // Names an attacker who knows ATTACKER_PW might type to reach another DN or widen the search.
  const crafted = (): string[] => [
    // RFC 4514 DN syntax: the attacker's own full DN, DN fragments and every special.
    attackerDn,
    `${ATTACKER},CN=Users,${env.baseDn}`,
    `${env.netbiosDomain}\\${ATTACKER},CN=Users`,
    `${ATTACKER}+sn=x`,
    `"${ATTACKER}"`,
    `${ATTACKER};`,
    `<${ATTACKER}>`,
    `#${ATTACKER}`,
    ` ${ATTACKER}`,
    `${ATTACKER} `,
    `${ATTACKER}\\`,
    // RFC 4515 filter syntax: wildcards, closing and reopening the filter, NUL.
    `${ATTACKER}*`,
    'fgc42*',
    '*',
    `${ATTACKER})(objectClass=*`,
    `*)(sAMAccountName=${ATTACKER}`,
    `${ATTACKER})(|(sAMAccountName=*`,
    `${ATTACKER}(`,
    `${ATTACKER}\u0000`,
    `${ATTACKER}*@${env.upnSuffix}`,
    `*@${env.upnSuffix}`,
    `${ATTACKER}@${env.upnSuffix})(userPrincipalName=*`,
  ];

  test("C4.2 crafted names with DN and filter specials and the attacker's right password: no token, only the decoy bind, an escaped exact search that finds nothing", async () => {
    // Positive control: the attacker's real name and password work (so a refusal below is the name's doing).
    const b0 = ldap.binds.length;
    const ok = await signInFrom(t.app, {
      username: ATTACKER,
      password: ATTACKER_PW,
      xff: '10.4.2.2',
    });
    assert.ok(isTokenPage(ok.res), ok.res.text.slice(0, 300));
    assert.deepEqual(userBinds(b0), [dnWithCli(env, ATTACKER)]);

    let checked = 0;
    for (const username of crafted()) {
      const b = ldap.binds.length;
      const s = ldap.searches.length;
      const res = await signInFrom(t.app, {
        username,
        password: ATTACKER_PW,
        xff: '198.51.100.42',
      });
      const label = JSON.stringify(username);
      assert.equal(isTokenPage(res.res), false, `${label} signed in`);
      // Any user bind went to the decoy DN (C2.2), never to a DN with the input in it or to a real account.
      for (const d of userBinds(b)) {
        assert.match(d, /^CN=fedgate-decoy-[0-9a-f]{24},/, `${label} bound ${d}`);
        assert.ok(!d.includes(ATTACKER), `${label}: bind DN carries the input`);
      }
      // Every account search sent is one exact, escaped equality on the whole (normalised) name.
      const norm = normalised(username);
      const value = norm.includes('@')
        ? `userPrincipalName=${rfc4515(norm)}`
        : `sAMAccountName=${rfc4515(norm.replace(/^[^\\]*\\/, ''))}`;
      for (const l of ldap.searches.slice(s).filter((x) => x.filter.startsWith(PERSON))) {
        checked++;
        assert.equal(l.sizeLimit, 2, label);
        assert.equal(l.filter, `${PERSON}(${value}))`, `${label}: filter`);
        // Nothing matches, except where C1.6 normalisation (trim) gives the attacker's own exact name: then the
        // name itself is refused (C4.3) and no bind is made at all.
        if (norm === ATTACKER) assert.deepEqual(userBinds(b), [], `${label}: bound`);
        else
          assert.equal(l.entries, 0, `${label}: the search matched ${String(l.entries)} entries`);
      }
    }
    assert.ok(checked >= 15, `only ${String(checked)} searches checked`);
  });
});
