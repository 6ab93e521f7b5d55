/**
 * `fedgate doctor`: AD's account policies against fedgate's (issue 21), read as the service account through the
 * first DC that answers (verified LDAPS, read-only):
 *
 * - lockout-threshold: fedgate's extranet lockout must stop checking passwords before AD locks the account.
 * - lockout-observation-window: fedgate's window must outlast AD's "Reset account lockout counter after", so AD's
 *   badPwdCount is back at 0 when fedgate lets the next attempt through; otherwise AD still locks the account, only
 *   later ("in a delayed way").
 *   Both follow Microsoft's "Configure AD FS Extranet Lockout Protection" (Windows Server docs, "Working with the
 *   Active Directory lockout policy" and "Key points to remember": make sure ExtranetLockoutThreshold < Account
 *   Lockout Threshold AND ExtranetObservationWindow > Reset Account Lockout Counter; strictly greater, which also
 *   absorbs a little clock skew between this host and the DC). security-corpus C1: threshold about half AD's
 *   (AD 20 → 10), window 30 min, log-only only while learning.
 * - fine-grained-password-policy: PSOs (msDS-PasswordSettings, [MS-ADTS] §3.1.1.5.2.2) give some users a lower
 *   lockout threshold than the domain's.
 * - password-expiry-window: passwordChange.expiryNoticeDays against the domain's maxPwdAge.
 *
 * Intervals (lockoutDuration, lockOutObservationWindow, maxPwdAge) are negative counts of 100 ns ([MS-ADA1]
 * Lock-Out-Observation-Window, Max-Pwd-Age); 0x8000000000000000 means "never" for maxPwdAge and "until an admin
 * unlocks" for lockoutDuration.
 */
import {
  Client,
  EqualityFilter,
  InsufficientAccessError,
  NoSuchObjectError,
  PresenceFilter,
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
import type { Clock } from '../lib/clock.ts';
import type { CheckStatus, PlumbingCheck } from './types.ts';

const AREA = 'policy' as const;
const NEVER = -0x8000000000000000n;
const TICKS_PER_MINUTE = 600_000_000n;
const TICKS_PER_DAY = 864_000_000_000n;

/** The domain's policy attributes as read, before interpretation. */
export interface DomainPolicy {
  domainDn: string;
  url: string;
  lockoutThreshold: number | undefined;
  /** Minutes; undefined when absent. */
  observationWindowMinutes: number | undefined;
  /** Minutes; 'admin' = until an admin unlocks. */
  lockoutDuration: number | 'admin' | undefined;
  /** Days; 'never' when passwords do not expire. */
  maxPwdAgeDays: number | 'never' | undefined;
}

interface Pso {
  name: string;
  lockoutThreshold: number | undefined;
  appliesTo: number;
}

export async function checkDirectoryPolicy(
  config: Config,
  // Policy figures are durations, not instants: the clock is taken for the common signature of the checks.
  _opts: { clock: Clock },
): Promise<PlumbingCheck[]> {
  const dir = config.directory;
  if (dir.kind !== 'ldap')
    return [
      {
        area: AREA,
        target: 'directory',
        check: 'domain-policy',
        status: 'info',
        message: 'the directory is the embedded one: there is no AD policy to compare with',
      },
    ];
  let read: { policy: DomainPolicy; psos: Pso[] | string } | { failed: string };
  try {
    read = await readPolicy(config, dir);
  } catch (err) {
    read = { failed: describeError(err) };
  }
  if ('failed' in read)
    return [
      {
        area: AREA,
        target: dir.urls.join(', '),
        check: 'domain-policy',
        status: 'error',
        message: `could not read the domain's lockout and password policy from any DC: ${read.failed}`,
      },
    ];
  return comparePolicy(config, read.policy, read.psos);
}

/** The comparisons, from figures already read (kept apart so the rules read in one place). */
export function comparePolicy(
  config: Config,
  ad: DomainPolicy,
  psos: Pso[] | string,
): PlumbingCheck[] {
  const out: PlumbingCheck[] = [];
  const add = (check: string, status: CheckStatus, message: string): void => {
    out.push({ area: AREA, target: ad.domainDn, check, status, message });
  };
  const fg = config.lockout;
  const adT = ad.lockoutThreshold;

  // lockout-threshold
  if (adT === undefined)
    add(
      'lockout-threshold',
      'warning',
      `the domain object gave no readable lockoutThreshold (via ${ad.url})`,
    );
  else if (adT === 0)
    add(
      'lockout-threshold',
      'info',
      `AD never locks accounts (lockoutThreshold 0)${fg.enabled ? `; fedgate's lockout (threshold ${fg.threshold}) is what limits password guessing from the extranet` : ", and fedgate's lockout is off: nothing limits password guessing"}`,
    );
  else if (!fg.enabled)
    add(
      'lockout-threshold',
      'warning',
      `fedgate's lockout is off (lockout.enabled false): AD will lock users out from the extranet after ${adT} bad passwords (enable it with a threshold below ${adT})`,
    );
  else if (fg.threshold >= adT)
    add(
      'lockout-threshold',
      'error',
      `fedgate's lockout.threshold ${fg.threshold} is not below AD's lockoutThreshold ${adT}: AD locks the account before fedgate stops checking passwords, so anyone on the internet can lock users out (set lockout.threshold to at most ${adT - 1}; about half of AD's is usual)`,
    );
  else if (fg.mode === 'log-only')
    add(
      'lockout-threshold',
      'warning',
      `lockout.mode is log-only: fedgate only audits, so AD locks users out from the extranet after ${adT} bad passwords (fedgate's threshold ${fg.threshold} is below it; switch to enforce after the learning period)`,
    );
  else
    add(
      'lockout-threshold',
      'ok',
      `fedgate's lockout.threshold ${fg.threshold} is below AD's lockoutThreshold ${adT} (familiar and unknown locations count separately, up to ${fg.threshold} bad passwords each)`,
    );

  // lockout-observation-window
  const adW = ad.observationWindowMinutes;
  if (adT === 0 || adT === undefined || !fg.enabled)
    add(
      'lockout-observation-window',
      'info',
      `not compared: ${adT === 0 ? 'AD never locks accounts' : !fg.enabled ? "fedgate's lockout is off" : "AD's lockout threshold is unknown"}`,
    );
  else if (adW === undefined)
    add(
      'lockout-observation-window',
      'warning',
      'the domain object gave no readable lockOutObservationWindow',
    );
  else if (fg.observationWindowMinutes <= adW)
    add(
      'lockout-observation-window',
      'warning',
      `fedgate's lockout.observationWindowMinutes ${fg.observationWindowMinutes} is not longer than AD's "reset account lockout counter after" ${adW} min: an attempt fedgate lets through when its window ends can still find AD's count uncleared, so AD locks the account later (set it above ${adW}, as AD FS's guidance says for ExtranetObservationWindow)`,
    );
  else
    add(
      'lockout-observation-window',
      'ok',
      `fedgate's observation window ${fg.observationWindowMinutes} min is longer than AD's reset-counter time ${adW} min`,
    );

  // fine-grained-password-policy
  if (typeof psos === 'string')
    add(
      'fine-grained-password-policy',
      'info',
      `fine-grained password policies not compared: ${psos} (check them with Get-ADFineGrainedPasswordPolicy -Filter *)`,
    );
  else if (psos.length === 0)
    add(
      'fine-grained-password-policy',
      'info',
      'no fine-grained password policy visible to the service account (there are none, or it may not read them: AD shows them to Domain Admins only unless delegated; check with Get-ADFineGrainedPasswordPolicy -Filter *)',
    );
  else if (!fg.enabled)
    add(
      'fine-grained-password-policy',
      'info',
      `not compared: fedgate's lockout is off (${psos.length} fine-grained password polic${psos.length === 1 ? 'y' : 'ies'} visible)`,
    );
  else {
    const low = psos.filter(
      (p) =>
        p.lockoutThreshold !== undefined &&
        p.lockoutThreshold > 0 &&
        p.lockoutThreshold <= fg.threshold,
    );
    const list = (ps: Pso[]): string =>
      ps
        .map(
          (p) =>
            `${p.name} (lockout threshold ${p.lockoutThreshold ?? 'unset'}, applies to ${p.appliesTo} account(s)/group(s))`,
        )
        .join(', ');
    if (low.length > 0)
      add(
        'fine-grained-password-policy',
        'warning',
        `fine-grained password policies with a lockout threshold at or below fedgate's ${fg.threshold}: ${list(low)}; AD locks their users before fedgate stops checking passwords`,
      );
    else
      add(
        'fine-grained-password-policy',
        'ok',
        `every fine-grained password policy locks above fedgate's threshold ${fg.threshold}: ${list(psos)}`,
      );
  }

  // password-expiry-window
  const notice = config.passwordChange.expiryNoticeDays;
  const maxAge = ad.maxPwdAgeDays;
  if (maxAge === undefined)
    add('password-expiry-window', 'warning', 'the domain object gave no readable maxPwdAge');
  else if (maxAge === 'never')
    add(
      'password-expiry-window',
      'info',
      `passwords never expire in this domain (maxPwdAge unset): the expiry notice (${notice} days) is never shown`,
    );
  else if (notice === 0)
    add(
      'password-expiry-window',
      'info',
      `the expiry notice is off (passwordChange.expiryNoticeDays 0; maxPwdAge ${maxAge} days)`,
    );
  else if (notice >= maxAge)
    add(
      'password-expiry-window',
      'warning',
      `passwordChange.expiryNoticeDays ${notice} is not below AD's maxPwdAge ${maxAge} days: every sign-in would carry the password-expiry notice (set it well below ${maxAge})`,
    );
  else
    add(
      'password-expiry-window',
      'ok',
      `the expiry notice (${notice} days) starts ${maxAge - notice} days after a password change (maxPwdAge ${maxAge} days)`,
    );
  return out;
}

async function readPolicy(
  config: Config,
  dir: LdapDirectoryConfig,
): Promise<{ policy: DomainPolicy; psos: Pso[] | string } | { failed: string }> {
  let ca: Buffer | undefined;
  try {
    ca = readCa(dir, config.baseDir);
  } catch (err) {
    return { failed: `cannot read directory.tls.ca (${dir.tls.ca ?? ''}): ${describeError(err)}` };
  }
  const reasons: string[] = [];
  for (const url of dir.urls) {
    const client = verifiedClient(url, dir, verifiedTlsOptions(dir, ca));
    try {
      await client.bind(dir.bindDn, dir.bindPassword);
      const { searchEntries: root } = await client.search('', {
        scope: 'base',
        filter: new PresenceFilter({ attribute: 'objectClass' }),
        attributes: ['defaultNamingContext'],
      });
      const domainDn = text(root[0], 'defaultNamingContext');
      if (domainDn === undefined) throw new Error('the rootDSE gave no defaultNamingContext');
      const { searchEntries } = await client.search(domainDn, {
        scope: 'base',
        filter: new PresenceFilter({ attribute: 'objectClass' }),
        attributes: [
          'lockoutThreshold',
          'lockOutObservationWindow',
          'lockoutDuration',
          'maxPwdAge',
        ],
      });
      const d = searchEntries[0];
      const duration = interval(text(d, 'lockoutDuration'));
      const policy: DomainPolicy = {
        domainDn,
        url,
        lockoutThreshold: integer(text(d, 'lockoutThreshold')),
        observationWindowMinutes: minutes(text(d, 'lockOutObservationWindow')),
        lockoutDuration: duration === NEVER ? 'admin' : minutes(text(d, 'lockoutDuration')),
        maxPwdAgeDays: maxAgeDays(text(d, 'maxPwdAge')),
      };
      return { policy, psos: await readPsos(client, domainDn) };
    } catch (err) {
      reasons.push(`${url}: ${describeError(err)}`);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }
  return { failed: reasons.join('; ') };
}

async function readPsos(client: Client, domainDn: string): Promise<Pso[] | string> {
  const container = `CN=Password Settings Container,CN=System,${domainDn}`;
  try {
    const { searchEntries } = await client.search(container, {
      scope: 'one',
      filter: new EqualityFilter({ attribute: 'objectClass', value: 'msDS-PasswordSettings' }),
      attributes: ['cn', 'msDS-LockoutThreshold', 'msDS-PSOAppliesTo'],
    });
    return searchEntries.map((e) => ({
      name: text(e, 'cn') ?? e.dn,
      lockoutThreshold: integer(text(e, 'msDS-LockoutThreshold')),
      appliesTo: values(e, 'msDS-PSOAppliesTo').length,
    }));
  } catch (err) {
    if (err instanceof NoSuchObjectError || err instanceof InsufficientAccessError)
      return `the service account cannot read ${container}`;
    return `reading ${container} failed: ${describeError(err)}`;
  }
}

function interval(v: string | undefined): bigint | undefined {
  if (v === undefined || !/^-?\d{1,20}$/.test(v.trim())) return undefined;
  return BigInt(v.trim());
}

function minutes(v: string | undefined): number | undefined {
  const i = interval(v);
  if (i === undefined || i === NEVER) return undefined;
  return Number((i < 0n ? -i : i) / TICKS_PER_MINUTE);
}

function maxAgeDays(v: string | undefined): number | 'never' | undefined {
  const i = interval(v);
  if (i === undefined) return undefined;
  // 0 and 0x8000000000000000 both mean passwords never expire ([MS-ADTS] §3.1.1.4.5.36's "no expiry").
  if (i === 0n || i === NEVER) return 'never';
  return Number((i < 0n ? -i : i) / TICKS_PER_DAY);
}

function integer(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d{1,9}$/.test(v.trim())) return undefined;
  return Number(v.trim());
}
