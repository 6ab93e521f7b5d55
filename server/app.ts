import express, { type Express } from 'express';
import { errorRenderer, notFound } from './http/errors.ts';
import { activityId, securityHeaders, urlGuard } from './http/middleware.ts';
import { metadataRouter } from './protocols/metadata/routes.ts';
import { wsfedRouter } from './protocols/wsfed/passive.ts';
import { testRelyingPartyRouter } from './protocols/wsfed/test-rp.ts';
import type { Services } from './services.ts';

/** Named routes (the names appear in logs and metrics). */
export const ROUTES = {
  passive: '/adfs/ls',
  probe: '/adfs/probe',
  metadata: '/FederationMetadata/2007-06/FederationMetadata.xml',
  theme: '/adfs/portal/theme',
} as const;

/** The express app. It never listens: main.ts does, and tests drive it with supertest. */
export function createApp(s: Services): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  // X-Forwarded-* are believed only from configured load balancers (corpus B4.6, C1.5).
  app.set(
    'trust proxy',
    s.config.listen.trustedProxies.length > 0 ? [...s.config.listen.trustedProxies] : false,
  );

  app.use(activityId(s.random));
  app.use(...securityHeaders());
  app.use(urlGuard);

  // Load-balancer probe: answers locally with no back-end dependency, like AD FS's /adfs/probe.
  app.get(ROUTES.probe, (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.type('text/plain').send('OK');
  });
  app.use(metadataRouter(s));
  app.use(
    ROUTES.theme,
    express.static(s.views.themeDir, {
      fallthrough: true,
      index: false,
      dotfiles: 'deny',
      maxAge: '1h',
    }),
  );
  app.use(ROUTES.passive, wsfedRouter(s));
  if (s.config.testRelyingParty) app.use(testRelyingPartyRouter(s));

  app.use(notFound);
  app.use(errorRenderer({ views: s.views, log: s.log, clock: s.clock }));
  return app;
}
