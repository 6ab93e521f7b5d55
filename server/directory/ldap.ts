import { randomBytes } from 'node:crypto';
import tls from 'node:tls';
import {
  AndFilter,
  Attribute,
  Change,
  Client,
  AdminLimitExceededError,
  ConstraintViolationError,
  EqualityFilter,
  InsufficientAccessError,
  InvalidCredentialsError,
  NoSuchAttributeError,
  NoSuchObjectError,
  OrFilter,
  PresenceFilter,
  ResultCodeError,
  SizeLimitExceededError,
  TypeOrValueExistsError,
  type Entry,
  type Filter,
} from 'ldapts';
import type { LdapDirectoryConfig } from '../config/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { FederationError } from '../lib/errors.ts';
import {
  BINARY_ATTRIBUTE_NAMES,
  MAX_QUERY_ENTRIES,
  domainRootOf,
  sidToBytes,
  isBinaryAttribute,
  isConstructedAttribute,
} from './ad-attributes.ts';
import { mapInvalidCredentials, type BindFailure } from './ad-errors.ts';
import { sidToString } from './guid.ts';
import {
  describeLdapError as describe,
  entryBinary as binary,
  entryText as text,
  entryValues as values,
} from './ldap-entry.ts';
import { parseLdapFilter, toLdapts } from './ldap-filter.ts';
import { directoryTlsOptions, readDirectoryCa } from './ldap-tls.ts';
import { BindPool, DirectoryBusyError } from './pool.ts';
import type {
  AttributeQuery,
  AttributeSchema,
  AttributeValues,
  AttributeWriteResult,
  AuthResult,
  CertificateAccount,
  CertificateMappingQuery,
  DirectoryDeps,
  DirectoryHealth,
  DirectoryOperation,
  DirectoryProvider,
  DirectoryUser,
  DirLogger,
  PasswordChangeResult,
} from './types.ts';
import { MAX_CERTIFICATE_ACCOUNTS } from './types.ts';
import { accountName, parseSignInName, type SignInName, type SignInNameRules } from './username.ts';

const USER_ATTRIBUTES = [
  'objectGUID',
  'mS-DS-ConsistencyGuid',
  'objectSid',
  'sAMAccountName',
  'userPrincipalName',
  'displayName',
  'givenName',
  'sn',
  'mail',
  'memberOf',
  'userAccountControl',
  'pwdLastSet',
  // The primary group is not in memberOf: the directory cache computes tokenGroups from it ([MS-ADTS] §3.1.1.4.5.19).
  'primaryGroupID',
  'accountExpires',
  // Constructed, but AD and Samba compute it in subtree searches too (Get-ADUser -Filter relies on that).
  'msDS-UserPasswordExpiryTimeComputed',
];
/** Read as raw bytes; decoding them as UTF-8 would corrupt the ImmutableID. */
const BINARY_ATTRIBUTES = ['objectGUID', 'mS-DS-ConsistencyGuid', 'objectSid'];
/** userAccountControl ACCOUNTDISABLE ([MS-ADTS] §2.2.16). */
const UF_ACCOUNTDISABLE = 0x2;
/** msDS-User-Account-Control-Computed UF_LOCKOUT ([MS-ADTS] §3.1.1.4.5.17): locked out now. */
const UF_LOCKOUT = 0x10;
/** What certificate mapping reads besides the usual user attributes. */
const CERTIFICATE_ATTRIBUTES = [...USER_ATTRIBUTES, 'altSecurityIdentities', 'accountExpires'];
/** busy, unavailable, other: the DC, not the request, is the problem (security-corpus C3.1). */
const FAILOVER_RESULT_CODES = new Set([51, 52, 80]);
/**
 * LDAP_SERVER_FAST_BIND_OID ([MS-ADTS] §3.1.1.3.4.2.5): an extended operation that puts a connection in fast
 * concurrent bind mode, where each simple bind only verifies the password (the DC builds no token and evaluates no
 * group membership for it). Our pooled connections only ever bind, so nothing else is lost. The DC lists it in its
 * rootDSE supportedExtension when it supports it (AD DS since Windows Server 2003). Samba does not list it (measured
 * 2026-12-06): on Samba no extended operation is sent and every bind is an ordinary simple bind.
 */
export const FAST_BIND_OID = '1.2.840.113556.1.4.1781';

/** A DC that failed is tried after the healthy ones for this long (security-corpus E1). */
const DEMOTE_FAILED_DC_MS = 30_000;

interface DomainController {
  url: string;
  /** Service-account connection for searches (autoRebind: a reconnect never searches unauthenticated). */
  service: Client;
  serviceBinding: Promise<void> | undefined;
  /** Connections for user binds only. */
  pool: BindPool;
  demotedUntil: number;
  /** Whether the DC's rootDSE lists FAST_BIND_OID: undefined until read (once per DC). */
  fastBind: boolean | undefined;
  fastBindProbe: Promise<boolean> | undefined;
}

/** The service account itself was refused: a configuration problem, not something another DC would fix. */
class ServiceAccountRejected extends Error {}

type Attempt<T> = { ok: true; value: T } | { ok: false; reason: string };

/** What findUserEntry read: the user, the values of every attribute asked for, and which DC answered. */
export interface UserEntryRead {
  user: DirectoryUser;
  /**
   * Keyed by lowercase attribute name: the user attributes fedgate always reads (USER_ATTRIBUTES, constructed ones
   * excepted) and the extra ones asked for; [] for an attribute that is not set. Binary attributes as Buffer, as
   * queryAttributes returns them.
   */
  values: AttributeValues;
  /** URL of the DC that answered the search. */
  dc: string;
}

/** The stored (not constructed) attributes of the user read, which findUserEntry returns as values. */
export const STORED_USER_ATTRIBUTES: readonly string[] = [
  ...USER_ATTRIBUTES.filter((a) => !isConstructedAttribute(a)),
  'distinguishedName',
];

/**
 * DirectoryProvider for AD DS over LDAPS (security-corpus C3, C4, E1, E2). Flow per sign-in: escaped search
 * with the service account (sizeLimit 2, exactly one match) → simple bind with the DN found, on a pooled
 * connection → AD's bind sub-code mapped to a failure kind. DCs are tried in order on connection errors,
 * timeouts and busy/unavailable results; a bind refused with result 49 is never repeated on another DC
 * (it would count twice toward AD lockout).
 */
export class LdapDirectory implements DirectoryProvider {
  readonly kind = 'ldap' as const;
  readonly #config: LdapDirectoryConfig;
  readonly #logger: DirLogger;
  readonly #clock: Clock;
  readonly #onOperation: ((op: DirectoryOperation) => void) | undefined;
  readonly #rules: SignInNameRules;
  readonly #dcs: DomainController[];
  /** Bound on the unknown-user path: a DN that cannot exist, so no account's badPwdCount moves. */
  readonly #decoyDn: string;
  /** The domain naming context: claim-rule queries search the whole domain, as AD FS's AD store does. */
  readonly #domainRoot: string;
  #closed = false;
  /**
   * Rejects on close(). Every operation races against it: ldapts leaves a bind pending forever when its
   * socket is destroyed mid-connect, and a caller must never hang on a closed directory.
   */
  readonly #closing: Promise<never>;
  #signalClosed: (err: Error) => void = () => undefined;

  constructor(config: LdapDirectoryConfig, deps: DirectoryDeps) {
    this.#config = config;
    this.#logger = deps.logger;
    this.#clock = deps.clock;
    this.#onOperation = deps.onOperation;
    this.#rules = { netbiosDomain: config.netbiosDomain, upnSuffixes: config.upnSuffixes };
    this.#decoyDn = `CN=fedgate-decoy-${randomBytes(12).toString('hex')},${config.baseDn}`;
    this.#domainRoot = domainRootOf(config.baseDn);
    this.#closing = new Promise<never>((_, reject) => {
      this.#signalClosed = reject;
    });
    this.#closing.catch(() => undefined);
    // C4.6: certificate checks always on; the CA bundle is pinned when configured.
    const tlsOptions = directoryTlsOptions(config, readDirectoryCa(config, deps.baseDir));
    this.#dcs = config.urls.map((url) => {
      const client = (autoRebind: boolean): Client =>
        new Client({
          url,
          // E2: ldapts has no timeouts unless set.
          timeout: config.timeoutMs,
          connectTimeout: config.connectTimeoutMs,
          tlsOptions,
          autoRebind,
          createSecureConnection: this.#connector(url),
        });
      const dc: DomainController = {
        url,
        service: client(true),
        serviceBinding: undefined,
        pool: new BindPool(config.poolSize, () => client(false), {
          maxWaitMs: config.maxQueueWaitMs,
          prepare: (c) => this.#prepareBindConnection(dc, c),
        }),
        demotedUntil: 0,
        fastBind: undefined,
        fastBindProbe: undefined,
      };
      return dc;
    });
  }

  async authenticate(
    username: string,
    password: string,
    resolved?: { user: DirectoryUser | undefined },
  ): Promise<AuthResult> {
    const parsed = parseSignInName(username, this.#rules);
    if (!parsed.ok) return { ok: false, kind: 'bad_credentials', reason: parsed.reason };
    // C4.5: a simple bind with an empty password is an unauthenticated bind (RFC 4513 §5.1.2) that AD
    // answers with success; refuse it before any traffic.
    if (typeof password !== 'string' || password.trim() === '') {
      return { ok: false, kind: 'bad_credentials', reason: 'empty_password' };
    }
    if (resolved !== undefined) {
      const known = resolved.user;
      const bound = await this.#withFailover(async (dc): Promise<AuthResult> => {
        if (known === undefined) {
          await this.#bind(dc, this.#decoyDn, password); // C2.2, as below
          return { ok: false, kind: 'bad_credentials', reason: 'no_such_user' };
        }
        const failure = await this.#bind(dc, known.dn, password);
        return failure === undefined
          ? { ok: true, user: known }
          : { ok: false, ...failure, user: known };
      });
      return bound.ok ? bound.value : { ok: false, kind: 'unavailable', reason: bound.reason };
    }
    const filter = userFilter(parsed.name);
    const attempt = await this.#withFailover(async (dc): Promise<AuthResult> => {
      const entries = await this.#search(dc, filter);
      const [entry] = entries;
      if (entry === undefined) {
        // C2.2: bind anyway so an unknown name costs the same round trip as a wrong password.
        await this.#bind(dc, this.#decoyDn, password);
        return { ok: false, kind: 'bad_credentials', reason: 'no_such_user' };
      }
      // C4.2: two matches fail, as AD FS does (MSIS8014/8015).
      if (entries.length > 1) return { ok: false, kind: 'bad_credentials', reason: 'ambiguous' };
      const user = this.#toUser(entry);
      const failure = await this.#bind(dc, user.dn, password);
      return failure === undefined ? { ok: true, user } : { ok: false, ...failure, user };
    });
    return attempt.ok ? attempt.value : { ok: false, kind: 'unavailable', reason: attempt.reason };
  }

  async changePassword(
    username: string,
    oldPassword: string,
    newPassword: string,
  ): Promise<PasswordChangeResult> {
    const parsed = parseSignInName(username, this.#rules);
    if (!parsed.ok) return { ok: false, kind: 'bad_credentials', reason: parsed.reason };
    if (oldPassword.trim() === '' || newPassword.trim() === '')
      return { ok: false, kind: 'bad_credentials', reason: 'empty_password' };
    const filter = userFilter(parsed.name);
    const attempt = await this.#withFailover(async (dc): Promise<PasswordChangeResult> => {
      const entries = await this.#search(dc, filter);
      const [entry] = entries;
      if (entry === undefined || entries.length > 1)
        return {
          ok: false,
          kind: 'bad_credentials',
          reason: entry === undefined ? 'no_such_user' : 'ambiguous',
        };
      await this.#serviceBound(dc);
      this.#emit(dc.url, 'modify');
      try {
        // A change, not a reset: delete the old value and add the new one in one modify. AD checks the old
        // password and applies the full policy; the service account needs no rights beyond "Change Password",
        // which every principal holds on user objects ([MS-ADTS] §3.1.1.3.1.5.2, unicodePwd quoted UTF-16LE).
        await dc.service.modify(entry.dn, [
          new Change({
            operation: 'delete',
            modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(oldPassword)] }),
          }),
          new Change({
            operation: 'add',
            modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(newPassword)] }),
          }),
        ]);
        return { ok: true };
      } catch (err) {
        if (err instanceof ConstraintViolationError) return mapPasswordChangeError(err.message);
        throw err;
      }
    });
    return attempt.ok ? attempt.value : { ok: false, kind: 'unavailable', reason: attempt.reason };
  }

  async findUser(username: string): Promise<DirectoryUser | undefined> {
    const parsed = parseSignInName(username, this.#rules);
    if (!parsed.ok) return undefined;
    return this.#findOne(userFilter(parsed.name));
  }

  async findByObjectGuid(guid: Buffer): Promise<DirectoryUser | undefined> {
    if (guid.length !== 16) return undefined;
    // A Buffer value is sent as raw octets; its string form is the RFC 4515 `\xx` escape of every byte.
    return this.#findOne(
      personFilter(new EqualityFilter({ attribute: 'objectGUID', value: guid })),
    );
  }

  /**
   * One user by sign-in name or raw objectGUID, with the stored attributes `extraAttributes` names as well (the
   * directory cache keeps them with the user), and the URL of the DC that answered. undefined when nothing or more
   * than one entry matches. Rejects with FederationError 'directory_unavailable' when no DC answers. `preferUrl`: a DC
   * tried first while it is healthy (the directory cache's: it keeps only entries read from the DC it tracks).
   */
  async findUserEntry(
    lookup: { name: string } | { guid: Buffer },
    extraAttributes: readonly string[] = [],
    preferUrl?: string,
  ): Promise<UserEntryRead | undefined> {
    let filter: Filter;
    if ('guid' in lookup) {
      if (lookup.guid.length !== 16) return undefined;
      filter = personFilter(new EqualityFilter({ attribute: 'objectGUID', value: lookup.guid }));
    } else {
      const parsed = parseSignInName(lookup.name, this.#rules);
      if (!parsed.ok) return undefined;
      filter = userFilter(parsed.name);
    }
    const extra = extraAttributes.filter((a) => !isConstructedAttribute(a));
    for (const a of extra) checkAttributeName(a);
    const wanted = [...new Set([...STORED_USER_ATTRIBUTES, ...extra].map((a) => a.toLowerCase()))];
    const attempt = await this.#withFailover(async (dc) => {
      const entries = await this.#search(dc, filter, extra);
      const [entry] = entries;
      if (entry === undefined || entries.length !== 1) return undefined;
      const read: AttributeValues = {};
      for (const a of wanted) read[a] = a === 'distinguishedname' ? [entry.dn] : values(entry, a);
      return { user: this.#toUser(entry), values: read, dc: dc.url };
    }, preferUrl);
    if (!attempt.ok) throw unavailable(attempt.reason);
    return attempt.value;
  }

  async readCrl(dn: string): Promise<Buffer | undefined> {
    const attempt = await this.#withFailover(async (dc): Promise<Buffer | undefined> => {
      await this.#serviceBound(dc);
      this.#emit(dc.url, 'search');
      let entries: Entry[];
      try {
        ({ searchEntries: entries } = await dc.service.search(dn, {
          scope: 'base',
          filter: new EqualityFilter({ attribute: 'objectClass', value: 'cRLDistributionPoint' }),
          attributes: ['certificateRevocationList'],
          explicitBufferAttributes: ['certificateRevocationList'],
        }));
      } catch (err) {
        if (err instanceof NoSuchObjectError) return undefined;
        throw err;
      }
      const v = entries[0]?.certificateRevocationList;
      const first = Array.isArray(v) ? v[0] : v;
      return Buffer.isBuffer(first) && first.length > 0 ? first : undefined;
    });
    if (!attempt.ok) throw new Error(`no domain controller answered: ${attempt.reason}`);
    return attempt.value;
  }

  async readAttribute(dn: string, attribute: string): Promise<string | undefined> {
    checkAttributeName(attribute);
    const attempt = await this.#withFailover(async (dc): Promise<string[] | { missing: true }> => {
      await this.#serviceBound(dc);
      this.#emit(dc.url, 'search');
      try {
        const { searchEntries } = await dc.service.search(dn, {
          scope: 'base',
          filter: new PresenceFilter({ attribute: 'objectClass' }),
          attributes: [attribute],
        });
        const [entry] = searchEntries;
        if (entry === undefined) return { missing: true };
        return values(entry, attribute).map((v) =>
          typeof v === 'string' ? v : v.toString('utf8'),
        );
      } catch (err) {
        if (err instanceof NoSuchObjectError) return { missing: true };
        throw err;
      }
    });
    if (!attempt.ok) throw unavailable(attempt.reason);
    if ('missing' in attempt.value) throw new Error(`no directory entry ${dn}`);
    if (attempt.value.length > 1)
      throw new Error(`${attribute} of ${dn} holds more than one value`);
    return attempt.value[0];
  }

  async writeAttribute(
    dn: string,
    attribute: string,
    value: string | undefined,
    expected?: { value: string | undefined },
  ): Promise<AttributeWriteResult> {
    checkAttributeName(attribute);
    if (value === '')
      throw new Error('an empty value is written as undefined (clears the attribute)');
    const changes = attributeChanges(attribute, value, expected);
    type Outcome = AttributeWriteResult | { refused: string };
    const attempt = await this.#withFailover(async (dc): Promise<Outcome> => {
      if (changes.length === 0) {
        // Clear-if-absent: nothing to modify, but the CAS still has to hold.
        await this.#serviceBound(dc);
        this.#emit(dc.url, 'search');
        const { searchEntries } = await dc.service.search(dn, {
          scope: 'base',
          filter: new PresenceFilter({ attribute: 'objectClass' }),
          attributes: [attribute],
        });
        const [entry] = searchEntries;
        if (entry === undefined) return { refused: `no directory entry ${dn}` };
        return values(entry, attribute).length === 0 ? 'written' : 'conflict';
      }
      await this.#serviceBound(dc);
      this.#emit(dc.url, 'modify');
      try {
        await dc.service.modify(dn, changes);
        return 'written';
      } catch (err) {
        // The value the CAS deleted is no longer there (16), or a value appeared where none was expected (20; AD
        // and Samba refuse a second value of a single-valued attribute with 19 instead, told apart below).
        if (err instanceof NoSuchAttributeError || err instanceof TypeOrValueExistsError)
          return 'conflict';
        if (err instanceof ConstraintViolationError)
          return expected !== undefined && expected.value === undefined ? 'conflict' : 'too-large';
        // Some DCs refuse a value longer than the attribute's rangeUpper this way.
        if (err instanceof AdminLimitExceededError) return 'too-large';
        if (err instanceof NoSuchObjectError) return { refused: `no directory entry ${dn}` };
        if (err instanceof InsufficientAccessError)
          return {
            refused: `the service account may not write ${attribute} of ${dn} (grant it write property on that attribute: docs/mfa-directory.md)`,
          };
        throw err;
      }
    });
    if (!attempt.ok) throw unavailable(attempt.reason);
    if (typeof attempt.value === 'object') throw new Error(attempt.value.refused);
    return attempt.value;
  }

  async describeAttribute(attribute: string): Promise<AttributeSchema | undefined> {
    checkAttributeName(attribute);
    const attempt = await this.#withFailover(async (dc): Promise<AttributeSchema | undefined> => {
      await this.#serviceBound(dc);
      this.#emit(dc.url, 'search');
      const { searchEntries: root } = await dc.service.search('', {
        scope: 'base',
        filter: new PresenceFilter({ attribute: 'objectClass' }),
        attributes: ['schemaNamingContext'],
      });
      const schemaNc = root[0] === undefined ? undefined : text(root[0], 'schemaNamingContext');
      if (schemaNc === undefined) return undefined;
      this.#emit(dc.url, 'search');
      const { searchEntries } = await dc.service.search(schemaNc, {
        scope: 'one',
        filter: new AndFilter({
          filters: [
            new EqualityFilter({ attribute: 'objectClass', value: 'attributeSchema' }),
            new EqualityFilter({ attribute: 'lDAPDisplayName', value: attribute }),
          ],
        }),
        sizeLimit: 2,
        attributes: [
          'lDAPDisplayName',
          'attributeSyntax',
          'isSingleValued',
          'rangeUpper',
          'searchFlags',
        ],
      });
      const [entry] = searchEntries;
      if (entry === undefined || searchEntries.length > 1) return undefined;
      const upper = Number.parseInt(text(entry, 'rangeUpper') ?? '', 10);
      const flags = Number.parseInt(text(entry, 'searchFlags') ?? '0', 10);
      return {
        name: text(entry, 'lDAPDisplayName') ?? attribute,
        syntax: text(entry, 'attributeSyntax') ?? '',
        singleValued: text(entry, 'isSingleValued')?.toUpperCase() === 'TRUE',
        rangeUpper: Number.isSafeInteger(upper) && upper > 0 ? upper : undefined,
        // searchFlags fCONFIDENTIAL (0x80, [MS-ADTS] §2.2.9): read needs CONTROL_ACCESS, not just read property.
        confidential: Number.isSafeInteger(flags) && (flags & 0x80) !== 0,
      };
    });
    if (!attempt.ok) throw unavailable(attempt.reason);
    return attempt.value;
  }

  async findByCertificate(query: CertificateMappingQuery): Promise<CertificateAccount[]> {
    const alternatives: Filter[] = [];
    const sid = query.sid === undefined ? undefined : sidToBytes(query.sid);
    if (sid !== undefined)
      alternatives.push(new EqualityFilter({ attribute: 'objectSid', value: sid }));
    for (const v of query.altSecurityIdentities)
      alternatives.push(new EqualityFilter({ attribute: 'altSecurityIdentities', value: v }));
    for (const v of query.upns)
      alternatives.push(new EqualityFilter({ attribute: 'userPrincipalName', value: v }));
    if (alternatives.length === 0) return [];
    type Outcome = { accounts: CertificateAccount[] } | { tooMany: true };
    const attempt = await this.#withFailover(async (dc): Promise<Outcome> => {
      await this.#serviceBound(dc);
      this.#emit(dc.url, 'search');
      let entries: Entry[];
      try {
        ({ searchEntries: entries } = await dc.service.search(this.#config.baseDn, {
          scope: 'sub',
          filter: personFilter(new OrFilter({ filters: alternatives })),
          sizeLimit: MAX_CERTIFICATE_ACCOUNTS + 1,
          attributes: CERTIFICATE_ATTRIBUTES,
          explicitBufferAttributes: BINARY_ATTRIBUTES,
        }));
      } catch (err) {
        if (err instanceof SizeLimitExceededError) return { tooMany: true };
        throw err;
      }
      if (entries.length > MAX_CERTIFICATE_ACCOUNTS) return { tooMany: true };
      const accounts: CertificateAccount[] = [];
      for (const entry of entries) {
        // Lockout is computed per entry by the DC (lockoutTime against the lockout duration): base read only.
        this.#emit(dc.url, 'search');
        const { searchEntries } = await dc.service.search(entry.dn, {
          scope: 'base',
          filter: new PresenceFilter({ attribute: 'objectClass' }),
          attributes: ['msDS-User-Account-Control-Computed'],
        });
        const computed = Number.parseInt(
          text(searchEntries[0] ?? entry, 'msDS-User-Account-Control-Computed') ?? '0',
          10,
        );
        const user = this.#toUser(entry);
        accounts.push({
          user,
          altSecurityIdentities: values(entry, 'altSecurityIdentities').map((v) =>
            typeof v === 'string' ? v : v.toString('utf8'),
          ),
          state: {
            disabled: !user.enabled,
            locked: (computed & UF_LOCKOUT) !== 0,
            expired: accountExpired(text(entry, 'accountExpires'), this.#clock.now()),
          },
        });
      }
      return { accounts };
    });
    if (!attempt.ok)
      throw new FederationError(
        'directory_unavailable',
        'The directory is not available. Try again later.',
        { detail: attempt.reason },
      );
    if ('tooMany' in attempt.value)
      throw new Error(`more than ${MAX_CERTIFICATE_ACCOUNTS} accounts match the certificate`);
    return attempt.value.accounts;
  }

  async queryAttributes(query: AttributeQuery): Promise<AttributeValues[]> {
    const sAMAccountName = accountName(query.account, this.#config.netbiosDomain);
    // Values are BER-encoded OCTET STRINGs (ldapts Filter objects), never a filter string built from input.
    const filter =
      query.filter === undefined
        ? new EqualityFilter({ attribute: 'sAMAccountName', value: sAMAccountName })
        : toLdapts(parseLdapFilter(query.filter));
    const plain = query.attributes.filter((a) => !isConstructedAttribute(a));
    const constructed = query.attributes.filter(isConstructedAttribute);
    // ldapts matches these names case-sensitively against what the DC returns: list both spellings.
    const buffers = [...BINARY_ATTRIBUTE_NAMES, ...query.attributes.filter(isBinaryAttribute)];
    const limit = query.filter === undefined ? 2 : MAX_QUERY_ENTRIES + 1;
    type Outcome = { rows: AttributeValues[] } | { refused: string };
    const attempt = await this.#withFailover(async (dc): Promise<Outcome> => {
      await this.#serviceBound(dc);
      this.#emit(dc.url, 'search');
      let entries: Entry[];
      try {
        ({ searchEntries: entries } = await dc.service.search(this.#domainRoot, {
          scope: 'sub',
          filter,
          sizeLimit: limit,
          attributes: plain.length > 0 ? plain : ['1.1'],
          explicitBufferAttributes: buffers,
        }));
      } catch (err) {
        if (err instanceof SizeLimitExceededError) entries = new Array<Entry>(limit);
        else throw err;
      }
      if (entries.length >= limit) {
        return {
          refused:
            query.filter === undefined
              ? `more than one entry has sAMAccountName ${sAMAccountName}`
              : `the filter matches more than ${MAX_QUERY_ENTRIES} entries`,
        };
      }
      const rows: AttributeValues[] = [];
      for (const entry of entries) {
        let computed: Entry | undefined;
        if (constructed.length > 0) {
          // Constructed attributes (tokenGroups: every group SID, nested included) exist only on a base read.
          this.#emit(dc.url, 'search');
          const { searchEntries } = await dc.service.search(entry.dn, {
            scope: 'base',
            filter: new PresenceFilter({ attribute: 'objectClass' }),
            attributes: constructed,
            explicitBufferAttributes: buffers,
          });
          computed = searchEntries[0];
        }
        const row: AttributeValues = {};
        for (const a of query.attributes) {
          const source = isConstructedAttribute(a) ? computed : entry;
          let v = source === undefined ? [] : values(source, a);
          if (v.length === 0 && a.toLowerCase() === 'distinguishedname') v = [entry.dn];
          row[a] = v;
        }
        rows.push(row);
      }
      return { rows };
    });
    if (!attempt.ok) {
      throw new FederationError(
        'directory_unavailable',
        'The directory is not available. Try again later.',
        { detail: attempt.reason },
      );
    }
    if ('refused' in attempt.value) throw new Error(attempt.value.refused);
    return attempt.value.rows;
  }

  /**
   * Each DC's failover state as last observed (a DC that just failed is demoted for a while): read by the
   * readiness probe, which must not touch the network (security-corpus E7).
   */
  circuitState(): { url: string; healthy: boolean }[] {
    const now = this.#clock.now().getTime();
    return this.#dcs.map((dc) => ({ url: dc.url, healthy: dc.demotedUntil <= now }));
  }

  /** One rootDSE read per DC with the service account (binding first when needed). */
  async healthCheck(): Promise<DirectoryHealth> {
    const servers = await Promise.all(
      this.#dcs.map(async (dc) => {
        try {
          const probe = async (): Promise<void> => {
            await this.#serviceBound(dc);
            this.#emit(dc.url, 'search');
            await dc.service.search('', {
              scope: 'base',
              filter: new PresenceFilter({ attribute: 'objectClass' }),
              attributes: ['currentTime'],
            });
          };
          await Promise.race([probe(), this.#closing]);
          dc.demotedUntil = 0;
          return { url: dc.url, ok: true };
        } catch (err) {
          return { url: dc.url, ok: false, detail: describe(err) };
        }
      }),
    );
    return { ok: servers.some((s) => s.ok), servers };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#signalClosed(new Error('directory closed'));
    await Promise.all(
      this.#dcs.flatMap((dc) => [dc.service.unbind().catch(() => undefined), dc.pool.close()]),
    );
  }

  async #findOne(filter: Filter): Promise<DirectoryUser | undefined> {
    const attempt = await this.#withFailover(async (dc) => {
      const entries = await this.#search(dc, filter);
      const [entry] = entries;
      return entry !== undefined && entries.length === 1 ? this.#toUser(entry) : undefined;
    });
    if (!attempt.ok) {
      throw new FederationError(
        'directory_unavailable',
        'The directory is not available. Try again later.',
        {
          detail: attempt.reason,
        },
      );
    }
    return attempt.value;
  }

  /** Runs `fn` against each DC in turn until one answers; only DC-side failures move on (C3.1, E1). */
  async #withFailover<T>(
    fn: (dc: DomainController) => Promise<T>,
    preferUrl?: string,
  ): Promise<Attempt<T>> {
    if (this.#closed) return { ok: false, reason: 'closed' };
    const now = this.#clock.now().getTime();
    // A healthy preferred DC goes first; the rest keep the configured order.
    const rank = (dc: DomainController): number =>
      (dc.demotedUntil > now ? 2 : 0) + (dc.url === preferUrl ? 0 : 1);
    const ordered = this.#dcs
      .map((dc, i) => ({ dc, i }))
      .sort((a, b) => rank(a.dc) - rank(b.dc) || a.i - b.i)
      .map((x) => x.dc);
    let reason = 'no_domain_controller';
    for (const dc of ordered) {
      try {
        const value = await Promise.race([fn(dc), this.#closing]);
        dc.demotedUntil = 0;
        return { ok: true, value };
      } catch (err) {
        // close() may have run while fn was awaiting; the narrowing from the check above does not hold.
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- #closed can change across the await
        if (this.#closed) return { ok: false, reason: 'closed' };
        if (err instanceof DirectoryBusyError) {
          // E9: this DC is slow, not dead: try the next one without demoting it; none free → 503 at once.
          reason = 'busy';
          this.#logger.warn(
            { url: dc.url, detail: err.message },
            'domain controller busy; load shed',
          );
          continue;
        }
        const failover = failoverReason(err);
        if (failover === undefined) {
          reason =
            err instanceof ServiceAccountRejected ? 'service_account_rejected' : describe(err);
          this.#logger.error({ url: dc.url, reason }, 'directory operation failed');
          return { ok: false, reason };
        }
        reason = failover;
        dc.demotedUntil = this.#clock.now().getTime() + DEMOTE_FAILED_DC_MS;
        this.#logger.warn(
          { url: dc.url, reason, detail: describe(err) },
          'domain controller failed; trying the next',
        );
      }
    }
    this.#logger.error({ urls: this.#config.urls, reason }, 'no domain controller answered');
    return { ok: false, reason };
  }

  async #search(
    dc: DomainController,
    filter: Filter,
    extraAttributes: readonly string[] = [],
  ): Promise<Entry[]> {
    await this.#serviceBound(dc);
    this.#emit(dc.url, 'search');
    const { searchEntries } = await dc.service.search(this.#config.baseDn, {
      scope: 'sub',
      filter,
      sizeLimit: 2,
      attributes:
        extraAttributes.length === 0 ? USER_ATTRIBUTES : [...USER_ATTRIBUTES, ...extraAttributes],
      // ldapts matches these names case-sensitively against what the DC returns: list both spellings.
      explicitBufferAttributes:
        extraAttributes.length === 0
          ? BINARY_ATTRIBUTES
          : [
              ...BINARY_ATTRIBUTES,
              ...BINARY_ATTRIBUTE_NAMES,
              ...extraAttributes.filter(isBinaryAttribute),
            ],
    });
    return searchEntries;
  }

  /**
   * E2: binds the service connection when it is not bound (first use, or ldapts reconnected after the DC
   * dropped it). Concurrent callers share one bind.
   */
  async #serviceBound(dc: DomainController): Promise<void> {
    if (dc.service.isBound) return;
    dc.serviceBinding ??= (async () => {
      this.#emit(dc.url, 'service_bind');
      try {
        await dc.service.bind(this.#config.bindDn, this.#config.bindPassword);
      } catch (err) {
        if (err instanceof InvalidCredentialsError) throw new ServiceAccountRejected(err.message);
        throw err;
      }
    })().finally(() => {
      dc.serviceBinding = undefined;
    });
    await dc.serviceBinding;
  }

  /** Per DC: whether its rootDSE lists fast concurrent bind (undefined until the first bind reads it). */
  fastBindSupport(): { url: string; supported: boolean | undefined }[] {
    return this.#dcs.map((dc) => ({ url: dc.url, supported: dc.fastBind }));
  }

  /**
   * Before the first bind on each new pooled connection: fast concurrent bind mode when the DC supports it, so each
   * password bind costs AD a credential check only. On a DC that does not list it (Samba) nothing is sent.
   */
  async #prepareBindConnection(dc: DomainController, client: Client): Promise<void> {
    if (!(await this.#fastBindSupported(dc))) return;
    try {
      await client.exop(FAST_BIND_OID);
    } catch (err) {
      if (failoverReason(err) !== undefined) throw err;
      // Listed but refused: the ordinary bind still works, just at its usual cost.
      this.#logger.warn({ url: dc.url, detail: describe(err) }, 'fast concurrent bind refused');
    }
  }

  /** Reads the DC's rootDSE supportedExtension once (a failed read is tried again at the next new connection). */
  #fastBindSupported(dc: DomainController): Promise<boolean> {
    if (dc.fastBind !== undefined) return Promise.resolve(dc.fastBind);
    dc.fastBindProbe ??= (async () => {
      try {
        await this.#serviceBound(dc);
        this.#emit(dc.url, 'search');
        const { searchEntries } = await dc.service.search('', {
          scope: 'base',
          filter: new PresenceFilter({ attribute: 'objectClass' }),
          attributes: ['supportedExtension'],
        });
        const listed =
          searchEntries[0] === undefined ? [] : values(searchEntries[0], 'supportedExtension');
        dc.fastBind = supportsFastBind(listed);
        return dc.fastBind;
      } catch (err) {
        this.#logger.warn({ url: dc.url, detail: describe(err) }, 'rootDSE read failed');
        return false;
      } finally {
        dc.fastBindProbe = undefined;
      }
    })();
    return dc.fastBindProbe;
  }

  /** undefined = the password is right; result 49 → mapped failure; anything else throws. */
  async #bind(
    dc: DomainController,
    dn: string,
    password: string,
  ): Promise<BindFailure | undefined> {
    if (dn === '') throw new Error('refusing to bind with an empty DN');
    this.#emit(dc.url, 'bind');
    try {
      await dc.pool.bind(dn, password);
      return undefined;
    } catch (err) {
      if (err instanceof InvalidCredentialsError) return mapInvalidCredentials(err.message);
      throw err;
    }
  }

  #toUser(entry: Entry): DirectoryUser {
    const objectGuid = binary(entry, 'objectGUID');
    const sAMAccountName = text(entry, 'sAMAccountName');
    if (objectGuid?.length !== 16 || sAMAccountName === undefined || entry.dn === '') {
      throw new Error(`directory entry without objectGUID/sAMAccountName: ${entry.dn}`);
    }
    // Entra Connect writes a 16-byte mS-DS-ConsistencyGuid; when set it is the sourceAnchor.
    const consistency = binary(entry, 'mS-DS-ConsistencyGuid');
    const consistencyGuid = consistency?.length === 16 ? consistency : undefined;
    const sid = binary(entry, 'objectSid');
    const uac = Number.parseInt(text(entry, 'userAccountControl') ?? '0', 10);
    return {
      dn: entry.dn,
      objectGuid,
      consistencyGuid,
      immutableId: (consistencyGuid ?? objectGuid).toString('base64'),
      objectSid: sid === undefined ? undefined : sidToString(sid),
      sAMAccountName,
      userPrincipalName: text(entry, 'userPrincipalName'),
      netbiosDomain: this.#config.netbiosDomain,
      windowsAccountName: `${this.#config.netbiosDomain}\\${sAMAccountName}`,
      displayName: text(entry, 'displayName'),
      givenName: text(entry, 'givenName'),
      surname: text(entry, 'sn'),
      mail: text(entry, 'mail'),
      groups: values(entry, 'memberOf').map((v) =>
        firstRdnValue(typeof v === 'string' ? v : v.toString('utf8')),
      ),
      enabled: (uac & UF_ACCOUNTDISABLE) === 0,
      passwordLastSet: text(entry, 'pwdLastSet'),
      passwordExpiresAt: fileTimeToDate(text(entry, 'msDS-UserPasswordExpiryTimeComputed')),
    };
  }

  #emit(url: string, op: DirectoryOperation['op']): void {
    this.#onOperation?.({ url, op });
  }

  /** tls.connect, reporting each new connection. */
  #connector(url: string): typeof tls.connect {
    return ((port: number, host: string, options: tls.ConnectionOptions) => {
      this.#emit(url, 'connect');
      return tls.connect(port, host, options);
    }) as typeof tls.connect;
  }
}

/**
 * (&(objectCategory=person)(objectClass=user)(attr=value)). Filter objects are BER-encoded with each value
 * as an OCTET STRING (RFC 4511 §4.5.1), so no filter string is ever parsed: `*`, `(`, `)`, `\` and NUL in a
 * value are literal characters and an equality match never becomes a wildcard (security-corpus C4.1; the
 * objects' toString() shows the RFC 4515 escaped form).
 */
function userFilter(name: SignInName): Filter {
  return personFilter(
    name.form === 'upn'
      ? new EqualityFilter({ attribute: 'userPrincipalName', value: name.upn })
      : new EqualityFilter({ attribute: 'sAMAccountName', value: name.sAMAccountName }),
  );
}

function personFilter(match: Filter): Filter {
  return new AndFilter({
    filters: [
      new EqualityFilter({ attribute: 'objectCategory', value: 'person' }),
      new EqualityFilter({ attribute: 'objectClass', value: 'user' }),
      match,
    ],
  });
}

/** Whether a rootDSE supportedExtension list names fast concurrent bind. */
export function supportsFastBind(supportedExtension: readonly (string | Buffer)[]): boolean {
  return supportedExtension.some(
    (v) => (typeof v === 'string' ? v : v.toString('utf8')).trim() === FAST_BIND_OID,
  );
}

/**
 * accountExpires is a FILETIME (100 ns since 1601-01-01 UTC); 0 and 0x7FFFFFFFFFFFFFFF mean never ([MS-ADA1]
 * Account-Expires).
 */
export function accountExpired(value: string | undefined, now: Date): boolean {
  if (value === undefined || !/^\d{1,20}$/.test(value.trim())) return false;
  const v = BigInt(value.trim());
  if (v === 0n || v >= 0x7fffffffffffffffn) return false;
  const ms = Number(v / 10_000n) - 11_644_473_600_000;
  return ms <= now.getTime();
}

/**
 * A FILETIME attribute (msDS-UserPasswordExpiryTimeComputed) as a Date; undefined for absent, unreadable and the
 * "never" values 0 and 0x7FFFFFFFFFFFFFFF ([MS-ADTS] §3.1.1.4.5.36: never expires, or no expiry applies).
 */
export function fileTimeToDate(value: string | undefined): Date | undefined {
  if (value === undefined || !/^\d{1,20}$/.test(value.trim())) return undefined;
  const v = BigInt(value.trim());
  if (v === 0n || v >= 0x7fffffffffffffffn) return undefined;
  const d = new Date(Number(v / 10_000n) - 11_644_473_600_000);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** unicodePwd's value: the password in double quotes, UTF-16LE ([MS-ADTS] §3.1.1.3.1.5). */
function unicodePwd(password: string): Buffer {
  return Buffer.from(`"${password}"`, 'utf16le');
}

/**
 * AD refuses a password change with constraintViolation (19) and a Win32 code first in the diagnostic text:
 * 0x56 ERROR_INVALID_PASSWORD (the old password is wrong), 0x52D ERROR_PASSWORD_RESTRICTION (policy). AD says no
 * more than that; Samba adds which rule failed, used when present.
 */
export function mapPasswordChangeError(message: string): PasswordChangeResult {
  const code = /^0*([0-9a-f]{1,8}):/i.exec(message.trim())?.[1]?.toLowerCase();
  if (code === '56') return { ok: false, kind: 'bad_credentials', reason: 'ad:56' };
  const lower = message.toLowerCase();
  const violation = /too short|length/.test(lower)
    ? 'too_short'
    : /history|already used/.test(lower)
      ? 'history'
      : /complex/.test(lower)
        ? 'complexity'
        : /too young|minimum password age|min.*age/.test(lower)
          ? 'min_age'
          : 'policy';
  return { ok: false, kind: 'policy', reason: `ad:${code ?? '19'}`, violation };
}

/** Reason string when `err` means "this DC failed, try the next"; undefined otherwise. */
export function failoverReason(err: unknown): string | undefined {
  if (err instanceof ResultCodeError)
    return FAILOVER_RESULT_CODES.has(err.code) ? `ldap:${err.code}` : undefined;
  if (!(err instanceof Error)) return undefined;
  // Node socket and TLS errors (ECONNREFUSED, ECONNRESET, certificate errors) carry a string code.
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return `connection:${code}`;
  // ldapts' own connection errors.
  if (/timed out|timeout/i.test(err.message)) return 'timeout';
  if (/socket|connection closed|connection not established/i.test(err.message)) return 'connection';
  return undefined;
}

/** The value of a DN's first RDN (the group's CN), undoing RFC 4514 §2.4 escapes (`\,` and `\xx` UTF-8). */
export function firstRdnValue(dn: string): string {
  const bytes: number[] = [];
  for (let i = dn.indexOf('=') + 1; i < dn.length; i++) {
    const ch = dn.charAt(i);
    if (ch === ',' || ch === '+') break;
    if (ch === '\\') {
      const hex = dn.slice(i + 1, i + 3);
      if (/^[0-9a-f]{2}$/i.test(hex)) {
        bytes.push(Number.parseInt(hex, 16));
        i += 2;
        continue;
      }
      i += 1;
    }
    const codePoint = dn.codePointAt(i) ?? 0;
    if (codePoint > 0xffff) i += 1;
    bytes.push(...Buffer.from(String.fromCodePoint(codePoint), 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Attribute names go into requests as given: only a plain LDAP name (RFC 4512 descr) is accepted. */
function checkAttributeName(attribute: string): void {
  if (!/^[A-Za-z][A-Za-z0-9-]{0,63}$/.test(attribute))
    throw new Error(`not an attribute name: ${attribute}`);
}

/**
 * The modify for writeAttribute. Without `expected`: replace (no values = delete the attribute, absent or not). With
 * it, a compare-and-swap in one modify (RFC 4511 §4.6: all changes apply or none): delete the expected value (fails
 * with noSuchAttribute when it changed) and add the new one; expecting no value, add alone fails when one appeared.
 */
export function attributeChanges(
  attribute: string,
  value: string | undefined,
  expected: { value: string | undefined } | undefined,
): Change[] {
  const mod = (operation: 'add' | 'delete' | 'replace', v: string[]): Change =>
    new Change({ operation, modification: new Attribute({ type: attribute, values: v }) });
  if (expected === undefined) return [mod('replace', value === undefined ? [] : [value])];
  const out: Change[] = [];
  if (expected.value !== undefined) out.push(mod('delete', [expected.value]));
  if (value !== undefined) out.push(mod('add', [value]));
  return out;
}

function unavailable(reason: string): FederationError {
  return new FederationError(
    'directory_unavailable',
    'The directory is not available. Try again later.',
    {
      detail: reason,
    },
  );
}
