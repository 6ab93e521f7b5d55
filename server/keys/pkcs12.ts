/**
 * Reading a PKCS#12 (PFX) file, as AD FS's token-signing certificate leaves Windows (`Export-PfxCertificate`), and
 * keeping a private key encrypted at rest as PKCS#8 (issue 18, "Custody").
 *
 * The PFX structure, its MAC and its bag encryption (legacy pbeWithSHAAnd3-KeyTripleDES-CBC and
 * pbeWithSHAAnd40BitRC2-CBC, and PBES2 with AES) are node-forge's: nothing here parses ASN.1 by hand. What forge
 * hands back is re-imported into node:crypto (PKCS#8 DER, X.509 DER), and node:crypto (OpenSSL) alone decides
 * whether the certificate belongs to the key.
 *
 * Every failure is a `Pkcs12Error` with a `reason` and a message that says what to do; forge's own exceptions
 * never escape (they are kept as `cause`).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { MIN_RSA_BITS } from './generate.ts';
import { SecretFileError, readSecretFile } from './secret-file.ts';

export type Pkcs12FailureReason =
  | 'bad-password'
  | 'no-key'
  | 'no-certificate'
  | 'mismatch'
  | 'not-pkcs12'
  | 'unsupported'
  | 'weak-key';

export class Pkcs12Error extends Error {
  override readonly name = 'Pkcs12Error';
  readonly reason: Pkcs12FailureReason;
  constructor(reason: Pkcs12FailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

export interface Pkcs12Contents {
  /** node:crypto RSA key, re-imported from PKCS#8 DER. */
  privateKey: KeyObject;
  /** The certificate whose public key matches `privateKey` (checked by OpenSSL, X509Certificate.checkPrivateKey). */
  certificatePem: string;
  /** Every other certificate in the file (intermediate and root CAs), in file order; may be empty. */
  chainPem: string[];
  /** The friendlyName attribute (PKCS#9) of the certificate's bag, or else of the key's. */
  friendlyName?: string;
}

/** A token-signing PFX is a few KB (key + certificate + a short chain); anything bigger is refused unparsed. */
export const MAX_PKCS12_BYTES = 1024 * 1024;

/**
 * Upper bound on the MAC's iteration count. The MAC is checked before anything else, with forge's JavaScript
 * PKCS#12 KDF (RFC 7292 Appendix B), so this bounds the work any file can cause before its password is proven.
 * Writers use far less: Windows 2000, OpenSSL 2048, Java keytool 10000.
 */
export const MAX_MAC_ITERATIONS = 1_000_000;

/** Bag types, RFC 7292 §4.2 (bagtypes 1, 2, 3). */
const OID_KEY_BAG = '1.2.840.113549.1.12.10.1.1';
const OID_SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const OID_CERT_BAG = '1.2.840.113549.1.12.10.1.3';

interface ForgeBag {
  type: string;
  attributes: Record<string, unknown[] | undefined>;
  key?: forge.pki.rsa.PrivateKey | null;
  cert?: forge.pki.Certificate | null;
  asn1?: forge.asn1.Asn1;
}

/**
 * Reads a PFX: its private key (RSA, at least MIN_RSA_BITS), the certificate of that key, and the rest of the
 * certificates. The file must carry a MAC (password integrity mode, RFC 7292 §4): that is how a wrong password is
 * told apart from a damaged file, and what Windows and OpenSSL write by default.
 */
export function readPkcs12(der: Buffer, password: string): Pkcs12Contents {
  const pfx = decodePfx(der, password);
  const bags = pfx.safeContents.flatMap((s) => s.safeBags as ForgeBag[]);

  const keyBags = bags.filter((b) => b.type === OID_SHROUDED_KEY_BAG || b.type === OID_KEY_BAG);
  const certBags = bags.filter((b) => b.type === OID_CERT_BAG);
  if (keyBags.length === 0) {
    throw new Pkcs12Error(
      'no-key',
      `The PFX holds no private key (${String(certBags.length)} certificate(s) only), so fedgate cannot sign with ` +
        'it. Export it again with its private key: on the AD FS server, Export-PfxCertificate of the ' +
        'token-signing certificate (its key must be marked exportable), or openssl pkcs12 -export -inkey KEY.',
    );
  }
  if (keyBags.length > 1) {
    throw new Pkcs12Error(
      'unsupported',
      `The PFX holds ${String(keyBags.length)} private keys; fedgate imports one token-signing key at a time. ` +
        'Export only the token-signing certificate with its key.',
    );
  }
  const keyBag = keyBags[0] as ForgeBag;
  const privateKey = importKey(keyBag);

  if (certBags.length === 0) {
    throw new Pkcs12Error(
      'no-certificate',
      'The PFX holds a private key but no certificate. Export it again with its certificate ' +
        '(Export-PfxCertificate does so; with openssl, pkcs12 -export -in CERT -inkey KEY).',
    );
  }
  const certificates = certBags.map((bag) => ({ bag, x509: importCertificate(bag) }));
  const matching = certificates.filter((c) => c.x509.checkPrivateKey(privateKey));
  if (matching.length === 0) {
    const subjects = certificates.map((c) => `"${c.x509.subject.replaceAll('\n', ', ')}"`).join('; ');
    throw new Pkcs12Error(
      'mismatch',
      `No certificate in the PFX belongs to its private key (certificates: ${subjects}). The file pairs the key ` +
        'with another certificate; export the token-signing certificate together with its own key.',
    );
  }
  // Several certificates may share one key (a renewal that kept it): the first is the one the exporter paired
  // with the key (OpenSSL writes the key's own certificate first); the others go to chainPem.
  const leaf = matching[0];
  if (leaf === undefined) throw new Error('unreachable: matching is not empty');

  // The certificate's name first: Windows names the key bag after its key container (a GUID).
  const friendlyName =
    firstString(leaf.bag.attributes.friendlyName) ?? firstString(keyBag.attributes.friendlyName);
  return {
    privateKey,
    certificatePem: leaf.x509.toString(),
    chainPem: certificates.filter((c) => c !== leaf).map((c) => c.x509.toString()),
    ...(friendlyName === undefined ? {} : { friendlyName }),
  };
}

/** Size and shape checks, then forge: MAC first (the password), then the bags. */
function decodePfx(der: Buffer, password: string): forge.pkcs12.Pkcs12Pfx {
  if (!(der instanceof Uint8Array) || der.length === 0) {
    throw new Pkcs12Error('not-pkcs12', 'The PFX file is empty.');
  }
  if (der.length > MAX_PKCS12_BYTES) {
    throw new Pkcs12Error(
      'not-pkcs12',
      `The file is ${String(der.length)} bytes; a token-signing PFX is a few KB (limit ${String(MAX_PKCS12_BYTES)}). ` +
        'Check that FILE is the PFX exported from AD FS.',
    );
  }
  const head = Buffer.from(der.subarray(0, 64)).toString('latin1').trimStart();
  if (head.startsWith('-----BEGIN')) {
    throw new Pkcs12Error(
      'not-pkcs12',
      'The file is PEM text, not a binary PKCS#12 (PFX) file. Give the .pfx/.p12 file exported from AD FS ' +
        '(a base64-encoded PFX must be decoded first: base64 -d).',
    );
  }

  let pfxAsn1: forge.asn1.Asn1;
  try {
    pfxAsn1 = forge.asn1.fromDer(forge.util.createBuffer(Buffer.from(der).toString('binary')), true);
  } catch (err) {
    throw notPkcs12(err);
  }
  const macIterations = macIterationCount(pfxAsn1);
  if (macIterations === 'absent') {
    throw new Pkcs12Error(
      'unsupported',
      'The PFX has no integrity MAC, so fedgate cannot tell a wrong password from a damaged or altered file. ' +
        'Export it again with a MAC (Export-PfxCertificate and openssl pkcs12 -export write one by default; ' +
        'do not use -nomac).',
    );
  }
  if (macIterations > MAX_MAC_ITERATIONS) {
    throw new Pkcs12Error(
      'unsupported',
      `The PFX's MAC uses ${String(macIterations)} iterations (fedgate accepts up to ${String(MAX_MAC_ITERATIONS)}). ` +
        'Export it again with the default settings.',
    );
  }

  try {
    return forge.pkcs12.pkcs12FromAsn1(pfxAsn1, true, password);
  } catch (err) {
    const failure = classify(err);
    if (failure !== 'decrypt' || isAscii(password)) throw toPkcs12Error(failure, err);
    // The MAC verified (a MAC failure is thrown before any decryption), so the password is right; what failed is
    // a PBES2 bag. The PKCS#12 KDF of the MAC and of legacy bags takes the password as BMPString (RFC 7292
    // Appendix B.1), which forge derives from the string's UTF-16 code units, but PBES2 takes octets (RFC 8018
    // §3), which OpenSSL and .NET encode as UTF-8 while forge keeps only the low byte of each code unit. So read
    // the bags again with the UTF-8 octets, leaving out the MAC already checked with the real password.
    try {
      const withoutMac = { ...pfxAsn1, value: (pfxAsn1.value as forge.asn1.Asn1[]).slice(0, 2) };
      return forge.pkcs12.pkcs12FromAsn1(withoutMac, true, forge.util.encodeUtf8(password));
    } catch (retryErr) {
      throw toPkcs12Error(classify(retryErr), retryErr);
    }
  }
}

/**
 * The iteration count of the PFX's MacData (RFC 7292 §4: PFX ::= SEQUENCE { version, authSafe, macData
 * OPTIONAL }; MacData ::= SEQUENCE { mac, macSalt, iterations INTEGER DEFAULT 1 }), read from forge's decoded tree
 * before forge derives the MAC key from it. Anything malformed is left for forge's validator to report.
 */
function macIterationCount(pfx: forge.asn1.Asn1): number | 'absent' {
  if (!Array.isArray(pfx.value)) return 0;
  const macData = pfx.value[2];
  if (macData === undefined) return 'absent';
  if (!Array.isArray(macData.value)) return 0;
  const iterations = macData.value[2];
  if (iterations === undefined || typeof iterations.value !== 'string') return 1;
  // Read as forge will (lib/pkcs12.js: parseInt of the hex, unsigned), so that no encoding, e.g. a "negative"
  // 0x80000000, reads small here and huge there.
  const count = parseInt(forge.util.bytesToHex(iterations.value), 16);
  return Number.isNaN(count) ? 0 : count;
}

type ForgeFailure = 'bad-mac' | 'decrypt' | 'unsupported' | 'malformed';

/** forge reports through Error messages only; these are its texts in lib/pkcs12.js and lib/pbe.js (1.x). */
function classify(err: unknown): ForgeFailure {
  const message = err instanceof Error ? err.message : '';
  if (/MAC could not be verified/i.test(message)) return 'bad-mac';
  if (/unable to decrypt|failed to decrypt|wrong password/i.test(message)) return 'decrypt';
  if (/unsupported|not supported|only pkcs#12/i.test(message)) return 'unsupported';
  return 'malformed';
}

function toPkcs12Error(failure: ForgeFailure, err: unknown): Pkcs12Error {
  const detail = err instanceof Error ? err.message : String(err);
  switch (failure) {
    case 'bad-mac':
      return new Pkcs12Error(
        'bad-password',
        'The PFX password is wrong: the file\'s integrity MAC does not verify with it. Give the password the ' +
          'file was exported with (Export-PfxCertificate -Password), through the environment variable or file ' +
          'named for it.',
        { cause: err },
      );
    case 'decrypt':
      return new Pkcs12Error(
        'bad-password',
        'The password verifies the PFX\'s MAC but does not decrypt its contents (was it exported with two ' +
          'passwords, e.g. openssl pkcs12 -twopass?). Export it again with one password.',
        { cause: err },
      );
    case 'unsupported':
      return new Pkcs12Error(
        'unsupported',
        `The PFX uses something fedgate's PKCS#12 reader does not support (${detail}). Export it again with ` +
          'Export-PfxCertificate -CryptoAlgorithmOption AES256_SHA256 (or TripleDES_SHA1), or openssl pkcs12 -export.',
        { cause: err },
      );
    case 'malformed':
      return notPkcs12(err);
  }
}

function notPkcs12(err: unknown): Pkcs12Error {
  return new Pkcs12Error(
    'not-pkcs12',
    'The file is not a PKCS#12 (PFX) file, or it is damaged. Give the .pfx file exported from AD FS ' +
      '(Export-PfxCertificate), copied in binary mode.',
    { cause: err },
  );
}

/** The bag's key as a node:crypto KeyObject, via PKCS#8 DER; only RSA of at least MIN_RSA_BITS is accepted. */
function importKey(bag: ForgeBag): KeyObject {
  let key: KeyObject;
  try {
    // forge decodes RSA keys itself; any other algorithm it leaves as the PrivateKeyInfo ASN.1.
    const info = bag.key
      ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(bag.key))
      : bag.asn1;
    if (info === undefined) throw new Error('the key bag holds no key');
    key = createPrivateKey({ key: asn1ToDer(info), format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new Pkcs12Error(
      'unsupported',
      'The private key in the PFX cannot be read (an algorithm neither forge nor OpenSSL knows?). Token ' +
        `signing needs an RSA key of at least ${String(MIN_RSA_BITS)} bits.`,
      { cause: err },
    );
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new Pkcs12Error(
      'unsupported',
      `The PFX's private key is ${String(key.asymmetricKeyType)}, not RSA. Token signing is rsa-sha256 ` +
        `(what Entra ID expects), so it needs an RSA key of at least ${String(MIN_RSA_BITS)} bits.`,
    );
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) {
    throw new Pkcs12Error(
      'weak-key',
      `The PFX's RSA key has ${String(bits)} bits; token signing needs at least ${String(MIN_RSA_BITS)}. ` +
        'Issue a new token-signing certificate with a stronger key (or let fedgate generate one).',
    );
  }
  return key;
}

function importCertificate(bag: ForgeBag): X509Certificate {
  try {
    // forge decodes RSA certificates itself; others it leaves as ASN.1. Both re-encode to the DER read.
    const asn1 = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1;
    if (asn1 === undefined) throw new Error('the certificate bag holds no certificate');
    return new X509Certificate(asn1ToDer(asn1));
  } catch (err) {
    throw new Pkcs12Error(
      'not-pkcs12',
      'A certificate in the PFX cannot be read; the file is damaged. Export it again.',
      { cause: err },
    );
  }
}

function asn1ToDer(asn1: forge.asn1.Asn1): Buffer {
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

/** forge gives attribute values as arrays of (binary) strings. */
function firstString(values: unknown[] | undefined): string | undefined {
  const value = values?.[0];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function isAscii(text: string): boolean {
  // Only ASCII has as many UTF-8 octets as UTF-16 code units.
  return Buffer.byteLength(text, 'utf8') === text.length;
}

/** A password source that is missing, unreadable or not private. */
export class PasswordSourceError extends Error {
  override readonly name = 'PasswordSourceError';
}

/**
 * The password of a PFX (or the passphrase of an encrypted key) from an environment variable NAME or a file,
 * never a command-line argument (those show in `ps` and shell history). One trailing newline of the file is
 * dropped (`echo secret > file`). A file group or others may read is refused, as key files are
 * (security-corpus C7.1).
 */
export async function readPasswordFrom(
  source: { env?: string; file?: string },
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const { env: name, file } = source;
  if ((name === undefined) === (file === undefined)) {
    throw new PasswordSourceError(
      'Give the password through exactly one of an environment variable or a file, not both and not neither.',
    );
  }
  if (name !== undefined) {
    const value = env[name];
    if (value === undefined) {
      throw new PasswordSourceError(`The environment variable ${name} (the password) is not set.`);
    }
    if (value === '') {
      throw new PasswordSourceError(`The environment variable ${name} (the password) is empty.`);
    }
    return value;
  }
  return readPasswordFile(file as string);
}

async function readPasswordFile(file: string): Promise<string> {
  try {
    return await readSecretFile(file, 'password');
  } catch (err) {
    if (err instanceof SecretFileError) throw new PasswordSourceError(err.message, { cause: err });
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Encrypted PKCS#8 at rest (issue 18: "Encrypted private keys at rest (PKCS#8, passphrase from a secret)").

export type Pkcs8FailureReason = 'bad-password' | 'not-encrypted-pkcs8' | 'weak-passphrase';

export class Pkcs8Error extends Error {
  override readonly name = 'Pkcs8Error';
  readonly reason: Pkcs8FailureReason;
  constructor(reason: Pkcs8FailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * OpenSSL (through node:crypto) encrypts with PBES2: PBKDF2-HMAC-SHA256 at its fixed 2048 iterations and
 * AES-256-CBC. 2048 iterations add little against guessing, so the passphrase itself must carry the strength:
 * a generated secret (e.g. `openssl rand -base64 32`), not a word.
 */
export const MIN_PKCS8_PASSPHRASE_LENGTH = 16;

/** `-----BEGIN ENCRYPTED PRIVATE KEY-----` (PKCS#8 EncryptedPrivateKeyInfo, RFC 5958 §3; PBES2, RFC 8018). */
export function encryptPrivateKeyPkcs8(key: KeyObject, passphrase: string): string {
  if (passphrase.length < MIN_PKCS8_PASSPHRASE_LENGTH) {
    throw new Pkcs8Error(
      'weak-passphrase',
      `The key passphrase has ${String(passphrase.length)} characters; use a generated secret of at least ` +
        `${String(MIN_PKCS8_PASSPHRASE_LENGTH)} (e.g. openssl rand -base64 32).`,
    );
  }
  return key
    .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase })
    .toString();
}

/** Decrypts an `ENCRYPTED PRIVATE KEY` PEM written by `encryptPrivateKeyPkcs8` (or `openssl pkcs8 -topk8 -v2`). */
export function decryptPrivateKeyPkcs8(pem: string | Buffer, passphrase: string): KeyObject {
  const text = typeof pem === 'string' ? pem : pem.toString('utf8');
  if (!/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text)) {
    throw new Pkcs8Error(
      'not-encrypted-pkcs8',
      'The key file is not an encrypted PKCS#8 key (-----BEGIN ENCRYPTED PRIVATE KEY-----).',
    );
  }
  try {
    return createPrivateKey({ key: text, format: 'pem', passphrase });
  } catch (err) {
    // OpenSSL reports a wrong passphrase as a failed decryption (bad padding) or, rarely, as the garbage that a
    // wrong key decrypts to not parsing; neither says more.
    throw new Pkcs8Error(
      'bad-password',
      'The encrypted private key does not decrypt with the passphrase given (wrong passphrase, or a damaged ' +
        'file).',
      { cause: err },
    );
  }
}
