// AD FS web content import (server/branding/web-content.ts): Get-AdfsGlobalWebContent | ConvertTo-Json in the
// encodings PowerShell writes, one object or an array of locales, links limited to http(s)/mailto.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import {
  parseAdfsWebContent,
  WEB_CONTENT_KEYS,
  WebContentError,
  webContentConfig,
} from '../../../server/branding/web-content.ts';
import { fixture } from './fixtures.ts';

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

describe('AD FS web content', () => {
  test('the key list is the camelCase of every Set-AdfsGlobalWebContent text parameter', () => {
    assert.equal(WEB_CONTENT_KEYS.length, 20);
    assert.ok(WEB_CONTENT_KEYS.includes('homeRealmDiscoveryOtherOrganizationDescriptionText'));
    assert.ok(WEB_CONTENT_KEYS.every((k) => /^[a-z][A-Za-z]+$/.test(k)));
  });

  test('UTF-16LE with BOM, an array of locales (string, CultureInfo object, empty)', () => {
    const imp = parseAdfsWebContent(fixture('web-content.utf16le-bom.json'));
    assert.deepEqual(imp.invariant, {
      companyName: 'Contoso',
      helpDeskLink: 'https://help.contoso.com/',
      helpDeskLinkText: 'IT help desk',
      homeLink: 'https://www.contoso.com/',
      homeLinkText: 'Contoso home',
      privacyLink: 'https://www.contoso.com/privacy',
      privacyLinkText: 'Privacy',
      signInPageDescriptionText: 'Sign in with your Contoso account.',
      errorPageDescriptionText: 'Something went wrong. <b>Call the help desk.</b>',
      errorPageGenericErrorMessage: 'An error occurred.',
      errorPageAuthorizationErrorMessage: 'You are not allowed to use this application.',
      errorPageSupportEmail: 'helpdesk@contoso.com',
      updatePasswordPageDescriptionText: 'Passwords must be 12 characters or more.',
    });
    assert.deepEqual(imp.locales, {
      de: {
        companyName: 'Contoso GmbH',
        helpDeskLinkText: 'IT-Servicedesk',
        signInPageDescriptionText: 'Melden Sie sich mit Ihrem Contoso-Konto an.',
      },
      'fr-fr': {
        companyName: 'Contoso France',
        signInPageDescriptionText: 'Connectez-vous avec votre compte Contoso.',
        privacyLink: 'https://www.contoso.com/fr/confidentialite',
      },
    });
    // HTML in a description is reported (fedgate shows plain text); PSComputerName is not content and not reported.
    assert.deepEqual(imp.warnings, [
      'invariant content: ErrorPageDescriptionText contains HTML; fedgate shows texts as plain text, so the tags will be visible: edit the text',
    ]);
  });

  test('UTF-8 and UTF-8 with BOM, one object, read the same', () => {
    const a = parseAdfsWebContent(fixture('web-content.utf8.json'));
    const b = parseAdfsWebContent(fixture('web-content.utf8-bom.json'));
    assert.deepEqual(a, b);
    assert.equal(a.invariant.signInPageDescriptionText, 'Willkommen – Fabrikam');
    assert.equal(a.invariant.helpDeskLink, 'mailto:help@fabrikam.com');
  });

  test('UTF-16LE without a BOM and UTF-16BE with one are read', () => {
    const text = JSON.stringify({ CompanyName: 'Ünïcode' });
    assert.equal(
      parseAdfsWebContent(Buffer.from(text, 'utf16le')).invariant.companyName,
      'Ünïcode',
    );
    const be = Buffer.from(`\ufeff${text}`, 'utf16le').swap16();
    assert.equal(parseAdfsWebContent(be).invariant.companyName, 'Ünïcode');
  });

  test('a javascript: link is refused, naming the property', () => {
    assert.throws(
      () => parseAdfsWebContent(fixture('web-content.javascript-link.json')),
      (err: unknown) => {
        assert.ok(err instanceof WebContentError);
        assert.match(
          err.message,
          /^invariant content: HelpDeskLink: "javascript:alert\(document\.cookie\)" is a javascript: link; only http, https and mailto/,
        );
        return true;
      },
    );
    for (const link of ['data:text/html,x', 'vbscript:x', '/relative', 'https://x.example/a b'])
      assert.throws(() => parseAdfsWebContent(json({ HomeLink: link })), WebContentError, link);
  });

  test('a support e-mail that is not an address is refused', () => {
    assert.throws(
      () => parseAdfsWebContent(json({ ErrorPageSupportEmail: 'call us' })),
      /not an e-mail address/,
    );
  });

  test('bad input is refused with the reason', () => {
    assert.throws(() => parseAdfsWebContent(Buffer.from('{"CompanyName": ')), /not JSON/);
    assert.throws(
      () => parseAdfsWebContent(Buffer.from([0xef, 0xbb, 0xbf, 0xff])),
      /not valid UTF-8/,
    );
    assert.throws(() => parseAdfsWebContent(json([1])), /item 1: expected an object/);
    assert.throws(
      () => parseAdfsWebContent(json({ CompanyName: 7 })),
      /CompanyName is not a string/,
    );
    assert.throws(() => parseAdfsWebContent(json({ Locale: '<x>' })), /is not a locale name/);
    assert.throws(
      () => parseAdfsWebContent(json({ CompanyName: 'x'.repeat(257) })),
      /more than the 256/,
    );
    assert.throws(
      () => parseAdfsWebContent(json({ SignInPageDescriptionText: 'a\u0000b' })),
      /control characters/,
    );
  });

  test('unknown properties are warned about; a locale given twice too', () => {
    const imp = parseAdfsWebContent(
      json([
        { Locale: 'de', Foo: 'x' },
        { Locale: { Name: 'DE' }, CompanyName: 'B' },
      ]),
    );
    assert.deepEqual(imp.locales, { de: { companyName: 'B' } });
    assert.equal(imp.warnings.length, 2);
  });

  test('the configuration fragment: invariant keys at the top, locales below, in key order', () => {
    const cfg = webContentConfig(parseAdfsWebContent(fixture('web-content.utf16le-bom.json')));
    const wc = cfg.branding.webContent;
    assert.equal(wc.companyName, 'Contoso');
    assert.deepEqual(Object.keys(wc.locales ?? {}), ['de', 'fr-fr']);
    assert.deepEqual(Object.keys(wc.locales?.['fr-fr'] ?? {}), [
      'companyName',
      'privacyLink',
      'signInPageDescriptionText',
    ]);
    assert.deepEqual(parse(JSON.stringify(cfg)), cfg);
  });
});
