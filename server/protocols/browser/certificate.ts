/**
 * The certificate route (AD FS: https://certauth.<name>/adfs/ls/ or port 49443; entra-protocol.md §5.3). The
 * sign-in page links here with the pending request's handle; this leg gets the client certificate — from the TLS
 * handshake of the certificate listener, or from a trusted load balancer's header — runs the certificate credential
 * step (authn/certificate/authenticator.ts) and sends the browser back to the main host with a one-time result
 * handle, where the return route (below) finishes the sign-in through the rest of the pipeline. This is step 2's
 * certificate branch. Node cannot ask for a certificate per path on TLS 1.3, hence a host or port of its own.
 *
 * Every refusal is an error page with the activity id and a message for the user's situation; the pending request
 * stays, so the user can go back and sign in with a password instead.
 */
import { createHash } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import type { CertificateFailureKind } from '../../authn/certificate/authenticator.ts';
import type { CertificateContext } from '../../authn/certificate/context.ts';
import { AuthMethods } from '../../claims/types.ts';
import { readCookie, SIGNIN_COOKIE } from '../../http/cookies.ts';
import {
  ProxyCertificateReader,
  headerValues,
  headerVariants,
  tlsClientCertificate,
} from '../../http/client-certificate.ts';
import { noStore, param, route } from '../../http/middleware.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import { ROUTES } from '../../http/routes.ts';
import {
  allows,
  countAttempt,
  expired,
  HANDLE,
  loadPending,
  safeEqual,
  type PendingSignIn,
} from './pending.ts';
import { proceed } from './steps.ts';
import * as audit from '../../observability/audit.ts';

/** A certificate sign-in that succeeded on the certificate route, waiting for the browser to come back. */
interface CertificateResult {
  pendingId: string;
  objectGuid: string;
  certificate: CertificateContext;
  authInstant: string;
}

/**
 * Store key of a certificate result. The browser carries the handle; the store keeps only its hash, so someone who
 * can read the store cannot finish another user's sign-in with it (corpus C7.2).
 */
function certificateResultKey(handle: string): string {
  return createHash('sha256').update(handle).digest('base64url');
}

/**
 * The pending sign-in a certificate attempt belongs to, with one attempt counted against it like a password
 * attempt; throws the page's error when it is unknown, expired or used up.
 */
async function pendingForCertificate(
  s: Services,
  pendingId: string | undefined,
): Promise<PendingSignIn> {
  if (pendingId === undefined || !HANDLE.test(pendingId))
    throw new FederationError('bad_request', 'The certificate sign-in link is malformed.');
  const pending = await s.store.find<PendingSignIn>('pendingSignIn', pendingId);
  if (pending === undefined) throw expired();
  if (!allows(pending, 'certificate')) {
    throw new FederationError(
      'bad_request',
      'This application requires signing in with a password.',
      {
        detail: 'certificate sign-in for a request that accepts only password sign-in',
      },
    );
  }
  await countAttempt(s, pendingId);
  return pending;
}

type PageKind = CertificateFailureKind | 'none' | 'proxy_rejected' | 'proxy_unreadable';

const MESSAGES: Record<
  PageKind,
  [code: 'certificate_rejected' | 'certificate_check_unavailable', text: string]
> = {
  proxy_rejected: [
    'certificate_rejected',
    'Your certificate could not be verified. Check that it is valid and issued by your organisation, and try again.',
  ],
  proxy_unreadable: ['certificate_rejected', 'The certificate could not be read.'],
  none: [
    'certificate_rejected',
    'No certificate was presented. Insert your smart card, or choose your certificate when the browser asks, and try again.',
  ],
  malformed: ['certificate_rejected', 'The certificate could not be read.'],
  untrusted: [
    'certificate_rejected',
    'Your certificate was not issued by a certification authority this service trusts for sign-in.',
  ],
  expired: ['certificate_rejected', 'Your certificate has expired.'],
  not_yet_valid: ['certificate_rejected', 'Your certificate is not valid yet.'],
  not_permitted: ['certificate_rejected', 'Your certificate is not meant for signing in.'],
  revoked: ['certificate_rejected', 'Your certificate has been revoked.'],
  revocation_unavailable: [
    'certificate_check_unavailable',
    'The revocation status of your certificate cannot be checked right now. Try again in a few minutes.',
  ],
  // One message for "no account" and "account disabled/locked/expired": the page does not tell account states apart.
  no_account: [
    'certificate_rejected',
    'Your certificate is not linked to an account that can sign in here.',
  ],
  account_unusable: [
    'certificate_rejected',
    'Your certificate is not linked to an account that can sign in here.',
  ],
  unavailable: [
    'certificate_check_unavailable',
    'The sign-in service cannot check your account right now. Try again in a few minutes.',
  ],
};

function refused(kind: PageKind, detail: string): FederationError {
  const [code, text] = MESSAGES[kind];
  return new FederationError(code, text, { detail });
}

/**
 * GET /adfs/ls/certauth?AuthState=… — the certificate leg. `via`: `tls` on the certificate listener (the handshake
 * certificate; a certificate header is never read there), `proxy` on the main listener behind a TLS-terminating
 * load balancer (the configured header, from trusted proxies only).
 */
export function certificateLegRouter(s: Services, via: 'tls' | 'proxy'): Router {
  const router = express.Router({ caseSensitive: false, strict: false });
  const proxyCfg = s.config.certificateAuth.proxy;
  const proxy =
    proxyCfg === undefined
      ? undefined
      : new ProxyCertificateReader(proxyCfg, s.config.listen.trustedProxies);

  function ignoredHeader(req: Request, res: Response, why: string, extra: object = {}): void {
    audit.certificateHeaderIgnored(s.audit, {
      reason: why,
      peer: req.socket.remoteAddress,
      ip: req.ip,
      activityId: res.locals.activityId,
      ...extra,
    });
  }

  async function leg(req: Request, res: Response): Promise<void> {
    const certs = s.certificates;
    if (certs === undefined)
      throw new FederationError('not_found', 'Certificate sign-in is not enabled on this server.');
    const stateId = param(req.query, 'AuthState', 64);
    const pending = await pendingForCertificate(s, stateId);

    let der: Buffer | undefined;
    if (via === 'tls') {
      der = tlsClientCertificate(req);
      // A header sent to the TLS listener is someone else's attempt at C6.1: note it, never read it.
      if (proxy !== undefined && headerValues(req, proxy.header).length > 0)
        ignoredHeader(req, res, 'certificate listener reads the TLS handshake only');
    } else if (proxy !== undefined) {
      const variants = headerVariants(req, proxy.header);
      if (variants.length > 0) ignoredHeader(req, res, 'header name variant', { names: variants });
      const h = proxy.read(req);
      if (h.status === 'untrusted_peer') ignoredHeader(req, res, 'peer is not a trusted proxy');
      else if (h.status === 'refused') {
        audit.signinCertificateProxyRefused(s.audit, {
          method: 'certificate',
          source: via,
          outcome: 'failure',
          kind: h.kind === 'verify' ? 'proxy_rejected' : 'proxy_unreadable',
          reason: h.reason,
          ip: req.ip,
          activityId: res.locals.activityId,
          rp: pending.rp,
        });
        throw refused(h.kind === 'verify' ? 'proxy_rejected' : 'proxy_unreadable', h.reason);
      } else if (h.status === 'ok') der = h.der;
    }
    if (der === undefined) {
      audit.signinCertificateMissing(s.audit, {
        method: 'certificate',
        source: via,
        outcome: 'failure',
        kind: 'no_certificate',
        ip: req.ip,
        activityId: res.locals.activityId,
        rp: pending.rp,
      });
      throw refused('none', 'no client certificate');
    }

    const result = await certs.authenticate(der, {
      source: via,
      clientIp: req.ip ?? '',
      activityId: res.locals.activityId,
      relyingParty: pending.rp,
    });
    if (!result.ok) throw refused(result.kind, `${result.reason}: ${result.detail}`);

    const handle = s.random.token();
    const stored: CertificateResult = {
      pendingId: stateId ?? '',
      objectGuid: result.user.objectGuid.toString('base64'),
      certificate: result.certificate,
      authInstant: s.clock.now().toISOString(),
    };
    await s.store.put('certificateResult', certificateResultKey(handle), stored);
    // Back to the main host (cookies there belong to the browser that started the sign-in).
    res.redirect(
      302,
      `${s.config.publicUrl}${ROUTES.certificateComplete}?${new URLSearchParams({ CertResult: handle }).toString()}`,
    );
  }

  router.get('/', noStore, route(leg));
  return router;
}

/**
 * GET /adfs/ls/certauth/complete?CertResult=… — the browser's return from the certificate route: the result is used
 * once, and only by the browser that started the sign-in (its sign-in cookie must match the pending request's, so a
 * result handle that leaks, or a sign-in started by someone else, completes nothing).
 */
async function completeCertificate(s: Services, req: Request, res: Response): Promise<void> {
  const handle = param(req.query, 'CertResult', 64);
  if (handle === undefined || !HANDLE.test(handle))
    throw new FederationError('bad_request', 'The certificate sign-in result is malformed.');
  const result = await s.store.consume<CertificateResult>(
    'certificateResult',
    certificateResultKey(handle),
  );
  if (result === undefined) throw expired();
  const { pending, rp } = await loadPending(s, result.pendingId);
  const binding = readCookie(req, SIGNIN_COOKIE) ?? '';
  if (!safeEqual(binding, pending.binding)) {
    audit.csrfRejected(s.audit, {
      method: 'certificate',
      ip: req.ip,
      activityId: res.locals.activityId,
      objectGuid: result.objectGuid,
    });
    throw new FederationError(
      'csrf_failed',
      'The sign-in could not be verified. Go back to the application and sign in again.',
    );
  }
  // Re-read: the account must still exist and be enabled when the token is issued.
  const user = await s.directory.findByObjectGuid(Buffer.from(result.objectGuid, 'base64'));
  if (user?.enabled !== true) throw expired();
  await proceed(
    {
      s,
      req,
      res,
      rp,
      request: pending,
      ask: pending.mfaAsk,
      pendingId: result.pendingId,
      user,
      fresh: {
        authMethod: AuthMethods.tlsClient,
        authInstant: new Date(result.authInstant),
        certificate: result.certificate,
        persistent: pending.kmsi === true,
      },
    },
    'additional',
  );
}

/** GET /adfs/ls/certauth/complete — the return leg, on the main host. */
export function certificateReturnRouter(s: Services): Router {
  const router = express.Router({ caseSensitive: false, strict: false });
  router.get(
    ROUTES.certificateComplete.slice(ROUTES.certificate.length),
    noStore,
    route((req, res) => completeCertificate(s, req, res)),
  );
  return router;
}
