// The MFA decision (server/authn/mfa/policy.ts, presets.ts) against the Samba AD DC (tests/setup/samba.sh): group
// membership comes from the real directory (tokenGroups, nested groups included), and the group SIDs the tests
// expect are read independently with the ldapsearch CLI. jdoe is in Finance (itself in Staff); jsmith is in
// neither. Every "not required" case has a twin that is "required". No binds: users are looked up, not signed in.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { decideMfa, type MfaDecision, type MfaRuleSets } from '../../server/authn/mfa/policy.ts';
import { compilePreset, resolveGroup } from '../../server/authn/mfa/presets.ts';
import { checkMfaPolicy, MfaPolicies } from '../../server/authn/mfa/trust-policy.ts';
import { resolveConfig } from '../../server/config/load.ts';
import { TrustRegistry } from '../../server/trust/registry.ts';
import { ClaimsEngine } from '../../server/claims/engine.ts';
import { compileRules } from '../../server/claims/rule-sets.ts';
import { AuthMethods } from '../../server/claims/types.ts';
import { sidToString } from '../../server/directory/guid.ts';
import { createDirectory } from '../../server/directory/index.ts';
import type { DirectoryUser } from '../../server/directory/types.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { FederationError } from '../../server/lib/errors.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { decidePasswordSignIn, findUsers } from '../helpers/mfa.ts';
import {
  readBinaryAttributeWithCli,
  sambaEnv,
  sambaLdapConfig,
  type SambaEnv,
} from '../helpers/samba.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/rules/mfa');

function sidWithCli(env: SambaEnv, sAMAccountName: string): string {
  const raw = readBinaryAttributeWithCli(env, sAMAccountName, 'objectSid');
  const sid = raw === undefined ? undefined : sidToString(raw);
  if (sid === undefined) throw new Error(`ldapsearch found no objectSid for ${sAMAccountName}`);
  return sid;
}

// One app on the DC for both groups of tests: they only look users up and decide, never change its state.
let env: SambaEnv;
let t: TestApp;
let jdoe: DirectoryUser;
let jsmith: DirectoryUser;
let financeSid: string;
let staffSid: string;
before(async () => {
  env = sambaEnv();
  t = await makeTestApp({ directory: sambaLdapConfig(env) });
  ({ jdoe, jsmith } = await findUsers(t, 'jdoe', 'jsmith'));
  financeSid = sidWithCli(env, 'Finance');
  staffSid = sidWithCli(env, 'Staff');
});
after(() => t.close());

describe('MFA policy against Active Directory (Samba)', () => {
  const decide = (sets: MfaRuleSets, user: DirectoryUser, inside: boolean): Promise<MfaDecision> =>
    decidePasswordSignIn(t.services.claims, sets, user, { insideCorporateNetwork: inside });

  test('group preset by name: the SID the directory resolves is the one ldapsearch reads', async () => {
    const finance = await resolveGroup(t.services.directory, env.netbiosDomain, 'Finance');
    assert.deepEqual(finance, { groupSid: financeSid, groupName: 'Finance' });
    assert.match(financeSid, /^S-1-5-21-\d+-\d+-\d+-\d+$/);
    await assert.rejects(
      resolveGroup(t.services.directory, env.netbiosDomain, 'jdoe'),
      /not found/,
      'a user is not a group',
    );
  });

  test('group preset: required for a member (jdoe), not for jsmith, inside and outside', async () => {
    const preset = compilePreset({
      kind: 'group',
      ...(await resolveGroup(t.services.directory, env.netbiosDomain, 'Finance')),
    });
    for (const inside of [true, false]) {
      const d = await decide({ presets: [preset] }, jdoe, inside);
      assert.equal(d.required, true, `jdoe inside=${String(inside)}`);
      assert.equal(d.reasons[0]?.kind === 'preset' ? d.reasons[0].preset : '', 'group');
      assert.deepEqual(await decide({ presets: [preset] }, jsmith, inside), {
        required: false,
        reasons: [],
      });
    }
  });

  test('nested membership counts (tokenGroups): Staff, which jdoe is in only through Finance', async () => {
    const preset = compilePreset({ kind: 'group', groupSid: staffSid, groupName: 'Staff' });
    assert.equal((await decide({ presets: [preset] }, jdoe, true)).required, true);
    assert.equal((await decide({ presets: [preset] }, jsmith, true)).required, false);
  });

  test('group-SID rule file with the SID from the directory: jdoe required, jsmith not', async () => {
    const text = readFileSync(join(FIXTURES, 'group-sid.template.rules'), 'utf8').replace(
      '{GROUP_SID}',
      financeSid,
    );
    const sets = { global: compileRules(text, 'group-sid.rules') };
    const d = await decide(sets, jdoe, false);
    assert.deepEqual(d.reasons, [
      {
        kind: 'rule',
        scope: 'global',
        source: 'group-sid.rules',
        rule: 'rule 1 "Require MFA for one group"',
        failed: undefined,
      },
    ]);
    assert.deepEqual(await decide(sets, jsmith, false), { required: false, reasons: [] });
  });

  test('insidecorporatenetwork both ways: extranet rule and preset require MFA from outside only', async () => {
    const sets = {
      trust: compileRules(readFileSync(join(FIXTURES, 'extranet.rules'), 'utf8'), 'extranet.rules'),
    };
    const preset = { presets: [compilePreset({ kind: 'extranet' })] };
    for (const user of [jdoe, jsmith]) {
      assert.equal((await decide(sets, user, false)).required, true);
      assert.equal((await decide(sets, user, true)).required, false);
      assert.equal((await decide(preset, user, false)).required, true);
      assert.equal((await decide(preset, user, true)).required, false);
    }
  });

  test('a directory outage is no verdict: the decision rejects with directory_unavailable, neither yes nor no', async () => {
    // Nothing listens on loopback port 1: every DC of this directory refuses at once.
    const down = await createDirectory(sambaLdapConfig(env, { urls: ['ldaps://127.0.0.1:1'] }), {
      logger: pino({ level: 'silent' }),
      clock: new FixedClock(),
      baseDir: '/',
    });
    try {
      const engine = new ClaimsEngine({ directory: down, clock: new FixedClock() });
      const sets = { presets: [compilePreset({ kind: 'group', groupSid: financeSid })] };
      const auth = { user: jdoe, method: AuthMethods.password, instant: new Date(0) };
      const request = {
        clientIp: '203.0.113.9',
        endpointPath: '/adfs/ls/',
        insideCorporateNetwork: true,
      };
      await assert.rejects(
        decideMfa({ engine, sets, auth, request }),
        (err: unknown) => err instanceof FederationError && err.code === 'directory_unavailable',
      );
      // Twin: the same decision with the DC that answers is a verdict (required: jdoe is in Finance).
      assert.equal(
        (await decideMfa({ engine: t.services.claims, sets, auth, request })).required,
        true,
      );
    } finally {
      await down.close();
    }
  });
});

describe('MFA policy from configuration against Active Directory (Samba): MfaPolicies, fedgate check', () => {
  const RP = 'urn:fedgate:test:samba-mfa';
  const configWith = (groups: string[]) =>
    resolveConfig(
      {
        hostname: 'sts.fedgate.test',
        listen: { port: 0, tls: 'off' },
        directory: sambaLdapConfig(env),
        relyingParties: [
          {
            identifier: RP,
            name: 'Samba MFA',
            replyUrls: ['https://app.example/'],
            mfa: {
              accessControlPolicies: groups.map((group) => ({ kind: 'group' as const, group })),
            },
          },
        ],
      },
      { env: {}, baseDir: '/', source: 'test', embeddedDefaults: false },
    );
  const decideFor = (sets: MfaRuleSets, user: DirectoryUser): Promise<MfaDecision> =>
    decidePasswordSignIn(t.services.claims, sets, user, { insideCorporateNetwork: true });

  test('group names (plain and DOMAIN\\name) resolve at build to the SIDs ldapsearch reads; jdoe required, jsmith not', async () => {
    const config = configWith(['Finance', `${env.netbiosDomain}\\Staff`]);
    const trusts = new TrustRegistry(config.relyingParties, { baseDir: '/' });
    const policies = await MfaPolicies.build(config, t.services.directory, { trusts });
    const rp = trusts.find(RP);
    assert.ok(rp);
    const sets = policies.setsFor(rp);
    assert.deepEqual(
      sets.presets?.map((p) => (p.preset.kind === 'group' ? p.preset.groupSid : '')),
      [financeSid, staffSid],
    );
    assert.equal((await decideFor(sets, jdoe)).required, true);
    assert.deepEqual(await decideFor(sets, jsmith), { required: false, reasons: [] });
  });

  test('an unknown group name stops the build; fedgate check names it by configuration key', async () => {
    const config = configWith(['Finance', 'NoSuchGroup']);
    const trusts = new TrustRegistry(config.relyingParties, { baseDir: '/' });
    await assert.rejects(
      MfaPolicies.build(config, t.services.directory, { trusts }),
      /group "NoSuchGroup" not found/,
    );
    const report = await checkMfaPolicy(config, () =>
      createDirectory(config.directory, {
        logger: pino({ level: 'silent' }),
        clock: new FixedClock(),
        baseDir: '/',
      }),
    );
    assert.equal(report.problems.length, 1, report.problems.join('\n'));
    assert.match(
      report.problems[0] ?? '',
      /^relyingParties\[0\]\.mfa\.accessControlPolicies\[1\]: group "NoSuchGroup" not found/,
    );
    assert.deepEqual(report.warnings, []);
  });

  test('a directory outage at build is not a verdict: the group preset fails closed (MFA for jsmith too) until resolved', async () => {
    const down = await createDirectory(sambaLdapConfig(env, { urls: ['ldaps://127.0.0.1:1'] }), {
      logger: pino({ level: 'silent' }),
      clock: new FixedClock(),
      baseDir: '/',
    });
    try {
      const config = configWith(['Finance']);
      const trusts = new TrustRegistry(config.relyingParties, { baseDir: '/' });
      const policies = await MfaPolicies.build(config, down, { trusts });
      const rp = trusts.find(RP);
      assert.ok(rp);
      assert.equal((await decideFor(policies.setsFor(rp), jsmith)).required, true);
      // Twin: built with the DC that answers, jsmith (not in Finance) needs no MFA.
      const up = await MfaPolicies.build(config, t.services.directory, { trusts });
      assert.equal((await decideFor(up.setsFor(rp), jsmith)).required, false);
      // fedgate check with the DC down: a warning, not a problem.
      const report = await checkMfaPolicy(config, () => Promise.resolve(down));
      assert.deepEqual(report.problems, []);
      assert.equal(report.warnings.length, 1);
    } finally {
      await down.close();
    }
  });
});
