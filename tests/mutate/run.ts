/**
 * `npm run mutate`: proves the security tests by removing each defence in turn (issue 14 §3). The checkout is
 * copied ONCE to a temporary directory (tracked and untracked files, node_modules symlinked): /work/main and any
 * other working copy is never modified. For each curated mutant (tests/mutate/mutants.ts) the copy gets the
 * edit, it is type-checked, each of the mutant's named test files runs on its own (node's test runner, TAP,
 * FEDGATE_TEST=1 as tests/run.mjs sets), the file is restored, next.
 *
 * Verdicts:
 * - killed: a named test that passed on the unmutated copy (the baseline, which must pass) fails;
 * - survived: every named test file still passes;
 * - invalid: the mutant does not type-check, or the only failure is a file that no longer loads / a timeout,
 *   which proves nothing about the tests (a broken build is not a kill);
 * - stale: the mutant's snippet is not found exactly once (the code moved; fix the mutant);
 * - baseline-failed: a named test file fails without any mutant, so nothing can be concluded.
 *
 * Options: --module <name> (repeatable), --only <id> (repeatable), --list, --keep (leave the copy),
 * --no-typecheck. Exit status 2 when any mutant is stale or invalid, else 1 when any survives or a baseline
 * fails, else 0.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MUTANTS, type Mutant } from './mutants.ts';
import { failedLeaves, unfinished } from './tap.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const PER_RUN_TIMEOUT_MS = 6 * 60_000;

interface Options {
  modules: string[];
  only: string[];
  list: boolean;
  keep: boolean;
  typecheck: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { modules: [], only: [], list: false, keep: false, typecheck: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--module') o.modules.push(argv[++i] ?? '');
    else if (a === '--only') o.only.push(argv[++i] ?? '');
    else if (a === '--list') o.list = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--no-typecheck') o.typecheck = false;
    else {
      console.error(`unknown option ${String(a)}`);
      process.exit(2);
    }
  }
  return o;
}

/** Tracked plus untracked (not ignored) files of the checkout, as they are on disk now. */
function copyCheckout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-mutate-'));
  const ls = spawnSync('git', ['ls-files', '-z', '-c', '-o', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (ls.status !== 0) throw new Error(`git ls-files failed: ${ls.stderr}`);
  for (const f of ls.stdout.split('\0')) {
    if (f === '' || !existsSync(join(root, f))) continue; // deleted in the work tree
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(root, f), join(dir, f), { dereference: false });
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  // Type-check only server code (what mutants edit), incrementally so each mutant costs one file's worth.
  // Unused locals and unreachable code are lint-level: a mutant that leaves a variable unused still builds.
  writeFileSync(
    join(dir, 'tsconfig.mutate.json'),
    JSON.stringify({
      extends: './tsconfig.json',
      compilerOptions: {
        noEmit: true,
        incremental: true,
        tsBuildInfoFile: '.mutate.tsbuildinfo',
        noUnusedLocals: false,
        noUnusedParameters: false,
        allowUnreachableCode: true,
      },
      include: ['server/**/*.ts'],
    }),
  );
  return dir;
}

function typecheck(dir: string): string | undefined {
  const r = spawnSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.mutate.json'],
    { cwd: dir, encoding: 'utf8' },
  );
  if (r.status === 0) return undefined;
  return (r.stdout + r.stderr)
    .split('\n')
    .filter((l) => l.includes('error TS'))
    .slice(0, 3)
    .join(' / ');
}

interface RunResult {
  /** Failing leaf tests, excluding file-level failures. */
  failed: string[];
  /** The file itself failed with no failing test inside it (did not load, crashed outside a test). */
  fileLevel: boolean;
  exitCode: number | null;
  timedOut: boolean;
  ms: number;
}

function runFile(dir: string, file: string): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=tap', '--test-timeout=90000', file],
      { cwd: dir, env: { ...process.env, FEDGATE_TEST: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', () => undefined);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, PER_RUN_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const leaves = failedLeaves(out);
      // Node names a file that failed outside any test after the file itself.
      const isFile = (t: string): boolean => t === file || t.endsWith(`/${file}`);
      // A test still running when node's per-file timeout fired hung under the mutant (no answer to the
      // request it sent): that test failed, it did not load-fail.
      const hung = /failureType: 'testTimeoutFailure'/.test(out)
        ? unfinished(out)
            .filter((t) => !isFile(t))
            .slice(0, 1)
            .map((t) => `${t} (hung: timed out)`)
        : [];
      resolve({
        failed: [...leaves.filter((t) => !isFile(t)), ...hung],
        fileLevel: leaves.some(isFile) || (code !== 0 && leaves.length === 0),
        exitCode: code,
        timedOut,
        ms: Date.now() - started,
      });
    });
  });
}

function apply(dir: string, mu: Mutant): (() => void) | string {
  const originals = new Map<string, string>();
  const restore = (): void => {
    for (const [f, text] of originals) writeFileSync(join(dir, f), text);
  };
  for (const e of mu.edits) {
    const p = join(dir, e.file);
    if (!existsSync(p)) {
      restore();
      return `${e.file}: no such file`;
    }
    const current = readFileSync(p, 'utf8');
    if (!originals.has(e.file)) originals.set(e.file, current);
    const at = current.indexOf(e.find);
    if (at < 0 || current.indexOf(e.find, at + 1) >= 0) {
      restore();
      return `${e.file}: snippet found ${at < 0 ? 'nowhere' : 'more than once'}: ${JSON.stringify(e.find.slice(0, 80))}`;
    }
    writeFileSync(p, current.slice(0, at) + e.replace + current.slice(at + e.find.length));
  }
  return restore;
}

type Status = 'killed' | 'survived' | 'stale' | 'invalid' | 'baseline-failed';

interface Outcome {
  mutant: Mutant;
  status: Status;
  /** test file -> failing tests in it */
  killers: Map<string, string[]>;
  note?: string;
  ms: number;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

async function judge(
  dir: string,
  mu: Mutant,
  opts: Options,
  baseline: (file: string) => Promise<RunResult>,
): Promise<Outcome> {
  const killers = new Map<string, string[]>();
  const missing = mu.tests.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0 || mu.tests.length === 0)
    return {
      mutant: mu,
      status: 'stale',
      killers,
      note: `no test file ${missing.join(', ')}`,
      ms: 0,
    };
  for (const f of mu.tests) {
    const b = await baseline(f);
    if (b.failed.length > 0 || b.fileLevel || b.exitCode !== 0)
      return {
        mutant: mu,
        status: 'baseline-failed',
        killers,
        note: `${f} fails without the mutant: ${b.failed.join(' | ') || `exit ${String(b.exitCode)}`}`,
        ms: 0,
      };
  }
  const restore = apply(dir, mu);
  if (typeof restore === 'string')
    return { mutant: mu, status: 'stale', killers, note: restore, ms: 0 };
  const started = Date.now();
  try {
    if (opts.typecheck) {
      const err = typecheck(dir);
      if (err !== undefined)
        return {
          mutant: mu,
          status: 'invalid',
          killers,
          note: `does not type-check: ${err}`,
          ms: 0,
        };
    }
    const broken: string[] = [];
    for (const f of mu.tests) {
      const r = await runFile(dir, f);
      if (r.failed.length > 0) killers.set(f, r.failed);
      else if (r.timedOut) broken.push(`${f}: timed out`);
      else if (r.fileLevel) broken.push(`${f}: failed outside any test (load error or crash)`);
    }
    const ms = Date.now() - started;
    if (killers.size > 0) return { mutant: mu, status: 'killed', killers, ms };
    if (broken.length > 0)
      return { mutant: mu, status: 'invalid', killers, note: broken.join('; '), ms };
    return { mutant: mu, status: 'survived', killers, ms };
  } finally {
    restore();
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const ids = new Set<string>();
  for (const x of MUTANTS) {
    if (ids.has(x.id)) throw new Error(`duplicate mutant id ${x.id}`);
    ids.add(x.id);
  }
  const known = new Set(MUTANTS.map((x) => x.module));
  for (const mod of opts.modules)
    if (!known.has(mod)) {
      console.error(`unknown module ${mod}; modules: ${[...known].join(', ')}`);
      process.exit(2);
    }
  for (const id of opts.only)
    if (!ids.has(id)) {
      console.error(`unknown mutant ${id}`);
      process.exit(2);
    }
  let selected = MUTANTS;
  if (opts.modules.length > 0) selected = selected.filter((x) => opts.modules.includes(x.module));
  if (opts.only.length > 0) selected = selected.filter((x) => opts.only.includes(x.id));
  if (opts.list) {
    for (const x of selected)
      console.log(
        `${pad(x.module, 14)} ${pad(x.id, 30)} ${pad(x.corpus, 14)} ${x.defence}\n${' '.repeat(15)}tests: ${x.tests.join(', ')}`,
      );
    return;
  }
  if (selected.length === 0) {
    console.error('no mutant selected');
    process.exit(2);
  }

  const dir = copyCheckout();
  console.log(`# copy of the checkout: ${dir}`);
  const baselines = new Map<string, Promise<RunResult>>();
  const baseline = (f: string): Promise<RunResult> => {
    let b = baselines.get(f);
    if (b === undefined) {
      b = runFile(dir, f);
      baselines.set(f, b);
    }
    return b;
  };
  const outcomes: Outcome[] = [];
  try {
    if (opts.typecheck) {
      const err = typecheck(dir);
      if (err !== undefined) throw new Error(`the unmutated copy does not type-check: ${err}`);
    }
    for (const mu of selected) {
      const o = await judge(dir, mu, opts, baseline);
      outcomes.push(o);
      const by = [...o.killers].map(([f, ts]) => `${f} (${String(ts.length)})`).join(', ');
      console.log(
        `${pad(o.status.toUpperCase(), 9)} ${mu.id} (${(o.ms / 1000).toFixed(1)} s)${by === '' ? '' : ` by ${by}`}${o.note === undefined ? '' : `: ${o.note}`}`,
      );
    }
  } finally {
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }

  console.log('\n## Per module');
  console.log(
    `${pad('module', 14)} ${pad('mutants', 8)} ${pad('killed', 7)} ${pad('survived', 9)} ${pad('other', 6)} score  killing test files`,
  );
  const modules = [...new Set(outcomes.map((o) => o.mutant.module))];
  for (const mod of modules) {
    const os = outcomes.filter((o) => o.mutant.module === mod);
    const k = os.filter((o) => o.status === 'killed').length;
    const s = os.filter((o) => o.status === 'survived').length;
    const files = [...new Set(os.flatMap((o) => [...o.killers.keys()]))];
    console.log(
      `${pad(mod, 14)} ${pad(String(os.length), 8)} ${pad(String(k), 7)} ${pad(String(s), 9)} ${pad(String(os.length - k - s), 6)} ${pad(`${((100 * k) / os.length).toFixed(0)} %`, 6)} ${files.join(', ')}`,
    );
  }
  console.log('\n## Per mutant');
  for (const o of outcomes) {
    console.log(`- ${o.mutant.module}/${o.mutant.id} [${o.mutant.corpus}] ${o.mutant.defence}`);
    if (o.status === 'killed')
      for (const [f, ts] of o.killers) for (const t of ts) console.log(`    killed by ${f}: ${t}`);
    else if (o.status === 'survived')
      console.log(`    SURVIVED (ran ${o.mutant.tests.join(', ')})`);
    else console.log(`    ${o.status.toUpperCase()}: ${o.note ?? ''}`);
  }
  const count = (s: Status): number => outcomes.filter((o) => o.status === s).length;
  console.log(
    `\n${String(count('killed'))}/${String(outcomes.length)} killed, ${String(count('survived'))} survived, ` +
      `${String(count('invalid'))} invalid, ${String(count('stale'))} stale, ${String(count('baseline-failed'))} baseline-failed`,
  );
  if (count('stale') > 0 || count('invalid') > 0) process.exit(2);
  if (count('survived') > 0 || count('baseline-failed') > 0) process.exit(1);
}

await main();
