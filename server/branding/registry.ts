/**
 * Every theme a node can show, and which one is active (issue 17: "An admin can switch it without a restart").
 *
 * The shipped theme is `default` (views/themes/default); each sub-folder of `branding.themesDir` is a theme named
 * after its folder. At start-up every theme is loaded and checked, and a bad one stops the start naming the file
 * (load()). After that, refresh() runs every few seconds on every node:
 *
 * - the farm-wide active name is read from the ArtifactStore (`fedgate theme use NAME` writes it; NAMESPACES
 *   .activeTheme), so with Redis every node switches within `refreshSeconds`; with no stored name the configured
 *   one is used;
 * - a theme folder whose files changed (name, size or modification time of any file) is loaded again, so an admin
 *   can edit a theme in place. A broken edit is logged with the file and reason and the last good version stays
 *   in service; it is tried again when the files change again.
 *
 * Assets of the version a reload replaced stay servable until the next reload of that theme, so a page rendered
 * just before an edit still gets its stylesheet.
 */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../lib/clock.ts';
import type { ArtifactStore } from '../stores/types.ts';
import { ThemeError } from './errors.ts';
import { loadTheme, MAX_THEME_FILES, type Theme, type ThemeAsset } from './theme.ts';

/** The shipped theme's name; a folder of that name in themesDir is refused (AD FS: `default` is read-only). */
export const DEFAULT_THEME = 'default';
/** The key of the active theme's name in NAMESPACES.activeTheme. */
export const ACTIVE_THEME_KEY = 'active';
/** Theme (folder) names: they appear in logs, the store and the CLI. */
export const THEME_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface ThemeRegistryOptions {
  /** The shipped theme's folder (views/themes/default). */
  shippedDir: string;
  /** Folder whose sub-folders are the admin's themes (branding.themesDir). */
  themesDir?: string | undefined;
  /** The configured active theme (branding.theme); 'default' is the shipped one. */
  active: string;
  store: ArtifactStore;
  clock: Clock;
  log: Logger;
  /** How often start() refreshes (seconds, default 5). */
  refreshSeconds?: number;
}

interface Entry {
  dir: string;
  theme: Theme;
  /** The version a reload replaced: its assets stay servable until the next reload. */
  previous?: Theme | undefined;
  fingerprint: string;
  /** The fingerprint of files that failed to load (not tried again until they change). */
  failed?: string | undefined;
  loadedAt: Date;
}

/** `rel size mtime` of every file under `dir`, sorted: changes whenever a file is added, removed or rewritten. */
function fingerprintOf(names: string[], stat: (n: string) => Stats | undefined): string {
  if (names.length > MAX_THEME_FILES * 4) return `too many files: ${names.length}`;
  const parts: string[] = [];
  for (const n of names.sort()) {
    const st = stat(n);
    if (st === undefined) parts.push(`${n}\u0000gone`);
    else if (st.isFile()) parts.push(`${n}\u0000${st.size}\u0000${st.mtimeMs}`);
    else if (st.isSymbolicLink()) parts.push(`${n}\u0000link`);
  }
  return parts.join('\n');
}

async function fingerprint(dir: string): Promise<string> {
  const names = await readdir(dir, { recursive: true });
  const stats = new Map<string, Stats | undefined>();
  for (const n of names.slice(0, MAX_THEME_FILES * 4 + 1))
    stats.set(n, await lstat(join(dir, n)).catch(() => undefined));
  return fingerprintOf(names, (n) => stats.get(n));
}

function fingerprintSync(dir: string): string {
  return fingerprintOf(readdirSync(dir, { recursive: true }) as string[], (n) => {
    try {
      return lstatSync(join(dir, n));
    } catch {
      return undefined;
    }
  });
}

/**
 * Every problem and warning of every theme, each theme loaded on its own so that one broken theme does not hide
 * another's problems: for `fedgate check`, which reports all of them (startup, ThemeRegistry.load(), stops at the
 * first). A configured active theme that does not exist is a problem too.
 */
export function checkThemes(o: {
  shippedDir: string;
  themesDir?: string | undefined;
  active: string;
}): { themes: string[]; problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const themes: string[] = [];
  const folders: { name: string; dir: string }[] = [{ name: DEFAULT_THEME, dir: o.shippedDir }];
  if (o.themesDir !== undefined) {
    try {
      for (const e of readdirSync(o.themesDir, { withFileTypes: true })) {
        if (!e.isDirectory() || e.name.startsWith('.')) continue;
        const dir = join(o.themesDir, e.name);
        if (e.name === DEFAULT_THEME || !THEME_NAME.test(e.name))
          problems.push(
            `${dir}: not a usable theme folder name ("default" is the shipped theme's; 1 to 64 letters, digits, ".", "_", "-")`,
          );
        else folders.push({ name: e.name, dir });
      }
    } catch (err) {
      problems.push(
        `${o.themesDir}: the themes folder cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
  }
  for (const { name, dir } of folders.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    try {
      const t = loadTheme(dir, name);
      themes.push(name);
      warnings.push(...t.warnings.map((w) => `theme ${name}: ${w}`));
    } catch (err) {
      if (!(err instanceof ThemeError)) throw err;
      problems.push(`theme ${name}: ${err.message}`);
    }
  }
  if (!folders.some((f) => f.name === o.active))
    problems.push(
      `branding.theme: the theme "${o.active}" does not exist (${o.themesDir === undefined ? 'branding.themesDir is not set' : `no folder ${join(o.themesDir, o.active)}`})`,
    );
  return { themes, problems, warnings };
}

export class ThemeRegistry {
  readonly #o: ThemeRegistryOptions;
  readonly #themes = new Map<string, Entry>();
  #assets = new Map<string, ThemeAsset>();
  #active: string;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  /** Names already complained about (unknown active name, failing folder), so a 5 s loop logs each once. */
  readonly #reported = new Set<string>();
  /** Theme folders that appeared after start-up and failed to load, with the fingerprint that failed. */
  readonly #failedNew = new Map<string, string>();

  constructor(o: ThemeRegistryOptions) {
    this.#o = o;
    this.#active = o.active;
  }

  /** Loads every theme; an invalid one, or a configured active name with no theme, throws ThemeError. */
  load(): void {
    this.#themes.clear();
    for (const { name, dir } of this.#folders()) {
      const theme = loadTheme(dir, name);
      this.#themes.set(name, {
        dir,
        theme,
        fingerprint: fingerprintSync(dir),
        loadedAt: this.#o.clock.now(),
      });
      for (const warning of theme.warnings)
        this.#o.log.warn({ event: 'theme_warning', theme: name, warning }, 'theme warning');
    }
    if (!this.#themes.has(this.#o.active))
      throw new ThemeError(
        this.#o.themesDir === undefined ? this.#o.active : join(this.#o.themesDir, this.#o.active),
        `the configured theme "${this.#o.active}" does not exist (themes: ${[...this.#themes.keys()].join(', ')})`,
      );
    this.#active = this.#o.active;
    this.#rebuildAssets();
  }

  /** The shipped theme and every valid folder name in themesDir (synchronous: start-up). */
  #folders(): { name: string; dir: string }[] {
    const out = [{ name: DEFAULT_THEME, dir: this.#o.shippedDir }];
    const root = this.#o.themesDir;
    if (root === undefined) return out;
    let entries;
    try {
      entries = readdirSync(root, { withFileTypes: true });
    } catch (err) {
      throw new ThemeError(
        root,
        `the themes folder cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const dir = join(root, e.name);
      if (e.name === DEFAULT_THEME)
        throw new ThemeError(
          dir,
          `"${DEFAULT_THEME}" is the shipped theme's name: give this theme another folder name`,
        );
      if (!THEME_NAME.test(e.name))
        throw new ThemeError(
          dir,
          'a theme folder name is 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
        );
      out.push({ name: e.name, dir });
    }
    return out;
  }

  #rebuildAssets(): void {
    const next = new Map<string, ThemeAsset>();
    for (const e of this.#themes.values()) {
      for (const [k, v] of e.previous?.assets ?? []) next.set(k, v);
      for (const [k, v] of e.theme.assets) next.set(k, v);
    }
    this.#assets = next;
  }

  /** The active theme. */
  current(): Theme {
    const e = this.#themes.get(this.#active);
    if (e === undefined) throw new Error('ThemeRegistry.load() has not run');
    return e.theme;
  }

  /** A loaded theme by name (per-relying-party themes). */
  byName(name: string): Theme | undefined {
    return this.#themes.get(name)?.theme;
  }

  /** The names of every loaded theme. */
  names(): string[] {
    return [...this.#themes.keys()];
  }

  /** An asset of any loaded theme (or of the version a reload just replaced) by its hashed name. */
  asset(file: string): ThemeAsset | undefined {
    return this.#assets.get(file);
  }

  /** See the module comment. Never throws: problems are logged and the last good state is kept. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    const log = this.#o.log;
    let changed = false;
    try {
      for (const { name, dir } of await this.#foldersNow())
        changed = (await this.#reloadIfChanged(name, dir)) || changed;
    } catch (err) {
      log.error({ event: 'theme_refresh_failed', err }, 'theme refresh failed');
    }
    if (changed) this.#rebuildAssets();

    let wanted: string | undefined;
    try {
      const stored = await this.#o.store.find<unknown>('activeTheme', ACTIVE_THEME_KEY);
      wanted = typeof stored === 'string' ? stored : this.#o.active;
    } catch (err) {
      // Store unreachable: keep showing what we show (reverting to the configured name would flip the farm).
      // Logged once per outage: the store's own client logs the connection state.
      if (!this.#reported.has('store'))
        log.warn({ event: 'theme_store_unreachable', err }, 'cannot read the active theme name');
      this.#reported.add('store');
      return;
    }
    this.#reported.delete('store');
    if (wanted === this.#active) return;
    if (!this.#themes.has(wanted)) {
      if (!this.#reported.has(`unknown:${wanted}`))
        log.error(
          { event: 'theme_unknown', theme: wanted, active: this.#active },
          'the active theme set in the store is not loaded on this node; keeping the current theme',
        );
      this.#reported.add(`unknown:${wanted}`);
      return;
    }
    log.info({ event: 'theme_switched', from: this.#active, to: wanted }, 'active theme switched');
    this.#active = wanted;
  }

  /** The theme folders as they are now (asynchronous; problems logged, never thrown). */
  async #foldersNow(): Promise<{ name: string; dir: string }[]> {
    const out = [{ name: DEFAULT_THEME, dir: this.#o.shippedDir }];
    const root = this.#o.themesDir;
    if (root === undefined) return out;
    let entries;
    try {
      entries = await readdir(root, { withFileTypes: true });
    } catch (err) {
      if (!this.#reported.has('themesDir'))
        this.#o.log.error(
          { event: 'theme_folder_unreadable', dir: root, err },
          'themes folder unreadable; keeping the themes loaded so far',
        );
      this.#reported.add('themesDir');
      return [
        ...out,
        ...[...this.#themes.entries()]
          .filter(([n]) => n !== DEFAULT_THEME)
          .map(([name, e]) => ({ name, dir: e.dir })),
      ];
    }
    this.#reported.delete('themesDir');
    for (const e of entries) {
      if (!e.isDirectory() || e.name.startsWith('.') || e.name === DEFAULT_THEME) continue;
      if (THEME_NAME.test(e.name)) out.push({ name: e.name, dir: join(root, e.name) });
    }
    return out;
  }

  /** Loads `name` again when its files changed; true when a new version is in service. */
  async #reloadIfChanged(name: string, dir: string): Promise<boolean> {
    const log = this.#o.log;
    const entry = this.#themes.get(name);
    let fp: string;
    try {
      fp = await fingerprint(dir);
    } catch (err) {
      const key = `gone:${name}`;
      if (entry !== undefined && !this.#reported.has(key))
        log.error(
          { event: 'theme_folder_unreadable', theme: name, dir, err },
          'theme folder unreadable; keeping the last good version',
        );
      this.#reported.add(key);
      return false;
    }
    this.#reported.delete(`gone:${name}`);
    if (entry !== undefined && (fp === entry.fingerprint || fp === entry.failed)) return false;
    if (entry === undefined && this.#failedNew.get(name) === fp) return false;
    let theme: Theme;
    try {
      theme = loadTheme(dir, name);
    } catch (err) {
      const reason = err instanceof ThemeError ? err.message : String(err);
      log.error(
        {
          event: 'theme_invalid',
          theme: name,
          file: err instanceof ThemeError ? err.file : dir,
          reason,
        },
        entry === undefined
          ? 'new theme refused'
          : 'theme edit refused; keeping the last good version',
      );
      if (entry !== undefined) entry.failed = fp;
      else this.#failedNew.set(name, fp);
      return false;
    }
    for (const warning of theme.warnings)
      log.warn({ event: 'theme_warning', theme: name, warning }, 'theme warning');
    log.info(
      { event: 'theme_loaded', theme: name, dir },
      entry === undefined ? 'new theme loaded' : 'theme reloaded',
    );
    this.#failedNew.delete(name);
    this.#themes.set(name, {
      dir,
      theme,
      previous: entry?.theme,
      fingerprint: fp,
      loadedAt: this.#o.clock.now(),
    });
    return true;
  }

  /** Refreshes every refreshSeconds (an unref'd timer: it never keeps the process alive). */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.refresh(), (this.#o.refreshSeconds ?? 5) * 1000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
