/**
 * "Does this sign-in need a second factor?" (issue 16, "When MFA is required"). Three sources, any one suffices:
 * - AD FS AdditionalAuthenticationRules, as they are: the global set (Set-AdfsAdditionalAuthenticationRule) and
 *   the trust's own; MFA is required when either issues authenticationmethod = multipleauthn (adfs-reference.md §2
 *   [PS]: "either firing → MFA"). They run on the existing claims engine over AD FS's input for them: the claims
 *   provider trust's accepted claims plus the request context (insidecorporatenetwork, x-ms-*), group SIDs included;
 * - access-control-policy presets (presets.ts), which are rule sets too;
 * - the relying party's request: WS-Fed wauth = multipleauthn (entra-protocol.md §1.2 [KB-MFA]), or a SAML
 *   RequestedAuthnContext that a password cannot satisfy (SAML Core §3.3.2.2.1).
 * Every source that asks is listed in `reasons`, so the audit line can say why.
 *
 * Not wired into sign-in yet, and no configuration: callers pass compiled rule sets and plain parameters.
 */
import { ActiveDirectoryStore } from '../../claims/ad-store.ts';
import type { ClaimsEngine } from '../../claims/engine.ts';
import {
  evaluateRules,
  RuleEvaluationError,
  type EvaluationResult,
} from '../../claims/evaluator.ts';
import type { AuthenticationContext, RequestContext } from '../../claims/input-claims.ts';
import { describeRule, type RuleSet } from '../../claims/rule-ast.ts';
import type { Claim } from '../../claims/types.ts';
import {
  MFA_CLAIM_TYPE,
  MULTIPLE_AUTHN,
  type CompiledPreset,
  type MfaPresetKind,
} from './presets.ts';

export { MULTIPLE_AUTHN } from './presets.ts';

/** The rule sets that can require MFA for one relying-party trust. */
export interface MfaRuleSets {
  /** Global AdditionalAuthenticationRules (every trust). */
  global?: RuleSet | undefined;
  /** The trust's AdditionalAuthenticationRules. */
  trust?: RuleSet | undefined;
  /** The trust's access-control-policy presets (compilePreset). */
  presets?: readonly CompiledPreset[] | undefined;
}

export type MfaReason =
  | {
      kind: 'rule';
      /** Which rule set: global or the trust's; acceptance when the claims provider's rules failed. */
      scope: 'global' | 'trust' | 'acceptance';
      /** The rule set's source (file path). */
      source: string;
      /** `rule N "name"`. */
      rule: string;
      /** Set when the rule failed (RuleEvaluationError) and MFA is required because of that. */
      failed?: string | undefined;
    }
  | {
      kind: 'preset';
      preset: MfaPresetKind;
      rule: string;
      failed?: string | undefined;
    }
  | {
      kind: 'request';
      protocol: 'wsfed' | 'saml2';
      /** wauth, or the class references fedgate knows that the RequestedAuthnContext named (space-separated). */
      requested: string;
    };

export interface MfaDecision {
  required: boolean;
  reasons: MfaReason[];
}

/** A reason as one readable line (the `reasons` of the mfa_required audit event). */
export function describeMfaReason(r: MfaReason): string {
  const failed = r.kind !== 'request' && r.failed !== undefined ? ` (failed: ${r.failed})` : '';
  switch (r.kind) {
    case 'rule':
      return `${r.scope} rules ${r.source} ${r.rule}${failed}`;
    case 'preset':
      return `preset ${r.preset} ${r.rule}${failed}`;
    case 'request':
      return `${r.protocol} request ${r.requested}`;
  }
}

/** Whether any rule source is present (no sources: decideMfa can only say "not required" by rules). */
export function hasRuleSources(sets: MfaRuleSets): boolean {
  return sets.global !== undefined || sets.trust !== undefined || (sets.presets?.length ?? 0) > 0;
}

/** URIs as admins paste them from Microsoft Learn pages that were rewritten to https:// (entra-protocol.md). */
function canonicalUri(uri: string): string {
  return uri
    .trim()
    .replace(/^https:\/\//i, 'http://')
    .toLowerCase();
}
const MFA_TYPE = canonicalUri(MFA_CLAIM_TYPE);
const MFA_VALUE = canonicalUri(MULTIPLE_AUTHN);

/**
 * Does the claim ask for MFA? AD FS's test is type and value as written; this one also takes a different case
 * and the https:// spelling of both URIs. That can only add MFA where a rule's author evidently meant it (a
 * rule file copied from a doc page with the https typo would otherwise require nothing, silently).
 */
export function asksForMfa(c: Claim): boolean {
  return canonicalUri(c.type) === MFA_TYPE && canonicalUri(c.value) === MFA_VALUE;
}

/** The rules (`rule N "name"`) of one run that issued the MFA claim; only issued claims count, as in AD FS. */
function firedMfa(result: EvaluationResult): string[] {
  return result.trace
    .filter((t) => t.verb === 'issue' && t.claims.some(asksForMfa))
    .map((t) => describeRule(t));
}

type Source =
  | { kind: 'rule'; scope: 'global' | 'trust'; rules: RuleSet }
  | { kind: 'preset'; preset: CompiledPreset };

/**
 * The rule sources' verdict over claims already accepted by the claims provider trust. Each set runs on its own
 * over the same claims, as AD FS runs the global and the trust's sets separately.
 *
 * Fail closed: a rule that cannot be evaluated for this user (RuleEvaluationError: a store query refused, a
 * pattern built at run time without a translation, the evaluator's limits) makes MFA required, with the failure as
 * the reason. Such a rule was written to require MFA for someone, and a rule set that stops part-way has not said
 * "no". Outages (FederationError such as directory_unavailable) are not verdicts and propagate to the caller.
 */
export async function ruleReasons(
  engine: ClaimsEngine,
  sets: MfaRuleSets,
  accepted: readonly Claim[],
  user: AuthenticationContext['user'],
): Promise<MfaReason[]> {
  // The signed-in user's own entry answers the AD store's queries for it, as in ClaimsEngine.run.
  const stores = engine.stores.map((st) =>
    st instanceof ActiveDirectoryStore ? st.forUser(user) : st,
  );
  const sources: Source[] = [];
  if (sets.global !== undefined)
    sources.push({ kind: 'rule', scope: 'global', rules: sets.global });
  if (sets.trust !== undefined) sources.push({ kind: 'rule', scope: 'trust', rules: sets.trust });
  for (const preset of sets.presets ?? []) sources.push({ kind: 'preset', preset });

  const reasons: MfaReason[] = [];
  for (const src of sources) {
    const rules = src.kind === 'rule' ? src.rules : src.preset.rules;
    const reason = (rule: string, failed?: string): MfaReason =>
      src.kind === 'rule'
        ? { kind: 'rule', scope: src.scope, source: rules.source, rule, failed }
        : { kind: 'preset', preset: src.preset.preset.kind, rule, failed };
    try {
      const result = await evaluateRules(rules, accepted, stores);
      for (const rule of firedMfa(result)) reasons.push(reason(rule));
    } catch (err) {
      if (!(err instanceof RuleEvaluationError)) throw err;
      reasons.push(reason(describeRule({ index: err.ruleIndex, name: err.ruleName }), err.message));
    }
  }
  return reasons;
}

/**
 * The whole decision for one sign-in: the rule sets over the user's claims (the claims engine's input claims for
 * `auth` and `request`, through the claims provider's acceptance rules) plus what the request asked for
 * (`requested`, from wsfedRequestReason / samlRequestReason).
 *
 * Fail closed, here too: acceptance rules that fail (RuleEvaluationError) leave no claims to judge by, so MFA is
 * required with that failure as the reason. A directory outage (FederationError directory_unavailable, from the
 * input claims' tokenGroups read or a store) is no verdict: it rejects, and the caller answers it as an outage.
 */
export async function decideMfa(o: {
  engine: ClaimsEngine;
  sets: MfaRuleSets;
  auth: AuthenticationContext;
  request: RequestContext;
  requested?: readonly MfaReason[] | undefined;
}): Promise<MfaDecision> {
  const reasons: MfaReason[] = [...(o.requested ?? [])];
  const input = await o.engine.inputClaims(o.auth, o.request);
  let accepted: Claim[] | undefined;
  try {
    accepted = (await o.engine.accept(input)).accepted;
  } catch (err) {
    if (!(err instanceof RuleEvaluationError)) throw err;
    reasons.push({
      kind: 'rule',
      scope: 'acceptance',
      source: o.engine.acceptance?.source ?? '',
      rule: describeRule({ index: err.ruleIndex, name: err.ruleName }),
      failed: err.message,
    });
  }
  if (accepted !== undefined)
    reasons.push(...(await ruleReasons(o.engine, o.sets, accepted, o.auth.user)));
  return { required: reasons.length > 0, reasons };
}

// ---------------------------------------------------------------------------------------------------------------
// The request side (pure).

/**
 * WS-Fed: `wauth=http://schemas.microsoft.com/claims/multipleauthn` asks for MFA (what Entra sends when its
 * Conditional Access needs MFA and the domain enforces MFA by the federated IdP; entra-protocol.md §1.2 [KB-MFA]).
 * Every other wauth (password, tlsclient, …) asks for no second factor. The https:// spelling counts as a request
 * too: asking for more is never a risk.
 */
export function wsfedRequestReason(wauth: string | undefined): MfaReason | undefined {
  if (wauth === undefined || canonicalUri(wauth) !== MFA_VALUE) return undefined;
  return { kind: 'request', protocol: 'wsfed', requested: wauth };
}

/** The RequestedAuthnContext shape (saml2/messages.ts), restated here: authn/ does not import protocols/. */
export interface RequestedContext {
  comparison: 'exact' | 'minimum' | 'maximum' | 'better';
  classRefs: readonly string[];
}

/** The primary (first-factor) method of the sign-in. */
export type PrimaryMethod = 'password' | 'certificate';

/**
 * How strong a class reference is: 1 a password, 2 a certificate (a primary method fedgate has), 3 more than one
 * factor. AD FS accepts its own authenticationmethod URIs and multipleauthn as class references too.
 */
const CLASS_STRENGTH: Readonly<Record<string, 1 | 2 | 3>> = {
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Password': 1,
  'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport': 1,
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password': 1,
  'urn:oasis:names:tc:SAML:2.0:ac:classes:X509': 2,
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient': 2,
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard': 2,
  'urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI': 2,
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/tlsclient': 2,
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/x509': 2,
  [MULTIPLE_AUTHN]: 3,
  // SAML AuthnContext classes that are two factors by definition (SAML AuthnContext §3.4.x), and REFEDS MFA.
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract': 3,
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered': 3,
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken': 3,
  'https://refeds.org/profile/mfa': 3,
};
const AC_UNSPECIFIED = 'urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified';

function strengthOf(classRef: string): 1 | 2 | 3 | undefined {
  if (canonicalUri(classRef) === MFA_VALUE) return 3;
  return CLASS_STRENGTH[classRef];
}

/**
 * SAML: does the RequestedAuthnContext ask for more than the primary method gives (SAML Core §3.3.2.2.1)? With
 * `exact`, the assertion must carry one of the listed classes: MFA is asked for when none of them is within what the
 * primary method reaches. With `minimum`, the weakest listed class sets the floor; with `better`, the assertion
 * must be stronger than the weakest listed; `maximum` is always met by a single factor. `unspecified` accepts
 * anything. A certificate sign-in reaches the certificate classes; a password sign-in only the password ones, so a
 * password user asked for X509 is asked for more than a password (the sign-in step may offer a certificate instead).
 * Classes fedgate does not know are left out of the judgement (the SSO endpoint answers NoAuthnContext to a request
 * naming nothing it knows).
 */
export function samlRequestReason(
  rac: RequestedContext | undefined,
  primary: PrimaryMethod = 'password',
): MfaReason | undefined {
  if (rac === undefined || rac.classRefs.includes(AC_UNSPECIFIED)) return undefined;
  const known = rac.classRefs.flatMap((r) => {
    const s = strengthOf(r);
    return s === undefined ? [] : [{ r, s }];
  });
  if (known.length === 0) return undefined;
  const reach = primary === 'certificate' ? 2 : 1;
  const lowest = Math.min(...known.map((k) => k.s));
  let needsMore: boolean;
  switch (rac.comparison) {
    case 'exact':
      needsMore = !known.some((k) => k.s <= reach);
      break;
    case 'minimum':
      needsMore = lowest > reach;
      break;
    case 'better':
      needsMore = lowest >= reach;
      break;
    case 'maximum':
      needsMore = false;
      break;
  }
  if (!needsMore) return undefined;
  return {
    kind: 'request',
    protocol: 'saml2',
    requested: known.map((k) => k.r).join(' '),
  };
}
