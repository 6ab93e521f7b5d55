/**
 * `fedgate doctor`: the shared shapes of its findings (issue 21).
 *
 * Two kinds of result:
 * - a DirectoryFinding is one IdFix-style problem on one attribute value of one object (IdFix's grid row: DN,
 *   object class, attribute, error, value, update), or a federation-specific problem on a user;
 * - a PlumbingCheck is one check of the federation's plumbing (a DC, AD's policies against fedgate's, a
 *   certificate, public reachability, the store), with its outcome.
 *
 * The scanner and the plumbing checks produce them; the report writers (terminal, CSV, HTML, JSON) and the LDIF
 * writer only read them.
 */

/** IdFix's error classes, named as IdFix names them (its CSV's ERROR column, lower case). */
export const IDFIX_CLASSES = [
  'character',
  'format',
  'topleveldomain',
  'domainpart',
  'localpart',
  'length',
  'blank',
  'duplicate',
] as const;
export type IdFixClass = (typeof IDFIX_CLASSES)[number];

/** Federation-specific classes: problems that break sign-in through fedgate rather than synchronisation. */
export const FEDERATION_CLASSES = [
  /** The UPN's suffix is not in microsoft365.federatedDomains: Entra never sends this user to fedgate. */
  'upn-suffix-not-federated',
  /** The issuance rules use mS-DS-ConsistencyGuid and it differs from objectGUID: the ImmutableID may not match. */
  'source-anchor-mismatch',
  /** The issuance rules use mS-DS-ConsistencyGuid and it is not set: the token falls back to objectGUID. */
  'source-anchor-missing',
  /** Two users answer to the same sign-in name across domains (UPN of one = another's sAMAccountName@suffix, …). */
  'ambiguous-upn',
] as const;
export type FederationClass = (typeof FEDERATION_CLASSES)[number];

export type FindingClass = IdFixClass | FederationClass;

export type Severity = 'error' | 'warning';

/** The directory attributes the IdFix rules cover (issue 21), as AD names them. */
export const CHECKED_ATTRIBUTES = [
  'userPrincipalName',
  'mail',
  'mailNickname',
  'proxyAddresses',
  'sAMAccountName',
  'displayName',
  'givenName',
  'sn',
  'targetAddress',
] as const;
export type CheckedAttribute = (typeof CHECKED_ATTRIBUTES)[number];

/** One problem with one value of one attribute of one directory object. */
export interface DirectoryFinding {
  /** The object's distinguished name, as the DC returned it. */
  dn: string;
  /** Its cn (IdFix's COMMONNAME column). */
  commonName: string;
  /** `user`, `group` or `contact` (IdFix's OBJECTCLASS column: the most specific structural class). */
  objectClass: string;
  /** The DN of the OU or container the object is in (for the per-OU chart). */
  container: string;
  /** The attribute (AD's spelling, e.g. `userPrincipalName`; `mS-DS-ConsistencyGuid` for source-anchor findings). */
  attribute: string;
  class: FindingClass;
  severity: Severity;
  /** The current value ('' when blank). For proxyAddresses, the one value at fault. Binary values as base64. */
  value: string;
  /**
   * The proposed value (IdFix's UPDATE column), or undefined when there is no safe automatic fix (duplicate,
   * federation findings): the admin decides. '' proposes removing the value.
   */
  update: string | undefined;
  /** Whether the attribute is multi-valued (proxyAddresses): the fix then replaces only `value`. */
  multiValued: boolean;
  /** One sentence for the admin: what is wrong and why it matters. */
  detail: string;
}

export type CheckStatus = 'ok' | 'warning' | 'error' | 'info';

/** The plumbing areas, in report order. */
export const PLUMBING_AREAS = [
  /** What `fedgate check` validates (rule files, trusts, certificates files, …) and configuration cross-checks. */
  'configuration',
  'domain-controller',
  'policy',
  'certificates',
  'public',
  'store',
] as const;
export type PlumbingArea = (typeof PLUMBING_AREAS)[number];

/** One plumbing check and its outcome. */
export interface PlumbingCheck {
  area: PlumbingArea;
  /** What was checked: a DC URL, `signing certificate`, a Redis URL without its password, … */
  target: string;
  /** A stable name for the check (e.g. `ldaps-certificate`, `clock-skew`, `lockout-threshold`). */
  check: string;
  status: CheckStatus;
  /** One sentence: the finding, with the figures (days left, seconds of skew, thresholds). */
  message: string;
}

/** Figures of one directory scan. */
export interface ScanStats {
  /** Search base(s) scanned. */
  bases: string[];
  objects: number;
  users: number;
  groups: number;
  contacts: number;
  /** Objects skipped by IdFix's rules (system accounts, conflict objects, critical system objects). */
  skipped: number;
  /** Paged-search pages read. */
  pages: number;
  /** Milliseconds from the first search to the last finding (measured with the injected clock). */
  elapsedMs: number;
}

/** Everything one `fedgate doctor` run found. */
export interface DoctorReport {
  /** ISO time of the run (the injected clock). */
  generatedAt: string;
  /** fedgate's version and the configuration file (or `embedded defaults`). */
  fedgateVersion: string;
  configFile: string;
  hostname: string;
  /** undefined when the directory is not AD (embedded) or could not be scanned. */
  scan: ScanStats | undefined;
  findings: DirectoryFinding[];
  checks: PlumbingCheck[];
}

/** Errors present: the exit status is 1 (it gates a pipeline). */
export function hasErrors(r: DoctorReport): boolean {
  return (
    r.findings.some((f) => f.severity === 'error') || r.checks.some((c) => c.status === 'error')
  );
}
