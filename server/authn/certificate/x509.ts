/**
 * What certificate sign-in reads from an X.509 certificate (RFC 5280 §4.1, §4.2), parsed from DER with the strict
 * reader in lib/der.ts. node:crypto's X509Certificate is kept alongside for what OpenSSL does best: signature
 * verification. Everything here is pure; nothing trusts the certificate yet (validate.ts does that).
 */
import { X509Certificate, createHash } from 'node:crypto';
import {
  DerError,
  Tag,
  TagClass,
  children,
  expect,
  isContext,
  isUniversal,
  parseDer,
  readBitString,
  readBoolean,
  readIntegerBytes,
  readOid,
  readSmallInteger,
  readString,
  readTime,
  sequence,
  type DerNode,
} from '../../lib/der.ts';

export const Oids = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  issuerAltName: '2.5.29.18',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  crlDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  nameConstraints: '2.5.29.30',
  policyConstraints: '2.5.29.36',
  inhibitAnyPolicy: '2.5.29.54',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  ocspMethod: '1.3.6.1.5.5.7.48.1',
  caIssuersMethod: '1.3.6.1.5.5.7.48.2',
  /** szOID_NTDS_CA_SECURITY_EXT: the SID of the account the certificate was issued to (KB5014754). */
  ntdsCaSecurityExt: '1.3.6.1.4.1.311.25.2',
  ntdsObjectSid: '1.3.6.1.4.1.311.25.2.1',
  /** szOID_NT_PRINCIPAL_NAME: the UPN otherName in subjectAltName. */
  upnOtherName: '1.3.6.1.4.1.311.20.2.3',
  /** szOID_ENROLL_CERTTYPE_EXTENSION (v1 template name, BMPString). */
  certTemplateName: '1.3.6.1.4.1.311.20.2',
  /** szOID_CERTIFICATE_TEMPLATE (v2 template OID and version). */
  certTemplateInfo: '1.3.6.1.4.1.311.21.7',
  /** szOID_APPLICATION_CERT_POLICIES (Microsoft application policies, same shape as certificatePolicies). */
  applicationPolicies: '1.3.6.1.4.1.311.21.10',
  ekuClientAuth: '1.3.6.1.5.5.7.3.2',
  ekuServerAuth: '1.3.6.1.5.5.7.3.1',
  ekuEmailProtection: '1.3.6.1.5.5.7.3.4',
  ekuOcspSigning: '1.3.6.1.5.5.7.3.9',
  ekuSmartCardLogon: '1.3.6.1.4.1.311.20.2.2',
  ekuAny: '2.5.29.37.0',
} as const;

/** RFC 5280 §4.2.1.3 bit positions (bit 0 is the most significant bit of the first octet). */
export const KeyUsageBits = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;
export type KeyUsageName = keyof typeof KeyUsageBits;

export interface AttributeTypeAndValue {
  type: string;
  value: string;
}

export interface DistinguishedName {
  /** The DER of the Name (what OCSP hashes and what issuer/subject matching compares). */
  der: Buffer;
  /** RDNs in encoded order (most significant first: C/DC … CN). */
  rdns: AttributeTypeAndValue[][];
}

export type GeneralName =
  | { type: 'upn'; value: string }
  | { type: 'email'; value: string }
  | { type: 'dns'; value: string }
  | { type: 'uri'; value: string }
  | { type: 'ip'; value: string }
  | { type: 'dn'; value: DistinguishedName }
  | { type: 'otherName'; oid: string; value: Buffer }
  | { type: 'other'; tag: number };

export interface RawExtension {
  oid: string;
  critical: boolean;
  value: Buffer;
}

export interface ParsedCertificate {
  der: Buffer;
  /** node:crypto's view of the same bytes (signature checks). */
  x509: X509Certificate;
  version: number;
  /** INTEGER contents as encoded (may start with a 00 sign octet). */
  serial: Buffer;
  /** Serial as .NET shows it (X509Certificate2.SerialNumber): upper-case hex, big-endian, no sign octet. */
  serialHex: string;
  signatureAlgorithm: string;
  /** The TBSCertificate's own AlgorithmIdentifier OID (must equal signatureAlgorithm, RFC 5280 §4.1.2.3). */
  tbsSignatureAlgorithm: string;
  issuer: DistinguishedName;
  subject: DistinguishedName;
  notBefore: Date;
  notAfter: Date;
  /** DER of SubjectPublicKeyInfo. */
  spki: Buffer;
  /** The subjectPublicKey BIT STRING contents (what SKI method 1 and OCSP issuerKeyHash hash). */
  publicKeyBits: Buffer;
  extensions: RawExtension[];
  basicConstraints?: { ca: boolean; pathLength?: number | undefined } | undefined;
  /** Bits set in keyUsage; undefined when the extension is absent. */
  keyUsage?: Set<KeyUsageName> | undefined;
  /** EKU OIDs; undefined when the extension is absent. */
  extendedKeyUsage?: string[] | undefined;
  subjectAltNames: GeneralName[];
  subjectKeyId?: Buffer | undefined;
  authorityKeyId?: Buffer | undefined;
  crlDistributionPoints: string[];
  ocspUrls: string[];
  caIssuerUrls: string[];
  policies: string[];
  applicationPolicies: string[];
  /** SID from the 1.3.6.1.4.1.311.25.2 extension (KB5014754), when present. */
  sid?: string | undefined;
  templateName?: string | undefined;
  templateOid?: string | undefined;
  /** SHA-1 of the DER, upper-case hex (X509Certificate2.Thumbprint). */
  thumbprintSha1: string;
  sha256: string;
}

export class CertificateParseError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertificateParseError';
  }
}

/** The largest certificate accepted (a header or TLS peer could send anything). */
export const MAX_CERTIFICATE_BYTES = 16 * 1024;

/** Parses a DER certificate; throws CertificateParseError for anything malformed. */
export function parseCertificate(der: Buffer): ParsedCertificate {
  if (der.length === 0 || der.length > MAX_CERTIFICATE_BYTES)
    throw new CertificateParseError(`certificate size ${der.length} out of range`);
  try {
    return parse(Buffer.from(der));
  } catch (err) {
    if (err instanceof CertificateParseError) throw err;
    throw new CertificateParseError(
      `malformed certificate: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/** Parses PEM text holding one or more CERTIFICATE blocks (a CA bundle). */
export function parsePemCertificates(pem: string): ParsedCertificate[] {
  const out: ParsedCertificate[] = [];
  for (const m of pem.matchAll(
    /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g,
  )) {
    out.push(parseCertificate(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64')));
  }
  return out;
}

function parse(der: Buffer): ParsedCertificate {
  const top = parseDer(der);
  const [tbsNode, sigAlgNode, sigNode] = sequence(top, 'Certificate');
  if (sigNode === undefined) throw new DerError('Certificate needs three elements');
  readBitString(sigNode, 'signatureValue');
  const signatureAlgorithm = algorithmOid(sigAlgNode);
  const tbs = sequence(tbsNode, 'TBSCertificate');
  let i = 0;
  let version = 1;
  const first = tbs[0];
  if (first !== undefined && isContext(first, 0)) {
    version = readSmallInteger(children(first)[0], 'version') + 1;
    i++;
  }
  if (version < 1 || version > 3) throw new DerError(`unsupported certificate version ${version}`);
  const serial = readIntegerBytes(tbs[i++], 'serialNumber');
  const tbsSignatureAlgorithm = algorithmOid(tbs[i++]);
  const issuer = parseName(tbs[i++]);
  const [nb, na] = sequence(tbs[i++], 'Validity');
  const notBefore = readTime(nb, 'notBefore');
  const notAfter = readTime(na, 'notAfter');
  const subject = parseName(tbs[i++]);
  const spkiNode = tbs[i++];
  const spkiParts = sequence(spkiNode, 'SubjectPublicKeyInfo');
  const publicKeyBits = readBitString(spkiParts[1], 'subjectPublicKey').bytes;
  let extensions: RawExtension[] = [];
  for (; i < tbs.length; i++) {
    const n = tbs[i] as DerNode;
    if (isContext(n, 1) || isContext(n, 2)) continue; // issuer/subject unique IDs
    if (isContext(n, 3)) {
      if (version !== 3) throw new DerError('extensions in a certificate below v3');
      extensions = parseExtensions(children(n)[0]);
      continue;
    }
    throw new DerError('unexpected element in TBSCertificate');
  }
  if (serial.length > 21) throw new DerError('serial number longer than 20 octets');

  const cert: ParsedCertificate = {
    der,
    x509: new X509Certificate(der),
    version,
    serial,
    serialHex: serialToHex(serial),
    signatureAlgorithm,
    tbsSignatureAlgorithm,
    issuer,
    subject,
    notBefore,
    notAfter,
    spki: (spkiNode as DerNode).raw,
    publicKeyBits,
    extensions,
    subjectAltNames: [],
    crlDistributionPoints: [],
    ocspUrls: [],
    caIssuerUrls: [],
    policies: [],
    applicationPolicies: [],
    thumbprintSha1: createHash('sha1').update(der).digest('hex').toUpperCase(),
    sha256: createHash('sha256').update(der).digest('hex').toUpperCase(),
  };
  for (const ext of extensions) readExtension(cert, ext);
  return cert;
}

export function algorithmOid(node: DerNode | undefined): string {
  return readOid(sequence(node, 'AlgorithmIdentifier')[0], 'algorithm');
}

function serialToHex(serial: Buffer): string {
  let s = serial;
  while (s.length > 1 && s[0] === 0) s = s.subarray(1);
  return s.toString('hex').toUpperCase();
}

/** Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue). */
export function parseName(node: DerNode | undefined): DistinguishedName {
  const rdnNodes = sequence(node, 'Name');
  const rdns = rdnNodes.map((rdn) => {
    if (!isUniversal(rdn, Tag.set)) throw new DerError('expected RDN SET');
    const atvs = children(rdn).map((atv) => {
      const [t, v] = sequence(atv, 'AttributeTypeAndValue');
      const type = readOid(t, 'attribute type');
      let value: string;
      try {
        value = readString(v, 'attribute value');
      } catch {
        // Not a string type: RFC 4514 §2.4 hex form.
        value = `#${(v as DerNode).raw.toString('hex')}`;
      }
      return { type, value };
    });
    if (atvs.length === 0) throw new DerError('empty RDN');
    return atvs;
  });
  return { der: (node as DerNode).raw, rdns };
}

function parseExtensions(node: DerNode | undefined): RawExtension[] {
  const seen = new Set<string>();
  return sequence(node, 'Extensions').map((e) => {
    const parts = sequence(e, 'Extension');
    const oid = readOid(parts[0], 'extnID');
    let critical = false;
    let k = 1;
    if (parts[1] !== undefined && isUniversal(parts[1], Tag.boolean)) {
      critical = readBoolean(parts[1]);
      k = 2;
    }
    const value = expect(parts[k], Tag.octetString, 'extnValue').value;
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
    if (seen.has(oid)) throw new DerError(`extension ${oid} appears twice`);
    seen.add(oid);
    return { oid, critical, value };
  });
}

function readExtension(c: ParsedCertificate, ext: RawExtension): void {
  const node = (): DerNode => parseDer(ext.value);
  switch (ext.oid) {
    case Oids.basicConstraints: {
      const parts = sequence(node(), 'BasicConstraints');
      let ca = false;
      let pathLength: number | undefined;
      for (const p of parts) {
        if (isUniversal(p, Tag.boolean)) ca = readBoolean(p);
        else pathLength = readSmallInteger(p, 'pathLenConstraint');
      }
      c.basicConstraints = { ca, pathLength };
      return;
    }
    case Oids.keyUsage: {
      const { bytes } = readBitString(node(), 'KeyUsage');
      const set = new Set<KeyUsageName>();
      for (const [name, bit] of Object.entries(KeyUsageBits) as [KeyUsageName, number][]) {
        const byte = bytes[bit >> 3];
        if (byte !== undefined && (byte & (0x80 >> (bit & 7))) !== 0) set.add(name);
      }
      c.keyUsage = set;
      return;
    }
    case Oids.extKeyUsage:
      c.extendedKeyUsage = sequence(node(), 'ExtKeyUsageSyntax').map((o) => readOid(o));
      return;
    case Oids.subjectAltName:
      c.subjectAltNames = parseGeneralNames(node());
      return;
    case Oids.subjectKeyId:
      c.subjectKeyId = expect(node(), Tag.octetString, 'SubjectKeyIdentifier').value;
      return;
    case Oids.authorityKeyId: {
      const keyId = sequence(node(), 'AuthorityKeyIdentifier').find((p) => isContext(p, 0));
      if (keyId !== undefined) c.authorityKeyId = keyId.value;
      return;
    }
    case Oids.crlDistributionPoints:
      for (const dp of sequence(node(), 'CRLDistributionPoints')) {
        const dpn = sequence(dp, 'DistributionPoint').find((p) => isContext(p, 0));
        if (dpn === undefined) continue;
        const fullName = children(dpn).find((p) => isContext(p, 0));
        if (fullName === undefined) continue; // nameRelativeToCRLIssuer: not supported
        for (const gn of children(fullName).map(parseGeneralName))
          if (gn.type === 'uri') c.crlDistributionPoints.push(gn.value);
      }
      return;
    case Oids.authorityInfoAccess:
      for (const ad of sequence(node(), 'AuthorityInfoAccessSyntax')) {
        const [method, location] = sequence(ad, 'AccessDescription');
        const m = readOid(method, 'accessMethod');
        const gn = parseGeneralName(location as DerNode);
        if (gn.type !== 'uri') continue;
        if (m === Oids.ocspMethod) c.ocspUrls.push(gn.value);
        else if (m === Oids.caIssuersMethod) c.caIssuerUrls.push(gn.value);
      }
      return;
    case Oids.certificatePolicies:
      c.policies = sequence(node(), 'CertificatePolicies').map((pi) =>
        readOid(sequence(pi, 'PolicyInformation')[0], 'policyIdentifier'),
      );
      return;
    case Oids.applicationPolicies:
      c.applicationPolicies = sequence(node(), 'ApplicationPolicies').map((pi) =>
        readOid(sequence(pi, 'PolicyInformation')[0], 'policyIdentifier'),
      );
      return;
    case Oids.ntdsCaSecurityExt: {
      for (const gn of parseGeneralNames(node())) {
        if (gn.type !== 'otherName' || gn.oid !== Oids.ntdsObjectSid) continue;
        const sid = expect(parseDer(gn.value), Tag.octetString, 'objectSid').value.toString(
          'latin1',
        );
        if (!/^S-1-\d+(-\d+){1,15}$/.test(sid))
          throw new DerError('SID extension holds no valid SID');
        if (c.sid !== undefined && c.sid !== sid)
          throw new DerError('SID extension names two SIDs');
        c.sid = sid;
      }
      if (c.sid === undefined) throw new DerError('SID extension holds no SID');
      return;
    }
    case Oids.certTemplateName:
      c.templateName = readString(node(), 'template name');
      return;
    case Oids.certTemplateInfo:
      c.templateOid = readOid(sequence(node(), 'CertificateTemplate')[0], 'templateID');
      return;
    default:
      return;
  }
}

export function parseGeneralNames(node: DerNode): GeneralName[] {
  return sequence(node, 'GeneralNames').map(parseGeneralName);
}

function ia5(n: DerNode): string {
  const s = n.value.toString('latin1');
  if (/[^\x20-\x7e]/.test(s)) throw new DerError('non-printable character in an IA5 name');
  return s;
}

export function parseGeneralName(n: DerNode): GeneralName {
  if (n.cls !== TagClass.context) throw new DerError('GeneralName must be context-tagged');
  switch (n.tag) {
    case 0: {
      // otherName: SEQUENCE { type-id OID, value [0] EXPLICIT ANY } with IMPLICIT [0]
      const [typeId, wrapped] = children(n);
      const oid = readOid(typeId, 'otherName type-id');
      if (wrapped === undefined || !isContext(wrapped, 0)) throw new DerError('bad otherName');
      const [inner] = children(wrapped);
      if (inner === undefined) throw new DerError('empty otherName');
      if (oid === Oids.upnOtherName) return { type: 'upn', value: readString(inner, 'UPN') };
      return { type: 'otherName', oid, value: inner.raw };
    }
    case 1:
      return { type: 'email', value: ia5(n) };
    case 2:
      return { type: 'dns', value: ia5(n) };
    case 4:
      return { type: 'dn', value: parseName(children(n)[0]) };
    case 6:
      return { type: 'uri', value: ia5(n) };
    case 7:
      return { type: 'ip', value: formatIp(n.value) };
    default:
      return { type: 'other', tag: n.tag };
  }
}

function formatIp(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  if (b.length === 16) {
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
    return parts.join(':');
  }
  return b.toString('hex');
}

// ---------------------------------------------------------------------------------------------------------
// Names as text

/** Attribute short names as Windows CryptoAPI (CertNameToStr) and .NET X500DistinguishedName print them. */
const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'S',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'T',
  '2.5.4.42': 'G',
  '2.5.4.43': 'I',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
  '1.2.840.113549.1.9.1': 'E',
};

/** CertNameToStr quoting: a value with special characters or edge spaces goes in double quotes, " doubled. */
function windowsValue(v: string): string {
  return /[,+="\n<>#;]|^\s|\s$/.test(v) || v === '' ? `"${v.replace(/"/g, '""')}"` : v;
}

function windowsAtv(atv: AttributeTypeAndValue): string {
  return `${SHORT_NAMES[atv.type] ?? `OID.${atv.type}`}=${windowsValue(atv.value)}`;
}

/**
 * The form altSecurityIdentities uses for `X509:<I>` and `<S>` (KB5014754: `X509:<I>DC=com,DC=contoso,
 * CN=CONTOSO-DC-CA<SR>…`): RDNs in encoded order, most significant first, separated by "," with no spaces.
 */
export function altSecurityName(dn: DistinguishedName): string {
  return dn.rdns.map((rdn) => rdn.map(windowsAtv).join('+')).join(',');
}

/**
 * .NET's X500DistinguishedName.Name / X509Certificate2.Issuer form, what AD FS puts in the certificate issuer and
 * subject claims: RDNs in reverse order (CN first), separated by ", ".
 */
export function dotnetName(dn: DistinguishedName): string {
  return [...dn.rdns]
    .reverse()
    .map((rdn) => rdn.map(windowsAtv).join(' + '))
    .join(', ');
}

/** Byte-wise equality of two encoded Names (RFC 5280 §7.1 allows a stricter comparison than full matching). */
export function sameName(a: DistinguishedName, b: DistinguishedName): boolean {
  return (
    a.der.equals(b.der) || altSecurityName(a).toLowerCase() === altSecurityName(b).toLowerCase()
  );
}

/** Windows' one-line SAN text ("Other Name:Principal Name=user@contoso.com, RFC822 Name=…"). */
export function formatSubjectAltNames(names: readonly GeneralName[]): string {
  return names
    .map((n) => {
      switch (n.type) {
        case 'upn':
          return `Other Name:Principal Name=${n.value}`;
        case 'email':
          return `RFC822 Name=${n.value}`;
        case 'dns':
          return `DNS Name=${n.value}`;
        case 'uri':
          return `URL=${n.value}`;
        case 'ip':
          return `IP Address=${n.value}`;
        case 'dn':
          return `Directory Address:${dotnetName(n.value)}`;
        case 'otherName':
          return `Other Name:${n.oid}=${n.value.toString('hex')}`;
        default:
          return `Unknown(${n.tag})`;
      }
    })
    .join(', ');
}

/** .NET X509KeyUsageFlags.ToString() order and names. */
const DOTNET_KEY_USAGE: [KeyUsageName, string][] = [
  ['encipherOnly', 'EncipherOnly'],
  ['cRLSign', 'CrlSign'],
  ['keyCertSign', 'KeyCertSign'],
  ['keyAgreement', 'KeyAgreement'],
  ['dataEncipherment', 'DataEncipherment'],
  ['keyEncipherment', 'KeyEncipherment'],
  ['nonRepudiation', 'NonRepudiation'],
  ['digitalSignature', 'DigitalSignature'],
  ['decipherOnly', 'DecipherOnly'],
];

export function formatKeyUsage(ku: ReadonlySet<KeyUsageName>): string {
  return DOTNET_KEY_USAGE.filter(([k]) => ku.has(k))
    .map(([, n]) => n)
    .join(', ');
}

/** UPNs in the SAN (several are possible; mapping refuses ambiguity). */
export function upnsOf(c: ParsedCertificate): string[] {
  return c.subjectAltNames.flatMap((n) => (n.type === 'upn' ? [n.value] : []));
}
