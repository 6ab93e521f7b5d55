import express, { type Router } from 'express';
import { ROUTES } from '../../http/routes.ts';
import type { Services } from '../../services.ts';

/**
 * GET ROUTES.metadata, /FederationMetadata/2007-06/FederationMetadata.xml (any letter case, as AD FS serves it). The document is
 * built and signed once at start from configuration, never from the request's Host header (corpus B3.11).
 */
export function metadataRouter(s: Services): Router {
  const router = express.Router({ caseSensitive: false });
  const body = Buffer.from(s.metadataXml, 'utf8');
  router.get(ROUTES.metadata, (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.type('application/samlmetadata+xml').send(body);
  });
  return router;
}
