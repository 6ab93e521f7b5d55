/**
 * `fedgate doctor` (issue 21): everything that would break synchronisation or sign-in, found before anyone signs in.
 *
 * - Directory checks: IdFix's rules over the users and groups under directory.baseDn, plus the federation-specific
 *   ones (server/doctor/directory-scan.ts, analyse.ts).
 * - Plumbing checks: each DC, AD's policies against fedgate's, certificates, the store, and (with --public-url) what
 *   the internet sees (server/doctor/*-checks.ts).
 * - Output: a terminal summary, --json, --csv (IdFix's layout), --html (one self-contained file), and --fix-ldif with
 *   an undo LDIF for the admin to review and apply with ldapmodify.
 *
 * Read-only by construction: the scan and checks search and read with the service account; nothing here has a
 * directory write path, and the LDIF is only written to a file. Exit status: 0 no errors (warnings allowed), 1 errors
 * found (gates a pipeline), 2 the command could not run as asked (usage, configuration, an output file).
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { checkConfiguration } from './config-check.ts';
import { checkCertificates } from '../doctor/cert-checks.ts';
import { checkDomainControllers } from '../doctor/dc-checks.ts';
import { DirectoryScanError, scanDirectory } from '../doctor/directory-scan.ts';
import { fixLdif } from '../doctor/ldif.ts';
import { checkDirectoryPolicy } from '../doctor/policy-checks.ts';
import { checkPublicUrl } from '../doctor/public-checks.ts';
import { renderCsv } from '../doctor/report-csv.ts';
import { renderHtml } from '../doctor/report-html.ts';
import { renderJson } from '../doctor/report-json.ts';
import { renderSummary } from '../doctor/report-text.ts';
import { checkStore } from '../doctor/store-checks.ts';
import {
  hasErrors,
  type DirectoryFinding,
  type DoctorReport,
  type PlumbingCheck,
  type ScanStats,
} from '../doctor/types.ts';

export interface DoctorOptions {
  clock: Clock;
  /** The configuration file as given (shown in the report), or `embedded defaults`. */
  configFile: string;
  version: string;
  json: boolean;
  csv?: string | undefined;
  html?: string | undefined;
  fixLdif?: string | undefined;
  publicUrl?: string | undefined;
  /** An extra CA (PEM file) trusted for the --public-url check. */
  publicCa?: string | undefined;
  /** Scan this DN instead of directory.baseDn. */
  base?: string | undefined;
  pageSize?: number | undefined;
  color: boolean;
}

export interface DoctorOutput {
  stdout: string;
  stderr: string;
  code: number;
  report: DoctorReport;
}

export class DoctorUsageError extends Error {}

/** The undo file beside FILE: fixes.ldif → fixes.undo.ldif (anything else: FILE.undo). */
export function undoPath(file: string): string {
  return /\.ldif$/i.test(file) ? file.replace(/\.ldif$/i, '.undo.ldif') : `${file}.undo`;
}

/**
 * Configuration-level checks the other modules do not own: the federated domains doctor compares UPNs with, and
 * whether fedgate itself would accept their users' sign-in names.
 */
export function configChecks(config: Config): PlumbingCheck[] {
  const out: PlumbingCheck[] = [];
  const domains = config.microsoft365.federatedDomains;
  if (domains.length === 0) {
    out.push({
      area: 'configuration',
      target: 'microsoft365.federatedDomains',
      check: 'federated-domains',
      status: 'warning',
      message:
        'no federated domains are configured: UPN suffixes cannot be compared with what Entra ID sends to fedgate (set microsoft365.federatedDomains before federating a domain)',
    });
  } else {
    out.push({
      area: 'configuration',
      target: 'microsoft365.federatedDomains',
      check: 'federated-domains',
      status: 'ok',
      message: `federated domains: ${domains.join(', ')}`,
    });
  }
  if (config.directory.kind === 'ldap' && config.directory.upnSuffixes.length > 0) {
    const accepted = new Set(config.directory.upnSuffixes.map((s) => s.toLowerCase()));
    const refused = domains.filter((d) => !accepted.has(d.toLowerCase()));
    if (refused.length > 0)
      out.push({
        area: 'configuration',
        target: 'directory.upnSuffixes',
        check: 'upn-suffixes',
        status: 'error',
        message: `federated domain(s) ${refused.join(', ')} missing from directory.upnSuffixes: fedgate would refuse their users' sign-in names`,
      });
  }
  return out;
}

/** What `fedgate check` finds (broken rule files, trusts, certificate files, …), as doctor's configuration area. */
async function fileChecks(config: Config): Promise<PlumbingCheck[]> {
  const r = await checkConfiguration(config);
  const one = (status: 'ok' | 'error' | 'warning', message: string): PlumbingCheck => ({
    area: 'configuration',
    target: 'fedgate check',
    check: 'configuration-files',
    status,
    message,
  });
  if (r.problems.length === 0 && r.warnings.length === 0)
    return [one('ok', `the configuration and its ${r.ruleFiles} claim rule files are valid`)];
  return [...r.problems.map((p) => one('error', p)), ...r.warnings.map((w) => one('warning', w))];
}

export async function runDoctor(config: Config, opts: DoctorOptions): Promise<DoctorOutput> {
  if (opts.publicUrl !== undefined && !/^https:\/\//i.test(opts.publicUrl))
    throw new DoctorUsageError(`--public-url must be an https:// URL, not "${opts.publicUrl}"`);
  if (opts.pageSize !== undefined && (!Number.isInteger(opts.pageSize) || opts.pageSize < 1))
    throw new DoctorUsageError('--page-size must be a whole number of 1 or more');

  let scan: ScanStats | undefined;
  let findings: DirectoryFinding[] = [];
  const checks: PlumbingCheck[] = [...(await fileChecks(config)), ...configChecks(config)];

  if (config.directory.kind === 'ldap') {
    try {
      const r = await scanDirectory(config, {
        clock: opts.clock,
        ...(opts.pageSize === undefined ? {} : { pageSize: opts.pageSize }),
        ...(opts.base === undefined ? {} : { base: opts.base }),
      });
      scan = r.stats;
      findings = r.findings;
    } catch (err) {
      if (!(err instanceof DirectoryScanError)) throw err;
      checks.push({
        area: 'domain-controller',
        target: opts.base ?? config.directory.baseDn,
        check: 'directory-scan',
        status: 'error',
        message: `the directory could not be scanned: ${err.message}`,
      });
    }
  } else {
    checks.push({
      area: 'domain-controller',
      target: 'directory',
      check: 'directory-scan',
      status: 'info',
      message:
        'the embedded directory is not Active Directory: the IdFix checks run against AD (directory.kind: ldap)',
    });
  }

  // Independent of each other: run together. Each returns its findings and never throws for what it checks.
  const groups = await Promise.all([
    checkDomainControllers(config, { clock: opts.clock }),
    checkDirectoryPolicy(config, { clock: opts.clock }),
    checkCertificates(config, { clock: opts.clock }),
    checkStore(config, { clock: opts.clock }),
    opts.publicUrl === undefined
      ? Promise.resolve<PlumbingCheck[]>([])
      : checkPublicUrl(config, opts.publicUrl.replace(/\/+$/, ''), {
          clock: opts.clock,
          ...(opts.publicCa === undefined ? {} : { ca: opts.publicCa }),
        }),
  ]);
  for (const g of groups) checks.push(...g);

  const report: DoctorReport = {
    generatedAt: opts.clock.now().toISOString(),
    fedgateVersion: opts.version,
    configFile: opts.configFile,
    hostname: config.hostname,
    scan,
    findings,
    checks,
  };

  const notes: string[] = [];
  const write = (file: string, text: string, what: string): void => {
    const path = resolve(file);
    try {
      // Directory data (names, addresses): readable by the admin only.
      writeFileSync(path, text, { mode: 0o600 });
    } catch (err) {
      throw new DoctorUsageError(
        `cannot write the ${what} to ${path}: ${(err as Error).message.split('\n')[0] ?? ''}`,
      );
    }
    notes.push(`${what} written to ${path}`);
  };
  if (opts.csv !== undefined) write(opts.csv, renderCsv(findings), 'CSV report');
  if (opts.html !== undefined) write(opts.html, renderHtml(report), 'HTML report');
  if (opts.fixLdif !== undefined) {
    const l = fixLdif(findings);
    write(opts.fixLdif, l.fix, `fix LDIF (${l.changes} changes on ${l.entries} objects)`);
    write(undoPath(opts.fixLdif), l.undo, 'undo LDIF');
    notes.push(
      'fedgate changed nothing in AD: review the LDIF, then apply it yourself with ldapmodify (docs/doctor.md)',
    );
  }

  const stdout = opts.json ? renderJson(report) : renderSummary(report, { color: opts.color });
  return {
    stdout: stdout.endsWith('\n') ? stdout : `${stdout}\n`,
    stderr: notes.map((n) => `${n}\n`).join(''),
    code: hasErrors(report) ? 1 : 0,
    report,
  };
}
