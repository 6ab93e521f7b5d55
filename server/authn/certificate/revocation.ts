/**
 * Revocation status of one certificate (security-corpus C6.6), from, in order:
 * 1. the configured CRL files (re-read when their nextUpdate has passed);
 * 2. the OCSP responder the certificate names (authority information access), answers cached until their
 *    nextUpdate;
 * 3. the CRLs at the certificate's CRL distribution points (http:, https:, file: inside an allowed folder, and
 *    AD CS's default ldap:///CN=…,CN=CDP,CN=Public Key Services,CN=Services,CN=Configuration,… read from the
 *    configured domain controllers), cached until their nextUpdate.
 * The first source that can answer decides (good or revoked). A CRL past its nextUpdate, a CRL or response with a
 * bad signature, from another issuer, or of a kind not understood (delta, indirect) answers nothing. If no source
 * answers the status is `unknown`: the caller refuses the sign-in unless soft-fail is configured.
 * An ldap: CDP is read only without a host (ldap:///, i.e. from our own DCs over the directory's LDAPS connection),
 * only for the certificateRevocationList attribute with base scope, and only under the forest's Public Key
 * Services container: a certificate cannot make fedgate connect anywhere else or read any other entry.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CertificateRevocationConfig } from '../../config/schema.ts';
import type { Clock } from '../../lib/clock.ts';
import { crlProblem, normaliseSerial, parseCrl, type ParsedCrl } from './crl.ts';
import { httpFetcher, type Fetcher } from './fetch.ts';
import { buildOcspRequest, certIdFor, readOcspResponse, type OcspStatus } from './ocsp.ts';
import type { ParsedCertificate } from './x509.ts';

export type RevocationStatus =
  | { status: 'good'; source: string }
  | { status: 'revoked'; source: string; revokedAt: Date; reason?: number | undefined }
  | { status: 'unknown'; detail: string };

export interface RevocationLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

interface CachedCrl {
  crl: ParsedCrl;
  /** Reload after this time (ms): the CRL's nextUpdate. */
  until: number;
  /** Issuers (sha256) whose key was checked to have signed it. */
  verifiedFor: Set<string>;
}

const OCSP_MAX_BYTES = 64 * 1024;

export class RevocationChecker {
  readonly #cfg: CertificateRevocationConfig;
  readonly #clock: Clock;
  readonly #log: RevocationLogger;
  readonly #fetch: Fetcher;
  readonly #crlFiles: string[];
  readonly #fileRoots: string[];
  readonly #crls = new Map<string, CachedCrl>();
  readonly #inflight = new Map<string, Promise<CachedCrl>>();
  readonly #ocsp = new Map<string, { status: OcspStatus; until: number }>();

  readonly #ldapCrl: ((dn: string) => Promise<Buffer | undefined>) | undefined;

  /**
   * The CRLs held now, for the expiry gauges: an id (SHA-1 of the issuer name's DER, then the CRL number) and the
   * nextUpdate after which each must not be relied on.
   */
  loadedCrls(): { id: string; nextUpdate: Date }[] {
    const out: { id: string; nextUpdate: Date }[] = [];
    for (const { crl } of this.#crls.values()) {
      if (crl.nextUpdate === undefined) continue;
      const issuer = createHash('sha1').update(crl.issuer.der).digest('hex').toUpperCase();
      out.push({ id: `${issuer}#${crl.crlNumber ?? '-'}`, nextUpdate: crl.nextUpdate });
    }
    return out;
  }

  constructor(
    cfg: CertificateRevocationConfig,
    deps: {
      clock: Clock;
      log: RevocationLogger;
      baseDir: string;
      fetcher?: Fetcher | undefined;
      /** Reads a cRLDistributionPoint entry's CRL from the directory (ldap:/// CDPs); absent: not fetched. */
      ldapCrl?: ((dn: string) => Promise<Buffer | undefined>) | undefined;
    },
  ) {
    this.#ldapCrl = deps.ldapCrl;
    this.#cfg = cfg;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#fetch = deps.fetcher ?? httpFetcher;
    this.#crlFiles = cfg.crlFiles.map((f) => resolve(deps.baseDir, f));
    this.#fileRoots = cfg.fileCdpRoots.map((f) => resolve(deps.baseDir, f));
  }

  get mode(): CertificateRevocationConfig['mode'] {
    return this.#cfg.mode;
  }

  /** Reads every configured CRL file once (startup check: a missing or malformed file stops the server). */
  async preload(): Promise<void> {
    for (const f of this.#crlFiles) await this.#load(`file:${f}`, () => readFile(f));
  }

  async check(cert: ParsedCertificate, issuer: ParsedCertificate): Promise<RevocationStatus> {
    const notes: string[] = [];
    for (const f of this.#crlFiles) {
      const r = await this.#fromCrl(`file:${f}`, () => readFile(f), cert, issuer, notes);
      if (r !== undefined) return r;
    }
    if (this.#cfg.ocsp) {
      for (const url of cert.ocspUrls.filter((u) => /^https?:\/\//i.test(u)).slice(0, 2)) {
        const r = await this.#fromOcsp(url, cert, issuer, notes);
        if (r !== undefined) return r;
      }
    }
    if (this.#cfg.fetchCdp) {
      for (const url of cert.crlDistributionPoints.slice(0, 4)) {
        const loader = this.#cdpLoader(url);
        if (loader === undefined) {
          notes.push(`${url.slice(0, 100)}: scheme not fetched`);
          continue;
        }
        const r = await this.#fromCrl(url, loader, cert, issuer, notes);
        if (r !== undefined) return r;
      }
    }
    return {
      status: 'unknown',
      detail: notes.length === 0 ? 'no CRL or OCSP source for this certificate' : notes.join('; '),
    };
  }

  #cdpLoader(url: string): (() => Promise<Buffer>) | undefined {
    if (/^https?:\/\//i.test(url))
      return () =>
        this.#fetch(url, {
          timeoutMs: this.#cfg.timeoutMs,
          maxBytes: this.#cfg.maxCrlBytes,
          accept: 'application/pkix-crl',
        });
    if (/^ldap:/i.test(url)) {
      const dn = ldapCdpDn(url);
      const read = this.#ldapCrl;
      if (dn === undefined || read === undefined) return undefined;
      return async () => {
        const crl = await read(dn);
        if (crl === undefined) throw new Error('no certificateRevocationList at that entry');
        return crl;
      };
    }
    if (/^file:/i.test(url)) {
      let path: string;
      try {
        path = fileURLToPath(url);
      } catch {
        return undefined;
      }
      // Only inside a configured folder: a certificate must not make fedgate read arbitrary files.
      const inside = this.#fileRoots.some((root) => {
        const rel = relative(root, path);
        return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
      });
      return inside ? () => readFile(path) : undefined;
    }
    return undefined;
  }

  async #load(source: string, loader: () => Promise<Buffer>): Promise<CachedCrl> {
    const now = this.#clock.now().getTime();
    const cached = this.#crls.get(source);
    if (cached !== undefined && cached.until > now) return cached;
    let p = this.#inflight.get(source);
    if (p === undefined) {
      p = (async () => {
        const data = await loader();
        if (data.length > this.#cfg.maxCrlBytes) throw new Error('CRL too large');
        const crl = parseCrl(data);
        const entry: CachedCrl = {
          crl,
          // Cached until nextUpdate (C6.6); a CRL without nextUpdate is re-read every time.
          until: crl.nextUpdate?.getTime() ?? 0,
          verifiedFor: new Set(),
        };
        this.#crls.set(source, entry);
        return entry;
      })().finally(() => this.#inflight.delete(source));
      this.#inflight.set(source, p);
    }
    return p;
  }

  async #fromCrl(
    source: string,
    loader: () => Promise<Buffer>,
    cert: ParsedCertificate,
    issuer: ParsedCertificate,
    notes: string[],
  ): Promise<RevocationStatus | undefined> {
    let entry: CachedCrl;
    try {
      entry = await this.#load(source, loader);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      notes.push(`${source.slice(0, 120)}: ${detail}`);
      this.#log.warn({ source: source.slice(0, 200), detail }, 'CRL could not be loaded');
      return undefined;
    }
    const { crl } = entry;
    if (!entry.verifiedFor.has(issuer.sha256)) {
      const problem = crlProblem(crl, cert, issuer);
      if (problem !== undefined) {
        // A configured file for another CA is normal; anything else is worth a note.
        if (problem !== 'CRL is from another issuer')
          notes.push(`${source.slice(0, 120)}: ${problem}`);
        return undefined;
      }
      entry.verifiedFor.add(issuer.sha256);
    } else if (
      (crl.onlyUserCerts && cert.basicConstraints?.ca === true) ||
      (crl.onlyCaCerts && cert.basicConstraints?.ca !== true)
    ) {
      return undefined;
    }
    const now = this.#clock.now().getTime();
    const skew = this.#cfg.clockSkewSeconds * 1000;
    if (crl.nextUpdate === undefined) {
      notes.push(`${source.slice(0, 120)}: CRL has no nextUpdate`);
      return undefined;
    }
    if (crl.nextUpdate.getTime() + skew < now) {
      notes.push(
        `${source.slice(0, 120)}: CRL is stale (nextUpdate ${crl.nextUpdate.toISOString()})`,
      );
      return undefined;
    }
    if (crl.thisUpdate.getTime() - skew > now) {
      notes.push(`${source.slice(0, 120)}: CRL thisUpdate is in the future`);
      return undefined;
    }
    const hit = crl.revoked.get(normaliseSerial(cert.serial));
    // removeFromCRL (8) appears only in delta CRLs, which are refused above; certificateHold (6) is revoked for now.
    if (hit !== undefined && hit.reason !== 8)
      return {
        status: 'revoked',
        source: `crl:${source}`,
        revokedAt: hit.date,
        reason: hit.reason,
      };
    return { status: 'good', source: `crl:${source}` };
  }

  async #fromOcsp(
    url: string,
    cert: ParsedCertificate,
    issuer: ParsedCertificate,
    notes: string[],
  ): Promise<RevocationStatus | undefined> {
    const id = certIdFor(cert, issuer);
    const key = `${id.issuerKeyHash.toString('hex')}:${normaliseSerial(id.serial)}`;
    const now = this.#clock.now().getTime();
    const cached = this.#ocsp.get(key);
    let status: OcspStatus | undefined =
      cached !== undefined && cached.until > now ? cached.status : undefined;
    if (status === undefined) {
      const nonce = randomBytes(16);
      try {
        const body = await this.#fetch(url, {
          method: 'POST',
          body: buildOcspRequest(id, nonce),
          contentType: 'application/ocsp-request',
          accept: 'application/ocsp-response',
          timeoutMs: this.#cfg.timeoutMs,
          maxBytes: OCSP_MAX_BYTES,
        });
        status = readOcspResponse(body, cert, issuer, {
          now: this.#clock.now(),
          skewMs: this.#cfg.clockSkewSeconds * 1000,
          maxAgeMs: this.#cfg.ocspMaxAgeSeconds * 1000,
          nonce,
        });
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        notes.push(`ocsp ${url.slice(0, 120)}: ${detail}`);
        this.#log.warn({ url: url.slice(0, 200), detail }, 'OCSP check failed');
        return undefined;
      }
      const maxUntil = now + this.#cfg.ocspMaxAgeSeconds * 1000;
      this.#ocsp.set(key, {
        status,
        until: Math.min(status.nextUpdate?.getTime() ?? maxUntil, maxUntil),
      });
    }
    if (status.status === 'good') return { status: 'good', source: `ocsp:${url}` };
    if (status.status === 'revoked')
      return {
        status: 'revoked',
        source: `ocsp:${url}`,
        revokedAt: status.revokedAt,
        reason: status.reason,
      };
    notes.push(`ocsp ${url.slice(0, 120)}: responder does not know the certificate`);
    return undefined;
  }
}

/** Where AD CS publishes CRLs: below CN=CDP,CN=Public Key Services,CN=Services,CN=Configuration,<forest>. */
const CDP_CONTAINER =
  /,CN=CDP,CN=Public Key Services,CN=Services,CN=Configuration,(DC=[^,=]+,)*DC=[^,=]+$/i;

/**
 * The entry DN of an ldap: CDP URL as AD CS writes it (`ldap:///<DN>?certificateRevocationList?base?
 * objectClass=cRLDistributionPoint`, RFC 4516), or undefined when it names a host, another attribute or scope, or
 * an entry outside the Public Key Services CDP container.
 */
export function ldapCdpDn(url: string): string | undefined {
  const m = /^ldap:\/\/\/([^?]+)\?([^?]*)(?:\?([^?]*)(?:\?([^?]*))?)?$/i.exec(url);
  if (m === null) return undefined;
  let dn: string;
  try {
    dn = decodeURIComponent(m[1] ?? '');
  } catch {
    return undefined;
  }
  const attribute = (m[2] ?? '').toLowerCase().replace(/;binary$/, '');
  const scope = (m[3] ?? '').toLowerCase();
  if (attribute !== 'certificaterevocationlist') return undefined;
  if (scope !== '' && scope !== 'base') return undefined;
  // eslint-disable-next-line no-control-regex -- a CDP DN with control characters is refused, so the regex names them
  if (dn.length > 512 || /[\u0000-\u001f]/.test(dn) || !CDP_CONTAINER.test(dn)) return undefined;
  return dn;
}
