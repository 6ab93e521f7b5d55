import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Server as NetServer } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createApp, createCertificateApp } from './app.ts';
import type { Config } from './config/schema.ts';
import { describeCertificate, loadOrCreateTlsCredential } from './keys/index.ts';
import { managementApp } from './http/health.ts';
import { sniDemultiplexer } from './http/sni.ts';
import { buildServices, type ServiceOverrides, type Services } from './services.ts';

export interface Running {
  server: Server;
  services: Services;
  /** The address actually bound (port 0 in config = any free port). */
  port: number;
  scheme: 'http' | 'https';
  /**
   * The certificate-authentication listener (certificateAuth.port; TLS with a client-certificate request) when
   * certificate sign-in is on.
   */
  certificate?: { server: Server; port: number } | undefined;
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

async function listen(server: Server | NetServer, port: number, host: string): Promise<number> {
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
 * Whether a stop signal drains (issue 20, "Stopping from a terminal"). A drain only helps when a load balancer is
 * still sending: it keeps the node serving while the probe answers 503 until the LB has moved away
 * (security-corpus E6). A person pressing Ctrl-C should not wait for it.
 *  - embedded defaults (no configuration file): never; nobody balances a demo node;
 *  - SIGTERM with a configuration file: always (orchestrators and container runtimes stop with SIGTERM, and a
 *    Kubernetes Service needs the delay whether or not listen.trustedProxies is set);
 *  - SIGINT (Ctrl-C at a terminal): only when a load balancer is configured, i.e. listen.trustedProxies is not
 *    empty (the one key that says a proxy stands in front of this node).
 */
export function drainDecision(
  config: Config,
  signal: NodeJS.Signals,
): { drain: boolean; reason: string } {
  if (config.embeddedDefaults) return { drain: false, reason: 'embedded defaults' };
  if (signal === 'SIGINT' && config.listen.trustedProxies.length === 0)
    return { drain: false, reason: 'SIGINT and no load balancer (listen.trustedProxies is empty)' };
  return {
    drain: true,
    reason:
      signal === 'SIGINT'
        ? 'SIGINT with a load balancer (listen.trustedProxies)'
        : `${signal} with a configuration file`,
  };
}

/** Log lines still buffered for standard output reach it before exit (bounded: a stalled reader never holds it). */
function exitAfterFlush(services: Services, code: number, sync: boolean): void {
  const sink = services.logSink;
  const ms = services.config.log.flushTimeoutMs;
  if (sink === undefined) process.exit(code);
  if (sync) {
    sink.flushSync(ms);
    process.exit(code);
  }
  void sink.close(ms).then(() => process.exit(code));
}

/**
 * SIGTERM/SIGINT → graceful shutdown (with or without a drain, drainDecision), then exit 0; a second signal exits
 * at once (status 1).
 */
export function installSignalHandlers(running: Running): void {
  let signals = 0;
  const { log, config } = running.services;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      exitAfterFlush(running.services, 1, true);
      return;
    }
    const { drain, reason } = drainDecision(config, sig);
    if (drain)
      log.info(
        { signal: sig, reason, drainDelayMs: config.shutdown.drainDelayMs },
        'shutting down: draining (probes answer 503)',
      );
    else log.info({ signal: sig, reason }, 'shutting down: no drain');
    (drain ? running.shutdown() : running.stop()).then(
      () => {
        log.info('shutdown complete');
        exitAfterFlush(running.services, 0, false);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        exitAfterFlush(running.services, 1, false);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/**
 * An uncaught exception or unhandled rejection in the running server: logged as fatal, the log buffer written out
 * synchronously (the event loop is not to be trusted any more), exit 1. Without this the asynchronous log buffer,
 * and the lines saying why the process died, would be lost with the process.
 */
export function installFatalHandlers(services: Services): void {
  const fatal = (err: unknown, kind: string): void => {
    try {
      services.log.fatal({ err }, `${kind}: exiting`);
    } finally {
      exitAfterFlush(services, 1, true);
    }
  };
  process.on('uncaughtException', (err) => {
    fatal(err, 'uncaught exception');
  });
  process.on('unhandledRejection', (reason) => {
    fatal(reason, 'unhandled rejection');
  });
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
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(config.baseDir, p));
  let mainCred: { certPem: string; keyPem: string } | undefined;
  let httpsMain: HttpsServer | undefined;
  if (tls === 'off') {
    server = createHttpServer(app);
    scheme = 'http';
  } else {
    mainCred = await loadOrCreateTlsCredential({
      dir: config.keys.dir,
      hostname: config.hostname,
      clock: services.clock,
      ...(tls === 'generate'
        ? {}
        : { configured: { certFile: abs(tls.cert), keyFile: abs(tls.key) } }),
    });
    watchTls(services, mainCred.certPem, 'listener');
    httpsMain = createHttpsServer(
      { cert: mainCred.certPem, key: mainCred.keyPem, minVersion: 'TLSv1.2' },
      app,
    );
    server = httpsMain;
    scheme = 'https';
  }
  // Slow-client limits: a request must arrive whole within 30 s; idle keep-alive sockets close after 65 s
  // (longer than typical load-balancer idle timeouts, so the LB closes first).
  const limits = (srv: Server): void => {
    srv.requestTimeout = 30_000;
    srv.headersTimeout = 20_000;
    srv.keepAliveTimeout = 65_000;
    srv.maxHeadersCount = 100;
  };
  limits(server);

  // Certificate sign-in (AD FS certauth): a TLS server that asks for a client certificate, on its own port and/or
  // chosen by SNI on the main port.
  const certCfg = config.certificateAuth;
  let certServer: HttpsServer | undefined;
  const certificateServer = async (hostname: string, dir: string): Promise<HttpsServer> => {
    const certs = services.certificates;
    if (certs === undefined) throw new Error('certificate sign-in is not enabled');
    const cred =
      certCfg.tls !== undefined
        ? await loadOrCreateTlsCredential({
            dir,
            hostname,
            clock: services.clock,
            configured: { certFile: abs(certCfg.tls.cert), keyFile: abs(certCfg.tls.key) },
          })
        : hostname === config.hostname && mainCred !== undefined
          ? mainCred
          : await loadOrCreateTlsCredential({ dir, hostname, clock: services.clock });
    if (cred !== mainCred) watchTls(services, cred.certPem, 'certificate-auth');
    const srv = createHttpsServer(
      {
        cert: cred.certPem,
        key: cred.keyPem,
        minVersion: 'TLSv1.2',
        // Ask for a certificate, naming the issuing CAs as acceptable (browsers offer only matching ones). The
        // handshake never fails over it: fedgate validates the certificate itself and shows a page for every problem.
        requestCert: true,
        rejectUnauthorized: false,
        ca: certs.issuingCertificates.map((c) => c.x509.toString()),
      },
      createCertificateApp(services),
    );
    limits(srv);
    return srv;
  };
  let certificate: Running['certificate'];
  if (services.certificates !== undefined && certCfg.port !== 'off') {
    certServer = await certificateServer(config.hostname, config.keys.dir);
    certificate = {
      server: certServer,
      port: await listen(certServer, certCfg.port, certCfg.host),
    };
  }
  let front: NetServer | undefined;
  let port: number;
  if (
    services.certificates !== undefined &&
    certCfg.sniHostname !== undefined &&
    httpsMain !== undefined
  ) {
    const sniServer =
      certCfg.sniHostname === config.hostname && certServer !== undefined
        ? certServer
        : await certificateServer(certCfg.sniHostname, resolve(config.keys.dir, 'certauth'));
    front = sniDemultiplexer({
      hostname: certCfg.sniHostname,
      main: httpsMain,
      certificate: sniServer,
    });
    port = await listen(front, config.listen.port, config.listen.host);
    if (certServer === undefined) certServer = sniServer;
  } else {
    port = await listen(server, config.listen.port, config.listen.host);
  }
  let management: Running['management'];
  if (config.management.port !== undefined) {
    const mgmt = createHttpServer(
      managementApp({
        lifecycle: services.lifecycle,
        store: services.store,
        directory: services.directory,
        keysLoaded: () => services.keys.ready(),
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
    front?.close();
    await Promise.all([
      closeServer(server, timeoutMs),
      certServer === undefined ? undefined : closeServer(certServer, timeoutMs),
      management === undefined ? undefined : closeServer(management.server, 0),
    ]);
    await services.close();
  };
  return {
    server,
    services,
    port,
    scheme,
    certificate,
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

/** The TLS certificate (the leaf of the PEM chain) on the expiry gauges. */
function watchTls(services: Services, pem: string, role: string): void {
  const leaf = describeCertificate(pem);
  const entry = {
    use: 'tls' as const,
    role,
    thumbprint: leaf.thumbprintSha1,
    subject: leaf.subject.replace(/\n/g, ', '),
    notAfter: leaf.notAfter,
  };
  services.watchCertificates(() => [entry]);
}
