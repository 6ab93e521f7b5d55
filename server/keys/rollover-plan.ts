/**
 * When the token-signing ring must change, as a pure function of its state and the time (AD FS's
 * AutoCertificateRollover, adfs-reference §4):
 * - generate the next certificate `generationThresholdDays` before the primary expires (AD FS 20);
 * - promote it `promotionThresholdDays` after it was added (AD FS 5), so it has been in the public federation metadata
 *   for several of Entra ID's daily polls first (Entra starts polling 35 days before expiry, entra-protocol §4.2);
 * - within `criticalThresholdDays` of expiry (AD FS 2) generate and promote at once: an outage is worse than a
 *   relying party that has not yet seen the new certificate;
 * - drop a previous primary from the metadata `gracePeriodDays` after it was replaced, or when it expires.
 */
import type { KeyRole } from './manifest.ts';

const DAY_MS = 24 * 3600 * 1000;

export interface RolloverSettings {
  /** Automatic in-process rollover (AD FS AutoCertificateRollover). The CLI's `rollover --if-due` ignores it. */
  auto: boolean;
  generationThresholdDays: number;
  promotionThresholdDays: number;
  durationDays: number;
  criticalThresholdDays: number;
  gracePeriodDays: number;
  checkIntervalMinutes: number;
}

/** AD FS's farm defaults (adfs-reference §4), and a week of grace for relying parties that poll late. */
export const DEFAULT_ROLLOVER: RolloverSettings = {
  auto: true,
  generationThresholdDays: 20,
  promotionThresholdDays: 5,
  durationDays: 365,
  criticalThresholdDays: 2,
  gracePeriodDays: 7,
  checkIntervalMinutes: 720,
};

/** What the planner needs of each key. */
export interface PlanKey {
  role: KeyRole;
  thumbprint: string;
  notBefore: Date;
  notAfter: Date;
  added: Date;
  retired?: Date | undefined;
}

export type RolloverAction =
  | { kind: 'generate'; reason: string }
  | { kind: 'promote'; thumbprint: string; reason: string }
  | { kind: 'generate-and-promote'; reason: string }
  | { kind: 'retire'; thumbprint: string; reason: string };

/**
 * The changes due at `now`, in the order to apply them (at most one generation or promotion, plus retirements).
 * Empty when nothing is due: running it again right after applying its result is a no-op (idempotent).
 */
export function planRollover(keys: PlanKey[], now: Date, s: RolloverSettings): RolloverAction[] {
  const t = now.getTime();
  const actions: RolloverAction[] = [];
  const primary = keys.find((k) => k.role === 'primary');
  const next = keys.find((k) => k.role === 'next');

  for (const k of keys) {
    if (k.role !== 'previous') continue;
    const since = k.retired ?? k.added;
    if (t >= k.notAfter.getTime())
      actions.push({ kind: 'retire', thumbprint: k.thumbprint, reason: 'expired' });
    else if (t - since.getTime() >= s.gracePeriodDays * DAY_MS)
      actions.push({ kind: 'retire', thumbprint: k.thumbprint, reason: 'grace period over' });
  }
  if (primary === undefined) return actions;

  const left = primary.notAfter.getTime() - t;
  const nextUsable =
    next !== undefined && next.notBefore.getTime() <= t && next.notAfter.getTime() > t + DAY_MS;
  if (left <= s.criticalThresholdDays * DAY_MS) {
    if (nextUsable)
      actions.push({
        kind: 'promote',
        thumbprint: next.thumbprint,
        reason: `primary expires within the critical threshold (${s.criticalThresholdDays} days)`,
      });
    else
      actions.push({
        kind: 'generate-and-promote',
        reason: `primary expires within the critical threshold (${s.criticalThresholdDays} days) and no usable next key`,
      });
    return actions;
  }
  if (next === undefined) {
    if (left <= s.generationThresholdDays * DAY_MS)
      actions.push({
        kind: 'generate',
        reason: `primary expires in ${Math.floor(left / DAY_MS)} days (generation threshold ${s.generationThresholdDays})`,
      });
    return actions;
  }
  if (nextUsable && t - next.added.getTime() >= s.promotionThresholdDays * DAY_MS) {
    actions.push({
      kind: 'promote',
      thumbprint: next.thumbprint,
      reason: `next key published ${s.promotionThresholdDays} days ago (promotion threshold)`,
    });
  }
  return actions;
}

/** Problems with the thresholds, for `fedgate check` (warnings: the server still starts). */
export function rolloverWarnings(s: RolloverSettings): string[] {
  const w: string[] = [];
  if (s.promotionThresholdDays < 2)
    w.push(
      `keys.rollover.promotionThresholdDays is ${s.promotionThresholdDays}: the next certificate is in the metadata for fewer than two of Entra ID's daily polls before it signs; Entra may reject tokens until someone runs Update-MgDomainFederationConfiguration (AD FS uses 5)`,
    );
  if (s.generationThresholdDays - s.promotionThresholdDays <= s.criticalThresholdDays)
    w.push(
      `keys.rollover: generation (${s.generationThresholdDays} days before expiry) minus promotion (${s.promotionThresholdDays} days) leaves the switch inside the critical threshold (${s.criticalThresholdDays} days)`,
    );
  if (s.generationThresholdDays >= s.durationDays)
    w.push(
      `keys.rollover.generationThresholdDays (${s.generationThresholdDays}) is not shorter than durationDays (${s.durationDays}): every new key would be due for rollover at once`,
    );
  if (s.checkIntervalMinutes > s.promotionThresholdDays * 24 * 60)
    w.push(
      `keys.rollover.checkIntervalMinutes (${s.checkIntervalMinutes}) is longer than the promotion threshold: steps may be late`,
    );
  if (s.durationDays > 825)
    w.push(
      `keys.rollover.durationDays is ${s.durationDays}: long-lived signing keys widen the window of a stolen key (AD FS uses 365)`,
    );
  return w;
}
