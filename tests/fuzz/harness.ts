/**
 * The app the fuzzer drives, in process, and the properties every answer must have (issue 14 §1): never a 5xx
 * except a deliberate 503 (WS-Trust: HTTP 500 only as a well-formed SOAP Fault with a fedgate fault code, AD FS's
 * convention, soap.ts SOAP_FAULT_STATUS); never an internal error in the log; no stack trace, "Error:" or file
 * path in the body; a redirect Location or auto-POST form action only to a registered endpoint of a known party
 * (corpus B3.1, B3.4) or to ourselves; and the event loop never held longer than STALL_LIMIT_MS by one request.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import request from 'supertest';
import { DOMParser } from '@xmldom/xmldom';
import type { TestApp } from '../helpers/app.ts';
import { decodeEntities } from '../helpers/app.ts';
import {
  PUBLIC_URL,
  samlApp,
  SP_CERT,
  spMetadata,
  standardSp,
  SP_SLO,
} from '../fixtures/saml2/harness.ts';

export const STALL_LIMIT_MS = 50;

export interface FuzzApp {
  t: TestApp;
  server: Server;
  /** Every registered endpoint a browser may be sent to (reply URLs, ACS, SLO). */
  endpoints: string[];
  loop: IntervalHistogram;
  /** The worst figures of the `timed` steps since the engine last reset it. */
  last: Measure;
  close(): Promise<void>;
}

export async function startFuzzApp(): Promise<FuzzApp> {
  const caFile = join(mkdtempSync(join(tmpdir(), 'fedgate-fuzz-ca-')), 'ca.pem');
  writeFileSync(caFile, SP_CERT);
  const t = await samlApp(
    [
      {
        file: 'sp',
        metadataXml: spMetadata(
          standardSp({
            slo: [
              { location: SP_SLO, binding: 'redirect' },
              { location: `${SP_SLO}/post`, binding: 'post' },
            ],
          }),
        ),
        trust: { idpInitiated: true, relayStateUrls: ['https://sp.fedgate.test/app/'] },
      },
    ],
    {
      // WS-Trust needs TLS: the in-process client is "behind" a trusted TLS-terminating proxy (X-Forwarded-Proto).
      listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] },
      log: { level: 'info' },
      // The second-factor page and /adfs/portal/ (issue 16; targets.ts "MFA"): TOTP and WebAuthn, first factors only
      // with a helpdesk code. The MFA lockout threshold is the highest allowed so that wrong codes do not end the
      // exploration at the fifth input (the MFA targets also clear it between inputs, unless the input keeps it).
      mfa: {
        methods: ['totp', 'webauthn'],
        enrolment: { allow: ['code'] },
        lockout: { threshold: 100, durationMinutes: 1 },
      },
      // Certificate sign-in through a TLS-terminating proxy's header (corpus C6.1–C6.3), so the header parser is
      // reached over HTTP. The fixture SP certificate (a self-signed CA) stands in for the issuing CA: the fuzzer
      // exercises reading and refusing the header, not a successful smart-card sign-in.
      certificateAuth: {
        enabled: true,
        port: 'off',
        publicUrl: PUBLIC_URL,
        issuingCAs: [caFile],
        caCertificates: [caFile],
        revocation: { mode: 'off' },
        proxy: {
          header: 'X-SSL-Client-Cert',
          verifyHeader: 'X-SSL-Client-Verify',
          format: 'nginx',
          // Not the listen default: 'loopback' there is an Express name the header reader cannot parse.
          trustedProxies: ['127.0.0.1', '::1'],
        },
      },
    },
  );
  const endpoints: string[] = [];
  for (const rp of t.services.trusts.parties) {
    endpoints.push(...rp.replyUrls);
    const md = rp.saml?.metadata;
    if (md !== undefined) {
      for (const e of [...md.assertionConsumerServices, ...md.singleLogoutServices]) {
        endpoints.push(e.location);
        if (e.responseLocation !== undefined) endpoints.push(e.responseLocation);
      }
    }
    if (rp.saml !== undefined) endpoints.push(...rp.saml.policy.relayStateUrls);
  }
  const server = createServer(t.app);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  return {
    t,
    server,
    endpoints,
    loop,
    last: { stallMs: 0, cpuMs: 0 },
    async close() {
      loop.disable();
      server.closeAllConnections();
      await new Promise<void>((ok) => {
        server.close(() => {
          ok();
        });
      });
      await t.close();
    },
  };
}

export interface Outcome {
  status: number;
  headers: Record<string, unknown>;
  text: string;
}

export class PropertyFailure extends Error {
  override readonly name = 'PropertyFailure';
}

const STACK_OR_PATH =
  /\bat [\w$.<>]+ \(|\bat (?:file|node):|Error:|RangeError|TypeError|Maximum call stack|node_modules|\/work\/|\/server\/[\w/-]+\.ts|\.ts:\d+/g;

/** Whether `target` is one of the party endpoints (same origin and path, or under a registered path ending in '/'). */
export function registered(app: FuzzApp, target: string): boolean {
  let u: URL;
  try {
    u = new URL(target, `${PUBLIC_URL}/adfs/ls/`);
  } catch {
    return false;
  }
  if (u.origin === PUBLIC_URL) return true;
  for (const e of app.endpoints) {
    const r = new URL(e);
    if (r.origin !== u.origin || u.username !== '' || u.password !== '') continue;
    if (u.pathname === r.pathname) return true;
    if (r.pathname.endsWith('/') && u.pathname.startsWith(r.pathname)) return true;
  }
  return false;
}

/** A WS-Trust SOAP fault as fedgate writes it: parses, one Fault, a known subcode, not the internal-error one. */
function checkSoapFault(text: string): void {
  const errors: string[] = [];
  const doc = new DOMParser({
    errorHandler: {
      warning: () => undefined,
      error: (msg: string) => errors.push(msg),
      fatalError: (msg: string) => errors.push(msg),
    },
  }).parseFromString(text, 'text/xml');
  // xmldom's types promise a root element; a document that failed to parse has none.
  const root = doc.documentElement as Element | null;
  if (errors.length > 0 || root?.localName !== 'Envelope')
    throw new PropertyFailure(`HTTP 500 whose body is not a SOAP envelope: ${text.slice(0, 200)}`);
  const faults = doc.getElementsByTagNameNS('*', 'Fault');
  if (faults.length !== 1) throw new PropertyFailure('HTTP 500 without exactly one SOAP Fault');
  const m = /a:(\w+)<\/(?:s:Value|faultcode)>/.exec(text);
  const sub = m?.[1];
  const known = [
    'InvalidRequest',
    'FailedAuthentication',
    'InvalidSecurity',
    'MessageExpired',
    'UnsupportedSecurityToken',
    'InvalidScope',
    'RequestFailed',
  ];
  if (sub === undefined || !known.includes(sub))
    throw new PropertyFailure(`SOAP fault with an unknown code ${String(sub)}`);
  // The internal-error kind (wstrust/router.ts: anything unexpected becomes request_failed) is Receiver +
  // RequestFailed at HTTP 500 (the other Receiver one, unavailable, is a 503). In SOAP 1.1 its body is the same as
  // access_denied's; there the error-level log line (checkOutcome) tells it apart.
  if (sub === 'RequestFailed' && text.includes('<s:Value>s:Receiver</s:Value>'))
    throw new PropertyFailure(`SOAP fault of the internal-error kind: ${text.slice(0, 300)}`);
  if (!text.includes('urn:fedgate:wstrust:fault'))
    throw new PropertyFailure('SOAP fault without the fedgate detail (activity id)');
}

/**
 * The properties of one answer. `input` is everything the client sent (a reflected RelayState or wctx may legally
 * contain "Error:"; only text the input did not carry counts). `logFrom` = the log line index before the request.
 */
export function checkOutcome(
  app: FuzzApp,
  res: Outcome,
  input: string,
  logFrom: number,
  opts: { soap?: boolean } = {},
): void {
  if (res.status >= 500 && res.status !== 503) {
    if (!(opts.soap === true && res.status === 500))
      throw new PropertyFailure(`HTTP ${res.status}: ${res.text.slice(0, 300)}`);
    checkSoapFault(res.text);
  }
  for (const m of res.text.matchAll(STACK_OR_PATH))
    if (!input.includes(m[0]))
      throw new PropertyFailure(`body carries "${m[0]}": ${res.text.slice(0, 300)}`);
  // An internal error is logged at level error (50) by the edge renderers (http/errors.ts, wstrust/router.ts).
  const lines = app.t.logs.lines.slice(logFrom);
  // Audit alerts are written at error level on purpose (password_spray_suspected once ten accounts fail from one
  // source, which the WS-Trust targets' random user names reach): they are the defence working, not a fault.
  const internal = lines.find(
    (l) => typeof l.level === 'number' && l.level >= 50 && l.stream !== 'audit',
  );
  if (internal !== undefined)
    throw new PropertyFailure(`internal error logged: ${JSON.stringify(internal).slice(0, 600)}`);
  const location = res.headers.location;
  if (typeof location === 'string' && !registered(app, location))
    throw new PropertyFailure(`redirect to an unregistered address ${location}`);
  for (const f of res.text.matchAll(/<form\b[^>]*\baction="([^"]*)"/g)) {
    const action = decodeEntities(f[1] ?? '');
    if (!registered(app, action))
      throw new PropertyFailure(`auto-POST form to an unregistered address ${action}`);
  }
}

/** Per-target statistics the runner prints. */
export interface Stats {
  runs: number;
  maxStallMs: number;
  /** CPU time (all threads of the process) of the costliest request: an upper bound on what it can hold the loop. */
  maxCpuMs: number;
  /** Largest min(stall, CPU) of one step: the longest the server itself can have held the loop. */
  maxHeldMs: number;
  statuses: Map<number, number>;
}

export const newStats = (): Stats => ({
  runs: 0,
  maxStallMs: 0,
  maxCpuMs: 0,
  maxHeldMs: 0,
  statuses: new Map(),
});

/** What the last `timed` step measured (the engine resets it before each run). */
export interface Measure {
  stallMs: number;
  cpuMs: number;
}

/**
 * Runs the step under test (one request, or one direct parser call) with the event-loop delay histogram reset
 * around it, and keeps the longest stall seen and the process CPU time used. Only the server's step is inside:
 * targets build their wire form (base64, DEFLATE, signatures) before calling this, so the fuzzer's own work is not
 * charged to the server. Several `timed` steps in one run keep the worst of each figure.
 */
export async function timed<T>(app: FuzzApp, fn: () => PromiseLike<T> | T): Promise<T> {
  app.loop.reset();
  // The histogram skips its first interval after a reset (it has no previous tick to measure from): a step that
  // blocked at once would go unseen (a 120 ms busy loop read 0). Let it tick first.
  await new Promise((ok) => setTimeout(ok, 3));
  const cpu0 = process.cpuUsage();
  const value = await fn();
  // One more turn so a stall at the very end is sampled too.
  await new Promise((ok) => setTimeout(ok, 1));
  const cpu = process.cpuUsage(cpu0);
  const m = { stallMs: app.loop.max / 1e6, cpuMs: (cpu.user + cpu.system) / 1000 };
  app.last = {
    stallMs: Math.max(app.last.stallMs, m.stallMs),
    cpuMs: Math.max(app.last.cpuMs, m.cpuMs),
  };
  return value;
}

export function http(app: FuzzApp): ReturnType<typeof request> {
  return request(app.server);
}
