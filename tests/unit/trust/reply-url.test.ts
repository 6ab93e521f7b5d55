import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MICROSOFT_365, TrustRegistry, matchReplyUrl } from '../../../server/trust/registry.ts';

const rp = {
  ...MICROSOFT_365,
  replyUrls: ['https://rp.example.com/app/', 'https://login.microsoftonline.com/login.srf'],
};

test('registered reply addresses and paths under a registered folder are accepted', () => {
  assert.equal(
    matchReplyUrl(rp, 'https://login.microsoftonline.com/login.srf'),
    'https://login.microsoftonline.com/login.srf',
  );
  assert.equal(matchReplyUrl(rp, 'https://rp.example.com/app/'), 'https://rp.example.com/app/');
  assert.equal(
    matchReplyUrl(rp, 'https://rp.example.com/app/page?x=1'),
    'https://rp.example.com/app/page?x=1',
  );
  assert.equal(matchReplyUrl(rp, 'https://RP.example.com/app/'), 'https://rp.example.com/app/');
});

// security-corpus B3.4: every open-redirect form is refused.
const hostile = [
  'https://evil.example/',
  'https://rp.example.com.evil.example/app/',
  'https://rp.example.com@evil.example/app/',
  'https://user:pw@rp.example.com/app/',
  'http:evil.example',
  'http:%2f%5cevil.example',
  '//evil.example',
  '/\\evil.example',
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  'HTTPS://evil.example/',
  'https://rp.example.com./app/',
  'http://rp.example.com/app/',
  'https://rp.example.com/application',
  'https://rp.example.com/app',
  'https://rp.example.com:444/app/',
  'https://rp.example.com\\@evil.example/app/',
  'https://rp.example.com/app/\n.evil',
  ' https://rp.example.com/app/',
  'https:rp.example.com/app/',
  'https://login.microsoftonline.com/login.srf.evil',
  'https://login.microsoftonline.com/login.srf/../evil',
  '',
];
for (const h of hostile) {
  test(`reply address refused: ${JSON.stringify(h)}`, () => {
    assert.equal(matchReplyUrl(rp, h), undefined);
  });
}

test('registry finds Microsoft 365 by identifier and alias; duplicates are refused', () => {
  const reg = new TrustRegistry([
    {
      identifier: 'urn:app',
      name: 'App',
      replyUrls: ['https://app.example/'],
      tokenLifetimeMinutes: 60,
    },
  ]);
  assert.equal(reg.find('urn:federation:MicrosoftOnline')?.claimsPreset, 'microsoft365');
  assert.equal(
    reg.find('https://login.microsoftonline.com/extSTS.srf')?.identifier,
    'urn:federation:MicrosoftOnline',
  );
  assert.equal(reg.find('urn:app')?.claimsPreset, 'generic');
  assert.equal(reg.find('urn:federation:microsoftonline'), undefined);
  assert.throws(
    () =>
      new TrustRegistry([
        {
          identifier: 'urn:federation:MicrosoftOnline',
          name: 'x',
          replyUrls: ['https://a.example/'],
          tokenLifetimeMinutes: 60,
        },
      ]),
    /twice/,
  );
});
