// The AD FS claim rule language parser: real rule text (a Get-AdfsRelyingPartyTrust dump of the Microsoft 365
// trust, the rule templates AD FS generates, documented customisations) parses as is; malformed rules fail with
// the file, line, column and rule.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { isMatch, regexReplace } from '../../../server/claims/dotnet-regex.ts';
import type { Rule } from '../../../server/claims/rule-ast.ts';
import { parseRules, RuleError } from '../../../server/claims/rule-parser.ts';
import { compileRules, presetPath } from '../../../server/claims/rule-sets.ts';

const ENTRA_CONNECT = readFileSync(
  new URL('../../fixtures/claims/adfs-dump.microsoft365.entra-connect.rules', import.meta.url),
  'utf8',
);

describe('the Microsoft 365 rule set from a real AD FS farm (entra-protocol.md §6)', () => {
  const rules = compileRules(ENTRA_CONNECT, 'entra-connect.rules').rules;
  const byName = (name: string): Rule => {
    const r = rules.find((x) => x.name === name);
    assert.ok(r, name);
    return r;
  };

  test('all 19 rules parse, in order, with their names', () => {
    assert.equal(rules.length, 19);
    assert.equal(rules[0]?.name, 'Issue UPN');
    assert.equal(rules[18]?.name, 'Pass through claim - certificate authentication - issuer');
    assert.deepEqual(
      rules.map((r) => r.index),
      Array.from({ length: 19 }, (_, i) => i + 1),
    );
    assert.ok(rules.every((r) => r.text.startsWith('@RuleName') && r.text.endsWith(';')));
  });

  test('"Issue UPN": an AD store query whose first param splits DOMAIN\\user with a .NET regex', () => {
    const r = byName('Issue UPN');
    assert.equal(r.verb, 'issue');
    assert.ok(r.issuance.kind === 'store');
    const s = r.issuance.store;
    assert.equal(s.store, 'Active Directory');
    assert.deepEqual(s.types, ['http://schemas.xmlsoap.org/claims/UPN']);
    assert.equal(
      s.query?.kind === 'literal' ? s.query.value : '',
      'samAccountName={0};userPrincipalName;{1}',
    );
    const p0 = s.params[0];
    assert.ok(p0?.kind === 'regexReplace' && p0.regex !== undefined);
    // Backslashes in rule strings are literal: the pattern is (?<domain>[^\\]+)\\(?<user>.+) and matches CORP\jdoe.
    assert.equal(p0.regex.pattern, '(?<domain>[^\\\\]+)\\\\(?<user>.+)');
    assert.equal(regexReplace(p0.regex, 'CORP\\jdoe', '${user}'), 'jdoe');
  });

  test('aggregate, selector, copy and new-claim forms are recognised', () => {
    const check = byName('Check for the existence of msdsconsistencyguid');
    assert.equal(check.conditions.kind, 'aggregates');
    assert.equal(check.verb, 'add');
    const pair = byName('Issue objectGuidRule if msdsConsistencyGuid rule does not exist');
    assert.equal(pair.conditions.kind === 'selectors' ? pair.conditions.selectors.length : 0, 2);
    const nameId = byName('Issue nameidentifier');
    assert.ok(nameId.issuance.kind === 'new');
    assert.deepEqual(
      nameId.issuance.claim.properties.map((p) => p.name),
      ['http://schemas.xmlsoap.org/ws/2005/05/identity/claimproperties/format'],
    );
    assert.equal(byName('Pass through primary SID').issuance.kind, 'copy');
    const dj = byName('Issue accounttype for domain-joined computers');
    const tests = dj.conditions.kind === 'selectors' ? dj.conditions.selectors[0]?.tests : [];
    assert.deepEqual(
      tests?.map((t) => [t.property.kind, t.operator]),
      [
        ['type', '=='],
        ['value', '=~'],
        ['issuer', '=~'],
      ],
    );
  });

  test('the Entra Connect issuerid list regex is translated and works', () => {
    const r = byName('Issue issuerid when it is not a computer account');
    assert.ok(r.issuance.kind === 'new');
    const v = r.issuance.claim.value;
    assert.ok(v?.kind === 'regexReplace' && v.regex !== undefined);
    assert.equal(
      regexReplace(v.regex, 'jdoe@fabrikam.com', 'http://${domain}/adfs/services/trust/'),
      'http://fabrikam.com/adfs/services/trust/',
    );
    assert.ok(isMatch(v.regex, 'JDOE@CONTOSO.COM'));
  });

  test('the shipped metadata/microsoft365.rules is this dump without the per-domain issuerid rules', () => {
    const shipped = compileRules(
      readFileSync(presetPath('microsoft365.rules'), 'utf8'),
      'shipped',
    ).rules;
    assert.deepEqual(
      shipped.map((r) => r.text),
      rules.filter((r) => !/issuerid/i.test(r.name ?? '')).map((r) => r.text),
    );
  });
});

describe('AD FS rule templates and documented customisations parse', () => {
  const corpus: [name: string, text: string][] = [
    [
      'Send LDAP Attributes as Claims',
      `@RuleTemplate = "LdapClaims"
@RuleName = "LDAP"
c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname", Issuer == "AD AUTHORITY"]
 => issue(store = "Active Directory", types = ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "http://schemas.xmlsoap.org/claims/Group"), query = ";mail,userPrincipalName,tokenGroups(domainQualifiedName);{0}", param = c.Value);`,
    ],
    [
      'Send Group Membership as a Claim',
      `@RuleTemplate = "EmitGroupClaims"
@RuleName = "Admins role"
c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid", Value == "S-1-5-21-1-2-3-512", Issuer == "AD AUTHORITY"]
 => issue(Type = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", Value = "Admin", Issuer = c.Issuer, OriginalIssuer = c.OriginalIssuer, ValueType = c.ValueType);`,
    ],
    [
      'Transform an Incoming Claim',
      `@RuleTemplate = "MapClaims"
@RuleName = "UPN to Name ID"
c:[Type == "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"]
 => issue(Type = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", Issuer = c.Issuer, OriginalIssuer = c.OriginalIssuer, Value = c.Value, ValueType = c.ValueType, Properties["http://schemas.xmlsoap.org/ws/2005/05/identity/claimproperties/format"] = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress");`,
    ],
    [
      'Pass Through or Filter an Incoming Claim',
      `@RuleTemplate = "PassThroughClaims"
@RuleName = "Roles"
c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"]
 => issue(claim = c);

@RuleTemplate = "PassThroughClaims"
@RuleName = "Only Terry"
c:[Type == "http://test/name", Value =~ "^(?i)Terry$"]
 => issue(claim = c);`,
    ],
    [
      'Permit All Users',
      `@RuleTemplate = "AllowAllAuthzRule"
 => issue(Type = "http://schemas.microsoft.com/authorization/claims/permit", Value = "true");`,
    ],
    [
      'Permit or Deny Users Based on an Incoming Claim (group SID)',
      `@RuleTemplate = "Authorization"
@RuleName = "Permit Finance"
c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid", Value =~ "^(?i)S-1-5-21-1-2-3-1112$"]
 => issue(Type = "http://schemas.microsoft.com/authorization/claims/permit", Value = "PermitUsersWithClaim");

@RuleTemplate = "Authorization"
@RuleName = "Deny contractors"
c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid", Value == "S-1-5-21-1-2-3-1113", Issuer == "AD AUTHORITY"]
 => issue(Type = "http://schemas.microsoft.com/authorization/claims/deny", Value = "DenyUsersWithClaim");`,
    ],
    [
      'RegExReplace customisations',
      `c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"]
 => issue(Type = "http://contoso.com/sam", Value = RegExReplace(c.Value, "CORP\\\\", ""));
c:[Type == "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"]
 => issue(Type = "http://contoso.com/upn", Value = regexreplace(c.Value, "(?i)@contoso\\.com$", "@fabrikam.com"));
c:[Type == "http://contoso.com/phase1"]
 => add(Type = "http://contoso.com/phase2", Value = regexreplace(c.Value, ",[^\\n]*", ""));
c:[Type == "http://contoso.com/phase2"]
 => issue(Type = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", Value = "Group: " + regexreplace(c.Value, "^CN=", "") + "!");`,
    ],
    [
      "the docs' generic ImmutableID variant [FEDMGMT]",
      `@RuleName = "Query objectguid and msdsconsistencyguid for custom ImmutableId claim"
c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"]
 => add(store = "Active Directory", types = ("http://schemas.microsoft.com/ws/2016/02/identity/claims/objectguid", "http://schemas.microsoft.com/ws/2016/02/identity/claims/msdsconsistencyguid"), query = "; objectGuid,ms-ds-consistencyguid;{0}", param = c.Value);

@RuleName = "Check for the existence of msdsconsistencyguid"
NOT EXISTS([Type == "http://schemas.microsoft.com/ws/2016/02/identity/claims/msdsconsistencyguid"])
 => add(Type = "urn:anandmsft:tmp/idflag", Value = "useguid");

@RuleName = "Issue msdsconsistencyguid as Immutable ID if it exists"
c:[Type == "http://schemas.microsoft.com/ws/2016/02/identity/claims/msdsconsistencyguid"]
 => issue(Type = "http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID", Value = c.Value);

@RuleName = "Issue objectGuidRule if msdsConsistencyGuid rule does not exist"
c1:[Type == "urn:anandmsft:tmp/idflag", Value =~ "useguid"]
 && c2:[Type == "http://schemas.microsoft.com/ws/2016/02/identity/claims/objectguid"]
 => issue(Type = "http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID", Value = c2.Value);`,
    ],
    [
      'nested groups with LDAP_MATCHING_RULE_IN_CHAIN',
      `c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname", Issuer == "AD AUTHORITY"] => add(store = "Active Directory", types = ("http://contoso.com/UserDN"), query = ";distinguishedName;{0}", param = c.Value);
c1:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname", Issuer == "AD AUTHORITY"] && c2:[Type == "http://contoso.com/UserDN"] => add(store = "Active Directory", types = ("http://schemas.xmlsoap.org/claims/Group"), query = "(member:1.2.840.113556.1.4.1941:={1});cn;{0}", param = c1.Value, param = c2.Value);
c:[Type == "http://schemas.xmlsoap.org/claims/Group", Value =~ "(?i)^myapp\\."] => issue(claim = c);`,
    ],
    [
      'AD FS 2.0 one-step UPN + ImmutableID',
      `c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"]
 => issue(store = "Active Directory", types = ("http://schemas.xmlsoap.org/claims/UPN", "http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID"), query = "samAccountName={0};userPrincipalName,objectGUID;{1}", param = regexreplace(c.Value, "(?<domain>[^\\\\]+)\\\\(?<user>.+)", "\${user}"), param = c.Value);`,
    ],
    [
      'COUNT, EXISTS and case-insensitive keywords',
      `COUNT([Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid"]) > 1 => issue(Type = "urn:x:many", Value = "yes");
exists([issuer == "MSFT"])
   => issue(type = "origin", value = "Microsoft");
C1:[TYPE == "x", PROPERTIES["p"] != ""] && c2:[Type == "y", Value == C1.value + "-2"] => ISSUE(CLAIM = c1);
NOT EXISTS([Type == "a"]) && count([Type == "b"]) <= 3 => Add(Type = "c", Value = "d");`,
    ],
  ];
  for (const [name, text] of corpus) {
    test(name, () => {
      const rs = compileRules(text, `${name}.rules`);
      assert.ok(rs.rules.length >= 1);
    });
  }

  test('Windows and Mac line ends, a BOM, and no trailing newline are fine', () => {
    const text =
      '\uFEFF@RuleName = "a"\r\nc:[Type == "x"]\r\n => issue(claim = c);\r\n\r\n=> issue(Type = "y", Value = "z");';
    const rs = parseRules(text, 'crlf.rules');
    assert.equal(rs.rules.length, 2);
    assert.equal(rs.rules[1]?.pos.line, 5);
  });
});

describe('malformed rules fail with file, line, column and rule', () => {
  const cases: [text: string, line: number, column: number, rule: string, message: RegExp][] = [
    ['c:[Type == "x"] => issue(claim = c)', 1, 36, 'rule 1', /expected ";"/],
    ['c:[Type == "x] => issue(claim = c);', 1, 12, 'rule 1', /not closed/],
    ['c:[Type == “x”] => issue(claim = c);', 1, 12, 'rule 1', /typographic/],
    ['c:[Type == "x"] => issue(claim = d);', 1, 34, 'rule 1', /variable "d" is not bound/],
    ['c:[Type == "x", Value == c.Value] => issue(claim = c);', 1, 26, 'rule 1', /its own selector/],
    [
      'c1:[Type == "x", Value == c2.Value] && c2:[Type == "y"] => issue(claim = c1);',
      1,
      27,
      'rule 1',
      /not bound by an earlier/,
    ],
    ['[Type == "a"] && EXISTS([Type == "b"]) => issue(Type = "c");', 1, 18, 'rule 1', /cannot mix/],
    ['c:[Type == "x"] && c:[Type == "y"] => issue(claim = c);', 1, 20, 'rule 1', /bound twice/],
    ['=> issue(Type = "a", Value = Upper("b"));', 1, 30, 'rule 1', /unknown function "Upper"/],
    ['=> issue(Value = "a");', 1, 10, 'rule 1', /needs Type/],
    ['=> issue(Type = "a", Type = "b");', 1, 22, 'rule 1', /set twice/],
    ['=> issue(Type == "a");', 1, 15, 'rule 1', /expected "="/],
    ['c:[Type = "x"] => issue(claim = c);', 1, 9, 'rule 1', /expected ==, !=, =~ or !~/],
    ['COUNT([Type == "x"]) => issue(Type = "a");', 1, 22, 'rule 1', /comparison after COUNT/],
    ['EXISTS(c:[Type == "x"]) => issue(Type = "a");', 1, 8, 'rule 1', /cannot name a variable/],
    ['@RuleTitle = "x"\n=> issue(Type = "a");', 1, 1, 'rule 1', /unknown annotation/],
    ['c:[Type =~ "(?>a)"] => issue(claim = c);', 1, 13, 'rule 1', /atomic groups/],
    [
      '=> issue(Type = "a", Value = regexreplace("x", "abc(?i)d", ""));',
      1,
      52,
      'rule 1',
      /only part/,
    ],
    [
      '@RuleName = "first"\n=> issue(Type = "a");\n\n@RuleName = "second"\nc:[Type == "x"]\n => isue(claim = c);',
      6,
      5,
      'rule 2 "second"',
      /expected issue\(…\) or add\(…\)/,
    ],
    [
      '=> issue(store = "SQL", types = ("a"), query = "select 1");',
      1,
      10,
      'rule 1',
      /unknown attribute store "SQL"/,
    ],
    [
      'c:[Type == "w"] => issue(store = "Active Directory", types = ("a"), query = ";mail,sn;{0}", param = c.Value);',
      1,
      77,
      'rule 1',
      /returns 2 attribute\(s\) but types = \(…\) lists 1/,
    ],
    [
      'c:[Type == "w"] => issue(store = "Active Directory", types = ("a"), query = ";mail;{1}", param = c.Value);',
      1,
      77,
      'rule 1',
      /uses \{1\} but the rule passes 1 param/,
    ],
    [
      'c:[Type == "w"] => issue(store = "Active Directory", types = ("a"), query = "(cn={0};mail;{0}", param = c.Value);',
      1,
      77,
      'rule 1',
      /LDAP filter/,
    ],
    [
      'c:[Type == "w"] => issue(store = "Active Directory", types = ("a"), query = "cn=x;mail{0};CORP\\\\x", param = c.Value);',
      1,
      77,
      'rule 1',
      /attribute list cannot take/,
    ],
  ];
  for (const [text, line, column, rule, message] of cases) {
    test(JSON.stringify(text).slice(0, 90), () => {
      assert.throws(
        () => compileRules(text, 'bad.rules'),
        (err: unknown) => {
          assert.ok(err instanceof RuleError, String(err));
          assert.match(err.message, message);
          assert.equal(`${err.line}:${err.column}`, `${line}:${column}`, err.message);
          assert.ok(err.message.startsWith(`bad.rules:${line}:${column}: ${rule}: `), err.message);
          return true;
        },
      );
    });
  }
});
