/**
 * The OAuth application groups of a running server, kept current (issue 19): `fedgate app add|grant|remove` writes
 * files into `oauth.applicationsDir`, and every node takes them in at its next check (every
 * `oauth.reloadIntervalSeconds`), as AD FS applies a cmdlet to the whole farm without a restart. A change is seen by
 * the folder's listing and each file's size, mtime and inode; the new registry is built whole (every rule compiled,
 * every certificate checked, identifiers unique) and swapped in one assignment, so requests in flight keep the
 * registry they hold. A folder that no longer builds keeps the last good registry serving and says why in the log
 * (`applications_reload_failed`), and is tried again at every check.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ApplicationRegistry } from './applications.ts';

/** The folder's state as far as a change goes: names, sizes, mtimes, inodes of the group files. */
export function folderStamp(dir: string): string {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => /\.ya?ml$/i.test(n))
      .sort();
  } catch {
    return 'absent';
  }
  return names
    .map((n) => {
      try {
        const st = statSync(join(dir, n));
        return `${n}:${String(st.size)}:${String(st.mtimeMs)}:${String(st.ino)}`;
      } catch {
        return `${n}:gone`;
      }
    })
    .join('|');
}

export class ApplicationLoader {
  #current: ApplicationRegistry;
  #stamp: string;
  #failed: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #dir: string;
  readonly #build: () => ApplicationRegistry;
  readonly #log: Logger;
  readonly #intervalMs: number;

  /** `build` makes the whole registry (inline groups and the folder's files); the first one must succeed. */
  constructor(o: {
    dir: string;
    build: () => ApplicationRegistry;
    log: Logger;
    intervalSeconds: number;
  }) {
    this.#dir = o.dir;
    this.#build = o.build;
    this.#log = o.log;
    this.#intervalMs = o.intervalSeconds * 1000;
    this.#stamp = folderStamp(o.dir);
    this.#current = o.build();
  }

  get current(): ApplicationRegistry {
    return this.#current;
  }

  /** Takes in a changed folder now; true when a new registry is serving. */
  refresh(): boolean {
    const stamp = folderStamp(this.#dir);
    // Unchanged, or the same folder that failed last time (said once, not at every check).
    if (stamp === this.#stamp || stamp === this.#failed) return false;
    try {
      const next = this.#build();
      this.#current = next;
      this.#stamp = stamp;
      this.#failed = undefined;
      this.#log.info(
        {
          event: 'applications_reloaded',
          clients: next.clients.length,
          webApis: next.webApis.length,
        },
        'application groups reloaded',
      );
      return true;
    } catch (err) {
      // The last good registry serves meanwhile; the folder is tried again as soon as it changes.
      this.#failed = stamp;
      this.#log.warn(
        { event: 'applications_reload_failed', err: { message: (err as Error).message } },
        'application groups not reloaded: the last good ones stay in use',
      );
      return false;
    }
  }

  start(): void {
    if (this.#timer !== undefined || this.#intervalMs <= 0) return;
    this.#timer = setInterval(() => this.refresh(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
