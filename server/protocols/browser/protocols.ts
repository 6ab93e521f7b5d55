/**
 * The browser protocols, registered: which protocol issues and answers each kind of pending sign-in. A new protocol
 * adds its member to ProtocolRequest (pending.ts), writes its parser and issuer, and adds its case here; the type
 * checker refuses a member without a case.
 */
import type { Response } from 'express';
import { ROUTES } from '../../http/routes.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import type { RelyingParty } from '../../trust/registry.ts';
import { issueSaml2, noPassive } from '../saml2/sso.ts';
import { issueWsFed } from '../wsfed/signin.ts';
import { issueOidc } from '../oidc/issue.ts';
import type { Delivery, FormPost } from './form-post.ts';
import type { ProtocolRequest, SignedIn } from './pending.ts';

export function issueFor(who: SignedIn, request: ProtocolRequest): Promise<Delivery> {
  switch (request.protocol) {
    case 'wsfed':
      return issueWsFed(who, request);
    case 'saml2':
    case 'saml2-idp':
      return issueSaml2(who, request);
    case 'portal':
      // No token: back to the security-info page, which answers a post without an action with a redirect to itself.
      return Promise.resolve({ action: `${who.s.config.publicUrl}${ROUTES.portal}/`, fields: [] });
    case 'oidc':
      return issueOidc(who, request);
    default:
      return request satisfies never;
  }
}

/** The answer to a passive request (no user interaction) when no usable session exists. */
export function passiveRefusal(
  s: Services,
  res: Response,
  request: ProtocolRequest,
  rp: RelyingParty,
): FormPost {
  switch (request.protocol) {
    case 'saml2':
      return noPassive(s, res, request, rp);
    case 'wsfed':
    case 'saml2-idp':
    case 'portal':
    case 'oidc':
      // Their parsers never ask for a passive sign-in.
      throw new FederationError('internal', `passive sign-in for ${request.protocol}`);
    default:
      return request satisfies never;
  }
}
