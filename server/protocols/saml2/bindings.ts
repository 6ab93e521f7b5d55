/**
 * SAML 2.0 bindings (SAML Bindings §3.4 HTTP-Redirect, §3.5 HTTP-POST) for messages fedgate receives and
 * sends. Decoding is bounded before any parsing (corpus B1.4–B1.6): base64 alphabet checked, DEFLATE output
 * capped, UTF-8 only. Redirect signatures (§3.4.4.1) are checked over the octets exactly as received, with an
 * algorithm allow-list and only keys from the partner's metadata; SigAlg without Signature, or the reverse, is
 * refused (B2.12).
 */
import { createVerify, X509Certificate } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { SigningCredential } from '../../keys/types.ts';
import { FederationError } from '../../lib/errors.ts';
import {
  RSA_SHA1,
  RSA_SHA256,
  RSA_SHA384,
  RSA_SHA512,
  allowedSignatureMethods,
  type SignaturePolicy,
} from '../../lib/xml-signature.ts';
import { SAML_MESSAGE_LIMITS } from '../../lib/xml-limits.ts';

/** Largest decoded SAML message accepted (requests are a few KB; AD FS caps far lower than this). */
/** Decoded size limit of a SAML protocol message on either binding (server/lib/xml-limits.ts). */
export const MAX_MESSAGE_BYTES = SAML_MESSAGE_LIMITS.maxLength;

const HASH_OF: Record<string, string> = {
  [RSA_SHA1]: 'sha1',
  [RSA_SHA256]: 'sha256',
  [RSA_SHA384]: 'sha384',
  [RSA_SHA512]: 'sha512',
};

function malformed(detail: string): FederationError {
  return new FederationError('bad_request', 'The SAML message could not be read.', { detail });
}

function base64(value: string): Buffer {
  const v = value.replace(/[\r\n]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) throw malformed('not base64');
  return Buffer.from(v, 'base64');
}

function utf8(buf: Buffer): string {
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(buf);
  // eslint-disable-next-line no-control-regex -- a NUL in a decoded message is exactly what is refused
  if (/\u0000/.test(text)) throw malformed('NUL in message');
  return text;
}

/** HTTP-Redirect: base64, then raw DEFLATE with the output capped (a deflate bomb stops here, B1.4). */
export function decodeRedirect(value: string): string {
  const raw = base64(value);
  let inflated: Buffer;
  try {
    inflated = inflateRawSync(raw, { maxOutputLength: MAX_MESSAGE_BYTES });
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw malformed(code === 'ERR_BUFFER_TOO_LARGE' ? 'inflated message too large' : 'bad DEFLATE');
  }
  try {
    return utf8(inflated);
  } catch (e) {
    if (e instanceof FederationError) throw e;
    throw malformed('not UTF-8');
  }
}

/**
 * HTTP-POST: base64 of the XML. Some service providers (node-saml among them) also DEFLATE the POSTed
 * message; input that is not XML is therefore inflated with the same cap as the Redirect binding.
 */
export function decodePost(value: string): string {
  const raw = base64(value);
  if (raw.length > MAX_MESSAGE_BYTES) throw malformed('message too large');
  const first = raw
    .subarray(0, 64)
    .toString('latin1')
    .replace(/^\uFEFF|^\xEF\xBB\xBF/, '')
    .trimStart();
  if (!first.startsWith('<')) return decodeRedirect(value.replace(/[\r\n]/g, ''));
  try {
    return utf8(raw);
  } catch (e) {
    if (e instanceof FederationError) throw e;
    throw malformed('not UTF-8');
  }
}

/** The raw (still URL-encoded) query parameters, each at most once. */
export function rawQuery(originalUrl: string): Map<string, string> {
  const q = originalUrl.indexOf('?');
  const out = new Map<string, string>();
  if (q < 0) return out;
  for (const part of originalUrl.slice(q + 1).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const key = safeDecode(k);
    if (out.has(key)) throw malformed(`parameter ${key.slice(0, 32)} repeated`);
    out.set(key, eq < 0 ? '' : part.slice(eq + 1));
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw malformed('bad URL encoding');
  }
}

export interface RedirectSignature {
  signed: boolean;
  sigAlg?: string | undefined;
}

/**
 * Checks an HTTP-Redirect query signature. Returns { signed: false } when neither Signature nor SigAlg is
 * present; throws when only one is, when SigAlg is not allowed, or when no registered key verifies it.
 */
export function verifyRedirectSignature(
  originalUrl: string,
  kind: 'SAMLRequest' | 'SAMLResponse',
  certificates: readonly string[],
  policy: SignaturePolicy,
): RedirectSignature {
  const q = rawQuery(originalUrl);
  const sigRaw = q.get('Signature');
  const algRaw = q.get('SigAlg');
  if (sigRaw === undefined && algRaw === undefined) return { signed: false };
  if (sigRaw === undefined || algRaw === undefined)
    throw new FederationError('bad_request', 'The SAML message signature is incomplete.', {
      detail: 'Signature without SigAlg or SigAlg without Signature',
    });
  const sigAlg = safeDecode(algRaw);
  if (!allowedSignatureMethods(policy).has(sigAlg) || HASH_OF[sigAlg] === undefined)
    throw new FederationError(
      'bad_request',
      'The SAML message is signed with an algorithm this service does not accept.',
      {
        detail: `SigAlg ${sigAlg.slice(0, 100)} refused`,
      },
    );
  const msg = q.get(kind);
  if (msg === undefined) throw malformed(`no ${kind}`);
  const relay = q.get('RelayState');
  // SAML Bindings §3.4.4.1: the octets as received, in this order.
  const octets =
    `${kind}=${msg}` + (relay === undefined ? '' : `&RelayState=${relay}`) + `&SigAlg=${algRaw}`;
  const signature = base64(safeDecode(sigRaw));
  if (certificates.length === 0)
    throw new FederationError('bad_request', 'The SAML message signature could not be verified.', {
      detail: 'no signing certificate registered for this service provider',
    });
  for (const pem of certificates) {
    const v = createVerify(HASH_OF[sigAlg]);
    v.update(octets, 'utf8');
    try {
      if (v.verify(new X509Certificate(pem).publicKey, signature)) return { signed: true, sigAlg };
    } catch {
      /* try the next key */
    }
  }
  throw new FederationError('bad_request', 'The SAML message signature could not be verified.', {
    detail: 'redirect signature does not verify with the registered certificate',
  });
}

/** An HTTP-Redirect URL carrying `xml`, signed with RSA-SHA256 (SAML Bindings §3.4.4.1). */
export function redirectUrl(
  location: string,
  kind: 'SAMLRequest' | 'SAMLResponse',
  xml: string,
  relayState: string | undefined,
  cred: SigningCredential,
): string {
  const msg = encodeURIComponent(deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64'));
  let octets = `${kind}=${msg}`;
  if (relayState !== undefined) octets += `&RelayState=${encodeURIComponent(relayState)}`;
  octets += `&SigAlg=${encodeURIComponent(RSA_SHA256)}`;
  const sig = cred.signSha256(Buffer.from(octets, 'utf8')).toString('base64');
  const sep = location.includes('?') ? '&' : '?';
  return `${location}${sep}${octets}&Signature=${encodeURIComponent(sig)}`;
}
