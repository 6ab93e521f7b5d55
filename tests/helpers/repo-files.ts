/** The repository's own files, for the tests that read the source tree (tests/unit/repo/). */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's root folder. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every file below `dir` whose name matches `name` (node_modules skipped), sorted by path. */
export function filesUnder(dir: string, name: RegExp): string[] {
  const out: string[] = [];
  const todo = [dir];
  for (let d = todo.pop(); d !== undefined; d = todo.pop()) {
    for (const entry of readdirSync(d)) {
      if (entry === 'node_modules') continue;
      const p = join(d, entry);
      if (statSync(p).isDirectory()) todo.push(p);
      else if (name.test(entry)) out.push(p);
    }
  }
  return out.sort();
}
