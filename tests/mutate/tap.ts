/**
 * Names of the failing leaf tests in node's TAP output (`--test-reporter=tap`). Node prints a test's subtests
 * (indented four more spaces) before the test's own `ok`/`not ok` line, so a `not ok` is a leaf when none of the
 * lines just above it at the next depth failed. Names of nested tests are joined with ' > '.
 */
export function failedLeaves(tap: string): string[] {
  const out: string[] = [];
  const childFailed: boolean[] = [];
  const names: string[] = [];
  const subtest: string[] = [];
  for (const line of tap.split('\n')) {
    const sub = /^( *)# Subtest: (.*)$/.exec(line);
    if (sub !== null) {
      const depth = (sub[1] ?? '').length / 4;
      subtest[depth] = sub[2] ?? '';
      subtest.length = depth + 1;
      continue;
    }
    const m = /^( *)(not ok|ok) \d+ - (.*?)(?: # (?:SKIP|TODO).*)?$/.exec(line);
    if (m === null) continue;
    const depth = (m[1] ?? '').length / 4;
    const failed = m[2] === 'not ok';
    const name = (m[3] ?? '').replace(/\\#/g, '#');
    names[depth] = name;
    const hadFailingChild = childFailed[depth + 1] === true;
    childFailed[depth + 1] = false;
    if (failed) {
      childFailed[depth] = true;
      if (!hadFailingChild) out.push([...subtest.slice(0, depth), name].join(' > '));
    }
  }
  return out;
}

/**
 * Tests that started (`# Subtest:`) but never reported a result: what was running when the file hit the
 * runner's timeout (a hung request under a mutant). Innermost first; the file's own entry is included.
 */
export function unfinished(tap: string): string[] {
  const open: { depth: number; name: string }[] = [];
  for (const line of tap.split('\n')) {
    const sub = /^( *)# Subtest: (.*)$/.exec(line);
    if (sub !== null) {
      open.push({ depth: (sub[1] ?? '').length / 4, name: sub[2] ?? '' });
      continue;
    }
    const m = /^( *)(?:not ok|ok) \d+ - /.exec(line);
    if (m === null) continue;
    const depth = (m[1] ?? '').length / 4;
    const i = open.findLastIndex((o) => o.depth === depth);
    if (i >= 0) open.splice(i, 1);
  }
  return open.map((o) => o.name).reverse();
}
