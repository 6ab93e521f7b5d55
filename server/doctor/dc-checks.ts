/**
 * `fedgate doctor`: the domain-controller plumbing checks (issue 21). For each DC in directory.urls, independently
 * (one DC failing never stops the others, and nothing here throws):
 *
 * - reachable: TCP + TLS handshake within connectTimeoutMs;
 * - ldaps-certificate: the DC's certificate, read on a connection used for nothing else (no LDAP message is ever
 *   sent over it, so nothing is bound over an unverified connection): chain to directory.tls.ca (or the system
 *   CAs), name, validity measured with the injected clock, expiry within warnDays;
 * - clock-skew: rootDSE currentTime against the injected clock;
 * - service-account: bind as bindDn and read baseDn;
 * - token-groups: tokenGroups of the service account and of one user (fedgate's group claims read it);
 * - cdp-container: CN=CDP,CN=Public Key Services,CN=Services,<configuration NC> (AD CS publishes CRLs there).
 *
 * Every LDAP operation runs on a separate, fully verified LDAPS connection (security-corpus C4.6), as the service
 * account only, and only reads.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';
import {
  AndFilter,
  Client,
  EqualityFilter,
  InsufficientAccessError,
  InvalidCredentialsError,
  NoSuchObjectError,
  NotFilter,
  PresenceFilter,
  SizeLimitExceededError,
  type Entry,
} from 'ldapts';
import {
  describeError,
  readCa,
  text,
  values,
  verifiedClient,
  verifiedTlsOptions,
} from './ldap-common.ts';
import type { Config, LdapDirectoryConfig } from '../config/schema.ts';
import { mapInvalidCredentials } from '../directory/ad-errors.ts';
import { fileTimeToDate } from '../directory/ldap.ts';
import type { Clock } from '../lib/clock.ts';
import type { CheckStatus, PlumbingCheck } from './types.ts';

const AREA = 'domain-controller' as const;
const DAY_MS = 86_400_000;
/**
 * Clock skew: a warning past one minute; an error past five, Kerberos' default tolerance (RFC 4120 §1.7, AD's
 * "Maximum tolerance for computer clock synchronization" = 5 min), which is also what token NotBefore/NotOnOrAfter
 * checks and AD's own timestamps (pwdLastSet, lockoutTime, badPasswordTime) can stand.
 */
const SKEW_WARNING_SECONDS = 60;
const SKEW_ERROR_SECONDS = 300;
/** What the Win32 sub-code of a refused service bind means to an admin (security-corpus C3 table). */
const BIND_REASONS: Record<string, string> = {
  'ad:52e': 'wrong password (AD data 52e)',
  'ad:525': 'no such account (AD data 525)',
  'ad:533': 'the account is disabled (AD data 533)',
  'ad:775': 'the account is locked out (AD data 775)',
  'ad:532': 'the password has expired (AD data 532)',
  'ad:773': 'the password must be changed (AD data 773)',
  'ad:701': 'the account has expired (AD data 701)',
  'ad:530': 'logon hours forbid it (AD data 530)',
  'ad:531': 'workstation restrictions forbid it (AD data 531)',
};

export interface DcCheckOptions {
  clock: Clock;
  /** A certificate expiring within this many days is a warning (default 30). */
  warnDays?: number;
  /** Clock skew above this many seconds is an error (default 300; above 60 s it is a warning). */
  maxSkewSeconds?: number;
}

export async function checkDomainControllers(
  config: Config,
  opts: DcCheckOptions,
): Promise<PlumbingCheck[]> {
  const dir = config.directory;
  if (dir.kind !== 'ldap') {
    return [
      {
        area: AREA,
        target: 'directory',
        check: 'directory',
        status: 'info',
        message: 'the directory is the embedded one: there is no domain controller to check',
      },
    ];
  }
  let ca: Buffer | undefined;
  try {
    ca = readCa(dir, config.baseDir);
  } catch (err) {
    return dir.urls.map((url) => ({
      area: AREA,
      target: url,
      check: 'ldaps-certificate',
      status: 'error',
      message: `cannot read directory.tls.ca (${dir.tls.ca ?? ''}): ${describeError(err)}`,
    }));
  }
  const needsCdp =
    config.certificateAuth.enabled &&
    config.certificateAuth.revocation.mode === 'require' &&
    config.certificateAuth.revocation.fetchCdp;
  const perDc = await Promise.all(
    dir.urls.map(async (url) => {
      try {
        return await checkOne(url, dir, ca, needsCdp, opts);
      } catch (err) {
        // Nothing may escape: an unexpected failure is this DC's error, not the run's.
        return [
          {
            area: AREA,
            target: url,
            check: 'reachable',
            status: 'error' as const,
            message: `unexpected failure while checking this DC: ${describeError(err)}`,
          },
        ];
      }
    }),
  );
  return perDc.flat();
}

async function checkOne(
  url: string,
  dir: LdapDirectoryConfig,
  ca: Buffer | undefined,
  needsCdp: boolean,
  opts: DcCheckOptions,
): Promise<PlumbingCheck[]> {
  const out: PlumbingCheck[] = [];
  const add = (check: string, status: CheckStatus, message: string): void => {
    out.push({ area: AREA, target: url, check, status, message });
  };
  const { host, port } = hostPort(url);
  const expectedName = dir.tls.servername ?? host;

  // 1. reachable + 2. ldaps-certificate, on an inspection-only connection.
  const started = performance.now(); // the handshake time, for the message only (decides nothing)
  const peer = await inspect(host, port, dir.tls.servername, dir.connectTimeoutMs);
  if (!peer.ok) {
    add('reachable', 'error', `no TLS connection to ${host}:${port}: ${peer.reason}`);
    for (const check of [
      'clock-skew',
      'service-account',
      'service-account-password',
      'token-groups',
      'cdp-container',
    ])
      add(check, 'info', 'not checked: the DC is unreachable');
    return out;
  }
  add(
    'reachable',
    'ok',
    `TLS handshake with ${host}:${port} in ${Math.round(performance.now() - started)} ms (${peer.protocol})`,
  );
  const cert = assessCertificate(
    peer.chain,
    ca,
    expectedName,
    opts.clock.now(),
    opts.warnDays ?? 30,
  );
  add('ldaps-certificate', cert.status, cert.message);

  // 3–6 on a verified LDAPS connection (rejectUnauthorized stays on; the certificate check is the TLS stack's).
  const client = verifiedClient(url, dir, verifiedTlsOptions(dir, ca));
  try {
    // rootDSE is readable before any bind (RFC 4512 §5.1; AD allows it anonymously), so the clock and the naming
    // contexts are known even when the service account is refused.
    let rootDse: Entry;
    try {
      const { searchEntries } = await client.search('', {
        scope: 'base',
        filter: new PresenceFilter({ attribute: 'objectClass' }),
        attributes: ['currentTime', 'configurationNamingContext', 'defaultNamingContext'],
      });
      rootDse = searchEntries[0] ?? { dn: '' };
    } catch (err) {
      const reason = `the verified LDAPS connection failed: ${describeError(err)}`;
      add('clock-skew', 'info', `not checked: ${reason}`);
      add('service-account', 'error', `the service account cannot be used on this DC: ${reason}`);
      add('service-account-password', 'info', `not checked: ${reason}`);
      add('token-groups', 'info', `not checked: ${reason}`);
      add('cdp-container', 'info', `not checked: ${reason}`);
      return out;
    }
    const skew = checkSkew(text(rootDse, 'currentTime'), opts);
    add('clock-skew', skew.status, skew.message);

    const account = await checkServiceAccount(client, dir);
    add('service-account', account.status, account.message);
    if (account.status !== 'ok') {
      add('service-account-password', 'info', 'not checked: the service account cannot search');
      add('token-groups', 'info', 'not checked: the service account cannot search');
      add('cdp-container', 'info', 'not checked: the service account cannot search');
      return out;
    }
    const password = await checkServiceAccountPassword(client, dir, opts);
    add('service-account-password', password.status, password.message);
    const groups = await checkTokenGroups(client, dir);
    add('token-groups', groups.status, groups.message);
    const cdp = await checkCdp(client, text(rootDse, 'configurationNamingContext'), needsCdp);
    add('cdp-container', cdp.status, cdp.message);
    return out;
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

type Inspection =
  { ok: true; chain: X509Certificate[]; protocol: string } | { ok: false; reason: string };

/**
 * Opens a TLS connection only to read the certificate chain the DC presents, then closes it. Verification is off on
 * this one connection because the point is to see (and explain) a certificate the verified connection would
 * refuse; no LDAP message is sent on it.
 */
function inspect(
  host: string,
  port: number,
  servername: string | undefined,
  timeoutMs: number,
): Promise<Inspection> {
  return new Promise((resolvePromise) => {
    let settled = false;
    const done = (r: Inspection): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolvePromise(r);
    };
    const sni = servername ?? (isIP(host) === 0 ? host : undefined);
    const socket = tls.connect({
      host,
      port,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ...(sni === undefined ? {} : { servername: sni }),
    });
    const timer = setTimeout(() => {
      done({ ok: false, reason: `no TLS handshake within ${timeoutMs} ms` });
    }, timeoutMs);
    socket.once('secureConnect', () => {
      try {
        done({
          ok: true,
          chain: presentedChain(socket.getPeerCertificate(true)),
          protocol: socket.getProtocol() ?? 'TLS',
        });
      } catch (err) {
        done({ ok: false, reason: `unreadable certificate: ${describeError(err)}` });
      }
    });
    socket.once('error', (err) => {
      done({ ok: false, reason: describeError(err) });
    });
  });
}

/** The chain the peer sent, leaf first (Node links it through issuerCertificate; a self-issued one links to itself). */
function presentedChain(leaf: tls.DetailedPeerCertificate): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  // Node's types say issuerCertificate is always there; at run time it is missing (or empty) past the last one sent.
  let c: Partial<tls.DetailedPeerCertificate> | undefined = leaf;
  while (
    c !== undefined &&
    Buffer.isBuffer(c.raw) &&
    c.fingerprint256 !== undefined &&
    !seen.has(c.fingerprint256) &&
    chain.length < 10
  ) {
    seen.add(c.fingerprint256);
    chain.push(new X509Certificate(c.raw));
    c = c.issuerCertificate;
  }
  if (chain.length === 0) throw new Error('the DC sent no certificate');
  return chain;
}

interface Outcome {
  status: CheckStatus;
  message: string;
}

/**
 * Chain, name and validity of the DC's certificate, with the injected clock (Node's own TLS check uses the system
 * clock, so validity is decided here, not taken from authorizationError).
 */
export function assessCertificate(
  presented: X509Certificate[],
  ca: Buffer | undefined,
  expectedName: string,
  now: Date,
  warnDays: number,
): Outcome {
  const [leaf] = presented;
  if (leaf === undefined) return { status: 'error', message: 'the DC sent no certificate' };
  const anchors = trustAnchors(ca);
  const problems: string[] = [];
  const warnings: string[] = [];

  // Chain: walk from the leaf to a trust anchor through the certificates the DC sent.
  const chain = buildChain(leaf, presented.slice(1), anchors);
  if (chain.anchored === undefined)
    problems.push(
      `it does not chain to ${ca === undefined ? 'a system CA' : 'directory.tls.ca'} (${chain.reason})`,
    );

  // Name: the same rules the verified connection applies (RFC 6125 via tls.checkServerIdentity).
  const nameError = tls.checkServerIdentity(expectedName, peerShape(leaf));
  if (nameError !== undefined) problems.push(`it does not name ${expectedName}`);

  // Validity of every certificate in the chain, at the injected clock's time.
  const t = now.getTime();
  let soonest: { cert: X509Certificate; notAfter: number } | undefined;
  for (const c of [...chain.certs, ...(chain.anchored === undefined ? [] : [chain.anchored])]) {
    const notBefore = Date.parse(c.validFrom);
    const notAfter = Date.parse(c.validTo);
    const who = c === leaf ? 'it' : `its issuer ${cn(c.subject)}`;
    if (t < notBefore)
      problems.push(
        `${who} is not valid yet (valid from ${iso(notBefore)}, ${days(notBefore - t)} days from now)`,
      );
    else if (t > notAfter)
      problems.push(`${who} expired on ${iso(notAfter)} (${days(t - notAfter)} days ago)`);
    else if (soonest === undefined || notAfter < soonest.notAfter) soonest = { cert: c, notAfter };
  }
  if (soonest !== undefined && problems.length === 0) {
    const left = Math.floor((soonest.notAfter - t) / DAY_MS);
    if (left < warnDays)
      warnings.push(
        `${soonest.cert === leaf ? 'it' : `its issuer ${cn(soonest.cert.subject)}`} expires on ${iso(soonest.notAfter)}, in ${left} days (renew it before then)`,
      );
  }
  const leafLeft = Math.floor((Date.parse(leaf.validTo) - t) / DAY_MS);
  const facts = `subject ${oneLine(leaf.subject)}, names ${leaf.subjectAltName ?? '(none)'}, issuer ${oneLine(leaf.issuer)}, valid until ${iso(Date.parse(leaf.validTo))} (${leafLeft} days left)`;
  if (problems.length > 0) return { status: 'error', message: `${problems.join('; ')}: ${facts}` };
  if (warnings.length > 0)
    return { status: 'warning', message: `${warnings.join('; ')}: ${facts}` };
  return { status: 'ok', message: `valid for ${expectedName}: ${facts}` };
}

function trustAnchors(ca: Buffer | undefined): X509Certificate[] {
  const pems =
    ca === undefined
      ? tls.rootCertificates
      : (ca
          .toString('utf8')
          .match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []);
  const out: X509Certificate[] = [];
  for (const pem of pems) {
    try {
      out.push(new X509Certificate(pem));
    } catch {
      // An unreadable entry in a bundle trusts nothing; the others still count.
    }
  }
  return out;
}

/** certs: leaf and the intermediates used; anchored: the trust anchor reached, if any. */
function buildChain(
  leaf: X509Certificate,
  intermediates: X509Certificate[],
  anchors: X509Certificate[],
): { certs: X509Certificate[]; anchored: X509Certificate | undefined; reason: string } {
  const certs = [leaf];
  let current = leaf;
  for (let depth = 0; depth < 8; depth++) {
    // The certificate itself is a configured anchor (pinned self-signed DC certificate).
    if (anchors.some((a) => a.fingerprint256 === current.fingerprint256))
      return { certs: certs.slice(0, -1), anchored: current, reason: '' };
    const issuedBy = (c: X509Certificate): boolean => {
      try {
        return current.checkIssued(c) && current.verify(c.publicKey);
      } catch {
        return false;
      }
    };
    const anchor = anchors.find(issuedBy);
    if (anchor !== undefined) return { certs, anchored: anchor, reason: '' };
    const next = intermediates.find((c) => !certs.includes(c) && issuedBy(c));
    if (next === undefined)
      return {
        certs,
        anchored: undefined,
        reason: `no trusted issuer for ${oneLine(current.issuer)}`,
      };
    certs.push(next);
    current = next;
  }
  return { certs, anchored: undefined, reason: 'chain too long' };
}

/** What tls.checkServerIdentity reads from a peer certificate. */
function peerShape(c: X509Certificate): tls.PeerCertificate {
  const subject: Record<string, string> = {};
  for (const line of c.subject.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) subject[line.slice(0, i)] = line.slice(i + 1);
  }
  return { subject, subjectaltname: c.subjectAltName } as unknown as tls.PeerCertificate;
}

function checkSkew(currentTime: string | undefined, opts: DcCheckOptions): Outcome {
  const errorAt = opts.maxSkewSeconds ?? SKEW_ERROR_SECONDS;
  const warnAt = Math.min(SKEW_WARNING_SECONDS, errorAt);
  const dcTime = parseGeneralizedTime(currentTime);
  if (dcTime === undefined)
    return {
      status: 'warning',
      message: `the DC's rootDSE gave no readable currentTime (${currentTime ?? 'absent'}): skew not measured`,
    };
  const skew = Math.round((dcTime.getTime() - opts.clock.now().getTime()) / 1000);
  const abs = Math.abs(skew);
  const figure = `the DC's clock is ${abs} s ${skew >= 0 ? 'ahead of' : 'behind'} this host's (DC ${dcTime.toISOString()})`;
  if (abs > errorAt)
    return {
      status: 'error',
      message: `${figure}: over ${errorAt} s, Kerberos' tolerance; tokens and AD's timestamps will be wrong (synchronise both with NTP; DCs follow the PDC emulator)`,
    };
  if (abs > warnAt)
    return { status: 'warning', message: `${figure}: over ${warnAt} s (synchronise with NTP)` };
  return { status: 'ok', message: figure };
}

/** GeneralizedTime as AD writes it in currentTime: YYYYMMDDHHMMSS[.f]Z (RFC 4517 §3.3.13). */
export function parseGeneralizedTime(v: string | undefined): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,](\d+))?Z$/.exec(v?.trim() ?? '');
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, f] = m;
  const ms = f === undefined ? 0 : Math.round(Number(`0.${f}`) * 1000);
  const t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  return Number.isNaN(t) ? undefined : new Date(t);
}

async function checkServiceAccount(client: Client, dir: LdapDirectoryConfig): Promise<Outcome> {
  try {
    await client.bind(dir.bindDn, dir.bindPassword);
  } catch (err) {
    if (err instanceof InvalidCredentialsError) {
      const { reason } = mapInvalidCredentials(err.message);
      return {
        status: 'error',
        message: `the DC refused the service account ${dir.bindDn}: ${BIND_REASONS[reason] ?? reason} (fix directory.bindDn / bindPassword)`,
      };
    }
    return { status: 'error', message: `binding as ${dir.bindDn} failed: ${describeError(err)}` };
  }
  try {
    const { searchEntries } = await client.search(dir.baseDn, {
      scope: 'base',
      filter: new PresenceFilter({ attribute: 'objectClass' }),
      attributes: ['objectClass'],
    });
    // Denied Read Property, AD still returns the entry, without attributes; denied List Object, nothing or 32.
    const [entry] = searchEntries;
    if (entry === undefined || values(entry, 'objectClass').length === 0)
      return {
        status: 'error',
        message: `bound as ${dir.bindDn}, but it may not read directory.baseDn ${dir.baseDn} (${entry === undefined ? 'no entry' : 'no attributes'} returned: grant it read access)`,
      };
    return { status: 'ok', message: `bound as ${dir.bindDn} and read ${dir.baseDn}` };
  } catch (err) {
    if (err instanceof NoSuchObjectError)
      return {
        status: 'error',
        message: `directory.baseDn ${dir.baseDn} does not exist on this DC`,
      };
    if (err instanceof InsufficientAccessError)
      return {
        status: 'error',
        message: `${dir.bindDn} may not read directory.baseDn ${dir.baseDn} (insufficient access: grant it read access)`,
      };
    return { status: 'error', message: `searching ${dir.baseDn} failed: ${describeError(err)}` };
  }
}

/** userAccountControl DONT_EXPIRE_PASSWORD ([MS-ADTS] §2.2.16). */
const UF_DONT_EXPIRE_PASSWD = 0x10000;

/**
 * When the service account's own password expires (msDS-UserPasswordExpiryTimeComputed, [MS-ADTS] §3.1.1.4.5.36,
 * which AD computes from pwdLastSet and the domain or fine-grained maxPwdAge), judged by the injected clock. A
 * service password that expires stops every sign-in at once (every search binds with it), a classic outage.
 */
async function checkServiceAccountPassword(
  client: Client,
  dir: LdapDirectoryConfig,
  opts: DcCheckOptions,
): Promise<Outcome> {
  let entry: Entry | undefined;
  try {
    const { searchEntries } = await client.search(dir.bindDn, {
      scope: 'base',
      filter: new PresenceFilter({ attribute: 'objectClass' }),
      attributes: ['userAccountControl', 'msDS-UserPasswordExpiryTimeComputed'],
    });
    entry = searchEntries[0];
  } catch (err) {
    return {
      status: 'info',
      message: `could not read ${dir.bindDn}'s password expiry (${describeError(err)}): check it yourself`,
    };
  }
  const uac = Number(text(entry, 'userAccountControl') ?? '0');
  const raw = text(entry, 'msDS-UserPasswordExpiryTimeComputed')?.trim();
  if (
    (uac & UF_DONT_EXPIRE_PASSWD) !== 0 ||
    (raw !== undefined && /^\d+$/.test(raw) && BigInt(raw) >= 0x7fffffffffffffffn)
  )
    return { status: 'ok', message: `${dir.bindDn}'s password never expires` };
  if (raw === undefined || !/^\d{1,20}$/.test(raw))
    return {
      status: 'info',
      message: `${dir.bindDn}'s password expiry is not readable (msDS-UserPasswordExpiryTimeComputed): check it yourself`,
    };
  const at = fileTimeToDate(raw);
  if (at === undefined)
    return {
      status: 'error',
      message: `${dir.bindDn} must change its password at next logon: fedgate's searches will fail (set a new password and directory.bindPassword)`,
    };
  const left = at.getTime() - opts.clock.now().getTime();
  const fix =
    'change it in AD and directory.bindPassword on every node together, or mark it "Password never expires" as service accounts usually are';
  if (left <= 0)
    return {
      status: 'error',
      message: `${dir.bindDn}'s password expired on ${iso(at.getTime())}: every sign-in fails (${fix})`,
    };
  const warnDays = opts.warnDays ?? 30;
  if (left < warnDays * DAY_MS)
    return {
      status: 'warning',
      message: `${dir.bindDn}'s password expires on ${iso(at.getTime())} (in ${days(left)} days); then every sign-in fails: ${fix}`,
    };
  return {
    status: 'ok',
    message: `${dir.bindDn}'s password expires on ${iso(at.getTime())} (in ${days(left)} days)`,
  };
}

const TOKEN_GROUPS_FIX =
  'fedgate builds group claims from it: add the service account to "Windows Authorization Access Group" (or allow "Read tokenGroups" on the users; "Pre-Windows 2000 Compatible Access" also grants it)';

async function checkTokenGroups(client: Client, dir: LdapDirectoryConfig): Promise<Outcome> {
  // tokenGroups is constructed and only computed on a base-scope read ([MS-ADTS] §3.1.1.4.5.19).
  const own = await readTokenGroups(client, dir.bindDn);
  if (typeof own === 'string')
    return {
      status: 'error',
      message: `tokenGroups of ${dir.bindDn}: ${own}; ${TOKEN_GROUPS_FIX}`,
    };
  let user: string | undefined;
  try {
    user = await oneUser(client, dir);
  } catch (err) {
    return {
      status: 'error',
      message: `could not find a user under ${dir.baseDn} to read tokenGroups of: ${describeError(err)}`,
    };
  }
  if (user === undefined)
    return {
      status: 'ok',
      message: `tokenGroups of ${dir.bindDn}: ${own} groups (no other user under ${dir.baseDn} to try)`,
    };
  const theirs = await readTokenGroups(client, user);
  if (typeof theirs === 'string')
    return { status: 'error', message: `tokenGroups of ${user}: ${theirs}; ${TOKEN_GROUPS_FIX}` };
  return {
    status: 'ok',
    message: `tokenGroups read: ${dir.bindDn} ${own} groups, ${user} ${theirs} groups`,
  };
}

/** The number of SIDs, or why there are none (every account has at least its primary group). */
async function readTokenGroups(client: Client, dn: string): Promise<number | string> {
  try {
    const { searchEntries } = await client.search(dn, {
      scope: 'base',
      filter: new PresenceFilter({ attribute: 'objectClass' }),
      attributes: ['tokenGroups'],
      explicitBufferAttributes: ['tokenGroups'],
    });
    const [entry] = searchEntries;
    if (entry === undefined) return 'the entry is not readable';
    const n = values(entry, 'tokenGroups').length;
    return n > 0 ? n : 'empty (AD returns none when the reader may not read it)';
  } catch (err) {
    return `refused: ${describeError(err)}`;
  }
}

/** One user under baseDn other than the service account, or undefined when there is none. */
async function oneUser(client: Client, dir: LdapDirectoryConfig): Promise<string | undefined> {
  try {
    const { searchEntries } = await client.search(dir.baseDn, {
      scope: 'sub',
      sizeLimit: 1,
      filter: new AndFilter({
        filters: [
          new EqualityFilter({ attribute: 'objectCategory', value: 'person' }),
          new EqualityFilter({ attribute: 'objectClass', value: 'user' }),
          new NotFilter({
            filter: new EqualityFilter({ attribute: 'distinguishedName', value: dir.bindDn }),
          }),
        ],
      }),
      attributes: ['1.1'],
    });
    return searchEntries[0]?.dn;
  } catch (err) {
    // More than one match: the server stops at the size limit; ldapts may then throw (the entries are gone).
    if (err instanceof SizeLimitExceededError) return oneUserPaged(client, dir);
    throw err;
  }
}

async function oneUserPaged(client: Client, dir: LdapDirectoryConfig): Promise<string | undefined> {
  for await (const page of client.searchPaginated(dir.baseDn, {
    scope: 'sub',
    paged: { pageSize: 5 },
    filter: new AndFilter({
      filters: [
        new EqualityFilter({ attribute: 'objectCategory', value: 'person' }),
        new EqualityFilter({ attribute: 'objectClass', value: 'user' }),
      ],
    }),
    attributes: ['1.1'],
  })) {
    const found = page.searchEntries.find((e) => e.dn.toLowerCase() !== dir.bindDn.toLowerCase());
    if (found !== undefined) return found.dn;
  }
  return undefined;
}

async function checkCdp(
  client: Client,
  configurationNc: string | undefined,
  needsCdp: boolean,
): Promise<Outcome> {
  const why =
    'AD CS publishes its CRLs there, and certificates with ldap: CRL distribution points are checked against it';
  const missing = (what: string): Outcome =>
    needsCdp
      ? {
          status: 'error',
          message: `${what}: certificate sign-in requires revocation (certificateAuth.revocation.mode require, fetchCdp on) and ${why}`,
        }
      : { status: 'warning', message: `${what} (${why}; needed only for certificate sign-in)` };
  if (configurationNc === undefined)
    return missing(
      'the rootDSE gave no configurationNamingContext, so the CDP container cannot be found',
    );
  const dn = `CN=CDP,CN=Public Key Services,CN=Services,${configurationNc}`;
  try {
    const { searchEntries } = await client.search(dn, {
      scope: 'one',
      filter: new PresenceFilter({ attribute: 'objectClass' }),
      attributes: ['1.1'],
    });
    return {
      status: 'ok',
      message: `${dn} is readable (${searchEntries.length} CA container${searchEntries.length === 1 ? '' : 's'} under it)`,
    };
  } catch (err) {
    if (err instanceof NoSuchObjectError)
      return missing(`${dn} is absent or not visible to the service account`);
    if (err instanceof InsufficientAccessError)
      return missing(`${dn} is not readable by the service account`);
    return missing(`${dn} could not be read: ${describeError(err)}`);
  }
}

function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return { host, port: u.port === '' ? 636 : Number(u.port) };
}

function iso(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function days(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

function oneLine(dn: string): string {
  return dn.split('\n').join(', ');
}

function cn(subject: string): string {
  return /(?:^|\n)CN=([^\n]+)/.exec(subject)?.[1] ?? oneLine(subject);
}
