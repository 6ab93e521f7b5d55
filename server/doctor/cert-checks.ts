/**
 * `fedgate doctor`: the certificate plumbing checks (issue 21, "Certificates"): the token-signing certificate and
 * the next one, the HTTPS listener's certificate for `hostname`, and (certificate sign-in on) the issuing CAs and
 * the CRL files. Read-only: the key ring is opened with create: false (as `fedgate keys list` does), so a fresh
 * keys.dir stays empty, and nothing is ever written.
 */
import { constants as fsConstants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { crlSignatureProblem, parseCrl, type ParsedCrl } from '../authn/certificate/crl.ts';
import {
  dotnetName,
  parseCertificate,
  parsePemCertificates,
  sameName,
} from '../authn/certificate/x509.ts';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { openRing, ringExists } from '../cli/keys.ts';
import type { SigningCredential } from '../keys/types.ts';
import type { CheckStatus, PlumbingCheck } from './types.ts';

const DAY_MS = 24 * 3600 * 1000;
/**
 * Entra ID reads the federation metadata for the next token-signing certificate from 35 days before the current
 * one expires (Microsoft: "AD FS certificate rollover", AutoCertificateRollover); a next certificate not published
 * by then may reach Entra too late, and sign-ins fail on the day the primary expires.
 */
export const ENTRA_NEXT_CERT_WINDOW_DAYS = 35;

const RANK: Record<CheckStatus, number> = { ok: 0, info: 1, warning: 2, error: 3 };
const worst = (a: CheckStatus, b: CheckStatus): CheckStatus => (RANK[b] > RANK[a] ? b : a);

const daysLeft = (notAfter: Date, now: Date): number =>
  Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
const day = (d: Date): string => d.toISOString().slice(0, 10);
const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function checkCertificates(
  config: Config,
  opts: { clock: Clock; warnDays?: number },
): Promise<PlumbingCheck[]> {
  const warnDays = opts.warnDays ?? 30;
  return [
    ...(await signingChecks(config, opts.clock)),
    await tlsCheck(config, opts.clock, warnDays),
    ...(config.certificateAuth.enabled ? await certAuthChecks(config, opts.clock, warnDays) : []),
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Token signing

/** Whether the servers roll over themselves (AD FS AutoCertificateRollover), as `fedgate keys list` decides. */
async function autoRollover(
  config: Config,
  managedByAdmin: boolean,
): Promise<{ on: boolean; why: string }> {
  if (managedByAdmin)
    return { on: false, why: 'keys.signing is set: the admin replaces these files' };
  if (!config.keys.rollover.auto) return { on: false, why: 'keys.rollover.auto is false' };
  try {
    await access(config.keys.dir, fsConstants.W_OK);
    return { on: true, why: 'keys.rollover.auto is on' };
  } catch {
    return { on: false, why: `${config.keys.dir} is not writable by this user` };
  }
}

async function signingChecks(config: Config, clock: Clock): Promise<PlumbingCheck[]> {
  const target = config.keys.signing?.cert ?? config.keys.dir;
  const check = (name: string, status: CheckStatus, message: string): PlumbingCheck => ({
    area: 'certificates',
    target,
    check: name,
    status,
    message,
  });
  if (!(await ringExists(config)))
    return [
      check(
        'signing-certificate',
        'info',
        `${config.keys.dir} holds no token-signing key yet: it is generated on first start (fedgate serve)`,
      ),
    ];
  let primary: SigningCredential;
  let next: SigningCredential | undefined;
  let managed: boolean;
  try {
    // create: false: the ring is read as `fedgate keys list` reads it, never generated.
    const { ring } = await openRing(config, { create: false, clock });
    try {
      primary = ring.primary;
      next = ring.snapshot().next?.credential;
      managed = ring.managedByAdmin;
    } finally {
      ring.close();
    }
  } catch (err) {
    return [
      check(
        'signing-certificate',
        'error',
        `the token-signing key ring cannot be read: ${errText(err)}`,
      ),
    ];
  }
  const now = clock.now();
  const auto = await autoRollover(config, managed);
  const left = daysLeft(primary.notAfter, now);
  const out: PlumbingCheck[] = [];
  const who = `the token-signing certificate ${primary.thumbprintSha1}`;
  if (primary.notAfter.getTime() <= now.getTime())
    out.push(
      check(
        'signing-certificate',
        'error',
        `${who} expired on ${day(primary.notAfter)}: Entra ID and relying parties reject every token; run fedgate keys rollover --urgent and update the federation settings (fedgate tenant)`,
      ),
    );
  else if (primary.notBefore.getTime() > now.getTime())
    out.push(
      check(
        'signing-certificate',
        'error',
        `${who} is not valid before ${primary.notBefore.toISOString()}: tokens signed now are rejected (check this host's clock)`,
      ),
    );
  else if (left < ENTRA_NEXT_CERT_WINDOW_DAYS && next === undefined)
    out.push(
      check(
        'signing-certificate',
        'warning',
        `${who} expires in ${left} days (${day(primary.notAfter)}) and no next certificate is published: Entra ID looks for it in the metadata from ${ENTRA_NEXT_CERT_WINDOW_DAYS} days before expiry; run fedgate keys rollover`,
      ),
    );
  else
    out.push(
      check(
        'signing-certificate',
        'ok',
        `${who} is valid until ${day(primary.notAfter)} (${left} days left)`,
      ),
    );

  const rollover = `automatic rollover ${auto.on ? 'on' : 'off'} (${auto.why})`;
  if (next === undefined) {
    // Without automatic rollover nobody publishes the next certificate: inside Entra's window that is a problem.
    const late = !auto.on && left < ENTRA_NEXT_CERT_WINDOW_DAYS;
    out.push(
      check(
        'next-signing-certificate',
        late ? 'warning' : 'info',
        `no next token-signing certificate is published; ${rollover}${auto.on ? `: it is generated ${config.keys.rollover.generationThresholdDays} days before the primary expires` : ': run fedgate keys rollover --if-due from cron'}`,
      ),
    );
  } else {
    const n = `the next token-signing certificate ${next.thumbprintSha1}`;
    const status: CheckStatus =
      next.notAfter.getTime() <= now.getTime()
        ? 'error'
        : next.notAfter.getTime() <= primary.notAfter.getTime()
          ? 'warning'
          : 'ok';
    const what =
      status === 'error'
        ? `${n} expired on ${day(next.notAfter)}: promoting it would break every sign-in; replace it`
        : status === 'warning'
          ? `${n} expires (${day(next.notAfter)}) no later than the primary: it cannot take over`
          : `${n} is published, valid ${day(next.notBefore)} to ${day(next.notAfter)}`;
    out.push(check('next-signing-certificate', status, `${what}; ${rollover}`));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The HTTPS listener

function expiry(
  cert: X509Certificate,
  now: Date,
  warnDays: number,
): { status: CheckStatus; text: string } {
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  const left = daysLeft(notAfter, now);
  if (notAfter.getTime() <= now.getTime())
    return { status: 'error', text: `expired on ${day(notAfter)}` };
  if (notBefore.getTime() > now.getTime())
    return { status: 'error', text: `not valid before ${notBefore.toISOString()}` };
  if (left < warnDays)
    return { status: 'warning', text: `expires in ${left} days (${day(notAfter)})` };
  return { status: 'ok', text: `valid until ${day(notAfter)} (${left} days left)` };
}

/**
 * The PEM certificates of a file, parsed with the reader certificate sign-in uses (authn/certificate/x509.ts), so a
 * file doctor reads is one the server reads; throws with the reason when there is none or one is broken.
 */
async function readPemCertificates(file: string): Promise<X509Certificate[]> {
  const certs = parsePemCertificates(await readFile(file, 'utf8'));
  if (certs.length === 0) throw new Error('no PEM certificate in it');
  return certs.map((c) => c.x509);
}

async function tlsCheck(config: Config, clock: Clock, warnDays: number): Promise<PlumbingCheck> {
  const tls = config.listen.tls;
  const base = { area: 'certificates' as const, check: 'tls-certificate' };
  if (tls === 'off')
    return {
      ...base,
      target: 'listen.tls',
      status: 'info',
      message: `listen.tls is off (plain HTTP): TLS must end at a load balancer in front, whose certificate for ${config.hostname} this check cannot see (use --public-url)`,
    };
  if (tls === 'generate')
    return {
      ...base,
      target: 'listen.tls',
      status: 'warning',
      message: `listen.tls is generate: a self-signed certificate that browsers and Entra ID do not trust; fine only behind a TLS-terminating load balancer, otherwise configure listen.tls.cert and key`,
    };
  const file = isAbsolute(tls.cert) ? tls.cert : resolve(config.baseDir, tls.cert);
  return serverCertificate(file, config.hostname, 'tls-certificate', 'the HTTPS certificate', {
    now: clock.now(),
    warnDays,
  });
}

/** A TLS server certificate file: it parses, names `host` (SAN), and is valid now and for warnDays more. */
async function serverCertificate(
  file: string,
  host: string,
  check: string,
  what: string,
  at: { now: Date; warnDays: number },
): Promise<PlumbingCheck> {
  const base = { area: 'certificates' as const, check, target: file };
  let cert: X509Certificate | undefined;
  try {
    cert = (await readPemCertificates(file))[0];
  } catch (err) {
    return { ...base, status: 'error', message: `${file}: ${errText(err)}` };
  }
  if (cert === undefined) return { ...base, status: 'error', message: `${file}: no certificate` };
  // Browsers match the subject alternative names only (RFC 6125 §6.4.4, CA/B Forum): never the subject CN.
  const named = cert.checkHost(host, { subject: 'never', partialWildcards: false }) !== undefined;
  const exp = expiry(cert, at.now, at.warnDays);
  let status = exp.status;
  const parts: string[] = [];
  if (!named) {
    status = 'error';
    parts.push(
      `does not name ${host} in its subject alternative names (${cert.subjectAltName ?? 'none'}): browsers and clients refuse the connection`,
    );
  } else parts.push(`names ${host}`);
  parts.push(exp.text);
  return {
    ...base,
    status,
    message: `${what} ${cert.fingerprint256.replace(/:/g, '').slice(0, 16)}… ${parts.join('; ')}`,
  };
}

/**
 * The certificate the certificate sign-in route presents, where it differs from the main listener's: a configured
 * certificateAuth.tls (for the SNI host, or else the public URL's host), or, for an SNI host without one, the
 * self-signed certificate fedgate generates (server/main.ts), which browsers warn about before any smartcard prompt.
 */
async function certAuthTlsCheck(
  config: Config,
  at: { now: Date; warnDays: number },
): Promise<PlumbingCheck | undefined> {
  const c = config.certificateAuth;
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(config.baseDir, p));
  if (c.tls !== undefined) {
    const host = c.sniHostname ?? new URL(c.publicUrl).hostname;
    return serverCertificate(
      abs(c.tls.cert),
      host,
      'certificate-auth-tls',
      'the certificate sign-in certificate',
      at,
    );
  }
  if (c.sniHostname !== undefined && c.sniHostname !== config.hostname)
    return {
      area: 'certificates',
      target: 'certificateAuth.tls',
      check: 'certificate-auth-tls',
      status: 'warning',
      message: `certificateAuth.sniHostname ${c.sniHostname} has no certificateAuth.tls: fedgate serves a self-signed certificate for it, and browsers warn before offering the smartcard; configure certificateAuth.tls with a certificate naming ${c.sniHostname}`,
    };
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Certificate sign-in: CAs and CRLs

interface LoadedCa {
  file: string;
  cert: X509Certificate;
}

async function certAuthChecks(
  config: Config,
  clock: Clock,
  warnDays: number,
): Promise<PlumbingCheck[]> {
  const cfg = config.certificateAuth;
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(config.baseDir, p));
  const now = clock.now();
  const out: PlumbingCheck[] = [];
  const routeCertificate = await certAuthTlsCheck(config, { now, warnDays });
  if (routeCertificate !== undefined) out.push(routeCertificate);
  const cas: LoadedCa[] = [];
  const files = [
    ...cfg.issuingCAs.map((f) => ({ f, what: 'issuing CA' })),
    ...cfg.caCertificates.map((f) => ({ f, what: 'CA' })),
  ];
  for (const { f, what } of files) {
    const file = abs(f);
    let certs: X509Certificate[];
    try {
      certs = await readPemCertificates(file);
    } catch (err) {
      out.push({
        area: 'certificates',
        target: file,
        check: 'certificate-auth-ca',
        status: 'error',
        message: `${what} file ${file}: ${errText(err)}: certificate sign-in cannot start`,
      });
      continue;
    }
    for (const cert of certs) {
      cas.push({ file, cert });
      const exp = expiry(cert, now, warnDays);
      let status = exp.status;
      const parts = [exp.text];
      // RFC 5280 §4.2.1.9: only a certificate with basicConstraints cA=TRUE may issue certificates.
      if (!cert.ca) {
        status = 'error';
        parts.unshift('is not a CA certificate (basicConstraints cA is not true)');
      }
      out.push({
        area: 'certificates',
        target: `${file}: ${cert.subject.replace(/\n/g, ', ')}`,
        check: 'certificate-auth-ca',
        status,
        message: `${what} ${cert.subject.replace(/\n/g, ', ')} ${parts.join('; ')}`,
      });
    }
  }

  // The CAs as the sign-in path parses them, so the CRL verdicts below are the ones revocation checking will reach.
  const parsedCas = cas.flatMap((ca) => {
    try {
      return [{ ca, parsed: parseCertificate(Buffer.from(ca.cert.raw)) }];
    } catch {
      return []; // reported above when it does not even read as a certificate
    }
  });
  for (const f of cfg.revocation.crlFiles) {
    const file = abs(f);
    // fedgate's own CRL reader (server/authn/certificate/crl.ts), not another library's: a file doctor calls fine is
    // one the revocation check can use.
    let crl: ParsedCrl;
    try {
      crl = parseCrl(await readFile(file));
    } catch (err) {
      out.push({
        area: 'certificates',
        target: file,
        check: 'crl',
        status: 'error',
        message: `CRL file ${file} cannot be read as a CRL (PEM or DER): ${errText(err)}`,
      });
      continue;
    }
    const issuerName = dotnetName(crl.issuer);
    const next = crl.nextUpdate;
    // A CRL past its nextUpdate is stale (RFC 5280 §5.1.2.5): with revocation mode require, every certificate
    // it covers is refused; with soft-fail, revoked certificates get in.
    let status: CheckStatus;
    let text: string;
    if (crl.unusable !== undefined) {
      status = 'error';
      text = `cannot be used as a full CRL: ${crl.unusable}`;
    } else if (next === undefined) {
      status = 'warning';
      text = 'has no nextUpdate: nobody can tell when it is stale';
    } else if (next.getTime() <= now.getTime()) {
      status = 'error';
      text = `is stale: its nextUpdate ${next.toISOString()} has passed; publish a new CRL`;
    } else if (next.getTime() - now.getTime() < DAY_MS) {
      status = 'warning';
      text = `expires within a day (nextUpdate ${next.toISOString()}); make sure the next one is published`;
    } else {
      status = 'ok';
      text = `is fresh until ${next.toISOString()}`;
    }
    out.push({
      area: 'certificates',
      target: file,
      check: 'crl',
      status,
      message: `CRL of ${issuerName} ${text}`,
    });

    const signer = parsedCas.find(
      ({ parsed }) =>
        sameName(crl.issuer, parsed.subject) &&
        (crl.authorityKeyId === undefined ||
          parsed.subjectKeyId === undefined ||
          crl.authorityKeyId.equals(parsed.subjectKeyId)) &&
        crlSignatureProblem(crl, parsed) === undefined,
    )?.ca;
    out.push({
      area: 'certificates',
      target: file,
      check: 'crl-signature',
      status: signer === undefined ? 'error' : 'ok',
      message:
        signer === undefined
          ? `CRL of ${issuerName} is not signed by any configured CA (issuingCAs, caCertificates) with a key and algorithm fedgate accepts: fedgate ignores it`
          : `CRL signed by ${signer.cert.subject.replace(/\n/g, ', ')} (${signer.file})`,
    });
  }

  const mode = cfg.revocation.mode;
  out.push({
    area: 'certificates',
    target: 'certificateAuth.revocation',
    check: 'revocation-mode',
    status: mode === 'off' ? 'warning' : mode === 'soft-fail' ? 'info' : 'ok',
    message:
      mode === 'off'
        ? 'revocation checking is off: a revoked smartcard or lost certificate still signs in; set certificateAuth.revocation.mode: require'
        : mode === 'soft-fail'
          ? 'revocation checking is soft-fail: a certificate whose status cannot be established is accepted (audited)'
          : 'revocation checking is require (fail closed)',
  });
  return out;
}

/** For other checks (public reachability): the local primary token-signing certificate, read-only. */
export async function localPrimaryCertificate(
  config: Config,
  clock: Clock,
): Promise<SigningCredential | undefined> {
  if (!(await ringExists(config))) return undefined;
  const { ring } = await openRing(config, { create: false, clock });
  try {
    return ring.primary;
  } finally {
    ring.close();
  }
}

/** worst() for callers that fold checks. */
export { worst as worstStatus };
