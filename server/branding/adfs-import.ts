/**
 * `fedgate theme export` and `fedgate theme import` (issue 17: "An admin can start from the shipped theme" and
 * "Import from AD FS"). Both write a plain theme folder that loadTheme accepts as it is.
 *
 * Import reads the folder `Export-AdfsWebTheme -DirectoryPath` wrote (css/, logo/, illustration/, script/), checks
 * it exactly as a fedgate theme is checked (theme.ts), and copies only the files the theme uses, under their
 * canonical names (logo/logo.<locale>.<ext>); script/onload.js is left behind with the warning why. The web content
 * (`Get-AdfsGlobalWebContent | ConvertTo-Json`) becomes the YAML of `branding.webContent` (web-content.ts).
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { ThemeError } from './errors.ts';
import { listThemeFiles, loadTheme, scanTheme } from './theme.ts';
import { parseAdfsWebContent, WebContentError, webContentConfig } from './web-content.ts';

/** A problem the CLI prints as it is (exit status 1). */
export class ThemeImportError extends Error {
  override readonly name = 'ThemeImportError';
}

/** Refuses a folder that exists and holds anything, unless `force`; creates it otherwise. */
export function prepareOutDir(dir: string, force: boolean): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT')
      throw new ThemeImportError(
        `${dir}: cannot be used as the output folder (${code ?? String(err)})`,
      );
  }
  if (entries.length > 0 && !force)
    throw new ThemeImportError(
      `${dir}: the folder is not empty; choose an empty or new folder, or add --force to write over its files`,
    );
  mkdirSync(dir, { recursive: true });
}

/** Copies the shipped theme (every file, as it is) into `outDir`; returns the relative paths written. */
export function exportTheme(shippedDir: string, outDir: string, force: boolean): string[] {
  // Checked first: what is exported must be a theme `fedgate theme check` accepts.
  loadTheme(shippedDir, 'default');
  prepareOutDir(outDir, force);
  const written: string[] = [];
  for (const f of listThemeFiles(shippedDir, [])) {
    const to = join(outDir, ...f.rel.split('/'));
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(f.abs, to);
    written.push(f.rel);
  }
  return written;
}

export interface ImportResult {
  /** Relative paths of the theme files written (empty when no theme folder was given). */
  files: string[];
  /** The YAML for branding.webContent (undefined when no web content was given). */
  yaml?: string | undefined;
  warnings: string[];
}

/**
 * Imports an AD FS theme folder and/or web content JSON into `outDir` (theme files, and web-content.yaml). Throws
 * ThemeError (a theme file, with the reason) or ThemeImportError.
 */
export function importAdfs(o: {
  themeDir?: string | undefined;
  webContentFile?: string | undefined;
  outDir: string;
  force?: boolean | undefined;
}): ImportResult {
  if (o.themeDir === undefined && o.webContentFile === undefined)
    throw new ThemeImportError('give --adfs-theme DIR, --web-content FILE, or both');
  const warnings: string[] = [];
  // Everything is read and checked before anything is written.
  const scanned = o.themeDir === undefined ? undefined : scanTheme(o.themeDir, basename(o.outDir));
  let yaml: string | undefined;
  if (o.webContentFile !== undefined) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(o.webContentFile);
    } catch (err) {
      throw new ThemeImportError(
        `${o.webContentFile}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
    try {
      const imp = parseAdfsWebContent(bytes);
      warnings.push(...imp.warnings.map((w) => `${o.webContentFile ?? ''}: ${w}`));
      yaml =
        `# fedgate configuration from ${basename(o.webContentFile)} (Get-AdfsGlobalWebContent | ConvertTo-Json).\n` +
        '# Merge into fedgate.yaml (under an existing branding: section if there is one).\n' +
        stringify(webContentConfig(imp), { lineWidth: 0 });
    } catch (err) {
      if (err instanceof WebContentError)
        throw new ThemeImportError(`${o.webContentFile}: ${err.message}`);
      throw err;
    }
  }
  if (scanned !== undefined) warnings.push(...scanned.theme.warnings);

  prepareOutDir(o.outDir, o.force === true);
  const files: string[] = [];
  for (const { source, target } of scanned?.used ?? []) {
    const to = join(o.outDir, ...target.split('/'));
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(source.abs, to);
    files.push(target);
  }
  if (yaml !== undefined) writeFileSync(join(o.outDir, 'web-content.yaml'), yaml);
  if (scanned !== undefined) {
    // The written folder is what the admin will deploy: it must load as it is.
    try {
      loadTheme(o.outDir, basename(o.outDir));
    } catch (err) {
      if (err instanceof ThemeError)
        throw new ThemeImportError(`the imported theme does not load: ${err.message}`);
      throw err;
    }
  }
  return { files: files.sort(), yaml, warnings };
}
