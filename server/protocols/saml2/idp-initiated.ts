/**
 * SAML 2.0 IdP-initiated sign-on (SAML Profiles §4.1.5, unsolicited Response), as AD FS serves it:
 * /adfs/ls/idpinitiatedsignon[.aspx] lists the parties that allow it, and `?LoginToRP=<entityID>&RelayState=<url>`
 * signs in to one. Only trusts whose policy allows it are listed or reachable; the ACS comes from metadata and the
 * RelayState must be a URL registered for the party.
 */
import type { Request, Response } from 'express';
import { param } from '../../http/middleware.ts';
import { FederationError } from '../../lib/errors.ts';
import { ROUTES } from '../../http/routes.ts';
import type { Services } from '../../services.ts';
import { matchReplyUrl } from '../../trust/registry.ts';
import type { SignInRequest } from '../browser/pending.ts';
import { resolveAcs } from './sso.ts';

/** The sign-in request for `LoginToRP`, or undefined when the page answered itself (the list of parties). */
// eslint-disable-next-line @typescript-eslint/require-await -- one async shape for every parser: a refusal arrives as a rejection, like the others'
export async function parseIdpInitiated(
  s: Services,
  req: Request,
  res: Response,
): Promise<SignInRequest | undefined> {
  if (!s.config.saml2.idpInitiatedSignOn)
    throw new FederationError('not_found', 'There is no page at this address.');
  const q: unknown = req.query;
  const target = param(q, 'LoginToRP', 1024) ?? param(q, 'loginToRp', 1024);
  const listed = s.trusts.parties.filter((p) => p.saml?.policy.idpInitiated === true);
  if (target === undefined || target === '') {
    res
      .status(200)
      .type('html')
      .send(
        s.views.page(res, 'idp-initiated', {
          returnTo: ROUTES.idpInitiated,
          sites: listed.map((p) => ({
            name: p.name,
            href: `?LoginToRP=${encodeURIComponent(p.identifier)}`,
          })),
        }),
      );
    return undefined;
  }
  const rp = listed.find((p) => p.identifier === target || s.trusts.find(target) === p);
  if (rp?.saml === undefined)
    throw new FederationError(
      'unknown_relying_party',
      'This site does not allow sign-in from here.',
      {
        detail: `IdP-initiated sign-on to ${target.slice(0, 200)} not allowed`,
      },
    );
  const relay = param(q, 'RelayState', 2048);
  let relayState: string | undefined;
  if (relay !== undefined && relay !== '') {
    // Only a registered URL (corpus B3.4 applied to RelayState).
    relayState = matchReplyUrl({ replyUrls: rp.saml.policy.relayStateUrls }, relay);
    if (relayState === undefined)
      throw new FederationError(
        'invalid_reply_address',
        'The return address is not registered for this application.',
        {
          detail: `RelayState ${relay.slice(0, 200)} not registered`,
        },
      );
  }
  return {
    request: { protocol: 'saml2-idp', acs: resolveAcs(rp.saml, {}), relayState },
    rp,
    force: false,
  };
}
