/**
 * FederationMetadata.xml (`ROUTES.metadata`, /FederationMetadata/2007-06/FederationMetadata.xml): the signed document Entra ID,
 * AD FS and WIF/Microsoft.IdentityModel read to find the token-signing certificates and the passive endpoint
 * (entra-protocol §5.2, WS-Federation 1.2 §3.1, SAML 2.0 Metadata §2.3.2 and §2.4.1).
 *
 * Shape, following real AD FS 2016 output (tests/fixtures/real-world/adfs2016-federationmetadata.xml):
 *   EntityDescriptor (default ns md, ID, entityID = issuerUri)
 *     ds:Signature (enveloped, first child like AD FS; exc-c14n, rsa-sha256, sha256, KeyInfo certificate)
 *     RoleDescriptor xsi:type="fed:SecurityTokenServiceType"
 *       KeyDescriptor use="signing"  — one per signing certificate: current first, then the next one, so RPs
 *                                      that poll metadata (Entra auto-rollover) learn the successor early
 *       fed:TokenTypesOffered        — SAML 1.1 only: the only token type issued today
 *       fed:ClaimTypesOffered        — claim-types.ts
 *       fed:PassiveRequestorEndpoint — `${publicUrl}/adfs/ls/`
 *     IDPSSODescriptor               — SAML 2.0 IdP role: signing keys, SLO and SSO (Redirect, POST) on /adfs/ls/
 * Microsoft.IdentityModel's WsFederationMetadataSerializer takes the issuer from entityID, signing keys from
 * the KeyDescriptors of the SecurityTokenServiceType RoleDescriptor (KeyInfo must be their first child) and
 * the token endpoint from PassiveRequestorEndpoint/EndpointReference/Address (wsa 2005/08).
 *       fed:SecurityTokenServiceEndpoint — the WS-Trust active endpoint with a MEX reference, just before
 *                                      PassiveRequestorEndpoint as the schema orders it (only when enabled)
 *
 * Every URL comes from the arguments (configuration), never from a request, so a forged Host header cannot
 * change what the document advertises. The document is built once at start.
 *
 * Signing: the unsigned document is parsed and canonicalised with xml-crypto's ExclusiveCanonicalization,
 * then signed by the same enveloped signer as tokens (tokens/xmldsig.ts), so one signer produces every
 * signature fedgate emits. Canonicalising with the library (rather than writing canonical text by hand) matters here: the xsi:type
 * QName keeps `xmlns:fed` on RoleDescriptor in the document, while exc-c14n moves it to each fed:* child.
 */
import { DOMParser } from '@xmldom/xmldom';
import { ExclusiveCanonicalization } from 'xml-crypto';
import { ROUTES } from '../../http/routes.ts';
import { FederationError } from '../../lib/errors.ts';
import { escapeAttr, escapeText, isXmlSafe } from '../../lib/xml-escape.ts';
import type { SigningCredential } from '../../keys/types.ts';
import { createEnvelopedSigner, isSafeXmlId, protectXml11LineEnds } from '../../tokens/xmldsig.ts';
import { CLAIM_TYPES_OFFERED } from './claim-types.ts';
import type { OfferedClaimType } from './claim-types.ts';

export const MD_NS = 'urn:oasis:names:tc:SAML:2.0:metadata';
export const FED_NS = 'http://docs.oasis-open.org/wsfed/federation/200706';
export const AUTH_NS = 'http://docs.oasis-open.org/wsfed/authorization/200706';
export const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';
export const WSA_NS = 'http://www.w3.org/2005/08/addressing';
export const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
/** What AD FS lists: WS-Trust 1.3, WS-Trust 2005, WS-Federation 1.2. */
export const PROTOCOL_SUPPORT_ENUMERATION = [
  'http://docs.oasis-open.org/ws-sx/ws-trust/200512',
  'http://schemas.xmlsoap.org/ws/2005/02/trust',
  'http://docs.oasis-open.org/wsfed/federation/200706',
].join(' ');
export const TOKEN_TYPES_OFFERED = ['urn:oasis:names:tc:SAML:1.0:assertion'] as const;

export interface FederationMetadataOptions {
  /** Federation service identifier: entityID, and the Issuer of every token (entra-protocol §1.5). */
  issuerUri: string;
  /** Public base URL of the service, e.g. `https://sts.contoso.com` (from configuration). */
  publicUrl: string;
  /** ServiceDisplayName, e.g. "Contoso sign-in". */
  displayName: string;
  /** Current signing credential first (it signs the document), then the next one if any. */
  signing: SigningCredential[];
  /** EntityDescriptor ID (an NCName; `_` + uuid like AD FS). */
  id: string;
  validUntil?: Date;
  /** IDPSSODescriptor WantAuthnRequestsSigned (config saml2.requireSignedRequests). */
  wantAuthnRequestsSigned?: boolean | undefined;
  /** Defaults to CLAIM_TYPES_OFFERED. */
  claimTypes?: readonly OfferedClaimType[];
  /**
   * The WS-Trust active endpoint and, when published, its MEX address: written as fed:SecurityTokenServiceEndpoint
   * (AD FS shape, with a wsx:MetadataReference to the MEX). Omitted when WS-Trust is switched off.
   */
  securityTokenService?: { address: string; mex?: string | undefined } | undefined;
}

const WSX_NS = 'http://schemas.xmlsoap.org/ws/2004/09/mex';

/** fed:SecurityTokenServiceEndpoint as AD FS writes it (fixtures/real-world/adfs2016-federationmetadata.xml). */
function securityTokenServiceEndpoint(
  sts: FederationMetadataOptions['securityTokenService'],
): string {
  if (sts === undefined) return '';
  checkText('securityTokenService.address', sts.address);
  let mex = '';
  if (sts.mex !== undefined) {
    checkText('securityTokenService.mex', sts.mex);
    mex =
      `<Metadata><Metadata xmlns="${WSX_NS}" xmlns:wsx="${WSX_NS}">` +
      `<wsx:MetadataSection Dialect="${WSX_NS}"><wsx:MetadataReference>` +
      `<Address xmlns="${WSA_NS}">${escapeText(sts.mex)}</Address>` +
      '</wsx:MetadataReference></wsx:MetadataSection></Metadata></Metadata>';
  }
  return (
    `<fed:SecurityTokenServiceEndpoint><EndpointReference xmlns="${WSA_NS}"><Address>` +
    escapeText(sts.address) +
    `</Address>${mex}</EndpointReference></fed:SecurityTokenServiceEndpoint>`
  );
}

/** The passive (WS-Fed and SAML-P) endpoint AD FS exposes and Entra is configured with (§5.1). */
export function passiveEndpoint(publicUrl: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${ROUTES.passive}/`;
}

/**
 * A configuration value (issuerUri, displayName, publicUrl) that cannot go into the document. The metadata is built
 * once at start, never per request: this stops the server with the message (cli/main.ts prints it), not a 500.
 */
function badConfig(message: string): FederationError {
  return new FederationError('internal', `federation metadata: ${message}`, { expose: false });
}

/**
 * Builds the signed FederationMetadata.xml. Throws on arguments that would yield an unusable document: a
 * FederationError for a configuration value, a plain Error for what only a caller's bug can produce (no signing
 * credential, a generated id that is not an NCName, an invalid validUntil, generated XML that does not parse):
 * those are invariants of services.ts and this file, so dressing them as a handled outcome would hide a bug.
 */
export function buildFederationMetadata(opts: FederationMetadataOptions): string {
  const [current] = opts.signing;
  if (current === undefined)
    throw new Error('federation metadata: at least one signing credential is required');
  if (!isSafeXmlId(opts.id))
    throw new Error('federation metadata: id must be an NCName such as "_" + uuid');
  checkText('issuerUri', opts.issuerUri);
  checkText('displayName', opts.displayName);
  let base: URL;
  try {
    base = new URL(opts.publicUrl);
  } catch {
    throw badConfig(`publicUrl "${opts.publicUrl}" is not an absolute URL`);
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') {
    throw badConfig('publicUrl must be an http(s) URL');
  }
  if (base.search !== '' || base.hash !== '')
    throw badConfig('publicUrl must not have a query or fragment');
  checkText('publicUrl', opts.publicUrl);
  if (opts.validUntil !== undefined && Number.isNaN(opts.validUntil.getTime())) {
    throw new Error('federation metadata: validUntil is not a valid date');
  }

  const open =
    `<EntityDescriptor ID="${opts.id}" entityID="${escapeAttr(opts.issuerUri)}"` +
    (opts.validUntil === undefined ? '' : ` validUntil="${opts.validUntil.toISOString()}"`) +
    ` xmlns="${MD_NS}">`;

  let role =
    '<RoleDescriptor xsi:type="fed:SecurityTokenServiceType"' +
    ` protocolSupportEnumeration="${PROTOCOL_SUPPORT_ENUMERATION}"` +
    ` ServiceDisplayName="${escapeAttr(opts.displayName)}"` +
    ` xmlns:xsi="${XSI_NS}" xmlns:fed="${FED_NS}">`;
  for (const cred of opts.signing) {
    role +=
      `<KeyDescriptor use="signing"><KeyInfo xmlns="${DSIG_NS}"><X509Data><X509Certificate>` +
      cred.certificateBase64 +
      '</X509Certificate></X509Data></KeyInfo></KeyDescriptor>';
  }
  role += '<fed:TokenTypesOffered>';
  for (const t of TOKEN_TYPES_OFFERED) role += `<fed:TokenType Uri="${t}"></fed:TokenType>`;
  role += '</fed:TokenTypesOffered><fed:ClaimTypesOffered>';
  for (const c of opts.claimTypes ?? CLAIM_TYPES_OFFERED) {
    checkText('claim type', c.uri + c.displayName + c.description);
    role +=
      `<auth:ClaimType Uri="${escapeAttr(c.uri)}" Optional="true" xmlns:auth="${AUTH_NS}">` +
      `<auth:DisplayName>${escapeText(c.displayName)}</auth:DisplayName>` +
      `<auth:Description>${escapeText(c.description)}</auth:Description>` +
      '</auth:ClaimType>';
  }
  role +=
    '</fed:ClaimTypesOffered>' +
    securityTokenServiceEndpoint(opts.securityTokenService) +
    `<fed:PassiveRequestorEndpoint><EndpointReference xmlns="${WSA_NS}"><Address>` +
    escapeText(passiveEndpoint(opts.publicUrl)) +
    '</Address></EndpointReference></fed:PassiveRequestorEndpoint>' +
    '</RoleDescriptor>';

  const head = protectXml11LineEnds(open);
  const unsigned =
    head + protectXml11LineEnds(role + idpSsoDescriptor(opts) + '</EntityDescriptor>');

  // Enveloped signature over the whole EntityDescriptor (SAML 2.0 Metadata §3.1, Reference to #ID). The
  // signature is inserted with no whitespace around it, so the verifier's enveloped-signature transform
  // restores exactly the tree canonicalised here.
  const canonical = canonicalize(unsigned);
  const signature = createEnvelopedSigner(current).signatureFor(opts.id, canonical);
  return head + signature + unsigned.slice(head.length);
}

export const SAML2_PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
export const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
export const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
/** NameID formats fedgate issues: persistent (Microsoft 365), email and unspecified (per trust). */
export const IDP_NAMEID_FORMATS = [
  'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
] as const;

/**
 * The SAML 2.0 identity provider role (SAML Metadata §2.4.3, shape of AD FS's, entra-protocol §5.2): signing
 * keys, single logout and single sign-on on /adfs/ls/ with the Redirect and POST bindings, NameID formats.
 * Schema order: KeyDescriptor, SingleLogoutService, NameIDFormat, SingleSignOnService.
 */
function idpSsoDescriptor(opts: FederationMetadataOptions): string {
  const ls = escapeAttr(passiveEndpoint(opts.publicUrl));
  let x =
    `<IDPSSODescriptor WantAuthnRequestsSigned="${opts.wantAuthnRequestsSigned === true}"` +
    ` protocolSupportEnumeration="${SAML2_PROTOCOL_NS}">`;
  for (const cred of opts.signing) {
    x +=
      `<KeyDescriptor use="signing"><KeyInfo xmlns="${DSIG_NS}"><X509Data><X509Certificate>` +
      cred.certificateBase64 +
      '</X509Certificate></X509Data></KeyInfo></KeyDescriptor>';
  }
  for (const b of [BINDING_REDIRECT, BINDING_POST])
    x += `<SingleLogoutService Binding="${b}" Location="${ls}"></SingleLogoutService>`;
  for (const f of IDP_NAMEID_FORMATS) x += `<NameIDFormat>${f}</NameIDFormat>`;
  for (const b of [BINDING_REDIRECT, BINDING_POST])
    x += `<SingleSignOnService Binding="${b}" Location="${ls}"></SingleSignOnService>`;
  return x + '</IDPSSODescriptor>';
}

function canonicalize(xml: string): string {
  // XML 1.0 line ends (§2.11). xmldom's default also maps U+0085/U+2028/U+2029 to LF (XML 1.1), which would
  // make the digest differ from what conformant verifiers compute; the writer escapes them anyway.
  // (normalizeLineEndings is a supported xmldom 0.8 option its type declarations omit.)
  const options = {
    normalizeLineEndings: (source: string) => source.replace(/\r\n?/g, '\n'),
    errorHandler: (level: string, msg: unknown) => {
      const text = String(msg);
      if (level === 'warning' && text.startsWith('Unicode replacement character')) return; // U+FFFD is legal
      throw new Error(`federation metadata: generated XML does not parse (${level}: ${text})`);
    },
  };
  const doc = new DOMParser(options).parseFromString(xml, 'text/xml');
  const root = doc.documentElement as Element | null; // null for an empty document, whatever the DOM typings say
  if (root === null) throw new Error('federation metadata: generated XML has no root element');
  const out = new ExclusiveCanonicalization().process(root, {});
  if (typeof out !== 'string')
    throw new Error('federation metadata: canonicalization returned no text');
  return out;
}

function checkText(field: string, value: string): void {
  if (value.length === 0 || !isXmlSafe(value)) {
    throw badConfig(`${field} is empty or contains characters XML cannot carry`);
  }
}
