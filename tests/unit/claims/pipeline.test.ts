// The claims pipeline around the rule sets: the Active Directory claims provider's acceptance transform rules
// (run before any relying party's rules), the input claims primarygroupsid and x-ms-client-application, and what
// the claims step puts in the audit line. Runs on the embedded demo directory (the Samba versions are in
// tests/integration/claims-ldap.test.ts and claims-cli.test.ts).
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { pino } from 'pino';
import { claimsAudit } from '../../../server/claims/audit.ts';
import { ClaimsEngine, primaryGroupSid } from '../../../server/claims/engine.ts';
import type { RequestContext } from '../../../server/claims/input-claims.ts';
import { compileRules, genericRules } from '../../../server/claims/rule-sets.ts';
import { AuthMethods, type Claim } from '../../../server/claims/types.ts';
import { createDirectory } from '../../../server/directory/index.ts';
import type { DirectoryProvider, DirectoryUser } from '../../../server/directory/types.ts';
import { FixedClock } from '../../../server/lib/clock.ts';

const T = {
  windowsAccountName: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname',
  upn: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn',
  groupSid: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid',
  primaryGroupSid: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/primarygroupsid',
  primarySid: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/primarysid',
  clientIp: 'http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-client-ip',
  userAgent: 'http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-client-user-agent',
  clientApp: 'http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-client-application',
  role: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
};
const DEMO_DOMAIN_SID = 'S-1-5-21-3623811015-3361044348-30300820';
const PERMIT_ALL = compileRules(
  '=> issue(Type = "http://schemas.microsoft.com/authorization/claims/permit", Value = "true");',
  'permit.rules',
);
const PASS_ALL = compileRules('c:[] => issue(claim = c);', 'pass-all.rules');

const request: RequestContext = {
  clientIp: '203.0.113.9',
  userAgent: 'Mozilla/5.0 test',
  endpointPath: '/adfs/ls/',
  insideCorporateNetwork: false,
};

const values = (claims: readonly Claim[], type: string): string[] =>
  claims.filter((c) => c.type === type).map((c) => c.value);

let directory: DirectoryProvider;
let alice: DirectoryUser;
let bob: DirectoryUser;
before(async () => {
  directory = await createDirectory(
    { kind: 'embedded', netbiosDomain: 'FEDGATE' },
    { logger: pino({ level: 'silent' }), clock: new FixedClock(), baseDir: '.' },
  );
  const a = await directory.findUser('alice');
  const b = await directory.findUser('bob');
  assert.ok(a && b);
  alice = a;
  bob = b;
});

const engine = (acceptance?: string): ClaimsEngine =>
  new ClaimsEngine({
    directory,
    clock: new FixedClock(),
    acceptance: acceptance === undefined ? undefined : compileRules(acceptance, 'accept.rules'),
  });
const auth = (user: DirectoryUser) => ({
  user,
  method: AuthMethods.password,
  instant: new Date('2025-01-02T03:04:05Z'),
});

describe('input claims', () => {
  test('primarygroupsid is the domain SID + primaryGroupID (Domain Users, RID 513), issued by AD AUTHORITY', async () => {
    const input = await engine().inputClaims(auth(bob), request);
    const primary = input.filter((c) => c.type === T.primaryGroupSid);
    assert.deepEqual(
      primary.map((c) => [c.value, c.issuer]),
      [[`${DEMO_DOMAIN_SID}-513`, 'AD AUTHORITY']],
    );
    // The same group is among the groupsid claims (tokenGroups holds the primary group), as in AD FS.
    assert.ok(values(input, T.groupSid).includes(`${DEMO_DOMAIN_SID}-513`));
    assert.deepEqual(values(input, T.primarySid), [`${DEMO_DOMAIN_SID}-1102`]);
  });

  test('primaryGroupSid: only from a well-formed SID and a numeric RID', () => {
    assert.equal(primaryGroupSid(`${DEMO_DOMAIN_SID}-1101`, '513'), `${DEMO_DOMAIN_SID}-513`);
    assert.equal(primaryGroupSid(`${DEMO_DOMAIN_SID}-1101`, ' 0514 '), `${DEMO_DOMAIN_SID}-514`);
    assert.equal(primaryGroupSid(undefined, '513'), undefined);
    assert.equal(primaryGroupSid(`${DEMO_DOMAIN_SID}-1101`, undefined), undefined);
    assert.equal(primaryGroupSid(`${DEMO_DOMAIN_SID}-1101`, '513-1'), undefined);
    assert.equal(primaryGroupSid('not a sid', '513'), undefined);
  });

  test('x-ms-client-application only when the caller passes it (active requests), as a CLIENT CONTEXT claim', async () => {
    const passive = await engine().inputClaims(auth(alice), request);
    assert.deepEqual(values(passive, T.clientApp), []);
    const active = await engine().inputClaims(auth(alice), {
      ...request,
      endpointPath: '/adfs/services/trust/2005/usernamemixed',
      clientApplication: 'Microsoft.Exchange.ActiveSync',
    });
    const app = active.filter((c) => c.type === T.clientApp);
    assert.deepEqual(
      app.map((c) => [c.value, c.issuer]),
      [['Microsoft.Exchange.ActiveSync', 'CLIENT CONTEXT']],
    );
    const long = await engine().inputClaims(auth(alice), {
      ...request,
      clientApplication: 'x'.repeat(5000),
    });
    assert.equal(
      values(long, T.clientApp)[0]?.length,
      1024,
      'cut like every request context value',
    );
  });

  test('a rule can use them: x-ms-client-application in an authorization rule', async () => {
    const rules = {
      issuance: PASS_ALL,
      authorization: compileRules(
        `c:[Type == "${T.clientApp}", Value == "Microsoft.Exchange.ActiveSync"]
 => issue(Type = "http://schemas.microsoft.com/authorization/claims/permit", Value = "PermitUsersWithClaim");`,
        'eas-only.rules',
      ),
    };
    const denied = await engine().run(rules, auth(alice), request);
    assert.equal(denied.permitted, false);
    const ok = await engine().run(rules, auth(alice), {
      ...request,
      clientApplication: 'Microsoft.Exchange.ActiveSync',
    });
    assert.equal(ok.permitted, true);
  });
});

describe('acceptance transform rules (Active Directory claims provider)', () => {
  test('none configured: every input claim passes through unchanged to the relying party rules', async () => {
    const out = await engine().run(
      { issuance: PASS_ALL, authorization: PERMIT_ALL },
      auth(alice),
      request,
    );
    assert.equal(out.acceptance, undefined);
    assert.deepEqual(out.accepted, out.input);
    assert.ok(out.permitted);
    assert.deepEqual(out.claims, out.input);
  });

  test('only what they issue reaches the relying party: add is intermediate, unmatched claims are dropped', async () => {
    const out = await engine(
      `@RuleName = "Pass through Windows account name"
c:[Type == "${T.windowsAccountName}", Issuer =~ "^(AD AUTHORITY|SELF AUTHORITY|LOCAL AUTHORITY)$"] => issue(claim = c);

@RuleName = "Remember Finance"
c:[Type == "${T.groupSid}", Value == "${DEMO_DOMAIN_SID}-1201"] => add(Type = "urn:tmp:finance", Value = "yes");

@RuleName = "Finance as role"
c:[Type == "urn:tmp:finance"] => issue(Type = "${T.role}", Value = "Finance");`,
    ).run({ issuance: PASS_ALL, authorization: PERMIT_ALL }, auth(alice), request);
    assert.ok(out.permitted);
    assert.ok(out.acceptance);
    assert.deepEqual(
      out.acceptance.trace.map((t) => [t.name, t.firings]),
      [
        ['Pass through Windows account name', 1],
        ['Remember Finance', 1],
        ['Finance as role', 1],
      ],
    );
    assert.deepEqual(values(out.claims, T.windowsAccountName), ['FEDGATE\\alice']);
    assert.deepEqual(values(out.claims, T.role), ['Finance']);
    assert.deepEqual(values(out.claims, 'urn:tmp:finance'), [], 'add is not passed on');
    assert.deepEqual(values(out.claims, T.upn), [], 'not passed through: dropped');
    assert.deepEqual(values(out.claims, T.groupSid), []);
    // Request context claims always reach the relying party, once.
    assert.deepEqual(values(out.claims, T.clientIp), ['203.0.113.9']);
    assert.deepEqual(values(out.claims, T.userAgent), ['Mozilla/5.0 test']);
  });

  test('request context claims they pass through are not doubled', async () => {
    const out = await engine(`c:[Type == "${T.clientIp}"] => issue(claim = c);`).run(
      { issuance: PASS_ALL, authorization: PERMIT_ALL },
      auth(alice),
      request,
    );
    assert.ok(out.permitted);
    assert.deepEqual(values(out.accepted, T.clientIp), ['203.0.113.9']);
    assert.deepEqual(values(out.accepted, T.userAgent), ['Mozilla/5.0 test']);
  });

  test('authorization rules see the accepted claims: a group dropped at acceptance cannot permit', async () => {
    const rules = {
      issuance: genericRules().issuance,
      authorization: compileRules(
        `c:[Type == "${T.groupSid}", Value == "${DEMO_DOMAIN_SID}-1201"]
 => issue(Type = "http://schemas.microsoft.com/authorization/claims/permit", Value = "PermitUsersWithClaim");`,
        'finance-only.rules',
      ),
    };
    assert.equal((await engine().run(rules, auth(alice), request)).permitted, true);
    const filtered = await engine(`c:[Type == "${T.windowsAccountName}"] => issue(claim = c);`).run(
      rules,
      auth(alice),
      request,
    );
    if (filtered.permitted) assert.fail('permitted');
    assert.equal(filtered.reason, 'no authorization rule issued a permit claim');
  });
});

describe('audit', () => {
  test('a permitted sign-in: rules fired per stage and the number of claims; no claim values', async () => {
    const out = await engine(`c:[] => issue(claim = c);`).run(genericRules(), auth(alice), request);
    assert.ok(out.permitted);
    const a = claimsAudit(out);
    assert.equal(a.rulesFired.acceptance, 1);
    assert.equal(a.rulesFired.authorization, 1);
    assert.equal(a.rulesFired.issuance, out.issuance.trace.filter((t) => t.firings > 0).length);
    assert.ok(a.rulesFired.issuance >= 3);
    assert.equal(a.claimsIssued, out.claims.length);
    assert.equal(a.deniedBy, undefined);
    assert.doesNotMatch(JSON.stringify(a), /alice|S-1-5/);
    assert.equal(
      claimsAudit(await engine().run(genericRules(), auth(alice), request)).rulesFired.acceptance,
      null,
    );
  });

  test('a denied sign-in names the rule', async () => {
    const out = await engine().run(
      {
        issuance: PASS_ALL,
        authorization: compileRules(
          `@RuleName = "Permit"
=> issue(Type = "http://schemas.microsoft.com/authorization/claims/permit", Value = "true");
@RuleName = "Deny Finance"
c:[Type == "${T.groupSid}", Value == "${DEMO_DOMAIN_SID}-1201"]
 => issue(Type = "http://schemas.microsoft.com/authorization/claims/deny", Value = "DenyUsersWithClaim");`,
          'deny.rules',
        ),
      },
      auth(alice),
      request,
    );
    assert.equal(out.permitted, false);
    assert.deepEqual(claimsAudit(out), {
      rulesFired: { acceptance: null, authorization: 2, issuance: null },
      deniedBy: 'rule 2 "Deny Finance"',
    });
  });
});
