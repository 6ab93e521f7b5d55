/**
 * Which language a page is shown in (issue 17), in this order:
 *   1. the user's own choice on a page (the language picker; remembered in a cookie);
 *   2. the relying party's hint, where the protocol carries one (WS-Fed `ui_locales`/`mkt`/`lc` as Entra ID sends
 *      them, a SAML AuthnRequest's `Extensions`, recorded in the pending sign-in);
 *   3. the browser's Accept-Language (RFC 9110 §12.5.4: quality values honoured, `*` ignored);
 *   4. the configured default.
 * Each candidate is matched against the catalogues there are (exact tag, then its language), so `de-AT` gets `de`.
 */
import type { Catalogues } from './catalogue.ts';

/** The cookie the language picker sets (__Host-: this host only, https, path /). */
export const LANGUAGE_COOKIE = '__Host-fedgate_lang';
/** At most this many Accept-Language entries are considered (the header is attacker-sized). */
const MAX_RANGES = 16;

/**
 * Windows LCIDs Entra ID may send as `lc` (MS-LCID), for the languages people most often use; an unknown one is
 * ignored. Only the language matters here: the catalogue match then picks the nearest catalogue.
 */
const LCID: Readonly<Record<string, string>> = {
  '1025': 'ar-sa',
  '3073': 'ar-eg',
  '14337': 'ar-ae',
  '1028': 'zh-tw',
  '1029': 'cs-cz',
  '1030': 'da-dk',
  '1031': 'de-de',
  '2055': 'de-ch',
  '3079': 'de-at',
  '1032': 'el-gr',
  '1033': 'en-us',
  '2057': 'en-gb',
  '1034': 'es-es',
  '3082': 'es-es',
  '2058': 'es-mx',
  '1035': 'fi-fi',
  '1036': 'fr-fr',
  '2060': 'fr-be',
  '3084': 'fr-ca',
  '4108': 'fr-ch',
  '1037': 'he-il',
  '1038': 'hu-hu',
  '1040': 'it-it',
  '1041': 'ja-jp',
  '1042': 'ko-kr',
  '1043': 'nl-nl',
  '2067': 'nl-be',
  '1044': 'nb-no',
  '1045': 'pl-pl',
  '1046': 'pt-br',
  '2070': 'pt-pt',
  '1049': 'ru-ru',
  '1053': 'sv-se',
  '1055': 'tr-tr',
  '2052': 'zh-cn',
};

/** A language tag from an LCID (`1031` → `de-de`), or the value itself when it is not a number. */
export function fromLcid(v: string): string | undefined {
  const t = v.trim();
  if (/^\d{1,6}$/.test(t)) return LCID[t];
  return t === '' ? undefined : t;
}

/** Accept-Language ranges, best first (ties keep the header's order). */
export function acceptLanguage(header: string | undefined): string[] {
  if (header === undefined || header === '') return [];
  const ranges: { tag: string; q: number; i: number }[] = [];
  const parts = header.slice(0, 2048).split(',');
  for (let i = 0; i < parts.length && ranges.length < MAX_RANGES; i++) {
    const [tagPart, ...params] = (parts[i] ?? '').split(';');
    const tag = (tagPart ?? '').trim();
    if (tag === '' || tag === '*') continue;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p);
      if (m !== null) q = Number(m[1]);
    }
    if (q > 0) ranges.push({ tag, q, i });
  }
  return ranges.sort((a, b) => b.q - a.q || a.i - b.i).map((r) => r.tag);
}

export interface LanguageInputs {
  /** The picker's cookie value. */
  choice?: string | undefined;
  /** Relying-party hints, best first (already LCID-decoded). */
  hints?: readonly string[] | undefined;
  acceptLanguage?: string | undefined;
}

/** The catalogue locale a page is shown in. */
export function negotiate(c: Catalogues, i: LanguageInputs): string {
  const candidates = [
    ...(i.choice === undefined ? [] : [i.choice]),
    ...(i.hints ?? []),
    ...acceptLanguage(i.acceptLanguage),
  ];
  for (const t of candidates) {
    const hit = c.best(t);
    if (hit !== undefined) return hit;
  }
  return c.defaultLocale;
}
