/**
 * Certificate sign-in on real sockets: fedgate started with startServer (main listener plain HTTP as behind a load
 * balancer, certificate listener TLS with a client-certificate request), a test PKI, Samba AD, and a tiny HTTP(S)
 * client that presents a client certificate the way a browser with a smart card does.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../server/config/load.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import type { Clock } from '../../server/lib/clock.ts';
import { startServer, type Running } from '../../server/main.ts';
import { Jar, LogCapture, M365, decodeEntities, hidden } from './app.ts';
import { freePort, type Leaf, type TestPki } from './pki.ts';
import { sambaLdapConfig, type SambaEnv } from './samba.ts';

export const HOSTNAME = 'sts.fedgate.test';
export const PUBLIC_URL = `https://${HOSTNAME}`;

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ClientOptions {
  cookie?: string;
  headers?: Record<string, string | string[]>;
  /** Raw header lines appended as written (duplicates, odd names). */
  rawHeaders?: [string, string][];
  method?: 'GET' | 'POST';
  body?: string;
  /** Source address to connect from (127.0.0.x): trusted and untrusted proxies. */
  localAddress?: string;
  /** Client certificate for a TLS request. */
  cert?: Leaf;
  ca?: string;
  servername?: string;
}

/** One request to host:port (http or https), no redirects followed, no connection reuse. */
export function send(url: string, port: number, opts: ClientOptions = {}): Promise<Reply> {
  const u = new URL(url);
  const tls = u.protocol === 'https:';
  const headers: Record<string, string | string[]> = { host: u.host, ...opts.headers };
  if (opts.cookie !== undefined && opts.cookie !== '') headers.cookie = opts.cookie;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers['content-length'] = String(Buffer.byteLength(opts.body));
  }
  const raw: string[] = [];
  for (const [k, v] of Object.entries(headers))
    for (const x of Array.isArray(v) ? v : [v]) raw.push(k, x);
  for (const [k, v] of opts.rawHeaders ?? []) raw.push(k, v);
  const make = tls ? httpsRequest : httpRequest;
  return new Promise((ok, fail) => {
    const req = make(
      {
        host: '127.0.0.1',
        port,
        path: u.pathname + u.search,
        method: opts.method ?? 'GET',
        headers: raw,
        agent: false,
        ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
        ...(tls
          ? {
              servername: opts.servername ?? 'localhost',
              ...(opts.ca === undefined ? { rejectUnauthorized: false } : { ca: opts.ca }),
              ...(opts.cert === undefined
                ? {}
                : { cert: opts.cert.certPem, key: opts.cert.keyPem }),
            }
          : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          ok({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.end(opts.body);
  });
}

export function takeCookies(jar: Jar, r: Reply): void {
  jar.take({ headers: r.headers });
}

export interface CertAuthServer {
  running: Running;
  logs: LogCapture;
  mainPort: number;
  certPort: number;
  /** The PKI's root, which signed the certificate listener's server certificate. */
  ca: string;
  close(): Promise<void>;
}

/** fedgate on loopback with certificate sign-in against Samba AD; the listener certificate comes from the PKI. */
export async function startCertAuthServer(
  pki: TestPki,
  env: SambaEnv,
  opts: {
    certificateAuth?: Record<string, unknown>;
    config?: ConfigInput;
    clock?: Clock;
    mainHost?: string;
    certPort?: number;
  } = {},
): Promise<CertAuthServer> {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-certauth-'));
  const server = pki.issue(`listener-${Math.random().toString(36).slice(2, 8)}`, {
    eku: 'serverAuth',
    cdp: [],
    extra: ['subjectAltName = DNS:localhost,IP:127.0.0.1'],
  });
  const certPort = opts.certPort ?? (await freePort());
  const config = resolveConfig(
    {
      hostname: HOSTNAME,
      publicUrl: PUBLIC_URL,
      listen: { port: 0, host: opts.mainHost ?? '127.0.0.1', tls: 'off' },
      keys: { dir: join(dir, 'keys') },
      directory: sambaLdapConfig(env),
      passwordChange: { enabled: false },
      log: { level: 'info' },
      certificateAuth: {
        enabled: true,
        port: certPort,
        host: '127.0.0.1',
        tls: { cert: server.certFile, key: server.keyFile },
        issuingCAs: [pki.issuing.certFile],
        caCertificates: [pki.root.certFile],
        revocation: { crlFiles: [pki.root.crlFile], ocsp: false, timeoutMs: 1000 },
        ...opts.certificateAuth,
      },
      ...opts.config,
    },
    { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
  );
  const logs = new LogCapture();
  const running = await startServer(config, {
    logDestination: logs,
    ...(opts.clock === undefined ? {} : { clock: opts.clock }),
  });
  return {
    running,
    logs,
    mainPort: running.port,
    certPort: running.certificate?.port ?? 0,
    ca: pki.root.certPem,
    close: () => running.stop(),
  };
}

/** The href of the sign-in page's "Sign in with a certificate" link. */
export function certificateLink(page: string): string {
  const m = /<a id="certificateLink" href="([^"]+)"/.exec(page);
  if (m?.[1] === undefined) throw new Error('no certificate link on the sign-in page');
  return decodeEntities(m[1]);
}

/** An error page's heading, message and activity id. */
export function errorPage(r: Reply): { message: string; activityId: string | undefined } {
  const message = /<p[^>]*class="error"[^>]*>([^<]*)</.exec(r.body)?.[1] ?? r.body.slice(0, 300);
  return { message: decodeEntities(message), activityId: r.headers['x-activity-id'] as string };
}

/** A request to fedgate through a TLS-terminating proxy at `url` (the proxy's certificate comes from `ca`). */
export function viaProxy(ca: string, url: string, opts: ClientOptions = {}): Promise<Reply> {
  const u = new URL(url);
  return send(url, Number(u.port), { ca, servername: u.hostname, ...opts });
}

/** Opens the Microsoft 365 WS-Fed sign-in page through the proxy; returns the jar, certificate link and AuthState. */
export async function beginThroughProxy(
  ca: string,
  origin: string,
): Promise<{ jar: Jar; link: string; authState: string }> {
  const jar = new Jar();
  const page = await viaProxy(
    ca,
    `${origin}/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}`,
  );
  takeCookies(jar, page);
  assert.equal(page.status, 200, page.body.slice(0, 300));
  return { jar, link: certificateLink(page.body), authState: hidden(page.body, 'AuthState') };
}

/** Stops a proxy process the test started (SIGTERM) and waits for it to exit. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((ok) => child.once('exit', ok));
  child.kill('SIGTERM');
  await exited;
}
