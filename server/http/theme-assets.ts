/**
 * The theme's files (issue 17): served under content-hashed names (`<16 hex of SHA-256>.<ext>`, from
 * server/branding), so they are cached for a year and never go stale: a changed logo or stylesheet gets a new name,
 * and pages name the new one at once. The page scripts (views/theme: signin.js, webauthn.js) keep their names and
 * a short cache life.
 */
import express, { type Router } from 'express';
import type { ThemeRegistry } from '../branding/registry.ts';

const HASHED = /^\/([0-9a-f]{16}\.[a-z0-9]{2,5})$/;

export function themeAssetsRouter(themes: ThemeRegistry, scriptsDir: string): Router {
  const router = express.Router({ caseSensitive: true, strict: true });
  router.get(HASHED, (req, res, next) => {
    const file = HASHED.exec(req.path)?.[1];
    const asset = file === undefined ? undefined : themes.asset(file);
    if (asset === undefined) {
      next();
      return;
    }
    res.setHeader('Content-Type', asset.type);
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    for (const [k, v] of Object.entries(asset.headers ?? {})) res.setHeader(k, v);
    res.status(200).end(asset.body);
  });
  router.use(
    express.static(scriptsDir, { fallthrough: true, index: false, dotfiles: 'deny', maxAge: '1h' }),
  );
  return router;
}
