import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isAbsolute, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.ts';
import type { Config } from './config/schema.ts';
import { loadOrCreateTlsCredential } from './keys/index.ts';
import { buildServices, type ServiceOverrides, type Services } from './services.ts';

export interface Running {
  server: Server;
  services: Services;
  /** The address actually bound (port 0 in config = any free port). */
  port: number;
  scheme: 'http' | 'https';
  stop(): Promise<void>;
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
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let stopping: Promise<void> | undefined;
  return {
    server,
    services,
    port,
    scheme,
    stop() {
      stopping ??= (async () => {
        await new Promise<void>((ok) => {
          server.close(() => {
            ok();
          });
          server.closeIdleConnections();
        });
        await services.close();
      })();
      return stopping;
    },
  };
}
