/**
 * What the claims step contributes to a sign-in's audit line (token_issued / access_denied): how many rules of
 * each stage fired, how many claims went out, and which rule denied. Counts and rule names only: claim values
 * (UPNs, SIDs, group names) stay out of the audit stream, which is kept longer and read more widely than the
 * token itself.
 */
import type { ClaimsOutcome } from './engine.ts';
import type { EvaluationResult } from './evaluator.ts';

export interface ClaimsAudit {
  /** Rules that fired at least once, per stage; acceptance is null when none are configured (pass-through). */
  rulesFired: { acceptance: number | null; authorization: number; issuance: number | null };
  /** Claims the token carries (permitted sign-ins). */
  claimsIssued?: number;
  /** The rule that denied, as `rule N "name"`, or why nothing permitted. */
  deniedBy?: string;
}

function fired(result: EvaluationResult): number {
  return result.trace.filter((t) => t.firings > 0).length;
}

/** The `claims` field of an audit event. */
export function claimsAudit(outcome: ClaimsOutcome): ClaimsAudit {
  const acceptance = outcome.acceptance === undefined ? null : fired(outcome.acceptance);
  if (!outcome.permitted) {
    return {
      rulesFired: { acceptance, authorization: fired(outcome.authorization), issuance: null },
      deniedBy: outcome.reason,
    };
  }
  return {
    rulesFired: {
      acceptance,
      authorization: fired(outcome.authorization),
      issuance: fired(outcome.issuance),
    },
    claimsIssued: outcome.claims.length,
  };
}
