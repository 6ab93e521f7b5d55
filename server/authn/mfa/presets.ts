/**
 * AD FS 2016 access-control-policy templates that require MFA, as shorthand (issue 16 "When MFA is required").
 * AD FS 2016 keeps an access control policy as policy metadata, not claim rules; fedgate turns each preset into the
 * AdditionalAuthenticationRules an AD FS 2012 R2 administrator would write for it, so the administrator can read
 * (and copy) the equivalent rules, and so one evaluator (policy.ts, on the claims engine) runs presets and rule
 * files alike. Only the MFA half of a policy is here: the "Permit …" half is the trust's authorization rules.
 *
 * Template names as AD FS 2016 lists them (adfs-reference.md §2 [ACP], [NEW16]; exact wording UNCERTAIN):
 * - everyone: "Permit everyone and require MFA";
 * - extranet: "Permit everyone and require MFA from extranet access";
 * - group: "Permit everyone and require MFA for specific group";
 * - unregistered-networks: AD FS has no template of that name. Its nearest ones are "…from extranet access"
 *   (location: the request came through the proxy, insidecorporatenetwork = false) and "…from unauthenticated
 *   devices" (device registration, which fedgate does not have). A network the organisation has registered is, for
 *   AD FS, its intranet: so this preset issues the same rule as `extranet`. When fedgate learns trusted intranet
 *   ranges, they will decide insidecorporatenetwork, and both presets follow.
 */
import { Filter } from 'ldapts';
import { compileRules } from '../../claims/rule-sets.ts';
import type { RuleSet } from '../../claims/rule-ast.ts';
import { ClaimTypes } from '../../claims/types.ts';
import { attributeText } from '../../directory/ad-attributes.ts';
import type { DirectoryProvider } from '../../directory/types.ts';

/** The claim AdditionalAuthenticationRules issue to ask for MFA, and its value (adfs-reference.md §2 [PS]). */
export const MFA_CLAIM_TYPE = ClaimTypes.authenticationMethod;
export const MULTIPLE_AUTHN = 'http://schemas.microsoft.com/claims/multipleauthn';

export type MfaPreset =
  | { kind: 'everyone' }
  | { kind: 'extranet' }
  | { kind: 'unregistered-networks' }
  | {
      kind: 'group';
      /** The group's objectSid (S-1-5-21-…): AD FS policies name groups by SID, which a rename does not change. */
      groupSid: string;
      /** The name the administrator gave, for the rule's name only. */
      groupName?: string | undefined;
    };

export type MfaPresetKind = MfaPreset['kind'];

/** AD FS 2016's template names (for the admin's eyes: rule names, `fedgate claims` output, audit). */
export const PRESET_TITLES: Readonly<Record<MfaPresetKind, string>> = {
  everyone: 'Permit everyone and require MFA',
  extranet: 'Permit everyone and require MFA from extranet access',
  group: 'Permit everyone and require MFA for specific group',
  'unregistered-networks': 'Permit everyone and require MFA from unregistered networks',
};

export interface CompiledPreset {
  preset: MfaPreset;
  /** The equivalent AdditionalAuthenticationRules, as text. */
  text: string;
  rules: RuleSet;
}

/** [MS-DTYP] §2.4.2.1 string form: S-1-<authority>-<sub-authorities> (at most 15). */
const SID_RE = /^S-1-\d{1,13}(?:-\d{1,10}){1,15}$/i;

export function isSid(text: string): boolean {
  return SID_RE.test(text);
}

const issueMfa = `issue(Type = "${MFA_CLAIM_TYPE}", Value = "${MULTIPLE_AUTHN}")`;

/**
 * The preset's AdditionalAuthenticationRules. The rules test what AD FS's own rules test and nothing more, on
 * purpose: each one only ever adds MFA, so a claim an acceptance rule adds can make MFA required but never waive it.
 * - extranet: `insidecorporatenetwork == "false"` rather than NOT EXISTS(… "true"): a "true" claim an acceptance
 *   rule issued cannot hide the request's own "false" (the engine always passes the request context on, engine.ts).
 * - group: no `Issuer == "AD AUTHORITY"` test: acceptance rules that re-issue groupsid as LOCAL AUTHORITY must not
 *   switch MFA off for the group.
 */
export function presetRuleText(p: MfaPreset): string {
  const name = (n: string): string => `@RuleName = "${n}"`;
  switch (p.kind) {
    case 'everyone':
      return `${name(PRESET_TITLES.everyone)}\n=> ${issueMfa};\n`;
    case 'extranet':
    case 'unregistered-networks':
      return `${name(PRESET_TITLES[p.kind])}\nc:[Type == "${ClaimTypes.insideCorporateNetwork}", Value == "false"]\n => ${issueMfa};\n`;
    case 'group': {
      if (!isSid(p.groupSid)) throw new Error(`"${p.groupSid.slice(0, 100)}" is not a SID`);
      const sid = p.groupSid.toUpperCase();
      // The name goes into a quoted annotation: drop what could end the string or the line.
      const label = (p.groupName ?? sid)
        // eslint-disable-next-line no-control-regex -- control characters are what is removed
        .replace(/["\\\u0000-\u001f\u2028\u2029]/g, '')
        .slice(0, 200);
      return `${name(`${PRESET_TITLES.group}: ${label}`)}\nc:[Type == "${ClaimTypes.groupSid}", Value == "${sid}"]\n => ${issueMfa};\n`;
    }
  }
}

/** The preset as a compiled rule set (source `preset:<kind>` in messages and audit). */
export function compilePreset(preset: MfaPreset): CompiledPreset {
  const text = presetRuleText(preset);
  return { preset, text, rules: compileRules(text, `preset:${preset.kind}`) };
}

/**
 * A group for the `group` preset, given by SID or by name (sAMAccountName, optionally DOMAIN\name), as its SID: a
 * name is looked up once, in the directory, when the policy is built (as the AD FS console resolves the group the
 * admin picks and stores its SID). An unknown or ambiguous name is an Error, so a typo stops startup instead of
 * silently requiring MFA of nobody.
 */
export async function resolveGroup(
  directory: DirectoryProvider,
  netbiosDomain: string,
  group: string,
): Promise<{ groupSid: string; groupName?: string | undefined }> {
  const g = group.trim();
  if (isSid(g)) return { groupSid: g.toUpperCase() };
  let name = g;
  const slash = g.indexOf('\\');
  if (slash >= 0) {
    const domain = g.slice(0, slash);
    if (domain.toUpperCase() !== netbiosDomain.toUpperCase())
      throw new Error(`group ${g.slice(0, 100)}: domain ${domain} is not ${netbiosDomain}`);
    name = g.slice(slash + 1);
  }
  // eslint-disable-next-line no-control-regex -- control characters in a group name are refused
  if (name === '' || name.length > 256 || /[\u0000-\u001f\\]/.test(name))
    throw new Error(`"${g.slice(0, 100)}" is neither a SID nor a group name`);
  const rows = await directory.queryAttributes({
    // With a filter, the account part only names the domain searched (AttributeQuery.account).
    account: `${netbiosDomain}\\${name}`,
    filter: `(&(objectClass=group)(sAMAccountName=${Filter.escape(name)}))`,
    attributes: ['objectSid'],
  });
  const sids = rows.flatMap((r) => (r.objectSid ?? []).map((v) => attributeText('objectSid', v)));
  if (rows.length === 0) throw new Error(`group "${name}" not found in ${netbiosDomain}`);
  const [sid] = sids;
  if (rows.length > 1 || sids.length !== 1 || sid === undefined || !isSid(sid))
    throw new Error(`group "${name}" does not name exactly one group with an objectSid`);
  return { groupSid: sid.toUpperCase(), groupName: name };
}
