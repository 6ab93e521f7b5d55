/**
 * OCSP client messages (RFC 6960): the request for one certificate (SHA-1 CertID, as every responder supports, with
 * a nonce, RFC 8954) and the checks on the answer: successful status, a BasicOCSPResponse signed by the issuer or by
 * a responder the issuer delegated to (id-kp-OCSPSigning, §4.2.2.2), the SingleResponse for exactly our CertID,
 * thisUpdate/nextUpdate around now, and our nonce echoed when the responder echoes one.
 */
import { createHash } from 'node:crypto';
import {
  DerError,
  Tag,
  children,
  derExplicit,
  derIntegerBytes,
  derNull,
  derOctetString,
  derOid,
  derSequence,
  expect,
  isContext,
  isUniversal,
  parseDer,
  readBitString,
  readIntegerBytes,
  readOid,
  readTime,
  sequence,
  type DerNode,
} from '../../lib/der.ts';
import { normaliseSerial } from './crl.ts';
import { verifySignature } from './signature.ts';
import {
  Oids,
  algorithmOid,
  parseCertificate,
  parseName,
  sameName,
  type ParsedCertificate,
} from './x509.ts';

const SHA1 = '1.3.14.3.2.26';
const OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';
const OCSP_NONCE = '1.3.6.1.5.5.7.48.1.2';
/** id-pkix-ocsp-nocheck: a delegated responder's own certificate is not checked for revocation. */
export const OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';

export interface CertId {
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  serial: Buffer;
}

export function certIdFor(cert: ParsedCertificate, issuer: ParsedCertificate): CertId {
  return {
    issuerNameHash: createHash('sha1').update(cert.issuer.der).digest(),
    issuerKeyHash: createHash('sha1').update(issuer.publicKeyBits).digest(),
    serial: cert.serial,
  };
}

function encodeCertId(id: CertId): Buffer {
  return derSequence(
    derSequence(derOid(SHA1), derNull()),
    derOctetString(id.issuerNameHash),
    derOctetString(id.issuerKeyHash),
    derIntegerBytes(id.serial),
  );
}

/** OCSPRequest for one certificate, with a nonce extension. */
export function buildOcspRequest(id: CertId, nonce: Buffer): Buffer {
  const request = derSequence(encodeCertId(id));
  const nonceExt = derSequence(derOid(OCSP_NONCE), derOctetString(derOctetString(nonce)));
  const tbs = derSequence(derSequence(request), derExplicit(2, derSequence(nonceExt)));
  return derSequence(tbs);
}

export type OcspStatus =
  | { status: 'good'; thisUpdate: Date; nextUpdate?: Date | undefined }
  | {
      status: 'revoked';
      thisUpdate: Date;
      nextUpdate?: Date | undefined;
      revokedAt: Date;
      reason?: number | undefined;
    }
  | { status: 'unknown'; thisUpdate: Date; nextUpdate?: Date | undefined };

export class OcspError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OcspError';
  }
}

const RESPONSE_STATUS = [
  'successful',
  'malformedRequest',
  'internalError',
  'tryLater',
  '(unused)',
  'sigRequired',
  'unauthorized',
];

/**
 * Reads and checks an OCSP response for `cert` (issued by `issuer`). Throws OcspError when the response cannot be
 * used (the caller treats that as "status unknown", never as good).
 */
export function readOcspResponse(
  data: Buffer,
  cert: ParsedCertificate,
  issuer: ParsedCertificate,
  opts: { now: Date; skewMs: number; maxAgeMs: number; nonce?: Buffer | undefined },
): OcspStatus {
  try {
    return read(data, cert, issuer, opts);
  } catch (err) {
    if (err instanceof OcspError) throw err;
    throw new OcspError(
      `malformed OCSP response: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

function read(
  data: Buffer,
  cert: ParsedCertificate,
  issuer: ParsedCertificate,
  opts: { now: Date; skewMs: number; maxAgeMs: number; nonce?: Buffer | undefined },
): OcspStatus {
  const [statusNode, bytesNode] = sequence(parseDer(data), 'OCSPResponse');
  const st = expect(statusNode, Tag.enumerated, 'responseStatus').value;
  if (st.length !== 1 || st[0] !== 0)
    throw new OcspError(
      `responder answered ${RESPONSE_STATUS[st[0] ?? 99] ?? 'an unknown status'}`,
    );
  if (bytesNode === undefined || !isContext(bytesNode, 0)) throw new OcspError('no responseBytes');
  const [typeNode, respNode] = sequence(children(bytesNode)[0], 'ResponseBytes');
  if (readOid(typeNode) !== OCSP_BASIC) throw new OcspError('not a basic OCSP response');
  const basic = sequence(
    parseDer(expect(respNode, Tag.octetString, 'response').value),
    'BasicOCSPResponse',
  );
  const [tbsNode, algNode, sigNode, certsNode] = basic;
  const signatureAlgorithm = algorithmOid(algNode);
  const signature = readBitString(sigNode, 'signature').bytes;
  const included: ParsedCertificate[] =
    certsNode !== undefined && isContext(certsNode, 0)
      ? sequence(children(certsNode)[0], 'certs').map((c) => parseCertificate(c.raw))
      : [];

  const tbs = sequence(tbsNode, 'ResponseData');
  let i = 0;
  if (tbs[0] !== undefined && isContext(tbs[0], 0)) i++; // version
  const responderId = tbs[i++] as DerNode;
  readTime(tbs[i++], 'producedAt');
  const responses = sequence(tbs[i++], 'responses');
  let echoedNonce: Buffer | undefined;
  const ext = tbs[i];
  if (ext !== undefined && isContext(ext, 1)) {
    for (const e of sequence(children(ext)[0], 'responseExtensions')) {
      const parts = sequence(e, 'Extension');
      if (readOid(parts[0]) !== OCSP_NONCE) continue;
      const value = expect(parts.at(-1), Tag.octetString, 'extnValue').value;
      // RFC 8954: the nonce is an OCTET STRING inside extnValue; some responders omit the inner wrapping.
      try {
        echoedNonce = expect(parseDer(value), Tag.octetString, 'nonce').value;
      } catch {
        echoedNonce = value;
      }
    }
  }

  // Who signed: the issuer itself, or a delegated responder certificate issued by it (RFC 6960 §4.2.2.2).
  const signer = responderCertificate(responderId, issuer, included, opts.now);
  if (
    !verifySignature(signatureAlgorithm, (tbsNode as DerNode).raw, signature, signer.x509.publicKey)
  )
    throw new OcspError('OCSP response signature invalid');
  if (opts.nonce !== undefined && echoedNonce !== undefined && !echoedNonce.equals(opts.nonce))
    throw new OcspError('OCSP nonce does not match the request');

  const want = certIdFor(cert, issuer);
  for (const single of responses) {
    const parts = sequence(single, 'SingleResponse');
    const idParts = sequence(parts[0], 'CertID');
    if (readOid(sequence(idParts[0], 'hashAlgorithm')[0]) !== SHA1) continue;
    const nameHash = expect(idParts[1], Tag.octetString, 'issuerNameHash').value;
    const keyHash = expect(idParts[2], Tag.octetString, 'issuerKeyHash').value;
    const serial = normaliseSerial(readIntegerBytes(idParts[3], 'serialNumber'));
    if (
      !nameHash.equals(want.issuerNameHash) ||
      !keyHash.equals(want.issuerKeyHash) ||
      serial !== normaliseSerial(want.serial)
    )
      continue;
    const statusChoice = parts[1] as DerNode;
    const thisUpdate = readTime(parts[2], 'thisUpdate');
    let nextUpdate: Date | undefined;
    const nu = parts[3];
    if (nu !== undefined && isContext(nu, 0)) nextUpdate = readTime(children(nu)[0], 'nextUpdate');
    const now = opts.now.getTime();
    if (thisUpdate.getTime() > now + opts.skewMs)
      throw new OcspError('OCSP thisUpdate in the future');
    if (nextUpdate !== undefined && nextUpdate.getTime() < now - opts.skewMs)
      throw new OcspError('OCSP response is stale (nextUpdate passed)');
    if (nextUpdate === undefined && thisUpdate.getTime() < now - opts.maxAgeMs - opts.skewMs)
      throw new OcspError('OCSP response is too old');
    if (isContext(statusChoice, 0)) return { status: 'good', thisUpdate, nextUpdate };
    if (isContext(statusChoice, 1)) {
      const info = children(statusChoice);
      const revokedAt = readTime(info[0], 'revocationTime');
      let reason: number | undefined;
      const r = info[1];
      if (r !== undefined && isContext(r, 0)) {
        const e = children(r)[0];
        if (e !== undefined && isUniversal(e, Tag.enumerated)) reason = e.value[0];
      }
      return { status: 'revoked', thisUpdate, nextUpdate, revokedAt, reason };
    }
    if (isContext(statusChoice, 2)) return { status: 'unknown', thisUpdate, nextUpdate };
    throw new DerError('bad CertStatus');
  }
  throw new OcspError('OCSP response does not cover the certificate');
}

function responderCertificate(
  responderId: DerNode,
  issuer: ParsedCertificate,
  included: readonly ParsedCertificate[],
  now: Date,
): ParsedCertificate {
  const matches = (c: ParsedCertificate): boolean => {
    if (isContext(responderId, 1)) return sameName(parseName(children(responderId)[0]), c.subject);
    if (isContext(responderId, 2)) {
      const hash = expect(children(responderId)[0], Tag.octetString, 'byKey').value;
      return hash.equals(createHash('sha1').update(c.publicKeyBits).digest());
    }
    throw new DerError('bad ResponderID');
  };
  if (matches(issuer)) return issuer;
  for (const c of included) {
    if (!matches(c)) continue;
    // Delegated responder: issued by the CA itself, for OCSP signing, valid now.
    if (!sameName(c.issuer, issuer.subject) || !c.x509.verify(issuer.x509.publicKey)) continue;
    if (c.extendedKeyUsage?.includes(Oids.ekuOcspSigning) !== true) continue;
    if (c.notBefore > now || c.notAfter < now) continue;
    return c;
  }
  throw new OcspError('OCSP response is not signed by the issuer or a responder it authorised');
}
