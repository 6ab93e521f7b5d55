/**
 * Reads a SAML 2.0 service provider's metadata (SAML Metadata §2.3, §2.4.4): entity ID, assertion consumer
 * and single logout endpoints, signing and encryption certificates, NameID formats, AuthnRequestsSigned /
 * WantAssertionsSigned, validUntil and cacheDuration. Everything fedgate will ever post a token to, and every
 * key it will ever accept a request signature from, comes from here (corpus B3.1, B2.13).
 *
 * The document is parsed strictly (no DOCTYPE, one root; lib/xml-parse.ts). When the trust pins a
 * certificate, the document must carry one enveloped signature by that key over the whole root
 * (SAML Metadata §3) and the fields are read from the verified canonical bytes only (corpus A13).
 */
import { X509Certificate } from 'node:crypto';
import {
  attr,
  childElements,
  optionalChild,
  parseXmlStrict,
  textOnly,
  XmlRejected,
} from '../lib/xml-parse.ts';
import { verifyEnvelopedSignature } from '../lib/xml-signature.ts';
import { METADATA_LIMITS } from '../lib/xml-limits.ts';

export const MD_NS = 'urn:oasis:names:tc:SAML:2.0:metadata';
export const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
export const SAML2_PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';
export const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
export const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';

export interface SamlEndpoint {
  binding: string;
  location: string;
  responseLocation?: string | undefined;
  index?: number | undefined;
  isDefault?: boolean | undefined;
}

export interface SamlSpMetadata {
  entityId: string;
  authnRequestsSigned: boolean;
  wantAssertionsSigned: boolean;
  assertionConsumerServices: SamlEndpoint[];
  singleLogoutServices: SamlEndpoint[];
  /** PEM certificates for verifying the SP's request signatures (KeyDescriptor use="signing" or no use). */
  signingCertificates: string[];
  /** PEM certificates for encrypting assertions (use="encryption" or no use). */
  encryptionCertificates: string[];
  /**
   * Content-encryption algorithms the SP lists (md:EncryptionMethod in its encryption KeyDescriptors, SAML
   * Metadata §2.4.1.1); empty or absent = not stated.
   */
  encryptionMethods?: string[] | undefined;
  nameIdFormats: string[];
  validUntil?: Date | undefined;
  /** cacheDuration in milliseconds (xs:duration), when given. */
  cacheDurationMs?: number | undefined;
}

export class MetadataError extends Error {
  override readonly name = 'MetadataError';
}

/** https only, no userinfo, no fragment: an endpoint a browser will be sent to. */
function endpointUrl(v: string | null, what: string): string {
  if (v === null || v === '') throw new MetadataError(`${what} has no Location`);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new MetadataError(`${what} Location is not a URL`);
  }
  if (u.protocol !== 'https:') throw new MetadataError(`${what} Location must be https: ${v}`);
  if (u.username !== '' || u.password !== '' || u.hash !== '')
    throw new MetadataError(`${what} Location must not carry userinfo or a fragment`);
  return v;
}

function pem(base64: string): string {
  const b64 = base64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) throw new MetadataError('X509Certificate is not base64');
  const text = `-----BEGIN CERTIFICATE-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`;
  try {
    new X509Certificate(text);
  } catch {
    throw new MetadataError('X509Certificate does not parse');
  }
  return text;
}

/** xs:duration (PnYnMnDTnHnMnS) to milliseconds; undefined when it does not parse. */
export function parseDuration(v: string): number | undefined {
  const m =
    /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(
      v.trim(),
    );
  if (m === null || v.trim() === 'P' || v.trim().endsWith('T')) return undefined;
  const n = (i: number): number => Number(m[i] ?? 0);
  return ((((n(1) * 365 + n(2) * 30 + n(3)) * 24 + n(4)) * 60 + n(5)) * 60 + n(6)) * 1000;
}

/**
 * Verifies the metadata's enveloped signature with a pinned certificate (never one from KeyInfo, corpus A1)
 * and returns the signed canonical XML, which is what gets parsed.
 */
export function verifiedMetadataXml(xml: string, pinnedPem: string): string {
  try {
    const doc = parseXmlStrict(xml, METADATA_LIMITS);
    return verifyEnvelopedSignature(xml, doc, [pinnedPem], { allowSha1: false });
  } catch (e) {
    throw new MetadataError(
      `metadata signature check failed: ${e instanceof Error ? e.message : 'error'}`,
    );
  }
}

/** Parses SP metadata (an EntityDescriptor with an SPSSODescriptor). Throws MetadataError with a clear reason. */
export function parseSpMetadata(xml: string): SamlSpMetadata {
  let doc: Document;
  try {
    doc = parseXmlStrict(xml, METADATA_LIMITS);
  } catch (e) {
    throw new MetadataError(e instanceof XmlRejected ? e.message : 'metadata does not parse');
  }
  let ed: Element = doc.documentElement;
  if (ed.namespaceURI === MD_NS && ed.localName === 'EntitiesDescriptor') {
    const all = childElements(ed, MD_NS, 'EntityDescriptor');
    const [only] = all;
    if (all.length !== 1 || only === undefined)
      throw new MetadataError('an EntitiesDescriptor must hold exactly one EntityDescriptor here');
    ed = only;
  }
  if (ed.namespaceURI !== MD_NS || ed.localName !== 'EntityDescriptor')
    throw new MetadataError('the root element is not a SAML 2.0 metadata EntityDescriptor');
  const entityId = ed.getAttribute('entityID') ?? '';
  if (entityId === '' || entityId.length > 1024)
    throw new MetadataError('EntityDescriptor has no usable entityID');
  const spList = childElements(ed, MD_NS, 'SPSSODescriptor');
  const [sp] = spList;
  if (spList.length !== 1 || sp === undefined)
    throw new MetadataError('metadata must hold exactly one SPSSODescriptor');
  if (!(sp.getAttribute('protocolSupportEnumeration') ?? '').split(/\s+/).includes(SAML2_PROTOCOL))
    throw new MetadataError('SPSSODescriptor does not list the SAML 2.0 protocol');

  const signing: string[] = [];
  const encryption: string[] = [];
  const encryptionMethods: string[] = [];
  for (const kd of childElements(sp, MD_NS, 'KeyDescriptor')) {
    const use = attr(kd, 'use') ?? null;
    if (use === null || use === 'encryption')
      for (const em of childElements(kd, MD_NS, 'EncryptionMethod')) {
        const alg = attr(em, 'Algorithm');
        if (alg !== undefined && !encryptionMethods.includes(alg)) encryptionMethods.push(alg);
      }
    const ki = optionalChild(kd, DSIG_NS, 'KeyInfo');
    if (ki === undefined) continue;
    for (const xd of childElements(ki, DSIG_NS, 'X509Data')) {
      for (const c of childElements(xd, DSIG_NS, 'X509Certificate')) {
        const p = pem(textOnly(c));
        if (use === null || use === 'signing') signing.push(p);
        if (use === null || use === 'encryption') encryption.push(p);
      }
    }
  }
  const endpoints = (name: string, indexed: boolean): SamlEndpoint[] =>
    childElements(sp, MD_NS, name).map((e) => {
      const binding = e.getAttribute('Binding') ?? '';
      const ep: SamlEndpoint = {
        binding,
        location: endpointUrl(e.getAttribute('Location'), name),
      };
      const rl = attr(e, 'ResponseLocation');
      if (rl !== undefined) ep.responseLocation = endpointUrl(rl, `${name} ResponseLocation`);
      if (indexed) {
        const idx = attr(e, 'index');
        if (idx === undefined || !/^\d{1,5}$/.test(idx))
          throw new MetadataError(`${name} has no valid index`);
        ep.index = Number(idx);
        ep.isDefault = e.getAttribute('isDefault') === 'true';
      }
      return ep;
    });
  const acs = endpoints('AssertionConsumerService', true);
  if (!acs.some((a) => a.binding === BINDING_POST))
    throw new MetadataError('the SP has no HTTP-POST AssertionConsumerService');
  const indexes = new Set(acs.map((a) => a.index));
  if (indexes.size !== acs.length)
    throw new MetadataError('AssertionConsumerService indexes repeat');

  const validUntilText = attr(ed, 'validUntil');
  let validUntil: Date | undefined;
  if (validUntilText !== undefined) {
    validUntil = new Date(validUntilText);
    if (Number.isNaN(validUntil.getTime())) throw new MetadataError('validUntil is not a date');
  }
  const cd = attr(ed, 'cacheDuration');
  return {
    entityId,
    authnRequestsSigned: sp.getAttribute('AuthnRequestsSigned') === 'true',
    wantAssertionsSigned: sp.getAttribute('WantAssertionsSigned') === 'true',
    assertionConsumerServices: acs,
    singleLogoutServices: endpoints('SingleLogoutService', false),
    signingCertificates: signing,
    encryptionCertificates: encryption,
    encryptionMethods,
    nameIdFormats: childElements(sp, MD_NS, 'NameIDFormat').map((e) => textOnly(e).trim()),
    validUntil,
    cacheDurationMs: cd === undefined ? undefined : parseDuration(cd),
  };
}
