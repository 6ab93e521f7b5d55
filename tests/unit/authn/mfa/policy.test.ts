// The MFA decision's rule side (server/authn/mfa/policy.ts, presets.ts) on the embedded demo directory: AD FS
// AdditionalAuthenticationRules files (tests/fixtures/rules/mfa/) and the access-control-policy presets, run by the
// real claims engine of a built app. alice is in Finance (and Staff), bob in neither. Every "not required" case has
// a twin that differs in one thing and is "required", so a decision stuck at yes or at no fails here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ClaimsEngine } from '../../../../server/claims/engine.ts';
import type { RequestContext } from '../../../../server/claims/input-claims.ts';
import { compileRules } from '../../../../server/claims/rule-sets.ts';
import type { RuleSet } from '../../../../server/claims/rule-ast.ts';
import type { DirectoryUser } from '../../../../server/directory/types.ts';
import {
  wsfedRequestReason,
  type MfaDecision,
  type MfaReason,
  type MfaRuleSets,
} from '../../../../server/authn/mfa/policy.ts';
import {
  compilePreset,
  presetRuleText,
  resolveGroup,
  type MfaPreset,
} from '../../../../server/authn/mfa/presets.ts';
import { FixedClock } from '../../../../server/lib/clock.ts';
import { makeTestApp, type TestApp } from '../../../helpers/app.ts';
import { decidePasswordSignIn, findUsers } from '../../../helpers/mfa.ts';

const FIXTURES = join(import.meta.dirname, '../../../fixtures/rules/mfa');
const FINANCE_SID = 'S-1-5-21-3623811015-3361044348-30300820-1201';
const MFA_ISSUE =
  '=> issue(Type = "http://schemas.microsoft.com/ws/2008/06/identity/claims/authenticationmethod", Value = "http://schemas.microsoft.com/claims/multipleauthn");';

const fixtureText = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');
const fixture = (name: string): RuleSet => compileRules(fixtureText(name), name);

let t: TestApp;
let alice: DirectoryUser;
let bob: DirectoryUser;
before(async () => {
  t = await makeTestApp();
  ({ alice, bob } = await findUsers(t, 'alice', 'bob'));
});
after(() => t.close());

const requestOf = (o: { inside: boolean; userAgent?: string }): RequestContext => ({
  clientIp: '203.0.113.9',
  userAgent: o.userAgent ?? 'Mozilla/5.0 test',
  endpointPath: '/adfs/ls/',
  insideCorporateNetwork: o.inside,
});

async function decide(
  sets: MfaRuleSets,
  user: DirectoryUser,
  o: { inside: boolean; userAgent?: string; engine?: ClaimsEngine; requested?: MfaReason[] },
): Promise<MfaDecision> {
  return decidePasswordSignIn(o.engine ?? t.services.claims, sets, user, requestOf(o), o.requested);
}

describe('AdditionalAuthenticationRules files, as AD FS writes them', () => {
  test('extranet rule: required from outside, not from inside (same user)', async () => {
    const trust = fixture('extranet.rules');
    const outside = await decide({ trust }, bob, { inside: false });
    assert.deepEqual(outside, {
      required: true,
      reasons: [
        {
          kind: 'rule',
          scope: 'trust',
          source: 'extranet.rules',
          rule: 'rule 1 "Require MFA from the extranet"',
          failed: undefined,
        },
      ],
    });
    assert.deepEqual(await decide({ trust }, bob, { inside: true }), {
      required: false,
      reasons: [],
    });
  });

  test('group-SID rule: required for a member (alice, Finance), not for bob; the network does not matter', async () => {
    const trust = fixture('group-sid.demo-finance.rules');
    for (const inside of [true, false]) {
      const a = await decide({ trust }, alice, { inside });
      assert.equal(a.required, true, `alice inside=${String(inside)}`);
      assert.deepEqual(
        a.reasons.map((r) => (r.kind === 'rule' ? r.rule : r.kind)),
        ['rule 1 "Require MFA for Finance"'],
      );
      assert.deepEqual(await decide({ trust }, bob, { inside }), { required: false, reasons: [] });
    }
  });

  test('a rule without conditions (everyone): required; without that rule set: not', async () => {
    assert.equal(
      (await decide({ trust: fixture('everyone.rules') }, bob, { inside: true })).required,
      true,
    );
    assert.deepEqual(await decide({}, bob, { inside: true }), { required: false, reasons: [] });
  });

  test('global and per-trust sets: either one firing requires MFA, and each says so', async () => {
    const sets = {
      global: fixture('extranet.rules'),
      trust: fixture('group-sid.demo-finance.rules'),
    };
    const scopes = (d: MfaDecision): string[] =>
      d.reasons.map((r) => (r.kind === 'rule' ? r.scope : r.kind));
    assert.deepEqual(scopes(await decide(sets, alice, { inside: false })), ['global', 'trust']);
    assert.deepEqual(scopes(await decide(sets, alice, { inside: true })), ['trust']);
    assert.deepEqual(scopes(await decide(sets, bob, { inside: false })), ['global']);
    assert.deepEqual(await decide(sets, bob, { inside: true }), { required: false, reasons: [] });
    // The same rules as the global set alone still fire (scope is where, not whether).
    assert.equal((await decide({ global: sets.trust }, alice, { inside: true })).required, true);
  });

  test('the https:// spelling of Learn pages asks for MFA too (outside), and still not from inside', async () => {
    const trust = fixture('https-typo.rules');
    assert.equal((await decide({ trust }, bob, { inside: false })).required, true);
    assert.equal((await decide({ trust }, bob, { inside: true })).required, false);
  });

  test('add (not issue) and another authenticationmethod value do not ask for MFA; their issue/multipleauthn twins do', async () => {
    const add = fixtureText('add-only.rules');
    assert.equal(
      (await decide({ trust: fixture('add-only.rules') }, bob, { inside: false })).required,
      false,
    );
    const addAsIssue = compileRules(add.replace('=> add(', '=> issue('), 'add-as-issue.rules');
    assert.equal((await decide({ trust: addAsIssue }, bob, { inside: false })).required, true);

    const other = fixtureText('other-value.rules');
    assert.equal(
      (await decide({ trust: fixture('other-value.rules') }, bob, { inside: false })).required,
      false,
    );
    const otherAsMfa = compileRules(
      other.replace(
        'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password',
        'http://schemas.microsoft.com/claims/multipleauthn',
      ),
      'other-as-mfa.rules',
    );
    assert.equal((await decide({ trust: otherAsMfa }, bob, { inside: false })).required, true);
  });
});

describe('fail closed: a rule that cannot be evaluated requires MFA', () => {
  const trust = (): RuleSet => fixture('user-agent-pattern.rules');

  test('an untranslatable pattern from the request: required, the reason names the rule and the failure', async () => {
    const d = await decide({ trust: trust() }, bob, { inside: true, userAgent: '(?>bob)' });
    assert.equal(d.required, true);
    const [r] = d.reasons;
    assert.ok(r?.kind === 'rule');
    assert.equal(r.rule, 'rule 1 "Pattern from the request"');
    assert.match(r.failed ?? '', /regular expression: atomic/);
  });

  test('twins: a pattern that does not match → not required; one that matches → required (no failure)', async () => {
    assert.deepEqual(await decide({ trust: trust() }, bob, { inside: true, userAgent: '^x$' }), {
      required: false,
      reasons: [],
    });
    const d = await decide({ trust: trust() }, bob, { inside: true, userAgent: 'bob$' });
    assert.equal(d.required, true);
    assert.equal(d.reasons[0]?.kind === 'rule' ? d.reasons[0].failed : 'x', undefined);
  });

  test('failing acceptance rules: required (scope acceptance); the same engine with working acceptance rules: not', async () => {
    const engine = (acceptance: string): ClaimsEngine =>
      new ClaimsEngine({
        directory: t.services.directory,
        clock: new FixedClock(),
        acceptance: compileRules(acceptance, 'accept.rules'),
      });
    const failing = engine(
      'c1:[Type == "http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-client-user-agent"] && c2:[Value =~ c1.Value] => issue(claim = c2);\nc:[] => issue(claim = c);',
    );
    const trust = fixture('group-sid.demo-finance.rules');
    const bad = await decide({ trust }, bob, { inside: true, userAgent: '(?>x)', engine: failing });
    assert.equal(bad.required, true);
    assert.equal(bad.reasons[0]?.kind === 'rule' ? bad.reasons[0].scope : '', 'acceptance');
    const ok = await decide({ trust }, bob, { inside: true, userAgent: '^x$', engine: failing });
    assert.deepEqual(ok, { required: false, reasons: [] });
  });
});

describe('access-control-policy presets', () => {
  const presetDecision = (p: MfaPreset, user: DirectoryUser, inside: boolean) =>
    decide({ presets: [compilePreset(p)] }, user, { inside });

  test('each preset is shown as AD FS rule text', () => {
    assert.equal(
      presetRuleText({ kind: 'everyone' }),
      `@RuleName = "Permit everyone and require MFA"\n${MFA_ISSUE}\n`,
    );
    const extranet = presetRuleText({ kind: 'extranet' });
    assert.equal(
      extranet,
      `@RuleName = "Permit everyone and require MFA from extranet access"\nc:[Type == "http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork", Value == "false"]\n ${MFA_ISSUE}\n`,
    );
    // Unregistered networks = the extranet here (presets.ts says why).
    assert.equal(
      presetRuleText({ kind: 'unregistered-networks' }).split('\n').slice(1).join('\n'),
      extranet.split('\n').slice(1).join('\n'),
    );
    assert.equal(
      presetRuleText({ kind: 'group', groupSid: FINANCE_SID.toLowerCase(), groupName: 'Fin"ance' }),
      `@RuleName = "Permit everyone and require MFA for specific group: Finance"\nc:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid", Value == "${FINANCE_SID}"]\n ${MFA_ISSUE}\n`,
    );
    assert.throws(
      () => presetRuleText({ kind: 'group', groupSid: 'S-1-5-21" ] => x' }),
      /not a SID/,
    );
    // A group name cannot add rules: it only labels the one rule.
    const sneaky = compilePreset({
      kind: 'group',
      groupSid: FINANCE_SID,
      groupName: 'x"\n=> issue(Type = "t", Value = "v");\u2028@RuleName = "y',
    });
    assert.equal(sneaky.rules.rules.length, 1);
  });

  test('permit everyone and require MFA: required inside and out; no preset: not', async () => {
    for (const inside of [true, false]) {
      const d = await presetDecision({ kind: 'everyone' }, bob, inside);
      assert.deepEqual(d.reasons, [
        {
          kind: 'preset',
          preset: 'everyone',
          rule: 'rule 1 "Permit everyone and require MFA"',
          failed: undefined,
        },
      ]);
      assert.equal(d.required, true);
      assert.deepEqual(await decide({ presets: [] }, bob, { inside }), {
        required: false,
        reasons: [],
      });
    }
  });

  for (const kind of ['extranet', 'unregistered-networks'] as const) {
    test(`${kind}: required from outside, not from inside`, async () => {
      const out = await presetDecision({ kind }, alice, false);
      assert.equal(out.required, true);
      assert.equal(out.reasons[0]?.kind === 'preset' ? out.reasons[0].preset : '', kind);
      assert.deepEqual(await presetDecision({ kind }, alice, true), {
        required: false,
        reasons: [],
      });
    });
  }

  test('group by SID: required for alice, not for bob', async () => {
    const p: MfaPreset = { kind: 'group', groupSid: FINANCE_SID };
    assert.equal((await presetDecision(p, alice, true)).required, true);
    assert.equal((await presetDecision(p, bob, false)).required, false);
  });

  test('group by name (and DOMAIN\\name) resolves to the SID in the directory; the preset follows it', async () => {
    const d = t.services.directory;
    assert.deepEqual(await resolveGroup(d, 'FEDGATE', 'Finance'), {
      groupSid: FINANCE_SID,
      groupName: 'Finance',
    });
    assert.equal((await resolveGroup(d, 'FEDGATE', 'fedgate\\Finance')).groupSid, FINANCE_SID);
    assert.deepEqual(await resolveGroup(d, 'FEDGATE', FINANCE_SID.toLowerCase()), {
      groupSid: FINANCE_SID,
    });
    const p: MfaPreset = { kind: 'group', ...(await resolveGroup(d, 'FEDGATE', 'Finance')) };
    assert.equal((await presetDecision(p, alice, true)).required, true);
    assert.equal((await presetDecision(p, bob, true)).required, false);
  });

  test('group names that name no group, a user, another domain or filter syntax are refused', async () => {
    const d = t.services.directory;
    await assert.rejects(resolveGroup(d, 'FEDGATE', 'Nobody'), /not found/);
    await assert.rejects(resolveGroup(d, 'FEDGATE', 'alice'), /not found/);
    await assert.rejects(resolveGroup(d, 'FEDGATE', 'OTHER\\Finance'), /not FEDGATE/);
    await assert.rejects(resolveGroup(d, 'FEDGATE', 'Fin*'), /not found/);
    await assert.rejects(resolveGroup(d, 'FEDGATE', '*)(objectClass=*'), /not found/);
    await assert.rejects(resolveGroup(d, 'FEDGATE', ''), /neither a SID nor a group name/);
  });

  test('presets and rule files together: each source that fires is a reason', async () => {
    const d = await decide(
      {
        trust: fixture('group-sid.demo-finance.rules'),
        presets: [compilePreset({ kind: 'extranet' })],
      },
      alice,
      { inside: false },
    );
    assert.deepEqual(
      d.reasons.map((r) => r.kind),
      ['rule', 'preset'],
    );
  });
});

describe('the request joins the decision', () => {
  test("a relying party's request is a reason on its own; without it the same sign-in needs nothing", async () => {
    const requested = wsfedRequestReason('http://schemas.microsoft.com/claims/multipleauthn');
    assert.ok(requested);
    const sets = { trust: fixture('extranet.rules') };
    assert.deepEqual(await decide(sets, bob, { inside: true, requested: [requested] }), {
      required: true,
      reasons: [requested],
    });
    assert.deepEqual(await decide(sets, bob, { inside: true, requested: [] }), {
      required: false,
      reasons: [],
    });
  });
});
