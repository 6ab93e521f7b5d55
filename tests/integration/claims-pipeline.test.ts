// The claims pipeline against the Samba AD DC: the Active Directory claims provider's acceptance transform rules
// run before the relying party's rules on a real WS-Fed sign-in, primarygroupsid comes from the account's real
// objectSid and primaryGroupID, and the sign-in's audit line carries the claims outcome. Tokens are checked with
// xmlsec1 and xml-crypto against the certificate published in our metadata. No wrong passwords here.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { sidToString } from '../../server/directory/guid.ts';
import { formAction, hidden, makeTestApp, signIn, type TestApp } from '../helpers/app.ts';
import {
  readBinaryAttributeWithCli,
  sambaEnv,
  sambaLdapConfig,
  type SambaEnv,
} from '../helpers/samba.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
  type Saml11Claims,
} from '../helpers/verify.ts';

const APP = 'urn:fedgate:test:pipeline';
const DENY_APP = 'urn:fedgate:test:pipeline:deny';
const REPLY = 'https://app.example/signin';
const T = {
  windowsAccountName: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname',
  upn: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn',
  groupSid: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid',
  primaryGroupSid: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/primarygroupsid',
  role: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
  clientIp: 'http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-client-ip',
  nameId: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier',
};

async function tokenOf(t: TestApp, res: request.Response): Promise<Saml11Claims> {
  assert.equal(res.status, 200, res.text.slice(0, 500));
  assert.equal(formAction(res.text), REPLY);
  const cert = certFromMetadata(
    (await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml')).text,
  )[0]!;
  const assertion = extractAssertionFromRstr(hidden(res.text, 'wresult'));
  const xmlsec = verifyWithXmlsec1(assertion, cert, SAML11_ID_ATTR);
  assert.equal(xmlsec.ok, true, xmlsec.output);
  return verifySaml11WithXmlCrypto(assertion, cert);
}

describe('acceptance transform rules and primarygroupsid against Active Directory', () => {
  let env: SambaEnv;
  let t: TestApp;
  let domainSid: string;
  let financeSid: string;
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-pipeline-'));
  before(async () => {
    env = sambaEnv();
    const userSid = sidToString(
      readBinaryAttributeWithCli(env, 'jdoe', 'objectSid') ?? Buffer.alloc(0),
    );
    assert.ok(userSid);
    domainSid = userSid.replace(/-\d+$/, '');
    financeSid =
      sidToString(readBinaryAttributeWithCli(env, 'Finance', 'objectSid') ?? Buffer.alloc(0)) ?? '';
    assert.ok(financeSid.startsWith(domainSid));
    // Acceptance: pass the account name and the primary group, turn Finance membership into a role, drop the rest
    // (UPN, group SIDs). The relying party's rules pass everything they get through, so the token shows exactly
    // what acceptance let in.
    writeFileSync(
      join(dir, 'ad-acceptance.rules'),
      `@RuleTemplate = "PassThroughClaims"
@RuleName = "Pass through all Windows account name claims"
c:[Type == "${T.windowsAccountName}", Issuer =~ "^(AD AUTHORITY|SELF AUTHORITY|LOCAL AUTHORITY)$"] => issue(claim = c);

@RuleTemplate = "PassThroughClaims"
@RuleName = "Pass through all Primary group SID claims"
c:[Type == "${T.primaryGroupSid}", Issuer =~ "^(AD AUTHORITY|SELF AUTHORITY|LOCAL AUTHORITY)$"] => issue(claim = c);

@RuleName = "Finance members are finance"
c:[Type == "${T.groupSid}", Value == "${financeSid}", Issuer == "AD AUTHORITY"] => issue(Type = "${T.role}", Value = "finance");
`,
    );
    writeFileSync(
      join(dir, 'pass-all.rules'),
      `@RuleName = "Name identifier"
c:[Type == "${T.windowsAccountName}"] => issue(Type = "${T.nameId}", Value = c.Value);
@RuleName = "Everything accepted"
c:[] => issue(claim = c);
`,
    );
    writeFileSync(
      join(dir, 'need-upn.rules'),
      `@RuleName = "Users with a UPN"
EXISTS([Type == "${T.upn}"]) => issue(Type = "http://schemas.microsoft.com/authorization/claims/permit", Value = "true");
`,
    );
    t = await makeTestApp({
      directory: sambaLdapConfig(env),
      claimsProvider: { acceptanceRulesFile: join(dir, 'ad-acceptance.rules') },
      relyingParties: [
        {
          identifier: APP,
          name: 'Pipeline',
          replyUrls: [REPLY],
          issuanceRulesFile: join(dir, 'pass-all.rules'),
        },
        {
          identifier: DENY_APP,
          name: 'Needs a UPN',
          replyUrls: [REPLY],
          issuanceRulesFile: join(dir, 'pass-all.rules'),
          authorizationRulesFile: join(dir, 'need-upn.rules'),
        },
      ],
    });
  });
  after(() => t.close());

  test('the relying party gets what the acceptance rules issued, and the request context', async () => {
    const { res } = await signIn(t.app, {
      username: 'jdoe',
      password: env.users.jdoe.password,
      realm: APP,
    });
    const c = (await tokenOf(t, res)).attributes;
    assert.deepEqual(c[T.windowsAccountName], [`${env.netbiosDomain}\\jdoe`]);
    // Domain Users: the domain SID (the account's objectSid without its RID) + primaryGroupID 513.
    assert.deepEqual(c[T.primaryGroupSid], [`${domainSid}-513`]);
    assert.deepEqual(c[T.role], ['finance']);
    assert.equal(c[T.upn], undefined, 'not passed through by acceptance');
    assert.equal(c[T.groupSid], undefined, 'not passed through by acceptance');
    assert.ok(c[T.clientIp]?.length === 1, 'request context claims always reach the relying party');
  });

  test('the token_issued audit line carries the claims outcome (counts, no values)', () => {
    const issued = t.logs.events('token_issued').filter((e) => e.rp === APP);
    const last = issued.at(-1);
    assert.ok(last);
    assert.deepEqual(last.claims, {
      rulesFired: { acceptance: 3, authorization: 1, issuance: 2 },
      claimsIssued: (last.claims as { claimsIssued: number }).claimsIssued,
    });
    assert.ok((last.claims as { claimsIssued: number }).claimsIssued >= 5);
    assert.doesNotMatch(JSON.stringify(last.claims), /S-1-5|jdoe|finance/);
  });

  test('authorization runs on accepted claims: a UPN dropped at acceptance denies, and the audit names why', async () => {
    const { res } = await signIn(t.app, {
      username: 'jsmith',
      password: env.users.jsmith.password,
      realm: DENY_APP,
    });
    assert.equal(res.status, 403);
    assert.match(res.text, /You do not have access to this application\./);
    const denied = t.logs.events('access_denied').at(-1);
    assert.ok(denied);
    assert.equal(denied.rp, DENY_APP);
    assert.deepEqual(denied.claims, {
      rulesFired: { acceptance: 2, authorization: 0, issuance: null },
      deniedBy: 'no authorization rule issued a permit claim',
    });
  });
});
