/**
 * The key store: loads the token-signing and TLS credentials from configured files or from the key
 * directory (`keys/` by default), generating them on first start.
 *
 * Rules (security-corpus C7.1, entra-protocol §1.5):
 * - a private key file readable or writable by group/other is refused, never silently chmod-ed: the key may
 *   already have leaked and the admin has to decide;
 * - generated keys are written with mode 0600 into a 0700 directory, each file published atomically
 *   (temp file + hard link, so a concurrent first start of another node never overwrites a key the other
 *   node already uses: whichever file lands first wins and everyone loads what is on disk);
 * - an existing key is always kept, even when its certificate names another host (a warning is returned):
 *   replacing it would silently break the tenant's `signingCertificate`.
 */
import { createPrivateKey, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, mkdir, open, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.ts';
import {
  MIN_RSA_BITS,
  assertCertificateHostname,
  createSelfSignedCertificate,
  describeCertificate,
  generateRsaKey,
  oneYearValidity,
  privateKeyToPem,
  signingSubjectCn,
} from './generate.ts';
import type { CertificateFacts } from './generate.ts';
import { fileSigningCredential } from './credential.ts';
import { writeFileAtomic } from './manifest.ts';
import type { FileSigningCredential } from './credential.ts';
import type { TlsCredential } from './types.ts';

export const SIGNING_KEY_FILE = 'token-signing.key.pem';
export const SIGNING_CERT_FILE = 'token-signing.crt.pem';
export const TLS_KEY_FILE = 'tls.key.pem';
export const TLS_CERT_FILE = 'tls.crt.pem';

/** How long before expiry loading starts warning (Entra wants the next certificate published ≥35 days ahead). */
const EXPIRY_WARNING_MS = 35 * 24 * 60 * 60 * 1000;

/** A problem with key material; `file` names the offending file so the admin knows what to fix. */
export class KeyMaterialError extends Error {
  readonly file: string | undefined;
  constructor(message: string, file?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeyMaterialError';
    this.file = file;
  }
}

export interface CredentialFiles {
  certFile: string;
  keyFile: string;
}

export interface LoadCredentialOptions {
  /** Directory for generated material (created 0700 when absent). */
  dir: string;
  /** The federation service host name (goes into generated certificates). */
  hostname: string;
  clock: Clock;
  /** Admin-supplied PEM files; when given, nothing is generated. */
  configured?: CredentialFiles | undefined;
  /** Passphrase of encrypted PKCS#8 key files (keys.passphrase): generated keys are then written encrypted too. */
  passphrase?: string | undefined;
}

export type LoadedSigningCredential = FileSigningCredential & {
  /** True when this call created the key or the certificate. */
  generated: boolean;
  /** Set when the credential is usable but needs attention (other host name, near expiry). */
  warning?: string;
  certFile: string;
  keyFile: string;
};

export type LoadedTlsCredential = TlsCredential & {
  warning?: string;
  certFile: string;
  keyFile: string;
};

export async function loadOrCreateSigningCredential(
  opts: LoadCredentialOptions,
): Promise<LoadedSigningCredential> {
  const expectedCn = signingSubjectCn(opts.hostname);
  const { files, generated } = await resolveFiles(
    opts,
    SIGNING_KEY_FILE,
    SIGNING_CERT_FILE,
    async (key) => {
      assertCertificateHostname(opts.hostname);
      return createSelfSignedCertificate({
        privateKey: key,
        commonName: expectedCn,
        ...oneYearValidity(opts.clock.now()),
        purpose: 'signing',
        serial: randomBytes(16),
      });
    },
  );
  const { key, facts } = await loadPair(files, 'signing', opts.passphrase);

  const warnings: string[] = [];
  if (opts.configured === undefined && !hasCommonName(facts, expectedCn)) {
    warnings.push(
      `${files.certFile} was issued for "${facts.subject.replace(/\n/g, ', ')}", not for ${opts.hostname}; ` +
        'it is still used so that the tenant trust keeps working. Configure a certificate for this host ' +
        'and update the tenant to replace it.',
    );
  }
  warnings.push(...expiryWarnings(facts, opts.clock, files.certFile));

  return {
    ...fileSigningCredential(key, facts),
    generated,
    ...(warnings.length > 0 ? { warning: warnings.join(' ') } : {}),
    ...files,
  };
}

export async function loadOrCreateTlsCredential(
  opts: LoadCredentialOptions,
): Promise<LoadedTlsCredential> {
  const { files, generated } = await resolveFiles(
    opts,
    TLS_KEY_FILE,
    TLS_CERT_FILE,
    async (key) => {
      assertCertificateHostname(opts.hostname);
      const ip = isIP(opts.hostname) !== 0;
      const dnsNames = ip ? [] : [opts.hostname];
      const ipAddresses = ip ? [opts.hostname] : [];
      // Browsers and curl ignore the CN; localhost also needs the loopback address to be reachable by IP.
      if (opts.hostname === 'localhost') ipAddresses.push('127.0.0.1');
      return createSelfSignedCertificate({
        privateKey: key,
        commonName: opts.hostname,
        ...oneYearValidity(opts.clock.now()),
        purpose: 'tls',
        dnsNames,
        ipAddresses,
        serial: randomBytes(16),
      });
    },
  );
  const { key, facts, pem } = await loadPair(files, 'tls');

  const warnings: string[] = [];
  const matches =
    isIP(opts.hostname) !== 0
      ? facts.x509.checkIP(opts.hostname)
      : facts.x509.checkHost(opts.hostname);
  if (matches === undefined) {
    warnings.push(
      `${files.certFile} does not name ${opts.hostname}; clients will reject the HTTPS listener.`,
    );
  }
  warnings.push(...expiryWarnings(facts, opts.clock, files.certFile));

  // The whole chain the file holds (leaf first): a listener must send its intermediates, or clients that know only
  // the root cannot verify it.
  const chain = [
    ...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g),
  ].map((m) => m[0]);
  return {
    certPem: chain.length > 1 ? `${chain.join('\n')}\n` : facts.certificatePem,
    keyPem: privateKeyToPem(key),
    generated,
    ...(warnings.length > 0 ? { warning: warnings.join(' ') } : {}),
    ...files,
  };
}

// ---------------------------------------------------------------------------------------------------------

async function resolveFiles(
  opts: LoadCredentialOptions,
  keyName: string,
  certName: string,
  makeCert: (key: KeyObject) => Promise<string>,
): Promise<{ files: CredentialFiles; generated: boolean }> {
  if (opts.configured !== undefined) return { files: opts.configured, generated: false };

  const files = { keyFile: join(opts.dir, keyName), certFile: join(opts.dir, certName) };
  let generated = false;
  const keyExists = await exists(files.keyFile);
  const certExists = await exists(files.certFile);

  if (!keyExists && certExists) {
    throw new KeyMaterialError(
      `${files.certFile} exists but its private key ${files.keyFile} is missing. Restore the key, or remove ` +
        'the certificate to generate a new pair (the tenant must then be updated with the new certificate).',
      files.keyFile,
    );
  }
  if (!keyExists) {
    await ensurePrivateDir(opts.dir);
    const key = await generateRsaKey();
    generated = await publishNoClobber(files.keyFile, privateKeyToPem(key, opts.passphrase), 0o600);
  }
  if (!certExists) {
    // Either we just created the key, or a previous start stopped between writing the key and the
    // certificate (they are written in that order): issue a certificate for whatever key is on disk.
    const key = await readPrivateKey(files.keyFile, opts.passphrase);
    if (await publishNoClobber(files.certFile, await makeCert(key), 0o644)) generated = true;
  }
  return { files, generated };
}

export async function loadPair(
  files: CredentialFiles,
  purpose: 'signing' | 'tls',
  passphrase?: string,
): Promise<{ key: KeyObject; facts: CertificateFacts; pem: string }> {
  const key = await readPrivateKey(files.keyFile, passphrase);
  const { facts, pem: certPem } = await readCertificateFile(files.certFile);
  checkKeyForCertificate(key, facts, files, purpose);
  return { key, facts, pem: certPem };
}

/** Reads and parses a PEM certificate file (the first certificate; the PEM text is returned whole). */
export async function readCertificateFile(
  file: string,
): Promise<{ facts: CertificateFacts; pem: string }> {
  const pem = await readFileChecked(file, false);
  try {
    return { facts: describeCertificate(pem), pem };
  } catch (err) {
    throw new KeyMaterialError(`${file} is not a PEM X.509 certificate`, file, {
      cause: err,
    });
  }
}

/** A token-signing key must be RSA of at least MIN_RSA_BITS and the key of its certificate. */
export function checkKeyForCertificate(
  key: KeyObject,
  facts: CertificateFacts,
  files: CredentialFiles,
  purpose: 'signing' | 'tls',
): void {
  const type = key.asymmetricKeyType;
  if (purpose === 'signing' || type === 'rsa') {
    // Token signing is rsa-sha256 (RSASSA-PKCS1-v1_5): entra-protocol §1.5. RSA-PSS keys cannot do it.
    if (type !== 'rsa') {
      throw new KeyMaterialError(
        `${files.keyFile} is a ${String(type)} key; token signing needs an RSA key`,
        files.keyFile,
      );
    }
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      throw new KeyMaterialError(
        `${files.keyFile} is RSA-${bits}; at least RSA-${MIN_RSA_BITS} is required`,
        files.keyFile,
      );
    }
  }
  if (!facts.x509.checkPrivateKey(key)) {
    throw new KeyMaterialError(
      `${files.keyFile} does not match the certificate in ${files.certFile} (different key pair)`,
      files.keyFile,
    );
  }
}

/**
 * Reads a PEM private key file (PKCS#8 or PKCS#1; an `ENCRYPTED PRIVATE KEY` needs `passphrase`). The file must be
 * private to the fedgate user.
 */
export async function readPrivateKey(file: string, passphrase?: string): Promise<KeyObject> {
  const pem = await readFileChecked(file, true);
  const encrypted = pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----');
  if (encrypted && passphrase === undefined) {
    throw new KeyMaterialError(
      `${file} is an encrypted private key; set keys.passphrase (or FEDGATE_KEYS__PASSPHRASE, or keys.passphraseFile)`,
      file,
    );
  }
  try {
    return createPrivateKey({
      key: pem,
      format: 'pem',
      ...(encrypted ? { passphrase: passphrase ?? '' } : {}),
    });
  } catch (err) {
    throw new KeyMaterialError(
      encrypted
        ? `${file} cannot be decrypted with keys.passphrase (wrong passphrase, or not PKCS#8)`
        : `${file} is not a PEM private key (PKCS#8 or PKCS#1)`,
      file,
      { cause: err },
    );
  }
}

/**
 * Reads a file through one descriptor, so the permission check and the read see the same inode.
 * For private keys, any group/other permission bit is refused (security-corpus C7.1).
 */
export async function readFileChecked(file: string, isPrivate: boolean): Promise<string> {
  let fh;
  try {
    // Symbolic links are followed (Kubernetes mounts secrets that way); fstat below checks the target.
    fh = await open(file, fsConstants.O_RDONLY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${String(code)})`;
    throw new KeyMaterialError(`${file} ${why}`, file, { cause: err });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new KeyMaterialError(`${file} is not a regular file`, file);
    if (isPrivate && (st.mode & 0o077) !== 0) {
      throw new KeyMaterialError(
        `${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8).padStart(3, '0')}); ` +
          `a token-signing or TLS key must be private to the fedgate user. Run: chmod 600 ${file} ` +
          '(and consider rotating the key if others may have read it).',
        file,
      );
    }
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await stat(dir);
  // The directory is about to hold a private key: nobody else needs to list or traverse it.
  if ((st.mode & 0o077) !== 0) await chmod(dir, 0o700);
}

/** Publishes `data` at `path` only if nothing is there (manifest.ts writeFileAtomic with link(2)): never replaces. */
function publishNoClobber(path: string, data: string, mode: number): Promise<boolean> {
  return writeFileAtomic(path, data, mode, false);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function hasCommonName(facts: CertificateFacts, cn: string): boolean {
  return facts.subject.split('\n').some((rdn) => rdn === `CN=${cn}`);
}

export function expiryWarnings(facts: CertificateFacts, clock: Clock, file: string): string[] {
  const now = clock.now().getTime();
  if (now >= facts.notAfter.getTime()) {
    return [
      `${file} expired on ${facts.notAfter.toISOString()}; relying parties may reject what it signs.`,
    ];
  }
  if (facts.notAfter.getTime() - now < EXPIRY_WARNING_MS) {
    return [`${file} expires on ${facts.notAfter.toISOString()}; publish its successor now.`];
  }
  return [];
}
