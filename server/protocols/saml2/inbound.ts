/**
 * A SAML 2.0 message arriving at /adfs/ls/ (AD FS's one browser endpoint, entra-protocol §5.1): a `SAMLRequest`
 * (AuthnRequest or LogoutRequest) or a `SAMLResponse` (LogoutResponse during single logout), over HTTP-Redirect or
 * HTTP-POST (SAML Bindings §3.4, §3.5). Also the checks every inbound message shares (sso.ts, slo.ts): the issuer
 * names a SAML trust, the signature verifies with keys only from that party's metadata, and the message is fresh,
 * addressed to us and not replayed (corpus B2, B3.3, B3.7).
 */
import type { Request } from 'express';
import { param } from '../../http/middleware.ts';
import { FederationError } from '../../lib/errors.ts';
import {
  SignatureRejected,
  verifyEnvelopedSignature,
  rootSignature,
} from '../../lib/xml-signature.ts';
import type { Services } from '../../services.ts';
import type { RelyingParty, SamlTrust } from '../../trust/registry.ts';
import { passiveEndpoint } from '../metadata/federation-metadata.ts';
import { decodePost, decodeRedirect, verifyRedirectSignature } from './bindings.ts';
import { parseMessage, samlError } from './messages.ts';

export interface Inbound {
  binding: 'redirect' | 'post';
  xml: string;
  doc: Document;
  relayState?: string | undefined;
  kind: 'SAMLRequest' | 'SAMLResponse';
}

/** Whether a query or form body carries a SAML message (anything else at /adfs/ls/ is WS-Federation). */
export function isSamlMessage(q: unknown): boolean {
  return typeof q === 'object' && q !== null && ('SAMLRequest' in q || 'SAMLResponse' in q);
}

/** Decodes and parses the one SAML message of a request (query for Redirect, form body for POST). */
export function readInbound(s: Services, req: Request, source: unknown): Inbound {
  const cfg = s.config.saml2;
  const binding = req.method === 'GET' ? 'redirect' : 'post';
  const reqParam = param(source, 'SAMLRequest', 48 * 1024);
  const resParam = param(source, 'SAMLResponse', 48 * 1024);
  if ((reqParam === undefined) === (resParam === undefined))
    throw samlError('exactly one of SAMLRequest and SAMLResponse is expected');
  const kind = reqParam !== undefined ? 'SAMLRequest' : 'SAMLResponse';
  const value = (reqParam ?? resParam) as string;
  const relayState = param(source, 'RelayState', 8192);
  if (relayState !== undefined && Buffer.byteLength(relayState) > cfg.maxRelayStateBytes)
    throw samlError(
      `RelayState longer than ${cfg.maxRelayStateBytes} bytes`,
      'The sign-in request is too long.',
    );
  const xml = binding === 'redirect' ? decodeRedirect(value) : decodePost(value);
  return { binding, xml, doc: parseMessage(xml), relayState, kind };
}

/** The trust an Issuer names, when it has a SAML 2.0 role. */
export function samlTrust(s: Services, issuer: string): { rp: RelyingParty; saml: SamlTrust } {
  const rp = s.trusts.find(issuer);
  if (rp?.saml === undefined)
    throw new FederationError(
      'unknown_relying_party',
      'The application that sent you here is not known to this sign-in service.',
      { detail: `unknown SAML issuer ${issuer.slice(0, 200)}` },
    );
  return { rp, saml: rp.saml };
}

/**
 * Checks the message signature against the SP's metadata keys. Returns the document to read fields from
 * (for an enveloped signature: the verified canonical bytes, re-parsed) and whether it was signed.
 */
export function verified(
  // Services first like every check here; this one needs only the trust's keys.
  _s: Services,
  req: Request,
  m: Inbound,
  trust: SamlTrust,
  required: boolean,
): { doc: Document; signed: boolean } {
  const certs = trust.metadata.signingCertificates;
  const policy = { allowSha1: trust.policy.allowSha1 };
  try {
    if (m.binding === 'redirect') {
      const r = verifyRedirectSignature(req.originalUrl, m.kind, certs, policy);
      if (r.signed) return { doc: m.doc, signed: true };
    } else if (rootSignature(m.doc) !== undefined) {
      const canonical = verifyEnvelopedSignature(m.xml, m.doc, certs, policy);
      return { doc: parseMessage(canonical), signed: true };
    }
  } catch (e) {
    if (e instanceof SignatureRejected)
      throw new FederationError(
        'bad_request',
        'The SAML message signature could not be verified.',
        {
          detail: e.message,
        },
      );
    throw e;
  }
  if (required)
    throw new FederationError('bad_request', 'The SAML message must be signed.', {
      detail: 'unsigned message from a service provider that must sign',
    });
  return { doc: m.doc, signed: false };
}

/** IssueInstant window and replay cache (corpus B3.7); Destination, when present, must be us (B3.3). */
export async function freshness(
  s: Services,
  kind: string,
  issuer: string,
  id: string,
  issueInstant: Date,
  destination: string | undefined,
  signed: boolean,
): Promise<void> {
  const cfg = s.config.saml2;
  const endpoint = passiveEndpoint(s.config.publicUrl);
  const now = s.clock.now().getTime();
  const t = issueInstant.getTime();
  if (t < now - (cfg.requestMaxAgeSeconds + cfg.clockSkewSeconds) * 1000)
    throw samlError(
      `${kind} IssueInstant too old`,
      'The sign-in request has expired. Go back to the application and try again.',
    );
  if (t > now + cfg.clockSkewSeconds * 1000) throw samlError(`${kind} IssueInstant in the future`);
  if (destination !== undefined) {
    if (destination.replace(/\/+$/, '') !== endpoint.replace(/\/+$/, ''))
      throw samlError(`${kind} Destination ${destination.slice(0, 200)} is not this endpoint`);
  } else if (signed) {
    throw samlError(`signed ${kind} without Destination`);
  }
  const ttl = cfg.requestMaxAgeSeconds + 2 * cfg.clockSkewSeconds;
  if (!(await s.store.markSeen('replay', `saml2:${kind}:${issuer}:${id}`, ttl)))
    throw samlError(
      `${kind} ID ${id} replayed`,
      'This sign-in request was already used. Go back to the application and try again.',
    );
}
