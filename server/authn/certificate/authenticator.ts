/**
 * The certificate credential step (security-corpus C6), the counterpart of authn/password.ts for passwords:
 * parse → validate (chain to the issuing CAs, dates, usage; validate.ts) → revocation of every certificate below the
 * root (revocation.ts; fail closed unless soft-fail is configured, and then audited) → map to one AD account
 * (mapping.ts, KB5014754 strong mapping) → the account's logon state (disabled, locked, expired), read from the
 * directory because no password bind happens. Every outcome is audited with its precise reason; what the user sees
 * is chosen by the caller from `kind`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { CertificateAuthConfig } from '../../config/schema.ts';
import type { DirectoryProvider, DirectoryUser } from '../../directory/types.ts';
import type { Clock } from '../../lib/clock.ts';
import { FederationError } from '../../lib/errors.ts';
import {
  revocationSoftFail,
  signinCertificateFailed,
  signinCertificateSucceeded,
  type AuditSink,
  type CertificateAttemptFields,
  type CertificateFields,
} from '../../observability/audit.ts';
import { certificateContext, type CertificateContext } from './context.ts';
import { parseCrl } from './crl.ts';
import type { Fetcher } from './fetch.ts';
import { mapCertificate, mappingQuery, type MappingMethod } from './mapping.ts';
import { RevocationChecker } from './revocation.ts';
import { TrustStore, ekuOid, validateCertificate, type CertificatePolicy } from './validate.ts';
import {
  CertificateParseError,
  dotnetName,
  parseCertificate,
  parsePemCertificates,
  type ParsedCertificate,
} from './x509.ts';

/** What went wrong, at the granularity the sign-in page distinguishes. */
export type CertificateFailureKind =
  | 'malformed' // not a certificate
  | 'untrusted' // not from an issuing CA, broken chain, unknown critical extension
  | 'expired'
  | 'not_yet_valid'
  | 'not_permitted' // not for sign-in: EKU, key usage, CA certificate, policy, weak key
  | 'revoked'
  | 'revocation_unavailable' // status could not be established and mode is require
  | 'no_account' // no (unambiguous, strong) mapping
  | 'account_unusable' // disabled, locked or expired account
  | 'unavailable'; // the directory did not answer

export type CertificateAuthResult =
  | { ok: true; user: DirectoryUser; certificate: CertificateContext; mapping: MappingMethod }
  | { ok: false; kind: CertificateFailureKind; reason: string; detail: string };

export interface CertificateAttempt {
  source: 'tls' | 'proxy';
  clientIp: string;
  activityId: string;
  relyingParty?: string | undefined;
}

export interface CertificateAuthDeps {
  directory: DirectoryProvider;
  clock: Clock;
  log: Pick<Logger, 'warn' | 'debug' | 'info' | 'error'>;
  audit: AuditSink;
  baseDir: string;
  fetcher?: Fetcher | undefined;
}

function readCertificates(
  files: readonly string[],
  baseDir: string,
  what: string,
): ParsedCertificate[] {
  return files.flatMap((f) => {
    const path = resolve(baseDir, f);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new Error(`certificateAuth.${what}: cannot read ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const certs = parsePemCertificates(text);
    if (certs.length === 0) throw new Error(`certificateAuth.${what}: no certificate in ${path}`);
    return certs;
  });
}

/**
 * Startup checks `fedgate check` runs without starting anything: the CA files read, each issuing CA chains to a
 * configured root, the CRL files parse. One message per problem.
 */
export function checkCertificateFiles(cfg: CertificateAuthConfig, baseDir: string): string[] {
  if (!cfg.enabled) return [];
  const problems: string[] = [];
  try {
    new TrustStore(
      readCertificates(cfg.issuingCAs, baseDir, 'issuingCAs'),
      readCertificates(cfg.caCertificates, baseDir, 'caCertificates'),
    );
  } catch (err) {
    problems.push(
      `certificateAuth: ${(err as Error).message.replace(/^certificateAuth[.:] ?/, '')}`,
    );
  }
  for (const f of cfg.revocation.crlFiles) {
    const path = resolve(baseDir, f);
    try {
      parseCrl(readFileSync(path));
    } catch (err) {
      problems.push(`certificateAuth.revocation.crlFiles: ${path}: ${(err as Error).message}`);
    }
  }
  return problems;
}

export class CertificateAuthenticator {
  readonly #cfg: CertificateAuthConfig;
  readonly #deps: CertificateAuthDeps;
  readonly #trust: TrustStore;
  readonly #policy: CertificatePolicy;
  readonly revocation: RevocationChecker;

  private constructor(cfg: CertificateAuthConfig, deps: CertificateAuthDeps, trust: TrustStore) {
    this.#cfg = cfg;
    this.#deps = deps;
    this.#trust = trust;
    this.#policy = {
      allowedEkus: cfg.allowedEkus.map(ekuOid),
      allowNoEku: cfg.allowNoEku,
      requiredPolicies: cfg.requiredPolicies,
      minRsaBits: cfg.minRsaBits,
    };
    this.revocation = new RevocationChecker(cfg.revocation, {
      clock: deps.clock,
      log: deps.log,
      baseDir: deps.baseDir,
      fetcher: deps.fetcher,
      ldapCrl:
        deps.directory.readCrl === undefined
          ? undefined
          : (dn: string) => deps.directory.readCrl?.(dn) ?? Promise.resolve(undefined),
    });
  }

  /** Loads the CA files and CRL files; throws (stopping startup) on anything missing or inconsistent. */
  static async load(
    cfg: CertificateAuthConfig,
    deps: CertificateAuthDeps,
  ): Promise<CertificateAuthenticator> {
    const issuing = readCertificates(cfg.issuingCAs, deps.baseDir, 'issuingCAs');
    const others = readCertificates(cfg.caCertificates, deps.baseDir, 'caCertificates');
    let trust: TrustStore;
    try {
      trust = new TrustStore(issuing, others);
    } catch (err) {
      throw new Error(`certificateAuth: ${(err as Error).message}`, { cause: err });
    }
    const auth = new CertificateAuthenticator(cfg, deps, trust);
    await auth.revocation.preload();
    if (cfg.revocation.mode !== 'require')
      deps.log.warn(
        { mode: cfg.revocation.mode },
        'certificate sign-in: revocation checking is not fail-closed',
      );
    if (cfg.allowWeakUpnMapping)
      deps.log.warn('certificate sign-in: weak UPN mapping is allowed (KB5014754 calls it weak)');
    return auth;
  }

  /** Every CA certificate of the trust store (issuing CAs and their issuers), for the expiry gauges. */
  get caCertificates(): readonly ParsedCertificate[] {
    return this.#trust.all;
  }

  /** The issuing CAs, for the TLS CertificateRequest's list of acceptable issuers. */
  get issuingCertificates(): readonly ParsedCertificate[] {
    return this.#trust.issuing;
  }

  async authenticate(der: Buffer, attempt: CertificateAttempt): Promise<CertificateAuthResult> {
    const { audit, clock, directory } = this.#deps;
    const base: CertificateAttemptFields = {
      method: 'certificate',
      source: attempt.source,
      ip: attempt.clientIp,
      activityId: attempt.activityId,
      rp: attempt.relyingParty,
    };
    let cert: ParsedCertificate | undefined;
    const failure = (
      kind: CertificateFailureKind,
      reason: string,
      detail: string,
    ): CertificateAuthResult => {
      signinCertificateFailed(audit, {
        ...base,
        outcome: 'failure',
        kind,
        reason,
        detail,
        ...(cert === undefined ? {} : certificateFields(cert)),
      });
      return { ok: false, kind, reason, detail };
    };

    try {
      cert = parseCertificate(der);
    } catch (err) {
      return failure(
        'malformed',
        'malformed',
        err instanceof CertificateParseError ? err.message : 'unreadable certificate',
      );
    }
    const now = clock.now();
    const v = validateCertificate(cert, this.#trust, this.#policy, now);
    if (!v.ok) {
      const kind: CertificateFailureKind =
        v.reason === 'expired' || v.reason === 'not_yet_valid' || v.reason === 'malformed'
          ? v.reason
          : v.reason === 'untrusted_issuer' ||
              v.reason === 'chain_invalid' ||
              v.reason === 'unsupported_critical_extension'
            ? 'untrusted'
            : 'not_permitted';
      return failure(kind, v.reason, v.detail);
    }

    // Revocation of every certificate below the root (the user's only, when checkChain is off).
    if (this.#cfg.revocation.mode !== 'off') {
      const last = this.#cfg.revocation.checkChain ? v.chain.length - 1 : 1;
      const unknown: string[] = [];
      for (let i = 0; i < last; i++) {
        const subject = v.chain[i] as ParsedCertificate;
        const issuer = v.chain[i + 1] as ParsedCertificate;
        const r = await this.revocation.check(subject, issuer);
        const which = i === 0 ? 'certificate' : `CA ${subject.thumbprintSha1}`;
        if (r.status === 'revoked')
          return failure(
            'revoked',
            'revoked',
            `${which} revoked ${r.revokedAt.toISOString()} (reason ${r.reason ?? 'unspecified'}, ${r.source})`,
          );
        if (r.status === 'unknown') unknown.push(`${which}: ${r.detail}`);
      }
      if (unknown.length > 0) {
        if (this.#cfg.revocation.mode === 'require')
          return failure('revocation_unavailable', 'revocation_unknown', unknown.join(' | '));
        revocationSoftFail(audit, {
          ...base,
          detail: unknown.join(' | '),
          ...certificateFields(cert),
        });
      }
    }

    let accounts;
    try {
      accounts = await directory.findByCertificate(mappingQuery(cert));
    } catch (err) {
      if (err instanceof FederationError && err.code === 'directory_unavailable')
        return failure('unavailable', 'directory_unavailable', err.detail ?? err.message);
      return failure('no_account', 'ambiguous', err instanceof Error ? err.message : String(err));
    }
    const mapped = mapCertificate(cert, accounts, {
      allowWeakUpnMapping: this.#cfg.allowWeakUpnMapping,
    });
    if (!mapped.ok) return failure('no_account', mapped.reason, mapped.detail);
    const { user, state } = mapped.account;
    const accountFields = {
      objectGuid: user.objectGuid.toString('base64'),
      upn: user.userPrincipalName,
      mapping: mapped.method,
    };
    // Since no bind happens, AD's logon checks are repeated here (C6.8).
    const unusable = state.disabled
      ? 'account_disabled'
      : state.locked
        ? 'account_locked'
        : state.expired
          ? 'account_expired'
          : undefined;
    if (unusable !== undefined) {
      signinCertificateFailed(audit, {
        ...base,
        outcome: 'failure',
        kind: 'account_unusable',
        reason: unusable,
        ...accountFields,
        ...certificateFields(cert),
      });
      return { ok: false, kind: 'account_unusable', reason: unusable, detail: unusable };
    }
    const context = certificateContext(cert, attempt.source, mapped.method);
    // A UPN-only mapping is written at warn (KB5014754 calls it weak).
    signinCertificateSucceeded(audit, {
      ...base,
      outcome: 'success',
      ...accountFields,
      weakMapping: mapped.method === 'upn' ? true : undefined,
      ...certificateFields(cert),
    });
    return { ok: true, user, certificate: context, mapping: mapped.method };
  }
}

/** What the audit line says about a certificate (public facts only). */
export function certificateFields(c: ParsedCertificate): CertificateFields {
  return {
    thumbprint: c.thumbprintSha1,
    serialNumber: c.serialHex,
    certIssuer: dotnetName(c.issuer).slice(0, 512),
    certSubject: dotnetName(c.subject).slice(0, 512),
  };
}
