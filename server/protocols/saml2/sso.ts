/**
 * SAML 2.0 Web Browser SSO profile (SAML Profiles §4.1) on /adfs/ls/: parses an AuthnRequest into a sign-in request
 * for the browser pipeline (protocols/browser/), and delivers the signed Response, or a status Response, to the
 * party's ACS over HTTP-POST.
 *
 * Every check on an AuthnRequest runs before any sign-in page is shown (issue 5 §1, corpus B1–B3): strict
 * decode and parse; Issuer names a SAML trust; signature (Redirect query signature or POST enveloped) with
 * keys only from the SP's metadata, required when the metadata or policy says so; ID an NCName; IssueInstant
 * within the window; Destination ours; ID not seen before; the ACS resolved only from metadata; RelayState
 * bounded. Until the ACS is known, every failure is a local error page: nothing is ever posted to an address
 * that is not registered for the party. Afterwards, NoPassive / InvalidNameIDPolicy / NoAuthnContext go to the
 * ACS as a signed status Response.
 */
import type { Request, Response } from 'express';
import type { Services } from '../../services.ts';
import { CONSENT_UNSPECIFIED, writeSignedSaml2Response } from '../../tokens/index.ts';
import { NAMEID_UNSPECIFIED, pinnedNameIdFormat, toSaml2Model } from '../../tokens/saml2-model.ts';
import type { RelyingParty, SamlTrust } from '../../trust/registry.ts';
import { BINDING_POST } from '../../trust/saml-metadata.ts';
import { FederationError } from '../../lib/errors.ts';
import type { FormPost } from '../browser/form-post.ts';
import {
  expired,
  type ProtocolRequest,
  type SignedIn,
  type SignInMethod,
  type SignInRequest,
} from '../browser/pending.ts';
import { inBrowserSession, issueToken } from '../issuance/issue-token.ts';
import { samlRequestReason } from '../../authn/mfa/policy.ts';
import { freshness, samlTrust, verified, type Inbound } from './inbound.ts';
import {
  readAuthnRequest,
  samlError,
  STATUS,
  writeStatusResponse,
  type RequestedAuthnContext,
} from './messages.ts';
import * as audit from '../../observability/audit.ts';

type Saml2Request = Extract<ProtocolRequest, { protocol: 'saml2' }>;
type AnySaml2Request = Extract<ProtocolRequest, { protocol: 'saml2' | 'saml2-idp' }>;

/** Authentication context classes fedgate's methods produce and satisfy. */
const CLASS_METHOD: Readonly<Partial<Record<string, SignInMethod>>> = {
  'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport': 'password',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Password': 'password',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:X509': 'certificate',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient': 'certificate',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard': 'certificate',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI': 'certificate',
};
/** Strength order for minimum/better/maximum (a certificate is stronger than a password). */
const STRENGTH: Readonly<Record<SignInMethod, number>> = { password: 1, certificate: 2 };
const AC_UNSPECIFIED = 'urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified';

/**
 * The sign-in methods that satisfy a RequestedAuthnContext (SAML Core §3.3.2.2.1): undefined when any will do,
 * an empty list when none can (the caller answers NoAuthnContext). Classes fedgate does not know count for
 * nothing; `unspecified` matches any method.
 */
export function methodsForContext(
  rac: RequestedAuthnContext | undefined,
): SignInMethod[] | undefined {
  if (rac === undefined) return undefined;
  if (rac.classRefs.includes(AC_UNSPECIFIED)) return undefined;
  const known = [
    ...new Set(
      rac.classRefs.flatMap((r): SignInMethod[] => {
        const m = CLASS_METHOD[r];
        return m === undefined ? [] : [m];
      }),
    ),
  ];
  if (known.length === 0) return [];
  const all: SignInMethod[] = ['password', 'certificate'];
  const lo = Math.min(...known.map((m) => STRENGTH[m]));
  const hi = Math.max(...known.map((m) => STRENGTH[m]));
  switch (rac.comparison) {
    case 'exact':
      return known;
    case 'minimum':
      return all.filter((m) => STRENGTH[m] >= lo);
    case 'better':
      return all.filter((m) => STRENGTH[m] > lo);
    case 'maximum':
      return all.filter((m) => STRENGTH[m] <= hi);
  }
}

/** The ACS from metadata only (SAML Profiles §4.1.4.1, corpus B3.1). */
export function resolveAcs(
  trust: SamlTrust,
  r: {
    acsUrl?: string | undefined;
    acsIndex?: number | undefined;
    protocolBinding?: string | undefined;
  },
): string {
  const post = trust.metadata.assertionConsumerServices.filter((a) => a.binding === BINDING_POST);
  const bad = (detail: string): FederationError =>
    new FederationError(
      'invalid_reply_address',
      'The return address in the sign-in request is not registered for this application.',
      { detail },
    );
  if (r.protocolBinding !== undefined && r.protocolBinding !== BINDING_POST)
    throw bad(`ProtocolBinding ${r.protocolBinding.slice(0, 100)} not supported`);
  if (r.acsIndex !== undefined) {
    if (r.acsUrl !== undefined) throw bad('both AssertionConsumerServiceURL and Index');
    const hit = post.find((a) => a.index === r.acsIndex);
    if (hit === undefined) throw bad(`AssertionConsumerServiceIndex ${r.acsIndex} unknown`);
    return hit.location;
  }
  if (r.acsUrl !== undefined) {
    const hit = post.find((a) => a.location === r.acsUrl);
    if (hit === undefined)
      throw bad(`AssertionConsumerServiceURL ${r.acsUrl.slice(0, 200)} not in metadata`);
    return hit.location;
  }
  const def =
    post.find((a) => a.isDefault === true) ??
    [...post].sort((x, y) => (x.index ?? 0) - (y.index ?? 0))[0];
  if (def === undefined) throw bad('no HTTP-POST AssertionConsumerService');
  return def.location;
}

/** A Response (token or status) to the ACS, HTTP-POST binding (SAML Bindings §3.5). */
function responseForm(acs: string, xml: string, relayState: string | undefined): FormPost {
  const fields = [{ name: 'SAMLResponse', value: Buffer.from(xml, 'utf8').toString('base64') }];
  if (relayState !== undefined) fields.push({ name: 'RelayState', value: relayState });
  return { action: acs, fields };
}

/** A signed status-only Response to the ACS (already matched against the trust), with its audit line. */
function statusForm(
  s: Services,
  res: Response,
  st: { acs: string; requestId?: string | undefined; relayState?: string | undefined },
  status: string,
  subStatus: string,
  fields: { rp: string; requestId: string | undefined; reason?: string | undefined },
): FormPost {
  const xml = writeStatusResponse(
    {
      id: `_${s.random.uuid()}`,
      issuer: s.config.issuerUri,
      issueInstant: s.clock.now(),
      destination: st.acs,
      inResponseTo: st.requestId,
      status,
      subStatus,
    },
    s.signing,
  );
  audit.saml2Status(s.audit, { status: subStatus, activityId: res.locals.activityId, ...fields });
  return responseForm(st.acs, xml, st.relayState);
}

/**
 * Every check on an AuthnRequest, in order. A NameIDPolicy format the trust never gives, or a
 * RequestedAuthnContext no offered method satisfies, is answered at once with a status Response to the ACS.
 */
export async function parseAuthnRequest(
  s: Services,
  req: Request,
  res: Response,
  m: Inbound,
): Promise<SignInRequest | FormPost> {
  const cfg = s.config.saml2;
  // Issuer first (unsigned at this point) only to find the keys; everything used is re-read from the
  // verified document below.
  const claimed = readAuthnRequest(m.doc);
  const { rp, saml } = samlTrust(s, claimed.issuer);
  const required =
    saml.metadata.authnRequestsSigned ||
    saml.policy.requireSignedRequests ||
    cfg.requireSignedRequests;
  const v = verified(s, req, m, saml, required);
  const ar = v.signed ? readAuthnRequest(v.doc) : claimed;
  if (ar.issuer !== claimed.issuer)
    throw samlError('Issuer differs between signed and received message');
  await freshness(s, 'AuthnRequest', ar.issuer, ar.id, ar.issueInstant, ar.destination, v.signed);
  const acs = resolveAcs(saml, ar);
  const request: Saml2Request = {
    protocol: 'saml2',
    acs,
    requestId: ar.id,
    relayState: m.relayState,
    nameIdFormat: ar.nameIdFormat === NAMEID_UNSPECIFIED ? undefined : ar.nameIdFormat,
  };
  const audit = { rp: rp.identifier, requestId: ar.id };

  // NameIDPolicy (corpus B3.10): a format the trust never gives is refused before any sign-in. When the format
  // comes from the rules (no pinned format), it is known only once they ran: issueSaml2() compares it there.
  const pinned = pinnedNameIdFormat(rp);
  if (request.nameIdFormat !== undefined && pinned !== undefined && request.nameIdFormat !== pinned)
    return statusForm(s, res, request, STATUS.requester, STATUS.invalidNameIdPolicy, audit);
  // RequestedAuthnContext: the methods that satisfy it; none that fedgate offers → NoAuthnContext (§3.3.2.2.1).
  // A context only a second factor satisfies (multipleauthn, REFEDS MFA, …): any primary method, then the MFA step
  // judges it against the primary (policy.ts samlRequestReason); the assertion then names multipleauthn. A server
  // with no usable second factor answers NoAuthnContext, as before MFA existed.
  const rac = ar.requestedAuthnContext;
  const mfaAsk =
    rac !== undefined &&
    s.mfa.methods.length > 0 &&
    samlRequestReason(rac, 'certificate') !== undefined
      ? { protocol: 'saml2' as const, context: rac }
      : undefined;
  let methods = methodsForContext(rac);
  if (mfaAsk !== undefined && methods !== undefined && methods.length === 0) methods = undefined;
  if (
    methods !== undefined &&
    !methods.some((m) => m === 'password' || s.certificates !== undefined)
  )
    return statusForm(s, res, request, STATUS.responder, STATUS.noAuthnContext, audit);
  // IsPassive (SAML Core §3.4.1): no user interaction; without a usable session the pipeline answers
  // noPassive() (B3.9).
  return {
    request,
    rp,
    force: ar.forceAuthn,
    passive: ar.isPassive,
    methods,
    mfaAsk,
    usernameHint: ar.subjectHint,
    localeHints: ar.localeHints,
  };
}

/** IsPassive and no usable session (none, ForceAuthn, or made by a method the request refuses): NoPassive. */
export function noPassive(
  s: Services,
  res: Response,
  request: Saml2Request,
  rp: RelyingParty,
): FormPost {
  return statusForm(s, res, request, STATUS.responder, STATUS.noPassive, {
    rp: rp.identifier,
    requestId: request.requestId,
  });
}

/**
 * The signed Response for a signed-in user (SP-initiated or IdP-initiated), to the ACS. The SessionIndex an SP
 * was given earlier in this session is reused, so a later LogoutRequest naming it still matches.
 */
export async function issueSaml2(who: SignedIn, request: AnySaml2Request): Promise<FormPost> {
  const { s, req, res, rp, user, session } = who;
  const saml = rp.saml;
  if (saml === undefined) throw expired();
  const requestId = request.protocol === 'saml2' ? request.requestId : undefined;
  const nameIdFormat = request.protocol === 'saml2' ? request.nameIdFormat : undefined;
  const input = inBrowserSession('saml2', rp, user, session);
  const authInstant = input.auth.instant;
  const existing = (await s.participants.of(session)).find(
    (x) => x.protocol === 'saml2' && x.rp === rp.identifier,
  );
  let sessionIndex = existing?.protocol === 'saml2' ? existing.sessionIndex : undefined;
  const issued = await issueToken(s, req, res, input, {
    build: (claims, now) => {
      sessionIndex ??= `_${s.random.uuid()}`;
      return toSaml2Model({
        rp,
        claims,
        assertionId: `_${s.random.uuid()}`,
        issuer: s.config.issuerUri,
        acs: request.acs,
        inResponseTo: requestId,
        now,
        authMethod: session.authMethod,
        // The multipleauthn class only when a second factor was verified in this session (corpus B5.4).
        mfa: session.mfa !== undefined,
        authInstant,
        sessionIndex,
      });
    },
    // The rules issued no nameidentifier (or one of another format) but the request demanded a format: SAML
    // Core §3.4.1.1 (the IdP cannot issue an identifier in the requested format) → InvalidNameIDPolicy, what
    // AD FS answers; delivered to the ACS already matched against the trust (issue 14 §8).
    refuse: (model) =>
      nameIdFormat !== undefined && model.nameId?.format !== nameIdFormat
        ? model.nameId === undefined
          ? 'no nameidentifier claim'
          : 'nameidentifier format'
        : undefined,
    write: (model, now) =>
      writeSignedSaml2Response(
        {
          responseId: `_${s.random.uuid()}`,
          issueInstant: now,
          destination: request.acs,
          inResponseTo: requestId,
          consent: CONSENT_UNSPECIFIED,
          assertion: model,
        },
        s.signing,
        {
          signAssertion: saml.policy.signAssertion,
          signResponse: saml.policy.signResponse,
          encryptAssertion: saml.policy.encryption,
        },
      ),
    // A LogoutRequest must name the principal (SAML Core §3.7.1): a party given no NameID cannot be sent one.
    participant: (model) =>
      sessionIndex === undefined
        ? undefined
        : {
            protocol: 'saml2',
            rp: rp.identifier,
            nameId: model.nameId?.value,
            nameIdFormat: model.nameId?.format,
            sessionIndex,
          },
    auditFields: () => ({
      inResponseTo: requestId,
      encrypted: saml.policy.encryption?.algorithm ?? false,
    }),
  });
  if (issued.kind === 'refused')
    return statusForm(s, res, request, STATUS.requester, STATUS.invalidNameIdPolicy, {
      rp: rp.identifier,
      requestId,
      reason: issued.reason,
    });
  return responseForm(request.acs, issued.xml, request.relayState);
}
