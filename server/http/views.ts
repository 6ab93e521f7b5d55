import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Response } from 'express';
import Mustache from 'mustache';
import type { BrandingConfig, WebContentConfig } from '../config/schema.ts';
import { Catalogues, directionOf, nativeName } from '../i18n/catalogue.ts';
import { Msg, type PageText } from '../i18n/msg.ts';
import { fromLcid, LANGUAGE_COOKIE, negotiate } from '../i18n/negotiate.ts';
import { readCookie } from './cookies.ts';
import { ROUTES } from './routes.ts';

/**
 * Server-rendered pages from views/*.html (mustache: {{x}} is HTML-escaped, including quotes, so values are safe
 * in text and in quoted attributes; {{{x}}} is used only for the layout's already-rendered content).
 *
 * Every word on a page comes from the message catalogues (issue 17): templates read `{{t.<namespace>.<key>}}`,
 * formatted in the language chosen for the request (server/i18n/negotiate.ts) with the page's own values as ICU
 * arguments; messages code passes (`error`, `notice`, `blocked`, `message`) are a Msg or an English sentence of the
 * catalogue, and are shown in the reader's language. The brand (company name, logo, illustration, stylesheets,
 * links and AD FS web-content texts) is resolved per language and per relying party.
 * Templates are read once at start.
 */
export type ViewName =
  | 'signin'
  | 'signed-out'
  | 'error'
  | 'token-test'
  | 'update-password'
  | 'password-updated'
  | 'idp-initiated'
  | 'mfa'
  | 'portal'
  | 'device';

/** The catalogue namespaces each page reads (besides `common`). */
const NAMESPACES: Record<ViewName, readonly string[]> = {
  signin: ['signin'],
  'signed-out': ['signedOut'],
  error: ['error'],
  'token-test': ['tokenTest'],
  'update-password': ['updatePassword', 'signin'],
  'password-updated': ['passwordUpdated'],
  'idp-initiated': ['idpInitiated'],
  mfa: ['mfa', 'signin', 'webauthn'],
  portal: ['portal', 'mfa', 'webauthn'],
  device: ['device'],
};

/** The page title's catalogue key. */
const TITLES: Record<ViewName, string> = {
  signin: 'signin.title',
  'signed-out': 'signedOut.title',
  error: 'error.title',
  'token-test': 'tokenTest.title',
  'update-password': 'updatePassword.title',
  'password-updated': 'passwordUpdated.title',
  'idp-initiated': 'idpInitiated.title',
  mfa: 'mfa.title',
  portal: 'portal.title',
  device: 'device.title',
};

/** Page values that are messages: translated before rendering. */
const MESSAGE_FIELDS = [
  'error',
  'notice',
  'blocked',
  'message',
  'heading',
  'radiusPrompt',
] as const;

/** The parts of a web theme a page uses (server/branding/theme.ts's Theme has these). */
export interface ThemeView {
  readonly name: string;
  readonly stylesheet?: string | undefined;
  readonly rtlStylesheet?: string | undefined;
  readonly logo?: LocalisedFile | undefined;
  readonly illustration?: LocalisedFile | undefined;
}
interface LocalisedFile {
  invariant?: string | undefined;
  byLocale: Readonly<Record<string, string>>;
}

/** Where the active theme comes from (server/branding/registry.ts's ThemeRegistry). */
export interface ThemeSource {
  current(): ThemeView;
  byName(name: string): ThemeView | undefined;
}

/** A relying party as far as its pages are concerned. */
export interface PageParty {
  name: string;
  branding?:
    { webContent?: WebContentConfig | undefined; webTheme?: string | undefined } | undefined;
}

export interface PageOptions {
  /** The relying party the page is shown for: its web content and theme apply. */
  rp?: PageParty | undefined;
}

type Texts = Partial<Record<Exclude<keyof WebContentConfig, 'locales'>, string>>;

/** The file a theme has for a locale: the locale, its language, then the invariant one. */
function pickFile(f: LocalisedFile | undefined, locale: string): string | undefined {
  if (f === undefined) return undefined;
  const l = locale.toLowerCase();
  return f.byLocale[l] ?? f.byLocale[l.split('-')[0] ?? l] ?? f.invariant;
}

/** AD FS web content for a locale: invariant texts, then the language's, then the exact locale's (most specific wins). */
function contentFor(c: WebContentConfig | undefined, locale: string): Texts {
  if (c === undefined) return {};
  const { locales, ...invariant } = c;
  const byTag = new Map(
    Object.entries(locales).map(([k, v]) => [k.toLowerCase().replace(/_/g, '-'), v]),
  );
  const primary = locale.split('-')[0] ?? locale;
  return {
    ...invariant,
    ...(primary === locale ? {} : byTag.get(primary)),
    ...byTag.get(locale),
  };
}

/** A flat catalogue namespace as the nested object mustache's dotted names walk ({{t.error.heading.400}}). */
function nest(into: Record<string, unknown>, key: string, value: string): void {
  const parts = key.split('.');
  let o = into;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i] ?? '';
    const next = o[p];
    if (typeof next === 'object' && next !== null) o = next as Record<string, unknown>;
    else {
      const fresh: Record<string, unknown> = {};
      o[p] = fresh;
      o = fresh;
    }
  }
  o[parts[parts.length - 1] ?? ''] = value;
}

export class Views {
  readonly #layout: string;
  readonly #pages: Record<ViewName, string>;
  readonly #partials: Record<string, string>;
  readonly #formPost: string;
  readonly #redirect: string;
  readonly #displayName: string;
  readonly #branding: BrandingConfig;
  readonly #themes: ThemeSource;
  readonly catalogues: Catalogues;
  readonly themeDir: string;
  /** Formatted messages that take no arguments, per locale and key. */
  readonly #static = new Map<string, string>();
  /** The language picker's entries, per page language. */
  readonly #pickers = new Map<string, { code: string; name: string; selected: boolean }[]>();

  constructor(
    dir: string,
    displayName: string,
    o: {
      branding: BrandingConfig;
      themes: ThemeSource;
      /** branding.catalogueDir resolved against the config file. */
      catalogueDir?: string | undefined;
    },
  ) {
    const read = (n: string): string => readFileSync(join(dir, n), 'utf8');
    this.#layout = read('layout.html');
    this.#pages = {
      signin: read('signin.html'),
      'signed-out': read('signed-out.html'),
      error: read('error.html'),
      'token-test': read('token-test.html'),
      'update-password': read('update-password.html'),
      'password-updated': read('password-updated.html'),
      'idp-initiated': read('idp-initiated.html'),
      mfa: read('mfa.html'),
      portal: read('portal.html'),
      device: read('device.html'),
    };
    this.#partials = { webauthnMessages: read('webauthn-messages.partial.html').trim() };
    this.#formPost = read('form-post.html');
    this.#redirect = read('redirect.html');
    this.#displayName = displayName;
    this.#branding = o.branding;
    this.#themes = o.themes;
    this.catalogues = new Catalogues({
      shippedDir: join(dir, 'locales'),
      extraDir: o.catalogueDir,
      defaultLocale: o.branding.defaultLocale,
    });
    this.themeDir = join(dir, 'theme');
    for (const t of [this.#layout, this.#formPost, this.#redirect, ...Object.values(this.#pages)])
      Mustache.parse(t);
  }

  /**
   * The language of this response: the picker's cookie, the relying party's hint (res.locals.localeHints, set by
   * the protocol that parsed the request), Accept-Language, the configured default. Decided once per response.
   */
  localeOf(res: Response): string {
    const cached = res.locals.locale as string | undefined;
    if (cached !== undefined) return cached;
    const req = res.req;
    const hints = (res.locals.localeHints as readonly string[] | undefined) ?? [];
    const locale = negotiate(this.catalogues, {
      choice: readCookie(req, LANGUAGE_COOKIE),
      hints: hints.map(fromLcid).filter((h): h is string => h !== undefined),
      acceptLanguage: req.headers['accept-language'],
    });
    res.locals.locale = locale;
    res.setHeader('Content-Language', locale);
    return locale;
  }

  /** A message in the response's language. */
  text(res: Response, m: PageText): string {
    return this.#text(this.localeOf(res), m, {});
  }

  #text(locale: string, m: PageText, args: Record<string, string | number>): string {
    if (m instanceof Msg) return this.catalogues.format(locale, m.key, { ...args, ...m.args });
    const key = this.catalogues.keyOfEnglish(m);
    return key === undefined ? m : this.catalogues.format(locale, key, args);
  }

  /** The web content that applies: global, then the relying party's, each per language. */
  #content(locale: string, rp: PageParty | undefined): Texts {
    return {
      ...contentFor(this.#branding.webContent, locale),
      ...contentFor(rp?.branding?.webContent, locale),
    };
  }

  #theme(rp: PageParty | undefined): ThemeView {
    const own = rp?.branding?.webTheme;
    return (own === undefined ? undefined : this.#themes.byName(own)) ?? this.#themes.current();
  }

  #brand(locale: string, rp: PageParty | undefined) {
    const c = this.#content(locale, rp);
    const theme = this.#theme(rp);
    const dir = directionOf(locale);
    const asset = (f: string | undefined): string | undefined =>
      f === undefined ? undefined : `${ROUTES.theme}/${f}`;
    const stylesheets = [
      asset(theme.stylesheet),
      dir === 'rtl' ? asset(theme.rtlStylesheet) : undefined,
    ].filter((x): x is string => x !== undefined);
    const fmt = (k: string): string => this.catalogues.format(locale, k);
    const brand = {
      companyName: c.companyName ?? this.#displayName,
      logoUrl: asset(pickFile(theme.logo, locale)),
      illustrationUrl: asset(pickFile(theme.illustration, locale)),
      stylesheets,
      homeLink: c.homeLink,
      homeLinkText: c.homeLinkText ?? fmt('common.home'),
      privacyLink: c.privacyLink,
      privacyLinkText: c.privacyLinkText ?? fmt('common.privacy'),
      helpDeskLink: c.helpDeskLink,
      helpDeskLinkText: c.helpDeskLinkText ?? fmt('common.helpDesk'),
      hasLinks:
        c.homeLink !== undefined || c.privacyLink !== undefined || c.helpDeskLink !== undefined,
    };
    return { brand, content: c, dir };
  }

  /**
   * The texts of the namespaces a page reads, formatted with the page's values as ICU arguments. A message without
   * arguments is the same on every page of a language, so it is formatted once and kept.
   */
  #texts(locale: string, namespaces: readonly string[], args: Record<string, string | number>) {
    const t: Record<string, unknown> = {};
    for (const ns of ['common', ...namespaces]) {
      for (const key of this.catalogues.keys(`${ns}.`)) {
        const id = `${locale}\u0000${key}`;
        let v = this.#static.get(id);
        if (v === undefined) {
          const src = this.catalogues.source(locale, key)?.message ?? '';
          v = this.catalogues.format(locale, key, args);
          // Only a message with no argument, plural or select ({) is the same whatever the page's values.
          if (!src.includes('{')) this.#static.set(id, v);
        }
        nest(t, key, v);
      }
    }
    return t;
  }

  /** The languages offered in the picker, each in its own language (the same for every page of a language). */
  #languages(locale: string) {
    let list = this.#pickers.get(locale);
    if (list === undefined) {
      const offered =
        this.#branding.languages
          ?.map((l) => this.catalogues.best(l))
          .filter((l) => l !== undefined) ?? this.catalogues.locales;
      list = [...new Set(offered)].map((code) => ({
        code,
        name: nativeName(code),
        selected: code === locale,
      }));
      this.#pickers.set(locale, list);
    }
    return list;
  }

  /**
   * A whole page. `data` are the page's values (escaped by mustache); message fields may be Msg objects or
   * catalogue sentences. `o.rp` selects the relying party's web content and theme.
   */
  page(res: Response, name: ViewName, data: Record<string, unknown>, o: PageOptions = {}): string {
    const locale = this.localeOf(res);
    const { brand, content, dir } = this.#brand(locale, o.rp);
    const args: Record<string, string | number> = { companyName: brand.companyName };
    if (o.rp !== undefined) args.relyingPartyName = o.rp.name;
    for (const [k, v] of Object.entries(data))
      if (typeof v === 'string' || typeof v === 'number') args[k] = v;
    const values: Record<string, unknown> = { ...data };
    for (const f of MESSAGE_FIELDS) {
      const v = data[f];
      if (v instanceof Msg || typeof v === 'string') values[f] = this.#text(locale, v, args);
    }
    values.description ??= describe(name, content);
    if (name === 'signin') values.certificateDescription ??= content.certificatePageDescriptionText;
    if (name === 'error') values.supportEmail ??= content.errorPageSupportEmail;
    const t = this.#texts(locale, NAMESPACES[name], args);
    const pageView = { ...values, t, brand, lang: locale, dir };
    const body = Mustache.render(this.#pages[name], pageView, this.#partials);
    const languages = this.#languages(locale);
    // The picker is offered where the page names an address of ours to come back to (the pending sign-in, the
    // portal): never the request's own URL, which would echo whatever a link carried (a hostile wreply, a SAML
    // message that cannot be replayed) into the page.
    const returnTo = typeof data.returnTo === 'string' ? data.returnTo : undefined;
    return Mustache.render(this.#layout, {
      title: this.catalogues.format(locale, TITLES[name], args),
      t,
      brand,
      lang: locale,
      dir,
      content: body,
      languages: returnTo === undefined || languages.length < 2 ? [] : languages,
      returnTo,
    });
  }

  /** The error-page texts the admin may replace (AD FS ErrorPage*Message). */
  errorTexts(res: Response): { generic?: string | undefined; authorization?: string | undefined } {
    const c = this.#content(this.localeOf(res), undefined);
    return {
      generic: c.errorPageGenericErrorMessage,
      authorization: c.errorPageAuthorizationErrorMessage,
    };
  }

  /**
   * A same-origin continuation by plain navigation (meta refresh, and a link): after a form post, a redirect chain
   * that leaves for another origin would be checked against the posting page's CSP form-action (OAuth: fedgate's
   * resume address answers with a redirect to the client), so the chain starts from a navigation instead.
   */
  redirectPage(res: Response, url: string): string {
    const locale = this.localeOf(res);
    const { brand, dir } = this.#brand(locale, undefined);
    return Mustache.render(this.#redirect, {
      url,
      lang: locale,
      dir,
      stylesheets: brand.stylesheets,
      t: this.#texts(locale, ['formPost'], { companyName: brand.companyName }),
    });
  }

  /** The auto-submitting form that delivers a token (MS-MWBF §2.2.4); works without script via <noscript>. */
  formPost(
    res: Response,
    action: string,
    fields: { name: string; value: string }[],
    nonce: string,
  ): string {
    const locale = this.localeOf(res);
    const { brand, dir } = this.#brand(locale, undefined);
    return Mustache.render(this.#formPost, {
      action,
      fields,
      nonce,
      lang: locale,
      dir,
      stylesheets: brand.stylesheets,
      t: this.#texts(locale, ['formPost'], { companyName: brand.companyName }),
    });
  }
}

/** The AD FS web-content description a page shows under its heading. */
function describe(name: ViewName, c: Texts): string | undefined {
  switch (name) {
    case 'signin':
    case 'idp-initiated':
      return c.signInPageDescriptionText;
    case 'update-password':
      return c.updatePasswordPageDescriptionText;
    case 'signed-out':
      return c.signOutPageDescriptionText;
    case 'error':
      return c.errorPageDescriptionText;
    case 'mfa':
      return c.signInPageAdditionalAuthenticationDescriptionText;
    default:
      return undefined;
  }
}
