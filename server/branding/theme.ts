/**
 * A web theme: the folder AD FS's `Export-AdfsWebTheme` writes, read and checked into what the pages serve (issue
 * 17, "Web theme (Set-AdfsWebTheme): stylesheet, RTL stylesheet, logo, illustration"). Layout:
 *
 *   css/style.css, css/style.rtl.css                         stylesheets (optional)
 *   logo/logo.<ext>, logo/logo.<locale>.<ext>                 logo, invariant and per locale (AD FS `@{Locale;Path}`)
 *   illustration/illustration.<ext>, …<locale>.<ext>          background illustration, the same way
 *   script/onload.js                                          NOT used (warning): see ONLOAD_WARNING
 *
 * A lone image in logo/ or illustration/ is taken whatever its name; `logo/<locale>/<file>` also names a locale.
 * Files a stylesheet references with a relative url() are checked and served; any other file is ignored with a
 * warning. Everything servable gets a content-hashed name (assets.ts), so pages can cache it for a year.
 *
 * Loading is synchronous and all-or-nothing: the first bad file throws ThemeError naming the file and the reason
 * (startup and `fedgate check` stop on it; the registry keeps the last good version on a bad edit).
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { checkMedia, hashedName, MAX_IMAGE_BYTES, MAX_STYLESHEET_BYTES } from './assets.ts';
import type { ThemeAsset } from './assets.ts';
import { themeContrastWarnings } from './contrast.ts';
import { checkCss } from './css.ts';
import { ThemeError } from './errors.ts';

export { ThemeError } from './errors.ts';
export type { ThemeAsset } from './assets.ts';

export interface LocalisedAsset {
  /** Hashed name of the image for every locale without its own. */
  invariant?: string | undefined;
  /** Lower-case locale (`de`, `de-de`) -> hashed name. */
  byLocale: Readonly<Record<string, string>>;
}

export interface Theme {
  readonly name: string;
  /** Hashed name of css/style.css. */
  readonly stylesheet?: string | undefined;
  /** Hashed name of css/style.rtl.css. */
  readonly rtlStylesheet?: string | undefined;
  readonly logo?: LocalisedAsset | undefined;
  readonly illustration?: LocalisedAsset | undefined;
  /** Hashed name -> asset: everything this theme serves. */
  readonly assets: ReadonlyMap<string, ThemeAsset>;
  /** Things an admin should know (ignored files, the onload script, low contrast); never fatal. */
  readonly warnings: readonly string[];
}

/** Why a theme's script/onload.js is not used (issue 17: "An OnLoadScript equivalent is not offered: say why"). */
export const ONLOAD_WARNING =
  'not used: fedgate has no OnLoadScript equivalent. Its pages run under a strict Content-Security-Policy that ' +
  'allows no inline or administrator-supplied script; a custom script on the sign-in page could read what users ' +
  'type (an XSS vector), so customise with the stylesheet, logo, illustration and web content instead';

/** A theme folder holding more files than this is refused (a theme is a handful of files). */
export const MAX_THEME_FILES = 500;

const LOCALE = /^[a-z]{2,3}(-[a-z0-9]{1,8})*$/i;
const SLOTS = ['logo', 'illustration'] as const;
type Slot = (typeof SLOTS)[number];
/** Files a theme folder may hold that are not part of the theme and need no warning. */
const QUIET = new Set(['web-content.yaml', 'readme.md', 'readme.txt', 'thumbs.db', 'desktop.ini']);

/** One file found in a theme folder: its path relative to the folder (always with '/'), and on disk. */
export interface ThemeFile {
  rel: string;
  abs: string;
}

/** What loading a folder found, for `fedgate theme import` (which copies exactly the files that were used). */
export interface ScannedTheme {
  theme: Theme;
  /** Every file the theme uses: its place in the folder and its canonical place in a fedgate theme folder. */
  used: { source: ThemeFile; target: string }[];
}

function readLimited(file: string, limit: number, what: string): Buffer {
  let body: Buffer;
  try {
    const st = lstatSync(file);
    if (!st.isFile()) throw new ThemeError(file, 'not a regular file');
    if (st.size > limit)
      throw new ThemeError(
        file,
        `${st.size} bytes is larger than the ${limit} bytes (${limit / 1024} KiB) allowed for ${what}`,
      );
    body = readFileSync(file);
  } catch (err) {
    if (err instanceof ThemeError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ThemeError(
      file,
      code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(err)})`,
    );
  }
  // The file may have grown between the stat and the read.
  if (body.length > limit)
    throw new ThemeError(
      file,
      `${body.length} bytes is larger than the ${limit} bytes allowed for ${what}`,
    );
  return body;
}

/**
 * Every file under `dir` (relative paths with '/'), walked with an explicit stack. Dot files are skipped;
 * symbolic links are not followed (a theme is plain files; a link could reach outside the folder).
 */
export function listThemeFiles(dir: string, warnings: string[]): ThemeFile[] {
  const out: ThemeFile[] = [];
  const stack: string[] = [''];
  for (let rel = stack.pop(); rel !== undefined; rel = stack.pop()) {
    const here = rel === '' ? dir : join(dir, rel);
    let entries;
    try {
      entries = readdirSync(here, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ThemeError(
        here,
        code === 'ENOENT'
          ? 'the theme folder does not exist'
          : code === 'ENOTDIR'
            ? 'not a folder'
            : `cannot be read (${code ?? String(err)})`,
      );
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isSymbolicLink()) {
        warnings.push(`${join(dir, childRel)}: ignored (symbolic links are not followed)`);
      } else if (e.isDirectory()) {
        stack.push(childRel);
      } else if (e.isFile()) {
        out.push({ rel: childRel, abs: join(dir, childRel) });
        if (out.length > MAX_THEME_FILES)
          throw new ThemeError(dir, `more than ${MAX_THEME_FILES} files: not a theme folder`);
      }
    }
  }
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot + 1).toLowerCase();
}

/** The locale an image file in logo/ or illustration/ is for: '' invariant, a locale, or undefined (unnamed). */
function localeOf(slot: Slot, rel: string): string | undefined {
  const parts = rel.split('/');
  if (parts.length === 3) {
    const folder = parts[1] ?? '';
    return LOCALE.test(folder) ? folder.toLowerCase() : undefined;
  }
  const base = parts[1] ?? '';
  const stem = base.slice(0, base.length - extensionOf(base).length - 1);
  if (stem.toLowerCase() === slot) return '';
  if (stem.toLowerCase().startsWith(`${slot}.`)) {
    const loc = stem.slice(slot.length + 1);
    if (LOCALE.test(loc)) return loc.toLowerCase();
  }
  return undefined;
}

/** Loads and checks a theme folder; see the module comment. Throws ThemeError naming the file and the reason. */
export function loadTheme(dir: string, name: string): Theme {
  return scanTheme(dir, name).theme;
}

/** loadTheme, also telling which files were used and where they belong in a fedgate theme folder. */
export function scanTheme(dir: string, name: string): ScannedTheme {
  const warnings: string[] = [];
  const files = listThemeFiles(dir, warnings);
  const assets = new Map<string, ThemeAsset>();
  const used: ScannedTheme['used'] = [];
  const usedRel = new Set<string>();
  const byRel = new Map(files.map((f) => [f.rel, f]));
  const add = (a: ThemeAsset): string => {
    assets.set(a.file, a);
    return a.file;
  };
  const use = (f: ThemeFile, target: string): void => {
    if (!usedRel.has(f.rel)) used.push({ source: f, target });
    usedRel.add(f.rel);
  };

  // Stylesheets, and the files their url()s reference (resolved relative to the stylesheet, inside the folder).
  const referenced = new Map<string, string>();
  const stylesheet = (rel: string): string | undefined => {
    const f = byRel.get(rel);
    if (f === undefined) return undefined;
    const body = readLimited(f.abs, MAX_STYLESHEET_BYTES, 'a stylesheet');
    const served = checkCss(f.abs, body, (ref) => {
      const target = resolveRef(dir, f, ref);
      const known = referenced.get(target);
      if (known !== undefined) return known;
      const t = byRel.get(target);
      const abs = join(dir, target);
      if (t === undefined)
        throw new ThemeError(
          f.abs,
          `url(${ref}) refers to ${abs}, which does not exist in the theme folder`,
        );
      let asset: ThemeAsset;
      try {
        asset = checkMedia(
          t.abs,
          extensionOf(t.rel),
          readLimited(t.abs, MAX_IMAGE_BYTES, 'an image'),
          {
            fonts: true,
          },
        );
      } catch (err) {
        if (err instanceof ThemeError)
          throw new ThemeError(err.file, `${err.reason} (referenced from ${f.abs})`);
        throw err;
      }
      use(t, target);
      referenced.set(target, add(asset));
      return asset.file;
    });
    for (const w of themeContrastWarnings(served.toString('utf8'))) warnings.push(`${f.abs}: ${w}`);
    use(f, rel);
    return add({
      file: hashedName(served, 'css'),
      type: 'text/css; charset=utf-8',
      body: served,
    });
  };
  const css = stylesheet('css/style.css');
  const rtl = stylesheet('css/style.rtl.css');

  // Logo and illustration, invariant and per locale.
  const slots: Partial<Record<Slot, LocalisedAsset>> = {};
  for (const slot of SLOTS) {
    // A file a stylesheet also references stays here too (then it keeps its own name in an import).
    const inSlot = files.filter((f) => f.rel.startsWith(`${slot}/`));
    if (inSlot.length === 0) continue;
    const byLocale: Record<string, string> = {};
    let invariant: string | undefined;
    const seen = new Map<string, string>();
    for (const f of inSlot) {
      let loc = localeOf(slot, f.rel);
      if (loc === undefined) {
        if (inSlot.length !== 1)
          throw new ThemeError(
            f.abs,
            `cannot tell which locale this ${slot} is for: name the files ${slot}.<ext> and ${slot}.<locale>.<ext> (e.g. ${slot}.de.png)`,
          );
        loc = '';
      }
      const before = seen.get(loc);
      if (before !== undefined)
        throw new ThemeError(
          f.abs,
          `a second ${loc === '' ? 'invariant' : `"${loc}"`} ${slot} (also ${before}): keep one`,
        );
      seen.set(loc, f.abs);
      const ext = extensionOf(f.rel);
      const asset = checkMedia(f.abs, ext, readLimited(f.abs, MAX_IMAGE_BYTES, 'an image'));
      const file = add(asset);
      use(f, `${slot}/${slot}${loc === '' ? '' : `.${loc}`}.${ext}`);
      if (loc === '') invariant = file;
      else byLocale[loc] = file;
    }
    slots[slot] = { invariant, byLocale: Object.freeze(byLocale) };
  }

  for (const f of files) {
    if (usedRel.has(f.rel)) continue;
    const base = f.rel.split('/').pop()?.toLowerCase() ?? '';
    if (f.rel.startsWith('script/')) warnings.push(`${f.abs}: ${ONLOAD_WARNING}`);
    else if (!(
      QUIET.has(base) &&
      (f.rel === base || base === 'thumbs.db' || base === 'desktop.ini')
    ))
      warnings.push(
        `${f.abs}: ignored (not css/style.css, css/style.rtl.css, logo/ or illustration/, and not referenced from a stylesheet)`,
      );
  }

  const theme: Theme = Object.freeze({
    name,
    stylesheet: css,
    rtlStylesheet: rtl,
    logo: slots.logo,
    illustration: slots.illustration,
    assets,
    warnings: Object.freeze(warnings),
  });
  return { theme, used };
}

/**
 * The folder-relative path a stylesheet's url() target names, or a ThemeError: the target is percent-decoded,
 * its query and fragment dropped (`font.woff2?v=2`, `sprite.svg#icon`), and it must stay inside the theme folder.
 */
function resolveRef(dir: string, from: ThemeFile, ref: string): string {
  let path = ref.replace(/[?#].*$/s, '');
  try {
    path = decodeURIComponent(path);
  } catch {
    throw new ThemeError(from.abs, `url(${ref}) is not a valid URL path`);
  }
  if (path.includes('\\') || path.includes('\u0000'))
    throw new ThemeError(from.abs, `url(${ref}): use "/" in paths`);
  const joined = posix.normalize(posix.join(posix.dirname(from.rel), path));
  if (joined.startsWith('../') || joined === '..' || posix.isAbsolute(joined))
    throw new ThemeError(
      from.abs,
      `url(${ref}) points outside the theme folder ${dir}: only files inside it can be served`,
    );
  return joined;
}

/**
 * The hashed name for `locale`: the exact locale, then each shorter prefix (`de-at` -> `de`), then the invariant
 * one (AD FS: neutral before specific, customised before default; adfs-reference §3).
 */
export function pickLocalised(a: LocalisedAsset | undefined, locale: string): string | undefined {
  if (a === undefined) return undefined;
  let l = locale.trim().toLowerCase().replace(/_/g, '-');
  while (l !== '') {
    const hit = a.byLocale[l];
    if (hit !== undefined && Object.hasOwn(a.byLocale, l)) return hit;
    const dash = l.lastIndexOf('-');
    l = dash < 0 ? '' : l.slice(0, dash);
  }
  return a.invariant;
}
