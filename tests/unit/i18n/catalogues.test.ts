// The shipped translations (issue 17, "Languages"): every views/locales/<lang>.json against the English reference.
// Checked with formatjs's own ICU parser and formatter (the independent implementation), never with fedgate's
// catalogue loader: same keys, every message parses, the same arguments, the plural categories CLDR requires for the
// language (Intl.PluralRules), each message formats, nothing left in English, the terminology docs/translations.md
// promises, and the language's typography.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  isArgumentElement,
  isDateElement,
  isNumberElement,
  isPluralElement,
  isSelectElement,
  isTagElement,
  isTimeElement,
  parse,
  type MessageFormatElement,
} from '@formatjs/icu-messageformat-parser';
import { IntlMessageFormat } from 'intl-messageformat';

const LOCALES = new URL('../../../views/locales/', import.meta.url);
const SHIPPED = ['de', 'fr', 'es', 'nl', 'ja', 'ar'] as const;
type Lang = (typeof SHIPPED)[number];

/** Messages that may read the same as the English in the listed languages (an example address, a shared word). */
const SAME_AS_ENGLISH: Readonly<Record<string, readonly Lang[]>> = {
  'signin.userNamePlaceholder': ['ja', 'ar'],
  'tokenTest.signature': ['fr'],
  'error.title': ['es'],
};

/**
 * One word per concept in each language (docs/translations.md): wherever the English names the concept, the
 * translation uses the chosen term, so a reader never wonders whether two words mean two things.
 */
const TERMS: readonly { en: RegExp; name: string; t: Readonly<Record<Lang, RegExp>> }[] = [
  {
    name: 'security key',
    en: /security keys?/i,
    t: {
      de: /Sicherheitsschlüssel/,
      fr: /clés? de sécurité/,
      es: /llaves? de seguridad/,
      nl: /beveiligingssleutel/,
      ja: /セキュリティ キー/,
      ar: /(مفتاح|مفاتيح) (ال)?أمان/,
    },
  },
  {
    name: 'passkey',
    en: /passkeys?/i,
    t: {
      de: /Passkey/,
      fr: /clés? d’accès/,
      es: /claves? de acceso/,
      nl: /wachtwoordsleutel/,
      ja: /パスキー/,
      ar: /(مفتاح|مفاتيح) (ال)?مرور/,
    },
  },
  {
    name: 'authenticator app',
    en: /authenticator app/i,
    t: {
      de: /Authentifizierungs-App/,
      fr: /application d’authentification/,
      es: /aplicación de autenticación/,
      nl: /authenticator-app/,
      ja: /認証アプリ/,
      ar: /تطبيق (ال)?مصادقة/,
    },
  },
  {
    name: 'verification method',
    en: /verification methods?/i,
    t: {
      de: /Überprüfungsmethode/,
      fr: /méthodes? de vérification/,
      es: /métodos? de verificación/,
      nl: /verificatiemethode/,
      ja: /確認方法/,
      ar: /(طريقة|طرق) (ال)?تحقق/,
    },
  },
  {
    name: 'help desk',
    en: /help ?desk/i,
    t: {
      de: /Helpdesk/,
      fr: /support technique/,
      es: /soporte técnico/,
      nl: /helpdesk/,
      ja: /ヘルプデスク/,
      ar: /مكتب المساعدة/,
    },
  },
  {
    name: 'activity ID',
    en: /activity ID/i,
    t: {
      de: /Aktivitäts-ID/,
      fr: /ID d’activité/,
      es: /ID de actividad/,
      nl: /activiteits-ID/i,
      ja: /アクティビティ ID/,
      ar: /معرّف النشاط/,
    },
  },
  {
    name: 'password',
    en: /password/i,
    t: {
      de: /Kennw(o|ö)rt/i,
      fr: /mots? de passe/,
      es: /contraseña/i,
      nl: /wachtwoord/i,
      ja: /パスワード/,
      ar: /كلم(ة|ات|تا) (ال)?مرور/,
    },
  },
  {
    name: 'sign in',
    en: /\bsign(ed|ing)?[- ]in\b/i,
    t: {
      de: /an(ge)?meld|melden Sie sich\b/i,
      fr: /connect|connexion/i,
      es: /sesión/i,
      nl: /aan(ge)?meld|aan te melden|meld u\b/i,
      ja: /サインイン/,
      ar: /تسجيل (ال)?دخول|سجّل(ت)? الدخول/,
    },
  },
  {
    name: 'sign out',
    en: /\bsign(ed|ing)?[- ]out\b/i,
    t: {
      de: /ab(ge)?meld|melden Sie sich ab\b/i,
      fr: /déconnect|déconnexion/i,
      es: /sesión/i,
      nl: /af(ge)?meld|af te melden|meld u af\b/i,
      ja: /サインアウト/,
      ar: /تسجيل (ال)?خروج|سجّل(ت)? الخروج/,
    },
  },
];

type Catalogue = Record<string, string>;

function load(lang: string): Catalogue {
  const data: unknown = JSON.parse(readFileSync(new URL(`${lang}.json`, LOCALES), 'utf8'));
  assert.ok(
    typeof data === 'object' && data !== null && !Array.isArray(data),
    `${lang}.json: one JSON object`,
  );
  for (const [k, v] of Object.entries(data)) {
    assert.equal(typeof v, 'string', `${lang}.json ${k}: the message is a string`);
  }
  return data as Catalogue;
}

type Kind = 'argument' | 'number' | 'date' | 'time' | 'plural' | 'select' | 'tag';

/** Every argument a message reads, with how it is read (a tag counts as an argument named `<tag>`). */
function argumentsOf(ast: readonly MessageFormatElement[], out = new Map<string, Kind>()) {
  for (const el of ast) {
    if (isArgumentElement(el)) out.set(el.value, 'argument');
    else if (isNumberElement(el)) out.set(el.value, 'number');
    else if (isDateElement(el)) out.set(el.value, 'date');
    else if (isTimeElement(el)) out.set(el.value, 'time');
    else if (isTagElement(el)) {
      out.set(`<${el.value}>`, 'tag');
      argumentsOf(el.children, out);
    } else if (isPluralElement(el) || isSelectElement(el)) {
      out.set(el.value, isPluralElement(el) ? 'plural' : 'select');
      for (const o of Object.values(el.options)) argumentsOf(o.value, out);
    }
  }
  return out;
}

/** Plural categories the language needs (CLDR, through Intl.PluralRules) that a plural message leaves out. */
function missingPluralCategories(ast: readonly MessageFormatElement[], lang: string): string[] {
  const missing: string[] = [];
  for (const el of ast) {
    if (isPluralElement(el)) {
      const need = new Intl.PluralRules(lang, { type: el.pluralType }).resolvedOptions()
        .pluralCategories;
      for (const c of need) if (!(c in el.options)) missing.push(`${el.value}:${c}`);
    }
    if (isPluralElement(el) || isSelectElement(el)) {
      if (!('other' in el.options)) missing.push(`${el.value}:other`);
      for (const o of Object.values(el.options))
        missing.push(...missingPluralCategories(o.value, lang));
    }
    if (isTagElement(el)) missing.push(...missingPluralCategories(el.children, lang));
  }
  return missing;
}

/** Sample values for every argument; a plain argument gets a marker the output must show. */
function samples(args: ReadonlyMap<string, Kind>, n: number): Record<string, unknown> {
  const v: Record<string, unknown> = {};
  for (const [name, kind] of args) {
    if (kind === 'tag') v[name.slice(1, -1)] = (chunks: unknown[]) => chunks.join('');
    else if (kind === 'number' || kind === 'plural') v[name] = n;
    else if (kind === 'date' || kind === 'time') v[name] = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
    else if (kind === 'select') v[name] = 'other';
    else v[name] = `[${name}]`;
  }
  return v;
}

/** Tokens a user types or reads as they are: they stay untranslated (name@domain, DOMAIN\name, GET, SAML, 6…). */
function tokensOf(english: string): string[] {
  const t: string[] = [
    ...(english.match(/name@domain|DOMAIN\\name|\b[A-Z]{3,}\b|\bwtrealm\b|\d+/g) ?? []),
  ];
  // "push" is what a RADIUS server (e.g. Duo's) takes as the answer, so it is typed in English in every language.
  if (english.includes('"push"')) t.push('push');
  return t;
}

/** The language's typographic rules (docs/translations.md), as problems found in one message. */
function typography(lang: Lang, m: string): string[] {
  const p: string[] = [];
  if (m !== m.trim()) p.push('leading or trailing space');
  if (/ {2}/.test(m)) p.push('double space');
  if (m.includes('"')) p.push('straight double quote (use the language’s quotation marks)');
  if (lang === 'fr') {
    if (m.includes("'")) p.push('straight apostrophe (French uses ’)');
    if (/[^\u00A0\u202F][:;!?»]/.test(m.replace(/\d:\d/g, ''))) {
      p.push('no non-breaking space before : ; ! ? »');
    }
    if (/«[^\u00A0\u202F]/.test(m)) p.push('no non-breaking space after «');
  }
  if (lang === 'de' || lang === 'es' || lang === 'nl') {
    if (m.includes("'")) p.push('straight apostrophe');
  }
  if (lang === 'es' && m.includes('?') && !m.includes('¿')) p.push('question without ¿');
  if (lang === 'ja') {
    if (/[.,!?:;]\s|[.,!?;]$/.test(m)) p.push('Latin punctuation (use 。、！？：)');
  }
  if (lang === 'ar') {
    if (/[,;?]/.test(m)) p.push('Latin punctuation (use ، ؛ ؟)');
    // Direction marks are not needed: the text starts with Arabic, so the paragraph direction is right-to-left.
    if (/[\u200E\u200F\u202A-\u202E\u2066-\u2069]/.test(m)) p.push('bidi control character');
  }
  return p;
}

const english = load('en');
const englishAst = new Map(Object.entries(english).map(([k, v]) => [k, parse(v)]));

describe('the English reference', () => {
  it('parses (every other check compares against it)', () => {
    assert.ok(englishAst.size > 100);
  });
});

describe('the plural check itself', () => {
  it('asks Arabic for zero, one, two, few, many and other (CLDR), Japanese for other only', () => {
    const twoForms = parse('{count, plural, one {# key} other {# keys}}');
    assert.deepEqual(missingPluralCategories(twoForms, 'ar').sort(), [
      'count:few',
      'count:many',
      'count:two',
      'count:zero',
    ]);
    assert.deepEqual(missingPluralCategories(twoForms, 'de'), []);
    assert.deepEqual(missingPluralCategories(parse('{count, plural, other {# 個}}'), 'ja'), []);
    const six = parse(
      '{count, plural, zero {لا مفاتيح} one {مفتاح واحد} two {مفتاحان} few {# مفاتيح} many {# مفتاحًا} other {# مفتاح}}',
    );
    assert.deepEqual(missingPluralCategories(six, 'ar'), []);
  });
});

for (const lang of SHIPPED) {
  describe(`${lang}.json`, () => {
    const cat = load(lang);

    it('has exactly the English keys', () => {
      const missing = Object.keys(english).filter((k) => !(k in cat));
      const unknown = Object.keys(cat).filter((k) => !(k in english));
      assert.deepEqual({ missing, unknown }, { missing: [], unknown: [] });
    });

    it('every message parses, reads the same arguments as the English, and has the plural forms', () => {
      const problems: string[] = [];
      for (const [key, msg] of Object.entries(cat)) {
        const en = englishAst.get(key);
        if (en === undefined) continue;
        let ast: MessageFormatElement[];
        try {
          ast = parse(msg);
        } catch (err) {
          problems.push(`${key}: does not parse (${(err as Error).message})`);
          continue;
        }
        const want = [...argumentsOf(en)].sort();
        const got = [...argumentsOf(ast)].sort();
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          problems.push(
            `${key}: arguments ${JSON.stringify(got)}, English ${JSON.stringify(want)}`,
          );
        }
        for (const m of missingPluralCategories(ast, lang))
          problems.push(`${key}: plural misses ${m}`);
      }
      assert.deepEqual(problems, []);
    });

    it('every message formats with sample arguments and shows each of them', () => {
      const problems = new Set<string>(); // one line per fault, not one per sample count
      for (const [key, msg] of Object.entries(cat)) {
        const en = englishAst.get(key);
        if (en === undefined) continue;
        const args = argumentsOf(en);
        // Enough counts to reach every plural category of every shipped language (Arabic 0, 1, 2, 3–10, 11–99, 100…).
        for (const n of [0, 1, 2, 3, 11, 100, 1.5]) {
          let out: unknown;
          try {
            out = new IntlMessageFormat(msg, lang).format(samples(args, n));
          } catch (err) {
            problems.add(`${key}: does not format (${(err as Error).message})`);
            break;
          }
          if (typeof out !== 'string' || out.trim() === '') {
            problems.add(`${key}: formats to nothing`);
            break;
          }
          for (const [name, kind] of args) {
            if (kind === 'argument' && !out.includes(`[${name}]`))
              problems.add(`${key}: {${name}} not shown`);
          }
          if (/[{}]/.test(out)) problems.add(`${key}: a brace is left in "${out}"`);
          if (args.size === 0) break;
        }
      }
      assert.deepEqual([...problems], []);
    });

    it('is translated: no message left in English, technical tokens kept as they are', () => {
      const problems: string[] = [];
      for (const [key, msg] of Object.entries(cat)) {
        const en = english[key];
        if (en === undefined) continue;
        if (msg === en && !(SAME_AS_ENGLISH[key] ?? []).includes(lang))
          problems.push(`${key}: same as English`);
        for (const t of tokensOf(en)) if (!msg.includes(t)) problems.push(`${key}: lost "${t}"`);
      }
      assert.deepEqual(problems, []);
    });

    it('uses one term per concept (docs/translations.md)', () => {
      const problems: string[] = [];
      for (const [key, msg] of Object.entries(cat)) {
        const en = english[key];
        if (en === undefined) continue;
        for (const term of TERMS) {
          // Case aside: a term may open a sentence or a heading.
          if (term.en.test(en) && !new RegExp(term.t[lang].source, 'iu').test(msg))
            problems.push(`${key}: "${term.name}" is not ${String(term.t[lang])}`);
        }
      }
      assert.deepEqual(problems, []);
    });

    it('follows the language’s typography and script', () => {
      const problems: string[] = [];
      for (const [key, msg] of Object.entries(cat)) {
        for (const p of typography(lang, msg)) problems.push(`${key}: ${p}`);
        if ((SAME_AS_ENGLISH[key] ?? []).includes(lang)) continue;
        // The first letter decides a paragraph's direction (Unicode bidi P2) and tells a translated message apart.
        const first = /\p{L}/u.exec(msg.replace(/\{[^}]*\}/g, ''))?.[0] ?? '';
        if (lang === 'ar' && !/\p{Script=Arabic}/u.test(first))
          problems.push(`${key}: does not start in Arabic`);
        if (lang === 'ja' && !/[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Han}]/u.test(msg))
          problems.push(`${key}: no Japanese text`);
      }
      assert.deepEqual(problems, []);
    });
  });
}
