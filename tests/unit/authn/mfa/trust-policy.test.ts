// The MFA policy of every trust compiled from configuration (server/authn/mfa/trust-policy.ts MfaPolicies,
// trust/registry.ts, trust/saml-trusts.ts): the global and the trust's AdditionalAuthenticationRules and presets,
// group names resolved against the directory, rule files that do not parse stopping startup with file:line, and
// `fedgate check`'s report. Decisions are made by the real claims engine of a built app on the embedded demo
// directory (alice is in Finance, bob is not); each "not required" has a "required" twin.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type MfaRuleSets } from '../../../../server/authn/mfa/policy.ts';
import { checkMfaPolicy, MfaPolicies } from '../../../../server/authn/mfa/trust-policy.ts';
import { resolveConfig } from '../../../../server/config/load.ts';
import type { ConfigInput } from '../../../../server/config/schema.ts';
import type { DirectoryUser } from '../../../../server/directory/types.ts';
import { TrustRegistry } from '../../../../server/trust/registry.ts';
import { makeTestApp, type TestApp } from '../../../helpers/app.ts';
import { decidePasswordSignIn, findUsers } from '../../../helpers/mfa.ts';

const FINANCE_SID = 'S-1-5-21-3623811015-3361044348-30300820-1201';
const MFA = `=> issue(Type = "http://schemas.microsoft.com/ws/2008/06/identity/claims/authenticationmethod", Value = "http://schemas.microsoft.com/claims/multipleauthn");`;
const RP = 'urn:fedgate:test:mfa-rp';
const OTHER = 'urn:fedgate:test:other-rp';

function configIn(dir: string, input: ConfigInput) {
  return resolveConfig(
    {
      hostname: 'sts.fedgate.test',
      listen: { port: 0, tls: 'off' },
      keys: { dir: join(dir, 'keys') },
      ...input,
    },
    { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
  );
}

const party = (identifier: string, extra: Record<string, unknown> = {}) => ({
  identifier,
  name: identifier,
  replyUrls: [`https://${identifier.replace(/\W/g, '')}.example/`],
  ...extra,
});

let t: TestApp;
let alice: DirectoryUser;
let bob: DirectoryUser;
let dir: string;
before(async () => {
  t = await makeTestApp();
  ({ alice, bob } = await findUsers(t, 'alice', 'bob'));
  dir = mkdtempSync(join(tmpdir(), 'fedgate-mfa-policy-'));
  // A global rule that fires for a user agent only a test sends, so the global set is seen to run.
  writeFileSync(
    join(dir, 'global.rules'),
    `@RuleName = "Global: agent"\nc:[Type == "http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-client-user-agent", Value == "needs-mfa"]\n ${MFA}\n`,
  );
  writeFileSync(
    join(dir, 'trust.rules'),
    `@RuleName = "Trust: Finance"\nc:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid", Value == "${FINANCE_SID}"]\n ${MFA}\n`,
  );
  writeFileSync(
    join(dir, 'broken.rules'),
    `@RuleName = "ok"\n=> issue(Type = "a", Value = "b");\n\nc:[Type == ] => issue(claim = c);\n`,
  );
});
after(() => t.close());

const decide = (sets: MfaRuleSets, user: DirectoryUser, userAgent = 'browser') =>
  decidePasswordSignIn(t.services.claims, sets, user, {
    userAgent,
    insideCorporateNetwork: false,
  });

describe('MfaPolicies.setsFor', () => {
  test('global rules and presets apply to every trust; the trust adds its own rules and presets', async () => {
    const config = configIn(dir, {
      mfa: {
        additionalAuthenticationRulesFile: 'global.rules',
        accessControlPolicies: [{ kind: 'extranet' }],
      },
      relyingParties: [
        party(RP, {
          mfa: {
            additionalAuthenticationRulesFile: 'trust.rules',
            accessControlPolicies: [{ kind: 'group', group: 'Finance' }],
          },
        }),
        party(OTHER),
      ],
    });
    const trusts = new TrustRegistry(config.relyingParties, { baseDir: dir });
    const policies = await MfaPolicies.build(config, t.services.directory, { trusts });
    assert.equal(policies.configured, true);
    const rp = trusts.find(RP);
    const other = trusts.find(OTHER);
    assert.ok(rp && other);
    const sets = policies.setsFor(rp);
    assert.equal(sets.global?.source, join(dir, 'global.rules'));
    assert.equal(sets.trust?.source, join(dir, 'trust.rules'));
    assert.deepEqual(
      sets.presets?.map((p) => p.preset),
      [{ kind: 'extranet' }, { kind: 'group', groupSid: FINANCE_SID, groupName: 'Finance' }],
      'the group name is resolved to the SID of the directory',
    );
    const o = policies.setsFor(other);
    assert.equal(o.global?.source, join(dir, 'global.rules'));
    assert.equal(o.trust, undefined);
    assert.deepEqual(
      o.presets?.map((p) => p.preset.kind),
      ['extranet'],
    );
  });

  test('decisions: the trust group rule and preset require MFA for alice (Finance), not bob; the global rule for both', async () => {
    const config = configIn(dir, {
      mfa: { additionalAuthenticationRulesFile: 'global.rules' },
      relyingParties: [
        party(RP, {
          mfa: { accessControlPolicies: [{ kind: 'group', group: 'FEDGATE\\Finance' }] },
        }),
        party(OTHER),
      ],
    });
    const trusts = new TrustRegistry(config.relyingParties, { baseDir: dir });
    const policies = await MfaPolicies.build(config, t.services.directory, { trusts });
    const sets = policies.setsFor(trusts.find(RP)!);
    const a = await decide(sets, alice);
    assert.equal(a.required, true);
    assert.deepEqual(
      a.reasons.map((r) => r.kind),
      ['preset'],
    );
    assert.equal((await decide(sets, bob)).required, false);
    // Twin: the global rule fires for bob too, on every trust.
    assert.equal((await decide(sets, bob, 'needs-mfa')).required, true);
    const other = policies.setsFor(trusts.find(OTHER)!);
    assert.equal((await decide(other, alice)).required, false);
    assert.equal((await decide(other, alice, 'needs-mfa')).required, true);
  });

  test('microsoft365.mfa: the preset everyone on the Microsoft 365 trust only', async () => {
    const config = configIn(dir, {
      microsoft365: { mfa: { accessControlPolicies: [{ kind: 'everyone' }] } },
      relyingParties: [party(OTHER)],
    });
    const trusts = new TrustRegistry(config.relyingParties, {
      baseDir: dir,
      microsoft365: config.microsoft365,
    });
    const policies = await MfaPolicies.build(config, t.services.directory, { trusts });
    assert.equal(
      (await decide(policies.setsFor(trusts.find('urn:federation:MicrosoftOnline')!), bob))
        .required,
      true,
    );
    assert.equal((await decide(policies.setsFor(trusts.find(OTHER)!), bob)).required, false);
  });

  test('nothing configured: no sets, configured is false', async () => {
    const config = configIn(dir, { relyingParties: [party(OTHER)] });
    const trusts = new TrustRegistry(config.relyingParties, { baseDir: dir });
    const policies = await MfaPolicies.build(config, t.services.directory, { trusts });
    assert.equal(policies.configured, false);
    assert.deepEqual(policies.setsFor(trusts.find(OTHER)!), {
      global: undefined,
      trust: undefined,
      presets: undefined,
    });
  });

  test('a group given by SID needs no directory look-up and is upper-cased', async () => {
    const config = configIn(dir, {
      mfa: { accessControlPolicies: [{ kind: 'group', group: FINANCE_SID.toLowerCase() }] },
    });
    const policies = await MfaPolicies.build(config, t.services.directory);
    const sets = policies.setsFor({});
    assert.deepEqual(
      sets.presets?.map((p) => p.preset),
      [{ kind: 'group', groupSid: FINANCE_SID }],
    );
    assert.equal((await decide(sets, alice)).required, true);
    assert.equal((await decide(sets, bob)).required, false);
  });
});

describe('startup stops on a broken MFA policy', () => {
  test('an unknown group name (global or per trust)', async () => {
    const global = configIn(dir, {
      mfa: { accessControlPolicies: [{ kind: 'group', group: 'Finanse' }] },
    });
    await assert.rejects(
      MfaPolicies.build(global, t.services.directory),
      /group "Finanse" not found/,
    );
    const perTrust = configIn(dir, {
      relyingParties: [
        party(RP, { mfa: { accessControlPolicies: [{ kind: 'group', group: 'bob' }] } }),
      ],
    });
    const trusts = new TrustRegistry(perTrust.relyingParties, { baseDir: dir });
    await assert.rejects(
      MfaPolicies.build(perTrust, t.services.directory, { trusts }),
      /group "bob" not found/,
      'a user is not a group',
    );
  });

  test('a global rule file that does not parse: file:line:column', async () => {
    const config = configIn(dir, { mfa: { additionalAuthenticationRulesFile: 'broken.rules' } });
    await assert.rejects(MfaPolicies.build(config, t.services.directory), (err: Error) =>
      err.message.startsWith(`${join(dir, 'broken.rules')}:4:`),
    );
  });

  test('a trust rule file that does not parse: the registry throws file:line:column', () => {
    const config = configIn(dir, {
      relyingParties: [party(RP, { mfa: { additionalAuthenticationRulesFile: 'broken.rules' } })],
    });
    assert.throws(
      () => new TrustRegistry(config.relyingParties, { baseDir: dir }),
      (err: Error) => err.message.startsWith(`${join(dir, 'broken.rules')}:4:`),
    );
    const m365 = configIn(dir, {
      microsoft365: { mfa: { additionalAuthenticationRulesFile: 'missing.rules' } },
    });
    assert.throws(
      () => new TrustRegistry([], { baseDir: dir, microsoft365: m365.microsoft365 }),
      /missing\.rules: cannot read the rule file/,
    );
  });
});

describe('SAML trust files: mfa', () => {
  test('a trust file loaded after start: a group name not resolved yet fails closed, then the real group applies', async () => {
    const config = configIn(dir, {});
    const trusts = new TrustRegistry([], { baseDir: dir });
    const policies = await MfaPolicies.build(config, t.services.directory, { trusts });
    const rp = trusts.setSaml(
      {
        metadata: {
          entityId: 'https://sp.example/late',
          authnRequestsSigned: false,
          wantAssertionsSigned: false,
          assertionConsumerServices: [],
          singleLogoutServices: [],
          signingCertificates: [],
          encryptionCertificates: [],
          nameIdFormats: [],
        },
        policy: {
          signAssertion: true,
          signResponse: false,
          requireSignedRequests: false,
          allowSha1: false,
          idpInitiated: false,
          relayStateUrls: [],
        },
        source: 'test',
      },
      {
        name: 'late',
        tokenLifetimeMinutes: 60,
        rules: trusts.find('urn:federation:MicrosoftOnline')!.rules,
        mfa: { presets: [{ kind: 'group', group: 'Finance' }] },
      },
    );
    const before = policies.setsFor(rp);
    const first = before.presets?.[0];
    assert.ok(first);
    assert.equal(first.preset.kind, 'group');
    assert.match(first.text, /not resolved/);
    assert.equal((await decide(before, bob)).required, true, 'unresolved: MFA for everyone');
    await policies.prepare(rp);
    const after = policies.setsFor(rp);
    assert.deepEqual(after.presets?.[0]?.preset, {
      kind: 'group',
      groupSid: FINANCE_SID,
      groupName: 'Finance',
    });
    assert.equal((await decide(after, bob)).required, false);
    assert.equal((await decide(after, alice)).required, true);
  });
});

describe('fedgate check: checkMfaPolicy', () => {
  test('reports every broken MFA rule file and unknown group, by configuration key', async () => {
    const trustsDir = join(dir, 'trusts-check');
    mkdirSync(trustsDir, { recursive: true });
    writeFileSync(
      join(trustsDir, 'sp.yaml'),
      'metadata: sp.xml\nmfa:\n  additionalAuthenticationRulesFile: ../broken.rules\n  accessControlPolicies:\n    - kind: group\n      group: Nobody\n',
    );
    const config = configIn(dir, {
      mfa: { accessControlPolicies: [{ kind: 'group', group: 'Finance' }] },
      microsoft365: { mfa: { additionalAuthenticationRulesFile: 'broken.rules' } },
      relyingParties: [
        party(RP, { mfa: { accessControlPolicies: [{ kind: 'group', group: 'Ghosts' }] } }),
      ],
      saml2: { trustsDir: 'trusts-check' },
    });
    let closed = 0;
    const r = await checkMfaPolicy(config, () =>
      Promise.resolve({
        ...t.services.directory,
        queryAttributes: (q) => t.services.directory.queryAttributes(q),
        close: () => {
          closed++;
          return Promise.resolve();
        },
      }),
    );
    assert.equal(closed, 1, 'the directory opened for the check is closed');
    assert.equal(r.problems.length, 4, r.problems.join('\n'));
    assert.ok(
      r.problems[0]?.startsWith(
        `microsoft365.mfa.additionalAuthenticationRulesFile: ${join(dir, 'broken.rules')}:4:`,
      ),
    );
    assert.match(
      r.problems[1] ?? '',
      /sp\.yaml: mfa\.additionalAuthenticationRulesFile: .*broken\.rules:4:/,
    );
    assert.match(
      r.problems[2] ?? '',
      /^relyingParties\[0\]\.mfa\.accessControlPolicies\[0\]: group "Ghosts" not found/,
    );
    assert.match(
      r.problems[3] ?? '',
      /sp\.yaml: mfa\.accessControlPolicies\[0\]: group "Nobody" not found/,
    );
    assert.deepEqual(r.warnings, []);
  });

  test('a valid policy has no problems; without a directory the names are a warning', async () => {
    const config = configIn(dir, {
      mfa: {
        additionalAuthenticationRulesFile: 'global.rules',
        accessControlPolicies: [{ kind: 'group', group: 'Finance' }],
      },
    });
    assert.deepEqual(
      await checkMfaPolicy(config, () =>
        Promise.resolve({
          ...t.services.directory,
          queryAttributes: (q) => t.services.directory.queryAttributes(q),
          close: () => Promise.resolve(),
        }),
      ).then((r) => r.problems),
      [],
    );
    const offline = await checkMfaPolicy(config);
    assert.deepEqual(offline.problems, []);
    assert.equal(offline.warnings.length, 1);
  });
});
