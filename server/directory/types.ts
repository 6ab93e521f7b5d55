/**
 * DirectoryProvider: the contract every user directory implements (LDAP against AD DS, embedded demo).
 * Both implementations run the same contract suite (tests/contract/directory.contract.ts).
 * The dependencies an implementation is built with (DirectoryDeps) live here too, not in index.ts, so that
 * embedded.ts and ldap.ts never import the module that imports them (issue 15: no import circle).
 */
import type { Logger } from 'pino';
import type { Clock } from '../lib/clock.ts';

/** An AD-shaped user as fedgate needs it. Binary attributes are kept as bytes. */
export interface DirectoryUser {
  /** Distinguished name of the entry (used for the password bind; never built from user input). */
  dn: string;
  /** Raw 16-byte objectGUID as read from the directory (little-endian .NET Guid byte order). */
  objectGuid: Buffer;
  /** Raw mS-DS-ConsistencyGuid when set. */
  consistencyGuid?: Buffer | undefined;
  /** base64(consistencyGuid ?? objectGuid): the Entra ImmutableID / sourceAnchor. */
  immutableId: string;
  /** Objectsid as an SID string (S-1-5-21-…) when known. */
  objectSid?: string | undefined;
  sAMAccountName: string;
  userPrincipalName?: string | undefined;
  /** NetBIOS domain name (CORP) the account belongs to. */
  netbiosDomain: string;
  /** DOMAIN\sAMAccountName, as AD FS issues windowsaccountname. */
  windowsAccountName: string;
  displayName?: string | undefined;
  givenName?: string | undefined;
  surname?: string | undefined;
  mail?: string | undefined;
  /** Names (CN) of the groups the user is a direct member of. */
  groups: string[];
  /** userAccountControl ACCOUNTDISABLE not set. */
  enabled: boolean;
  /**
   * pwdLastSet as the directory returned it (a FILETIME): it changes whenever the password changes, wherever it
   * was changed. The embedded demo directory keeps a version stamp that changes with each password change.
   */
  passwordLastSet?: string | undefined;
  /**
   * When the password expires, from AD's msDS-UserPasswordExpiryTimeComputed (domain maxPwdAge or the user's PSO
   * applied to pwdLastSet); undefined when it never expires or the directory cannot say.
   */
  passwordExpiresAt?: Date | undefined;
  /**
   * Set by the username/password sign-in step (authn/password.ts) only, when the password expires within the notice
   * window (passwordChange.expiryNoticeDays): the input claim passwordexpirationtime, which AD FS likewise adds only
   * for username/password sign-ins within 14 days of expiry ([PWDEXP]). Never set by directory look-ups.
   */
  passwordExpiryNotice?: Date | undefined;
}

/** Why a sign-in failed; maps AD bind sub-codes (security-corpus C3). Never shown to the user as is. */
export type AuthFailureKind =
  | 'bad_credentials' // 52e wrong password, 525 no such user, or the name matched nothing / more than one entry
  | 'locked' // 775
  | 'disabled' // 533
  | 'account_expired' // 701
  | 'password_expired' // 532
  | 'must_change_password' // 773
  | 'logon_restricted' // 530 (logon hours) / 531 (workstation)
  | 'unavailable'; // every DC failed / timed out (infrastructure, not the user's fault)

export type AuthResult =
  | { ok: true; user: DirectoryUser }
  | {
      ok: false;
      kind: AuthFailureKind;
      /** Internal reason for audit: 'no_such_user', 'wrong_password', 'empty_password', 'invalid_name',
       *  'ambiguous', 'ad:52e', 'timeout', …  */
      reason: string;
      /** The resolved entry when one was found (lets lockout/audit key on the account). */
      user?: DirectoryUser | undefined;
    };

/** Which rule of the password policy a new password broke (AD answers 0x52D ERROR_PASSWORD_RESTRICTION). */
export type PasswordPolicyViolation = 'too_short' | 'complexity' | 'history' | 'min_age' | 'policy';

export type PasswordChangeResult =
  | { ok: true }
  | {
      ok: false;
      /** bad_credentials: the old password is wrong (AD 0x56); policy: the new one was refused. */
      kind: 'bad_credentials' | 'policy' | 'unavailable';
      /** Internal reason for audit ('ad:56', 'ad:52d', 'no_such_user', …). */
      reason: string;
      violation?: PasswordPolicyViolation | undefined;
    };

export interface DirectoryHealth {
  ok: boolean;
  /** Per-server state, safe for logs (no credentials). */
  servers: { url: string; ok: boolean; detail?: string }[];
}

/** An attribute value as read: text attributes as strings, binary ones (objectGUID, SIDs, …) as bytes. */
export type AttributeValue = string | Buffer;

/** One directory entry's values, keyed by the attribute names as the query gave them. */
export type AttributeValues = Record<string, AttributeValue[]>;

/**
 * What the claims engine's "Active Directory" attribute store asks for (AD FS query `filter;attrs;DOMAIN\user`,
 * entra-protocol.md §6.1).
 */
export interface AttributeQuery {
  /**
   * `DOMAIN\sAMAccountName`. Without `filter` this account's entry is read; with a filter, its DOMAIN names the
   * domain searched. A domain other than the directory's is an error.
   */
  account: string;
  /**
   * An RFC 4515 filter searched over the whole domain (its naming context, not just directory.baseDn). Every value
   * taken from a claim must already be escaped (ldapts `Filter.escape`); the filter's structure is the
   * administrator's. A bare item (`sAMAccountName=jdoe`) is accepted.
   */
  filter?: string | undefined;
  /**
   * LDAP attribute names, case-insensitive. Constructed attributes (tokenGroups,
   * msDS-UserPasswordExpiryTimeComputed) are read from each entry itself, as AD requires.
   */
  attributes: readonly string[];
}

/**
 * What certificate sign-in asks the directory (KB5014754 mapping): every account that the certificate's SID
 * extension, one of its strong altSecurityIdentities values, or one of its SAN UPNs names. The mapping policy
 * (authn/certificate/mapping.ts) decides which, if any, signs in.
 */
export interface CertificateMappingQuery {
  /** objectSid (S-1-5-21-…) from the certificate's SID extension. */
  sid?: string | undefined;
  /** altSecurityIdentities values, matched exactly (case-insensitively, as AD matches the attribute). */
  altSecurityIdentities: readonly string[];
  /** userPrincipalName values from the certificate's SAN (for weak mapping and the SID/UPN agreement check). */
  upns: readonly string[];
}

/** Account state AD enforces at logon, read because certificate sign-in performs no bind ([MS-ADTS] §2.2.16). */
export interface AccountState {
  /** userAccountControl ACCOUNTDISABLE. */
  disabled: boolean;
  /** Locked out now (msDS-User-Account-Control-Computed UF_LOCKOUT). */
  locked: boolean;
  /** accountExpires has passed. */
  expired: boolean;
}

export interface CertificateAccount {
  user: DirectoryUser;
  /** The account's altSecurityIdentities values as stored. */
  altSecurityIdentities: string[];
  state: AccountState;
}

/** At most this many accounts answer one certificate query; more is refused as ambiguous. */
export const MAX_CERTIFICATE_ACCOUNTS = 8;

/** An attribute's schema entry (attributeSchema), as describeAttribute reads it. */
export interface AttributeSchema {
  /** lDAPDisplayName as the schema spells it. */
  name: string;
  /** attributeSyntax OID: 2.5.5.12 is Unicode string. */
  syntax: string;
  singleValued: boolean;
  /** Longest value (characters for strings); undefined when the schema sets no bound. */
  rangeUpper?: number | undefined;
  /** searchFlags fCONFIDENTIAL: reading needs control access, not just read property. */
  confidential: boolean;
}

/** What writeAttribute did: see DirectoryProvider.writeAttribute. */
export type AttributeWriteResult = 'written' | 'conflict' | 'too-large';

export interface DirectoryProvider {
  readonly kind: 'ldap' | 'embedded';
  /**
   * Checks a password. Accepts `user@suffix` (userPrincipalName), `DOMAIN\user` (sAMAccountName in that
   * NetBIOS domain) and bare `user` (sAMAccountName in the default domain). Empty or whitespace-only
   * passwords are refused before any directory traffic.
   * `resolved`: what findUser(username) returned moments ago for this same name (the user, or undefined for no
   * single match); the provider then binds without searching again. An unresolved name still costs one bind
   * (against a decoy DN), so known and unknown names do the same work.
   */
  authenticate(
    username: string,
    password: string,
    resolved?: { user: DirectoryUser | undefined },
  ): Promise<AuthResult>;
  /** Looks a user up by the same name forms as authenticate; undefined when none or ambiguous. */
  findUser(username: string): Promise<DirectoryUser | undefined>;
  /** Looks a user up by raw objectGUID (SSO session refresh). */
  findByObjectGuid(guid: Buffer): Promise<DirectoryUser | undefined>;
  /**
   * Every account a certificate names (see CertificateMappingQuery), with its altSecurityIdentities and logon
   * state. Rejects with FederationError 'directory_unavailable' when no DC answers, and with a plain Error when more
   * than MAX_CERTIFICATE_ACCOUNTS match.
   */
  findByCertificate(query: CertificateMappingQuery): Promise<CertificateAccount[]>;
  /**
   * The certificateRevocationList of the cRLDistributionPoint entry at `dn` (AD CS publishes CRLs there and names
   * it in ldap:/// CDP URLs); undefined when the entry or the attribute is absent. Only LDAP directories have it.
   */
  readCrl?(dn: string): Promise<Buffer | undefined>;
  /**
   * Reads attributes for claim rules: one element per matching entry (none when nothing matches). Binary
   * attributes come back as bytes (see ad-attributes.ts); `tokenGroups` holds the SIDs of every group the account
   * is in, nested ones included. Rejects with FederationError 'directory_unavailable' when no DC answers, and with
   * a plain Error for a query the directory cannot run (unknown domain, malformed filter, too many entries).
   */
  queryAttributes(query: AttributeQuery): Promise<AttributeValues[]>;
  /**
   * Changes a password as its user would: the old password must be right, and the domain's password policy
   * (length, complexity, history, minimum age) applies, unlike an administrator's reset. On AD: an LDAPS modify
   * of unicodePwd deleting the old value and adding the new one ([MS-ADTS] §3.1.1.3.1.5.2). Works for expired
   * and must-change passwords (where a bind as the user is refused).
   */
  changePassword?(
    username: string,
    oldPassword: string,
    newPassword: string,
  ): Promise<PasswordChangeResult>;
  /**
   * One single-valued text attribute of the entry at `dn` (a DirectoryUser's dn, never one built from input), read
   * with the service account; undefined when it is not set. Used for MFA enrolments (mfa.enrolment.attribute).
   * Rejects with FederationError 'directory_unavailable' when no DC answers, and with a plain Error when the entry
   * does not exist or the attribute holds more than one value.
   */
  readAttribute?(dn: string, attribute: string): Promise<string | undefined>;
  /**
   * Sets (or, with `value` undefined, clears) one single-valued text attribute of the entry at `dn` with the
   * service account, which needs write permission on that attribute only (docs/mfa-directory.md).
   * With `expected`, a compare-and-swap: the write happens only when the attribute still holds `expected.value`
   * (undefined: not set), in one LDAP modify (delete old value + add new one), so two nodes updating the same
   * record never silently lose one update ('conflict'). 'too-large': the DC refused the value as longer than the
   * attribute's rangeUpper. Rejects with FederationError 'directory_unavailable' when no DC answers, and with a
   * plain Error for anything else (no such entry, insufficient access).
   */
  writeAttribute?(
    dn: string,
    attribute: string,
    value: string | undefined,
    expected?: { value: string | undefined },
  ): Promise<AttributeWriteResult>;
  /**
   * What the schema says about an attribute (by lDAPDisplayName), so a misnamed or unsuitable
   * mfa.enrolment.attribute is reported clearly and the record's size bound follows its rangeUpper; undefined when
   * the schema has no such attribute. Rejects with FederationError 'directory_unavailable' when no DC answers.
   */
  describeAttribute?(attribute: string): Promise<AttributeSchema | undefined>;
  healthCheck(): Promise<DirectoryHealth>;
  close(): Promise<void>;
}

/** The part of a pino logger the directory uses. Passwords are never passed to it. */
export type DirLogger = Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;

/**
 * One unit of directory work, reported to `onOperation` before it starts: network work for LDAP (per DC URL),
 * password verification for the embedded directory. Lets tests prove that, e.g., an empty password causes
 * no traffic (security-corpus C4.5) and that a rejected bind is not repeated on another DC (C3.1).
 */
export interface DirectoryOperation {
  /** DC URL, or `embedded`. */
  url: string;
  op:
    | 'connect'
    | 'service_bind'
    | 'search'
    | 'bind'
    | 'verify_password'
    | 'modify'
    // The directory cache's change tracking (its own connection, off the sign-in path).
    | 'tracking_connect'
    | 'tracking_bind'
    | 'tracking_search';
}

/** Directory cache state changes (audit stream: directory_cache). */
export interface DirectoryCacheEvent {
  /**
   * degraded: cached answers are no longer served (tracking lost or behind the bound): every read goes to the DC;
   * restored: served again; resync: a full read of the group graph completed.
   */
  action: 'degraded' | 'restored' | 'resync';
  /** Why (degraded: the tracker's last error or 'stale'; resync: 'start', 'dc-switch', 'usn-regressed'). */
  reason: string;
  /** The DC tracking follows. */
  dc: string | undefined;
  /** Seconds since the last complete sync, when known. */
  stalenessSeconds?: number | undefined;
  /** resync only: groups read, and how long the full read took. */
  groups?: number | undefined;
  durationMs?: number | undefined;
}

export interface DirectoryDeps {
  logger: DirLogger;
  clock: Clock;
  /** Relative paths in the directory config (CA file, users file) resolve against this. */
  baseDir: string;
  onOperation?: ((op: DirectoryOperation) => void) | undefined;
  /**
   * Attributes the configured claim rules read from the signed-in user's own entry: the directory cache keeps them
   * with the user, so those rules need no DC round trip on a warm sign-in.
   */
  cachedAttributes?: readonly string[] | undefined;
  /** Directory cache state changes, written to the audit stream by the caller. */
  onCacheEvent?: ((e: DirectoryCacheEvent) => void) | undefined;
}
