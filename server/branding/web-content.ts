/**
 * AD FS global web content (`Set-AdfsGlobalWebContent`, adfs-reference §3), imported from the text of
 * `Get-AdfsGlobalWebContent | ConvertTo-Json` (issue 17, "Import from AD FS") into fedgate's configuration
 * (`branding.webContent`, camelCase names of the AD FS properties, with per-locale overrides under `locales`).
 *
 * What the file can look like, all accepted:
 * - one object (one locale) or an array of objects (one per locale, as Get-AdfsGlobalWebContent returns them);
 * - UTF-8, UTF-8 with BOM, or UTF-16LE/BE with BOM (Windows PowerShell 5.1's `>` and `Out-File` write UTF-16LE);
 * - `Locale` as a string, as a serialised CultureInfo (an object with `Name`), or null / '' (the invariant content).
 *
 * Links must be http(s) or mailto (fedgate renders them as <a href>; anything else could be javascript:). AD FS
 * lets descriptions hold some HTML; fedgate shows every text as plain text (escaped), so HTML is reported.
 */

/** AD FS property names, in the order Get-AdfsGlobalWebContent prints them, camelCased as fedgate keys. */
export const WEB_CONTENT_KEYS = [
  'companyName',
  'helpDeskLink',
  'helpDeskLinkText',
  'homeLink',
  'homeLinkText',
  'privacyLink',
  'privacyLinkText',
  'signInPageDescriptionText',
  'signOutPageDescriptionText',
  'errorPageDescriptionText',
  'errorPageGenericErrorMessage',
  'errorPageAuthorizationErrorMessage',
  'errorPageDeviceAuthenticationErrorMessage',
  'errorPageSupportEmail',
  'updatePasswordPageDescriptionText',
  'signInPageAdditionalAuthenticationDescriptionText',
  'certificatePageDescriptionText',
  'homeRealmDiscoveryPageDescriptionText',
  'homeRealmDiscoveryOtherOrganizationDescriptionText',
  'organizationalNameDescriptionText',
] as const;

export type WebContentKey = (typeof WEB_CONTENT_KEYS)[number];
export type WebContent = Partial<Record<WebContentKey, string>>;

/** Keys holding a link fedgate renders as an <a href>. */
export const WEB_CONTENT_LINK_KEYS: readonly WebContentKey[] = [
  'helpDeskLink',
  'homeLink',
  'privacyLink',
];

/**
 * The longest value accepted per key, as branding.webContent's schema (server/config/schema.ts) accepts it, so the
 * YAML an import writes is a valid configuration: company name 256, links 2048, the e-mail address 320, texts 2000.
 */
export function maxLength(key: WebContentKey): number {
  if (key === 'companyName') return 256;
  if (key === 'errorPageSupportEmail') return 320;
  return WEB_CONTENT_LINK_KEYS.includes(key) ? 2048 : 2000;
}

export interface WebContentImport {
  /** Content for every locale (AD FS: Locale empty). */
  invariant: WebContent;
  /** Lower-case locale -> its content. */
  locales: Record<string, WebContent>;
  warnings: string[];
}

/** The input could not be imported; the message says where and why. */
export class WebContentError extends Error {
  override readonly name = 'WebContentError';
}

const LOCALE = /^[a-z]{2,3}(-[a-z0-9]{2,8}){0,3}$/i;
/** Properties ConvertTo-Json prints that are not content (no warning for these). */
const NOT_CONTENT = new Set(['locale', 'pscomputername', 'runspaceid', 'psshowcomputername']);
/** AD FS name (lower-case) -> fedgate key. */
const BY_ADFS_NAME = new Map<string, WebContentKey>(
  WEB_CONTENT_KEYS.map((k) => [k.toLowerCase(), k]),
);

/** Decodes the bytes by their BOM (UTF-8 without one); refuses bytes that are not valid in that encoding. */
export function decodeText(bytes: Buffer): string {
  let encoding = 'utf-8';
  let start = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
  else if (bytes[0] === 0xff && bytes[1] === 0xfe) [encoding, start] = ['utf-16le', 2];
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) [encoding, start] = ['utf-16be', 2];
  else if (bytes.length >= 2 && bytes[0] !== 0 && bytes[1] === 0)
    // UTF-16LE without a BOM (PowerShell 7's -Encoding unicode writes one, but a copy may lose it): JSON starts
    // with an ASCII character, so its second byte is 0.
    encoding = 'utf-16le';
  try {
    return new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(
      bytes.subarray(start),
    );
  } catch {
    throw new WebContentError(`the text is not valid ${encoding.toUpperCase()}`);
  }
}

function localeName(value: unknown, at: string): string {
  if (value === undefined || value === null) return '';
  let name: unknown = value;
  if (typeof value === 'object' && !Array.isArray(value)) {
    const entry = Object.entries(value).find(([k]) => k.toLowerCase() === 'name');
    name = entry?.[1] ?? '';
  }
  if (typeof name !== 'string') throw new WebContentError(`${at}: Locale is not a string`);
  const n = name.trim().replace(/_/g, '-');
  if (n === '') return '';
  if (!LOCALE.test(n))
    throw new WebContentError(`${at}: Locale "${n.slice(0, 40)}" is not a locale name`);
  return n.toLowerCase();
}

/** A link value: http(s) or mailto, as written; anything else is refused. */
function checkLink(value: string, at: string): string {
  let url: URL;
  // No white space inside a link (branding.webContent's schema refuses it too).
  if (/\s/.test(value.trim()))
    throw new WebContentError(`${at}: "${value.slice(0, 80)}" contains white space`);
  try {
    url = new URL(value.trim());
  } catch {
    throw new WebContentError(`${at}: "${value.slice(0, 80)}" is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:' && url.protocol !== 'mailto:')
    throw new WebContentError(
      `${at}: "${value.slice(0, 80)}" is a ${url.protocol} link; only http, https and mailto links are accepted`,
    );
  return value.trim();
}

const HTML = /<\/?[a-z!][^>]*>|&(#\d+|#x[0-9a-f]+|[a-z]+);/i;

/** Parses the text of `Get-AdfsGlobalWebContent | ConvertTo-Json`; throws WebContentError on what cannot be used. */
export function parseAdfsWebContent(bytes: Buffer): WebContentImport {
  const text = decodeText(bytes).trim();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new WebContentError(`not JSON: ${(err as Error).message}`);
  }
  const items = Array.isArray(json) ? (json as unknown[]) : [json];
  const out: WebContentImport = { invariant: {}, locales: {}, warnings: [] };
  const seen = new Set<string>();
  items.forEach((item, index) => {
    const at0 = Array.isArray(json) ? `item ${index + 1}` : 'the object';
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw new WebContentError(`${at0}: expected an object with the web content properties`);
    const props = Object.entries(item as Record<string, unknown>);
    const locale = localeName(props.find(([k]) => k.toLowerCase() === 'locale')?.[1], at0);
    const at = locale === '' ? 'invariant content' : `locale ${locale}`;
    if (seen.has(locale)) out.warnings.push(`${at}: given twice; the later one is used`);
    seen.add(locale);
    const content: WebContent = {};
    for (const [name, value] of props) {
      const key = BY_ADFS_NAME.get(name.toLowerCase());
      if (key === undefined) {
        if (!NOT_CONTENT.has(name.toLowerCase()))
          out.warnings.push(`${at}: ${name} is not a web content property fedgate knows; ignored`);
        continue;
      }
      if (value === null || value === undefined || value === '') continue;
      if (typeof value !== 'string') throw new WebContentError(`${at}: ${name} is not a string`);
      if (value.length > maxLength(key))
        throw new WebContentError(
          `${at}: ${name} is ${value.length} characters, more than the ${maxLength(key)} accepted`,
        );
      // eslint-disable-next-line no-control-regex -- control characters (but tab and newlines) are refused
      if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(value))
        throw new WebContentError(`${at}: ${name} contains control characters`);
      if (WEB_CONTENT_LINK_KEYS.includes(key)) {
        content[key] = checkLink(value, `${at}: ${name}`);
        continue;
      }
      if (
        key === 'errorPageSupportEmail' &&
        !/^[^\s@<>"'()]+@[^\s@<>"'()]+\.[^\s@<>"'()]+$/.test(value.trim())
      )
        throw new WebContentError(
          `${at}: ${name} "${value.slice(0, 80)}" is not an e-mail address`,
        );
      if (HTML.test(value))
        out.warnings.push(
          `${at}: ${name} contains HTML; fedgate shows texts as plain text, so the tags will be visible: edit the text`,
        );
      content[key] = key === 'errorPageSupportEmail' ? value.trim() : value;
    }
    if (locale === '') out.invariant = content;
    else out.locales[locale] = content;
  });
  return out;
}

/** The configuration fragment for the import: `branding: { webContent: { …invariant, locales: { de: {…} } } }`. */
export function webContentConfig(imp: WebContentImport): {
  branding: { webContent: WebContent & { locales?: Record<string, WebContent> } };
} {
  const locales = Object.fromEntries(
    Object.entries(imp.locales)
      .filter(([, c]) => Object.keys(c).length > 0)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return {
    branding: {
      webContent: {
        ...ordered(imp.invariant),
        ...(Object.keys(locales).length > 0
          ? {
              locales: Object.fromEntries(Object.entries(locales).map(([l, c]) => [l, ordered(c)])),
            }
          : {}),
      },
    },
  };
}

function ordered(c: WebContent): WebContent {
  const out: WebContent = {};
  for (const k of WEB_CONTENT_KEYS) if (c[k] !== undefined) out[k] = c[k];
  return out;
}
