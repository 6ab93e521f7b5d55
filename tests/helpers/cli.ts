/**
 * The fedgate CLI spawned as an operator runs it (`node --import tsx server/cli/main.ts …`): a real process with a
 * minimal environment (PATH and HOME only), so nothing of the test runner's environment reaches the command.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** server/cli/main.ts, for tests that spawn a long-running command (serve) themselves. */
export const cliTs = join(root, 'server/cli/main.ts');
/** The tsx loader as an --import URL, so the spawned node runs the TypeScript sources directly. */
export const tsxLoader = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;

/** Runs `fedgate ARGS` in `cwd` to completion (at most 60 s) and returns its exit status, stdout and stderr. */
export function runCli(args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--import', tsxLoader, cliTs, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
    encoding: 'utf8',
    timeout: 60_000,
  });
}
