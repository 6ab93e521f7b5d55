/**
 * The signed-out page, where one session's sign-out ends (issue 5 §5: one session, one sign-out). The session's
 * WS-Fed parties are loaded there with `wa=wsignoutcleanup1.0` (MS-MWBF §2.2.6, §3.1.5.4.6: the IdP asks each RP to
 * clear its session; no answer is defined). As AD FS does, each cleanup is an `<img>` (no iframes: the page stays
 * `frame-src 'none'`), and that response alone gets a CSP whose `img-src` adds exactly those parties' origins.
 *
 * When the sign-out must continue elsewhere (a SAML LogoutResponse to the SP that started it, or a registered
 * `wreply`), the page waits for the images (load or error, at most a few seconds) and then continues with a
 * nonce'd script; without script a Continue button / link does it.
 */
import { randomBytes } from 'node:crypto';
import type { Response } from 'express';
import type { Participant } from '../../authn/participants.ts';
import type { Services } from '../../services.ts';
import { matchReplyUrl } from '../../trust/registry.ts';

/** At most this many cleanup images on one page (a session rarely holds more than a handful of parties). */
const MAX_CLEANUP = 20;

/**
 * The cleanup URLs of a session's WS-Fed parties. Each reply address is matched against its trust again (a trust
 * removed, or a reply URL unregistered since, gets nothing: nothing is ever sent to an address that is not
 * registered now).
 */
export function wsfedCleanupUrls(s: Services, participants: readonly Participant[]): string[] {
  const out: string[] = [];
  for (const p of participants) {
    if (p.protocol !== 'wsfed') continue;
    const rp = s.trusts.find(p.rp);
    const reply = rp === undefined ? undefined : matchReplyUrl(rp, p.reply);
    if (reply === undefined) continue;
    const u = new URL(reply);
    u.searchParams.set('wa', 'wsignoutcleanup1.0');
    if (!out.includes(u.href)) out.push(u.href);
  }
  return out.slice(-MAX_CLEANUP);
}

/**
 * The session's OAuth clients that registered a LogoutUri (AD FS front-channel sign-out): loaded like the WS-Fed
 * cleanups, with `iss` (OpenID Connect Front-Channel Logout §2). A client removed since gets nothing.
 */
export function oidcCleanupUrls(s: Services, participants: readonly Participant[]): string[] {
  const out: string[] = [];
  for (const p of participants) {
    if (p.protocol !== 'oidc') continue;
    const logoutUri = s.applications.client(p.rp)?.logoutUri;
    if (logoutUri === undefined) continue;
    const u = new URL(logoutUri);
    // No sid: oidc-provider's session id is not known where the session's parties are recorded.
    u.searchParams.set('iss', `${s.config.publicUrl}/adfs`);
    if (!out.includes(u.href)) out.push(u.href);
  }
  return out.slice(-MAX_CLEANUP);
}

/** Every party of an ended session that is told by a page load: WS-Fed cleanups, then OAuth clients' LogoutUri. */
export function cleanupUrls(s: Services, participants: readonly Participant[]): string[] {
  return [...wsfedCleanupUrls(s, participants), ...oidcCleanupUrls(s, participants)].slice(
    -MAX_CLEANUP,
  );
}

/** Where the browser goes after the cleanup images: a plain GET, or a form POST (SAML HTTP-POST binding). */
export type SignOutNext =
  | { kind: 'redirect'; url: string }
  | { kind: 'post'; action: string; fields: { name: string; value: string }[] };

/**
 * The signed-out page with one cleanup image per WS-Fed party. With `next`, the page continues there once the
 * images are done. Without cleanup and with `next`, the caller should send `next` directly instead.
 */
export function sendSignedOut(
  s: Services,
  res: Response,
  o: { cleanup: readonly string[]; next?: SignOutNext | undefined },
): void {
  const page = signedOutPage(s, res, o);
  if (page.csp !== undefined) res.setHeader('Content-Security-Policy', page.csp);
  res.status(200).type('html').send(page.html);
}

/**
 * The signed-out page and its Content-Security-Policy (undefined: the default page policy stands), for a caller that
 * sends the response itself (oidc-provider's logout page, protocols/oidc/pages.ts).
 */
export function signedOutPage(
  s: Services,
  res: Response,
  o: {
    cleanup: readonly string[];
    next?: SignOutNext | undefined;
    /**
     * Where the posted `next` may redirect on to (OAuth: the registered post_logout_redirect_uri): form-action also
     * governs the redirects that follow a form submission.
     */
    then?: string | undefined;
  },
): { html: string; csp?: string | undefined } {
  const origins = [...new Set(o.cleanup.map((u) => new URL(u).origin))];
  const nonce = randomBytes(16).toString('base64');
  const formAction =
    o.next?.kind === 'post'
      ? [new URL(o.next.action).origin, ...(o.then === undefined ? [] : [cspSource(o.then)])].join(
          ' ',
        )
      : "'self'";
  // Nothing to load and nowhere to go: the default page policy (middleware.ts BASE_CSP) stands.
  const csp =
    origins.length > 0 || o.next !== undefined
      ? "default-src 'none'; style-src 'self'; " +
        `img-src 'self' data:${origins.map((x) => ` ${x}`).join('')}; ` +
        // 'self': the page script every page loads (views/theme/signin.js); the nonce: the continuation below.
        `script-src 'self'${o.next === undefined ? '' : ` 'nonce-${nonce}'`}; ` +
        `form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`
      : undefined;
  const html = s.views.page(res, 'signed-out', {
    cleanup: o.cleanup,
    nextPost: o.next?.kind === 'post' ? o.next : undefined,
    nextUrl: o.next?.kind === 'redirect' ? o.next.url : undefined,
    nonce: o.next === undefined ? undefined : nonce,
  });
  return { html, csp };
}

/**
 * A URI as a CSP source expression: its origin for http(s), its scheme for an app's private-use scheme
 * (`com.contoso.app:`, `ms-app:`), whose URLs have no origin.
 */
export function cspSource(uri: string): string {
  const u = new URL(uri);
  return u.protocol === 'https:' || u.protocol === 'http:' ? u.origin : u.protocol;
}
