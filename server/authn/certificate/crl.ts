/**
 * X.509 CRLs (RFC 5280 §5): parsing, and deciding whether one CRL may answer for one certificate. Full CRLs from
 * the certificate's own issuer only: delta CRLs, indirect CRLs and partitioned-by-reason CRLs are recognised and
 * refused as sources (never half-understood), and so is any CRL with a critical extension fedgate does not know.
 */
import {
  DerError,
  Tag,
  children,
  expect,
  isContext,
  isUniversal,
  parseDer,
  readBitString,
  readBoolean,
  readIntegerBytes,
  readOid,
  readTime,
  sequence,
  type DerNode,
} from '../../lib/der.ts';
import { verifySignature } from './signature.ts';
import {
  Oids,
  algorithmOid,
  parseName,
  sameName,
  type DistinguishedName,
  type ParsedCertificate,
} from './x509.ts';

const CRL_OIDS = {
  crlNumber: '2.5.29.20',
  deltaCrlIndicator: '2.5.29.27',
  issuingDistributionPoint: '2.5.29.28',
  authorityKeyId: Oids.authorityKeyId,
  reasonCode: '2.5.29.21',
  certificateIssuer: '2.5.29.29',
  invalidityDate: '2.5.29.24',
  freshestCrl: '2.5.29.46',
  authorityInfoAccess: Oids.authorityInfoAccess,
};

export interface RevokedEntry {
  date: Date;
  /** RFC 5280 §5.3.1 CRLReason. */
  reason?: number | undefined;
}

export interface ParsedCrl {
  issuer: DistinguishedName;
  thisUpdate: Date;
  nextUpdate?: Date | undefined;
  /** Keyed by normalised serial (upper-case hex, no leading zero octets). */
  revoked: Map<string, RevokedEntry>;
  signatureAlgorithm: string;
  tbs: Buffer;
  signature: Buffer;
  authorityKeyId?: Buffer | undefined;
  crlNumber?: string | undefined;
  /** Why this CRL can never be used as a full CRL (delta, indirect, reason-partitioned, unknown critical). */
  unusable?: string | undefined;
  onlyUserCerts: boolean;
  onlyCaCerts: boolean;
}

export function normaliseSerial(bytes: Buffer): string {
  let s = bytes;
  while (s.length > 1 && s[0] === 0) s = s.subarray(1);
  return s.toString('hex').toUpperCase();
}

/** PEM (X509 CRL) or DER. */
export function crlDer(data: Buffer): Buffer {
  const text = data.subarray(0, 64).toString('latin1');
  if (!text.includes('-----BEGIN')) return data;
  const m = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----/.exec(
    data.toString('latin1'),
  );
  if (m === null) throw new DerError('no X509 CRL block in PEM');
  return Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64');
}

export function parseCrl(data: Buffer): ParsedCrl {
  const der = crlDer(data);
  const [tbsNode, algNode, sigNode] = sequence(parseDer(der), 'CertificateList');
  const signature = readBitString(sigNode, 'signatureValue').bytes;
  const signatureAlgorithm = algorithmOid(algNode);
  const tbs = sequence(tbsNode, 'TBSCertList');
  let i = 0;
  if (tbs[0] !== undefined && isUniversal(tbs[0], Tag.integer)) i++; // version v2
  const inner = algorithmOid(tbs[i++]);
  if (inner !== signatureAlgorithm) throw new DerError('CRL signature algorithms differ');
  const issuer = parseName(tbs[i++]);
  const thisUpdate = readTime(tbs[i++], 'thisUpdate');
  let nextUpdate: Date | undefined;
  const n = tbs[i];
  if (n !== undefined && (isUniversal(n, Tag.utcTime) || isUniversal(n, Tag.generalizedTime))) {
    nextUpdate = readTime(n, 'nextUpdate');
    i++;
  }
  const crl: ParsedCrl = {
    issuer,
    thisUpdate,
    nextUpdate,
    revoked: new Map(),
    signatureAlgorithm,
    tbs: (tbsNode as DerNode).raw,
    signature,
    onlyUserCerts: false,
    onlyCaCerts: false,
  };
  const list = tbs[i];
  if (list !== undefined && isUniversal(list, Tag.sequence)) {
    for (const entry of children(list)) readEntry(crl, entry);
    i++;
  }
  const exts = tbs[i];
  if (exts !== undefined && isContext(exts, 0)) {
    for (const ext of sequence(children(exts)[0], 'crlExtensions')) readCrlExtension(crl, ext);
    i++;
  }
  if (i !== tbs.length) throw new DerError('unexpected element in TBSCertList');
  return crl;
}

function extensionParts(ext: DerNode): { oid: string; critical: boolean; value: Buffer } {
  const parts = sequence(ext, 'Extension');
  const oid = readOid(parts[0]);
  let critical = false;
  let k = 1;
  if (parts[1] !== undefined && isUniversal(parts[1], Tag.boolean)) {
    critical = readBoolean(parts[1]);
    k = 2;
  }
  return { oid, critical, value: expect(parts[k], Tag.octetString, 'extnValue').value };
}

function readEntry(crl: ParsedCrl, entry: DerNode): void {
  const parts = sequence(entry, 'revokedCertificate');
  const serial = normaliseSerial(readIntegerBytes(parts[0], 'userCertificate'));
  const date = readTime(parts[1], 'revocationDate');
  let reason: number | undefined;
  if (parts[2] !== undefined) {
    for (const ext of sequence(parts[2], 'crlEntryExtensions')) {
      const e = extensionParts(ext);
      if (e.oid === CRL_OIDS.reasonCode) {
        const v = parseDer(e.value);
        if (!isUniversal(v, Tag.enumerated) || v.value.length !== 1)
          throw new DerError('bad reasonCode');
        reason = v.value[0];
      } else if (e.oid === CRL_OIDS.certificateIssuer) {
        crl.unusable ??= 'indirect CRL entry (certificateIssuer)';
      } else if (e.critical && e.oid !== CRL_OIDS.invalidityDate) {
        crl.unusable ??= `unknown critical entry extension ${e.oid}`;
      }
    }
  }
  crl.revoked.set(serial, { date, reason });
}

function readCrlExtension(crl: ParsedCrl, ext: DerNode): void {
  const e = extensionParts(ext);
  switch (e.oid) {
    case CRL_OIDS.crlNumber:
      crl.crlNumber = normaliseSerial(readIntegerBytes(parseDer(e.value), 'cRLNumber'));
      return;
    case CRL_OIDS.authorityKeyId: {
      const keyId = sequence(parseDer(e.value), 'AuthorityKeyIdentifier').find((p) =>
        isContext(p, 0),
      );
      crl.authorityKeyId = keyId?.value;
      return;
    }
    case CRL_OIDS.deltaCrlIndicator:
      crl.unusable ??= 'delta CRL';
      return;
    case CRL_OIDS.issuingDistributionPoint: {
      for (const p of sequence(parseDer(e.value), 'IssuingDistributionPoint')) {
        const on = p.value.length === 1 && p.value[0] !== 0;
        if (isContext(p, 1)) crl.onlyUserCerts = on;
        else if (isContext(p, 2)) crl.onlyCaCerts = on;
        else if (isContext(p, 3)) crl.unusable ??= 'CRL partitioned by reason';
        else if (isContext(p, 4) && on) crl.unusable ??= 'indirect CRL';
        else if (isContext(p, 5) && on) crl.unusable ??= 'attribute-certificate CRL';
      }
      return;
    }
    case CRL_OIDS.freshestCrl:
    case CRL_OIDS.authorityInfoAccess:
      return;
    default:
      if (e.critical) crl.unusable ??= `unknown critical CRL extension ${e.oid}`;
  }
}

/**
 * Whether `crl` can answer for `cert` issued by `issuer`: same issuer name, signed by the issuer's key (which may sign
 * CRLs), a full CRL of the right scope. Returns the reason when it cannot.
 */
export function crlProblem(
  crl: ParsedCrl,
  cert: ParsedCertificate,
  issuer: ParsedCertificate,
): string | undefined {
  if (!sameName(crl.issuer, cert.issuer)) return 'CRL is from another issuer';
  if (
    crl.authorityKeyId !== undefined &&
    issuer.subjectKeyId !== undefined &&
    !crl.authorityKeyId.equals(issuer.subjectKeyId)
  )
    return 'CRL is signed by another key of the issuer';
  if (crl.unusable !== undefined) return crl.unusable;
  const isCa = cert.basicConstraints?.ca === true;
  if (crl.onlyUserCerts && isCa) return 'CRL covers end-entity certificates only';
  if (crl.onlyCaCerts && !isCa) return 'CRL covers CA certificates only';
  return crlSignatureProblem(crl, issuer);
}

/**
 * Whether `issuer`'s key may sign CRLs (keyUsage cRLSign when present) and signed this one, with an algorithm fedgate
 * accepts (signature.ts: no SHA-1 or MD5). Also what `fedgate doctor` asks of a configured CRL file.
 */
export function crlSignatureProblem(crl: ParsedCrl, issuer: ParsedCertificate): string | undefined {
  if (issuer.keyUsage !== undefined && !issuer.keyUsage.has('cRLSign'))
    return 'issuer key may not sign CRLs';
  if (!verifySignature(crl.signatureAlgorithm, crl.tbs, crl.signature, issuer.x509.publicKey))
    return 'CRL signature invalid';
  return undefined;
}
