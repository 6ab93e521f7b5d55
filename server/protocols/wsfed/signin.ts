/**
 * WS-Federation passive requestor profile, sign-in (MS-MWBF): parses `wa=wsignin1.0` into a SignInRequest for the
 * browser pipeline (protocols/browser/), and delivers the SAML 1.1 token in an RSTR to the reply address. Nothing is
 * ever delivered to an address that is not registered for the party (corpus B3.4).
 */
import { AuthMethods } from '../../claims/types.ts';
import { param } from '../../http/middleware.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import { writeSignedSaml11Assertion, writeWsFedRstr } from '../../tokens/index.ts';
import { toSaml11Model } from '../../tokens/saml11-model.ts';
import { matchReplyUrl, type RelyingParty } from '../../trust/registry.ts';
import type { FormPost } from '../browser/form-post.ts';
import type { ProtocolRequest, SignedIn, SignInMethod, SignInRequest } from '../browser/pending.ts';
import { inBrowserSession, issueToken } from '../issuance/issue-token.ts';
import { wsfedRequestReason } from '../../authn/mfa/policy.ts';

type WsFedRequest = Extract<ProtocolRequest, { protocol: 'wsfed' }>;

/** wauth values a password sign-in satisfies (MS-MWBF §2.2.2; entra-protocol.md §1.2). */
const PASSWORD_WAUTH = new Set([
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password',
  'urn:oasis:names:tc:SAML:1.0:am:password',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Password',
]);

/** wauth values only a certificate sign-in satisfies (AD FS: TLS client authentication). */
const CERTIFICATE_WAUTH = new Set<string>([
  AuthMethods.tlsClient,
  'urn:ietf:rfc:2246',
  'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/x509',
  'urn:oasis:names:tc:SAML:1.0:am:X509-PKI',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:X509',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient',
]);

/** The methods a wauth value allows; undefined when it names none fedgate knows. */
function methodsForWauth(wauth: string): SignInMethod[] | undefined {
  if (PASSWORD_WAUTH.has(wauth)) return ['password'];
  if (CERTIFICATE_WAUTH.has(wauth)) return ['certificate'];
  return undefined;
}

/** Resolves wtrealm/wreply against the trust registry. Nothing is ever delivered to an unmatched address. */
function resolveTrust(
  s: Services,
  wtrealm: string | undefined,
  wreply: string | undefined,
): { rp: RelyingParty; reply: string } {
  if (wtrealm === undefined || wtrealm === '') {
    throw new FederationError(
      'bad_request',
      'The sign-in request does not name the application (wtrealm is missing).',
    );
  }
  const rp = s.trusts.find(wtrealm);
  if (rp === undefined) {
    throw new FederationError(
      'unknown_relying_party',
      'The application that sent you here is not known to this sign-in service.',
      { detail: `unknown wtrealm ${wtrealm.slice(0, 200)}` },
    );
  }
  const [first] = rp.replyUrls;
  if (first === undefined) {
    // A SAML-only trust (from SP metadata) has no WS-Fed reply address.
    throw new FederationError(
      'unknown_relying_party',
      'The application that sent you here is not known to this sign-in service.',
      { detail: `${rp.identifier} has no WS-Federation reply address` },
    );
  }
  if (wreply === undefined || wreply === '') return { rp, reply: first };
  const reply = matchReplyUrl(rp, wreply);
  if (reply === undefined) {
    throw new FederationError(
      'invalid_reply_address',
      'The return address in the sign-in request is not registered for this application.',
      { detail: `wreply ${wreply.slice(0, 200)} does not match ${rp.identifier}` },
    );
  }
  return { rp, reply };
}

/** `wa=wsignin1.0` (query or form fields) → the sign-in the browser pipeline carries out. */
export function parseWsFedSignIn(s: Services, q: unknown): SignInRequest {
  const { rp, reply } = resolveTrust(s, param(q, 'wtrealm', 1024), param(q, 'wreply', 2048));
  const wctx = param(q, 'wctx', 6144);
  const wauth = param(q, 'wauth', 512);
  // wauth=…multipleauthn (Entra with enforceMfaByFederatedIdp): any primary method, then a second factor.
  // A server with no usable second factor refuses it as any method it does not offer.
  const mfaAsk =
    wsfedRequestReason(wauth) === undefined || s.mfa.methods.length === 0 ? undefined : wauth;
  const methods =
    wauth === undefined || wauth === '' || mfaAsk !== undefined
      ? undefined
      : methodsForWauth(wauth);
  if (wauth !== undefined && wauth !== '' && methods === undefined && mfaAsk === undefined) {
    throw new FederationError(
      'bad_request',
      'The application asked for a sign-in method this service does not offer.',
      { detail: `unsupported wauth ${wauth}` },
    );
  }
  return {
    request: { protocol: 'wsfed', reply, wctx },
    rp,
    force: param(q, 'wfresh', 16) === '0' || param(q, 'prompt', 32) === 'login',
    methods,
    mfaAsk: mfaAsk === undefined ? undefined : { protocol: 'wsfed', wauth: mfaAsk },
    usernameHint: param(q, 'username', 512),
    localeHints: wsfedLocaleHints(q),
  };
}

/** Issues the SAML 1.1 token and answers with the RSTR form post to the reply address (MS-MWBF §2.2.4). */
export async function issueWsFed(who: SignedIn, request: WsFedRequest): Promise<FormPost> {
  const { s, rp, user, session } = who;
  const input = inBrowserSession('wsfed', rp, user, session);
  const authInstant = input.auth.instant;
  const issued = await issueToken(s, who.req, who.res, input, {
    build: (claims, now) =>
      toSaml11Model({
        claims,
        assertionId: `_${s.random.uuid()}`,
        issuer: s.config.issuerUri,
        audience: rp.identifier,
        now,
        lifetimeMinutes: rp.tokenLifetimeMinutes,
        authMethod: session.authMethod,
        authInstant,
        requireNameIdentifier: rp.claimsPreset === 'microsoft365',
      }),
    write: (model, now) =>
      writeWsFedRstr({
        assertionXml: writeSignedSaml11Assertion(model, s.signing),
        appliesTo: rp.identifier,
        created: now,
        expires: model.notOnOrAfter,
      }),
    // For single sign-out: this party gets wsignoutcleanup1.0 at this reply address.
    participant: () => ({ protocol: 'wsfed', rp: rp.identifier, reply: request.reply }),
  });
  const fields = [
    { name: 'wa', value: 'wsignin1.0' },
    { name: 'wresult', value: issued.xml },
  ];
  if (request.wctx !== undefined) fields.push({ name: 'wctx', value: request.wctx });
  return { action: request.reply, fields };
}

/**
 * The page language Entra ID (or another party) asks for: `ui_locales` (space-separated tags, as OIDC), `mkt`
 * (a market such as de-DE) and `lc` (a Windows LCID such as 1031), in that order. Entra sends `mkt`/`lc` empty
 * unless the user picked a language there (entra-protocol.md §1.2); empty values are ignored.
 */
function wsfedLocaleHints(q: unknown): string[] {
  const out: string[] = [];
  for (const name of ['ui_locales', 'mkt', 'lc']) {
    // A hint only: one given twice, or too long to be a list of language tags, is ignored, never a refused sign-in.
    const raw =
      typeof q === 'object' && q !== null ? (q as Record<string, unknown>)[name] : undefined;
    const v = typeof raw === 'string' && raw.length <= 256 ? raw : undefined;
    if (v === undefined) continue;
    for (const t of v.trim().split(/\s+/).slice(0, 4)) if (t !== '') out.push(t);
  }
  return out;
}
