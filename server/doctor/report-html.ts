/**
 * `fedgate doctor --html`: one self-contained page an admin attaches to a change ticket (issue 21 "Output").
 *
 * Self-contained and inert: no external resource, no script at all, and a Content-Security-Policy meta that says
 * so (default-src 'none'; the one <style> element allowed by its SHA-256 hash; images only as data: URLs), so the
 * page behaves the same opened from a mail attachment, a ticket system's preview or a file share, and a directory
 * value that slipped through escaping still could not load or run anything.
 *
 * Every directory value (DN, cn, attribute value, proposed update, container, check target and message) is
 * attacker-shaped and is HTML-escaped (`&<>"'`), after its control and bidi characters are made visible (the same
 * `visible()` as the terminal summary) so the page shows what the directory holds rather than a reordered string.
 *
 * The charts are hand-written inline SVG: the page may not run script (its CSP, and ticket systems that strip it),
 * and every charting library draws with script at view time. A bar chart is a handful of <rect>s computed here;
 * each chart is role="img" with <title>/<desc> and is followed by a data table with the same figures (WCAG 1.1.1).
 *
 * Size stays linear in the findings, and the findings table is capped (MAX_FINDING_ROWS, the first ones in report
 * order) so a 100,000-finding directory still opens; the page says how many it shows, and the CSV / JSON files
 * carry them all.
 */
import { createHash } from 'node:crypto';
import { escapeHtml } from '../lib/xml-escape.ts';
import { countByClass, countChecks, visible } from './report-text.ts';
import {
  FEDERATION_CLASSES,
  PLUMBING_AREAS,
  hasErrors,
  type DirectoryFinding,
  type DoctorReport,
} from './types.ts';

/** Rows of the findings table at most; the rest are counted, charted and in --csv / --json. */
export const MAX_FINDING_ROWS = 5000;
/** Bars of the per-OU chart: the 15 containers with most errors, then one "other" bar. */
const TOP_CONTAINERS = 15;

/** Text for HTML content or a quoted attribute: controls made visible, then escaped as every server page is. */
function esc(value: string): string {
  return escapeHtml(visible(value));
}

const fmt = (n: number): string => n.toLocaleString('en-US');
/** `1 group`, `2 groups`. */
const count = (n: number, word: string): string => `${fmt(n)} ${word}${n === 1 ? '' : 's'}`;

const STYLE = `
:root { color-scheme: light; --ink: #1b1b1b; --muted: #4a4a4a; --line: #c8c8c8; --bar: #1f5f99; --err: #9b1c1c;
  --warn: #7a4d00; --ok: #1d6b2f; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
  sans-serif; color: var(--ink); background: #fff; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 2px solid var(--line); }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.verdict { font-weight: 700; padding: .5rem .75rem; border: 2px solid currentColor; display: inline-block;
  margin-top: .75rem; }
.verdict.fail { color: var(--err); }
.verdict.pass { color: var(--ok); }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { border: 1px solid var(--line); padding: .25rem .4rem; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
thead th { background: #eef1f4; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.s-error { color: var(--err); font-weight: 700; }
.s-warning { color: var(--warn); font-weight: 700; }
.s-ok { color: var(--ok); font-weight: 700; }
.s-info { color: var(--muted); font-weight: 700; }
code { font-family: ui-monospace, "Cascadia Mono", Consolas, monospace; font-size: .92em; }
.note { border-left: 4px solid var(--warn); padding: .25rem .75rem; background: #fff8e6; }
svg.chart { width: 100%; height: auto; max-width: 60rem; display: block; }
svg.chart text { font: 12px system-ui, sans-serif; fill: var(--ink); }
svg.chart .bar { fill: var(--bar); }
svg.chart .axis { stroke: var(--muted); stroke-width: 1; }
@media (forced-colors: active) { svg.chart .bar { fill: CanvasText; } svg.chart text { fill: CanvasText; } }
@media print {
  body { max-width: none; font-size: 10pt; padding: 0; }
  h2 { break-after: avoid; }
  thead { display: table-header-group; }
  tr, svg.chart { break-inside: avoid; }
  .note, thead th { background: none; }
  svg.chart .bar { fill: #000; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
`;

interface Bar {
  label: string;
  count: number;
}

/**
 * A horizontal bar chart as inline SVG (role="img", named by its <title>, described by its <desc>). Bars carry
 * data-label / data-count so a test can read them; the labels are shortened to fit, the data table after the
 * chart has them in full.
 */
function barChart(id: string, title: string, bars: readonly Bar[]): string {
  const rowH = 24;
  const labelW = 300;
  const barMax = 360;
  const top = 8;
  const height = top + bars.length * rowH + 8;
  const width = labelW + barMax + 70;
  const max = Math.max(1, ...bars.map((b) => b.count));
  const desc = bars.map((b) => `${b.label}: ${fmt(b.count)}`).join('; ');
  const parts = [
    `<svg class="chart" role="img" aria-labelledby="${id}-t ${id}-d" viewBox="0 0 ${String(width)} ${String(height)}" ` +
      `width="${String(width)}" height="${String(height)}" xmlns="http://www.w3.org/2000/svg">`,
    `<title id="${id}-t">${esc(title)}</title>`,
    `<desc id="${id}-d">${esc(desc)}</desc>`,
    `<line class="axis" x1="${String(labelW)}" y1="${String(top - 4)}" x2="${String(labelW)}" y2="${String(height - 4)}"/>`,
  ];
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const w = b.count === 0 ? 0 : Math.max(1, Math.round((b.count / max) * barMax));
    const short = b.label.length > 44 ? `${b.label.slice(0, 21)}…${b.label.slice(-21)}` : b.label;
    parts.push(
      `<text x="${String(labelW - 6)}" y="${String(y + 15)}" text-anchor="end">${esc(short)}</text>`,
      `<rect class="bar" x="${String(labelW)}" y="${String(y + 3)}" width="${String(w)}" height="16" ` +
        `data-label="${esc(b.label)}" data-count="${String(b.count)}"/>`,
      `<text x="${String(labelW + w + 6)}" y="${String(y + 15)}">${fmt(b.count)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function errorsPerContainer(findings: readonly DirectoryFinding[]): Bar[] {
  const per = new Map<string, number>();
  for (const f of findings) {
    if (f.severity !== 'error') continue;
    per.set(f.container, (per.get(f.container) ?? 0) + 1);
  }
  const sorted = [...per]
    .map(([label, count]) => ({ label, count }))
    .sort((a, b) => b.count - a.count || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  const top = sorted.slice(0, TOP_CONTAINERS);
  const rest = sorted.slice(TOP_CONTAINERS);
  if (rest.length > 0) {
    top.push({
      label: `other (${fmt(rest.length)} containers)`,
      count: rest.reduce((s, b) => s + b.count, 0),
    });
  }
  return top;
}

function statusCell(status: string): string {
  return `<td class="s-${esc(status)}">${esc(status)}</td>`;
}

/** The report as one self-contained HTML page. `maxFindingRows` caps the findings table (default 5,000). */
export function renderHtml(r: DoctorReport, opts: { maxFindingRows?: number } = {}): string {
  const maxRows = Math.max(0, opts.maxFindingRows ?? MAX_FINDING_ROWS);
  const failing = hasErrors(r);
  const perClass = countByClass(r.findings);
  const federation = new Set<string>(FEDERATION_CLASSES);
  const checkCounts = countChecks(r.checks);
  let errors = 0;
  let warnings = 0;
  for (const n of perClass.values()) {
    errors += n.errors;
    warnings += n.warnings;
  }
  const styleHash = createHash('sha256').update(STYLE, 'utf8').digest('base64');
  const csp = `default-src 'none'; style-src 'sha256-${styleHash}'; img-src data:; base-uri 'none'; form-action 'none'`;
  const b: string[] = [];

  b.push(
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="referrer" content="no-referrer">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>fedgate doctor: ${esc(r.hostname)}, ${esc(r.generatedAt)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<header>',
    '<h1>fedgate doctor report</h1>',
    '<dl class="meta">',
    `<dt>Host name</dt><dd>${esc(r.hostname)}</dd>`,
    `<dt>fedgate version</dt><dd>${esc(r.fedgateVersion)}</dd>`,
    `<dt>Configuration file</dt><dd><code>${esc(r.configFile)}</code></dd>`,
    `<dt>Generated at</dt><dd><time datetime="${esc(r.generatedAt)}">${esc(r.generatedAt)}</time></dd>`,
    '</dl>',
    `<p class="verdict ${failing ? 'fail' : 'pass'}" id="verdict">${
      failing
        ? 'Errors present: fix them before federating (fedgate doctor exits with status 1).'
        : 'No errors (fedgate doctor exits with status 0).'
    }</p>`,
    '</header>',
    '<main>',
  );

  // Summary: the scan figures and the counts.
  b.push('<section aria-labelledby="h-summary">', '<h2 id="h-summary">Summary</h2>');
  if (r.scan === undefined) {
    b.push(
      '<p>The directory was not scanned (it is not Active Directory, or it could not be searched).</p>',
    );
  } else {
    const s = r.scan;
    b.push(
      '<dl class="meta" id="scan">',
      `<dt>Search bases</dt><dd>${s.bases.map((x) => `<code>${esc(x)}</code>`).join('<br>')}</dd>`,
      `<dt>Objects</dt><dd>${fmt(s.objects)} (${count(s.users, 'user')}, ${count(s.groups, 'group')}, ${count(s.contacts, 'contact')})</dd>`,
      `<dt>Skipped</dt><dd>${fmt(s.skipped)}</dd>`,
      `<dt>Pages read</dt><dd>${fmt(s.pages)}</dd>`,
      `<dt>Scan time</dt><dd>${(s.elapsedMs / 1000).toFixed(1)} s</dd>`,
      '</dl>',
    );
  }
  b.push(
    `<p id="totals">Directory: <strong>${fmt(errors)}</strong> error${errors === 1 ? '' : 's'} and ` +
      `<strong>${fmt(warnings)}</strong> warning${warnings === 1 ? '' : 's'}. Plumbing: ${fmt(checkCounts.error)} failed, ` +
      `${fmt(checkCounts.warning)} with warnings, ${fmt(checkCounts.ok)} ok, ${fmt(checkCounts.info)} for information.</p>`,
    '</section>',
  );

  // Errors per class: chart and its table.
  const classBars = [...perClass].map(([label, n]) => ({ label, count: n.errors }));
  b.push(
    '<section aria-labelledby="h-classes">',
    '<h2 id="h-classes">Errors per class</h2>',
    barChart('chart-class', 'Directory errors per class', classBars),
    '<table id="table-class">',
    '<caption>Findings per class (IdFix classes, then federation classes)</caption>',
    '<thead><tr><th scope="col">Class</th><th scope="col">Kind</th><th scope="col" class="num">Errors</th>' +
      '<th scope="col" class="num">Warnings</th></tr></thead>',
    '<tbody>',
  );
  for (const [cls, n] of perClass) {
    b.push(
      `<tr><th scope="row">${esc(cls)}</th><td>${federation.has(cls) ? 'federation' : 'IdFix'}</td>` +
        `<td class="num">${fmt(n.errors)}</td><td class="num">${fmt(n.warnings)}</td></tr>`,
    );
  }
  b.push(
    `</tbody><tfoot><tr><th scope="row">Total</th><td></td><td class="num">${fmt(errors)}</td>` +
      `<td class="num">${fmt(warnings)}</td></tr></tfoot>`,
    '</table>',
    '</section>',
  );

  // Errors per OU / container.
  const ouBars = errorsPerContainer(r.findings);
  b.push('<section aria-labelledby="h-ous">', '<h2 id="h-ous">Errors per OU or container</h2>');
  if (ouBars.length === 0) {
    b.push('<p>No directory errors.</p>');
  } else {
    b.push(
      barChart(
        'chart-ou',
        `Directory errors per OU or container (top ${String(TOP_CONTAINERS)}, then the others together)`,
        ouBars,
      ),
      '<table id="table-ou">',
      '<caption>Errors per OU or container</caption>',
      '<thead><tr><th scope="col">OU or container</th><th scope="col" class="num">Errors</th></tr></thead>',
      '<tbody>',
      ...ouBars.map(
        (x) =>
          `<tr><th scope="row"><code>${esc(x.label)}</code></th><td class="num">${fmt(x.count)}</td></tr>`,
      ),
      '</tbody>',
      '</table>',
    );
  }
  b.push('</section>');

  // Plumbing checks, by area.
  b.push('<section aria-labelledby="h-checks">', '<h2 id="h-checks">Plumbing checks</h2>');
  if (r.checks.length === 0) {
    b.push('<p>No plumbing checks were run.</p>');
  } else {
    const areas: string[] = [...PLUMBING_AREAS];
    for (const c of r.checks) if (!areas.includes(c.area)) areas.push(c.area);
    b.push(
      '<table id="table-checks">',
      '<caption>Federation plumbing checks</caption>',
      '<thead><tr><th scope="col">Area</th><th scope="col">Target</th><th scope="col">Check</th>' +
        '<th scope="col">Status</th><th scope="col">Finding</th></tr></thead>',
      '<tbody>',
    );
    for (const area of areas) {
      for (const c of r.checks.filter((x) => x.area === area)) {
        b.push(
          `<tr><td>${esc(c.area)}</td><td><code>${esc(c.target)}</code></td><td>${esc(c.check)}</td>` +
            `${statusCell(c.status)}<td>${esc(c.message)}</td></tr>`,
        );
      }
    }
    b.push('</tbody>', '</table>');
  }
  b.push('</section>');

  // Findings.
  b.push('<section aria-labelledby="h-findings">', '<h2 id="h-findings">Directory findings</h2>');
  if (r.findings.length === 0) {
    b.push('<p>No findings: every object in scope passed.</p>');
  } else {
    const shown = r.findings.slice(0, maxRows);
    if (shown.length < r.findings.length) {
      b.push(
        `<p class="note" id="findings-capped">This page lists the first ${fmt(shown.length)} of ` +
          `${fmt(r.findings.length)} findings, to stay small enough to open and attach. The counts and charts above ` +
          `include all of them; <code>fedgate doctor --csv</code> or <code>--json</code> lists every one.</p>`,
      );
    }
    b.push(
      '<table id="table-findings">',
      `<caption>Directory findings (${fmt(shown.length)} of ${fmt(r.findings.length)})</caption>`,
      '<thead><tr><th scope="col">Severity</th><th scope="col">Class</th><th scope="col">Object</th>' +
        '<th scope="col">Attribute</th><th scope="col">Value</th><th scope="col">Proposed update</th>' +
        '<th scope="col">Detail</th></tr></thead>',
      '<tbody>',
    );
    for (const f of shown) {
      const update =
        f.update === undefined
          ? '<td><em>no automatic fix</em></td>'
          : f.update === ''
            ? '<td><em>remove the value</em></td>'
            : `<td><code>${esc(f.update)}</code></td>`;
      b.push(
        `<tr>${statusCell(f.severity)}<td>${esc(f.class)}</td><td><code>${esc(f.dn)}</code><br>` +
          `${esc(f.objectClass)} ${esc(f.commonName)}</td><td>${esc(f.attribute)}</td>` +
          `<td><code>${esc(f.value)}</code></td>${update}<td>${esc(f.detail)}</td></tr>`,
      );
    }
    b.push('</tbody>', '</table>');
  }
  b.push('</section>', '</main>', '</body>', '</html>', '');
  return b.join('\n');
}
