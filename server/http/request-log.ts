import { performance } from 'node:perf_hooks';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.ts';
import { routeName, type RouteName } from './routes.ts';

/**
 * Load-balancer and orchestrator checks come every few seconds from every balancer: at info level they would drown
 * the access log (and cost a fifth of the probe's throughput in `npm run bench`). They are logged at debug; the
 * metrics still count them.
 */
const QUIET_ROUTES: ReadonlySet<RouteName | 'unmatched'> = new Set<RouteName>([
  'probe',
  'healthLive',
  'healthReady',
  'metrics',
]);

export interface RequestLogDeps {
  log: Logger;
  metrics?: Metrics | undefined;
}

/**
 * One structured line per request when its response finishes (or the client goes away first), and the HTTP
 * metrics. The line carries method, route name, status, duration and activity id only: never the URL's query
 * string or the body, since WS-Fed/SAML parameters and form posts carry tokens and passwords (corpus C4.6, C7.1).
 * The route is the name from http/routes.ts, so no router needs its own wiring.
 */
export function requestLog(deps: RequestLogDeps): RequestHandler {
  return (req, res, next) => {
    const start = performance.now();
    let done = false;
    const finish = (aborted: boolean): void => {
      if (done) return;
      done = true;
      const ms = performance.now() - start;
      // originalUrl: mounted routers rewrite req.url; routeName drops the query string before matching.
      const route = routeName(req.originalUrl);
      // A response never completed has no real status (statusCode is still its default 200): 499, nginx's
      // "client closed request", so dashboards do not count it as a success.
      const status = aborted ? 499 : res.statusCode;
      deps.log[QUIET_ROUTES.has(route) ? 'debug' : 'info'](
        {
          event: 'http_request',
          method: req.method,
          route,
          status,
          durationMs: Math.round(ms * 10) / 10,
          activityId: res.locals.activityId,
          ...(aborted ? { aborted: true } : {}),
        },
        'request',
      );
      deps.metrics?.observeHttp(route, req.method, status, ms / 1000);
    };
    res.once('finish', () => {
      finish(false);
    });
    // A client that disconnects before the response completes still gets its line, marked aborted.
    res.once('close', () => {
      finish(!res.writableFinished);
    });
    next();
  };
}
