/**
 * The claims step of a sign-in (architecture.md: edge → protocol → authentication → claims → token): input
 * claims → issuance authorization rules → issuance transform rules → the token's claims, with a trace of every
 * rule for `fedgate claims test` and audit.
 */
import { attributeText } from '../directory/ad-attributes.ts';
import type { DirectoryProvider } from '../directory/types.ts';
import type { Clock } from '../lib/clock.ts';
import { ActiveDirectoryStore } from './ad-store.ts';
import type { AttributeStore } from './attribute-store.ts';
import { evaluateRules, type EvaluationResult, type RuleTrace } from './evaluator.ts';
import { inputClaims, type AuthenticationContext, type RequestContext } from './input-claims.ts';
import { PasswordExpiryStore } from './password-expiry-store.ts';
import { describeRule } from './rule-ast.ts';
import type { RelyingPartyRules } from './rule-sets.ts';
import { ClaimTypes, type Claim } from './types.ts';

export type ClaimsOutcome =
  | {
      permitted: true;
      input: Claim[];
      authorization: EvaluationResult;
      issuance: EvaluationResult;
      /** The claims for the token (the issuance rules' output). */
      claims: Claim[];
    }
  | {
      permitted: false;
      input: Claim[];
      authorization: EvaluationResult;
      /** Which rule denied (issued a deny claim), or why nothing permitted. */
      reason: string;
    };

export interface ClaimsEngineDeps {
  directory: DirectoryProvider;
  clock: Clock;
  /** Where users change their password (passwordchangeurl); none until fedgate has that page. */
  passwordChangeUrl?: string | undefined;
}

function issuedBy(trace: RuleTrace[], type: string): RuleTrace | undefined {
  return trace.find((t) => t.claims.some((c) => c.type === type));
}

/**
 * AD FS's authorization decision: any deny claim denies; otherwise a permit claim permits; no permit claim
 * denies. Only the claim type counts: AD FS's templates issue permit with "true" (Permit All Users) or
 * "PermitUsersWithClaim", and deny with "DenyUsersWithClaim".
 */
function decide(result: EvaluationResult): { permitted: boolean; reason: string } {
  const deny = result.output.find((c) => c.type === ClaimTypes.deny);
  if (deny !== undefined) {
    const rule = issuedBy(result.trace, ClaimTypes.deny);
    return { permitted: false, reason: rule === undefined ? 'deny claim' : describeRule(rule) };
  }
  const permit = result.output.some((c) => c.type === ClaimTypes.permit);
  return permit
    ? { permitted: true, reason: 'permitted' }
    : { permitted: false, reason: 'no authorization rule issued a permit claim' };
}

export class ClaimsEngine {
  readonly #directory: DirectoryProvider;
  readonly stores: readonly AttributeStore[];

  constructor(deps: ClaimsEngineDeps) {
    this.#directory = deps.directory;
    this.stores = [
      new ActiveDirectoryStore(deps.directory),
      new PasswordExpiryStore({ clock: deps.clock, changeUrl: deps.passwordChangeUrl }),
    ];
  }

  /** Input claims for a signed-in user; reads the user's group SIDs (tokenGroups) from the directory. */
  async inputClaims(auth: AuthenticationContext, request: RequestContext): Promise<Claim[]> {
    const [row] = await this.#directory.queryAttributes({
      account: auth.user.windowsAccountName,
      attributes: ['tokenGroups'],
    });
    const groupSids = (row?.tokenGroups ?? []).map((v) => attributeText('tokenGroups', v));
    return inputClaims(auth, request, groupSids);
  }

  /** Authorization first (AD FS runs no transform rules for a denied user), then issuance. */
  async run(
    rules: RelyingPartyRules,
    auth: AuthenticationContext,
    request: RequestContext,
  ): Promise<ClaimsOutcome> {
    const input = await this.inputClaims(auth, request);
    const authorization = await evaluateRules(rules.authorization, input, this.stores);
    const decision = decide(authorization);
    if (!decision.permitted)
      return { permitted: false, input, authorization, reason: decision.reason };
    const issuance = await evaluateRules(rules.issuance, input, this.stores);
    return { permitted: true, input, authorization, issuance, claims: issuance.output };
  }
}
