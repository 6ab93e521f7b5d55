/**
 * What a localised, branded page costs to render (issue 17): fedgate's Views.page() for the sign-in page in
 * English, German and Arabic (catalogue lookup and ICU formatting of every text, web content, theme), against the
 * baseline of the same templates rendered by mustache alone with the English texts already in place (what a
 * hand-written string table would cost). Printed as pages/s and × baseline, measured side by side in one run.
 */
import { join } from 'node:path';
import type { Response } from 'express';
import Mustache from 'mustache';
import { brandingSchema } from '../server/config/schema.ts';
import { Views } from '../server/http/views.ts';
import { compare, type Rate } from './lib.ts';

const root = new URL('..', import.meta.url).pathname;

/** The parts of an express Response a page render reads (the request's headers, locals, setHeader). */
function response(acceptLanguage: string): Response {
  return {
    req: {
      method: 'GET',
      originalUrl: '/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline',
      headers: { 'accept-language': acceptLanguage },
    },
    locals: {},
    setHeader: () => undefined,
  } as unknown as Response;
}

export async function pagesBench(opts: { rounds: number; ms: number }): Promise<Rate[]> {
  const views = new Views(join(root, 'views'), 'fedgate', {
    branding: brandingSchema.parse({
      webContent: { companyName: 'Contoso', helpDeskLink: 'https://help.contoso.example/' },
    }),
    themes: {
      current: () => ({ name: 'default', stylesheet: '0123456789abcdef.css' }),
      byName: () => undefined,
    },
  });
  const data = {
    relyingPartyName: 'Microsoft Office 365 Identity Platform',
    authState: 'JvirRS50fduup-k-UYKfHA',
    csrf: 'BKKxvyy1Ee7j791S1TG8NQ',
    username: '',
    passwordAllowed: true,
    returnTo: '/adfs/ls/?AuthState=JvirRS50fduup-k-UYKfHA',
  };
  // Baseline: the same two templates, with the English texts pre-resolved once (no per-render formatting).
  const en = response('en');
  const html = views.page(en, 'signin', data);
  const layout = (await import('node:fs')).readFileSync(join(root, 'views/layout.html'), 'utf8');
  const signin = (await import('node:fs')).readFileSync(join(root, 'views/signin.html'), 'utf8');
  const t: Record<string, unknown> = {};
  for (const key of views.catalogues.keys()) {
    const parts = key.split('.');
    let o = t;
    for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
    o[parts[parts.length - 1]!] = views.catalogues.format('en', key, {
      relyingPartyName: data.relyingPartyName,
      companyName: 'Contoso',
    });
  }
  const brand = {
    companyName: 'Contoso',
    stylesheets: ['/adfs/portal/theme/0123456789abcdef.css'],
    helpDeskLink: 'https://help.contoso.example/',
    helpDeskLinkText: 'Help desk',
    hasLinks: true,
  };
  const bare = (): string =>
    Mustache.render(layout, {
      title: 'Sign in',
      t,
      brand,
      lang: 'en',
      dir: 'ltr',
      content: Mustache.render(signin, { ...data, t, brand }),
      languages: [],
      returnTo: data.returnTo,
    });
  if (bare().length < html.length / 2) throw new Error('baseline page is not comparable');
  return compare(
    [
      { name: 'mustache, English pre-resolved (baseline)', fn: bare },
      { name: 'fedgate page, English', fn: () => views.page(response('en'), 'signin', data) },
      {
        name: 'fedgate page, German',
        fn: () => views.page(response('de-DE,de;q=0.9'), 'signin', data),
      },
      { name: 'fedgate page, Arabic (RTL)', fn: () => views.page(response('ar'), 'signin', data) },
    ],
    opts,
  );
}
