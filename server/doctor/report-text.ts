/**
 * `fedgate doctor`: the terminal summary (issue 21 "Output": a terminal summary with counts per class).
 *
 * A pure function of the report. Every value that came from the directory (DNs, names, attribute values) is
 * attacker-shaped: anyone who can edit their own displayName or proxyAddresses chooses those bytes. Printed raw,
 * an ESC[2J would clear the admin's screen, an OSC 8 would plant a link, a CR would overwrite the line that says
 * "error" and a bidi override (CVE-2021-42574, "Trojan Source") would reorder what the admin reads. So every such
 * value goes through `visible()` first: control characters become printable `\xNN` / `\u{NNNN}` escapes.
 */
import {
  FEDERATION_CLASSES,
  IDFIX_CLASSES,
  PLUMBING_AREAS,
  hasErrors,
  type CheckStatus,
  type DirectoryFinding,
  type DoctorReport,
  type FindingClass,
  type PlumbingCheck,
} from './types.ts';

/**
 * C0 controls, DEL, C1 controls (0x9B is a one-byte CSI on some terminals), and the Unicode format characters that
 * reorder or hide text: bidi embeddings/overrides/isolates, LRM/RLM/ALM, zero-width characters, line and paragraph
 * separators, BOM.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/gu;

/** Makes a directory value safe to print: each unsafe character becomes a visible escape (`\x1B`, `\u{202E}`). */
export function visible(value: string): string {
  return value.replace(UNSAFE, (c) => {
    const code = c.codePointAt(0) ?? 0;
    return code <= 0xff
      ? `\\x${code.toString(16).toUpperCase().padStart(2, '0')}`
      : `\\u{${code.toString(16).toUpperCase()}}`;
  });
}

/** Counts of findings for one class. */
export interface ClassCount {
  errors: number;
  warnings: number;
}

/** Counts per class, every class present (zeros included), IdFix classes first then federation classes. */
export function countByClass(findings: readonly DirectoryFinding[]): Map<FindingClass, ClassCount> {
  const counts = new Map<FindingClass, ClassCount>();
  for (const c of [...IDFIX_CLASSES, ...FEDERATION_CLASSES])
    counts.set(c, { errors: 0, warnings: 0 });
  for (const f of findings) {
    // A class outside the contract (a newer scanner) is still counted rather than dropped.
    let n = counts.get(f.class);
    if (n === undefined) {
      n = { errors: 0, warnings: 0 };
      counts.set(f.class, n);
    }
    if (f.severity === 'error') n.errors++;
    else n.warnings++;
  }
  return counts;
}

/** Counts of plumbing checks per status. */
export function countChecks(checks: readonly PlumbingCheck[]): Record<CheckStatus, number> {
  const n: Record<CheckStatus, number> = { ok: 0, warning: 0, error: 0, info: 0 };
  for (const c of checks) n[c.status] += 1;
  return n;
}

const ANSI = {
  bold: '\u001b[1m',
  red: '\u001b[31m',
  green: '\u001b[32m',
  yellow: '\u001b[33m',
  cyan: '\u001b[36m',
  reset: '\u001b[0m',
} as const;

/** The marks read without colour (a log file, a screen reader, a colour-blind admin): the word carries the meaning. */
const MARK: Record<CheckStatus | 'error-finding' | 'warning-finding', [string, keyof typeof ANSI]> =
  {
    ok: ['[ OK ]', 'green'],
    warning: ['[WARN]', 'yellow'],
    error: ['[FAIL]', 'red'],
    info: ['[INFO]', 'cyan'],
    'error-finding': ['[ERR ]', 'red'],
    'warning-finding': ['[WARN]', 'yellow'],
  };

const DEFAULT_MAX_ROWS = 20;

function plural(n: number, word: string): string {
  return `${String(n)} ${word}${n === 1 ? '' : 's'}`;
}

/** The terminal summary of one doctor run. `maxRows` findings are listed (default 20; 0 lists none). */
export function renderSummary(r: DoctorReport, opts: { color: boolean; maxRows?: number }): string {
  const paint = (text: string, colour: keyof typeof ANSI): string =>
    opts.color ? `${ANSI[colour]}${text}${ANSI.reset}` : text;
  const heading = (text: string): string => paint(text, 'bold');
  const mark = (key: keyof typeof MARK): string => {
    const [text, colour] = MARK[key];
    return paint(text, colour);
  };
  const out: string[] = [];

  out.push(
    heading(`fedgate doctor: ${visible(r.hostname)}`) +
      ` (fedgate ${visible(r.fedgateVersion)}, config ${visible(r.configFile)}, ${visible(r.generatedAt)})`,
  );
  out.push('');

  out.push(heading('Directory scan'));
  if (r.scan === undefined) {
    out.push('  not scanned (the directory is not Active Directory, or it could not be searched)');
  } else {
    const s = r.scan;
    out.push(
      `  ${plural(s.objects, 'object')}: ${plural(s.users, 'user')}, ${plural(s.groups, 'group')}, ` +
        `${plural(s.contacts, 'contact')}; ${String(s.skipped)} skipped; ${plural(s.pages, 'page')}; ` +
        `${(s.elapsedMs / 1000).toFixed(1)} s`,
    );
    for (const base of s.bases) out.push(`  base ${visible(base)}`);
  }
  out.push('');

  const counts = countByClass(r.findings);
  const width = Math.max(...[...counts.keys()].map((k) => k.length), 'total'.length);
  out.push(heading(`${'Findings per class'.padEnd(width + 2)}  errors  warnings`));
  let totalErrors = 0;
  let totalWarnings = 0;
  const idfix = new Set<string>(IDFIX_CLASSES);
  let federationHeader = false;
  for (const [cls, n] of counts) {
    if (!idfix.has(cls) && !federationHeader) {
      out.push('  (federation)');
      federationHeader = true;
    }
    totalErrors += n.errors;
    totalWarnings += n.warnings;
    const line = `  ${visible(cls).padEnd(width)}  ${String(n.errors).padStart(6)}  ${String(n.warnings).padStart(8)}`;
    out.push(n.errors > 0 ? paint(line, 'red') : n.warnings > 0 ? paint(line, 'yellow') : line);
  }
  out.push(
    `  ${'total'.padEnd(width)}  ${String(totalErrors).padStart(6)}  ${String(totalWarnings).padStart(8)}`,
  );
  out.push('');

  out.push(heading('Plumbing checks'));
  if (r.checks.length === 0) out.push('  none run');
  const areas: string[] = [...PLUMBING_AREAS];
  for (const c of r.checks) if (!areas.includes(c.area)) areas.push(c.area);
  for (const area of areas) {
    const inArea = r.checks.filter((c) => c.area === area);
    if (inArea.length === 0) continue;
    out.push(`  ${visible(area)}`);
    for (const c of inArea) {
      const key: CheckStatus = c.status in MARK ? c.status : 'info';
      out.push(`    ${mark(key)} ${visible(c.target)}  ${visible(c.check)}: ${visible(c.message)}`);
    }
  }
  out.push('');

  const maxRows = Math.max(0, opts.maxRows ?? DEFAULT_MAX_ROWS);
  // Errors first (stable: the scan's order within each), so a flood of warnings never hides the errors.
  const shown = [
    ...r.findings.filter((f) => f.severity === 'error'),
    ...r.findings.filter((f) => f.severity !== 'error'),
  ].slice(0, maxRows);
  if (r.findings.length > 0 && maxRows > 0) {
    out.push(
      heading(
        shown.length < r.findings.length
          ? `Findings (first ${String(shown.length)} of ${String(r.findings.length)}; --csv, --html or --json list them all)`
          : `Findings (${String(r.findings.length)})`,
      ),
    );
    for (const f of shown) {
      const update =
        f.update === undefined
          ? 'no automatic fix'
          : f.update === ''
            ? 'fix: remove the value'
            : `fix: "${visible(f.update)}"`;
      out.push(
        `  ${mark(f.severity === 'error' ? 'error-finding' : 'warning-finding')} ${visible(f.class)}  ` +
          `${visible(f.attribute)}  ${visible(f.dn)}`,
      );
      out.push(`         value "${visible(f.value)}"; ${update}`);
    }
    out.push('');
  }

  const checks = countChecks(r.checks);
  const failing = hasErrors(r);
  const closing =
    `Result: ${plural(totalErrors, 'error')} and ${plural(totalWarnings, 'warning')} in the directory; ` +
    `${plural(checks.error, 'check')} failed, ${String(checks.warning)} with warnings. ` +
    (failing
      ? 'Exit status 1: errors present (fix them before federating; a pipeline stops here).'
      : 'Exit status 0: no errors.');
  out.push(paint(closing, failing ? 'red' : 'green'));
  return out.join('\n') + '\n';
}
