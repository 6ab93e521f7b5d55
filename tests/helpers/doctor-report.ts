/**
 * Builders of `fedgate doctor` report data for the report-writer tests (terminal, CSV, JSON, HTML): one finding with
 * every field set (a UPN with a space, as the seeded space1 has), one plumbing check, and a report header.
 */
import type { DirectoryFinding, DoctorReport, PlumbingCheck } from '../../server/doctor/types.ts';

/** A `character` finding on space1's UPN in `ou`, with `over` applied. */
export function doctorFinding(ou: string, over: Partial<DirectoryFinding> = {}): DirectoryFinding {
  return {
    dn: `CN=space1,${ou}`,
    commonName: 'space1',
    objectClass: 'user',
    container: ou,
    attribute: 'userPrincipalName',
    class: 'character',
    severity: 'error',
    value: 'john smith@contoso.com',
    update: 'johnsmith@contoso.com',
    multiValued: false,
    detail: 'The UPN holds a space.',
    ...over,
  };
}

/** An `ok` clock-skew check of a DC, with `over` applied. */
export function doctorCheck(over: Partial<PlumbingCheck> = {}): PlumbingCheck {
  return {
    area: 'domain-controller',
    target: 'ldaps://dc1.corp.example.test:636',
    check: 'clock-skew',
    status: 'ok',
    message: 'Clock skew 0.4 s (limit 300 s).',
    ...over,
  };
}

/** A report's header fields (time, version, configuration file, host name), with no scan, findings or checks. */
export function doctorReportHeader(): Omit<DoctorReport, 'scan' | 'findings' | 'checks'> {
  return {
    generatedAt: '2026-12-06T12:00:00.000Z',
    fedgateVersion: '1.4.0',
    configFile: '/etc/fedgate/fedgate.yaml',
    hostname: 'sts.contoso.com',
  };
}
