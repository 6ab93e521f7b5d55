import type { LockoutConfig } from '../config/schema.ts';
import type { DirectoryUser } from '../directory/types.ts';
import type { Clock } from '../lib/clock.ts';
import { canonicalIp } from '../lib/ip.ts';
import type { ArtifactStore } from '../stores/types.ts';

/**
 * Extranet smart lockout with AD FS semantics (AD FS "Extranet Smart Lockout"; security-corpus C1):
 *
 * - Per account two bad-password counters: one for familiar locations, one for unknown ones. A location is
 *   familiar only when every address the request presents (the client address and each forwarded address a
 *   trusted proxy vouched for) is in the account's familiar list (C1.5: a forged X-Forwarded-For never makes an
 *   attacker familiar).
 * - Familiar locations are learned from successful sign-ins only, at most `maxFamiliarLocations` (AD FS: 20),
 *   oldest dropped first.
 * - After `threshold` bad passwords in a class, attempts from that class are refused before any LDAP bind, so
 *   AD's badPwdCount stops moving and AD's own (higher) lockout is never reached (C1.2).
 * - After `observationWindowMinutes` without a failure exactly one attempt is let through; if it fails the
 *   window restarts at once (C1.3). Counters are cleared only by a successful password sign-in or an admin reset.
 * - Keys are the resolved account (objectGUID) so every spelling of a name hits one counter (C1.6); names that
 *   resolve to nothing are keyed by a normalised form of the name.
 * - Everything lives in the ArtifactStore: with Redis every node shares the counters (atomic INCR, C1.7).
 */
export type LocationClass = 'familiar' | 'unknown';

/** What the store holds per account and class. */
const COUNT = 'count';
/** Present while the observation window after the last counted failure is open. */
const GATE = 'gate';
/** ISO time of the last counted failure (for `fedgate lockout show` and locked-until). */
const LAST_FAILURE = 'last-failure';

export interface LockoutDecision {
  /** The attempt may go on to the directory. */
  allowed: boolean;
  /** The class is over its threshold (in log-only mode `allowed` stays true). */
  locked: boolean;
  location: LocationClass;
  /** Bad passwords counted so far in this class. */
  count: number;
  /** The one attempt allowed after the observation window. */
  windowProbe: boolean;
}

export interface FailureRecord {
  count: number;
  /** This failure took the class to the threshold (AD FS event 516). */
  reachedThreshold: boolean;
}

export interface ClassActivity {
  count: number;
  /** The observation window after the last failure is still open (the one probe attempt is not yet due). */
  windowOpen: boolean;
  /** ISO time of the last counted bad password in this class. */
  lastFailure?: string | undefined;
  /**
   * Over the threshold: ISO time the observation window ends and one attempt is let through again (it may be in
   * the past: the next attempt is that probe).
   */
  lockedUntil?: string | undefined;
}

export interface AccountActivity {
  account: string;
  familiar: ClassActivity;
  unknown: ClassActivity;
  familiarLocations: string[];
  lastSuccess?: string | undefined;
  /** AD itself answered "locked" (775) lately: fedgate pauses binds for this account for one window. */
  adLockedRecently: boolean;
}

interface FamiliarRecord {
  ips: string[];
  lastSuccess: string;
}

/** Fold a typed name to one form: NFKC (full-width → ASCII), trimmed, lower-case. */
export function normaliseName(typed: string): string {
  return typed.normalize('NFKC').trim().toLowerCase();
}

/**
 * The counter key of an account: `guid:<base64 objectGUID>` once resolved, else `name:<normalised>` with a
 * `DOMAIN\` prefix removed (C1.6).
 */
export function accountKey(user: DirectoryUser | undefined, typedName: string): string {
  if (user !== undefined) return `guid:${user.objectGuid.toString('base64')}`;
  let n = normaliseName(typedName);
  const slash = n.indexOf('\\');
  if (slash >= 0) n = n.slice(slash + 1);
  return `name:${n.slice(0, 256)}`;
}

export class SmartLockout {
  readonly #store: ArtifactStore;
  readonly #clock: Clock;
  readonly #config: LockoutConfig;

  constructor(deps: { store: ArtifactStore; clock: Clock; config: LockoutConfig }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#config = deps.config;
  }

  get enabled(): boolean {
    return this.#config.enabled;
  }

  get logOnly(): boolean {
    return this.#config.mode === 'log-only';
  }

  get threshold(): number {
    return this.#config.threshold;
  }

  get observationWindowSeconds(): number {
    return this.#config.observationWindowMinutes * 60;
  }

  get #windowSeconds(): number {
    return this.observationWindowSeconds;
  }

  get #retentionSeconds(): number {
    return Math.max(this.#config.retentionHours * 3600, this.#windowSeconds);
  }

  #key(account: string, cls: LocationClass, part: string): string {
    return `${account}:${cls}:${part}`;
  }

  /** Familiar only when every presented address is in the account's list (C1.5). */
  async classify(account: string, presentedIps: readonly string[]): Promise<LocationClass> {
    const ips = [...new Set(presentedIps.map(canonicalIp).filter((ip) => ip !== ''))];
    if (ips.length === 0) return 'unknown';
    const rec = await this.#store.find<FamiliarRecord>('lockoutCounter', `${account}:familiar-ips`);
    if (rec === undefined) return 'unknown';
    return ips.every((ip) => rec.ips.includes(ip)) ? 'familiar' : 'unknown';
  }

  /** Runs BEFORE any credential check. */
  async check(account: string, location: LocationClass): Promise<LockoutDecision> {
    const base = { location, windowProbe: false };
    if (!this.#config.enabled) return { ...base, allowed: true, locked: false, count: 0 };
    const count = (await this.#count(account, location)) ?? 0;
    if (count < this.#config.threshold) return { ...base, allowed: true, locked: false, count };
    // Over the threshold: the gate is set at each counted failure and lives one observation window. Taking it
    // (set-if-absent) is the one attempt allowed once the window has passed; it restarts the window at once, so
    // concurrent attempts on any node find it taken.
    const probe = await this.#store.markSeen(
      'lockoutCounter',
      this.#key(account, location, GATE),
      this.#windowSeconds,
    );
    if (probe) return { ...base, allowed: true, locked: false, count, windowProbe: true };
    return { ...base, allowed: this.logOnly, locked: true, count };
  }

  /** A bad password (or an unknown name) in this class. */
  async recordFailure(account: string, location: LocationClass): Promise<FailureRecord> {
    if (!this.#config.enabled) return { count: 0, reachedThreshold: false };
    const count = await this.#store.incr(
      'lockoutCounter',
      this.#key(account, location, COUNT),
      this.#retentionSeconds,
    );
    await this.#store.put(
      'lockoutCounter',
      this.#key(account, location, LAST_FAILURE),
      this.#clock.now().toISOString(),
      this.#retentionSeconds,
    );
    if (count >= this.#config.threshold) {
      await this.#store.put(
        'lockoutCounter',
        this.#key(account, location, GATE),
        1,
        this.#windowSeconds,
      );
    }
    return { count, reachedThreshold: count === this.#config.threshold };
  }

  /**
   * A correct password: the counter of the class it came from is cleared (an attacker's unknown-location lockout
   * survives the real user's familiar sign-ins), and the presented addresses become familiar.
   */
  async recordSuccess(
    account: string,
    presentedIps: readonly string[],
    location: LocationClass,
  ): Promise<void> {
    if (!this.#config.enabled) return;
    await this.#clear(account, [location]);
    const max = this.#config.maxFamiliarLocations;
    if (max === 0) return;
    const key = `${account}:familiar-ips`;
    const rec = await this.#store.find<FamiliarRecord>('lockoutCounter', key);
    let ips = rec?.ips ?? [];
    for (const ip of presentedIps.map(canonicalIp)) {
      if (ip === '') continue;
      ips = [...ips.filter((x) => x !== ip), ip]; // most recent last; oldest evicted first
    }
    ips = ips.slice(-max);
    await this.#store.put(
      'lockoutCounter',
      key,
      { ips, lastSuccess: this.#clock.now().toISOString() } satisfies FamiliarRecord,
      Math.max(this.#retentionSeconds, 90 * 24 * 3600),
    );
  }

  async show(account: string): Promise<AccountActivity> {
    const cls = async (c: LocationClass): Promise<ClassActivity> => {
      const count = (await this.#count(account, c)) ?? 0;
      const lastFailure = await this.#store.find<string>(
        'lockoutCounter',
        this.#key(account, c, LAST_FAILURE),
      );
      const over = this.#config.enabled && count >= this.#config.threshold;
      return {
        count,
        windowOpen:
          (await this.#store.find('lockoutCounter', this.#key(account, c, GATE))) !== undefined,
        lastFailure,
        lockedUntil:
          over && lastFailure !== undefined
            ? new Date(Date.parse(lastFailure) + this.#windowSeconds * 1000).toISOString()
            : undefined,
      };
    };
    const rec = await this.#store.find<FamiliarRecord>('lockoutCounter', `${account}:familiar-ips`);
    return {
      account,
      familiar: await cls('familiar'),
      unknown: await cls('unknown'),
      familiarLocations: rec?.ips ?? [],
      lastSuccess: rec?.lastSuccess,
      adLockedRecently:
        (await this.#store.find('lockoutCounter', `${account}:ad-locked`)) !== undefined,
    };
  }

  /** Admin reset (Reset-AdfsAccountLockout): counters cleared; familiar locations kept unless asked. */
  async reset(account: string, opts: { forgetLocations?: boolean } = {}): Promise<void> {
    await this.#clear(account);
    // The pause after AD answered 775 (forms.ts): a help desk that unlocked the account in AD resets this too.
    await this.#store.destroy('lockoutCounter', `${account}:ad-locked`);
    if (opts.forgetLocations === true)
      await this.#store.destroy('lockoutCounter', `${account}:familiar-ips`);
  }

  async #clear(
    account: string,
    classes: readonly LocationClass[] = ['familiar', 'unknown'],
  ): Promise<void> {
    for (const c of classes) {
      await this.#store.destroy('lockoutCounter', this.#key(account, c, COUNT));
      await this.#store.destroy('lockoutCounter', this.#key(account, c, GATE));
      await this.#store.destroy('lockoutCounter', this.#key(account, c, LAST_FAILURE));
    }
  }

  async #count(account: string, cls: LocationClass): Promise<number | undefined> {
    const v = await this.#store.find<number | string>(
      'lockoutCounter',
      this.#key(account, cls, COUNT),
    );
    if (v === undefined) return undefined;
    const n = typeof v === 'number' ? v : Number.parseInt(v, 10);
    return Number.isFinite(n) ? n : undefined;
  }
}
