/**
 * The pages oidc-provider asks its host for, drawn with fedgate's views: the device-code entry and confirmation
 * (RFC 8628 §3.3), and sign-out (/adfs/oauth2/logout), which is the one session's sign-out that WS-Fed and SAML
 * share: fedgate's SSO session ends and its parties are cleaned up on the signed-out page, which then confirms
 * oidc-provider's own logout (its xsrf form) and so returns to the registered post_logout_redirect_uri.
 */
import type { Request, Response } from 'express';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { clearCookie, readCookie, SSO_COOKIE } from '../../http/cookies.ts';
import { Msg } from '../../i18n/msg.ts';
import * as audit from '../../observability/audit.ts';
import type { Services } from '../../services.ts';
import { cleanupUrls, signedOutPage, type SignOutNext } from '../browser/signed-out-page.ts';

/** Express's own request and response objects: oidc-provider runs on the same node objects (mount.ts). */
function expressOf(ctx: KoaContextWithOIDC): { req: Request; res: Response } {
  return { req: ctx.req as unknown as Request, res: ctx.res as unknown as Response };
}

/** The action and hidden fields of a form oidc-provider wrote (its own markup: one form, hidden inputs). */
export function formFields(form: string): {
  action: string;
  fields: { name: string; value: string }[];
} {
  const action = /action="([^"]*)"/.exec(form)?.[1] ?? '';
  const fields: { name: string; value: string }[] = [];
  for (const m of form.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g))
    fields.push({ name: m[1] ?? '', value: m[2] ?? '' });
  return {
    action: decodeHtml(action),
    fields: fields.map((f) => ({ ...f, value: decodeHtml(f.value) })),
  };
}

function decodeHtml(v: string): string {
  return v
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Ends fedgate's SSO session of this browser; the cleanup URLs of its parties (WS-Fed and OAuth clients). */
export async function endBrowserSession(
  s: Services,
  req: Request,
  res: Response,
): Promise<string[]> {
  const ended = await s.sessions.destroy(readCookie(req, SSO_COOKIE));
  clearCookie(res, SSO_COOKIE);
  if (ended === undefined) return [];
  const parts = await s.participants.take(ended);
  audit.signedOut(s.audit, {
    objectGuid: ended.objectGuid,
    rps: parts.map((p) => p.rp),
    activityId: res.locals.activityId,
  });
  return cleanupUrls(s, parts);
}

/**
 * Answers through Koa (never express's res.send): oidc-provider still writes its session cookie after the page is
 * drawn, which it cannot do once the response has gone.
 */
function answer(ctx: KoaContextWithOIDC, html: string, csp?: string): void {
  if (csp !== undefined) ctx.set('Content-Security-Policy', csp);
  ctx.set('Cache-Control', 'no-store');
  ctx.type = 'html';
  ctx.body = html;
}

function signedOut(
  s: Services,
  ctx: KoaContextWithOIDC,
  o: { cleanup: readonly string[]; next?: SignOutNext | undefined; then?: string | undefined },
): void {
  const page = signedOutPage(s, expressOf(ctx).res, o);
  answer(ctx, page.html, page.csp);
}

export function logoutPage(s: Services): {
  logoutSource: (ctx: KoaContextWithOIDC, form: string) => Promise<void>;
  postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => void;
} {
  return {
    logoutSource: async (ctx, form) => {
      const { req, res } = expressOf(ctx);
      const cleanup = await endBrowserSession(s, req, res);
      const { action, fields } = formFields(form);
      // oidc-provider has matched post_logout_redirect_uri against the client's registered ones before this page.
      const then = ctx.oidc.params?.['post_logout_redirect_uri'];
      signedOut(s, ctx, {
        cleanup,
        next: { kind: 'post', action, fields: [...fields, { name: 'logout', value: 'yes' }] },
        then: typeof then === 'string' && then !== '' ? then : undefined,
      });
    },
    postLogoutSuccessSource: (ctx) => {
      signedOut(s, ctx, { cleanup: [] });
    },
  };
}

function sendDevicePage(s: Services, ctx: KoaContextWithOIDC, data: Record<string, unknown>): void {
  answer(ctx, s.views.page(expressOf(ctx).res, 'device', data));
}

export function devicePages(s: Services): {
  userCodeInputSource: (
    ctx: KoaContextWithOIDC,
    form: string,
    out?: { error?: string; error_description?: string },
    err?: unknown,
  ) => void;
  userCodeConfirmSource: (
    ctx: KoaContextWithOIDC,
    form: string,
    client: { clientId: string; clientName?: string | undefined },
    deviceInfo: unknown,
    userCode: string,
  ) => void;
  successSource: (ctx: KoaContextWithOIDC) => void;
} {
  return {
    userCodeInputSource: (ctx, form, out) => {
      const { action, fields } = formFields(form);
      sendDevicePage(s, ctx, {
        input: { action, fields },
        error: out?.error === undefined ? undefined : new Msg('msg.deviceCodeInvalid'),
      });
    },
    userCodeConfirmSource: (ctx, form, client, _deviceInfo, userCode) => {
      const { action, fields } = formFields(form);
      const app = s.applications.client(client.clientId);
      sendDevicePage(s, ctx, {
        confirm: { action, fields, userCode, application: app?.name ?? client.clientId },
      });
    },
    successSource: (ctx) => {
      sendDevicePage(s, ctx, { done: true });
    },
  };
}
