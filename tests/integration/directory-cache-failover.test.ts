/**
 * The directory cache (issue 22) when domain controllers or the tracking connection go away, through the whole app
 * against the Samba AD DC. The "DCs" are TCP forwarders run by the test in front of Samba's LDAPS port
 * (tests/helpers/tls-forwarder.ts): TLS passes through, so fedgate verifies the real DC certificate, and the test can
 * stop one DC or cut one connection while Samba keeps running. Group changes are made as Administrator straight on
 * Samba, in this file's own OU (OU=Failover,OU=CacheSignin2).
 *
 * Time is the injected clock: "past the bound" means the clock moved more than maxStalenessSeconds beyond the
 * change; waits are bounded polls. No wrong passwords are used.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AlreadyExistsError, type Client } from 'ldapts';
import request from 'supertest';
import { FixedClock } from '../../server/lib/clock.ts';
import { formAction, hidden, makeTestApp, signIn, type TestApp } from '../helpers/app.ts';
import { addSecurityGroup, addUser, change, firstLogon, newPassword } from '../helpers/ad-seed.ts';
import { adminClient, deleteSubtree } from '../helpers/doctor-seed.ts';
import { waitUntil } from '../helpers/net.ts';
import { sambaEnv, sambaLdapConfig } from '../helpers/samba.ts';
import { DcForwarder, type ForwardedConnection } from '../helpers/tls-forwarder.ts';
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
const OU = `OU=Failover,${PARENT_OU}`;
/** sAMAccountName prefix: names are unique in the whole domain, and other files seed users too. */
const P = 'cs2f-';
const BOUND_S = 5;
/** More than the bound: a change older than this must show. */
const PAST_BOUND_MS = BOUND_S * 1000 + 1000;

const APP = 'urn:fedgate:test:cache-failover';
const REPLY = 'https://app.example/cache/failover';
const GROUP = 'http://schemas.xmlsoap.org/claims/Group';
const GROUPSID = 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid';

const USERS = ['fo', 'tr'] as const;
type UserKey = (typeof USERS)[number];
const GROUPS = ['fog', 'trg'] as const;
type GroupKey = (typeof GROUPS)[number];

const sam = (k: string): string => `${P}${k}`;
const dnOf = (k: string): string => `CN=${sam(k)},${OU}`;
const upnOf = (k: string): string => `${sam(k)}@${env.upnSuffix}`;

/** Administrator straight on Samba (not through the forwarders), verified with the test CA. */

const passwords = new Map<UserKey, string>();
const sids = new Map<GroupKey, string>();
let admin: Client;
let rulesFile: string;

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
  for (const u of USERS) await firstLogon(env, dnOf(u), passwords.get(u) ?? '');
  rulesFile = join(mkdtempSync(join(tmpdir(), 'fedgate-cache-failover-')), 'groups.rules');
  writeFileSync(
    rulesFile,
    `@RuleName = "Group SIDs"
c:[Type == "${GROUPSID}", Issuer == "AD AUTHORITY"] => issue(claim = c);

@RuleName = "Group names"
c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname", Issuer == "AD AUTHORITY"]
 => issue(store = "Active Directory", types = ("${GROUP}"), query = ";tokenGroups;{0}", param = c.Value);

@RuleName = "Name identifier"
c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname", Issuer == "AD AUTHORITY"]
 => issue(Type = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", Value = c.Value);
`,
  );
});

after(async () => {
  await (admin as Client | undefined)?.unbind();
});

interface CacheStatusView {
  serving: boolean;
  stalenessSeconds?: number;
  maxStalenessSeconds: number;
  mode: string;
  dc?: string;
}

/** One app on these DC URLs with the cache on, and what the tests read from it. */
class Harness {
  readonly clock = new FixedClock(Date.now());
  t!: TestApp;
  cert = '';
  lastStatus: unknown;

  async open(urls: string[]): Promise<this> {
    this.t = await makeTestApp(
      {
        directory: sambaLdapConfig(env, {
          urls,
          baseDn: OU,
          connectTimeoutMs: 2000,
          cache: { maxStalenessSeconds: BOUND_S, maxUsers: 1000 },
        }),
        relyingParties: [
          {
            identifier: APP,
            name: 'Cache failover',
            replyUrls: [REPLY],
            issuanceRulesFile: rulesFile,
          },
        ],
      },
      { clock: this.clock },
    );
    this.cert = certFromMetadata(
      (await request(this.t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml')).text,
    )[0]!;
    return this;
  }

  async status(): Promise<{ ready: number; cache: CacheStatusView }> {
    const res = await request(this.t.app).get('/healthz/ready');
    const body = res.body as { directoryCache?: CacheStatusView };
    this.lastStatus = body;
    assert.ok(body.directoryCache, `/healthz/ready has a directoryCache block: ${res.text}`);
    return { ready: res.status, cache: body.directoryCache };
  }

  /** Until the cache serves (its first full read done). */
  async serving(): Promise<void> {
    await waitUntil(
      () => `the cache serves: ${JSON.stringify(this.lastStatus)}`,
      async () => {
        const { cache } = await this.status();
        return cache.serving && cache.mode === 'tracking';
      },
      { timeoutMs: 30_000 },
    );
  }

  /** DC operations by `dc op`, the tracker's own (tracking_*) left out. */
  async opCounts(): Promise<Map<string, number>> {
    const m = new Map<string, number>();
    for (const v of (await this.t.services.metrics.ldapOperations.get()).values) {
      const op = String(v.labels.op);
      if (op.startsWith('tracking_')) continue;
      const key = `${String(v.labels.dc)} ${op}`;
      m.set(key, (m.get(key) ?? 0) + v.value);
    }
    return m;
  }

  /** One sign-in with a fresh browser: the verified token and what it cost each DC ({ 'url op': n }). */
  async signIn(u: UserKey): Promise<{ claims: Saml11Claims; ops: Record<string, number> }> {
    const before = await this.opCounts();
    const { res } = await signIn(this.t.app, {
      username: upnOf(u),
      password: passwords.get(u) ?? '',
      realm: APP,
    });
    const afterOps = await this.opCounts();
    const ops: Record<string, number> = {};
    for (const [k, n] of afterOps) {
      const d = n - (before.get(k) ?? 0);
      if (d !== 0) ops[k] = d;
    }
    assert.equal(res.status, 200, `${u} signs in: ${res.text.slice(0, 300)}`);
    assert.equal(formAction(res.text), REPLY);
    const assertion = extractAssertionFromRstr(hidden(res.text, 'wresult'));
    const xmlsec = verifyWithXmlsec1(assertion, this.cert, SAML11_ID_ATTR);
    assert.equal(xmlsec.ok, true, xmlsec.output);
    return { claims: verifySaml11WithXmlCrypto(assertion, this.cert), ops };
  }

  cacheEvents(action: string): Record<string, unknown>[] {
    return this.t.logs.events('directory_cache').filter((e) => e.action === action);
  }
}

function hasGroup(claims: Saml11Claims, g: GroupKey): { sid: boolean; name: boolean } {
  return {
    sid: (claims.attributes[GROUPSID] ?? []).includes(sids.get(g) ?? '-'),
    name: (claims.attributes[GROUP] ?? []).includes(sam(g)),
  };
}

/** Operations of one DC in a per-sign-in count, as { op: n }. */
function on(ops: Record<string, number>, url: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(ops))
    if (k.startsWith(`${url} `)) out[k.slice(url.length + 1)] = n;
  return out;
}

describe('directory cache: DC failover mid-stream (two forwarders to the Samba AD DC)', () => {
  const h = new Harness();
  let dcA: DcForwarder;
  let dcB: DcForwarder;
  before(async () => {
    dcA = await new DcForwarder().listen();
    dcB = await new DcForwarder().listen();
    await h.open([dcA.url, dcB.url]);
    await h.serving();
  });
  after(async () => {
    await (h.t as TestApp | undefined)?.close();
    await Promise.all([dcA.close(), dcB.close()]);
  });

  test('the first DC stops: sign-ins continue on the second, the cache resyncs there, and a change made during the outage shows once the bound has passed', async (ctx) => {
    const start = h.cacheEvents('resync');
    assert.equal(start.length, 1, JSON.stringify(start));
    assert.deepEqual([start[0]?.reason, start[0]?.dc], ['start', dcA.url]);
    await h.signIn('fo');
    const warm = await h.signIn('fo');
    assert.deepEqual(warm.ops, { [`${dcA.url} bind`]: 1 }, 'warm on the first DC: one bind');
    assert.deepEqual(hasGroup(warm.claims, 'fog'), { sid: false, name: false });

    await dcA.stop();
    await admin.modify(dnOf('fog'), change('add', 'member', [dnOf('fo')]));
    // Within the bound the cache may still answer; the sign-in must work either way, on the second DC.
    const during = await h.signIn('fo');
    // (An operation is counted as it starts: the first DC's refused connection may show as an attempted bind.)
    assert.equal(on(during.ops, dcB.url).bind, 1, JSON.stringify(during.ops));

    // Past the bound since the change: whatever tracking has done by now, the change shows.
    h.clock.advance(PAST_BOUND_MS);
    const past = await h.signIn('fo');
    ctx.diagnostic(`DC operations past the bound: ${JSON.stringify(past.ops)}`);
    assert.deepEqual(hasGroup(past.claims, 'fog'), { sid: true, name: true });

    // Tracking moved to the second DC with a full read (USNs are per DC).
    await waitUntil(
      () => `a resync on ${dcB.url}: ${JSON.stringify(h.t.logs.events('directory_cache'))}`,
      () => h.cacheEvents('resync').some((e) => e.reason === 'dc-switch' && e.dc === dcB.url),
      { timeoutMs: 30_000 },
    );
    const resync = h.cacheEvents('resync').find((e) => e.reason === 'dc-switch');
    assert.ok(typeof resync?.groups === 'number' && resync.groups > 0, JSON.stringify(resync));
    await h.serving();
    assert.equal((await h.status()).cache.dc, dcB.url);

    const cold = await h.signIn('fo');
    const warmB = await h.signIn('fo');
    ctx.diagnostic(
      `after the resync: ${JSON.stringify(cold.ops)}, then ${JSON.stringify(warmB.ops)}`,
    );
    assert.deepEqual(hasGroup(cold.claims, 'fog'), { sid: true, name: true });
    assert.deepEqual(hasGroup(warmB.claims, 'fog'), { sid: true, name: true });
    assert.deepEqual(warmB.ops, { [`${dcB.url} bind`]: 1 }, 'warm on the second DC: one bind');

    // Tracking on the second DC follows changes too.
    await admin.modify(dnOf('fog'), change('delete', 'member', [dnOf('fo')]));
    h.clock.advance(3000);
    await waitUntil(
      () => `a sync after the removal: ${JSON.stringify(h.lastStatus)}`,
      async () => {
        const { cache } = await h.status();
        return cache.serving && (cache.stalenessSeconds ?? Infinity) < 3;
      },
      { timeoutMs: 30_000 },
    );
    const removed = await h.signIn('fo');
    assert.deepEqual(hasGroup(removed.claims, 'fog'), { sid: false, name: false });
  });
});

describe('directory cache: the tracking connection drops and cannot come back', () => {
  const h = new Harness();
  let dc: DcForwarder;
  before(async () => {
    dc = await new DcForwarder().listen();
    await h.open([dc.url]);
    await h.serving();
  });
  after(async () => {
    await (h.t as TestApp | undefined)?.close();
    await dc.close();
  });

  test('sign-ins continue with direct reads past the bound, never refused; degraded is audited once, restored when the DC is back', async (ctx) => {
    // Before any sign-in, only change tracking has connected (its first full read).
    const tracking: ForwardedConnection[] = dc.open();
    assert.ok(tracking.length >= 1, 'the tracker holds a connection');
    const cold = await h.signIn('tr');
    const warm = await h.signIn('tr');
    assert.deepEqual(
      warm.ops,
      { [`${dc.url} bind`]: 1 },
      `warm: one bind (cold: ${JSON.stringify(cold.ops)})`,
    );
    assert.deepEqual(hasGroup(warm.claims, 'trg'), { sid: false, name: false });
    const signInConnections = dc.open().filter((c) => !tracking.includes(c));
    assert.ok(signInConnections.length >= 1, 'sign-ins have their own connections');

    // Only the tracker's connection is cut, and no new connection gets through.
    dc.refuseNew();
    await dc.hangUp(tracking);
    const refusedAt = dc.refused;
    await waitUntil(
      () => `the tracker tried to reconnect twice (${String(dc.refused - refusedAt)})`,
      () => dc.refused - refusedAt >= 2,
      { timeoutMs: 30_000 },
    );
    assert.ok(
      signInConnections.every((c) => !c.client.closed),
      'sign-in connections untouched',
    );

    // Within the bound: still served.
    const within = await h.signIn('tr');
    assert.equal(on(within.ops, dc.url).bind, 1);

    // A change the tracker cannot see, then past the bound: direct reads, and the change shows.
    await admin.modify(dnOf('trg'), change('add', 'member', [dnOf('tr')]));
    h.clock.advance(PAST_BOUND_MS);
    const past = await h.signIn('tr');
    ctx.diagnostic(`DC operations past the bound, tracking lost: ${JSON.stringify(past.ops)}`);
    assert.deepEqual(hasGroup(past.claims, 'trg'), { sid: true, name: true });
    assert.ok((on(past.ops, dc.url).search ?? 0) >= 1, `direct reads: ${JSON.stringify(past.ops)}`);
    const { ready, cache } = await h.status();
    assert.equal(ready, 200, 'the cache is not a readiness condition');
    assert.equal(cache.serving, false);

    // More sign-ins and more failed reconnects: still one degraded event.
    for (let i = 0; i < 3; i++) await h.signIn('tr');
    const refusedNow = dc.refused;
    await waitUntil(
      () => `two more reconnects refused (${String(dc.refused - refusedNow)})`,
      () => dc.refused - refusedNow >= 2,
      { timeoutMs: 30_000 },
    );
    await h.signIn('tr');
    const degraded = h.cacheEvents('degraded');
    assert.equal(degraded.length, 1, JSON.stringify(degraded));
    assert.equal(h.cacheEvents('restored').length, 0);
    const line = h.t.logs.lines.find(
      (l) => l.event === 'directory_cache' && l.action === 'degraded',
    );
    assert.ok(line);
    assert.equal(line.level, 40, 'degraded is a warning');
    assert.equal(line.stream, 'audit');

    // The DC takes connections again: tracking comes back, and so does the cache.
    dc.allowNew();
    await waitUntil(
      () => `restored audited: ${JSON.stringify(h.t.logs.events('directory_cache'))}`,
      () => h.cacheEvents('restored').length === 1,
      { timeoutMs: 30_000 },
    );
    await h.serving();
    await h.signIn('tr');
    const back = await h.signIn('tr');
    assert.deepEqual(hasGroup(back.claims, 'trg'), { sid: true, name: true });
    assert.deepEqual(back.ops, { [`${dc.url} bind`]: 1 }, 'warm again: one bind');
    assert.equal(h.cacheEvents('degraded').length, 1);
  });
});
