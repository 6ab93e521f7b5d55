/**
 * Signature checks for CRLs and OCSP responses (certificates themselves are checked by node:crypto's
 * X509Certificate.verify). Only the algorithms PKIX CAs use today are known; anything else is refused, never
 * skipped. SHA-1 and MD5 signatures are refused (RFC 9155 deprecates them for TLS; AD CS moved to SHA-256 long
 * ago), unless the caller opts in to SHA-1.
 */
import { verify, type KeyObject } from 'node:crypto';

const ALGORITHMS: Record<
  string,
  { hash: string | null; kind: 'rsa' | 'ecdsa' | 'eddsa'; weak?: true }
> = {
  '1.2.840.113549.1.1.5': { hash: 'sha1', kind: 'rsa', weak: true },
  '1.2.840.113549.1.1.11': { hash: 'sha256', kind: 'rsa' },
  '1.2.840.113549.1.1.12': { hash: 'sha384', kind: 'rsa' },
  '1.2.840.113549.1.1.13': { hash: 'sha512', kind: 'rsa' },
  '1.2.840.10045.4.1': { hash: 'sha1', kind: 'ecdsa', weak: true },
  '1.2.840.10045.4.3.2': { hash: 'sha256', kind: 'ecdsa' },
  '1.2.840.10045.4.3.3': { hash: 'sha384', kind: 'ecdsa' },
  '1.2.840.10045.4.3.4': { hash: 'sha512', kind: 'ecdsa' },
  '1.3.101.112': { hash: null, kind: 'eddsa' },
};

/** Signature algorithms whose certificates fedgate refuses (MD2/MD4/MD5, SHA-1). */
const WEAK_CERTIFICATE_ALGORITHMS = new Set([
  '1.2.840.113549.1.1.2',
  '1.2.840.113549.1.1.3',
  '1.2.840.113549.1.1.4',
  '1.2.840.113549.1.1.5',
  '1.2.840.10045.4.1',
  '1.2.840.10040.4.3',
]);

export function isWeakSignatureAlgorithm(oid: string): boolean {
  return WEAK_CERTIFICATE_ALGORITHMS.has(oid);
}

/**
 * Verifies `signature` (BIT STRING contents) over `data` with `key` under the AlgorithmIdentifier OID `alg`.
 * Returns false for a wrong signature and for an unknown, weak or mismatched algorithm.
 */
export function verifySignature(
  alg: string,
  data: Buffer,
  signature: Buffer,
  key: KeyObject,
  opts: { allowSha1?: boolean } = {},
): boolean {
  const a = ALGORITHMS[alg];
  if (a === undefined) return false;
  if (a.weak === true && opts.allowSha1 !== true) return false;
  const type = key.asymmetricKeyType;
  if (a.kind === 'rsa' && type !== 'rsa') return false;
  if (a.kind === 'ecdsa' && type !== 'ec') return false;
  if (a.kind === 'eddsa' && type !== 'ed25519') return false;
  try {
    return verify(a.hash, data, key, signature);
  } catch {
    return false;
  }
}
