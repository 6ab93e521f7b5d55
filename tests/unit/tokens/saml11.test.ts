/**
 * The hand-written SAML 1.1 writer against the libraries it replaces: its canonical bytes must equal
 * xml-crypto's exc-c14n of the parsed output, byte for byte, over seeded random and hostile inputs, and
 * its signatures must verify in xml-crypto (pinned certificate) and xmlsec1.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FederationError } from '../../../server/lib/errors.ts';
import { SeededRandom } from '../../../server/lib/random.ts';
import {
  NAMEID_FORMAT_UNSPECIFIED,
  createSaml11Signer,
  writeCanonicalSaml11Assertion,
  writeSignedSaml11Assertion,
} from '../../../server/tokens/saml11.ts';
import type { Saml11AssertionModel, Saml11Attribute } from '../../../server/tokens/types.ts';
import { entraModel, fixtureCredential } from '../../fixtures/tokens/credentials.ts';
import {
  SAML11_ID_ATTR,
  childElements,
  excC14n,
  parseStrict,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
} from '../../helpers/verify.ts';
import type { Saml11Claims } from '../../helpers/verify.ts';

const cred = fixtureCredential('signing');
const signer = createSaml11Signer(cred);

/** The signed document with its ds:Signature cut out: what the enveloped-signature transform leaves. */
function withoutSignature(signed: string): string {
  const start = signed.indexOf('<ds:Signature xmlns:ds=');
  const end = signed.indexOf('</ds:Signature>') + '</ds:Signature>'.length;
  assert.ok(start > 0 && end > start);
  return signed.slice(0, start) + signed.slice(end);
}

function xmlCryptoC14n(xml: string): string {
  const root = parseStrict(xml).documentElement;
  assert.ok(root);
  return excC14n(root);
}

function expectedAttributes(m: Saml11AssertionModel): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const a of m.attributes) {
    if (a.values.length === 0) continue;
    const key = `${a.namespace}/${a.name}`;
    out[key] = [...(out[key] ?? []), ...a.values];
  }
  return out;
}

function assertClaimsMatch(claims: Saml11Claims, m: Saml11AssertionModel): void {
  assert.equal(claims.assertionId, m.assertionId);
  assert.equal(claims.issuer, m.issuer);
  assert.equal(claims.audience, m.audience);
  assert.equal(claims.nameIdentifier, m.nameIdentifier?.value ?? null);
  assert.equal(
    claims.nameIdentifierFormat,
    m.nameIdentifier === undefined ? null : (m.nameIdentifier.format ?? NAMEID_FORMAT_UNSPECIFIED),
  );
  assert.equal(claims.issueInstant, m.issueInstant.toISOString());
  assert.equal(claims.notBefore, m.notBefore.toISOString());
  assert.equal(claims.notOnOrAfter, m.notOnOrAfter.toISOString());
  assert.equal(claims.authMethod, m.authentication.method);
  assert.equal(claims.authInstant, m.authentication.instant.toISOString());
  assert.deepEqual(claims.attributes, expectedAttributes(m));
  assert.equal(
    claims.attributeElementCount,
    m.attributes.filter((a) => a.values.length > 0).length,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Seeded generator of hostile strings (security-corpus A8, B5.1)

const INJECTION =
  '</saml:AttributeValue></saml:Attribute><saml:Attribute AttributeName="admin" AttributeNamespace="urn:x">' +
  '<saml:AttributeValue>true';
const PIECES = [
  '<',
  '>',
  '&',
  '"',
  "'",
  ']]>',
  '<!--',
  '-->',
  '<![CDATA[x]]>',
  '&amp;',
  '&#x41;',
  '&lt;',
  '\r',
  '\n',
  '\r\n',
  '\t',
  ' ',
  '  ',
  'é',
  'ß',
  'Ω',
  '中文',
  '😀',
  '👩‍💻',
  '\u0085',
  '\u2028',
  '\u2029',
  '\u00a0',
  '\ufeff',
  '\u0080',
  '\u009f',
  '\ufdd0',
  '\ufffd',
  '\ud83d\ude00',
  INJECTION,
  '{Audience}',
  'xmlns:saml="urn:evil"',
  '<?xml?>',
  'abc',
  'user@contoso.test',
  'http://schemas.xmlsoap.org/claims/UPN',
  '=',
  '/',
  '\\',
  '%00',
];

class Gen {
  readonly r: SeededRandom;
  constructor(seed: number) {
    this.r = new SeededRandom(seed);
  }
  int(n: number): number {
    return this.r.bytes(4).readUInt32LE(0) % n;
  }
  pick<T>(xs: readonly T[]): T {
    const x = xs[this.int(xs.length)];
    assert.ok(x !== undefined);
    return x;
  }
  /** A random XML-safe code point: BMP outside surrogates/U+FFFE/U+FFFF, or astral. */
  char(): string {
    for (;;) {
      const cp = this.int(4) === 0 ? 0x10000 + this.int(0x100000) : this.int(0x10000);
      const safe =
        cp === 0x9 ||
        cp === 0xa ||
        cp === 0xd ||
        (cp >= 0x20 && cp <= 0xd7ff) ||
        (cp >= 0xe000 && cp <= 0xfffd) ||
        cp >= 0x10000;
      if (safe) return String.fromCodePoint(cp);
    }
  }
  str(minLen = 0): string {
    let s = '';
    const n = minLen + this.int(8);
    for (let i = 0; i < n; i++) s += this.int(3) === 0 ? this.char() : this.pick(PIECES);
    return s.length >= minLen ? s : s + 'x';
  }
  date(): Date {
    return new Date(Date.UTC(2000, 0, 1) + this.int(100 * 365) * 86_400_000 + this.int(86_400_000));
  }
  model(): Saml11AssertionModel {
    const notBefore = this.date();
    const attributes: Saml11Attribute[] = [];
    const n = this.int(6);
    for (let i = 0; i < n; i++) {
      const values: string[] = [];
      const k = this.int(4); // 0 values: the attribute must be left out
      for (let j = 0; j < k; j++) values.push(this.str());
      attributes.push({ name: `${this.str(1)}${String(i)}`, namespace: this.str(), values });
    }
    return {
      assertionId: `_${this.r.uuid()}`,
      issuer: this.str(1),
      issueInstant: notBefore,
      notBefore,
      notOnOrAfter: new Date(notBefore.getTime() + 1 + this.int(7_200_000)),
      audience: this.str(1),
      nameIdentifier:
        this.int(2) === 0 ? { value: this.str(1) } : { value: this.str(1), format: this.str(1) },
      attributes,
      authentication: { method: this.str(1), instant: this.date() },
    };
  }
}

// ---------------------------------------------------------------------------------------------------------

describe('SAML 1.1 assertion writer', () => {
  it('writes the AD FS / Entra shape (entra-protocol §1.5) with the signature as last child', () => {
    const signed = writeSignedSaml11Assertion(entraModel(), cred);
    const a = parseStrict(signed).documentElement;
    assert.ok(a);
    assert.equal(a.namespaceURI, 'urn:oasis:names:tc:SAML:1.0:assertion');
    assert.equal(a.prefix, 'saml');
    assert.equal(a.getAttribute('MajorVersion'), '1');
    assert.equal(a.getAttribute('MinorVersion'), '1');
    assert.deepEqual(
      childElements(a).map((e) => e.tagName),
      [
        'saml:Conditions',
        'saml:AttributeStatement',
        'saml:AuthenticationStatement',
        'ds:Signature',
      ],
    );
    const sig = childElements(a).at(-1);
    assert.equal(sig?.getAttribute('xmlns:ds'), 'http://www.w3.org/2000/09/xmldsig#');
    assert.ok(
      signed.startsWith(
        '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion" AssertionID="_9bd2b280',
      ),
    );
    assert.doesNotMatch(signed, />\s+</, 'no whitespace between elements');
    assert.doesNotMatch(signed, /\/>/, 'no self-closing tags');
    assert.match(
      signed,
      /<ds:SignatureMethod Algorithm="http:\/\/www\.w3\.org\/2001\/04\/xmldsig-more#rsa-sha256">/,
    );
    assert.match(signed, /<ds:Reference URI="#_9bd2b280-f153-471a-9b73-c1df0d555075">/);
    assert.match(
      signed,
      /<ds:Transforms><ds:Transform Algorithm="http:\/\/www\.w3\.org\/2000\/09\/xmldsig#enveloped-signature"><\/ds:Transform><ds:Transform Algorithm="http:\/\/www\.w3\.org\/2001\/10\/xml-exc-c14n#"><\/ds:Transform><\/ds:Transforms><ds:DigestMethod Algorithm="http:\/\/www\.w3\.org\/2001\/04\/xmlenc#sha256">/,
    );
    assert.ok(
      signed.includes(`<ds:X509Certificate>${cred.certificateBase64}</ds:X509Certificate>`),
    );
    // The same Subject in both statements, NameIdentifier with the default Format, bearer confirmation.
    const subjects = signed.match(/<saml:Subject>.*?<\/saml:Subject>/g);
    assert.ok(subjects);
    assert.equal(subjects.length, 2);
    assert.equal(subjects[0], subjects[1]);
    assert.ok(subjects[0].includes(`Format="${NAMEID_FORMAT_UNSPECIFIED}"`));
    assert.ok(
      subjects[0].includes(
        '<saml:ConfirmationMethod>urn:oasis:names:tc:SAML:1.0:cm:bearer</saml:ConfirmationMethod>',
      ),
    );
  });

  it('digests exactly what xml-crypto canonicalizes, and verifies in xml-crypto and xmlsec1 (seeded random inputs)', () => {
    const gen = new Gen(0x5eed);
    for (let i = 0; i < 150; i++) {
      const model = gen.model();
      const canonical = writeCanonicalSaml11Assertion(model);
      const signed = signer.sign(model);
      const context = `iteration ${String(i)}`;

      // 1. xml-crypto's exc-c14n of the parsed unsigned document is byte-identical to what we digested.
      assert.equal(xmlCryptoC14n(withoutSignature(signed)), canonical, context);
      // 2. and so is what xml-crypto reports as signed; every claim round-trips byte-exact.
      const claims = verifySaml11WithXmlCrypto(signed, cred.certificatePem);
      assert.equal(claims.signedXml, canonical, context);
      assertClaimsMatch(claims, model);
      // 3. xmlsec1 (libxml2, a conformant XML 1.0 parser) agrees; spawning it is slow, so every 10th.
      if (i % 10 === 0) {
        const r = verifyWithXmlsec1(signed, cred.certificatePem, SAML11_ID_ATTR);
        assert.ok(r.ok, `${context}: ${r.output}`);
      }
    }
  });

  it('without a nameidentifier claim: both Subjects carry only the bearer SubjectConfirmation (SAML 1.1 Core §2.4.2.2, issue 14 §8)', () => {
    const model = entraModel({ nameIdentifier: undefined });
    const signed = writeSignedSaml11Assertion(model, cred);
    const subjects = signed.match(/<saml:Subject>.*?<\/saml:Subject>/g);
    assert.ok(subjects);
    assert.equal(subjects.length, 2);
    for (const sub of subjects)
      assert.equal(
        sub,
        '<saml:Subject><saml:SubjectConfirmation><saml:ConfirmationMethod>urn:oasis:names:tc:SAML:1.0:cm:bearer</saml:ConfirmationMethod></saml:SubjectConfirmation></saml:Subject>',
      );
    assert.equal(xmlCryptoC14n(withoutSignature(signed)), writeCanonicalSaml11Assertion(model));
    const claims = verifySaml11WithXmlCrypto(signed, cred.certificatePem);
    assertClaimsMatch(claims, model);
    assert.equal(claims.nameIdentifier, null);
    const r = verifyWithXmlsec1(signed, cred.certificatePem, SAML11_ID_ATTR);
    assert.ok(r.ok, r.output);
  });

  it('carries hostile directory values as text: exact attribute set, values byte-exact (A8, B5.1)', () => {
    const hostile = [
      INJECTION,
      'a<b&c"d\'e>f',
      ']]>',
      '<!-- comment -->',
      'line1\r\nline2\rline3\nline4',
      '\ttabbed\t',
      '  leading and trailing  ',
      'Zoë Ångström 中文 😀',
      '{Audience}',
      '\u2028\u2029\u0085',
      '',
    ];
    const model = entraModel({
      nameIdentifier: { value: INJECTION },
      attributes: [
        {
          name: 'role',
          namespace: 'http://schemas.microsoft.com/ws/2008/06/identity/claims',
          values: hostile,
        },
        {
          name: 'displayname',
          namespace: 'http://schemas.xmlsoap.org/claims',
          values: ['"><saml:Attribute AttributeName="x'],
        },
      ],
    });
    const signed = signer.sign(model);
    const claims = verifySaml11WithXmlCrypto(signed, cred.certificatePem);
    assert.equal(claims.attributeElementCount, 2);
    assert.deepEqual(Object.keys(claims.attributes), [
      'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
      'http://schemas.xmlsoap.org/claims/displayname',
    ]);
    assert.deepEqual(
      claims.attributes['http://schemas.microsoft.com/ws/2008/06/identity/claims/role'],
      hostile,
    );
    assert.equal(claims.nameIdentifier, INJECTION);
    assertClaimsMatch(claims, model);
    // Only two saml:Attribute start tags exist in the bytes at all.
    assert.equal(signed.split('<saml:Attribute ').length - 1, 2);
    const r = verifyWithXmlsec1(signed, cred.certificatePem, SAML11_ID_ATTR);
    assert.ok(r.ok, r.output);
  });

  it('writes U+0085/U+2028/U+2029 as character references and digests them literally', () => {
    const model = entraModel({ nameIdentifier: { value: 'a\u2028b\u2029c\u0085d' } });
    const signed = signer.sign(model);
    assert.ok(signed.includes('a&#x2028;b&#x2029;c&#x85;d'));
    assert.ok(writeCanonicalSaml11Assertion(model).includes('a\u2028b\u2029c\u0085d'));
    assert.equal(
      verifySaml11WithXmlCrypto(signed, cred.certificatePem).nameIdentifier,
      'a\u2028b\u2029c\u0085d',
    );
    assert.ok(verifyWithXmlsec1(signed, cred.certificatePem, SAML11_ID_ATTR).ok);
  });

  it('refuses values XML cannot carry instead of emitting broken XML', () => {
    const bad = ['\u0000', 'a\u0001b', '\u000b', '\u001f', '\ud800', 'x\udfff', '\ufffe', '\uffff'];
    const cases: [string, (v: string) => Saml11AssertionModel][] = [
      ['nameIdentifier', (v) => entraModel({ nameIdentifier: { value: v } })],
      ['issuer', (v) => entraModel({ issuer: v })],
      ['audience', (v) => entraModel({ audience: v })],
      [
        'authentication.method',
        (v) => entraModel({ authentication: { method: v, instant: new Date() } }),
      ],
      [
        'attribute name',
        (v) => entraModel({ attributes: [{ name: v, namespace: 'urn:x', values: ['1'] }] }),
      ],
      [
        'attribute namespace',
        (v) => entraModel({ attributes: [{ name: 'n', namespace: v, values: ['1'] }] }),
      ],
      [
        'value of attribute',
        (v) => entraModel({ attributes: [{ name: 'n', namespace: 'urn:x', values: ['ok', v] }] }),
      ],
    ];
    for (const [field, make] of cases) {
      for (const v of bad) {
        assert.throws(
          () => signer.sign(make(v)),
          (err: unknown) =>
            err instanceof FederationError &&
            // An admin's rules produced it: an audited 403 page, not a 500 (issue 14 §8). The page text is
            // fixed; the value goes nowhere but this exception's detail, which names the field only.
            err.code === 'issuance_failed' &&
            err.status === 403 &&
            (err.detail ?? '').includes(field) &&
            !err.message.includes(v) &&
            !(err.detail ?? '').includes(v),
          `${field} with ${JSON.stringify(v)}`,
        );
      }
    }
  });

  it('refuses malformed identifiers, empty required values and impossible times', () => {
    const invalid: Saml11AssertionModel[] = [
      entraModel({ assertionId: '9bd2' }), // NCName may not start with a digit
      entraModel({ assertionId: '_a"b' }),
      entraModel({ assertionId: "_a'b" }),
      entraModel({ assertionId: '' }),
      entraModel({ issuer: '' }),
      entraModel({ audience: '' }),
      entraModel({ nameIdentifier: { value: '' } }),
      entraModel({ notBefore: new Date(Number.NaN) }),
      entraModel({ issueInstant: new Date('+012345-01-01T00:00:00Z') }),
      entraModel({ notOnOrAfter: new Date('2026-01-15T10:00:00.000Z') }), // == notBefore
      entraModel({ attributes: [{ name: '', namespace: 'urn:x', values: ['v'] }] }),
    ];
    for (const m of invalid) assert.throws(() => signer.sign(m), FederationError);
  });

  it('omits AttributeStatement when no attribute has a value, keeping AuthenticationStatement', () => {
    for (const attributes of [
      [],
      [{ name: 'UPN', namespace: 'http://schemas.xmlsoap.org/claims', values: [] }],
    ]) {
      const signed = signer.sign(entraModel({ attributes }));
      assert.ok(!signed.includes('AttributeStatement'));
      assert.ok(signed.includes('<saml:AuthenticationStatement '));
      const claims = verifySaml11WithXmlCrypto(signed, cred.certificatePem);
      assert.deepEqual(claims.attributes, {});
      assert.equal(claims.nameIdentifier, '1TIu064jGEmmf+hnI+F0Jg==');
    }
  });

  it('uses a given NameIdentifier Format', () => {
    const format = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
    const claims = verifySaml11WithXmlCrypto(
      signer.sign(entraModel({ nameIdentifier: { value: 'u@contoso.test', format } })),
      cred.certificatePem,
    );
    assert.equal(claims.nameIdentifierFormat, format);
  });

  it('is deterministic and the cached entry point matches a prepared signer', () => {
    const m = entraModel();
    assert.equal(writeSignedSaml11Assertion(m, cred), signer.sign(m));
    assert.equal(writeSignedSaml11Assertion(m, cred), writeSignedSaml11Assertion(m, cred));
  });

  it('produces timestamps as ISO-8601 UTC with milliseconds', () => {
    const claims = verifySaml11WithXmlCrypto(signer.sign(entraModel()), cred.certificatePem);
    for (const t of [
      claims.issueInstant,
      claims.notBefore,
      claims.notOnOrAfter,
      claims.authInstant,
    ]) {
      assert.match(t, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
  });
});
