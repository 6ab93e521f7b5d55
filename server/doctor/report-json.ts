/**
 * `fedgate doctor --json`: the report for automation (issue 21 "Output").
 *
 * Stable: every object is built key by key in a fixed order (not spread from the input, whose key order depends on
 * who built it), so two runs over the same directory give byte-identical files that diff cleanly. `schemaVersion`
 * changes only when a field changes meaning or disappears; new fields may be added within a version. Counts per
 * class and per check status are included so a pipeline need not recount. A missing `update` (no automatic fix) is
 * `null`, never an absent key. Values are exactly the directory's (no CSV apostrophe guard, no terminal escaping):
 * JSON.stringify escapes control characters, so the file itself is safe to print.
 */
import { countByClass, countChecks } from './report-text.ts';
import {
  hasErrors,
  type DirectoryFinding,
  type DoctorReport,
  type PlumbingCheck,
} from './types.ts';

export const JSON_SCHEMA_VERSION = 1;

function finding(f: DirectoryFinding): Record<string, unknown> {
  return {
    dn: f.dn,
    commonName: f.commonName,
    objectClass: f.objectClass,
    container: f.container,
    attribute: f.attribute,
    class: f.class,
    severity: f.severity,
    value: f.value,
    update: f.update ?? null,
    multiValued: f.multiValued,
    detail: f.detail,
  };
}

function check(c: PlumbingCheck): Record<string, unknown> {
  return {
    area: c.area,
    target: c.target,
    check: c.check,
    status: c.status,
    message: c.message,
  };
}

/** The report as JSON (two-space indented, trailing newline). */
export function renderJson(r: DoctorReport): string {
  const perClass: Record<string, { errors: number; warnings: number; total: number }> = {};
  let errors = 0;
  let warnings = 0;
  for (const [cls, n] of countByClass(r.findings)) {
    perClass[cls] = { errors: n.errors, warnings: n.warnings, total: n.errors + n.warnings };
    errors += n.errors;
    warnings += n.warnings;
  }
  const checks = countChecks(r.checks);
  const failing = hasErrors(r);
  const out = {
    schemaVersion: JSON_SCHEMA_VERSION,
    generatedAt: r.generatedAt,
    fedgateVersion: r.fedgateVersion,
    configFile: r.configFile,
    hostname: r.hostname,
    hasErrors: failing,
    exitStatus: failing ? 1 : 0,
    scan:
      r.scan === undefined
        ? null
        : {
            bases: [...r.scan.bases],
            objects: r.scan.objects,
            users: r.scan.users,
            groups: r.scan.groups,
            contacts: r.scan.contacts,
            skipped: r.scan.skipped,
            pages: r.scan.pages,
            elapsedMs: r.scan.elapsedMs,
          },
    counts: {
      findings: { total: r.findings.length, errors, warnings },
      perClass,
      checks: {
        total: r.checks.length,
        ok: checks.ok,
        warning: checks.warning,
        error: checks.error,
        info: checks.info,
      },
    },
    checks: r.checks.map(check),
    findings: r.findings.map(finding),
  };
  return JSON.stringify(out, null, 2) + '\n';
}
