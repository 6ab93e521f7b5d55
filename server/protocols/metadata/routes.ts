import express, { type Router } from 'express';
import { ROUTES } from '../../http/routes.ts';
import type { Services } from '../../services.ts';

/**
 * GET ROUTES.metadata, /FederationMetadata/2007-06/FederationMetadata.xml (any letter case, as AD FS serves it). The document is
 * built and signed from configuration and the key ring, never from the request's Host header (corpus B3.11).
 */
export function metadataRouter(s: Services): Router {
  const router = express.Router({ caseSensitive: false });
  router.get(ROUTES.metadata, (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=3600');
    // Rebuilt only when the key ring changes (services.ts caches it); read per request so a rollover on any node
    // is served without a restart.
    res.type('application/samlmetadata+xml').send(Buffer.from(s.metadataXml, 'utf8'));
  });
  return router;
}
