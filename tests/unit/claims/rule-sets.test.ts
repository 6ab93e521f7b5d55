// Rule sets per trust: the shipped Microsoft 365 and generic presets, the per-domain issuerid rules generated from
// microsoft365.federatedDomains, rule files from configuration, and startup failure on a broken file.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { evaluateRules } from '../../../server/claims/evaluator.ts';
import { RuleError } from '../../../server/claims/rule-parser.ts';
import {
  federatedIssuer,
  genericRules,
  issuerIdRules,
  microsoft365Rules,
} from '../../../server/claims/rule-sets.ts';
import type { Claim } from '../../../server/claims/types.ts';
import { TrustRegistry } from '../../../server/trust/registry.ts';

const UPN = 'http://schemas.xmlsoap.org/claims/UPN';
const ACCOUNT_TYPE = 'http://schemas.microsoft.com/ws/2012/01/accounttype';
const ISSUER_ID = 'http://schemas.microsoft.com/ws/2008/06/identity/claims/issuerid';

describe('Microsoft 365 rule set', () => {
  test('without federated domains: the 17 shipped rules, no issuerid', () => {
    const { issuance, authorization } = microsoft365Rules({ federatedDomains: [] });
    assert.equal(issuance.rules.length, 17);
    assert.ok(!issuance.rules.some((r) => /issuerid/i.test(r.name ?? '')));
    assert.equal(authorization.rules.length, 1);
  });

  test('with federated domains: the issuerid rules sit where Entra Connect puts them', () => {
    const { issuance } = microsoft365Rules({ federatedDomains: ['contoso.com', 'fabrikam.com'] });
    assert.deepEqual(
      issuance.rules.slice(7, 11).map((r) => r.name),
      [
        'Issue AccountType with the value USER when it is not a computer account',
        'Issue issuerid when it is not a computer account',
        'Issue issuerid for DJ computer auth',
        'Issue onpremobjectguid for domain-joined computers',
      ],
    );
    assert.equal(issuance.rules.length, 19);
    assert.match(issuance.source, /with issuerid rules for contoso\.com, fabrikam\.com/);
  });

  test('issuer per UPN: federated domains and their subdomains; other suffixes get none', async () => {
    const text = issuerIdRules(['contoso.com', 'fabrikam.com']);
    const { issuance } = microsoft365Rules({ federatedDomains: ['contoso.com', 'fabrikam.com'] });
    const rules = {
      ...issuance,
      rules: issuance.rules.filter((r) => /issuerid/i.test(r.name ?? '')),
    };
    const issued = async (upn: string, accountType = 'User'): Promise<string[]> => {
      const input: Claim[] = [
        { type: UPN, value: upn },
        { type: ACCOUNT_TYPE, value: accountType },
      ];
      const r = await evaluateRules(rules, input, []);
      return r.output.filter((c) => c.type === ISSUER_ID).map((c) => c.value);
    };
    assert.deepEqual(await issued('jdoe@contoso.com'), ['http://contoso.com/adfs/services/trust/']);
    assert.deepEqual(await issued('jdoe@FABRIKAM.com'), [
      'http://FABRIKAM.com/adfs/services/trust/',
    ]);
    assert.deepEqual(await issued('jdoe@eu.sales.fabrikam.com'), [
      'http://fabrikam.com/adfs/services/trust/',
    ]);
    assert.deepEqual(await issued('jdoe@evilfabrikam.com'), []);
    assert.deepEqual(await issued('jdoe@fabrikam.com.evil'), []);
    assert.deepEqual(await issued('jdoe@other.com'), []);
    assert.deepEqual(await issued('host$@x', 'DJ'), ['http://contoso.com/adfs/services/trust/']);
    assert.match(
      text,
      /\(\?i\)\(\^\(\[\^@\]\+\)@\)\(\?:\[\^@\]\*\\\.\)\?\(\?<domain>\(contoso\\\.com\|fabrikam\\\.com\)\)\$/,
    );
  });

  test('federatedIssuer (what `fedgate tenant` prints) agrees with the rules', () => {
    const d = ['contoso.com', 'fabrikam.com'];
    assert.equal(federatedIssuer(d, 'Fabrikam.com'), 'http://fabrikam.com/adfs/services/trust/');
    assert.equal(federatedIssuer(d, 'eu.contoso.com'), 'http://contoso.com/adfs/services/trust/');
    assert.equal(federatedIssuer(d, 'evilcontoso.com'), undefined);
    assert.equal(federatedIssuer([], 'contoso.com'), undefined);
  });

  test('a domain that is not a domain name is refused', () => {
    assert.throws(
      () => microsoft365Rules({ federatedDomains: ['contoso.com"] => issue'] }),
      /not a domain name/,
    );
  });
});

describe('rule files from configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-rules-'));
  writeFileSync(
    join(dir, 'app.rules'),
    'c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"]\n => issue(claim = c);\n',
  );
  writeFileSync(
    join(dir, 'broken.rules'),
    '@RuleName = "Send mail"\nc:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"]\n => issue(store = "Active Directory", types = ("mail"), query = ";mail;{0}", param = c.Value)\n',
  );

  test('relyingParties[] rule files (relative to the config folder) replace the generic preset', () => {
    const reg = new TrustRegistry(
      [
        {
          identifier: 'urn:a',
          name: 'A',
          replyUrls: ['https://a.example/'],
          tokenLifetimeMinutes: 60,
          issuanceRulesFile: 'app.rules',
        },
        {
          identifier: 'urn:b',
          name: 'B',
          replyUrls: ['https://b.example/'],
          tokenLifetimeMinutes: 60,
        },
      ],
      { baseDir: dir },
    );
    assert.equal(reg.find('urn:a')?.rules.issuance.source, join(dir, 'app.rules'));
    assert.equal(reg.find('urn:a')?.rules.issuance.rules.length, 1);
    assert.deepEqual(reg.find('urn:b')?.rules, genericRules());
    assert.equal(reg.find('urn:federation:MicrosoftOnline')?.rules.issuance.rules.length, 17);
  });

  test('a rule file that does not parse stops the registry with file:line:column and the rule', () => {
    assert.throws(
      () =>
        new TrustRegistry(
          [
            {
              identifier: 'urn:a',
              name: 'A',
              replyUrls: ['https://a.example/'],
              tokenLifetimeMinutes: 60,
              issuanceRulesFile: 'broken.rules',
            },
          ],
          { baseDir: dir },
        ),
      (err: unknown) =>
        err instanceof RuleError &&
        err.message ===
          `${join(dir, 'broken.rules')}:4:1: rule 1 "Send mail": expected ";" at the end of the rule, found the end of the text`,
    );
    assert.throws(
      () =>
        new TrustRegistry([], {
          baseDir: dir,
          microsoft365: { federatedDomains: [], authorizationRulesFile: 'nope.rules' },
        }),
      /nope\.rules: cannot read the rule file \(ENOENT\)/,
    );
  });
});
