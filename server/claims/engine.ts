/**
 * The claims step of a sign-in (architecture.md: edge → protocol → authentication → claims → token), the AD FS
 * claims pipeline ("The Role of the Claims Pipeline"): input claims → the Active Directory claims provider trust's
 * acceptance transform rules → the relying party's issuance authorization rules → its issuance transform rules →
 * the token's claims, with a trace of every rule for `fedgate claims test` and audit.
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
import type { RuleSet } from './rule-ast.ts';
import type { RelyingPartyRules } from './rule-sets.ts';
import { CLIENT_CONTEXT, ClaimTypes, type Claim } from './types.ts';

interface Accepted {
  /** The claims authentication produced (before acceptance rules). */
  input: Claim[];
  /** The acceptance rules' run; undefined when none are configured (every claim passes through). */
  acceptance: EvaluationResult | undefined;
  /** What the relying party's rules start from. */
  accepted: Claim[];
}

export type ClaimsOutcome =
  | (Accepted & {
      permitted: true;
      authorization: EvaluationResult;
      issuance: EvaluationResult;
      /** The claims for the token (the issuance rules' output). */
      claims: Claim[];
    })
  | (Accepted & {
      permitted: false;
      authorization: EvaluationResult;
      /** Which rule denied (issued a deny claim), or why nothing permitted. */
      reason: string;
    });

export interface ClaimsEngineDeps {
  directory: DirectoryProvider;
  clock: Clock;
  /** Where users change their password (passwordchangeurl); none until fedgate has that page. */
  passwordChangeUrl?: string | undefined;
  /**
   * The Active Directory claims provider trust's acceptance transform rules (config
   * claimsProvider.acceptanceRulesFile). undefined: every claim passes through, as AD FS's default rules do.
   */
  acceptance?: RuleSet | undefined;
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

/** S-1-5-21-a-b-c-RID + primaryGroupID → S-1-5-21-a-b-c-primaryGroupID; undefined when either is missing. */
export function primaryGroupSid(
  objectSid: string | undefined,
  primaryGroupId: string | undefined,
): string | undefined {
  if (objectSid === undefined || primaryGroupId === undefined) return undefined;
  if (!/^\d{1,10}$/.test(primaryGroupId.trim())) return undefined;
  const m = /^(S-1-\d+(?:-\d+)+)-\d+$/.exec(objectSid);
  if (m === null) return undefined;
  return `${m[1] ?? ''}-${String(Number(primaryGroupId.trim()))}`;
}

export class ClaimsEngine {
  readonly #directory: DirectoryProvider;
  readonly stores: readonly AttributeStore[];
  /** Acceptance transform rules; undefined = pass-through. */
  readonly acceptance: RuleSet | undefined;

  constructor(deps: ClaimsEngineDeps) {
    this.#directory = deps.directory;
    this.acceptance = deps.acceptance;
    this.stores = [
      new ActiveDirectoryStore(deps.directory),
      new PasswordExpiryStore({ clock: deps.clock, changeUrl: deps.passwordChangeUrl }),
    ];
  }

  /**
   * Input claims for a signed-in user; reads the user's group SIDs (tokenGroups: nested groups and the primary
   * group included) and primaryGroupID from the directory. The primary group's SID is the domain SID (the user's
   * objectSid without its last sub-authority, the RID) followed by primaryGroupID ([MS-ADTS] §3.1.1.1.3 SIDs
   * are domain SID + RID), what AD FS issues as primarygroupsid.
   */
  async inputClaims(auth: AuthenticationContext, request: RequestContext): Promise<Claim[]> {
    const [row] = await this.#directory.queryAttributes({
      account: auth.user.windowsAccountName,
      attributes: ['tokenGroups', 'primaryGroupID'],
    });
    const groupSids = (row?.tokenGroups ?? []).map((v) => attributeText('tokenGroups', v));
    const rid = row?.primaryGroupID?.[0];
    return inputClaims(
      auth,
      request,
      groupSids,
      primaryGroupSid(
        auth.user.objectSid,
        rid === undefined ? undefined : attributeText('primaryGroupID', rid),
      ),
    );
  }

  /**
   * Runs the acceptance transform rules over the input claims. Their output (what `issue` produced) is what the
   * relying party's rules see, as in AD FS. Request context claims (issuer CLIENT CONTEXT: x-ms-*,
   * insidecorporatenetwork) are visible to the acceptance rules and always reach the relying party's rules even
   * when the acceptance rules do not pass them through: AD FS 2012 R2 and later give every relying party's rules
   * the request context (client access policies on the Microsoft 365 trust rely on it) while AD FS 2.0 needed
   * pass-through rules for them; keeping them means a rule file written for either works. (UNCERTAIN where
   * exactly AD FS adds them; this is the behaviour both generations' documented policies need.)
   */
  async accept(input: Claim[]): Promise<Accepted> {
    if (this.acceptance === undefined) return { input, acceptance: undefined, accepted: input };
    const acceptance = await evaluateRules(this.acceptance, input, this.stores);
    const passed = new Set(acceptance.output);
    const context = input.filter((c) => c.issuer === CLIENT_CONTEXT && !passed.has(c));
    return { input, acceptance, accepted: [...acceptance.output, ...context] };
  }

  /** Authorization first (AD FS runs no transform rules for a denied user), then issuance. */
  async run(
    rules: RelyingPartyRules,
    auth: AuthenticationContext,
    request: RequestContext,
  ): Promise<ClaimsOutcome> {
    const accepted = await this.accept(await this.inputClaims(auth, request));
    // The relying party's rules may read the signed-in user's own entry from what this request already read.
    const stores = this.stores.map((st) =>
      st instanceof ActiveDirectoryStore ? st.forUser(auth.user) : st,
    );
    const authorization = await evaluateRules(rules.authorization, accepted.accepted, stores);
    const decision = decide(authorization);
    if (!decision.permitted)
      return { ...accepted, permitted: false, authorization, reason: decision.reason };
    const issuance = await evaluateRules(rules.issuance, accepted.accepted, stores);
    return { ...accepted, permitted: true, authorization, issuance, claims: issuance.output };
  }
}
