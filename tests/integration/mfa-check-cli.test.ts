// `fedgate check` for MFA policy (issue 16), the CLI spawned as a user runs it on a configuration with the embedded
// demo directory (groups Finance, Staff): MFA rule files that do not parse (global, per trust, Microsoft 365, SAML
// trust files) and unknown group names are each reported with their configuration key, exit 2, no stack trace; the
// same configuration with the mistakes fixed passes.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { runCli } from '../helpers/cli.ts';

const MFA = `=> issue(Type = "http://schemas.microsoft.com/ws/2008/06/identity/claims/authenticationmethod", Value = "http://schemas.microsoft.com/claims/multipleauthn");`;
const GOOD = `@RuleName = "Everyone"\n${MFA}\n`;
const BROKEN = `@RuleName = "Everyone"\n${MFA}\n\n@RuleName = "Typo"\nc:[Type == "x"]\n => isue(claim = c);\n`;
const SP_METADATA = `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example/mfa"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>`;

function configDir(o: { rulesFile: string; group: string; spGroup: string }): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-mfa-check-'));
  mkdirSync(join(dir, 'trusts'));
  writeFileSync(join(dir, 'good.rules'), GOOD);
  writeFileSync(join(dir, 'broken.rules'), BROKEN);
  writeFileSync(join(dir, 'trusts', 'sp.xml'), SP_METADATA);
  writeFileSync(
    join(dir, 'trusts', 'sp.yaml'),
    stringify({
      metadata: 'sp.xml',
      mfa: {
        additionalAuthenticationRulesFile: `../${o.rulesFile}`,
        accessControlPolicies: [{ kind: 'group', group: o.spGroup }],
      },
    }),
  );
  writeFileSync(
    join(dir, 'fedgate.yaml'),
    stringify({
      listen: { port: 0, tls: 'off' },
      log: { level: 'silent' },
      saml2: { trustsDir: 'trusts' },
      mfa: {
        additionalAuthenticationRulesFile: o.rulesFile,
        accessControlPolicies: [{ kind: 'group', group: 'Finance' }],
      },
      microsoft365: { mfa: { accessControlPolicies: [{ kind: 'group', group: o.group }] } },
      relyingParties: [
        {
          identifier: 'urn:a',
          name: 'A',
          replyUrls: ['https://a.example/'],
          mfa: { additionalAuthenticationRulesFile: o.rulesFile },
        },
      ],
    }),
  );
  return dir;
}

describe('fedgate check: MFA policy', () => {
  test('broken MFA rule files and unknown groups: each reported with its key, exit 2, no stack trace', () => {
    const dir = configDir({
      rulesFile: 'broken.rules',
      group: 'Finanse',
      spGroup: 'FEDGATE\\Nobody',
    });
    const r = runCli(['check', '--config', 'fedgate.yaml'], dir);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    const err = r.stderr;
    const at = `${join(dir, 'broken.rules')}:6:5: rule 2 "Typo"`;
    assert.ok(err.includes(`mfa.additionalAuthenticationRulesFile: ${at}`), err);
    assert.ok(err.includes(`relyingParties[0].mfa.additionalAuthenticationRulesFile: ${at}`), err);
    assert.ok(
      err.includes(
        `${join(dir, 'trusts', 'sp.yaml')}: mfa.additionalAuthenticationRulesFile: ${at}`,
      ),
      err,
    );
    assert.ok(
      err.includes('microsoft365.mfa.accessControlPolicies[0]: group "Finanse" not found'),
      err,
    );
    assert.ok(
      err.includes(
        `${join(dir, 'trusts', 'sp.yaml')}: mfa.accessControlPolicies[0]: group "Nobody" not found`,
      ),
      err,
    );
    assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
  });

  test('twin with the mistakes fixed: configuration OK', () => {
    const dir = configDir({ rulesFile: 'good.rules', group: 'Staff', spGroup: 'FEDGATE\\Finance' });
    const r = runCli(['check', '--config', 'fedgate.yaml'], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^configuration OK: /m);
  });
});
