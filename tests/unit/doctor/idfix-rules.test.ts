// IdFix's per-value rules (Multi-Tenant mode, adfs-reference.md §5): one small case per error class and attribute,
// the fix proposals (strip, fold to ASCII, truncate, move a non-routable suffix to the first federated domain), and
// the rule that every finding on one value carries the same, fully fixed update (or none when no safe fix exists).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkBlank,
  checkValue,
  foldToAscii,
  isRoutableTld,
  type RuleOptions,
} from '../../../server/doctor/idfix-rules.ts';
import type { CheckedAttribute } from '../../../server/doctor/types.ts';

const USER: RuleOptions = { federatedDomains: ['contoso.com'], objectClass: 'user' };
const NO_FEDERATION: RuleOptions = { federatedDomains: [], objectClass: 'user' };

/** The classes found and the update, in one comparable shape. */
function check(
  attribute: CheckedAttribute,
  value: string,
  opts: RuleOptions = USER,
): { classes: string[]; update: string | undefined } {
  const r = checkValue(attribute, value, opts);
  return { classes: r.problems.map((p) => p.class), update: r.update };
}

describe('clean values give nothing', () => {
  const clean: [CheckedAttribute, string][] = [
    ['userPrincipalName', 'john.smith@contoso.com'],
    ['userPrincipalName', 'obrien_x-y#z@sub.contoso.co.uk'],
    ['mail', 'anything goes@here'],
    ['mailNickname', 'john.smith'],
    ['proxyAddresses', 'SMTP:john.smith@contoso.com'],
    ['proxyAddresses', 'smtp:j+s@contoso.com'],
    ['proxyAddresses', 'X500:/o=Org/ou=Exchange/cn=Recipients/cn=js'],
    ['sAMAccountName', 'jsmith'],
    ['displayName', 'Jürgen Smith (Finance)'],
    ['givenName', 'Jürgen'],
    ['sn', "O'Brien"],
    ['targetAddress', 'SMTP:jsmith@contoso.mail.onmicrosoft.com'],
  ];
  for (const [attribute, value] of clean)
    test(`${attribute}: ${value}`, () => {
      assert.deepEqual(check(attribute, value), { classes: [], update: undefined });
    });
});

describe('character', () => {
  test('every character IdFix bans in a UPN is found and stripped', () => {
    for (const c of [
      ' ',
      '\t',
      '\\',
      '%',
      '&',
      '*',
      '+',
      '/',
      '=',
      '?',
      "'",
      '{',
      '}',
      '|',
      '<',
      '>',
      '(',
      ')',
      ';',
      ':',
      ',',
      '[',
      ']',
      '"',
    ])
      assert.deepEqual(
        check('userPrincipalName', `jo${c}hn@contoso.com`),
        {
          classes: ['character'],
          update: 'john@contoso.com',
        },
        JSON.stringify(c),
      );
  });
  test('UPN: non-ASCII is folded (NFD, combining marks dropped) before what is left is stripped', () => {
    assert.deepEqual(check('userPrincipalName', 'jürgen@contoso.com'), {
      classes: ['character'],
      update: 'jurgen@contoso.com',
    });
    assert.deepEqual(check('userPrincipalName', 'renée.straße@contoso.com'), {
      classes: ['character'],
      update: 'renee.strae@contoso.com',
    });
    assert.deepEqual(check('userPrincipalName', '日本@contoso.com').classes, [
      'character',
      'localpart',
      'format',
    ]);
  });
  test('a space in a UPN is a character problem only (the stripped value passes RFC 2822)', () => {
    assert.deepEqual(check('userPrincipalName', 'john smith@contoso.com'), {
      classes: ['character'],
      update: 'johnsmith@contoso.com',
    });
  });
  test('sAMAccountName: its own list', () => {
    for (const c of ['\\', '"', '|', ',', '/', '[', ']', ':', '<', '>', '+', '=', ';', '?', '*'])
      assert.deepEqual(
        check('sAMAccountName', `js${c}x`),
        { classes: ['character'], update: 'jsx' },
        c,
      );
    assert.deepEqual(check('sAMAccountName', 'j.smith-x_y'), { classes: [], update: undefined });
  });
  test('proxyAddresses: smtp bans ; but X.500-style types do not; a colon after the prefix is a character problem', () => {
    assert.deepEqual(check('proxyAddresses', 'smtp:a;b@contoso.com'), {
      classes: ['character'],
      update: 'smtp:ab@contoso.com',
    });
    assert.deepEqual(check('proxyAddresses', 'sip:a;b@contoso.com').classes, []);
    assert.deepEqual(check('proxyAddresses', 'sip:a b@contoso.com'), {
      classes: ['character'],
      update: 'sip:ab@contoso.com',
    });
    assert.deepEqual(check('proxyAddresses', 'SMTP:a:b@contoso.com'), {
      classes: ['character'],
      update: 'SMTP:ab@contoso.com',
    });
  });
  test('targetAddress: smtp bans the backslash too', () => {
    assert.deepEqual(check('targetAddress', 'SMTP:a\\b@contoso.com'), {
      classes: ['character'],
      update: 'SMTP:ab@contoso.com',
    });
  });
});

describe('topleveldomain', () => {
  test('the special-use and mDNS names are not routable, whatever the IANA list says', () => {
    for (const tld of ['local', 'test', 'example', 'invalid', 'localhost', 'LOCAL'])
      assert.equal(isRoutableTld(tld), false, tld);
    for (const tld of ['com', 'uk', 'COM', 'technology'])
      assert.equal(isRoutableTld(tld), true, tld);
    assert.equal(isRoutableTld('notatld'), false);
  });
  test('a non-routable UPN suffix moves to the first federated domain', () => {
    assert.deepEqual(
      check('userPrincipalName', 'Jane@corp.local', {
        federatedDomains: ['Contoso.com', 'fabrikam.com'],
        objectClass: 'user',
      }),
      {
        classes: ['topleveldomain'],
        update: 'Jane@contoso.com',
      },
    );
    assert.deepEqual(check('userPrincipalName', 'jane@corp.example.test'), {
      classes: ['topleveldomain'],
      update: 'jane@contoso.com',
    });
  });
  test('with no federated domain there is no update', () => {
    assert.deepEqual(check('userPrincipalName', 'jane@corp.local', NO_FEDERATION), {
      classes: ['topleveldomain'],
      update: undefined,
    });
  });
  test('smtp proxy addresses and targetAddress are checked too', () => {
    assert.deepEqual(check('proxyAddresses', 'smtp:jane@corp.invalid'), {
      classes: ['topleveldomain'],
      update: 'smtp:jane@contoso.com',
    });
    assert.deepEqual(check('targetAddress', 'SMTP:jane@corp.localhost').classes, [
      'topleveldomain',
    ]);
  });
});

describe('domainpart, localpart, format', () => {
  test('domainpart: invalid characters after @ are stripped', () => {
    assert.deepEqual(check('userPrincipalName', 'jane@con_toso.com'), {
      classes: ['domainpart'],
      update: 'jane@contoso.com',
    });
    assert.deepEqual(check('userPrincipalName', 'jane@contoso..com'), {
      classes: ['domainpart'],
      update: 'jane@contoso.com',
    });
  });
  test('localpart: not a dot-atom (dots at the ends or doubled), or over 64 characters', () => {
    assert.deepEqual(check('userPrincipalName', '.jane..doe.@contoso.com'), {
      classes: ['localpart'],
      update: 'jane.doe@contoso.com',
    });
    assert.deepEqual(check('proxyAddresses', 'smtp:a@b@contoso.com'), {
      classes: ['localpart'],
      update: 'smtp:ab@contoso.com',
    });
    assert.deepEqual(check('userPrincipalName', `${'x'.repeat(65)}@contoso.com`), {
      classes: ['localpart'],
      update: `${'x'.repeat(64)}@contoso.com`,
    });
  });
  test('format: no @ at all has no safe fix', () => {
    assert.deepEqual(check('userPrincipalName', 'jane'), {
      classes: ['format'],
      update: undefined,
    });
    assert.deepEqual(check('userPrincipalName', 'jane@contoso').classes, ['domainpart', 'format']);
    assert.equal(check('userPrincipalName', 'jane@contoso').update, undefined);
  });
  test('format: a mailNickname starting with a dot; a proxy address without a type prefix', () => {
    assert.deepEqual(check('mailNickname', '..jane'), { classes: ['format'], update: 'jane' });
    assert.deepEqual(check('mailNickname', '.'), { classes: ['format'], update: undefined });
    assert.deepEqual(check('proxyAddresses', 'jane@contoso.com'), {
      classes: ['format'],
      update: undefined,
    });
  });
});

describe('length', () => {
  const cases: [CheckedAttribute, number][] = [
    ['displayName', 255],
    ['mailNickname', 64],
    ['givenName', 64],
    ['sn', 64],
    ['mail', 256],
    ['sAMAccountName', 20],
  ];
  for (const [attribute, max] of cases)
    test(`${attribute}: at most ${max}, truncated`, () => {
      assert.deepEqual(check(attribute, 'a'.repeat(max)), { classes: [], update: undefined });
      assert.deepEqual(check(attribute, 'a'.repeat(max + 1)), {
        classes: ['length'],
        update: 'a'.repeat(max),
      });
    });
  test('sAMAccountName: 20 is for users only', () => {
    assert.deepEqual(
      check('sAMAccountName', 'g'.repeat(30), { federatedDomains: [], objectClass: 'group' })
        .classes,
      [],
    );
  });
  test('UPN over 113: the local part is shortened, the domain kept', () => {
    const domain = `${'d'.repeat(60)}.contoso.com`;
    const upn = `${'u'.repeat(60)}@${domain}`;
    assert.equal(upn.length, 133);
    const r = check('userPrincipalName', upn);
    assert.deepEqual(r.classes, ['length']);
    assert.equal(r.update, `${'u'.repeat(113 - domain.length - 1)}@${domain}`);
    assert.equal(r.update.length, 113);
  });
  test('a UPN whose domain alone is too long: truncation would break it, so no update', () => {
    const upn = `u@${'d'.repeat(120)}.com`;
    assert.deepEqual(check('userPrincipalName', upn), { classes: ['length'], update: undefined });
  });
  test('proxyAddresses over 256 keep their prefix and domain', () => {
    const v = `smtp:${'u'.repeat(60)}@${'d.'.repeat(100)}com`;
    const r = check('proxyAddresses', v);
    assert.deepEqual(r.classes, ['length']);
    const update = String(r.update);
    assert.equal(update.length, 256);
    assert.ok(update.startsWith('smtp:u') && update.endsWith(`@${'d.'.repeat(100)}com`));
  });
});

describe('one value, several problems: one fully fixed update', () => {
  test('character + topleveldomain', () => {
    assert.deepEqual(check('userPrincipalName', 'jür gen@corp.local'), {
      classes: ['character', 'topleveldomain'],
      update: 'jurgen@contoso.com',
    });
  });
  test('character + topleveldomain without a federated domain: no partial update', () => {
    assert.deepEqual(check('userPrincipalName', 'jür gen@corp.local', NO_FEDERATION), {
      classes: ['character', 'topleveldomain'],
      update: undefined,
    });
  });
  test('every proposed update passes the rules itself', () => {
    const values = [
      'a b@corp.local',
      '.x..y@con_toso.com',
      `${'ü'.repeat(120)}@contoso.com`,
      'smtp:q r@x.test',
    ];
    for (const v of values)
      for (const attribute of ['userPrincipalName', 'proxyAddresses'] as const) {
        const r = checkValue(attribute, v, USER);
        if (r.update !== undefined)
          assert.deepEqual(
            checkValue(attribute, r.update, USER).problems,
            [],
            `${attribute} ${v} → ${r.update}`,
          );
      }
  });
});

describe('blank', () => {
  const obj = (values: Record<string, string[]>) => ({ commonName: 'Jane Doe', values });
  test('displayName → the cn', () => {
    assert.deepEqual(checkBlank('displayName', obj({}))?.update, 'Jane Doe');
  });
  test('mail → the primary SMTP: proxy address; only secondary smtp: or none → not a problem', () => {
    assert.equal(
      checkBlank(
        'mail',
        obj({ proxyAddresses: ['smtp:alias@contoso.com', 'SMTP:jane@contoso.com'] }),
      )?.update,
      'jane@contoso.com',
    );
    assert.equal(
      checkBlank('mail', obj({ proxyAddresses: ['smtp:alias@contoso.com'] })),
      undefined,
    );
    assert.equal(checkBlank('mail', obj({})), undefined);
  });
  test('other attributes may be blank', () => {
    for (const a of [
      'givenName',
      'sn',
      'mailNickname',
      'proxyAddresses',
      'targetAddress',
      'userPrincipalName',
    ] as const)
      assert.equal(checkBlank(a, obj({})), undefined, a);
  });
});

test('foldToAscii: NFD then drop combining marks', () => {
  assert.equal(foldToAscii('ÄËÏÖÜŸäëïöüÿ éàç'), 'AEIOUYaeiouy eac');
});
