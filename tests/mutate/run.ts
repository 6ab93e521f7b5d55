/**
 * `npm run mutate`: proves the security tests by removing each defence in turn (issue 14 §3). The checkout is
 * copied ONCE to a temporary directory (tracked and untracked files, node_modules symlinked): /work/main and any
 * other working copy is never modified. For each curated mutant (tests/mutate/mutants.ts) the copy gets the
 * edit, only the mutant's named test files run (node's test runner, TAP, FEDGATE_TEST=1 as tests/run.mjs sets),
 * the file is restored, next. A mutant is killed when a test fails that passed on the unmutated copy.
 *
 * Options: --module <name> (repeatable), --only <id> (repeatable), --list, --keep (leave the copy), --no-baseline.
 * Exit status 1 when any selected mutant survives, 2 when a mutant no longer applies (its snippet moved).
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
import { failedLeaves } from './tap.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const PER_RUN_TIMEOUT_MS = 6 * 60_000;

interface Options {
  modules: string[];
  only: string[];
  list: boolean;
  keep: boolean;
  baseline: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { modules: [], only: [], list: false, keep: false, baseline: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--module') o.modules.push(argv[++i] ?? '');
    else if (a === '--only') o.only.push(argv[++i] ?? '');
    else if (a === '--list') o.list = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--no-baseline') o.baseline = false;
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
  return dir;
}

interface RunResult {
  failed: string[];
  exitCode: number | null;
  timedOut: boolean;
  ms: number;
}

function runTests(dir: string, files: string[]): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        '--test-reporter=tap',
        '--test-concurrency=1',
        '--test-timeout=90000',
        ...files,
      ],
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
      resolve({ failed: failedLeaves(out), exitCode: code, timedOut, ms: Date.now() - started });
    });
  });
}

function apply(dir: string, mu: Mutant): (() => void) | string {
  const originals = new Map<string, string>();
  for (const e of mu.edits) {
    const p = join(dir, e.file);
    const text = originals.get(e.file) ?? readFileSync(p, 'utf8');
    if (!originals.has(e.file)) originals.set(e.file, text);
    const current = readFileSync(p, 'utf8');
    const at = current.indexOf(e.find);
    if (at < 0 || current.indexOf(e.find, at + 1) >= 0)
      return `${e.file}: snippet found ${at < 0 ? 'nowhere' : 'more than once'}: ${JSON.stringify(e.find.slice(0, 80))}`;
    writeFileSync(p, current.slice(0, at) + e.replace + current.slice(at + e.find.length));
  }
  return () => {
    for (const [f, text] of originals) writeFileSync(join(dir, f), text);
  };
}

interface Outcome {
  mutant: Mutant;
  status: 'killed' | 'survived' | 'stale' | 'no-tests';
  killers: string[];
  note?: string;
  ms: number;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  let selected = MUTANTS;
  if (opts.modules.length > 0) selected = selected.filter((x) => opts.modules.includes(x.module));
  if (opts.only.length > 0) selected = selected.filter((x) => opts.only.includes(x.id));
  const ids = new Set<string>();
  for (const x of MUTANTS) {
    if (ids.has(x.id)) throw new Error(`duplicate mutant id ${x.id}`);
    ids.add(x.id);
  }
  if (opts.list) {
    for (const x of selected)
      console.log(`${pad(x.module, 14)} ${pad(x.id, 30)} ${x.corpus.padEnd(14)} ${x.defence}`);
    return;
  }
  if (selected.length === 0) {
    console.error('no mutant selected');
    process.exit(2);
  }

  const dir = copyCheckout();
  console.log(`# copy of the checkout: ${dir}`);
  const outcomes: Outcome[] = [];
  const baselines = new Map<string, Set<string>>();
  try {
    for (const mu of selected) {
      const files = mu.tests.filter((f) => existsSync(join(dir, f)));
      if (files.length === 0) {
        outcomes.push({ mutant: mu, status: 'no-tests', killers: [], ms: 0 });
        continue;
      }
      const key = files.join(' ');
      if (opts.baseline && !baselines.has(key)) {
        const b = await runTests(dir, files);
        baselines.set(key, new Set(b.failed));
        if (b.failed.length > 0 || b.exitCode !== 0)
          console.log(
            `# baseline for ${key}: exit ${String(b.exitCode)}, failing already: ${b.failed.join(' | ') || '(none named)'}`,
          );
      }
      const restore = apply(dir, mu);
      if (typeof restore === 'string') {
        outcomes.push({ mutant: mu, status: 'stale', killers: [], note: restore, ms: 0 });
        console.log(`STALE    ${mu.id}: ${restore}`);
        continue;
      }
      let r: RunResult;
      try {
        r = await runTests(dir, files);
      } finally {
        restore();
      }
      const before = baselines.get(key) ?? new Set<string>();
      const killers = r.failed.filter((t) => !before.has(t));
      // A run that fails without naming a test (a crash on import, a timeout) also kills, but say so.
      const killed = killers.length > 0 || (r.exitCode !== 0 && before.size === 0);
      if (killed && killers.length === 0)
        killers.push(r.timedOut ? '(timed out)' : `(exit ${String(r.exitCode)}, no test named)`);
      const o: Outcome = { mutant: mu, status: killed ? 'killed' : 'survived', killers, ms: r.ms };
      outcomes.push(o);
      console.log(
        `${killed ? 'KILLED  ' : 'SURVIVED'} ${mu.id} (${(r.ms / 1000).toFixed(1)} s)${killed ? ` by ${killers.slice(0, 3).join(' | ')}${killers.length > 3 ? ` (+${killers.length - 3})` : ''}` : ''}`,
      );
    }
  } finally {
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }

  console.log('\n## Per module');
  const modules = [...new Set(outcomes.map((o) => o.mutant.module))];
  console.log(
    `${pad('module', 16)} ${pad('mutants', 8)} ${pad('killed', 7)} ${pad('survived', 9)} score`,
  );
  let survived = 0;
  let stale = 0;
  for (const mod of modules) {
    const os = outcomes.filter((o) => o.mutant.module === mod);
    const k = os.filter((o) => o.status === 'killed').length;
    const s = os.filter((o) => o.status !== 'killed').length;
    survived += os.filter((o) => o.status === 'survived' || o.status === 'no-tests').length;
    stale += os.filter((o) => o.status === 'stale').length;
    console.log(
      `${pad(mod, 16)} ${pad(String(os.length), 8)} ${pad(String(k), 7)} ${pad(String(s), 9)} ${((100 * k) / os.length).toFixed(0)} %`,
    );
  }
  console.log('\n## Per mutant');
  for (const o of outcomes) {
    const what =
      o.status === 'killed'
        ? o.killers.join(' | ')
        : o.status === 'stale'
          ? `STALE: ${o.note ?? ''}`
          : o.status === 'no-tests'
            ? `NO TEST FILE: ${o.mutant.tests.join(', ')}`
            : `SURVIVED (ran ${o.mutant.tests.join(', ')})`;
    console.log(
      `- ${o.mutant.module}/${o.mutant.id} [${o.mutant.corpus}] ${o.mutant.defence}\n    ${what}`,
    );
  }
  const total = outcomes.length;
  const killed = outcomes.filter((o) => o.status === 'killed').length;
  console.log(`\n${killed}/${total} killed, ${survived} survived, ${stale} stale`);
  if (stale > 0) process.exit(2);
  if (survived > 0) process.exit(1);
}

await main();
