import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { RequestHandler } from 'express';

/** When the current request arrived (monotonic ms), for latency metrics fed from audit events. */
const arrival = new AsyncLocalStorage<number>();

export const requestTiming: RequestHandler = (_req, _res, next) => {
  arrival.run(performance.now(), next);
};

/** Seconds since the current request arrived, or undefined outside a request. */
export function secondsSinceArrival(): number | undefined {
  const t = arrival.getStore();
  return t === undefined ? undefined : (performance.now() - t) / 1000;
}
