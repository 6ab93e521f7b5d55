/**
 * What `fedgate check` says about the pages (issue 17): every catalogue parses (shipped and branding.catalogueDir)
 * and which keys a language lacks (those texts fall back to English), every theme's files pass their checks and its
 * colours meet WCAG AA contrast, and every theme or language the configuration names exists. Problems fail the
 * check (startup would stop on them); warnings are printed.
 */
import { join, resolve } from 'node:path';
import { checkThemes } from '../branding/registry.ts';
import type { Config } from '../config/schema.ts';
import { CatalogueError, Catalogues } from '../i18n/catalogue.ts';
import { packageRoot } from '../lib/paths.ts';

/** At most this many missing keys are named per language (the count is always given). */
const NAMED = 8;

export function checkBranding(c: Config): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const b = c.branding;
  const views = join(packageRoot(), 'views');
  let catalogues: Catalogues | undefined;
  try {
    catalogues = new Catalogues({
      shippedDir: join(views, 'locales'),
      extraDir: b.catalogueDir === undefined ? undefined : resolve(c.baseDir, b.catalogueDir),
      defaultLocale: b.defaultLocale,
    });
  } catch (err) {
    if (!(err instanceof CatalogueError)) throw err;
    problems.push(`branding.catalogueDir: ${err.message}`);
  }
  if (catalogues !== undefined) {
    for (const p of catalogues.problems()) {
      if (p.missing.length > 0)
        warnings.push(
          `catalogue ${p.locale}: ${String(p.missing.length)} keys missing (shown in English): ${p.missing.slice(0, NAMED).join(', ')}${p.missing.length > NAMED ? ', …' : ''}`,
        );
      if (p.unknown.length > 0)
        warnings.push(
          `catalogue ${p.locale}: ${String(p.unknown.length)} keys English does not have (typos?): ${p.unknown.slice(0, NAMED).join(', ')}`,
        );
    }
    if (catalogues.best(b.defaultLocale) === undefined)
      warnings.push(
        `branding.defaultLocale: there is no catalogue for "${b.defaultLocale}"; English is the default`,
      );
    for (const l of b.languages ?? [])
      if (catalogues.best(l) === undefined)
        problems.push(`branding.languages: there is no catalogue for "${l}"`);
  }
  const themes = checkThemes({
    shippedDir: join(views, 'themes', 'default'),
    themesDir: b.themesDir === undefined ? undefined : resolve(c.baseDir, b.themesDir),
    active: b.theme,
  });
  problems.push(...themes.problems);
  warnings.push(...themes.warnings);
  const named: [string, string | undefined][] = [
    ['microsoft365.webTheme', c.microsoft365.webTheme],
    ...c.relyingParties.map((rp, i): [string, string | undefined] => [
      `relyingParties[${String(i)}].webTheme`,
      rp.webTheme,
    ]),
  ];
  for (const [key, name] of named)
    if (name !== undefined && !themes.themes.includes(name))
      problems.push(
        `${key}: the theme "${name}" does not exist (themes: ${themes.themes.join(', ')})`,
      );
  return { problems, warnings };
}
