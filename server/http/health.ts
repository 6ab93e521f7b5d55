import express, { type Request, type Response, type Router } from 'express';
import type { DirectoryCacheStatus } from '../directory/cache/types.ts';
import type { DirectoryProvider } from '../directory/types.ts';
import { directoryCacheStatus } from '../observability/directory-cache-metrics.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { ArtifactStore } from '../stores/types.ts';
import { ROUTES } from './routes.ts';

/**
 * Where a node is in its life. SIGTERM flips `draining` at once: the load-balancer probe and readiness answer
 * 503 so the LB stops sending new requests, while the node keeps serving what still arrives for the drain delay
 * (security-corpus E6).
 */
export class Lifecycle {
  #draining = false;
  readonly #listeners: (() => void)[] = [];

  get draining(): boolean {
    return this.#draining;
  }

  startDraining(): void {
    if (this.#draining) return;
    this.#draining = true;
    for (const fn of this.#listeners) fn();
  }

  onDrain(fn: () => void): void {
    this.#listeners.push(fn);
  }
}

/** Per-DC breaker state as the LDAP directory last saw it (no network traffic to read it). */
export interface CircuitState {
  url: string;
  healthy: boolean;
}

function circuitStateOf(directory: DirectoryProvider): CircuitState[] | undefined {
  const d = directory as DirectoryProvider & { circuitState?: () => CircuitState[] };
  return typeof d.circuitState === 'function' ? d.circuitState() : undefined;
}

export interface HealthDeps {
  lifecycle: Lifecycle;
  store: ArtifactStore;
  directory: DirectoryProvider;
  /** true once the token-signing key is loaded. */
  keysLoaded: () => boolean;
}

export interface Readiness {
  ready: boolean;
  checks: {
    draining: boolean;
    keys: boolean;
    store: boolean;
    directory: boolean;
    domainControllers?: CircuitState[] | undefined;
    /**
     * The directory cache, when on: whether cached answers are served and how far behind AD they may be. Not a
     * readiness condition: a cache that is not served only sends every read to the DC.
     */
    directoryCache?: DirectoryCacheStatus | undefined;
  };
}

/**
 * Readiness (E7): keys loaded, store reachable (replay checks fail closed without it), at least one DC healthy
 * by the breaker's recent state. Never an LDAP bind per probe: a probe storm must not become a DC load test.
 */
export async function readiness(deps: HealthDeps): Promise<Readiness> {
  const dcs = circuitStateOf(deps.directory);
  const store = await deps.store.ping();
  const keys = deps.keysLoaded();
  const directory = dcs === undefined ? true : dcs.some((d) => d.healthy);
  const draining = deps.lifecycle.draining;
  return {
    ready: !draining && keys && store && directory,
    checks: {
      draining,
      keys,
      store,
      directory,
      domainControllers: dcs,
      directoryCache: directoryCacheStatus(deps.directory),
    },
  };
}

function noStore(res: Response): void {
  res.setHeader('Cache-Control', 'no-store');
}

/**
 * /adfs/probe (AD FS compatible: 200 while serving, 503 while draining; no back-end dependency, so an AD or Redis
 * outage never takes every node out of the pool), /healthz/live (the process answers) and /healthz/ready.
 */
export function healthRouter(deps: HealthDeps, opts: { healthz?: boolean } = {}): Router {
  const router = express.Router();
  router.get(ROUTES.probe, (_req: Request, res: Response) => {
    noStore(res);
    if (deps.lifecycle.draining) res.status(503).type('text/plain').send('draining');
    else res.type('text/plain').send('OK');
  });
  // /healthz/ready names the DCs and their state: with a management listener it is served there only, so the
  // public listener never tells the internet which DCs are down (a load balancer need not filter it).
  if (opts.healthz === false) return router;
  router.get(ROUTES.healthLive, (_req: Request, res: Response) => {
    noStore(res);
    res.json({ status: 'ok' });
  });
  router.get(ROUTES.healthReady, async (_req: Request, res: Response) => {
    noStore(res);
    const r = await readiness(deps);
    res.status(r.ready ? 200 : 503).json({ status: r.ready ? 'ready' : 'not ready', ...r.checks });
  });
  return router;
}

/** While draining, responses ask the client (the LB) to close the connection so no idle socket is left to race. */
export function drainConnections(lifecycle: Lifecycle): express.RequestHandler {
  return (_req, res, next) => {
    if (lifecycle.draining) res.setHeader('Connection', 'close');
    next();
  };
}

/** The management app: health and Prometheus metrics. Bound to `management.port`, never routed by the LB. */
export function managementApp(deps: HealthDeps & { metrics: Metrics }): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(healthRouter(deps));
  app.get(ROUTES.metrics, async (_req, res) => {
    noStore(res);
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found');
  });
  return app;
}
