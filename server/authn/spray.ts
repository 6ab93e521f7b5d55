import { type BlockList, isIP } from 'node:net';
import type { LockoutConfig } from '../config/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { canonicalIp, parseAddressList } from '../lib/ip.ts';
import type { ArtifactStore } from '../stores/types.ts';

/**
 * Password-spray defence per source address (security-corpus C1.1, C1.10):
 * - banned ranges (AD FS "banned IPs"), IPv4/IPv6/CIDR, refused before anything else;
 * - a per-source failure budget per fixed window: a source that keeps failing is refused for the rest of it;
 * - a fan-out detector: many distinct accounts failing from one source in one window raises an alert once.
 * Counters live in the ArtifactStore, so a farm on Redis counts across nodes.
 */

export interface SourceVerdict {
  allowed: boolean;
  reason?: 'banned' | 'source_rate_limited' | undefined;
}

export interface SprayFailureRecord {
  failures: number;
  distinctAccounts: number;
  /** True exactly once per source and window: the fan-out alert. */
  alert: boolean;
}

export class SprayGuard {
  readonly #store: ArtifactStore;
  readonly #clock: Clock;
  readonly #config: LockoutConfig['spray'];
  readonly #banned: BlockList;

  constructor(deps: { store: ArtifactStore; clock: Clock; config: LockoutConfig }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#config = deps.config.spray;
    this.#banned = parseAddressList(deps.config.bannedAddresses);
  }

  /** Banned ranges first: any presented address in them refuses the request. */
  isBanned(presentedIps: readonly string[]): boolean {
    return presentedIps.some((raw) => {
      const ip = canonicalIp(raw);
      const family = isIP(ip);
      return family !== 0 && this.#banned.check(ip, family === 4 ? 'ipv4' : 'ipv6');
    });
  }

  #window(): { id: number; ttl: number } {
    const ms = this.#config.windowMinutes * 60_000;
    const now = this.#clock.now().getTime();
    return { id: Math.floor(now / ms), ttl: Math.ceil((ms - (now % ms)) / 1000) + 1 };
  }

  /** Before the credential check. */
  async check(sourceIp: string, presentedIps: readonly string[]): Promise<SourceVerdict> {
    if (this.isBanned(presentedIps)) return { allowed: false, reason: 'banned' };
    const { id } = this.#window();
    const failures = await this.#store.find<number | string>(
      'sprayCounter',
      `${canonicalIp(sourceIp)}:${id}:failures`,
    );
    const n = failures === undefined ? 0 : Number(failures);
    if (n >= this.#config.maxFailuresPerSource)
      return { allowed: false, reason: 'source_rate_limited' };
    return { allowed: true };
  }

  /** A failed sign-in from this source against `account` (a lockout key). */
  async recordFailure(sourceIp: string, account: string): Promise<SprayFailureRecord> {
    const { id, ttl } = this.#window();
    const src = `${canonicalIp(sourceIp)}:${id}`;
    const failures = await this.#store.incr('sprayCounter', `${src}:failures`, ttl);
    let distinctAccounts: number;
    if (await this.#store.markSeen('sprayCounter', `${src}:account:${account}`, ttl)) {
      distinctAccounts = await this.#store.incr('sprayCounter', `${src}:accounts`, ttl);
    } else {
      const v = await this.#store.find<number | string>('sprayCounter', `${src}:accounts`);
      distinctAccounts = v === undefined ? 0 : Number(v);
    }
    const alert =
      distinctAccounts >= this.#config.distinctAccountsAlert &&
      (await this.#store.markSeen('sprayCounter', `${src}:alerted`, ttl));
    return { failures, distinctAccounts, alert };
  }
}
