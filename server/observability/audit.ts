/**
 * The audit stream's events: one typed function per event (or per variant of an event that is written at a
 * different level, AD FS id or message), and AUDIT_EVENTS, the runtime catalogue of every event's name, AD FS ids,
 * levels and field names. docs/events.md documents each one; tests/unit/config/events-doc.test.ts checks the
 * document against AUDIT_EVENTS, and tests/unit/observability/audit.test.ts checks each function against it.
 *
 * Field names, levels and messages are a contract: SIEM rules and the tests read them (security-corpus E10).
 * `eventId` is the AD FS event id where one applies, so SIEM rules written for AD FS keep working.
 */
import type { DirectoryCacheEvent } from '../directory/types.ts';
import type { Logger } from 'pino';
import type { KeyChangeEvent } from '../keys/rollover.ts';
import type { ClaimsAudit } from '../claims/audit.ts';

/** What the functions need of the audit logger (services.audit, a pino child with `stream: 'audit'`). */
export type AuditSink = Pick<Logger, 'info' | 'warn' | 'error'>;
export type AuditLevel = 'info' | 'warn' | 'error';

/**
 * AD FS audit event ids (AD FS "auditing enhancements" and Extranet Smart Lockout event docs). Every audit line
 * that corresponds to one of these carries `eventId` next to fedgate's own `event` name.
 */
export const AuditEventIds = {
  /** Token issued by the federation service (AD FS 1200, "Application token success"). */
  tokenIssued: 1200,
  /** A sign-in failed: no token issued (AD FS 1201, "Application token failure"). */
  signInFailed: 1201,
  /** Credential validation failed: wrong password or unknown user (AD FS 1203, "Fresh credential failure"). */
  badPassword: 1203,
  /** An attempt refused because the account is locked out for its location class (AD FS 1210, ESL). */
  extranetLockoutBlocked: 1210,
  /** The account just reached the extranet lockout threshold (AD FS 516). */
  accountLockedOut: 516,
  /** The correct password was presented while locked out: the account may be compromised (AD FS 515). */
  correctPasswordWhileLocked: 515,
} as const;

export type AuditEventId = (typeof AuditEventIds)[keyof typeof AuditEventIds];

// ---------------------------------------------------------------------------------------------------------------
// Shared field groups

/** Fields of an event written while answering a request. */
export interface RequestFields {
  /** Client address after trusted proxies are peeled off. */
  ip?: string | undefined;
  activityId: string;
}

/** Public facts of a certificate (authn/certificate/authenticator.ts certificateFields). */
export interface CertificateFields {
  thumbprint?: string | undefined;
  serialNumber?: string | undefined;
  certIssuer?: string | undefined;
  certSubject?: string | undefined;
}

/** A password attempt (sign-in form, WS-Trust usernamemixed, password change page). */
export interface PasswordAttemptFields extends RequestFields {
  /** 'forms', 'wstrust' or 'password-change'. */
  method: string;
  /** The name as typed, cut at 256 characters. */
  username: string;
  /** X-Forwarded-For chain from a trusted proxy (sign-ins only). */
  forwardedIps?: readonly string[] | undefined;
  rp: string;
}

/** Smart-lockout state of the attempt's account. */
export interface LockoutFields {
  /** `guid:<objectGuid>` or `name:<typed name>`. */
  account: string;
  location: string;
  badPasswordCount: number;
}

// ---------------------------------------------------------------------------------------------------------------
// signin: a credential was checked

/** A password sign-in succeeded (authn/password.ts). */
export interface SigninSucceededEvent extends PasswordAttemptFields {
  outcome: 'success';
  upn: string | undefined;
  objectGuid: string;
  location?: string | undefined;
}

/** A password sign-in failed (authn/password.ts). */
export interface SigninFailedEvent extends PasswordAttemptFields, Partial<LockoutFields> {
  outcome: 'failure';
  kind: string;
  reason: string;
  objectGuid?: string | undefined;
}

/** WS-Trust usernamemixed with an empty name or password: refused before the directory. */
export interface SigninEmptyCredentialsEvent extends RequestFields {
  method: 'wstrust';
  outcome: 'failure';
  kind: 'bad_credentials';
  reason: string;
  rp: string;
}

/** Fields of every certificate sign-in line. */
export interface CertificateAttemptFields extends RequestFields {
  method: 'certificate';
  /** 'tls' (the certificate listener) or 'proxy' (a load balancer's header). */
  source: string;
  rp?: string | undefined;
}

/** The account a certificate mapped to. */
export interface CertificateAccountFields {
  objectGuid: string;
  upn: string | undefined;
  /** 'sid', 'altSecurityIdentities' or 'upn'. */
  mapping: string;
}

export interface SigninCertificateSucceededEvent
  extends CertificateAttemptFields, CertificateAccountFields, CertificateFields {
  outcome: 'success';
  /** true when mapped by UPN only (KB5014754 calls it weak): then written at warn. */
  weakMapping?: true | undefined;
}

export interface SigninCertificateFailedEvent
  extends CertificateAttemptFields, Partial<CertificateAccountFields>, CertificateFields {
  outcome: 'failure';
  kind: string;
  reason: string;
  detail?: string | undefined;
}

/** The load balancer's certificate header failed verification or could not be read. */
export interface SigninCertificateProxyRefusedEvent extends CertificateAttemptFields {
  outcome: 'failure';
  kind: 'proxy_rejected' | 'proxy_unreadable';
  reason: string;
}

/** The browser sent no certificate. */
export interface SigninCertificateMissingEvent extends CertificateAttemptFields {
  outcome: 'failure';
  kind: 'no_certificate';
}

function badPassword(kind: string, reason: string): boolean {
  return kind === 'bad_credentials' && reason !== 'empty_password';
}

export function signinSucceeded(audit: AuditSink, e: SigninSucceededEvent): void {
  audit.info({ event: 'signin', ...e }, 'sign-in succeeded');
}

/** AD FS 1203 for a bad name or password (counts toward lockout), 1201 for every other failure. */
export function signinFailed(audit: AuditSink, e: SigninFailedEvent): void {
  const bad = badPassword(e.kind, e.reason);
  audit.warn(
    {
      event: 'signin',
      eventId: bad ? AuditEventIds.badPassword : AuditEventIds.signInFailed,
      ...e,
    },
    bad ? 'credential validation failed' : 'sign-in failed',
  );
}

/** No AD FS id: no credential was checked. */
export function signinEmptyCredentials(audit: AuditSink, e: SigninEmptyCredentialsEvent): void {
  audit.warn({ event: 'signin', ...e }, 'sign-in failed');
}

export function signinCertificateSucceeded(
  audit: AuditSink,
  e: SigninCertificateSucceededEvent,
): void {
  if (e.weakMapping === true)
    audit.warn(
      { event: 'signin', ...e },
      'certificate sign-in succeeded with a weak (UPN) mapping',
    );
  else audit.info({ event: 'signin', ...e }, 'certificate sign-in succeeded');
}

export function signinCertificateFailed(audit: AuditSink, e: SigninCertificateFailedEvent): void {
  audit.warn(
    { event: 'signin', eventId: AuditEventIds.signInFailed, ...e },
    'certificate sign-in failed',
  );
}

export function signinCertificateProxyRefused(
  audit: AuditSink,
  e: SigninCertificateProxyRefusedEvent,
): void {
  audit.warn({ event: 'signin', ...e }, 'certificate from the load balancer refused');
}

export function signinCertificateMissing(audit: AuditSink, e: SigninCertificateMissingEvent): void {
  audit.warn({ event: 'signin', ...e }, 'certificate sign-in without a certificate');
}

// ---------------------------------------------------------------------------------------------------------------
// Tokens

/** Fields of an issuance decision about one user for one party. */
export interface IssuanceFields extends RequestFields {
  protocol: 'wsfed' | 'saml2' | 'wstrust' | 'oidc';
  rp: string;
  upn: string | undefined;
  objectGuid: string;
}

export interface TokenIssuedEvent extends IssuanceFields {
  assertionId: string;
  /** The AD FS authentication method URI. */
  method: string;
  claims: ClaimsAudit;
  /** ISO 8601. */
  notOnOrAfter: string;
  /** SAML 2.0: the AuthnRequest ID answered (none for IdP-initiated). */
  inResponseTo?: string | undefined;
  /** SAML 2.0: the content-encryption algorithm URI, or false when not encrypted. */
  encrypted?: string | false | undefined;
  /** WS-Trust: the endpoint path. */
  endpoint?: string | undefined;
  /** WS-Trust: the token kind requested. */
  tokenType?: string | undefined;
  /** WS-Trust: X-MS-Client-Application. */
  clientApplication?: string | undefined;
}

/** Every token written gets one (corpus C7.3): a token seen at a party without this line is suspect. */
export function tokenIssued(audit: AuditSink, e: TokenIssuedEvent): void {
  audit.info({ event: 'token_issued', eventId: AuditEventIds.tokenIssued, ...e }, 'token issued');
}

export interface AccessDeniedEvent extends IssuanceFields {
  /** Why nothing permitted, or the rule that denied. */
  rule: string;
  claims: ClaimsAudit;
}

export function accessDenied(audit: AuditSink, e: AccessDeniedEvent): void {
  audit.warn(
    { event: 'access_denied', eventId: AuditEventIds.signInFailed, ...e },
    'access denied by issuance authorization rules',
  );
}

export interface IssuanceFailedEvent extends IssuanceFields {
  /** The file and rule that failed, or the field that could not be written (never its value). */
  reason: string | undefined;
}

const ISSUANCE_FAILED_MESSAGES = {
  domain: 'no Microsoft 365 token for a user outside the federated domains',
  rules: 'claim rules could not be evaluated for this user',
  token: 'the issued claims could not be written as a token',
} as const;

/**
 * `at`: 'domain' when the user's UPN suffix is outside microsoft365.federatedDomains (corpus B5.2), 'rules' when
 * the claim rules could not be evaluated, 'token' when their claims could not be written as a token (only the
 * message differs).
 */
export function issuanceFailed(
  audit: AuditSink,
  e: IssuanceFailedEvent,
  at: keyof typeof ISSUANCE_FAILED_MESSAGES,
): void {
  audit.warn(
    { event: 'issuance_failed', eventId: AuditEventIds.signInFailed, ...e },
    ISSUANCE_FAILED_MESSAGES[at],
  );
}

export interface Saml2StatusEvent {
  activityId: string;
  /** The second-level status URI. */
  status: string;
  rp: string;
  /** The AuthnRequest's ID (absent for IdP-initiated sign-on, where no request is answered). */
  requestId: string | undefined;
  reason?: string | undefined;
}

export function saml2Status(audit: AuditSink, e: Saml2StatusEvent): void {
  audit.info({ event: 'saml2_status', ...e }, 'SAML status response');
}

export interface PasswordChangeRequiredEvent extends RequestFields {
  kind: string;
  reason: string;
  username: string;
  objectGuid?: string | undefined;
  rp: string;
}

export function passwordChangeRequired(audit: AuditSink, e: PasswordChangeRequiredEvent): void {
  audit.info(
    { event: 'password_change_required', ...e },
    'password expired or must change: change-password page shown',
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Account protection

export interface SourceRefusedEvent extends PasswordAttemptFields {
  outcome: 'failure';
  reason: string;
}

export function bannedAddress(audit: AuditSink, e: SourceRefusedEvent): void {
  audit.warn(
    { event: 'banned_address', eventId: AuditEventIds.signInFailed, ...e },
    'sign-in refused: the client address is banned',
  );
}

export function sourceRateLimited(audit: AuditSink, e: SourceRefusedEvent): void {
  audit.warn(
    { event: 'source_rate_limited', eventId: AuditEventIds.signInFailed, ...e },
    'sign-in refused: too many failures from this address',
  );
}

export interface ExtranetLockoutEvent extends PasswordAttemptFields, LockoutFields {
  /** Sign-ins only. */
  objectGuid?: string | undefined;
  /** false in log-only mode: the attempt would have been refused. */
  enforced: boolean;
}

export function extranetLockout(audit: AuditSink, e: ExtranetLockoutEvent): void {
  audit.warn(
    { event: 'extranet_lockout', eventId: AuditEventIds.extranetLockoutBlocked, ...e },
    e.method === 'password-change'
      ? 'password change refused: account locked out for this location class'
      : e.enforced
        ? 'attempt refused: account locked out for this location class'
        : 'extranet lockout would refuse this attempt (log-only mode)',
  );
}

export interface AccountLockedOutEvent extends PasswordAttemptFields, LockoutFields {
  /** Sign-ins only. */
  objectGuid?: string | undefined;
  enforced: boolean;
}

export function accountLockedOut(audit: AuditSink, e: AccountLockedOutEvent): void {
  audit.warn(
    { event: 'account_locked_out', eventId: AuditEventIds.accountLockedOut, ...e },
    'account locked out for this location class: too many bad passwords',
  );
}

export interface CorrectPasswordWhileLockedEvent extends PasswordAttemptFields {
  account: string;
  objectGuid: string;
}

export function correctPasswordWhileLocked(
  audit: AuditSink,
  e: CorrectPasswordWhileLockedEvent,
): void {
  audit.error(
    {
      event: 'correct_password_while_locked',
      eventId: AuditEventIds.correctPasswordWhileLocked,
      ...e,
    },
    'the correct password was given while the account is locked out: it may be compromised',
  );
}

export interface PasswordSpraySuspectedEvent extends PasswordAttemptFields {
  distinctAccounts: number;
  failures: number;
}

export function passwordSpraySuspected(audit: AuditSink, e: PasswordSpraySuspectedEvent): void {
  audit.error(
    { event: 'password_spray_suspected', ...e },
    'many accounts failing from one source: possible password spray',
  );
}

/** Fields of every password_change line (the change-password page). */
export interface PasswordChangeFields extends RequestFields {
  method: 'password-change';
  username: string;
  rp: string;
}

export interface PasswordChangeSourceRefusedEvent extends PasswordChangeFields {
  outcome: 'failure';
  reason: string | undefined;
}

export interface PasswordChangeSucceededEvent extends PasswordChangeFields {
  outcome: 'success';
  objectGuid: string | undefined;
}

export interface PasswordChangePolicyEvent extends PasswordChangeFields {
  outcome: 'failure';
  reason: string;
  /** too_short, complexity, history, min_age, policy. */
  violation: string | undefined;
  objectGuid: string | undefined;
}

export interface PasswordChangeBadPasswordEvent extends PasswordChangeFields, LockoutFields {
  outcome: 'failure';
  reason: string;
  objectGuid: string | undefined;
}

/** Banned or over the per-source budget: AD FS 1201. */
export function passwordChangeSourceRefused(
  audit: AuditSink,
  e: PasswordChangeSourceRefusedEvent,
): void {
  audit.warn(
    { event: 'password_change', eventId: AuditEventIds.signInFailed, ...e },
    'password change refused for this source',
  );
}

export function passwordChangeSucceeded(audit: AuditSink, e: PasswordChangeSucceededEvent): void {
  audit.info({ event: 'password_change', ...e }, 'password changed');
}

export function passwordChangePolicy(audit: AuditSink, e: PasswordChangePolicyEvent): void {
  audit.info({ event: 'password_change', ...e }, 'new password refused by the password policy');
}

/** The current password was wrong: AD FS 1203, counts toward lockout. */
export function passwordChangeBadPassword(
  audit: AuditSink,
  e: PasswordChangeBadPasswordEvent,
): void {
  audit.warn(
    { event: 'password_change', eventId: AuditEventIds.badPassword, ...e },
    'password change failed: credential validation failed',
  );
}

export type PasswordChangeRateLimitedEvent = RequestFields;

export function passwordChangeRateLimited(
  audit: AuditSink,
  e: PasswordChangeRateLimitedEvent,
): void {
  audit.warn(
    { event: 'password_change_rate_limited', ...e },
    'password change refused: too many attempts from this address',
  );
}

/**
 * Three forms are CSRF-checked; the shape says which, and picks the message: the sign-in form (`originOk`), the
 * change-password form (`form: 'update-password'`), a certificate sign-in result (`method: 'certificate'`).
 */
export type CsrfRejectedEvent =
  | (RequestFields & { originOk: boolean; form?: undefined; method?: undefined })
  | (RequestFields & { form: 'update-password'; originOk: boolean; method?: undefined })
  | (RequestFields & { method: 'certificate'; objectGuid: string; form?: undefined });

export function csrfRejected(audit: AuditSink, e: CsrfRejectedEvent): void {
  audit.warn(
    { event: 'csrf_rejected', ...e },
    e.form === 'update-password'
      ? 'password change form rejected: CSRF check failed'
      : e.method === 'certificate'
        ? 'certificate sign-in result presented by a browser that did not start the sign-in'
        : 'sign-in form rejected: CSRF check failed',
  );
}

export interface CertificateHeaderIgnoredEvent extends RequestFields {
  reason: string;
  /** The socket's peer address. */
  peer: string | undefined;
  /** The header name variants seen. */
  names?: readonly string[] | undefined;
}

export function certificateHeaderIgnored(audit: AuditSink, e: CertificateHeaderIgnoredEvent): void {
  audit.warn({ event: 'certificate_header_ignored', ...e }, 'client-certificate header ignored');
}

export interface RevocationSoftFailEvent extends CertificateAttemptFields, CertificateFields {
  /** Which certificate, and why no answer. */
  detail: string;
}

export function revocationSoftFail(audit: AuditSink, e: RevocationSoftFailEvent): void {
  audit.warn(
    { event: 'revocation_soft_fail', ...e },
    'certificate revocation status unknown: accepted because revocation.mode is soft-fail',
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Sessions and sign-out

export interface SignoutEvent {
  activityId: string;
  objectGuid: string;
  /** The parties of the session. */
  rps: readonly string[];
  /** SAML 2.0 LogoutRequest only. */
  protocol?: 'saml2' | undefined;
  /** SAML 2.0: the party that asked. */
  initiator?: string | undefined;
}

export function signedOut(audit: AuditSink, e: SignoutEvent): void {
  audit.info({ event: 'signout', ...e }, 'signed out');
}

export interface SessionRevokedEvent {
  activityId: string;
  reason: 'account_disabled' | 'account_not_found';
}

export function sessionRevoked(audit: AuditSink, e: SessionRevokedEvent): void {
  audit.warn({ event: 'session_revoked', ...e }, 'SSO session ended: account no longer usable');
}

export interface Saml2LogoutEvent {
  activityId: string;
  rp: string;
  /** The LogoutRequest's ID. */
  requestId: string;
}

export function saml2LogoutNoSession(audit: AuditSink, e: Saml2LogoutEvent): void {
  audit.warn(
    { event: 'saml2_logout_no_session', ...e },
    'LogoutRequest found no session; answered PartialLogout',
  );
}

export function saml2LogoutMismatch(audit: AuditSink, e: Saml2LogoutEvent): void {
  audit.warn(
    { event: 'saml2_logout_mismatch', ...e },
    'LogoutRequest does not match the session; session kept',
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Keys and administration

export interface KeyGeneratedEvent {
  use: 'signing';
  thumbprint: string;
  dir: string;
}

export function keyGenerated(audit: AuditSink, e: KeyGeneratedEvent): void {
  audit.info({ event: 'key_generated', ...e }, 'generated a token-signing key');
}

/** A change to the token-signing ring as keys/rollover.ts reports it (without the certificate itself). */
export type KeyChangeAuditEvent = Omit<KeyChangeEvent, 'certificateBase64'> & {
  /** The OS user who ran the command (CLI only). */
  operator?: string | undefined;
  /**
   * For a new next certificate: the Microsoft Graph PowerShell line that hands it to Entra ID at once, for tenants
   * that do not pick it up from the federation metadata.
   */
  tenantCommand?: string | undefined;
};

/** A change to the token-signing ring (AD FS: AutoCertificateRollover, Update-AdfsCertificate). */
export function keyChanged(audit: AuditSink, e: KeyChangeAuditEvent): void {
  const what = {
    generated:
      e.role === 'primary'
        ? 'generated the first token-signing key'
        : 'generated the next token-signing key',
    promoted: 'promoted the next token-signing key to primary',
    retired: 'removed a token-signing key from the ring',
    imported: 'imported a token-signing key',
  }[e.action];
  audit.info({ event: 'key_rollover', ...e }, what);
}

/** The directory cache's state (issue 22): DirectoryCacheEvent from the directory, as the audit stream carries it. */
export type DirectoryCacheAuditEvent = DirectoryCacheEvent;

const DIRECTORY_CACHE_MESSAGES: Record<DirectoryCacheEvent['action'], string> = {
  degraded: 'directory cache not served: every directory read goes to the domain controller',
  restored: 'directory cache served again',
  resync: 'directory cache read the group graph in full',
};

/** degraded at warn (sign-ins cost the DC more until it is restored), restored and resync at info. */
export function directoryCache(audit: AuditSink, e: DirectoryCacheAuditEvent): void {
  const line = { event: 'directory_cache', ...e };
  if (e.action === 'degraded') audit.warn(line, DIRECTORY_CACHE_MESSAGES[e.action]);
  else audit.info(line, DIRECTORY_CACHE_MESSAGES[e.action]);
}

export interface LockoutResetEvent {
  method: 'cli';
  account: string;
  username: string;
  objectGuid: string | undefined;
  upn: string | undefined;
  /** The OS user who ran the command. */
  operator: string | undefined;
  familiarCount: number;
  unknownCount: number;
  forgetLocations: boolean;
  /** 'memory' or 'redis'. */
  store: string;
}

export function lockoutReset(audit: AuditSink, e: LockoutResetEvent): void {
  audit.info({ event: 'lockout_reset', ...e }, 'smart lockout counters reset by an administrator');
}

// ---------------------------------------------------------------------------------------------------------------
// Multi-factor authentication (issue 16)

/** Where a second factor is asked for: the browser protocols, WS-Trust (which refuses) and /adfs/portal/. */
export type MfaProtocol = 'wsfed' | 'saml2' | 'saml2-idp' | 'wstrust' | 'portal' | 'oidc';
/** mfa.methods (server/authn/mfa/factors.ts MfaMethod). */
export type MfaAuditMethod = 'totp' | 'webauthn' | 'radius';

/** A sign-in that needs a second factor (policy rule, preset, the party's request, or a step-up). */
export interface MfaRequiredEvent extends RequestFields {
  /** `guid:<objectGuid>`. */
  account: string;
  upn?: string | undefined;
  /** Empty at the self-service portal. */
  rp: string;
  protocol: MfaProtocol;
  /** Why, readable: the rule or preset that asked, `wauth`, `RequestedAuthnContext`, step-up. */
  reasons: readonly string[];
  /** 'refused' for WS-Trust usernamemixed, which has no way to ask for a second factor. */
  outcome: 'challenge' | 'refused';
}

export function mfaRequired(audit: AuditSink, e: MfaRequiredEvent): void {
  audit.info(
    { event: 'mfa_required', ...e },
    e.outcome === 'refused'
      ? 'second factor required but this protocol cannot ask for one: refused'
      : 'second factor required',
  );
}

/** Fields of every `mfa` line: one second-factor attempt. */
export interface MfaAttemptFields extends RequestFields {
  method: MfaAuditMethod;
  account: string;
  /** Empty at the self-service portal. */
  rp: string;
  /** The enrolled factor used (TOTP, WebAuthn), when known. */
  factorId?: string | undefined;
  /** RADIUS: the configured name of the server that answered (or last tried). */
  server?: string | undefined;
}

export interface MfaSucceededEvent extends MfaAttemptFields {
  outcome: 'success';
}

export interface MfaFailedEvent extends MfaAttemptFields {
  outcome: 'failure';
  /** wrong, replayed, malformed, counter, rp-id, reject, … */
  reason: string;
  /** Failed second factors counted toward the MFA lockout so far. */
  failures?: number | undefined;
}

export interface MfaLockedEvent extends MfaAttemptFields {
  outcome: 'locked';
  reason?: string | undefined;
  failures?: number | undefined;
}

export interface MfaUnavailableEvent extends MfaAttemptFields {
  outcome: 'unavailable';
  /** timeout, store, directory, … */
  reason: string;
}

export interface MfaUnreadableEvent extends MfaAttemptFields {
  outcome: 'unreadable';
  /** Why the enrolment record could not be opened (never its content). */
  reason: string;
}

export function mfaSucceeded(audit: AuditSink, e: MfaSucceededEvent): void {
  audit.info({ event: 'mfa', ...e }, 'second factor verified');
}

export function mfaFailed(audit: AuditSink, e: MfaFailedEvent): void {
  audit.warn({ event: 'mfa', ...e }, 'second factor failed');
}

/** The attempt was refused without being checked: the account is locked out of MFA. */
export function mfaLocked(audit: AuditSink, e: MfaLockedEvent): void {
  audit.warn({ event: 'mfa', ...e }, 'second factor refused: account locked out of MFA');
}

/** No verdict (RADIUS servers silent, store down): the sign-in stops with a clear page, never passes. */
export function mfaUnavailable(audit: AuditSink, e: MfaUnavailableEvent): void {
  audit.error({ event: 'mfa', ...e }, 'second factor could not be checked: method unavailable');
}

/** The sealed record failed to open (tampered, or sealed with a key no longer configured). */
export function mfaUnreadable(audit: AuditSink, e: MfaUnreadableEvent): void {
  audit.error(
    { event: 'mfa', ...e },
    'second factor could not be checked: enrolment record unreadable',
  );
}

export interface MfaLockedOutEvent extends RequestFields {
  account: string;
  method: MfaAuditMethod;
  failures: number;
  /** ISO 8601: when the MFA lockout ends. */
  until: string;
}

export function mfaLockedOut(audit: AuditSink, e: MfaLockedOutEvent): void {
  audit.warn(
    { event: 'mfa_locked_out', ...e },
    'account locked out of MFA: too many failed second factors',
  );
}

export type MfaEnrolmentAction =
  'added' | 'removed' | 'renamed' | 'reset' | 'code_issued' | 'code_redeemed' | 'viewed';

export interface MfaEnrolmentEvent {
  action: MfaEnrolmentAction;
  account: string;
  upn?: string | undefined;
  method?: MfaAuditMethod | undefined;
  factorId?: string | undefined;
  /** reset: how many factors were removed; viewed: how many are enrolled. */
  count?: number | undefined;
  /** 'self' at /adfs/portal/, 'admin' for `fedgate mfa`. */
  by: 'self' | 'admin';
  /** Self-service: what allowed the enrolment (mfa.enrolment.allow), or 'mfa' for a user with a factor already. */
  route?: 'intranet' | 'code' | 'certificate' | 'mfa' | undefined;
  /** `fedgate mfa`: the OS user who ran the command. */
  operator?: string | undefined;
  /** Requests only (not the command line). */
  activityId?: string | undefined;
  ip?: string | undefined;
}

const MFA_ENROLMENT_MESSAGES: Readonly<Record<MfaEnrolmentAction, string>> = {
  added: 'second factor enrolled',
  removed: 'second factor removed',
  renamed: 'second factor renamed',
  reset: 'all second factors removed',
  code_issued: 'enrolment code issued',
  code_redeemed: 'enrolment code redeemed',
  viewed: 'second factors viewed',
};

export function mfaEnrolment(audit: AuditSink, e: MfaEnrolmentEvent): void {
  audit.info({ event: 'mfa_enrolment', ...e }, MFA_ENROLMENT_MESSAGES[e.action]);
}

export interface MfaEnrolmentRefusedEvent extends RequestFields {
  reason:
    | 'policy'
    | 'code_wrong'
    | 'code_expired'
    | 'code_none'
    | 'attestation'
    | 'aaguid'
    | 'duplicate'
    | 'too_many'
    | 'invalid';
  account: string;
  method?: MfaAuditMethod | undefined;
}

export function mfaEnrolmentRefused(audit: AuditSink, e: MfaEnrolmentRefusedEvent): void {
  audit.warn({ event: 'mfa_enrolment_refused', ...e }, 'second factor enrolment refused');
}

// ---------------------------------------------------------------------------------------------------------------
// The catalogue

/** Keys of every member of a union. */
type KeysOf<T> = T extends unknown ? keyof T & string : never;

/**
 * The field names of T, checked by the compiler: every name must be a field of T, and every field of T must be
 * named (`{ missing: … }` in the error says which).
 */
function fieldsOf<T>() {
  return <const K extends readonly KeysOf<T>[]>(
    ...keys: K &
      ([Exclude<KeysOf<T>, K[number]>] extends [never]
        ? unknown
        : { missing: Exclude<KeysOf<T>, K[number]> })
  ): K => keys;
}

export interface AuditEventSpec {
  /** The `event` field. */
  readonly name: string;
  /** AD FS ids it can carry (empty: never has `eventId`). */
  readonly ids: readonly AuditEventId[];
  readonly levels: readonly AuditLevel[];
  /** Every field it can carry beyond `event` and `eventId`. */
  readonly fields: readonly string[];
}

const ID = AuditEventIds;

/** Every audit event: docs/events.md must document each, with exactly these fields. */
export const AUDIT_EVENTS: readonly AuditEventSpec[] = [
  {
    name: 'signin',
    ids: [ID.signInFailed, ID.badPassword],
    levels: ['info', 'warn'],
    fields: fieldsOf<
      | SigninSucceededEvent
      | SigninFailedEvent
      | SigninEmptyCredentialsEvent
      | SigninCertificateSucceededEvent
      | SigninCertificateFailedEvent
      | SigninCertificateProxyRefusedEvent
      | SigninCertificateMissingEvent
    >()(
      'ip',
      'activityId',
      'method',
      'username',
      'forwardedIps',
      'rp',
      'outcome',
      'upn',
      'objectGuid',
      'location',
      'account',
      'badPasswordCount',
      'kind',
      'reason',
      'source',
      'mapping',
      'weakMapping',
      'detail',
      'thumbprint',
      'serialNumber',
      'certIssuer',
      'certSubject',
    ),
  },
  {
    name: 'token_issued',
    ids: [ID.tokenIssued],
    levels: ['info'],
    fields: fieldsOf<TokenIssuedEvent>()(
      'ip',
      'activityId',
      'protocol',
      'rp',
      'upn',
      'objectGuid',
      'assertionId',
      'method',
      'claims',
      'notOnOrAfter',
      'inResponseTo',
      'encrypted',
      'endpoint',
      'tokenType',
      'clientApplication',
    ),
  },
  {
    name: 'access_denied',
    ids: [ID.signInFailed],
    levels: ['warn'],
    fields: fieldsOf<AccessDeniedEvent>()(
      'ip',
      'activityId',
      'protocol',
      'rp',
      'upn',
      'objectGuid',
      'rule',
      'claims',
    ),
  },
  {
    name: 'issuance_failed',
    ids: [ID.signInFailed],
    levels: ['warn'],
    fields: fieldsOf<IssuanceFailedEvent>()(
      'ip',
      'activityId',
      'protocol',
      'rp',
      'upn',
      'objectGuid',
      'reason',
    ),
  },
  {
    name: 'saml2_status',
    ids: [],
    levels: ['info'],
    fields: fieldsOf<Saml2StatusEvent>()('activityId', 'status', 'rp', 'requestId', 'reason'),
  },
  {
    name: 'password_change_required',
    ids: [],
    levels: ['info'],
    fields: fieldsOf<PasswordChangeRequiredEvent>()(
      'ip',
      'activityId',
      'kind',
      'reason',
      'username',
      'objectGuid',
      'rp',
    ),
  },
  {
    name: 'banned_address',
    ids: [ID.signInFailed],
    levels: ['warn'],
    fields: fieldsOf<SourceRefusedEvent>()(
      'ip',
      'activityId',
      'method',
      'username',
      'forwardedIps',
      'rp',
      'outcome',
      'reason',
    ),
  },
  {
    name: 'source_rate_limited',
    ids: [ID.signInFailed],
    levels: ['warn'],
    fields: fieldsOf<SourceRefusedEvent>()(
      'ip',
      'activityId',
      'method',
      'username',
      'forwardedIps',
      'rp',
      'outcome',
      'reason',
    ),
  },
  {
    name: 'extranet_lockout',
    ids: [ID.extranetLockoutBlocked],
    levels: ['warn'],
    fields: fieldsOf<ExtranetLockoutEvent>()(
      'ip',
      'activityId',
      'method',
      'username',
      'forwardedIps',
      'rp',
      'account',
      'location',
      'badPasswordCount',
      'objectGuid',
      'enforced',
    ),
  },
  {
    name: 'account_locked_out',
    ids: [ID.accountLockedOut],
    levels: ['warn'],
    fields: fieldsOf<AccountLockedOutEvent>()(
      'ip',
      'activityId',
      'method',
      'username',
      'forwardedIps',
      'rp',
      'account',
      'location',
      'badPasswordCount',
      'objectGuid',
      'enforced',
    ),
  },
  {
    name: 'correct_password_while_locked',
    ids: [ID.correctPasswordWhileLocked],
    levels: ['error'],
    fields: fieldsOf<CorrectPasswordWhileLockedEvent>()(
      'ip',
      'activityId',
      'method',
      'username',
      'forwardedIps',
      'rp',
      'account',
      'objectGuid',
    ),
  },
  {
    name: 'password_spray_suspected',
    ids: [],
    levels: ['error'],
    fields: fieldsOf<PasswordSpraySuspectedEvent>()(
      'ip',
      'activityId',
      'method',
      'username',
      'forwardedIps',
      'rp',
      'distinctAccounts',
      'failures',
    ),
  },
  {
    name: 'password_change',
    ids: [ID.signInFailed, ID.badPassword],
    levels: ['info', 'warn'],
    fields: fieldsOf<
      | PasswordChangeSourceRefusedEvent
      | PasswordChangeSucceededEvent
      | PasswordChangePolicyEvent
      | PasswordChangeBadPasswordEvent
    >()(
      'ip',
      'activityId',
      'method',
      'username',
      'rp',
      'outcome',
      'reason',
      'objectGuid',
      'violation',
      'account',
      'location',
      'badPasswordCount',
    ),
  },
  {
    name: 'password_change_rate_limited',
    ids: [],
    levels: ['warn'],
    fields: fieldsOf<PasswordChangeRateLimitedEvent>()('ip', 'activityId'),
  },
  {
    name: 'csrf_rejected',
    ids: [],
    levels: ['warn'],
    fields: fieldsOf<CsrfRejectedEvent>()(
      'ip',
      'activityId',
      'originOk',
      'form',
      'method',
      'objectGuid',
    ),
  },
  {
    name: 'certificate_header_ignored',
    ids: [],
    levels: ['warn'],
    fields: fieldsOf<CertificateHeaderIgnoredEvent>()(
      'ip',
      'activityId',
      'reason',
      'peer',
      'names',
    ),
  },
  {
    name: 'revocation_soft_fail',
    ids: [],
    levels: ['warn'],
    fields: fieldsOf<RevocationSoftFailEvent>()(
      'ip',
      'activityId',
      'method',
      'source',
      'rp',
      'detail',
      'thumbprint',
      'serialNumber',
      'certIssuer',
      'certSubject',
    ),
  },
  {
    name: 'signout',
    ids: [],
    levels: ['info'],
    fields: fieldsOf<SignoutEvent>()('activityId', 'objectGuid', 'rps', 'protocol', 'initiator'),
  },
  {
    name: 'session_revoked',
    ids: [],
    levels: ['warn'],
    fields: fieldsOf<SessionRevokedEvent>()('activityId', 'reason'),
  },
  {
    name: 'saml2_logout_no_session',
    ids: [],
    levels: ['warn'],
    fields: fieldsOf<Saml2LogoutEvent>()('activityId', 'rp', 'requestId'),
  },
  {
    name: 'saml2_logout_mismatch',
    ids: [],
    levels: ['warn'],
    fields: fieldsOf<Saml2LogoutEvent>()('activityId', 'rp', 'requestId'),
  },
  {
    name: 'directory_cache',
    ids: [],
    levels: ['info', 'warn'],
    fields: fieldsOf<DirectoryCacheAuditEvent>()(
      'action',
      'reason',
      'dc',
      'stalenessSeconds',
      'groups',
      'durationMs',
    ),
  },
  {
    name: 'key_generated',
    ids: [],
    levels: ['info'],
    fields: fieldsOf<KeyGeneratedEvent>()('use', 'thumbprint', 'dir'),
  },
  {
    name: 'key_rollover',
    ids: [],
    levels: ['info'],
    fields: fieldsOf<KeyChangeAuditEvent>()(
      'action',
      'thumbprint',
      'role',
      'notBefore',
      'notAfter',
      'reason',
      'by',
      'custody',
      'operator',
      'tenantCommand',
    ),
  },
  {
    name: 'lockout_reset',
    ids: [],
    levels: ['info'],
    fields: fieldsOf<LockoutResetEvent>()(
      'method',
      'account',
      'username',
      'objectGuid',
      'upn',
      'operator',
      'familiarCount',
      'unknownCount',
      'forgetLocations',
      'store',
    ),
  },
  {
    name: 'mfa_required',
    ids: [],
    levels: ['info'],
    fields: fieldsOf<MfaRequiredEvent>()(
      'ip',
      'activityId',
      'account',
      'upn',
      'rp',
      'protocol',
      'reasons',
      'outcome',
    ),
  },
  {
    name: 'mfa',
    ids: [],
    levels: ['info', 'warn', 'error'],
    fields: fieldsOf<
      MfaSucceededEvent | MfaFailedEvent | MfaLockedEvent | MfaUnavailableEvent | MfaUnreadableEvent
    >()(
      'ip',
      'activityId',
      'method',
      'account',
      'rp',
      'factorId',
      'server',
      'outcome',
      'reason',
      'failures',
    ),
  },
  {
    name: 'mfa_locked_out',
    ids: [],
    levels: ['warn'],
    fields: fieldsOf<MfaLockedOutEvent>()(
      'ip',
      'activityId',
      'account',
      'method',
      'failures',
      'until',
    ),
  },
  {
    name: 'mfa_enrolment',
    ids: [],
    levels: ['info'],
    fields: fieldsOf<MfaEnrolmentEvent>()(
      'action',
      'account',
      'upn',
      'method',
      'factorId',
      'count',
      'by',
      'route',
      'operator',
      'activityId',
      'ip',
    ),
  },
  {
    name: 'mfa_enrolment_refused',
    ids: [],
    levels: ['warn'],
    fields: fieldsOf<MfaEnrolmentRefusedEvent>()('ip', 'activityId', 'reason', 'account', 'method'),
  },
];
