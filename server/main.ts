import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isAbsolute, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.ts';
import type { Config } from './config/schema.ts';
import { loadOrCreateTlsCredential } from './keys/index.ts';
import { managementApp } from './http/health.ts';
import { buildServices, type ServiceOverrides, type Services } from './services.ts';

export interface Running {
  server: Server;
  services: Services;
  /** The address actually bound (port 0 in config = any free port). */
  port: number;
  scheme: 'http' | 'https';
  /** The management listener (/metrics, /healthz/*) when `management.port` is set. */
  management?: { server: Server; port: number } | undefined;
  /** Immediate stop: closes listeners (waiting for open requests) and services. */
  stop(): Promise<void>;
  /**
   * Graceful shutdown (security-corpus E6): probes answer 503 at once, the node keeps serving for
   * `shutdown.drainDelayMs`, then stops accepting, lets in-flight requests finish (at most `shutdown.timeoutMs`),
   * and closes Redis and LDAP.
   */
  shutdown(): Promise<void>;
}

function delay(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stops accepting, waits for open requests (cutting them after timeoutMs). */
async function closeServer(server: Server, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let idle: NodeJS.Timeout | undefined;
  await new Promise<void>((ok) => {
    server.close(() => {
      ok();
    });
    server.closeIdleConnections();
    // Keep-alive sockets that finish their request become idle: close them as they do.
    idle = setInterval(() => {
      server.closeIdleConnections();
    }, 100);
    timer = setTimeout(() => {
      server.closeAllConnections();
    }, timeoutMs);
  });
  clearTimeout(timer);
  clearInterval(idle);
}

/**
 * SIGTERM/SIGINT → graceful shutdown, then exit 0; a second signal exits at once (status 1).
 */
export function installSignalHandlers(running: Running): void {
  let signals = 0;
  const { log } = running.services;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info(
      { signal: sig, drainDelayMs: running.services.config.shutdown.drainDelayMs },
      'shutting down: draining (probes answer 503)',
    );
    running.shutdown().then(
      () => {
        log.info('shutdown complete');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** loadConfig → buildServices → createApp → listen. Used by `fedgate serve` and by tests that need a real socket. */
export async function startServer(
  config: Config,
  overrides: ServiceOverrides = {},
): Promise<Running> {
  const services = await buildServices(config, overrides);
  const app = createApp(services);
  let server: Server;
  let scheme: 'http' | 'https';
  const tls = config.listen.tls;
  if (tls === 'off') {
    server = createHttpServer(app);
    scheme = 'http';
  } else {
    const abs = (p: string): string => (isAbsolute(p) ? p : resolve(config.baseDir, p));
    const cred = await loadOrCreateTlsCredential({
      dir: config.keys.dir,
      hostname: config.hostname,
      clock: services.clock,
      ...(tls === 'generate'
        ? {}
        : { configured: { certFile: abs(tls.cert), keyFile: abs(tls.key) } }),
    });
    server = createHttpsServer(
      { cert: cred.certPem, key: cred.keyPem, minVersion: 'TLSv1.2' },
      app,
    );
    scheme = 'https';
  }
  // Slow-client limits: a request must arrive whole within 30 s; idle keep-alive sockets close after 65 s
  // (longer than typical load-balancer idle timeouts, so the LB closes first).
  server.requestTimeout = 30_000;
  server.headersTimeout = 20_000;
  server.keepAliveTimeout = 65_000;
  server.maxHeadersCount = 100;
  const port = await listen(server, config.listen.port, config.listen.host);
  let management: Running['management'];
  if (config.management.port !== undefined) {
    const mgmt = createHttpServer(
      managementApp({
        lifecycle: services.lifecycle,
        store: services.store,
        directory: services.directory,
        keysLoaded: () => services.signing.privateKey.asymmetricKeyType !== undefined,
        metrics: services.metrics,
      }),
    );
    mgmt.keepAliveTimeout = 5_000;
    management = {
      server: mgmt,
      port: await listen(mgmt, config.management.port, config.management.host),
    };
  }
  let stopping: Promise<void> | undefined;
  const finish = async (timeoutMs: number): Promise<void> => {
    await Promise.all([
      closeServer(server, timeoutMs),
      management === undefined ? undefined : closeServer(management.server, 0),
    ]);
    await services.close();
  };
  return {
    server,
    services,
    port,
    scheme,
    management,
    stop() {
      stopping ??= finish(config.shutdown.timeoutMs);
      return stopping;
    },
    shutdown() {
      stopping ??= (async () => {
        services.lifecycle.startDraining();
        services.metrics.draining.set(1);
        await delay(config.shutdown.drainDelayMs);
        await finish(config.shutdown.timeoutMs);
      })();
      return stopping;
    },
  };
}
