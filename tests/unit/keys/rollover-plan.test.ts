/**
 * planRollover and rolloverWarnings against AD FS's AutoCertificateRollover rules (adfs-reference §4), with every
 * expected result written out by hand: CertificateGenerationThreshold 20 days before the primary expires,
 * CertificatePromotionThreshold 5 days after the next key was added, CertificateCriticalThreshold 2 days (then
 * switch at once), and fedgate's grace period (7 days, or until expiry) for a replaced primary.
 *
 * Each boundary is tested on both sides (one millisecond apart), so an off-by-one in a comparison fails.
 * Idempotence is shown with the state a step leaves behind, built by hand, never by feeding the planner's output
 * back into itself.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_ROLLOVER,
  planRollover,
  rolloverWarnings,
  type PlanKey,
  type RolloverAction,
  type RolloverSettings,
} from '../../../server/keys/rollover-plan.ts';

const DAY = 24 * 3600 * 1000;
const MS = 1;
const NOW = new Date('2027-03-01T12:00:00.000Z');
const at = (offsetMs: number): Date => new Date(NOW.getTime() + offsetMs);

/** AD FS's farm defaults, spelled out here rather than read from the code under test. */
const ADFS: RolloverSettings = {
  auto: true,
  generationThresholdDays: 20,
  promotionThresholdDays: 5,
  durationDays: 365,
  criticalThresholdDays: 2,
  gracePeriodDays: 7,
  checkIntervalMinutes: 720,
};

const P = 'A'.repeat(40);
const N = 'B'.repeat(40);
const OLD = 'C'.repeat(40);
const OLD2 = 'D'.repeat(40);

/** A primary that expires `leftMs` from NOW, issued a year before that. */
function primary(leftMs: number): PlanKey {
  const notAfter = at(leftMs);
  return {
    role: 'primary',
    thumbprint: P,
    notBefore: new Date(notAfter.getTime() - 365 * DAY),
    notAfter,
    added: new Date(notAfter.getTime() - 365 * DAY),
  };
}

/** A next key added `agoMs` before NOW, valid from then for 365 days. */
function next(agoMs: number, over: Partial<PlanKey> = {}): PlanKey {
  const added = at(-agoMs);
  return {
    role: 'next',
    thumbprint: N,
    notBefore: added,
    notAfter: new Date(added.getTime() + 365 * DAY),
    added,
    ...over,
  };
}

/** A previous primary replaced `retiredAgoMs` before NOW, expiring `leftMs` from NOW. */
function previous(retiredAgoMs: number, leftMs: number, thumbprint = OLD): PlanKey {
  return {
    role: 'previous',
    thumbprint,
    notBefore: at(leftMs - 365 * DAY),
    notAfter: at(leftMs),
    added: at(leftMs - 365 * DAY),
    retired: at(-retiredAgoMs),
  };
}

/** The actions without their free-text reasons (the reasons are checked where they carry a number). */
const kinds = (actions: RolloverAction[]): { kind: string; thumbprint?: string }[] =>
  actions.map((a) => (a.kind === 'promote' || a.kind === 'retire' ? { kind: a.kind, thumbprint: a.thumbprint } : { kind: a.kind }));

describe('planRollover: generation (CertificateGenerationThreshold, 20 days)', () => {
  test('nothing to do while the primary has more than 20 days left', () => {
    assert.deepEqual(planRollover([primary(20 * DAY + MS)], NOW, ADFS), []);
    assert.deepEqual(planRollover([primary(300 * DAY)], NOW, ADFS), []);
  });

  test('exactly 20 days before expiry the next key is generated', () => {
    const actions = planRollover([primary(20 * DAY)], NOW, ADFS);
    assert.deepEqual(kinds(actions), [{ kind: 'generate' }]);
    assert.match(actions[0]?.reason ?? '', /expires in 20 days/);
    assert.match(actions[0]?.reason ?? '', /generation threshold 20/);
  });

  test('a millisecond inside the threshold: generate (19 whole days left)', () => {
    const actions = planRollover([primary(20 * DAY - MS)], NOW, ADFS);
    assert.deepEqual(kinds(actions), [{ kind: 'generate' }]);
    assert.match(actions[0]?.reason ?? '', /expires in 19 days/);
  });

  test('no second next key while one is waiting for promotion', () => {
    assert.deepEqual(planRollover([primary(19 * DAY), next(1 * DAY)], NOW, ADFS), []);
  });

  test('the threshold is a setting: 30 days generates at 30, not at 31', () => {
    const s = { ...ADFS, generationThresholdDays: 30 };
    assert.deepEqual(kinds(planRollover([primary(30 * DAY)], NOW, s)), [{ kind: 'generate' }]);
    assert.deepEqual(planRollover([primary(31 * DAY)], NOW, s), []);
  });
});

describe('planRollover: promotion (CertificatePromotionThreshold, 5 days)', () => {
  test('the next key waits 5 days in the metadata', () => {
    assert.deepEqual(planRollover([primary(16 * DAY), next(4 * DAY)], NOW, ADFS), []);
    assert.deepEqual(planRollover([primary(15 * DAY + MS), next(5 * DAY - MS)], NOW, ADFS), []);
  });

  test('exactly 5 days after it was added it becomes the primary', () => {
    const actions = planRollover([primary(15 * DAY), next(5 * DAY)], NOW, ADFS);
    assert.deepEqual(kinds(actions), [{ kind: 'promote', thumbprint: N }]);
    assert.match(actions[0]?.reason ?? '', /5 days/);
  });

  test('the 5 days count from when the key was added, not from its notBefore', () => {
    // Imported with a certificate issued long ago: it must still be published 5 days first.
    const imported = next(1 * DAY, { notBefore: at(-100 * DAY), notAfter: at(265 * DAY) });
    assert.deepEqual(planRollover([primary(19 * DAY), imported], NOW, ADFS), []);
  });

  test('a next certificate not valid yet is not promoted', () => {
    const future = next(6 * DAY, { notBefore: at(1 * DAY), notAfter: at(366 * DAY) });
    assert.deepEqual(planRollover([primary(14 * DAY), future], NOW, ADFS), []);
  });

  test('a next certificate that expires within a day is not promoted', () => {
    const dying = next(6 * DAY, { notBefore: at(-6 * DAY), notAfter: at(DAY) });
    assert.deepEqual(planRollover([primary(14 * DAY), dying], NOW, ADFS), []);
    // One millisecond more than a day left: usable.
    const ok = next(6 * DAY, { notBefore: at(-6 * DAY), notAfter: at(DAY + MS) });
    assert.deepEqual(kinds(planRollover([primary(14 * DAY), ok], NOW, ADFS)), [
      { kind: 'promote', thumbprint: N },
    ]);
  });

  test('the threshold is a setting: 10 days waits 10', () => {
    const s = { ...ADFS, promotionThresholdDays: 10 };
    assert.deepEqual(planRollover([primary(12 * DAY), next(9 * DAY)], NOW, s), []);
    assert.deepEqual(kinds(planRollover([primary(12 * DAY), next(10 * DAY)], NOW, s)), [
      { kind: 'promote', thumbprint: N },
    ]);
  });
});

describe('planRollover: critical threshold (CertificateCriticalThreshold, 2 days)', () => {
  test('2 days before expiry a usable next key is promoted at once, promotion threshold or not', () => {
    const actions = planRollover([primary(2 * DAY), next(1 * DAY)], NOW, ADFS);
    assert.deepEqual(kinds(actions), [{ kind: 'promote', thumbprint: N }]);
    assert.match(actions[0]?.reason ?? '', /critical threshold \(2 days\)/);
  });

  test('a millisecond before the critical threshold the promotion threshold still rules', () => {
    assert.deepEqual(planRollover([primary(2 * DAY + MS), next(1 * DAY)], NOW, ADFS), []);
  });

  test('2 days before expiry with no next key: generate and promote at once', () => {
    const actions = planRollover([primary(2 * DAY)], NOW, ADFS);
    assert.deepEqual(kinds(actions), [{ kind: 'generate-and-promote' }]);
    assert.match(actions[0]?.reason ?? '', /no usable next key/);
  });

  test('2 days before expiry with a next key that is not usable: generate and promote a fresh one', () => {
    const notYet = next(1 * DAY, { notBefore: at(DAY), notAfter: at(366 * DAY) });
    assert.deepEqual(kinds(planRollover([primary(DAY), notYet], NOW, ADFS)), [
      { kind: 'generate-and-promote' },
    ]);
    const dying = next(10 * DAY, { notBefore: at(-10 * DAY), notAfter: at(DAY) });
    assert.deepEqual(kinds(planRollover([primary(DAY), dying], NOW, ADFS)), [
      { kind: 'generate-and-promote' },
    ]);
  });

  test('a primary that has already expired (a farm that was down) is replaced at once', () => {
    assert.deepEqual(kinds(planRollover([primary(-30 * DAY)], NOW, ADFS)), [
      { kind: 'generate-and-promote' },
    ]);
    assert.deepEqual(kinds(planRollover([primary(-MS), next(1 * DAY)], NOW, ADFS)), [
      { kind: 'promote', thumbprint: N },
    ]);
  });
});

describe('planRollover: the replaced primary (grace period 7 days, or expiry)', () => {
  test('kept published for 7 days after it was replaced', () => {
    const p = { ...primary(360 * DAY) };
    assert.deepEqual(planRollover([p, previous(7 * DAY - MS, 8 * DAY)], NOW, ADFS), []);
    const actions = planRollover([p, previous(7 * DAY, 8 * DAY)], NOW, ADFS);
    assert.deepEqual(kinds(actions), [{ kind: 'retire', thumbprint: OLD }]);
    assert.match(actions[0]?.reason ?? '', /grace period/);
  });

  test('removed when it expires, even inside the grace period', () => {
    const p = primary(360 * DAY);
    assert.deepEqual(planRollover([p, previous(1 * DAY, MS)], NOW, ADFS), []);
    const actions = planRollover([p, previous(1 * DAY, 0)], NOW, ADFS);
    assert.deepEqual(kinds(actions), [{ kind: 'retire', thumbprint: OLD }]);
    assert.match(actions[0]?.reason ?? '', /expired/);
  });

  test('a previous key without a retirement date counts its grace from when it was added', () => {
    const p = primary(360 * DAY);
    const noDate: PlanKey = {
      role: 'previous',
      thumbprint: OLD,
      notBefore: at(-8 * DAY),
      notAfter: at(300 * DAY),
      added: at(-7 * DAY),
    };
    assert.deepEqual(kinds(planRollover([p, noDate], NOW, ADFS)), [
      { kind: 'retire', thumbprint: OLD },
    ]);
    assert.deepEqual(planRollover([p, { ...noDate, added: at(-6 * DAY) }], NOW, ADFS), []);
  });

  test('retirements come first, then the one generation or promotion', () => {
    const actions = planRollover(
      [previous(8 * DAY, 5 * DAY), primary(15 * DAY), next(5 * DAY), previous(1 * DAY, -MS, OLD2)],
      NOW,
      ADFS,
    );
    assert.deepEqual(kinds(actions), [
      { kind: 'retire', thumbprint: OLD },
      { kind: 'retire', thumbprint: OLD2 },
      { kind: 'promote', thumbprint: N },
    ]);
  });

  test('without a primary only retirements are planned (nothing is invented)', () => {
    assert.deepEqual(planRollover([], NOW, ADFS), []);
    assert.deepEqual(kinds(planRollover([previous(8 * DAY, 10 * DAY)], NOW, ADFS)), [
      { kind: 'retire', thumbprint: OLD },
    ]);
    assert.deepEqual(planRollover([next(10 * DAY)], NOW, ADFS), []);
  });
});

describe('planRollover is idempotent: the state each step leaves plans nothing', () => {
  // The state after each step, as the rollover writes it (a new key valid from now for durationDays).
  const fresh = (role: PlanKey['role'], thumbprint: string): PlanKey => ({
    role,
    thumbprint,
    notBefore: NOW,
    notAfter: at(365 * DAY),
    added: NOW,
  });

  test('after generation: primary with 20 days, next added now', () => {
    assert.deepEqual(planRollover([primary(20 * DAY), fresh('next', N)], NOW, ADFS), []);
  });

  test('after promotion: the new primary, the old one previous since now', () => {
    const promoted: PlanKey = { ...next(5 * DAY), role: 'primary' };
    const old: PlanKey = { ...primary(15 * DAY), role: 'previous', thumbprint: P, retired: NOW };
    assert.deepEqual(planRollover([promoted, old], NOW, ADFS), []);
  });

  test('after retirement: the primary alone', () => {
    assert.deepEqual(planRollover([{ ...next(12 * DAY), role: 'primary' }], NOW, ADFS), []);
  });

  test('after generate-and-promote inside the critical threshold', () => {
    const old: PlanKey = { ...primary(DAY), role: 'previous', retired: NOW };
    assert.deepEqual(planRollover([fresh('primary', N), old], NOW, ADFS), []);
  });

  test('after a critical promotion of a next key added yesterday', () => {
    const promoted: PlanKey = { ...next(DAY), role: 'primary' };
    const old: PlanKey = { ...primary(2 * DAY), role: 'previous', retired: NOW };
    assert.deepEqual(planRollover([promoted, old], NOW, ADFS), []);
  });
});

test('DEFAULT_ROLLOVER is AD FS: 20, 5, 365, 2 (and 7 days of grace, a 720-minute check)', () => {
  assert.deepEqual(DEFAULT_ROLLOVER, ADFS);
});

describe('rolloverWarnings', () => {
  test("AD FS's defaults raise nothing", () => {
    assert.deepEqual(rolloverWarnings(ADFS), []);
  });

  test('fewer than two daily polls before promotion', () => {
    const w = rolloverWarnings({ ...ADFS, promotionThresholdDays: 1 });
    assert.equal(w.length, 1);
    assert.match(w[0] ?? '', /promotionThresholdDays is 1/);
    assert.match(w[0] ?? '', /Update-MgDomainFederationConfiguration/);
    assert.deepEqual(rolloverWarnings({ ...ADFS, promotionThresholdDays: 2 }), []);
  });

  test('generation minus promotion inside the critical threshold', () => {
    // 7 - 5 = 2 <= 2: the switch would be planned inside the critical window.
    const w = rolloverWarnings({ ...ADFS, generationThresholdDays: 7 });
    assert.equal(w.length, 1);
    assert.match(w[0] ?? '', /critical threshold \(2 days\)/);
    assert.deepEqual(rolloverWarnings({ ...ADFS, generationThresholdDays: 8 }), []);
  });

  test('a generation threshold as long as the certificate', () => {
    const w = rolloverWarnings({ ...ADFS, generationThresholdDays: 365 });
    assert.equal(w.length, 1);
    assert.match(w[0] ?? '', /generationThresholdDays \(365\) is not shorter than durationDays \(365\)/);
    assert.deepEqual(rolloverWarnings({ ...ADFS, generationThresholdDays: 364 }), []);
  });

  test('a check interval longer than the promotion threshold', () => {
    // 5 days = 7200 minutes.
    const w = rolloverWarnings({ ...ADFS, checkIntervalMinutes: 7201 });
    assert.equal(w.length, 1);
    assert.match(w[0] ?? '', /checkIntervalMinutes \(7201\)/);
    assert.deepEqual(rolloverWarnings({ ...ADFS, checkIntervalMinutes: 7200 }), []);
  });

  test('certificates longer than 825 days', () => {
    const w = rolloverWarnings({ ...ADFS, durationDays: 826 });
    assert.equal(w.length, 1);
    assert.match(w[0] ?? '', /durationDays is 826/);
    assert.deepEqual(rolloverWarnings({ ...ADFS, durationDays: 825 }), []);
  });

  test('several problems are all reported', () => {
    // Promotion 0: under two polls, and the 720-minute check is longer than a zero-day threshold.
    assert.equal(rolloverWarnings({ ...ADFS, promotionThresholdDays: 0 }).length, 2);
  });
});
