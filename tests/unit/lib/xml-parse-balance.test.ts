/**
 * parseXmlStrict (SAML messages, partner metadata) refuses exactly the tag-structure errors an independent
 * parser refuses: each case is also given to expat (Python's xml.dom.minidom, Debian's python3), and the two
 * must agree. xmldom 0.8 on its own accepts the mismatched end tag, which is why the check exists (B1.8).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { DOMParser } from '@xmldom/xmldom';
import { parseXmlStrict, XmlRejected } from '../../../server/lib/xml-parse.ts';
import { readRealWorldFixture } from '../../fixtures/tokens/credentials.ts';

function expatAccepts(xml: string): boolean {
  const r = spawnSync(
    '/usr/bin/python3',
    ['-c', 'import sys, xml.dom.minidom; xml.dom.minidom.parseString(sys.stdin.buffer.read())'],
    { input: xml },
  );
  if (r.error !== undefined) throw r.error;
  return r.status === 0;
}

function strictAccepts(xml: string): boolean {
  try {
    parseXmlStrict(xml);
    return true;
  } catch (e) {
    assert.ok(e instanceof XmlRejected, String(e));
    return false;
  }
}

const P = 'urn:oasis:names:tc:SAML:2.0:protocol';
const A = 'urn:oasis:names:tc:SAML:2.0:assertion';

const wellFormed: [string, string][] = [
  [
    'XML declaration and comments',
    `<?xml version="1.0" encoding="UTF-8"?><!-- a --><r><!-- <x> --></r><!-- b -->`,
  ],
  ['attribute values holding > and /', `<r a="x>y" b='/>' c="&lt;"><e/></r>`],
  ['CDATA holding markup', `<r><![CDATA[</not-a-tag> <x>]]></r>`],
  [
    'prefixed names, self-closing, whitespace in tags',
    `<samlp:AuthnRequest xmlns:samlp="${P}" xmlns:saml="${A}" ID="_1" ><saml:Issuer >sp</saml:Issuer ><samlp:NameIDPolicy AllowCreate="true" /></samlp:AuthnRequest>`,
  ],
  ['processing instruction inside the root', `<r><?app data?><e>t</e></r>`],
  ['real AD FS 2016 federation metadata', readRealWorldFixture('adfs2016-federationmetadata.xml')],
];

const malformed: [string, string][] = [
  [
    'mismatched end tag',
    `<samlp:AuthnRequest xmlns:samlp="${P}" xmlns:saml="${A}"><saml:Issuer>sp</saml:IssuerX></samlp:AuthnRequest>`,
  ],
  ['element never closed', `<r><e>t</r>`],
  ['end tag with nothing open', `<r></r></r>`],
  ['raw < in an attribute value', `<r a="<x>"/>`],
  ['end tag with an attribute', `<r></r a="1">`],
  ['unterminated comment', `<r><!-- </r>`],
  ['unterminated CDATA', `<r><![CDATA[ x </r>`],
  ['unterminated processing instruction', `<r><?pi </r>`],
];

test('xmldom alone accepts a mismatched end tag (why the check exists)', () => {
  const [, xml] = malformed[0]!;
  const doc = new DOMParser({ errorHandler: () => undefined }).parseFromString(xml, 'text/xml');
  assert.equal(doc.documentElement.localName, 'AuthnRequest');
  assert.equal(doc.getElementsByTagNameNS(A, 'Issuer').length, 1);
  assert.equal(expatAccepts(xml), false);
});

for (const [name, xml] of wellFormed) {
  test(`well-formed, accepted by both: ${name}`, () => {
    assert.equal(expatAccepts(xml), true, 'expat');
    assert.equal(strictAccepts(xml), true, 'parseXmlStrict');
  });
}

for (const [name, xml] of malformed) {
  test(`malformed, refused by both: ${name}`, () => {
    assert.equal(expatAccepts(xml), false, 'expat');
    assert.equal(strictAccepts(xml), false, 'parseXmlStrict');
  });
}
