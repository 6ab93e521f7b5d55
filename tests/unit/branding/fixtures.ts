/** Paths and small builders shared by the branding tests (fixture files: tests/fixtures/branding/README.md). */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/branding/', import.meta.url));

export function fixture(rel: string): Buffer {
  return readFileSync(join(FIXTURES, rel));
}

/** A fresh theme folder in the temp dir holding `files` (relative path -> content), optionally copied from a fixture. */
export function themeDir(files: Record<string, string | Buffer>, from?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-theme-'));
  if (from !== undefined) cpSync(join(FIXTURES, from), dir, { recursive: true });
  for (const [rel, body] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), body);
  }
  return dir;
}
