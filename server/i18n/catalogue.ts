/**
 * The message catalogues every page takes its words from (issue 17): flat JSON files `<locale>.json` of ICU
 * MessageFormat messages (plural rules and argument formatting by intl-messageformat, formatjs's implementation of
 * ICU message syntax; Node's full ICU supplies the plural rules of every language).
 *
 * The shipped catalogues live in views/locales/; an admin adds a language, or replaces some of a shipped language's
 * texts, by dropping `<locale>.json` into `branding.catalogueDir`. English is the reference: a key another catalogue
 * lacks falls back along the locale's chain (de-at → de → the configured default → en), and `fedgate check` reports
 * it. Every catalogue is read and every message parsed at start: a broken file stops startup naming the file, the
 * key and the reason.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { IntlMessageFormat } from 'intl-messageformat';

/** Largest catalogue file read (the English catalogue is a few tens of kilobytes). */
export const MAX_CATALOGUE_BYTES = 1024 * 1024;
/** Longest message (a help-desk paragraph fits many times over). */
const MAX_MESSAGE = 4000;
const KEY = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;
/** BCP 47-shaped file names: `de`, `de-at`, `zh-hant-tw` (compared lower-case). */
export const LOCALE_TAG = /^[a-z]{2,3}(?:-[a-z0-9]{2,8}){0,3}$/;
/** Right-to-left scripts' languages (Unicode CLDR character order), for `<html dir>`. */
const RTL = new Set(['ar', 'he', 'iw', 'fa', 'ur', 'ps', 'sd', 'ug', 'yi', 'dv', 'ckb', 'syr']);

export class CatalogueError extends Error {
  readonly file: string;
  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'CatalogueError';
    this.file = file;
  }
}

type Args = Readonly<Record<string, string | number>>;

function readCatalogue(file: string, locale: string): Map<string, string> {
  let raw: Buffer;
  try {
    if (statSync(file).size > MAX_CATALOGUE_BYTES)
      throw new CatalogueError(file, `larger than ${String(MAX_CATALOGUE_BYTES)} bytes`);
    raw = readFileSync(file);
  } catch (err) {
    if (err instanceof CatalogueError) throw err;
    throw new CatalogueError(
      file,
      `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(raw.toString('utf8').replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new CatalogueError(file, `is not JSON (${(err as Error).message})`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new CatalogueError(file, 'must be one JSON object of "key": "message" pairs');
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    if (key === '$schema' || key.startsWith('_')) continue; // comments and translator notes
    if (!KEY.test(key))
      throw new CatalogueError(file, `key "${key.slice(0, 80)}" is not a dotted name`);
    if (typeof value !== 'string')
      throw new CatalogueError(file, `${key}: the message must be a string`);
    if (value.length > MAX_MESSAGE)
      throw new CatalogueError(file, `${key}: longer than ${String(MAX_MESSAGE)} characters`);
    try {
      new IntlMessageFormat(value, locale);
    } catch (err) {
      throw new CatalogueError(file, `${key}: not an ICU message (${(err as Error).message})`);
    }
    out.set(key, value);
  }
  return out;
}

export class Catalogues {
  readonly defaultLocale: string;
  readonly #messages = new Map<string, Map<string, string>>();
  readonly #compiled = new Map<string, IntlMessageFormat>();
  readonly #english = new Map<string, string>();
  readonly #keys = new Map<string, readonly string[]>();

  /**
   * @param shippedDir views/locales
   * @param extraDir the admin's catalogues (branding.catalogueDir): new languages, or texts that replace shipped ones
   */
  constructor(o: { shippedDir: string; extraDir?: string | undefined; defaultLocale: string }) {
    for (const dir of [o.shippedDir, o.extraDir]) {
      if (dir === undefined) continue;
      let names: string[];
      try {
        names = readdirSync(dir).filter((n) => n.endsWith('.json'));
      } catch (err) {
        throw new CatalogueError(
          dir,
          `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
      for (const name of names.sort()) {
        const locale = name.slice(0, -'.json'.length).toLowerCase();
        const file = join(dir, name);
        if (!LOCALE_TAG.test(locale))
          throw new CatalogueError(
            file,
            'the file name must be a language tag such as de.json or pt-br.json',
          );
        const read = readCatalogue(file, locale);
        const into = this.#messages.get(locale) ?? new Map<string, string>();
        for (const [k, v] of read) into.set(k, v);
        this.#messages.set(locale, into);
      }
    }
    const en = this.#messages.get('en');
    if (en === undefined)
      throw new CatalogueError(join(o.shippedDir, 'en.json'), 'the English catalogue is missing');
    // English sentences that code still passes as text (error messages) find their key here (gettext's approach).
    for (const [k, v] of en) if (!this.#english.has(v)) this.#english.set(v, k);
    const d = o.defaultLocale.toLowerCase();
    this.defaultLocale = this.best(d) ?? 'en';
  }

  /** The languages there is a catalogue for, the default first. */
  get locales(): string[] {
    return [...this.#messages.keys()].sort((a, b) =>
      a === this.defaultLocale ? -1 : b === this.defaultLocale ? 1 : a.localeCompare(b),
    );
  }

  /** The catalogue that serves a requested tag: the exact one, else its language (de-AT → de); undefined if none. */
  best(tag: string): string | undefined {
    const t = tag.trim().toLowerCase().replace(/_/g, '-');
    if (!LOCALE_TAG.test(t)) return undefined;
    if (this.#messages.has(t)) return t;
    const primary = t.split('-')[0] ?? '';
    if (this.#messages.has(primary)) return primary;
    return undefined;
  }

  /** The locales a key is looked up in, most specific first. */
  #chain(locale: string): string[] {
    const primary = locale.split('-')[0] ?? locale;
    return [...new Set([locale, primary, this.defaultLocale, 'en'])];
  }

  has(key: string): boolean {
    return this.#messages.get('en')?.has(key) ?? false;
  }

  /** The raw message source for a key in a locale's chain (undefined when no catalogue has it). */
  source(locale: string, key: string): { locale: string; message: string } | undefined {
    for (const l of this.#chain(locale)) {
      const m = this.#messages.get(l)?.get(key);
      if (m !== undefined) return { locale: l, message: m };
    }
    return undefined;
  }

  /**
   * The message in the locale, formatted with its arguments. A missing key renders as the key itself (visible,
   * and reported by `fedgate check`); an argument the message names but the caller did not pass falls back to
   * the English message, then to the raw text, so a page never fails over one string.
   */
  format(locale: string, key: string, args: Args = {}): string {
    const src = this.source(locale, key);
    if (src === undefined) return key;
    const id = `${src.locale}\u0000${key}`;
    let mf = this.#compiled.get(id);
    if (mf === undefined) {
      mf = new IntlMessageFormat(src.message, src.locale);
      this.#compiled.set(id, mf);
    }
    try {
      const out = mf.format(args);
      return typeof out === 'string' ? out : String(out);
    } catch {
      return src.message;
    }
  }

  /** The catalogue key of an English sentence, when it is one of the catalogue's messages. */
  keyOfEnglish(text: string): string | undefined {
    return this.#english.get(text);
  }

  /** Every key of a namespace prefix (e.g. 'signin.'), from the English reference (kept: pages ask on every render). */
  keys(prefix = ''): readonly string[] {
    let k = this.#keys.get(prefix);
    if (k === undefined) {
      k = [...(this.#messages.get('en')?.keys() ?? [])].filter((x) => x.startsWith(prefix));
      this.#keys.set(prefix, k);
    }
    return k;
  }

  /**
   * Keys the English catalogue has and a language lacks (its own file and its primary language's together), and
   * keys a language has that English does not (typos): what `fedgate check` reports.
   */
  problems(): { locale: string; missing: string[]; unknown: string[] }[] {
    const en = this.#messages.get('en') ?? new Map<string, string>();
    const out: { locale: string; missing: string[]; unknown: string[] }[] = [];
    for (const [locale, messages] of this.#messages) {
      if (locale === 'en') continue;
      const primary = this.#messages.get(locale.split('-')[0] ?? locale);
      const missing = [...en.keys()].filter((k) => !messages.has(k) && primary?.has(k) !== true);
      const unknown = [...messages.keys()].filter((k) => !en.has(k));
      if (missing.length > 0 || unknown.length > 0) out.push({ locale, missing, unknown });
    }
    return out;
  }
}

/** `<html dir>` for a locale. */
export function directionOf(locale: string): 'rtl' | 'ltr' {
  return RTL.has(locale.split('-')[0] ?? '') ? 'rtl' : 'ltr';
}

/** The language's own name for itself (for the language picker): "Deutsch", "日本語", "العربية". */
export function nativeName(locale: string): string {
  try {
    const n = new Intl.DisplayNames([locale], { type: 'language' }).of(locale);
    if (n === undefined || n === '') return locale;
    // Capitalise as a menu item would (fr "français" → "Français"); locale-aware upper-casing.
    return n.charAt(0).toLocaleUpperCase(locale) + n.slice(1);
  } catch {
    return locale;
  }
}
