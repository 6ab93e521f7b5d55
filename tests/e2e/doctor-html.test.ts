/**
 * `fedgate doctor --html` (server/doctor/report-html.ts) in real headless Chromium, loaded from a file: URL (as an
 * admin opens an attachment) and from a routed https: URL (as a ticket system serves it), every request the page
 * makes recorded:
 * - it makes none (self-contained: no font, image, style or script from anywhere), and its CSP meta refuses a
 *   resource even if one were added;
 * - axe-core (WCAG 2.2 AA tags, as tests/e2e/a11y-browser.test.ts) finds no violation;
 * - the SVG bars and the data tables show the report's counts, computed here independently from the fixture;
 * - directory values shaped as HTML (`<img src=x onerror=…>`, `<script>`, attribute breakouts) show as text and run
 *   nothing: no dialog, no request, no element of theirs in the DOM;
 * - a generated 10,000-finding report opens, its size is linear in the findings and its table is capped with a note.
 * Sizes and load times are printed as diagnostics, never asserted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { renderHtml } from '../../server/doctor/report-html.ts';
import {
  FEDERATION_CLASSES,
  IDFIX_CLASSES,
  type DirectoryFinding,
  type DoctorReport,
  type FindingClass,
} from '../../server/doctor/types.ts';
import { launchChromium } from '../helpers/browser.ts';
import { doctorFinding, doctorReportHeader } from '../helpers/doctor-report.ts';

const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const ROUTED = 'https://doctor-report.invalid/report.html';
const BASE = 'DC=corp,DC=example,DC=test';

/** Directory values an attacker can set on their own account, each trying to become markup. */
const HOSTILE = [
  "<img src=x onerror=\"alert('img');fetch('https://attacker.invalid/img')\">",
  '<script>alert("script");fetch("https://attacker.invalid/script")</script>',
  '"><svg onload=alert("attr")>',
  "'><iframe src=https://attacker.invalid/frame></iframe>",
  '</code></td></tr></table><img src="https://attacker.invalid/break">',
  '</style><style>body{background:url(https://attacker.invalid/css)}</style>',
  '<a href="javascript:alert(1)">click</a>',
];

function finding(over: Partial<DirectoryFinding>): DirectoryFinding {
  return doctorFinding(`OU=doctor-html,${BASE}`, over);
}

function report(findings: DirectoryFinding[], over: Partial<DoctorReport> = {}): DoctorReport {
  return {
    ...doctorReportHeader(),
    scan: {
      bases: [BASE],
      objects: 10234,
      users: 10001,
      groups: 230,
      contacts: 3,
      skipped: 17,
      pages: 11,
      elapsedMs: 4321,
    },
    findings,
    checks: [
      {
        area: 'domain-controller',
        target: 'ldaps://dc1.corp.example.test:636',
        check: 'ldaps-certificate',
        status: 'error',
        message: 'The certificate expired 3 days ago.',
      },
      {
        area: 'domain-controller',
        target: 'ldaps://dc1.corp.example.test:636',
        check: 'clock-skew',
        status: 'ok',
        message: 'Clock skew 0.4 s.',
      },
      {
        area: 'policy',
        target: 'AD lockout threshold',
        check: 'lockout-threshold',
        status: 'warning',
        message: 'AD locks after 5 attempts, fedgate after 10.',
      },
      {
        area: 'store',
        target: 'redis://127.0.0.1:6379',
        check: 'persistence',
        status: 'info',
        message: 'appendonly yes.',
      },
    ],
    ...over,
  };
}

/** The small report: the seeded directory's kinds of finding, in two OUs, plus hostile values everywhere. */
function smallReport(): DoctorReport {
  const sales = `OU=Sales,OU=doctor-html,${BASE}`;
  const findings: DirectoryFinding[] = [
    finding({}),
    finding({
      dn: `CN=umlaut1,OU=doctor-html,${BASE}`,
      value: 'jürgen@contoso.com',
      update: 'jurgen@contoso.com',
    }),
    finding({
      class: 'topleveldomain',
      value: 'localupn@corp.local',
      update: 'localupn@contoso.com',
    }),
    finding({ class: 'upn-suffix-not-federated', value: 'localupn@corp.local', update: undefined }),
    finding({
      container: sales,
      attribute: 'proxyAddresses',
      class: 'duplicate',
      value: 'smtp:shared@contoso.com',
      update: undefined,
      multiValued: true,
    }),
    finding({
      container: sales,
      attribute: 'proxyAddresses',
      class: 'duplicate',
      value: 'smtp:shared@contoso.com',
      update: undefined,
      multiValued: true,
    }),
    finding({
      container: sales,
      attribute: 'mail',
      class: 'blank',
      value: '',
      update: 'blankmail1@contoso.com',
    }),
    finding({
      attribute: 'mS-DS-ConsistencyGuid',
      class: 'source-anchor-missing',
      severity: 'warning',
      value: '',
      update: undefined,
    }),
  ];
  HOSTILE.forEach((h, i) =>
    findings.push(
      finding({
        dn: `CN=${h},OU=doctor-html,${BASE}`,
        commonName: h,
        container: `OU=${h},${BASE}`,
        attribute: 'displayName',
        class: i % 2 === 0 ? 'character' : 'length',
        value: h,
        update: h,
        detail: h,
      }),
    ),
  );
  return report(findings, { hostname: `sts.contoso.com ${HOSTILE[0] ?? ''}` });
}

/** A generated report of `n` findings over 40 OUs with uneven weights (so the top 15 and "other" are distinct). */
function largeReport(n: number): DoctorReport {
  const classes: FindingClass[] = [...IDFIX_CLASSES, ...FEDERATION_CLASSES];
  const findings: DirectoryFinding[] = [];
  for (let i = 0; i < n; i++) {
    // A pseudo-uniform x in [0, 1), squared: low-numbered OUs get more findings, every OU gets some.
    const x = ((i * 7919) % 1000) / 1000;
    const ouIndex = Math.floor(40 * x * x);
    const ou = `OU=Dept${String(ouIndex).padStart(2, '0')},OU=People,${BASE}`;
    const cls = classes[i % classes.length] ?? 'character';
    findings.push(
      finding({
        dn: `CN=user${String(i)},${ou}`,
        commonName: `user${String(i)}`,
        container: ou,
        class: cls,
        severity: cls === 'source-anchor-missing' ? 'warning' : 'error',
        value: `user ${String(i)}@contoso.com`,
        update: i % 3 === 0 ? undefined : `user${String(i)}@contoso.com`,
      }),
    );
  }
  return report(findings);
}

/** Errors per class and per container, counted here from the fixture (not by fedgate's code). */
function expectedCounts(r: DoctorReport): {
  perClass: Map<string, { errors: number; warnings: number }>;
  perOu: { label: string; count: number }[];
} {
  const perClass = new Map<string, { errors: number; warnings: number }>();
  for (const c of [...IDFIX_CLASSES, ...FEDERATION_CLASSES])
    perClass.set(c, { errors: 0, warnings: 0 });
  const ou = new Map<string, number>();
  for (const f of r.findings) {
    const n = perClass.get(f.class);
    assert.ok(n);
    if (f.severity === 'error') {
      n.errors++;
      ou.set(f.container, (ou.get(f.container) ?? 0) + 1);
    } else n.warnings++;
  }
  const sorted = [...ou].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const perOu = sorted.slice(0, 15).map(([label, count]) => ({ label, count }));
  const rest = sorted.slice(15);
  if (rest.length > 0)
    perOu.push({
      label: `other (${String(rest.length)} containers)`,
      count: rest.reduce((s, [, c]) => s + c, 0),
    });
  return { perClass, perOu };
}

interface Opened {
  ctx: BrowserContext;
  page: Page;
  /** Every request the page attempted after the document itself (a request its CSP blocks included). */
  requests: string[];
  /** Requests that got past the browser's own checks to the network layer (the context's route). */
  network: string[];
  /** Failed requests and Chromium's reason. */
  failed: string[];
  dialogs: string[];
  consoleErrors: string[];
  loadMs: number;
}

let browser: Browser;
let dir: string;

/** Opens the HTML from a file: URL or from a routed https: URL, recording every request, dialog and console error. */
async function open(html: string, via: 'file' | 'route'): Promise<Opened> {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const requests: string[] = [];
  const dialogs: string[] = [];
  const consoleErrors: string[] = [];
  const network: string[] = [];
  const failed: string[] = [];
  let url: string;
  if (via === 'file') {
    const file = join(dir, `report-${String(Date.now())}-${String(Math.random()).slice(2)}.html`);
    writeFileSync(file, html);
    url = pathToFileURL(file).href;
  } else {
    url = ROUTED;
  }
  // Every network request of the context passes here: the routed report is served, anything else is recorded and
  // refused (nothing leaves the machine whatever the page does).
  await ctx.route('**/*', async (route) => {
    if (route.request().url() === url) {
      if (via === 'route')
        await route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
      else await route.continue();
    } else {
      network.push(route.request().url());
      await route.abort('blockedbyclient');
    }
  });
  ctx.on('request', (r) => {
    if (r.url() !== url) requests.push(r.url());
  });
  ctx.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  const t0 = performance.now();
  await page.goto(url, { waitUntil: 'load' });
  const loadMs = performance.now() - t0;
  return { ctx, page, requests, network, failed, dialogs, consoleErrors, loadMs };
}

before(async () => {
  browser = await launchChromium();
  dir = mkdtempSync(join(tmpdir(), 'fedgate-doctor-html-'));
});

after(async () => {
  await browser.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('doctor --html in Chromium', () => {
  for (const via of ['file', 'route'] as const) {
    test(`from a ${via === 'file' ? 'file: URL' : 'routed https: URL'}: no request, no violation, CSP meta, counts shown`, async (t) => {
      const r = smallReport();
      const html = renderHtml(r);
      const o = await open(html, via);
      try {
        await t.test('no request at all, nothing refused, no script error', () => {
          assert.deepEqual(o.requests, []);
          assert.deepEqual(o.network, []);
          assert.deepEqual(o.consoleErrors, []);
        });

        await t.test('a strict CSP meta, and the one style element applies under it', async () => {
          const csp = await o.page.getAttribute(
            'meta[http-equiv="Content-Security-Policy"]',
            'content',
          );
          assert.ok(csp !== null, 'CSP meta present');
          const directives = new Map(
            csp.split(';').map((d) => {
              const [name = '', ...values] = d.trim().split(/\s+/);
              return [name, values.join(' ')];
            }),
          );
          assert.equal(directives.get('default-src'), "'none'");
          assert.match(directives.get('style-src') ?? '', /^'sha256-[A-Za-z0-9+/]+=*'$/);
          assert.equal(directives.get('img-src'), 'data:');
          assert.equal(
            directives.has('script-src'),
            false,
            'no script source: default-src none applies',
          );
          assert.equal(await o.page.locator('script').count(), 0, 'no script element');
          assert.equal(await o.page.locator('style').count(), 1);
          assert.equal(await o.page.locator('link, iframe, object, embed, img').count(), 0);
          // The stylesheet applied (a refused one would leave SVG's default black fill).
          const fill = await o.page.evaluate(() => {
            const bar = document.querySelector('svg.chart rect.bar');
            return bar === null ? '' : getComputedStyle(bar).fill;
          });
          assert.equal(fill, 'rgb(31, 95, 153)');
        });

        await t.test('axe-core: no violations', async () => {
          const results = await new AxeBuilder({ page: o.page }).withTags(TAGS).analyze();
          assert.deepEqual(
            results.violations.map(
              (v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(' | ')}`,
            ),
            [],
          );
          assert.ok(results.passes.length > 0, 'axe checked something');
        });

        await t.test(
          "the per-class chart's bars and its data table show the report's counts",
          async () => {
            const want = expectedCounts(r);
            const bars = await o.page.$$eval(
              'svg.chart[aria-labelledby^="chart-class"] rect.bar',
              (rects) =>
                rects.map((b) => ({
                  label: b.getAttribute('data-label'),
                  count: Number(b.getAttribute('data-count')),
                  width: Number(b.getAttribute('width')),
                  drawn: (b as SVGGraphicsElement).getBBox().width,
                })),
            );
            assert.deepEqual(
              bars.map((b) => [b.label, b.count]),
              [...want.perClass].map(([c, n]) => [c, n.errors]),
            );
            const max = Math.max(...bars.map((b) => b.count));
            for (const b of bars) {
              assert.equal(
                b.width,
                b.count === 0 ? 0 : Math.max(1, Math.round((b.count / max) * 360)),
                String(b.label),
              );
              assert.equal(b.drawn > 0, b.count > 0, `${String(b.label)} drawn`);
            }
            const rows = await o.page.$$eval('#table-class tbody tr', (trs) =>
              trs.map((tr) => Array.from(tr.querySelectorAll('th, td'), (c) => c.textContent)),
            );
            assert.deepEqual(
              rows,
              [...want.perClass].map(([c, n]) => [
                c,
                (FEDERATION_CLASSES as readonly string[]).includes(c) ? 'federation' : 'IdFix',
                String(n.errors),
                String(n.warnings),
              ]),
            );
            const title = await o.page.textContent(
              'svg.chart[aria-labelledby^="chart-class"] title',
            );
            assert.equal(title, 'Directory errors per class');
            assert.equal(
              await o.page.getAttribute('svg.chart[aria-labelledby^="chart-class"]', 'role'),
              'img',
            );
          },
        );

        await t.test(
          'the per-OU chart and table: errors per container, full names, top first',
          async () => {
            const want = expectedCounts(r).perOu;
            const bars = await o.page.$$eval(
              'svg.chart[aria-labelledby^="chart-ou"] rect.bar',
              (rects) =>
                rects.map((b) => ({
                  label: b.getAttribute('data-label'),
                  count: Number(b.getAttribute('data-count')),
                })),
            );
            assert.deepEqual(bars, want);
            const rows = await o.page.$$eval('#table-ou tbody tr', (trs) =>
              trs.map((tr) => ({
                label: tr.querySelector('th')?.textContent ?? null,
                count: Number(tr.querySelector('td')?.textContent),
              })),
            );
            assert.deepEqual(rows, want);
          },
        );

        await t.test('hostile directory values show as text and run nothing', async () => {
          assert.deepEqual(o.dialogs, []);
          assert.deepEqual(o.requests, []);
          // Nothing of theirs became an element or an event handler.
          const planted = await o.page.evaluate(
            () =>
              document.querySelectorAll(
                'img, script, iframe, a, svg:not(.chart), [onerror], [onload], [href], body style',
              ).length,
          );
          assert.equal(planted, 0);
          const rows = await o.page.$$eval('#table-findings tbody tr', (trs) =>
            trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)),
          );
          assert.equal(rows.length, r.findings.length);
          for (const h of HOSTILE) {
            const row = rows.find((cells) => cells[4] === h);
            assert.ok(row, `value shown as text: ${h}`);
            assert.ok(row[2]?.startsWith(`CN=${h},`), 'the DN as text');
            assert.equal(row[5], h, 'the update as text');
            assert.equal(row[6], h, 'the detail as text');
          }
          const ous = await o.page.$$eval('#table-ou tbody th', (ths) =>
            ths.map((th) => th.textContent),
          );
          for (const h of HOSTILE)
            assert.ok(ous.includes(`OU=${h},${BASE}`), `container as text: ${h}`);
          assert.ok(
            (await o.page.title()).includes(HOSTILE[0] ?? '?'),
            'the hostname in the title, as text',
          );
          const bodyBackground = await o.page.evaluate(
            () => getComputedStyle(document.body).backgroundImage,
          );
          assert.equal(bodyBackground, 'none');
        });

        await t.test('header, plumbing checks and print', async () => {
          const meta = await o.page.$$eval('header dl dd', (dds) => dds.map((d) => d.textContent));
          assert.deepEqual(meta, [
            `sts.contoso.com ${HOSTILE[0] ?? ''}`,
            '1.4.0',
            '/etc/fedgate/fedgate.yaml',
            '2026-12-06T12:00:00.000Z',
          ]);
          assert.match((await o.page.textContent('#verdict')) ?? '', /Errors present/);
          const checks = await o.page.$$eval('#table-checks tbody tr', (trs) =>
            trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)),
          );
          assert.deepEqual(
            checks.map((c) => [c[0], c[2], c[3]]),
            [
              ['domain-controller', 'ldaps-certificate', 'error'],
              ['domain-controller', 'clock-skew', 'ok'],
              ['policy', 'lockout-threshold', 'warning'],
              ['store', 'persistence', 'info'],
            ],
          );
          await o.page.emulateMedia({ media: 'print' });
          assert.equal(
            await o.page.evaluate(
              () => getComputedStyle(document.querySelector('thead') as Element).display,
            ),
            'table-header-group',
          );
          const pdf = await o.page.pdf({ format: 'A4' });
          assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
          t.diagnostic(
            `small report: ${String(Buffer.byteLength(html))} bytes; PDF ${String(pdf.length)} bytes`,
          );
        });
        // Last: it adds a request attempt of its own.
        await t.test('the CSP refuses a resource even if one got into the page', async () => {
          const injected = 'https://attacker.invalid/injected.png';
          await o.page.evaluate((src) => {
            const img = document.createElement('img');
            img.alt = '';
            img.src = src;
            document.body.append(img);
          }, injected);
          // Bounded poll: Chromium reports the attempt, then its refusal.
          for (let i = 0; i < 100 && !o.failed.some((f) => f.startsWith(injected)); i++)
            await o.page.waitForTimeout(20);
          t.diagnostic(`refused: ${o.failed.join('; ')}`);
          assert.deepEqual(o.network, [], 'never reached the network');
          assert.ok(
            o.failed.some((f) => f.startsWith(injected) && /csp/i.test(f)),
            'blocked by the CSP',
          );
          assert.ok(
            o.consoleErrors.some((e) => /Content Security Policy/i.test(e)),
            'refusal reported',
          );
        });
      } finally {
        await o.ctx.close();
      }
    });
  }

  test('a clean run (no scan, no findings, no checks) reads as such and passes axe', async () => {
    const o = await open(renderHtml(report([], { scan: undefined, checks: [] })), 'file');
    try {
      assert.deepEqual(o.requests, []);
      assert.deepEqual(o.consoleErrors, []);
      assert.match((await o.page.textContent('#verdict')) ?? '', /No errors/);
      assert.match(
        (await o.page.textContent('main')) ?? '',
        /not scanned[\s\S]*No directory errors[\s\S]*No plumbing checks[\s\S]*No findings/,
      );
      assert.equal(await o.page.locator('svg.chart').count(), 1, 'the per-class chart, all zero');
      const results = await new AxeBuilder({ page: o.page }).withTags(TAGS).analyze();
      assert.deepEqual(
        results.violations.map((v) => v.id),
        [],
      );
    } finally {
      await o.ctx.close();
    }
  });

  test('10,000 findings: linear size, opens, table capped with a note, charts count all of them', async (t) => {
    const r = largeReport(10_000);
    const t0 = performance.now();
    const html = renderHtml(r);
    const renderMs = performance.now() - t0;
    const bytes = Buffer.byteLength(html);
    // Linear: uncapped, 10,000 findings take five times the bytes of 2,000, give or take the fixed part.
    const full10k = Buffer.byteLength(renderHtml(r, { maxFindingRows: Infinity }));
    const full2k = Buffer.byteLength(renderHtml(largeReport(2_000), { maxFindingRows: Infinity }));
    const ratio = full10k / full2k;
    assert.ok(ratio > 4 && ratio < 5.5, `10k/2k size ratio ${ratio.toFixed(2)}`);

    const o = await open(html, 'file');
    try {
      assert.deepEqual(o.requests, []);
      assert.deepEqual(o.network, []);
      assert.deepEqual(o.consoleErrors, []);
      assert.equal(await o.page.locator('#table-findings tbody tr').count(), 5000);
      assert.match(
        (await o.page.textContent('#findings-capped')) ?? '',
        /first 5,000 of 10,000 findings/,
      );
      const want = expectedCounts(r);
      const ouBars = await o.page.$$eval(
        'svg.chart[aria-labelledby^="chart-ou"] rect.bar',
        (rects) =>
          rects.map((b) => ({
            label: b.getAttribute('data-label'),
            count: Number(b.getAttribute('data-count')),
          })),
      );
      assert.equal(ouBars.length, 16, 'top 15 and "other"');
      assert.deepEqual(ouBars, want.perOu);
      const classBars = await o.page.$$eval(
        'svg.chart[aria-labelledby^="chart-class"] rect.bar',
        (rects) => rects.map((b) => Number(b.getAttribute('data-count'))),
      );
      assert.deepEqual(
        classBars,
        [...want.perClass.values()].map((n) => n.errors),
      );
      const totalErrors = [...want.perClass.values()].reduce((s, n) => s + n.errors, 0);
      assert.equal(
        ouBars.reduce((s, b) => s + b.count, 0),
        totalErrors,
      );
      // The whole page laid out (scrollHeight forces layout of every row).
      const height = await o.page.evaluate(() => document.documentElement.scrollHeight);
      assert.ok(height > 0);
      t.diagnostic(
        `10,000 findings: ${String(bytes)} bytes (table capped at 5,000 rows), rendered in ${renderMs.toFixed(0)} ms; ` +
          `uncapped ${String(full10k)} bytes (2,000: ${String(full2k)}, ratio ${ratio.toFixed(2)}); ` +
          `Chromium load ${o.loadMs.toFixed(0)} ms; page ${String(height)} px tall`,
      );
    } finally {
      await o.ctx.close();
    }

    // The uncapped page also opens (an admin may ask for every row).
    const u = await open(renderHtml(r, { maxFindingRows: Infinity }), 'file');
    try {
      assert.equal(await u.page.locator('#table-findings tbody tr').count(), 10_000);
      assert.equal(await u.page.locator('#findings-capped').count(), 0);
      t.diagnostic(`uncapped 10,000 rows: Chromium load ${u.loadMs.toFixed(0)} ms`);
    } finally {
      await u.ctx.close();
    }
  });
});
