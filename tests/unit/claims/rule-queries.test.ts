import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ownEntryAttributes } from '../../../server/claims/rule-queries.ts';
import { loadRulesFile, presetPath } from '../../../server/claims/rule-sets.ts';
import { parseRules } from '../../../server/claims/rule-parser.ts';

test('the shipped Microsoft 365 rules read UPN, objectGUID and mS-DS-ConsistencyGuid from the own entry', () => {
  assert.deepEqual(ownEntryAttributes([loadRulesFile(presetPath('microsoft365.rules'))]), [
    'mS-DS-ConsistencyGuid',
    'objectGUID',
    'userPrincipalName',
  ]);
});

test('own-entry queries are those without a filter or with samAccountName={n}; other filters and rule names do not count', () => {
  const rules = parseRules(
    `
    @RuleName = "department is only mentioned in this name"
    c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"]
      => issue(store = "Active Directory", types = ("a", "b"), query = ";mail,displayName;{0}", param = c.Value);
    c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"]
      => issue(store = "Active Directory", types = ("c"), query = "samAccountName={0};employeeID;{1}", param = regexreplace(c.Value, "^.*\\\\", ""), param = c.Value);
    c:[Type == "x"]
      => issue(store = "Active Directory", types = ("d"), query = "(manager={0});title;CORP\\\\x", param = c.Value);
  `,
    'test.rules',
  );
  assert.deepEqual(ownEntryAttributes([rules]), ['displayName', 'employeeID', 'mail']);
});
