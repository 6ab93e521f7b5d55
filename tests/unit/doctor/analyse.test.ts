// `fedgate doctor`'s directory analysis without a directory: the seeded directory of issue 21 (the helpers' brief,
// "The seeded directory"; tests/helpers/doctor-seed.ts seeds the same table on Samba) as DirectoryObject values and
// its exact findings; IdFix's skip rules; the scope-wide duplicate check across attributes; the federation classes
// and when they apply; rulesUseConsistencyGuid on the shipped and an administrator's rules; determinism, scale and
// robustness (no input string makes it throw).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { resolveConfig } from '../../../server/config/load.ts';
import {
  analyse,
  isSkipped,
  type AnalysisContext,
  type DirectoryObject,
} from '../../../server/doctor/analyse.ts';
import { rulesUseConsistencyGuid } from '../../../server/doctor/source-anchor.ts';
import {
  CHECKED_ATTRIBUTES,
  type CheckedAttribute,
  type DirectoryFinding,
} from '../../../server/doctor/types.ts';

const OU = 'OU=doctor-unit,DC=corp,DC=example,DC=test';
const CTX: AnalysisContext = {
  federatedDomains: ['contoso.com'],
  adDnsDomain: 'corp.example.test',
  checkSourceAnchor: true,
};

let guidSeed = 0;
/** A distinct 16-byte GUID per call. */
function guid(): Buffer {
  guidSeed++;
  const b = Buffer.alloc(16, 0x5a);
  b.writeUInt32BE(guidSeed, 0);
  return b;
}

type Values = Partial<Record<CheckedAttribute, string[]>>;

/** A user as the seed makes them: displayName, givenName, sn, UPN sam@contoso.com, consistency GUID = objectGUID. */
function user(
  sam: string,
  values: Values = {},
  anchor: 'own' | 'none' | Buffer = 'own',
  container = OU,
): DirectoryObject {
  const objectGuid = guid();
  return {
    dn: `CN=${sam},${container}`,
    commonName: sam,
    objectClass: 'user',
    container,
    isCriticalSystemObject: false,
    values: {
      sAMAccountName: [sam],
      userPrincipalName: [`${sam}@contoso.com`],
      displayName: [`${sam} display`],
      givenName: ['Given'],
      sn: ['Surname'],
      ...values,
    },
    objectGuid,
    consistencyGuid:
      anchor === 'own' ? Buffer.from(objectGuid) : anchor === 'none' ? undefined : anchor,
  };
}

function group(name: string, values: Values = {}): DirectoryObject {
  return {
    dn: `CN=${name},${OU}`,
    commonName: name,
    objectClass: 'group',
    container: OU,
    isCriticalSystemObject: false,
    values: { sAMAccountName: [name], displayName: [name], ...values },
    objectGuid: guid(),
    consistencyGuid: undefined,
  };
}

const ANCHOR1 = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

/** The seeded directory, object by object. */
function seededDirectory(): DirectoryObject[] {
  return [
    user('clean1', {
      mail: ['clean1@contoso.com'],
      mailNickname: ['clean1'],
      proxyAddresses: ['SMTP:clean1@contoso.com', 'smtp:c1@contoso.com'],
    }),
    user('clean2'),
    user('localupn', { userPrincipalName: ['localupn@corp.local'] }),
    user('space1', { userPrincipalName: ['john smith@contoso.com'] }),
    user('umlaut1', { userPrincipalName: ['jürgen@contoso.com'] }),
    user('dupproxy1', {
      mail: ['dupproxy1@contoso.com'],
      proxyAddresses: ['SMTP:dupproxy1@contoso.com', 'smtp:shared@contoso.com'],
    }),
    user('dupproxy2', {
      mail: ['dupproxy2@contoso.com'],
      proxyAddresses: ['SMTP:dupproxy2@contoso.com', 'smtp:shared@contoso.com'],
    }),
    user('dupupn1', { userPrincipalName: ['dupe@contoso.com'] }),
    user('dupmail1', { mail: ['dupe@contoso.com'] }),
    user('blankmail1', { proxyAddresses: ['SMTP:blankmail1@contoso.com'] }),
    user('longnick1', { mailNickname: ['n'.repeat(65)] }),
    user('anchor1', {}, ANCHOR1),
    user('noanchor1', {}, 'none'),
    user('ambig1', { userPrincipalName: ['ambig2@corp.example.test'] }),
    user('ambig2', { userPrincipalName: ['ambig2x@contoso.com'] }),
    group('doctor-group'),
  ];
}

type Row = [
  sam: string,
  attribute: string,
  cls: string,
  value: string,
  update: string | undefined,
  severity?: 'warning',
];

/** The table of the brief, row by row, in the order analyse sorts (dn, attribute, class, value). */
const SEEDED_FINDINGS: Row[] = [
  ['ambig1', 'userPrincipalName', 'ambiguous-upn', 'ambig2@corp.example.test', undefined],
  [
    'ambig1',
    'userPrincipalName',
    'topleveldomain',
    'ambig2@corp.example.test',
    'ambig2@contoso.com',
  ],
  [
    'ambig1',
    'userPrincipalName',
    'upn-suffix-not-federated',
    'ambig2@corp.example.test',
    undefined,
  ],
  [
    'anchor1',
    'mS-DS-ConsistencyGuid',
    'source-anchor-mismatch',
    ANCHOR1.toString('base64'),
    undefined,
  ],
  ['blankmail1', 'mail', 'blank', '', 'blankmail1@contoso.com'],
  ['dupmail1', 'mail', 'duplicate', 'dupe@contoso.com', undefined],
  ['dupproxy1', 'proxyAddresses', 'duplicate', 'smtp:shared@contoso.com', undefined],
  ['dupproxy2', 'proxyAddresses', 'duplicate', 'smtp:shared@contoso.com', undefined],
  ['dupupn1', 'userPrincipalName', 'duplicate', 'dupe@contoso.com', undefined],
  [
    'localupn',
    'userPrincipalName',
    'topleveldomain',
    'localupn@corp.local',
    'localupn@contoso.com',
  ],
  ['localupn', 'userPrincipalName', 'upn-suffix-not-federated', 'localupn@corp.local', undefined],
  ['longnick1', 'mailNickname', 'length', 'n'.repeat(65), 'n'.repeat(64)],
  ['noanchor1', 'mS-DS-ConsistencyGuid', 'source-anchor-missing', '', undefined, 'warning'],
  ['space1', 'userPrincipalName', 'character', 'john smith@contoso.com', 'johnsmith@contoso.com'],
  ['umlaut1', 'userPrincipalName', 'character', 'jürgen@contoso.com', 'jurgen@contoso.com'],
];

/** The comparable part of a finding. */
function shape(f: DirectoryFinding) {
  return {
    dn: f.dn,
    attribute: f.attribute,
    class: f.class,
    value: f.value,
    update: f.update,
    severity: f.severity,
  };
}

function classes(findings: DirectoryFinding[]): string[] {
  return findings.map((f) => `${f.commonName} ${f.attribute} ${f.class} ${f.value}`);
}

describe('the seeded directory', () => {
  test('exactly the findings of the table; clean users and the group give none', () => {
    const findings = analyse(seededDirectory(), CTX);
    assert.deepEqual(
      findings.map(shape),
      SEEDED_FINDINGS.map(([sam, attribute, cls, value, update, severity]) => ({
        dn: `CN=${sam},${OU}`,
        attribute,
        class: cls,
        value,
        update,
        severity: severity ?? 'error',
      })),
    );
    for (const f of findings) {
      assert.equal(f.objectClass, 'user');
      assert.equal(f.container, OU);
      assert.equal(f.multiValued, f.attribute === 'proxyAddresses');
      assert.ok(f.detail.length > 10);
    }
    const clean = new Set(['clean1', 'clean2', 'ambig2', 'doctor-group']);
    assert.ok(!findings.some((f) => clean.has(f.commonName)));
  });

  test('after the fixes are applied, exactly the duplicates and the two source-anchor findings remain', () => {
    const objects = seededDirectory();
    const byDn = new Map(objects.map((o) => [o.dn, o]));
    for (const f of analyse(objects, CTX)) {
      if (f.update === undefined) continue;
      const o = byDn.get(f.dn);
      assert.ok(o !== undefined);
      const attribute = f.attribute as CheckedAttribute;
      const now = (o.values[attribute] ?? []).filter((v) => v !== f.value);
      o.values[attribute] = [...now, f.update];
    }
    assert.deepEqual(classes(analyse(objects, CTX)), [
      'anchor1 mS-DS-ConsistencyGuid source-anchor-mismatch ABEiM0RVZneImaq7zN3u/w==',
      'dupmail1 mail duplicate dupe@contoso.com',
      'dupproxy1 proxyAddresses duplicate smtp:shared@contoso.com',
      'dupproxy2 proxyAddresses duplicate smtp:shared@contoso.com',
      'dupupn1 userPrincipalName duplicate dupe@contoso.com',
      'noanchor1 mS-DS-ConsistencyGuid source-anchor-missing ',
    ]);
  });

  test('input order does not change the output', () => {
    const objects = seededDirectory();
    const expected = analyse(objects, CTX);
    assert.deepEqual(analyse([...objects].reverse(), CTX), expected);
    assert.deepEqual(analyse([...objects.slice(7), ...objects.slice(0, 7)], CTX), expected);
  });
});

describe("IdFix's skip rules", () => {
  const bad = { userPrincipalName: ['bad user@corp.local'] };
  test('cn prefixes, cn ending $, conflict objects and critical system objects give nothing', () => {
    const skipped = [
      user('Administrator', bad),
      user('Guest', bad),
      user('krbtgt', bad),
      user('HealthMailbox0123', bad),
      user('SystemMailbox{1f05a927}', bad),
      user('MSOL_0123abcd', bad),
      user('DiscoverySearchMailbox {D919BA05}', bad),
      user('WS01$', bad),
      { ...user('dup', bad), dn: `CN=dup\\0ACNF:0b4e3c55-9a55-4f43-9b2d-1d8f4d6f3b2a,${OU}` },
      { ...user('critical', bad), isCriticalSystemObject: true },
    ];
    for (const o of skipped) assert.equal(isSkipped(o), true, o.dn);
    assert.deepEqual(analyse(skipped, CTX), []);
  });
  test('a skipped object takes no part in duplicates', () => {
    const skipped = {
      ...user('critical', { mail: ['x@contoso.com'] }),
      isCriticalSystemObject: true,
    };
    assert.deepEqual(analyse([skipped, user('x', { mail: ['x@contoso.com'] })], CTX), []);
  });
  test('ordinary names that merely contain a prefix are analysed', () => {
    for (const cn of ['Jane Guest', 'Bob', 'Sam$x', 'MrKrbtgt'])
      assert.equal(isSkipped(user(cn)), false, cn);
    assert.deepEqual(classes(analyse([user('Bob', bad)], CTX)), [
      'Bob userPrincipalName character bad user@corp.local',
      'Bob userPrincipalName topleveldomain bad user@corp.local',
      'Bob userPrincipalName upn-suffix-not-federated bad user@corp.local',
    ]);
  });
});

describe('duplicates', () => {
  test('UPN vs smtp proxy address vs targetAddress vs mail, ignoring case and the smtp: prefix', () => {
    const findings = analyse(
      [
        user('a', { userPrincipalName: ['Same@Contoso.com'] }),
        user('b', { proxyAddresses: ['smtp:same@contoso.com'] }),
        user('c', { targetAddress: ['SMTP:SAME@contoso.com'] }),
        user('d', { mail: ['same@CONTOSO.com'] }),
      ],
      CTX,
    );
    assert.deepEqual(classes(findings), [
      'a userPrincipalName duplicate Same@Contoso.com',
      'b proxyAddresses duplicate smtp:same@contoso.com',
      'c targetAddress duplicate SMTP:SAME@contoso.com',
      'd mail duplicate same@CONTOSO.com',
    ]);
  });
  test('pairs across attributes: UPN vs smtp proxy address, mail vs targetAddress', () => {
    assert.deepEqual(
      classes(
        analyse(
          [
            user('a', { userPrincipalName: ['pair@contoso.com'] }),
            user('b', { proxyAddresses: ['smtp:Pair@contoso.com'] }),
          ],
          CTX,
        ),
      ),
      [
        'a userPrincipalName duplicate pair@contoso.com',
        'b proxyAddresses duplicate smtp:Pair@contoso.com',
      ],
    );
    assert.deepEqual(
      classes(
        analyse(
          [
            user('c', { mail: ['route@contoso.com'] }),
            user('d', { targetAddress: ['smtp:route@contoso.com'] }),
          ],
          CTX,
        ),
      ),
      ['c mail duplicate route@contoso.com', 'd targetAddress duplicate smtp:route@contoso.com'],
    );
  });
  test('the same value on one object (UPN = mail = primary SMTP, in any case) is not a duplicate', () => {
    const one = user('jane', {
      userPrincipalName: ['jane@contoso.com'],
      mail: ['Jane@contoso.com'],
      proxyAddresses: ['SMTP:jane@contoso.com', 'smtp:JANE@contoso.com'],
      targetAddress: ['SMTP:jane@contoso.com'],
    });
    assert.deepEqual(analyse([one], CTX), []);
  });
  test('mailNickname is unique on its own: equal to another object’s address is fine, to its nickname not', () => {
    assert.deepEqual(analyse([user('a', { mailNickname: ['b@contoso.com'] }), user('b')], CTX), []);
    assert.deepEqual(
      classes(
        analyse(
          [user('a', { mailNickname: ['nick'] }), user('b', { mailNickname: ['NICK'] })],
          CTX,
        ),
      ),
      ['a mailNickname duplicate nick', 'b mailNickname duplicate NICK'],
    );
  });
  test('non-SMTP proxy addresses are compared whole, among proxy addresses only', () => {
    assert.deepEqual(
      classes(
        analyse(
          [
            user('a', { proxyAddresses: ['X500:/o=Org/cn=x'] }),
            user('b', { proxyAddresses: ['x500:/O=ORG/CN=X'] }),
            user('c', { mailNickname: ['X500:/o=Org/cn=x'] }),
          ],
          CTX,
        ),
      ),
      [
        'a proxyAddresses duplicate X500:/o=Org/cn=x',
        'b proxyAddresses duplicate x500:/O=ORG/CN=X',
      ],
    );
  });
  test('groups and contacts take part too; three owners give three findings', () => {
    const contact: DirectoryObject = {
      ...group('ext'),
      objectClass: 'contact',
      values: { displayName: ['ext'], mail: ['team@contoso.com'] },
    };
    assert.deepEqual(
      classes(
        analyse(
          [
            group('team', { mail: ['team@contoso.com'] }),
            contact,
            user('t', { userPrincipalName: ['team@contoso.com'] }),
          ],
          CTX,
        ),
      ),
      [
        'ext mail duplicate team@contoso.com',
        't userPrincipalName duplicate team@contoso.com',
        'team mail duplicate team@contoso.com',
      ],
    );
  });
});

describe('federation classes', () => {
  test('upn-suffix-not-federated: only with federated domains; subdomains count; users only', () => {
    const objects = [
      user('sub', { userPrincipalName: ['sub@eu.contoso.com'] }),
      user('other', { userPrincipalName: ['other@fabrikam.com'] }),
      group('g', { userPrincipalName: ['g@fabrikam.com'] }),
    ];
    assert.deepEqual(classes(analyse(objects, CTX)), [
      'other userPrincipalName upn-suffix-not-federated other@fabrikam.com',
    ]);
    assert.deepEqual(analyse(objects, { ...CTX, federatedDomains: [] }), []);
  });
  test('source anchor: only when the rules use it; users only; a group without one is fine', () => {
    const objects = [user('m', {}, ANCHOR1), user('n', {}, 'none'), group('g')];
    assert.deepEqual(classes(analyse(objects, CTX)), [
      `m mS-DS-ConsistencyGuid source-anchor-mismatch ${ANCHOR1.toString('base64')}`,
      'n mS-DS-ConsistencyGuid source-anchor-missing ',
    ]);
    assert.deepEqual(analyse(objects, { ...CTX, checkSourceAnchor: false }), []);
  });
  test("ambiguous-upn: an explicit UPN equal to another user's implicit UPN, ignoring case; not one's own", () => {
    const objects = [
      user('a', { userPrincipalName: ['B@CORP.example.test'] }),
      user('b', { userPrincipalName: ['b@contoso.com'] }),
      user('self', { userPrincipalName: ['self@corp.example.test'] }),
    ];
    const ambiguous = analyse(objects, CTX).filter((f) => f.class === 'ambiguous-upn');
    assert.deepEqual(classes(ambiguous), ['a userPrincipalName ambiguous-upn B@CORP.example.test']);
    assert.deepEqual(
      analyse(objects, { ...CTX, adDnsDomain: undefined }).filter(
        (f) => f.class === 'ambiguous-upn',
      ),
      [],
    );
    // A group's sAMAccountName is no implicit UPN.
    assert.deepEqual(
      analyse([user('a', { userPrincipalName: ['g@corp.example.test'] }), group('g')], CTX).filter(
        (f) => f.class === 'ambiguous-upn',
      ),
      [],
    );
  });
  test('blank displayName → the cn, for groups too', () => {
    const g = group('team');
    g.values.displayName = [];
    assert.deepEqual(analyse([g], CTX).map(shape), [
      {
        dn: g.dn,
        attribute: 'displayName',
        class: 'blank',
        value: '',
        update: 'team',
        severity: 'error',
      },
    ]);
  });
});

describe('rulesUseConsistencyGuid', () => {
  const config = (input: Record<string, unknown>, baseDir: string) =>
    resolveConfig(input, { env: {}, baseDir, source: 'test', embeddedDefaults: false });
  test('the shipped Microsoft 365 rules read it', () => {
    assert.equal(rulesUseConsistencyGuid(config({}, '/')), true);
  });
  test("an administrator's file: only a store query counts, not a rule name or a claim type", () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-anchor-'));
    writeFileSync(
      join(dir, 'objectguid.rules'),
      [
        '@RuleName = "ImmutableID from objectGUID, not samAccountName={0};mS-DS-ConsistencyGuid;{1}"',
        'c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"]',
        ' => issue(store = "Active Directory", types = ("http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID"), query = ";objectGUID;{0}", param = c.Value);',
        'c:[Type == "http://schemas.microsoft.com/ws/2016/02/identity/claims/msdsconsistencyguid"]',
        ' => issue(Type = "urn:x:mS-DS-ConsistencyGuid", Value = c.Value);',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'anchor.rules'),
      [
        'c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"]',
        ' => issue(store = "active directory", types = ("urn:a", "urn:b"), query = ";objectGUID, ms-ds-consistencyGUID;{0}", param = c.Value);',
        '',
      ].join('\n'),
    );
    assert.equal(
      rulesUseConsistencyGuid(
        config({ microsoft365: { issuanceRulesFile: 'objectguid.rules' } }, dir),
      ),
      false,
    );
    assert.equal(
      rulesUseConsistencyGuid(config({ microsoft365: { issuanceRulesFile: 'anchor.rules' } }, dir)),
      true,
    );
  });
});

/** `n` synthetic users, a few with problems, in 10 OUs. */
function synthetic(n: number): DirectoryObject[] {
  const out: DirectoryObject[] = [];
  for (let i = 0; i < n; i++) {
    const sam = `user${i}`;
    const values: Values = {
      mail: [`${sam}@contoso.com`],
      mailNickname: [sam],
      proxyAddresses: [
        `SMTP:${sam}@contoso.com`,
        `smtp:${sam}@contoso.mail.onmicrosoft.com`,
        `X500:/o=Org/cn=${sam}`,
      ],
      targetAddress: [`SMTP:${sam}@contoso.mail.onmicrosoft.com`],
    };
    if (i % 100 === 0) values.userPrincipalName = [`${sam}@corp.local`];
    if (i % 250 === 0) values.proxyAddresses?.push('smtp:shared@contoso.com');
    out.push(user(sam, values, 'own', `OU=ou${i % 10},DC=corp,DC=example,DC=test`));
  }
  return out;
}

test('10,000 objects: linear work (figure printed, not asserted)', (t) => {
  const objects = synthetic(10_000);
  analyse(objects.slice(0, 200), CTX); // warm-up
  const start = performance.now();
  const findings = analyse(objects, CTX);
  const ms = performance.now() - start;
  // 100 × (topleveldomain + upn-suffix-not-federated) + 40 duplicates of smtp:shared
  assert.equal(findings.length, 240);
  t.diagnostic(
    `analyse: ${objects.length} objects, ${findings.length} findings in ${ms.toFixed(1)} ms`,
  );
});

test('no input makes analyse or isSkipped throw (fast-check, fixed seed)', () => {
  const text = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.constantFrom(
      '',
      '@',
      'smtp:',
      'SMTP:',
      ':',
      '.',
      '@.',
      'a@b.local',
      '\u0000',
      '\ud800',
      'x@y@z',
    ),
  );
  const values = fc.dictionary(
    fc.constantFrom(...CHECKED_ATTRIBUTES),
    fc.array(text, { maxLength: 4 }),
  ) as fc.Arbitrary<Values>;
  const buffer = fc.option(
    fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)),
    { nil: undefined },
  );
  const object = fc.record({
    dn: text,
    commonName: text,
    objectClass: fc.oneof(fc.constantFrom('user', 'group', 'contact'), text),
    container: text,
    isCriticalSystemObject: fc.boolean(),
    values,
    objectGuid: buffer,
    consistencyGuid: buffer,
  });
  const ctx = fc.record({
    federatedDomains: fc.array(fc.oneof(fc.constantFrom('contoso.com'), text), { maxLength: 3 }),
    adDnsDomain: fc.option(text, { nil: undefined }),
    checkSourceAnchor: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(object, { maxLength: 8 }), ctx, (objects, c) => {
      for (const o of objects) isSkipped(o);
      const findings = analyse(objects, c);
      for (const f of findings) assert.equal(typeof f.value, 'string');
    }),
    { numRuns: 500, seed: 21 },
  );
});
