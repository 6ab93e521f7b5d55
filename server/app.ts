import express, { type Express } from 'express';
import { errorRenderer, notFound } from './http/errors.ts';
import { drainConnections, healthRouter } from './http/health.ts';
import { languageRouter } from './http/language.ts';
import { themeAssetsRouter } from './http/theme-assets.ts';
import { requestLog } from './http/request-log.ts';
import { requestTiming } from './observability/request-timing.ts';
import { activityId, securityHeaders, urlGuard } from './http/middleware.ts';
import { ROUTES } from './http/routes.ts';
import { certificateLegRouter, certificateReturnRouter } from './protocols/browser/certificate.ts';
import { updatePasswordRouter } from './protocols/browser/password-update.ts';
import { portalAvailable, portalRouter } from './protocols/browser/portal.ts';
import { passiveRouter } from './protocols/browser/router.ts';
import { metadataRouter } from './protocols/metadata/routes.ts';
import { testRelyingPartyRouter } from './protocols/wsfed/test-rp.ts';
import { wstrustRouter } from './protocols/wstrust/router.ts';
import { oidcRouter } from './protocols/oidc/mount.ts';
import type { Services } from './services.ts';

/** What every listener's app starts with: proxy trust, timing, activity id, security headers, URL guard. */
function baseApp(s: Services): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  // X-Forwarded-* are believed only from configured load balancers (corpus B4.6, C1.5).
  app.set(
    'trust proxy',
    s.config.listen.trustedProxies.length > 0 ? [...s.config.listen.trustedProxies] : false,
  );
  app.use(requestTiming);
  app.use(activityId(s.random));
  app.use(requestLog(s));
  app.use(...securityHeaders());
  app.use(urlGuard);
  return app;
}

/** The express app. It never listens: main.ts does, and tests drive it with supertest. */
export function createApp(s: Services): Express {
  const app = baseApp(s);

  // Load-balancer probe (/adfs/probe, AD FS compatible: no back-end dependency, 503 while draining) and, when no
  // management listener is configured, /healthz/live and /healthz/ready (http/health.ts).
  app.use(drainConnections(s.lifecycle));
  app.use(
    healthRouter(
      {
        lifecycle: s.lifecycle,
        store: s.store,
        directory: s.directory,
        keysLoaded: () => s.keys.ready(),
      },
      { healthz: s.config.management.port === undefined },
    ),
  );
  app.use(metadataRouter(s));
  app.use(ROUTES.theme, themeAssetsRouter(s.themes, s.views.themeDir));
  // The one browser sign-in pipeline (protocols/browser/): SAML 2.0 and WS-Fed on /adfs/ls/.
  if (s.certificates !== undefined) {
    // The browser's return from the certificate route; behind a TLS-terminating load balancer also the certificate
    // route itself (certificate from the proxy's header, trusted proxies only).
    app.use(ROUTES.certificate, certificateReturnRouter(s));
    if (s.config.certificateAuth.proxy !== undefined)
      app.use(ROUTES.certificate, certificateLegRouter(s, 'proxy'));
  }
  app.use(ROUTES.language, languageRouter(s.views));
  app.use(ROUTES.passive, passiveRouter(s));
  app.use(ROUTES.updatePassword, updatePasswordRouter(s));
  // The self-service security-info page (issue 16): only where users can keep a factor of their own.
  if (portalAvailable(s)) app.use(ROUTES.portal, portalRouter(s));
  app.use(wstrustRouter(s)); // ROUTES.wstrust2005, ROUTES.wstrust13, ROUTES.mex (each switchable in config)
  if (s.config.testRelyingParty) app.use(testRelyingPartyRouter(s));
  // OpenID Connect and OAuth 2.0 on AD FS's paths (issue 19): oidc-provider, its sign-in through the pipeline.
  if (s.config.oauth.enabled) app.use(oidcRouter(s));

  app.use(notFound);
  app.use(errorRenderer({ views: s.views, log: s.log, clock: s.clock }));
  return app;
}

/**
 * The app of the certificate listener (port 49443 / certauth host): only the certificate route, its error pages
 * and the theme. It never issues tokens; it sends the browser back to the main host.
 */
export function createCertificateApp(s: Services): Express {
  const app = baseApp(s);
  app.use(drainConnections(s.lifecycle));
  app.use(ROUTES.theme, themeAssetsRouter(s.themes, s.views.themeDir));
  app.use(ROUTES.certificate, certificateLegRouter(s, 'tls'));
  app.use(notFound);
  app.use(errorRenderer({ views: s.views, log: s.log, clock: s.clock }));
  return app;
}
