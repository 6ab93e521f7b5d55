/**
 * Issue 17, the server side of the pages: which language a page is in (picker cookie > the party's hint > the
 * browser's Accept-Language > branding.defaultLocale), the language picker and its return address, AD FS web
 * content (global, per language, per relying party), themes on the pages and their content-hashed assets, and
 * every page's words coming from the catalogue.
 *
 * One app per describe block, on the embedded demo directory; SAML requests are written here (harness.ts) as an SP
 * writes them and signed with xml-crypto. Catalogue texts are compared with the JSON files themselves, never through
 * fedgate's catalogue code.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { stringify } from 'yaml';
import { resolveConfig } from '../../server/config/load.ts';
import { buildServices } from '../../server/services.ts';
import { createApp } from '../../server/app.ts';
import {
  LogCapture,
  Jar,
  M365,
  hidden,
  formAction,
  postSignInForm,
  signIn,
  wsfedSignInUrl,
  type TestApp,
} from '../helpers/app.ts';
import { enrolAppFactor, MULTIPLE_AUTHN, oathtool } from '../helpers/mfa.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { runCli } from '../helpers/cli.ts';
import {
  ALICE,
  EMAIL,
  SP_ID,
  authnRequestXml,
  b64,
  samlApp,
  signEnveloped,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';
import {
  THEMES_DIR,
  attrOf,
  catalogue,
  englishSentences,
  htmlLang,
  stylesheets,
  textOf,
  visibleText,
} from '../fixtures/branding-e2e/pages.ts';

const PASSWORD = 'Passw0rd!';
const MFA_SECRET = 'fedgate-branding-pages-mfa-secret-0123456789';
const ALICE_APP = 'KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TF';
const PARTNER = 'urn:partner:app';
const DENIED = 'urn:denied:app';
const HASHED = /^\/adfs\/portal\/theme\/[0-9a-f]{16}\.(css|png|svg|gif|jpg|webp)$/;
const DENY_RULES =
  '@RuleName = "Nobody"\nEXISTS([Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"])\n => issue(Type = "http://schemas.microsoft.com/authorization/claims/deny", Value = "DenyUsersWithClaim");\n';

/** Global web content, a German override, and the parties' own. */
const WEB_CONTENT = {
  companyName: 'Acme Corp',
  homeLink: 'https://www.acme.example/',
  homeLinkText: 'Acme home',
  privacyLink: 'https://www.acme.example/privacy',
  privacyLinkText: 'Acme privacy',
  helpDeskLink: 'mailto:help@acme.example',
  helpDeskLinkText: 'Acme help desk',
  signInPageDescriptionText: 'Use your Acme account.',
  updatePasswordPageDescriptionText: 'Acme password rules apply.',
  signOutPageDescriptionText: 'Acme says goodbye.',
  errorPageDescriptionText: 'Acme error description.',
  errorPageGenericErrorMessage: 'Acme generic failure.',
  errorPageAuthorizationErrorMessage: 'Acme: this application is not for you.',
  errorPageSupportEmail: 'support@acme.example',
  signInPageAdditionalAuthenticationDescriptionText: 'Acme second step.',
  locales: {
    de: { companyName: 'Acme GmbH', signInPageDescriptionText: 'Mit dem Acme-Konto anmelden.' },
  },
};

/** An AuthnRequest with `ext` as its samlp:Extensions (schema order: right after Issuer). */
function requestWithExtensions(ext: string): string {
  return authnRequestXml({ issuer: SP_ID }).replace(
    '</saml:Issuer>',
    `</saml:Issuer><samlp:Extensions>${ext}</samlp:Extensions>`,
  );
}

type App = Awaited<ReturnType<typeof samlApp>>;

/** The app most tests share: theme acme, Dutch as the last resort, web content everywhere, MFA by TOTP. */
async function brandedApp(): Promise<App> {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-branding-'));
  const denyFile = join(dir, 'deny.rules');
  writeFileSync(denyFile, DENY_RULES);
  const t = await samlApp(
    [
      {
        file: 'sp',
        metadataXml: spMetadata(standardSp()),
        trust: {
          name: 'HR via SAML',
          nameIdFormat: EMAIL,
          webContent: { companyName: 'HR Portal Co', signInPageDescriptionText: 'HR people only.' },
        },
      },
    ],
    {
      branding: {
        themesDir: THEMES_DIR,
        theme: 'acme',
        defaultLocale: 'nl',
        webContent: WEB_CONTENT,
      },
      relyingParties: [
        {
          identifier: PARTNER,
          name: 'Partner App',
          replyUrls: ['https://partner.example/wsfed'],
          webContent: { companyName: 'Partner Co', signInPageDescriptionText: 'Partner sign-in.' },
          webTheme: 'partner',
        },
        {
          identifier: DENIED,
          name: 'Denied App',
          replyUrls: ['https://denied.example/wsfed'],
          authorizationRulesFile: denyFile,
        },
      ],
      microsoft365: {
        federatedDomains: ['fedgate.test'],
        webContent: { companyName: 'Acme for Microsoft 365' },
      },
      mfa: { methods: ['totp'], secrets: [MFA_SECRET] },
      lockout: { enabled: false },
    },
  );
  const enrolments = t.services.mfa.enrolments;
  assert.ok(enrolments, 'MFA enrolment store');
  const alice = await t.services.directory.findUser('alice');
  assert.ok(alice);
  await enrolments.write(alice, {
    v: 1,
    factors: [
      {
        kind: 'totp',
        id: 'brandingAlicePhone001',
        name: 'Phone',
        createdAt: '2026-01-01T00:00:00.000Z',
        secret: ALICE_APP,
      },
    ],
  });
  return t;
}

const wsfed = wsfedSignInUrl;

async function get(
  t: TestApp,
  path: string,
  o: { lang?: string; jar?: Jar; cookie?: string } = {},
): Promise<request.Response> {
  const r = request(t.app).get(path);
  if (o.lang !== undefined) void r.set('Accept-Language', o.lang);
  const cookie = [o.jar?.header(), o.cookie].filter((c) => c !== undefined && c !== '').join('; ');
  if (cookie !== '') void r.set('Cookie', cookie);
  const res = await r;
  o.jar?.take(res);
  return res;
}

/** Posts the sign-in form of `page` (its AuthState and csrf) with these fields. */
async function postForm(
  t: TestApp,
  jar: Jar,
  page: string,
  fields: Record<string, string>,
  lang?: string,
): Promise<request.Response> {
  return postSignInForm(
    t.app,
    jar,
    page,
    { AuthMethod: 'FormsAuthentication', ...fields },
    lang === undefined ? {} : { 'Accept-Language': lang },
  );
}

const langOf = (res: request.Response): string | undefined => htmlLang(res.text).lang;

describe('issue 17: the language of a page', () => {
  let t: App;
  before(async () => {
    t = await brandedApp();
  });
  after(async () => {
    await t.close();
  });

  test('Accept-Language quality values decide among the catalogues; de-AT gets de; an unknown language the default', async () => {
    const cases: [string | undefined, string][] = [
      ['de;q=0.2, ja;q=0.9', 'ja'],
      ['ja;q=0.1, xx, de;q=0.5', 'de'],
      ['de-AT', 'de'],
      ['fr-CA,fr;q=0.8', 'fr'],
      ['tlh, xx-YY', 'nl'],
      ['*', 'nl'],
      [undefined, 'nl'],
    ];
    for (const [al, want] of cases) {
      const res = await get(t, wsfed(M365), al === undefined ? {} : { lang: al });
      assert.equal(res.status, 200, String(al));
      assert.equal(langOf(res), want, `Accept-Language ${String(al)}`);
      assert.equal(res.headers['content-language'], want, `Content-Language for ${String(al)}`);
      assert.equal(htmlLang(res.text).dir, 'ltr');
    }
  });

  test("WS-Fed hints (ui_locales, mkt, lc as an LCID) win over Accept-Language; the picker's cookie wins over them", async () => {
    const al = 'ja;q=0.9, de;q=0.5';
    for (const [q, want] of [
      [{ ui_locales: 'fr' }, 'fr'],
      [{ ui_locales: 'xx es' }, 'es'],
      [{ mkt: 'es-ES' }, 'es'],
      [{ lc: '1036' }, 'fr'],
      [{ lc: '1043' }, 'nl'],
      [{ lc: '99999' }, 'ja'], // an unknown LCID is ignored
      [{ mkt: '', lc: '' }, 'ja'], // Entra sends them empty when the user picked nothing
    ] as [Record<string, string>, string][]) {
      const res = await get(t, wsfed(M365, q), { lang: al });
      assert.equal(res.status, 200);
      assert.equal(langOf(res), want, JSON.stringify(q));
    }
    const chosen = await get(t, wsfed(M365, { ui_locales: 'fr', lc: '1036' }), {
      lang: al,
      cookie: '__Host-fedgate_lang=de',
    });
    assert.equal(langOf(chosen), 'de', 'the cookie wins over the hint');
    // A cookie naming no catalogue is no choice: the hint decides.
    const junk = await get(t, wsfed(M365, { ui_locales: 'fr' }), {
      lang: al,
      cookie: '__Host-fedgate_lang=xx',
    });
    assert.equal(langOf(junk), 'fr');
  });

  test('SAML Extensions hints (UILocales/Language text, xml:lang), in an unsigned and a signed AuthnRequest', async () => {
    const al = 'ja';
    const post = (xml: string, cookie?: string) => {
      const r = request(t.app).post('/adfs/ls/').type('form').set('Accept-Language', al);
      if (cookie !== undefined) void r.set('Cookie', cookie);
      return r.send({ SAMLRequest: b64(xml) });
    };
    const unsigned = await post(
      requestWithExtensions('<x:UILocales xmlns:x="urn:example:sp">xx de-DE</x:UILocales>'),
    );
    assert.equal(unsigned.status, 200, unsigned.text.slice(0, 300));
    assert.match(unsigned.text, /name="AuthState"/);
    assert.equal(langOf(unsigned), 'de', 'UILocales text');
    const language = await post(
      requestWithExtensions('<x:Language xmlns:x="urn:example:sp">es</x:Language>'),
    );
    assert.equal(langOf(language), 'es', 'Language text');
    const signed = await post(
      signEnveloped(
        requestWithExtensions('<x:Preferences xmlns:x="urn:example:sp" xml:lang="fr"/>'),
      ),
    );
    assert.equal(signed.status, 200, signed.text.slice(0, 300));
    assert.equal(langOf(signed), 'fr', 'xml:lang of a child, signed request');
    // Control: no Extensions → Accept-Language.
    assert.equal(langOf(await post(authnRequestXml({ issuer: SP_ID }))), 'ja');
    // The cookie still wins over an SP's hint.
    const chosen = await post(
      requestWithExtensions('<x:UILocales xmlns:x="urn:example:sp">de</x:UILocales>'),
      '__Host-fedgate_lang=nl',
    );
    assert.equal(langOf(chosen), 'nl');
  });

  test('Arabic is right to left and gets the theme’s RTL stylesheet; other languages do not', async () => {
    const ar = await get(t, wsfed(M365), { lang: 'ar' });
    assert.deepEqual(htmlLang(ar.text), { lang: 'ar', dir: 'rtl' });
    assert.equal(ar.headers['content-language'], 'ar');
    const arCss = stylesheets(ar.text);
    const deCss = stylesheets((await get(t, wsfed(M365), { lang: 'de' })).text);
    assert.equal(deCss.length, 1, 'one stylesheet for LTR');
    assert.equal(arCss.length, 2, 'the RTL stylesheet is added');
    assert.equal(arCss[0], deCss[0]);
    for (const href of arCss) assert.match(href, HASHED);
    const rtl = await get(t, arCss[1] ?? '');
    assert.equal(rtl.status, 200);
    assert.match(rtl.text, /direction:\s*rtl/, 'the RTL stylesheet of the theme');
  });

  test("the party's hint survives a wrong password and reaches the MFA page", async () => {
    const jar = new Jar();
    const first = await get(t, wsfed(M365, { ui_locales: 'fr', wauth: MULTIPLE_AUTHN }), {
      jar,
      lang: 'ja',
    });
    assert.equal(langOf(first), 'fr');
    const wrong = await postForm(
      t,
      jar,
      first.text,
      { UserName: ALICE.username, Password: 'wrong' },
      'ja',
    );
    assert.equal(wrong.status, 200);
    assert.match(wrong.text, /id="errorText"/);
    assert.equal(langOf(wrong), 'fr', 'the wrong-password page keeps the hint');
    assert.ok(
      wrong.text.includes(catalogue('fr')['msg.incorrectUserIdOrPasswordType'] ?? '\u0000'),
      'the generic failure in French',
    );
    const mfa = await postForm(
      t,
      jar,
      wrong.text,
      { UserName: ALICE.username, Password: PASSWORD },
      'ja',
    );
    assert.equal(mfa.status, 200, mfa.text.slice(0, 300));
    assert.match(mfa.text, /id="totpForm"/, 'the MFA page');
    assert.equal(langOf(mfa), 'fr', 'the MFA page keeps the hint');
    assert.ok(mfa.text.includes(catalogue('fr')['mfa.heading'] ?? '\u0000'));
    // The MFA page answered a POST: its picker returns to the pending sign-in, which shows the MFA step again.
    const back = hidden(mfa.text, 'return');
    assert.equal(back, `/adfs/ls/?AuthState=${hidden(first.text, 'AuthState')}`);
    const again = await get(t, back, { jar, cookie: '__Host-fedgate_lang=de' });
    assert.equal(again.status, 200);
    assert.match(again.text, /id="totpForm"/);
    assert.equal(langOf(again), 'de', 'the choice wins over the hint');
    assert.equal(hidden(again.text, 'csrf'), hidden(mfa.text, 'csrf'));
  });
});

describe('issue 17: the language picker', () => {
  let t: App;
  before(async () => {
    t = await brandedApp();
  });
  after(async () => {
    await t.close();
  });
  const pick = (lang: string, back: string, cookie?: string) => {
    const r = request(t.app).get(
      `/adfs/portal/language?${new URLSearchParams({ lang, return: back }).toString()}`,
    );
    if (cookie !== undefined) void r.set('Cookie', cookie);
    return r;
  };

  test('remembers the choice for a year in a __Host- cookie and sends the browser back (303)', async () => {
    const back = `${wsfed(M365)}&x=1`;
    const res = await pick('de-AT', back);
    assert.equal(res.status, 303);
    assert.equal(res.headers.location, back);
    const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
    const lang = set.find((c) => c.startsWith('__Host-fedgate_lang='));
    assert.ok(lang, 'the language cookie');
    assert.match(lang, /^__Host-fedgate_lang=de;/, 'the catalogue chosen (de-AT → de)');
    assert.match(lang, /;\s*Secure/i);
    assert.match(lang, /;\s*HttpOnly/i);
    assert.match(lang, /;\s*SameSite=Lax/i);
    assert.match(lang, /;\s*Path=\//i);
    assert.match(lang, /;\s*Max-Age=31536000/i);
    assert.doesNotMatch(lang, /Domain=/i);
    // The choice wins over a hint and Accept-Language on the way back.
    const page = await get(t, `${back}&ui_locales=fr`, {
      lang: 'ja',
      cookie: '__Host-fedgate_lang=de',
    });
    assert.equal(langOf(page), 'de');
  });

  test('refuses another site, tricks, control characters, an unknown language and a huge return: 400, no redirect, no cookie', async () => {
    const bad: [string, string][] = [
      ['de', '//evil.test/'],
      ['de', 'https://evil.test/'],
      ['de', '/\\evil.test'],
      ['de', '/adfs/\\\\evil.test/'],
      ['de', '/%2F%2Fevil.test'],
      ['de', '/adfs/ls/\r\nLocation: https://evil.test/'],
      ['de', '/adfs/ls/\u0000'],
      ['de', '/adfs/ls/\t'],
      ['de', 'javascript:alert(1)'],
      ['de', '/other/page'],
      ['de', ''],
      ['de', `/adfs/ls/?x=${'a'.repeat(5 * 1024)}`],
      ['xx', '/adfs/ls/'],
      ['de"><script>', '/adfs/ls/'],
      ['', '/adfs/ls/'],
    ];
    for (const [lang, back] of bad) {
      const res = await pick(lang, back);
      const what = `${lang} → ${JSON.stringify(back.slice(0, 60))}`;
      assert.equal(res.status, 400, what);
      assert.equal(res.headers.location, undefined, `${what}: no redirect`);
      assert.ok(
        !([] as string[])
          .concat(res.headers['set-cookie'] ?? [])
          .some((c) => c.startsWith('__Host-fedgate_lang=')),
        `${what}: no cookie`,
      );
      assert.doesNotMatch(res.text, /<script>|evil\.test\/"/, what);
    }
  });

  test('a return that leaves /adfs/ once resolved (/adfs/../x, /adfs/%2e%2e/x) is refused', async () => {
    for (const back of ['/adfs/../x', '/adfs/%2e%2e/x', '/adfs/./../x']) {
      const res = await pick('de', back);
      assert.equal(res.status, 400, back);
      assert.equal(res.headers.location, undefined, back);
    }
    // Control: dot segments that stay under /adfs/ are a local return.
    assert.equal((await pick('de', '/adfs/ls/../ls/')).status, 303);
  });

  test('a language hint that is too long or repeated is ignored, not a refused sign-in', async () => {
    const long = 'en-US en fr-CA fr de-DE de es-ES es nl-NL nl ja-JP ja ar-SA ar';
    const res = await get(t, wsfed(M365, { ui_locales: long }), { lang: 'de' });
    assert.equal(res.status, 200, res.text.slice(0, 200));
    assert.match(res.text, /name="AuthState"/);
    assert.equal(langOf(res), 'en', 'the list is still a hint (its first tags are read)');
    const twice = await get(t, `${wsfed(M365)}&mkt=es-ES&mkt=fr-FR`, { lang: 'de' });
    assert.equal(twice.status, 200);
    assert.equal(langOf(twice), 'de', 'a repeated hint is ignored: Accept-Language decides');
  });

  test('the 400 page is in the reader’s language; a POST answers 405', async () => {
    const res = await pick('xx', '/adfs/ls/').set('Accept-Language', 'de');
    assert.equal(res.status, 400);
    assert.ok(res.text.includes(catalogue('de')['msg.languageNotAvailable'] ?? '\u0000'));
    const post = await request(t.app)
      .post('/adfs/portal/language')
      .type('form')
      .send({ lang: 'de', return: '/adfs/ls/' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.location, undefined);
    assert.equal(post.headers['set-cookie'], undefined);
  });

  test('after a wrong password the picker returns to /adfs/ls/?AuthState=…, which shows the same sign-in only to its browser', async () => {
    const jar = new Jar();
    const first = await get(t, wsfed(M365), { jar, lang: 'en' });
    const authState = hidden(first.text, 'AuthState');
    const csrf = hidden(first.text, 'csrf');
    const wrong = await postForm(
      t,
      jar,
      first.text,
      { UserName: ALICE.username, Password: 'wrong' },
      'en',
    );
    assert.equal(wrong.status, 200);
    const back = hidden(wrong.text, 'return');
    assert.equal(back, `/adfs/ls/?AuthState=${authState}`);
    const picked = await pick('de', back);
    assert.equal(picked.status, 303);
    assert.equal(picked.headers.location, back);
    const resumed = await get(t, back, { jar, cookie: '__Host-fedgate_lang=de' });
    assert.equal(resumed.status, 200);
    assert.equal(langOf(resumed), 'de');
    assert.equal(hidden(resumed.text, 'AuthState'), authState, 'same pending sign-in');
    assert.equal(hidden(resumed.text, 'csrf'), csrf, 'same anti-CSRF token');
    // The resumed form signs in.
    const done = await postForm(t, jar, resumed.text, {
      UserName: ALICE.username,
      Password: PASSWORD,
    });
    assert.equal(done.status, 200);
    assert.match(done.text, /name="wresult"/);

    // Another browser (no sign-in cookie, or its own) gets the expired page, no form.
    const again = new Jar();
    const other = await get(t, wsfed(M365), { jar: again });
    const otherBack = `/adfs/ls/?AuthState=${hidden(other.text, 'AuthState')}`;
    for (const [what, cookie] of [
      ['no cookie', undefined],
      ['another browser’s sign-in cookie', jar.header()],
      ['a forged sign-in cookie', '__Host-fedgate_signin=AAAAAAAAAAAAAAAAAAAAAA'],
    ] as [string, string | undefined][]) {
      const res = await get(t, otherBack, cookie === undefined ? {} : { cookie });
      assert.equal(res.status, 400, what);
      assert.doesNotMatch(res.text, /name="AuthState"|name="csrf"|id="loginForm"/, what);
      assert.ok(
        res.text.includes('Your sign-in page expired') || /id="errorText"/.test(res.text),
        what,
      );
    }
    // Control: its own browser resumes it.
    assert.equal((await get(t, otherBack, { jar: again })).status, 200);
  });
});

describe('issue 17: AD FS web content on the pages', () => {
  let t: App;
  before(async () => {
    t = await brandedApp();
  });
  after(async () => {
    await t.close();
  });

  test('company name, home/privacy/help-desk links and texts, and the sign-in description', async () => {
    const res = await get(t, wsfed('urn:fedgate:test'), { lang: 'en' });
    assert.equal(res.status, 200);
    assert.match(res.text, /<title>[^<]*– Acme Corp<\/title>/);
    assert.equal(attrOf(res.text, 'homeLink', 'href'), 'https://www.acme.example/');
    assert.equal(textOf(res.text, 'homeLink'), 'Acme home');
    assert.equal(attrOf(res.text, 'privacyLink', 'href'), 'https://www.acme.example/privacy');
    assert.equal(textOf(res.text, 'privacyLink'), 'Acme privacy');
    assert.equal(attrOf(res.text, 'helpDeskLink', 'href'), 'mailto:help@acme.example');
    assert.equal(textOf(res.text, 'helpDeskLink'), 'Acme help desk');
    assert.equal(textOf(res.text, 'signInDescription'), 'Use your Acme account.');
    // The theme's logo carries the company name as its text alternative.
    assert.equal(attrOf(res.text, 'logo', 'alt'), 'Acme Corp');
  });

  test('the German override wins when German is chosen, and only then', async () => {
    const de = await get(t, wsfed('urn:fedgate:test'), { lang: 'de' });
    assert.equal(textOf(de.text, 'signInDescription'), 'Mit dem Acme-Konto anmelden.');
    assert.match(de.text, /– Acme GmbH<\/title>/);
    // Not overridden in German: the invariant text.
    assert.equal(textOf(de.text, 'homeLink'), 'Acme home');
    const deAt = await get(t, wsfed('urn:fedgate:test'), { lang: 'de-AT' });
    assert.equal(textOf(deAt.text, 'signInDescription'), 'Mit dem Acme-Konto anmelden.');
    for (const lang of ['fr', 'en', 'ar']) {
      const res = await get(t, wsfed('urn:fedgate:test'), { lang });
      assert.equal(textOf(res.text, 'signInDescription'), 'Use your Acme account.', lang);
      assert.match(res.text, /– Acme Corp<\/title>/, lang);
    }
  });

  test('update-password, signed-out, error and MFA pages show their descriptions; the error page the support email', async () => {
    const up = await get(t, '/adfs/portal/updatepassword/', { lang: 'en' });
    assert.equal(up.status, 200);
    assert.ok(up.text.includes('Acme password rules apply.'), 'update password description');
    const out = await get(t, '/adfs/ls/?wa=wsignout1.0', { lang: 'en' });
    assert.equal(out.status, 200);
    assert.ok(out.text.includes('Acme says goodbye.'), 'signed-out description');
    const err = await get(t, wsfed('urn:unknown:app'), { lang: 'en' });
    assert.equal(err.status, 400);
    assert.equal(textOf(err.text, 'errorDescription'), 'Acme error description.');
    assert.match(err.text, /href="mailto:support@acme\.example"/);
    assert.ok(visibleText(err.text).includes('support@acme.example'));
    // The exposed message stays the specific one (not the admin's generic text).
    assert.ok(err.text.includes('not known to this sign-in service'));
    assert.ok(!err.text.includes('Acme generic failure.'));

    const jar = new Jar();
    const first = await get(t, wsfed(M365, { wauth: MULTIPLE_AUTHN }), { jar, lang: 'en' });
    const mfa = await postForm(t, jar, first.text, {
      UserName: ALICE.username,
      Password: PASSWORD,
    });
    assert.match(mfa.text, /id="totpForm"/);
    assert.ok(mfa.text.includes('Acme second step.'), 'MFA page description');
    assert.ok(!mfa.text.includes('Use your Acme account.'), 'not the sign-in description');
    // Finishing the MFA step still works with the branded page.
    const code = oathtool(ALICE_APP, t.services.clock.now());
    const done = await request(t.app)
      .post('/adfs/ls/mfa')
      .set('Cookie', jar.header())
      .type('form')
      .send({
        AuthState: hidden(mfa.text, 'AuthState'),
        csrf: hidden(mfa.text, 'csrf'),
        Method: 'totp',
        Code: code,
      });
    assert.equal(done.status, 200, done.text.slice(0, 400));
    assert.match(done.text, /name="wresult"/);
  });

  test('access denied shows errorPageAuthorizationErrorMessage; a 500 shows errorPageGenericErrorMessage', async () => {
    const denied = await signIn(t.app, { ...ALICE, realm: DENIED });
    assert.equal(denied.res.status, 403, denied.res.text.slice(0, 300));
    assert.equal(textOf(denied.res.text, 'errorText'), 'Acme: this application is not for you.');
    assert.doesNotMatch(denied.res.text, /name="wresult"/);

    // A programming error below the pages (the directory throws what nobody expects): the generic page.
    const directory = t.services.directory;
    const original = directory.authenticate.bind(directory);
    directory.authenticate = () => Promise.reject(new TypeError('unexpected'));
    try {
      const boom = await signIn(t.app, { ...ALICE, realm: M365 });
      assert.equal(boom.res.status, 500, boom.res.text.slice(0, 300));
      assert.equal(textOf(boom.res.text, 'errorText'), 'Acme generic failure.');
      assert.doesNotMatch(boom.res.text, /TypeError|unexpected|\n\s+at /);
    } finally {
      directory.authenticate = original;
    }
  });

  test('per relying party: its web content and theme win only for that party', async () => {
    const base = await get(t, wsfed('urn:fedgate:test'), { lang: 'en' });
    const partner = await get(t, wsfed(PARTNER), { lang: 'en' });
    assert.match(partner.text, /– Partner Co<\/title>/);
    assert.equal(textOf(partner.text, 'signInDescription'), 'Partner sign-in.');
    // What the party does not set stays global.
    assert.equal(textOf(partner.text, 'homeLink'), 'Acme home');
    const [partnerCss] = stylesheets(partner.text);
    const [baseCss] = stylesheets(base.text);
    assert.ok(partnerCss !== undefined && baseCss !== undefined);
    assert.notEqual(partnerCss, baseCss, "the party's own theme");
    assert.match(attrOf(partner.text, 'logo', 'src') ?? '', /\.svg$/, "the party's SVG logo");
    assert.match(attrOf(base.text, 'logo', 'src') ?? '', /\.png$/);

    const m365 = await get(t, wsfed(M365), { lang: 'en' });
    assert.match(m365.text, /– Acme for Microsoft 365<\/title>/);
    assert.equal(textOf(m365.text, 'signInDescription'), 'Use your Acme account.');

    const saml = await request(t.app)
      .post('/adfs/ls/')
      .type('form')
      .set('Accept-Language', 'en')
      .send({ SAMLRequest: b64(authnRequestXml({ issuer: SP_ID })) });
    assert.equal(saml.status, 200);
    assert.match(saml.text, /– HR Portal Co<\/title>/);
    assert.equal(textOf(saml.text, 'signInDescription'), 'HR people only.');

    // And the global pages stay global.
    assert.match(base.text, /– Acme Corp<\/title>/);
    assert.equal(textOf(base.text, 'signInDescription'), 'Use your Acme account.');
  });

  test('a javascript: (or relative) link is refused by configuration validation, naming the key', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { branding: { webContent: { homeLink: 'javascript:alert(1)' } } },
        /branding\.webContent\.homeLink/,
      ],
      [
        { branding: { webContent: { locales: { de: { privacyLink: 'JavaScript:alert(1)' } } } } },
        /branding\.webContent\.locales\.de\.privacyLink/,
      ],
      [
        { branding: { webContent: { helpDeskLink: '/relative/help' } } },
        /branding\.webContent\.helpDeskLink/,
      ],
      [
        {
          relyingParties: [
            {
              identifier: 'urn:x',
              name: 'X',
              replyUrls: ['https://x.example/'],
              webContent: { homeLink: 'data:text/html,<script>alert(1)</script>' },
            },
          ],
        },
        /relyingParties\.0\.webContent\.homeLink/,
      ],
    ];
    for (const [input, key] of cases) {
      assert.throws(
        () =>
          resolveConfig(
            { hostname: 'sts.fedgate.test', ...input },
            { env: {}, baseDir: tmpdir(), source: 'test', embeddedDefaults: false },
          ),
        (err: Error) => key.test(err.message),
        JSON.stringify(input),
      );
    }
  });

  test('`fedgate check` refuses a javascript: link and names the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-branding-check-'));
    writeFileSync(
      join(dir, 'fedgate.yaml'),
      stringify({
        hostname: 'sts.fedgate.test',
        branding: { webContent: { privacyLink: 'javascript:alert(document.cookie)' } },
      }),
    );
    const r = runCli(['check', '--config', join(dir, 'fedgate.yaml')], dir);
    assert.notEqual(r.status, 0, r.stdout);
    assert.match(`${r.stdout}${r.stderr}`, /branding\.webContent\.privacyLink/);
  });
});

describe('issue 17: themes on the pages', () => {
  let t: App;
  before(async () => {
    t = await brandedApp();
  });
  after(async () => {
    await t.close();
  });

  test('stylesheet, logo and illustration are content-hashed, year-cached, typed; the German logo for German', async () => {
    const en = await get(t, wsfed(M365), { lang: 'en' });
    const urls = [
      ...stylesheets(en.text),
      attrOf(en.text, 'logo', 'src'),
      attrOf(en.text, 'illustration', 'src'),
    ];
    assert.equal(urls.length, 3);
    const types: Record<string, RegExp> = {
      css: /^text\/css/,
      png: /^image\/png$/,
      svg: /^image\/svg\+xml/,
    };
    for (const u of urls) {
      assert.ok(u !== undefined);
      assert.match(u, HASHED);
      const res = await get(t, u);
      assert.equal(res.status, 200, u);
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable', u);
      const ext = u.split('.').pop() ?? '';
      assert.match(res.headers['content-type'] ?? '', types[ext] ?? /^$/, u);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }
    const de = await get(t, wsfed(M365), { lang: 'de' });
    assert.notEqual(attrOf(de.text, 'logo', 'src'), attrOf(en.text, 'logo', 'src'), 'logo.de.png');
  });

  test('an SVG asset carries its own CSP; an unknown hash is 404', async () => {
    const partner = await get(t, wsfed(PARTNER), { lang: 'en' });
    const svg = attrOf(partner.text, 'logo', 'src') ?? '';
    assert.match(svg, /\.svg$/);
    const res = await get(t, svg);
    assert.equal(res.status, 200);
    // Its own policy (server/branding/svg.ts): nothing loads or runs, only the SVG's inline styles apply; not the
    // pages' policy (which lets images load from this host).
    const csp = res.headers['content-security-policy'] ?? '';
    assert.equal(csp, "default-src 'none'; style-src 'unsafe-inline'");
    const css = await get(t, stylesheets(partner.text)[0] ?? '');
    assert.notEqual(css.headers['content-security-policy'], csp, 'only the SVG gets it');
    for (const missing of [
      '/adfs/portal/theme/0123456789abcdef.css',
      '/adfs/portal/theme/0123456789abcdef.png',
      '/adfs/portal/theme/0123456789ABCDEF.css',
      '/adfs/portal/theme/../theme/style.css',
    ]) {
      const r = await get(t, missing);
      assert.equal(r.status, 404, missing);
      assert.notEqual(r.headers['cache-control'], 'public, max-age=31536000, immutable');
    }
  });
});

describe('issue 17: themes at startup and switched live', () => {
  const build = async (branding: Record<string, unknown>) => {
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-theme-start-'));
    const config = resolveConfig(
      {
        hostname: 'sts.fedgate.test',
        listen: { port: 0, tls: 'off' },
        keys: { dir: join(dir, 'keys') },
        branding,
      },
      { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
    );
    return buildServices(config, { logDestination: new LogCapture() });
  };

  test('branding.theme naming an unknown theme stops startup, naming it', async () => {
    await assert.rejects(build({ themesDir: THEMES_DIR, theme: 'no-such-theme' }), /no-such-theme/);
    await assert.rejects(build({ theme: 'acme' }), /acme/, 'no themesDir: only default exists');
  });

  test('a theme with a bad file stops startup, naming the file and the reason', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fedgate-bad-theme-'));
    cpSync(join(THEMES_DIR, 'acme'), join(root, 'broken'), { recursive: true });
    writeFileSync(join(root, 'broken', 'logo', 'logo.png'), 'this is not a PNG image');
    await assert.rejects(build({ themesDir: root, theme: 'broken' }), (err: Error) => {
      assert.match(err.message, /logo[/\\]logo\.png/);
      assert.match(err.message, /png|PNG|type|image/i);
      return true;
    });
    // Any theme in the folder is checked, not only the active one.
    await assert.rejects(
      build({ themesDir: root, theme: 'default' }),
      /logo[/\\]logo\.png/,
      'a broken theme stops startup even when another is active',
    );
  });

  describe('`fedgate theme use` through Redis', () => {
    let redis: TestRedis;
    let t: TestApp;
    let dir: string;
    before(async () => {
      redis = await startRedis();
      dir = mkdtempSync(join(tmpdir(), 'fedgate-theme-use-'));
      mkdirSync(join(dir, 'keys'));
      const input = {
        hostname: 'sts.fedgate.test',
        listen: { port: 0, tls: 'off' as const },
        keys: { dir: join(dir, 'keys') },
        store: { kind: 'redis' as const, url: redis.url },
        branding: { themesDir: THEMES_DIR, theme: 'acme' },
      };
      writeFileSync(join(dir, 'fedgate.yaml'), stringify(input));
      const config = resolveConfig(input, {
        env: {},
        baseDir: dir,
        source: 'test',
        embeddedDefaults: false,
      });
      const logs = new LogCapture();
      const services = await buildServices(config, { logDestination: logs });
      t = { app: createApp(services), services, config, logs, close: () => services.close() };
    });
    after(async () => {
      await t.close();
      await redis.stop();
    });

    test('switches the stylesheet of a running app after refresh()', async () => {
      const before1 = stylesheets((await get(t, wsfed(M365))).text);
      const r = runCli(['theme', 'use', 'partner', '--config', join(dir, 'fedgate.yaml')], dir);
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      await t.services.themes.refresh();
      const after1 = stylesheets((await get(t, wsfed(M365))).text);
      assert.equal(after1.length, 1);
      assert.notDeepEqual(after1, before1, 'another stylesheet');
      const css = await get(t, after1[0] ?? '');
      assert.match(css.text, /relying party's own theme/);
      // The old asset stays servable (a page rendered just before still gets it).
      assert.equal((await get(t, before1[0] ?? '')).status, 200);
      // Back to default through the CLI.
      const back = runCli(['theme', 'use', 'default', '--config', join(dir, 'fedgate.yaml')], dir);
      assert.equal(back.status, 0, back.stderr);
      await t.services.themes.refresh();
      const def = await get(t, wsfed(M365));
      assert.equal(attrOf(def.text, 'logo', 'src'), undefined, 'the default theme has no logo');
    });
  });
});

describe('issue 17: every page’s words come from the catalogue', () => {
  let t: App;
  before(async () => {
    t = await samlApp(
      [
        {
          file: 'hr',
          metadataXml: spMetadata(standardSp()),
          trust: { name: 'HR', nameIdFormat: EMAIL, idpInitiated: true },
        },
      ],
      {
        saml2: { idpInitiatedSignOn: true },
        mfa: { methods: ['totp'], secrets: [MFA_SECRET], enrolment: { allow: ['code'] } },
        lockout: { enabled: false },
      },
    );
    await enrolAppFactor(t, 'alice', 'brandingAlicePhone001', ALICE_APP);
  });
  after(async () => {
    await t.close();
  });

  const portalJar = new Jar();
  /** Every page, reached in `lang` (Accept-Language). */
  async function pages(lang: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const jar = new Jar();
    const signin = await get(t, wsfed('urn:fedgate:test'), { jar, lang });
    out.signin = signin.text;
    out['signin-error'] = (
      await postForm(t, jar, signin.text, { UserName: ALICE.username, Password: 'x' }, lang)
    ).text;
    const done = await postForm(
      t,
      jar,
      out['signin-error'],
      { UserName: ALICE.username, Password: PASSWORD },
      lang,
    );
    const result = await request(t.app)
      .post(new URL(formAction(done.text), 'https://x').pathname)
      .set('Cookie', jar.header())
      .set('Accept-Language', lang)
      .type('form')
      .send({ wa: 'wsignin1.0', wresult: hidden(done.text, 'wresult') });
    out['token-test'] = result.text;
    out.error = (await get(t, wsfed('urn:unknown:app'), { lang })).text;
    out['update-password'] = (await get(t, '/adfs/portal/updatepassword/', { lang })).text;
    out['signed-out'] = (await get(t, '/adfs/ls/?wa=wsignout1.0', { jar, lang })).text;
    out['idp-initiated'] = (await get(t, '/adfs/ls/idpinitiatedsignon', { lang })).text;
    const mjar = new Jar();
    const m1 = await get(t, wsfed('urn:fedgate:test', { wauth: MULTIPLE_AUTHN }), {
      jar: mjar,
      lang,
    });
    const mfa = await postForm(
      t,
      mjar,
      m1.text,
      { UserName: ALICE.username, Password: PASSWORD },
      lang,
    );
    out.mfa = mfa.text;
    // The portal: signed in with the second factor, once (the same TOTP code twice would be a replay).
    const pjar = portalJar;
    const p1 = await get(t, '/adfs/portal/', { jar: pjar, lang });
    let page = p1.text;
    for (let hop = 0; hop < 5 && !/id="factorList"/.test(page); hop++) {
      if (/id="totpForm"/.test(page)) {
        const r = await request(t.app)
          .post('/adfs/ls/mfa')
          .set('Cookie', pjar.header())
          .set('Accept-Language', lang)
          .type('form')
          .send({
            AuthState: hidden(page, 'AuthState'),
            csrf: hidden(page, 'csrf'),
            Method: 'totp',
            Code: oathtool(ALICE_APP, t.services.clock.now()),
          });
        pjar.take(r);
        page = r.text;
      } else if (/name="AuthState"/.test(page)) {
        page = (
          await postForm(t, pjar, page, { UserName: ALICE.username, Password: PASSWORD }, lang)
        ).text;
      } else if (/name="hiddenform"/.test(page)) {
        const action = new URL(formAction(page), 'https://x');
        const fields: Record<string, string> = {};
        for (const m of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g))
          fields[m[1] ?? ''] = hidden(page, m[1] ?? '');
        const r = await request(t.app)
          .post(action.pathname + action.search)
          .set('Cookie', pjar.header())
          .set('Accept-Language', lang)
          .type('form')
          .send(fields);
        pjar.take(r);
        page = r.text;
      } else {
        const r = await get(t, '/adfs/portal/', { jar: pjar, lang });
        page = r.text;
      }
    }
    out.portal = page;
    return out;
  }

  for (const lang of ['de', 'ar']) {
    test(`in ${lang}, no English sentence of the reference catalogue is shown on any page`, async () => {
      const all = await pages(lang);
      const sentences = englishSentences(lang);
      const expected: Record<string, RegExp> = {
        signin: /id="loginForm"/,
        'signin-error': /id="errorText"/,
        'token-test': /id="result"/,
        error: /id="activityId"/,
        'update-password': /id="updatePasswordForm"/,
        'signed-out': /<h1>/,
        'idp-initiated': /id="idpSites"/,
        mfa: /id="totpForm"/,
        portal: /id="factorList"/,
      };
      for (const [name, html] of Object.entries(all)) {
        assert.match(html, expected[name] ?? /./, `${name} is the page it should be`);
        assert.equal(htmlLang(html).lang, lang, `${name} is in ${lang}`);
        const seen = visibleText(html);
        const english = sentences.filter((s) => seen.includes(s.text));
        assert.deepEqual(
          english.map((s) => `${s.key}: ${s.text}`),
          [],
          `${name} (${lang}) shows English`,
        );
      }
      assert.equal(htmlLang(all.signin ?? '').dir, lang === 'ar' ? 'rtl' : 'ltr');
    });
  }

  test('msg.* errors the server throws appear translated (unknown wtrealm, a repeated parameter)', async () => {
    for (const lang of ['de', 'ar']) {
      const cat = catalogue(lang);
      const unknown = await get(t, wsfed('urn:unknown:app'), { lang });
      assert.equal(unknown.status, 400);
      assert.equal(
        textOf(unknown.text, 'errorText'),
        cat['msg.theApplicationThatSentYouHere'],
        `${lang}: unknown party`,
      );
      const twice = await get(
        t,
        `/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afedgate%3Atest&wtrealm=urn%3Afedgate%3Atest`,
        { lang },
      );
      assert.equal(twice.status, 400);
      const want = (cat['msg.parameterRepeated'] ?? '').replace('{name}', 'wtrealm');
      assert.equal(textOf(twice.text, 'errorText'), want, `${lang}: repeated parameter`);
      assert.equal(
        textOf(twice.text, 'errorText') === catalogue('en')['msg.parameterRepeated'],
        false,
      );
    }
  });
});
