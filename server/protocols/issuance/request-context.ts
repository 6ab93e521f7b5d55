/**
 * The request half of the claims step's input (x-ms-client-ip, x-ms-forwarded-client-ip, x-ms-proxy, user agent,
 * endpoint path, x-ms-client-application), built the same way for every protocol so a claim rule sees the same
 * claims whether the sign-in came through /adfs/ls/ or a WS-Trust endpoint.
 */
import type { Request, Response } from 'express';
import { claimsAudit } from '../../claims/audit.ts';
import type { ClaimsOutcome } from '../../claims/engine.ts';
import { RuleEvaluationError } from '../../claims/evaluator.ts';
import { federatedIssuer } from '../../claims/rule-sets.ts';
import type { AuthenticationContext, RequestContext } from '../../claims/input-claims.ts';
import { FederationError, issuanceFailed } from '../../lib/errors.ts';
import { insideCorporateNetwork } from '../../lib/ip.ts';
import * as audit from '../../observability/audit.ts';
import type { Services } from '../../services.ts';
import type { RelyingParty } from '../../trust/registry.ts';

const NO_NETWORKS: readonly string[] = Object.freeze([]);

/**
 * `corporateNetworks`: config.corporateNetworks. insidecorporatenetwork is judged on req.ip, the client address
 * after the trusted proxies (app 'trust proxy'): an address a client writes into X-Forwarded-For is believed only
 * when a configured proxy passed it on, so nobody outside makes themselves "inside" with a header.
 */
export function requestContextOf(
  req: Request,
  endpointPath: string,
  opts: { active?: boolean; corporateNetworks?: readonly string[] } = {},
): RequestContext {
  // req.ips is non-empty only when a configured trusted proxy forwarded the request (app 'trust proxy').
  const proxied = req.ips.length > 0;
  return {
    clientIp: req.ip ?? '',
    forwardedClientIps: proxied ? req.ips : undefined,
    userAgent: req.get('user-agent'),
    endpointPath,
    proxy: proxied ? req.socket.remoteAddress : undefined,
    // Exchange Online names the client it relays (Microsoft.Exchange.ActiveSync, ...) only on active requests;
    // a browser could set the header too, so passive sign-ins never pass it on.
    clientApplication: opts.active === true ? req.get('x-ms-client-application') : undefined,
    insideCorporateNetwork: insideCorporateNetwork(
      { corporateNetworks: opts.corporateNetworks ?? NO_NETWORKS },
      req.ip,
    ),
  };
}

/**
 * The claims step of a token issuance, shared by every protocol: runs the relying party's rules over the signed-in
 * user and this request, and writes the access_denied audit event when the authorization rules deny. The caller
 * answers a denial in its own protocol's way (error page, SOAP fault).
 *
 * A rule that cannot be evaluated for this user (an attribute store query the store refuses, a pattern built at
 * run time that has no translation, more claims than the evaluator allows) is the rule set's fault, not the
 * server's: it ends in an audited `issuance_failed` (403 error page with the activity id), never a 500 (issue 14
 * §8). The audit line names the file and rule; the page does not. Outages (FederationError, e.g.
 * directory_unavailable → 503) pass through unchanged.
 */
export async function issuanceClaims(
  s: Services,
  req: Request,
  res: Response,
  o: {
    protocol: 'wsfed' | 'saml2' | 'wstrust' | 'oidc';
    rp: RelyingParty;
    auth: AuthenticationContext;
    endpointPath: string;
    active?: boolean;
  },
): Promise<ClaimsOutcome> {
  const domains = s.config.microsoft365.federatedDomains;
  if (o.rp.claimsPreset === 'microsoft365' && domains.length > 0) {
    // Corpus B5.2: this server is authoritative for the configured federated domains only. A user whose UPN
    // suffix is none of them (nor a subdomain of one) gets no Microsoft 365 token: Entra would take it as an
    // assertion for a domain this IdP does not own (or refuse it with an opaque error). Without
    // federatedDomains (one domain, no issuerid rules) the tenant's own domain check is all there is.
    const upn = o.auth.user.userPrincipalName ?? '';
    const suffix = upn.includes('@') ? upn.slice(upn.lastIndexOf('@') + 1) : '';
    if (suffix === '' || federatedIssuer(domains, suffix) === undefined) {
      const detail = `UPN suffix "${suffix}" is not in microsoft365.federatedDomains`;
      auditIssuanceFailed(s, req, res, o, detail, 'domain');
      throw issuanceFailed(detail);
    }
  }
  let outcome: ClaimsOutcome;
  try {
    outcome = await s.claims.run(
      o.rp.rules,
      o.auth,
      requestContextOf(req, o.endpointPath, {
        active: o.active === true,
        corporateNetworks: s.config.corporateNetworks,
      }),
    );
  } catch (err) {
    if (!(err instanceof RuleEvaluationError)) throw err;
    auditIssuanceFailed(s, req, res, o, err.message, 'rules');
    throw issuanceFailed(err.message);
  }
  if (!outcome.permitted) {
    audit.accessDenied(s.audit, {
      protocol: o.protocol,
      rp: o.rp.identifier,
      upn: o.auth.user.userPrincipalName,
      objectGuid: o.auth.user.objectGuid.toString('base64'),
      rule: outcome.reason,
      claims: claimsAudit(outcome),
      ip: req.ip,
      activityId: res.locals.activityId,
    });
  }
  return outcome;
}

/**
 * The token step of an issuance, shared by every protocol: builds and writes the token with `write`. When the
 * claims cannot become a token (a value XML cannot carry, a Microsoft 365 party without ImmutableID: the writers
 * throw `issuance_failed`), the audit log gets the same `issuance_failed` event as a rule that cannot be
 * evaluated, naming the party, the user and the field (never the value), and the error goes on to the protocol's
 * edge: an error page with the activity id, or a SOAP fault. Anything else passes through unchanged (issue 14 §8).
 */
export function issueAudited<T>(
  s: Services,
  req: Request,
  res: Response,
  o: {
    protocol: 'wsfed' | 'saml2' | 'wstrust' | 'oidc';
    rp: RelyingParty;
    auth: AuthenticationContext;
  },
  write: () => T,
): T {
  try {
    return write();
  } catch (err) {
    if (err instanceof FederationError && err.code === 'issuance_failed')
      auditIssuanceFailed(s, req, res, o, err.detail, 'token');
    throw err;
  }
}

/** The one `issuance_failed` audit line (AD FS 1201): party, user and the reason, never a claim value. */
function auditIssuanceFailed(
  s: Services,
  req: Request,
  res: Response,
  o: {
    protocol: 'wsfed' | 'saml2' | 'wstrust' | 'oidc';
    rp: RelyingParty;
    auth: AuthenticationContext;
  },
  reason: string | undefined,
  at: 'domain' | 'rules' | 'token',
): void {
  audit.issuanceFailed(
    s.audit,
    {
      protocol: o.protocol,
      rp: o.rp.identifier,
      upn: o.auth.user.userPrincipalName,
      objectGuid: o.auth.user.objectGuid.toString('base64'),
      reason,
      ip: req.ip,
      activityId: res.locals.activityId,
    },
    at,
  );
}
