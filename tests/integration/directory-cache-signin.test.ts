/**
 * The directory cache (issue 22) through the whole app against the Samba AD DC: what an administrator changes in AD
 * is seen by the next WS-Fed sign-in of a user the cache already holds (warm), and a warm sign-in costs the DC one
 * bind. Changes are made as Administrator in this file's own OU (OU=Signin,OU=CacheSignin2); tokens are checked with
 * xmlsec1 and xml-crypto; group SIDs are read back with ldapts as Administrator and decoded here, not by fedgate.
 *
 * "Within the bound" is measured on the injected clock: after a change the clock moves on by STEP_MS (less than the
 * 5 s bound, so cached answers stay servable), and the test waits (bounded poll) until /healthz/ready says the last
 * sync started after that, i.e. after the change. Security state needs no waiting at all: the bind decides it.
 *
 * Wrong passwords used (lockout budget): cs2s-pwd 1 (its old password after the resets). Users are re-created per run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AlreadyExistsError, type Client } from 'ldapts';
import request from 'supertest';
import { FixedClock } from '../../server/lib/clock.ts';
import { GENERIC_FAILURE } from '../../server/protocols/browser/page.ts';
import { formAction, hidden, makeTestApp, signIn, type TestApp } from '../helpers/app.ts';
import {
  addSecurityGroup,
  addUser,
  change,
  firstLogon,
  newPassword,
  unicodePwd,
} from '../helpers/ad-seed.ts';
import { adminClient, deleteSubtree } from '../helpers/doctor-seed.ts';
import { waitUntil } from '../helpers/net.ts';
import { sambaEnv, sambaLdapConfig } from '../helpers/samba.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
  type Saml11Claims,
} from '../helpers/verify.ts';

const env = sambaEnv();
const PARENT_OU = `OU=CacheSignin2,${env.baseDn}`;
const OU = `OU=Signin,${PARENT_OU}`;
/** sAMAccountName prefix: names are unique in the whole domain, and other files seed users too. */
const P = 'cs2s-';
const BOUND_S = 5;
/** Less than the bound: the cache may keep serving while the test waits for the next sync. */
const STEP_MS = 3000;

const APP = 'urn:fedgate:test:cache-groups';
const GATED = 'urn:fedgate:test:cache-gated';
const REPLY = 'https://app.example/cache/signin';
const GROUP = 'http://schemas.xmlsoap.org/claims/Group';
const GROUPSID = 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid';
const UPN = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn';

const USERS = ['ops', 'add', 'rem', 'nest', 'dis', 'pwd', 'upn', 'first'] as const;
type UserKey = (typeof USERS)[number];
const GROUPS = ['added', 'removed', 'parent', 'child'] as const;
type GroupKey = (typeof GROUPS)[number];

const sam = (k: string): string => `${P}${k}`;
const dnOf = (k: string): string => `CN=${sam(k)},${OU}`;
const upnOf = (k: string): string => `${sam(k)}@${env.upnSuffix}`;

describe('directory cache: changes in AD are seen by the next sign-in of a cached user (Samba AD DC)', () => {
  const clock = new FixedClock(Date.now());
  const passwords = new Map<UserKey, string>();
  const sids = new Map<GroupKey, string>();
  const rules = mkdtempSync(join(tmpdir(), 'fedgate-cache-signin-'));
  let admin: Client;
  let t: TestApp;
  let cert: string;

  before(async () => {
    admin = await adminClient(env);
    try {
      await admin.add(PARENT_OU, { objectClass: ['top', 'organizationalUnit'] });
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
    }
    await deleteSubtree(admin, OU);
    await admin.add(OU, { objectClass: ['top', 'organizationalUnit'] });
    for (const g of GROUPS) sids.set(g, await addSecurityGroup(admin, dnOf(g), sam(g)));
    for (const u of USERS) {
      const password = newPassword();
      passwords.set(u, password);
      await addUser(admin, { dn: dnOf(u), sam: sam(u), upn: upnOf(u), password });
    }
    for (const u of USERS)
      if (u !== 'first') await firstLogon(env, dnOf(u), passwords.get(u) ?? '');
    await admin.modify(dnOf('removed'), change('add', 'member', [dnOf('rem')]));
    await admin.modify(dnOf('child'), change('add', 'member', [dnOf('nest')]));

    // Group SIDs and names from the cache (input groupsid claims, tokenGroups names); access to GATED needs
    // membership, nested included, of the parent group.
    const issuance = join(rules, 'groups.rules');
    writeFileSync(
      issuance,
      `@RuleName = "Group SIDs"
c:[Type == "${GROUPSID}", Issuer == "AD AUTHORITY"] => issue(claim = c);

@RuleName = "Group names"
c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname", Issuer == "AD AUTHORITY"]
 => issue(store = "Active Directory", types = ("${GROUP}"), query = ";tokenGroups;{0}", param = c.Value);

@RuleName = "UPN"
c:[Type == "${UPN}", Issuer == "AD AUTHORITY"] => issue(claim = c);

@RuleName = "Name identifier"
c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname", Issuer == "AD AUTHORITY"]
 => issue(Type = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", Value = c.Value);
`,
    );
    const gated = join(rules, 'gated.authorization.rules');
    writeFileSync(
      gated,
      `@RuleTemplate = "Authorization"
@RuleName = "Permit members of ${sam('parent')}"
c:[Type == "${GROUPSID}", Value == "${sids.get('parent') ?? ''}", Issuer == "AD AUTHORITY"]
 => issue(Type = "http://schemas.microsoft.com/authorization/claims/permit", Value = "PermitUsersWithClaim");
`,
    );
    t = await makeTestApp(
      {
        directory: sambaLdapConfig(env, {
          baseDn: OU,
          cache: { maxStalenessSeconds: BOUND_S, maxUsers: 1000 },
        }),
        // Off: a refused password must show the credential failure, never the change-password page.
        passwordChange: { enabled: false },
        relyingParties: [
          {
            identifier: APP,
            name: 'Cache groups',
            replyUrls: [REPLY],
            issuanceRulesFile: issuance,
          },
          {
            identifier: GATED,
            name: 'Cache gated',
            replyUrls: [REPLY],
            issuanceRulesFile: issuance,
            authorizationRulesFile: gated,
          },
        ],
      },
      { clock },
    );
    cert = certFromMetadata(
      (await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml')).text,
    )[0]!;
    // The first full read of the group graph done: from here on cached answers are served.
    await waitUntil(
      () => `the cache serves (first full read done): ${JSON.stringify(lastStatus)}`,
      async () => {
        const s = await cacheStatus();
        return s.serving && s.mode === 'tracking';
      },
      { timeoutMs: 30_000 },
    );
  });

  after(async () => {
    // Either may be unset when before() failed part way.
    await (t as TestApp | undefined)?.close();
    await (admin as Client | undefined)?.unbind();
  });

  let lastStatus: unknown;
  interface CacheStatusView {
    serving: boolean;
    stalenessSeconds?: number;
    maxStalenessSeconds: number;
    mode: string;
  }
  async function cacheStatus(): Promise<CacheStatusView> {
    const res = await request(t.app).get('/healthz/ready');
    const body = res.body as { directoryCache?: CacheStatusView };
    lastStatus = body;
    assert.ok(body.directoryCache, `/healthz/ready has a directoryCache block: ${res.text}`);
    assert.equal(body.directoryCache.maxStalenessSeconds, BOUND_S);
    return body.directoryCache;
  }

  /**
   * Moves the injected clock on by STEP_MS and waits until a sync has started since (staleness below the step):
   * every change committed before this call is then applied (TrackerState.freshAsOf).
   */
  async function synced(): Promise<void> {
    clock.advance(STEP_MS);
    await waitUntil(
      () => `a sync started after the change: ${JSON.stringify(lastStatus)}`,
      async () => {
        const s = await cacheStatus();
        return s.serving && s.stalenessSeconds !== undefined && s.stalenessSeconds * 1000 < STEP_MS;
      },
      { timeoutMs: 30_000 },
    );
  }

  /** DC operations by kind, the tracker's own (tracking_*) left out: what sign-ins cost the DC. */
  async function opCounts(): Promise<Map<string, number>> {
    const m = new Map<string, number>();
    for (const v of (await t.services.metrics.ldapOperations.get()).values) {
      const op = String(v.labels.op);
      if (op.startsWith('tracking_')) continue;
      m.set(op, (m.get(op) ?? 0) + v.value);
    }
    return m;
  }

  /** One sign-in with a fresh browser; `ops` is what it cost the DC, as { op: count } without zeros. */
  async function signInCounted(
    username: string,
    password: string,
    realm = APP,
  ): Promise<{ res: request.Response; ops: Record<string, number> }> {
    const before = await opCounts();
    const { res } = await signIn(t.app, { username, password, realm });
    const afterOps = await opCounts();
    const ops: Record<string, number> = {};
    for (const [op, n] of afterOps) {
      const d = n - (before.get(op) ?? 0);
      if (d !== 0) ops[op] = d;
    }
    return { res, ops };
  }

  function tokenOf(res: request.Response): Saml11Claims {
    assert.equal(res.status, 200, res.text.slice(0, 500));
    assert.equal(formAction(res.text), REPLY);
    const assertion = extractAssertionFromRstr(hidden(res.text, 'wresult'));
    const xmlsec = verifyWithXmlsec1(assertion, cert, SAML11_ID_ATTR);
    assert.equal(xmlsec.ok, true, xmlsec.output);
    return verifySaml11WithXmlCrypto(assertion, cert);
  }

  /** Signs `u` in (by UPN) and returns the verified token's claims and what it cost the DC. */
  async function claimsOf(
    u: UserKey,
    realm = APP,
  ): Promise<{ claims: Saml11Claims; ops: Record<string, number> }> {
    const { res, ops } = await signInCounted(upnOf(u), passwords.get(u) ?? '', realm);
    return { claims: tokenOf(res), ops };
  }

  function hasGroup(claims: Saml11Claims, g: GroupKey): { sid: boolean; name: boolean } {
    return {
      sid: (claims.attributes[GROUPSID] ?? []).includes(sids.get(g) ?? '-'),
      name: (claims.attributes[GROUP] ?? []).includes(sam(g)),
    };
  }

  /**
   * A warm sign-in after a group change is still the bind alone: membership comes from the tracked group graph, and
   * adding a user to a group moves the group's uSNChanged, not the user's (so the cached entry stays).
   */
  function warmAfterChange(ops: Record<string, number>, what: string): void {
    assert.deepEqual(ops, { bind: 1 }, `${what}: one bind`);
  }

  test('a warm sign-in costs the DC one bind; a cold one a search and a bind', async (ctx) => {
    // Opens the service and bind connections, so the counts below are the sign-ins' own operations.
    tokenOf((await signInCounted(upnOf('pwd'), passwords.get('pwd') ?? '')).res);
    const cold = await claimsOf('ops');
    const warm = await claimsOf('ops');
    const warm2 = await claimsOf('ops');
    ctx.diagnostic(
      `DC operations: cold ${JSON.stringify(cold.ops)}, warm ${JSON.stringify(warm.ops)}, ${JSON.stringify(warm2.ops)}`,
    );
    assert.deepEqual(cold.ops, { search: 1, bind: 1 });
    assert.deepEqual(warm.ops, { bind: 1 });
    assert.deepEqual(warm2.ops, { bind: 1 });
    // The warm token says what the cold one said (the cache answers as the DC did).
    assert.deepEqual(warm.claims.attributes, cold.claims.attributes);
    assert.deepEqual(cold.claims.attributes[UPN], [upnOf('ops')]);
    assert.ok((cold.claims.attributes[GROUP] ?? []).includes('Domain Users'));
  });

  test('a cached user stays warm across syncs that change nothing of theirs', async () => {
    await claimsOf('ops');
    await synced();
    assert.deepEqual((await claimsOf('ops')).ops, { bind: 1 });
  });

  test("a user's first logon, recorded by the DC (lastLogonTimestamp), leaves the cached entry in place", async () => {
    // cs2s-first never logged on: this sign-in's bind makes the DC write lastLogonTimestamp, which moves the user's
    // uSNChanged, so tracking reports the user as changed although nothing the cache holds changed.
    assert.deepEqual((await claimsOf('first')).ops, { search: 1, bind: 1 });
    await synced();
    assert.deepEqual((await claimsOf('first')).ops, { bind: 1 });
  });

  test('a user added to a group: the next sign-in after the sync carries the group', async (ctx) => {
    await claimsOf('add');
    const warm = await claimsOf('add');
    assert.deepEqual(warm.ops, { bind: 1 }, 'warm before the change');
    assert.deepEqual(hasGroup(warm.claims, 'added'), { sid: false, name: false });
    await admin.modify(dnOf('added'), change('add', 'member', [dnOf('add')]));
    await synced();
    const next = await claimsOf('add');
    ctx.diagnostic(`DC operations after the change: ${JSON.stringify(next.ops)}`);
    assert.deepEqual(hasGroup(next.claims, 'added'), { sid: true, name: true });
    warmAfterChange(next.ops, 'added to a group');
  });

  test('a user removed from a group: the next sign-in after the sync no longer carries it', async (ctx) => {
    await claimsOf('rem');
    const warm = await claimsOf('rem');
    assert.deepEqual(warm.ops, { bind: 1 }, 'warm before the change');
    assert.deepEqual(hasGroup(warm.claims, 'removed'), { sid: true, name: true });
    await admin.modify(dnOf('removed'), change('delete', 'member', [dnOf('rem')]));
    await synced();
    const next = await claimsOf('rem');
    ctx.diagnostic(`DC operations after the change: ${JSON.stringify(next.ops)}`);
    assert.deepEqual(hasGroup(next.claims, 'removed'), { sid: false, name: false });
    warmAfterChange(next.ops, 'removed from a group');
  });

  test("a group nested under the permitted group: access is granted by the parent's authorization rule", async (ctx) => {
    const refused = async (): Promise<void> => {
      const { res } = await signInCounted(upnOf('nest'), passwords.get('nest') ?? '', GATED);
      assert.equal(res.status, 403, res.text.slice(0, 300));
      assert.doesNotMatch(res.text, /name="wresult"/);
    };
    await refused();
    await refused(); // warm: still refused
    const ok = await claimsOf('nest'); // the same user is fine where no group is needed
    assert.deepEqual(hasGroup(ok.claims, 'child'), { sid: true, name: true });
    assert.deepEqual(hasGroup(ok.claims, 'parent'), { sid: false, name: false });
    await admin.modify(dnOf('parent'), change('add', 'member', [dnOf('child')]));
    await synced();
    const next = await claimsOf('nest', GATED);
    ctx.diagnostic(`DC operations after the change: ${JSON.stringify(next.ops)}`);
    assert.deepEqual(hasGroup(next.claims, 'parent'), { sid: true, name: true });
    assert.deepEqual(hasGroup(next.claims, 'child'), { sid: true, name: true });
    warmAfterChange(next.ops, 'nested group');
  });

  test('an account disabled in AD: the very next sign-in is refused (no sync awaited), as AD refuses it', async () => {
    await claimsOf('dis');
    assert.deepEqual((await claimsOf('dis')).ops, { bind: 1 }, 'warm before the change');
    await admin.modify(dnOf('dis'), change('replace', 'userAccountControl', ['514']));
    // No clock move, no wait: the cache still holds the account as enabled, the bind decides.
    const { res, ops } = await signInCounted(upnOf('dis'), passwords.get('dis') ?? '');
    assert.ok(res.text.includes(GENERIC_FAILURE), res.text.slice(0, 300));
    assert.doesNotMatch(res.text, /name="wresult"/);
    assert.equal(ops.bind, 1, `the DC was asked: ${JSON.stringify(ops)}`);
    const ev = t.logs
      .events('signin')
      .filter((e) => e.username === upnOf('dis'))
      .at(-1);
    assert.ok(ev, 'audited');
    assert.equal(ev.kind, 'disabled');
    assert.equal(ev.reason, 'ad:533');
  });

  test('a password reset by an administrator: the old password is refused and the new one accepted at once', async () => {
    const old = passwords.get('pwd') ?? '';
    await claimsOf('pwd');
    assert.deepEqual((await claimsOf('pwd')).ops, { bind: 1 }, 'warm before the change');
    // Two resets in a row: Samba, like AD for NTLM (OldPasswordAllowedPeriod), still accepts the previous password
    // for 60 minutes (smb.conf "old password allowed period"; measured: a bind with it succeeds after one reset), so
    // only a password two resets back is one the DC itself refuses.
    const fresh = newPassword();
    await admin.modify(dnOf('pwd'), change('replace', 'unicodePwd', [unicodePwd(newPassword())]));
    await admin.modify(dnOf('pwd'), change('replace', 'unicodePwd', [unicodePwd(fresh)]));
    const refused = await signInCounted(upnOf('pwd'), old);
    assert.ok(refused.res.text.includes(GENERIC_FAILURE), refused.res.text.slice(0, 300));
    assert.doesNotMatch(refused.res.text, /name="wresult"/);
    assert.equal(refused.ops.bind, 1, JSON.stringify(refused.ops));
    const ev = t.logs
      .events('signin')
      .filter((e) => e.username === upnOf('pwd'))
      .at(-1);
    assert.ok(ev, 'audited');
    assert.equal(ev.kind, 'bad_credentials');
    assert.equal(ev.reason, 'ad:52e');
    passwords.set('pwd', fresh);
    const accepted = await claimsOf('pwd');
    assert.deepEqual(accepted.claims.attributes[UPN], [upnOf('pwd')]);
    assert.equal(accepted.ops.bind, 1);
  });

  test('a UPN renamed: the new UPN signs in within the bound, and the old one no longer does', async (ctx) => {
    const oldUpn = upnOf('upn');
    const password = passwords.get('upn') ?? '';
    await claimsOf('upn');
    assert.deepEqual((await claimsOf('upn')).ops, { bind: 1 }, 'warm before the change');
    const newUpn = `${sam('upn')}-renamed@${env.upnSuffix}`;
    await admin.modify(dnOf('upn'), change('replace', 'userPrincipalName', [newUpn]));
    await synced();
    // The old name first: a later read under the new name would replace the cached entry and hide a stale one.
    const gone = await signInCounted(oldUpn, password);
    assert.ok(gone.res.text.includes(GENERIC_FAILURE), gone.res.text.slice(0, 300));
    assert.doesNotMatch(gone.res.text, /name="wresult"/);
    const ev = t.logs
      .events('signin')
      .filter((e) => e.username === oldUpn)
      .at(-1);
    assert.ok(ev, 'audited');
    assert.equal(ev.kind, 'bad_credentials');
    const next = await signInCounted(newUpn, password);
    ctx.diagnostic(`DC operations with the new UPN: ${JSON.stringify(next.ops)}`);
    const claims = tokenOf(next.res);
    assert.deepEqual(claims.attributes[UPN], [newUpn]);
    // Warm again under the new name: one bind.
    assert.deepEqual((await signInCounted(newUpn, password)).ops, { bind: 1 });
  });
});
