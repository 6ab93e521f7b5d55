/**
 * `fedgate theme export|import|list|check|use` (issue 17, "Web theme"): the admin's side of server/branding.
 *
 * - export DIR [--force]: the shipped theme, ready to edit (AD FS: New-AdfsWebTheme -SourceName default, then
 *   Export-AdfsWebTheme);
 * - import --adfs-theme DIR --web-content FILE --out DIR [--force]: an AD FS theme export and web content JSON
 *   into a fedgate theme folder and the YAML of branding.webContent;
 * - list: every theme this configuration loads, with its warnings, and which is active;
 * - check DIR: one folder, checked as startup would (exit 1 on an error);
 * - use NAME: switches the whole farm without a restart, through the shared store (AD FS: Set-AdfsWebConfig
 *   -ActiveThemeName). The memory store lives inside the server process, so there the command cannot reach it and
 *   says what to do instead (exit 2).
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pino } from 'pino';
import { exportTheme, importAdfs, ThemeImportError } from '../branding/adfs-import.ts';
import { ACTIVE_THEME_KEY, DEFAULT_THEME, THEME_NAME } from '../branding/registry.ts';
import { loadTheme, ThemeError, type Theme } from '../branding/theme.ts';
import type { Config } from '../config/schema.ts';
import { systemClock } from '../lib/clock.ts';
import { packageRoot } from '../lib/paths.ts';
import { createStore } from '../stores/index.ts';
import { StoreUnavailableError } from '../stores/redis.ts';

/** A problem the caller prints as it is, with its exit status (1: failed; 2: cannot be done with this setup). */
export class ThemeCliError extends Error {
  override readonly name = 'ThemeCliError';
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

/** What a command prints: standard output (the report) and standard error (warnings). */
export interface ThemeCliOutput {
  stdout: string;
  stderr: string;
}

/** The shipped theme's folder. */
export function shippedThemeDir(): string {
  return join(packageRoot(), 'views', 'themes', DEFAULT_THEME);
}

/**
 * branding.theme and branding.themesDir of the configuration (read without depending on the schema's exact
 * type, so the command works with any configuration that has them), themesDir resolved against the config's
 * folder; `themesDirFlag` (--themes-dir) wins.
 */
export function brandingSettings(
  config: Config,
  themesDirFlag?: string,
): { active: string; themesDir?: string | undefined } {
  const b: unknown = (config as unknown as Record<string, unknown>).branding;
  const rec = typeof b === 'object' && b !== null ? (b as Record<string, unknown>) : {};
  const active = typeof rec.theme === 'string' && rec.theme !== '' ? rec.theme : DEFAULT_THEME;
  const dir =
    themesDirFlag ??
    (typeof rec.themesDir === 'string' && rec.themesDir !== '' ? rec.themesDir : undefined);
  return { active, themesDir: dir === undefined ? undefined : resolve(config.baseDir, dir) };
}

function themeProblem(err: unknown): never {
  if (err instanceof ThemeError) throw new ThemeCliError(err.message);
  if (err instanceof ThemeImportError) throw new ThemeCliError(err.message);
  throw err;
}

function warningLines(warnings: readonly string[]): string {
  return warnings.map((w) => `warning: ${w}\n`).join('');
}

/** `theme export DIR [--force]`. */
export function themeExport(dir: string, opts: { force?: boolean }): ThemeCliOutput {
  const shipped = shippedThemeDir();
  if (!existsSync(shipped))
    throw new ThemeCliError(`the shipped theme is missing from this installation (${shipped})`);
  let files: string[];
  try {
    files = exportTheme(shipped, dir, opts.force === true);
  } catch (err) {
    themeProblem(err);
  }
  return {
    stdout:
      `exported the shipped theme to ${dir} (${files.length} files: ${files.join(', ')}).\n` +
      `Edit it, check it with "fedgate theme check ${dir}", put it in branding.themesDir under a name of your own ` +
      'and switch to it with "fedgate theme use NAME" (or branding.theme).\n',
    stderr: '',
  };
}

/** `theme import [--adfs-theme DIR] [--web-content FILE] --out DIR [--force]`. */
export function themeImport(o: {
  adfsTheme?: string | undefined;
  webContent?: string | undefined;
  out?: string | undefined;
  force?: boolean | undefined;
}): ThemeCliOutput {
  if (o.out === undefined) throw new ThemeCliError('theme import needs --out DIR');
  let r;
  try {
    r = importAdfs({
      themeDir: o.adfsTheme,
      webContentFile: o.webContent,
      outDir: o.out,
      force: o.force,
    });
  } catch (err) {
    themeProblem(err);
  }
  const lines: string[] = [];
  if (o.adfsTheme !== undefined)
    lines.push(
      `# theme: ${r.files.length} files written to ${o.out} (${r.files.join(', ') || 'no files'})`,
      `# put the folder in branding.themesDir as "${basename(o.out)}" and run: fedgate theme use ${basename(o.out)}`,
    );
  if (r.yaml !== undefined)
    lines.push(`# web content: written to ${join(o.out, 'web-content.yaml')}`, r.yaml.trimEnd());
  return { stdout: `${lines.join('\n')}\n`, stderr: warningLines(r.warnings) };
}

/** `theme check DIR`: exit 1 (ThemeCliError) on an error; warnings (contrast included) on standard error. */
export function themeCheck(dir: string): ThemeCliOutput {
  let theme: Theme;
  try {
    theme = loadTheme(dir, basename(resolve(dir)));
  } catch (err) {
    themeProblem(err);
  }
  return {
    stdout: `theme OK: ${dir} (${describe(theme)}; ${theme.warnings.length} warnings)\n`,
    stderr: warningLines(theme.warnings),
  };
}

function describe(t: Theme): string {
  const parts: string[] = [];
  if (t.stylesheet !== undefined) parts.push('stylesheet');
  if (t.rtlStylesheet !== undefined) parts.push('RTL stylesheet');
  for (const [label, a] of [
    ['logo', t.logo],
    ['illustration', t.illustration],
  ] as const) {
    if (a === undefined) continue;
    const locales = Object.keys(a.byLocale);
    parts.push(
      `${label}${a.invariant === undefined ? '' : ' (invariant)'}${locales.length > 0 ? ` [${locales.join(', ')}]` : ''}`,
    );
  }
  return parts.length === 0 ? 'no files: the shipped look' : parts.join(', ');
}

/** `theme list`: the shipped theme and each folder of themesDir, loaded one by one (one broken theme does not hide the others). */
export async function themeList(
  config: Config,
  opts: { themesDir?: string | undefined },
): Promise<ThemeCliOutput> {
  const { active, themesDir } = brandingSettings(config, opts.themesDir);
  const folders: [string, string, boolean][] = [[DEFAULT_THEME, shippedThemeDir(), true]];
  if (themesDir !== undefined) {
    let names: string[];
    try {
      names = readdirSync(themesDir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => e.name)
        .sort();
    } catch (err) {
      throw new ThemeCliError(
        `${themesDir}: the themes folder cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
    for (const n of names) folders.push([n, join(themesDir, n), false]);
  }
  let farm: string | undefined;
  if (config.store.kind === 'redis') farm = await readActive(config);
  const lines: string[] = [];
  let broken = 0;
  for (const [name, dir, shipped] of folders) {
    const mark =
      name === (farm ?? active)
        ? ' (active)'
        : name === active && farm !== undefined
          ? ' (configured)'
          : '';
    if (!shipped && (name === DEFAULT_THEME || !THEME_NAME.test(name))) {
      lines.push(
        `${name}  INVALID: ${dir}: not a usable theme folder name ("default" is the shipped theme's; letters, digits, ".", "_", "-")`,
      );
      broken++;
      continue;
    }
    try {
      const t = loadTheme(dir, name);
      lines.push(`${name}${mark}  ${dir}  ${describe(t)}`);
      for (const w of t.warnings) lines.push(`  warning: ${w}`);
    } catch (err) {
      if (!(err instanceof ThemeError)) throw err;
      lines.push(`${name}${mark}  INVALID: ${err.message}`);
      broken++;
    }
  }
  if (farm !== undefined && farm !== active)
    lines.push(
      `(the farm's active theme "${farm}" was set with "fedgate theme use"; branding.theme says "${active}")`,
    );
  if (broken > 0) throw new ThemeCliError(`${lines.join('\n')}\n${broken} invalid theme(s)`);
  return { stdout: `${lines.join('\n')}\n`, stderr: '' };
}

async function readActive(config: Config): Promise<string | undefined> {
  const store = createStore(config.store, {
    clock: systemClock,
    log: pino({ level: 'silent' }),
    baseDir: config.baseDir,
  });
  try {
    const v = await store.find<unknown>('activeTheme', ACTIVE_THEME_KEY);
    return typeof v === 'string' ? v : undefined;
  } catch (err) {
    if (err instanceof StoreUnavailableError)
      throw new ThemeCliError(`cannot reach the Redis store: ${err.detail ?? err.message}`);
    throw err;
  } finally {
    await store.close();
  }
}

/** `theme use NAME`: writes the farm-wide active theme to the shared store, after checking the theme loads. */
export async function themeUse(
  config: Config,
  name: string,
  opts: { themesDir?: string | undefined },
): Promise<ThemeCliOutput> {
  if (config.store.kind === 'memory')
    throw new ThemeCliError(
      'theme use needs the Redis store: with store.kind memory the active theme lives inside the server process, ' +
        `which this command cannot reach. Set branding.theme: ${name} in the configuration and restart fedgate, ` +
        'or use store.kind redis (then "fedgate theme use" switches every node without a restart).',
      2,
    );
  const { themesDir } = brandingSettings(config, opts.themesDir);
  if (name !== DEFAULT_THEME) {
    if (!THEME_NAME.test(name)) throw new ThemeCliError(`"${name}" is not a theme name`);
    if (themesDir === undefined)
      throw new ThemeCliError(
        `no theme "${name}": branding.themesDir is not set (only the shipped theme "default" exists)`,
      );
    if (!existsSync(join(themesDir, name)))
      throw new ThemeCliError(`no theme "${name}" in ${themesDir}`);
  }
  // The check every node makes before it switches: a theme that does not load is not activated.
  try {
    loadTheme(
      name === DEFAULT_THEME || themesDir === undefined ? shippedThemeDir() : join(themesDir, name),
      name,
    );
  } catch (err) {
    themeProblem(err);
  }
  const store = createStore(config.store, {
    clock: systemClock,
    log: pino({ level: 'silent' }),
    baseDir: config.baseDir,
  });
  try {
    await store.put('activeTheme', ACTIVE_THEME_KEY, name);
  } catch (err) {
    if (err instanceof StoreUnavailableError)
      throw new ThemeCliError(`cannot reach the Redis store: ${err.detail ?? err.message}`);
    throw err;
  } finally {
    await store.close();
  }
  return {
    stdout: `active theme set to "${name}" for the farm: every node switches at its next theme refresh (within seconds)\n`,
    stderr: '',
  };
}
