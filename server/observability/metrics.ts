import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { secondsSinceArrival } from './request-timing.ts';

/**
 * Prometheus metrics (prom-client), one registry per running server so several servers in one process (tests)
 * never mix their numbers. Served only on the management listener (`management.port`), never through the load
 * balancer (security-corpus E7, E10).
 */
export class Metrics {
  readonly registry = new Registry();
  readonly signIns: Counter<'protocol' | 'trust' | 'method' | 'result'>;
  readonly issuanceSeconds: Histogram<'protocol'>;
  readonly ldapSeconds: Histogram<'operation' | 'result'>;
  readonly ldapOperations: Counter<'dc' | 'op'>;
  readonly ldapErrors: Counter<'reason'>;
  readonly storeErrors: Counter<'op'>;
  readonly lockouts: Counter;
  readonly draining: Gauge;
  readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  readonly httpSeconds: Histogram<'route'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.signIns = new Counter({
      name: 'fedgate_signins_total',
      help: 'Sign-in outcomes by protocol, relying-party trust, authentication method and result.',
      labelNames: ['protocol', 'trust', 'method', 'result'],
      registers,
    });
    this.issuanceSeconds = new Histogram({
      name: 'fedgate_token_issuance_seconds',
      help: 'From the request arriving to its token being issued (claims, assertion, signature; for a credential post also the password check).',
      labelNames: ['protocol'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.ldapSeconds = new Histogram({
      name: 'fedgate_directory_operation_seconds',
      help: 'Directory operation latency (password check, user look-up, attribute query).',
      labelNames: ['operation', 'result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.ldapOperations = new Counter({
      name: 'fedgate_ldap_operations_total',
      help: 'LDAP network operations started, per domain controller and kind.',
      labelNames: ['dc', 'op'],
      registers,
    });
    this.ldapErrors = new Counter({
      name: 'fedgate_directory_errors_total',
      help: 'Directory failures (no DC answered, timeouts): infrastructure errors, not wrong passwords.',
      labelNames: ['reason'],
      registers,
    });
    this.storeErrors = new Counter({
      name: 'fedgate_store_errors_total',
      help: 'Failed artifact-store operations (Redis unreachable, timing out).',
      labelNames: ['op'],
      registers,
    });
    this.lockouts = new Counter({
      name: 'fedgate_lockouts_total',
      help: 'Sign-ins refused because the account is locked out.',
      registers,
    });
    this.draining = new Gauge({
      name: 'fedgate_draining',
      help: '1 while the node drains before shutdown (probes answer 503).',
      registers,
    });
    // Labels are bounded: route is a name from http/routes.ts or 'unmatched' (never the raw path), method one of a
    // fixed set, status the numeric code.
    this.httpRequests = new Counter({
      name: 'fedgate_http_requests_total',
      help: 'HTTP requests answered, by route name (http/routes.ts), method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: 'fedgate_http_request_duration_seconds',
      help: 'From the request arriving to its response finishing, by route name.',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    if (opts.defaultMetrics === true) collectDefaultMetrics({ register: this.registry });
  }

  /** One answered HTTP request (called by http/request-log.ts when the response finishes). */
  observeHttp(route: string, method: string, status: number, seconds: number): void {
    this.httpRequests.inc({ route, method: methodName(method), status: String(status) });
    this.httpSeconds.observe({ route }, seconds);
  }

  /**
   * Feeds sign-in counters from the audit stream, so protocol code needs no metric calls: each audit event
   * (token_issued, signin_failure, …) is the single source for both the audit log and the numbers.
   */
  observeAudit(ev: Record<string, unknown>): void {
    const str = (v: unknown, d: string): string => (typeof v === 'string' && v !== '' ? v : d);
    switch (ev.event) {
      case 'token_issued': {
        const seconds = secondsSinceArrival();
        if (seconds !== undefined)
          this.issuanceSeconds.observe({ protocol: str(ev.protocol, 'unknown') }, seconds);
        this.signIns.inc({
          protocol: str(ev.protocol, 'unknown'),
          trust: str(ev.rp, 'unknown'),
          method: methodLabel(ev.method),
          result: 'success',
        });
        break;
      }
      case 'signin': {
        // Successes are counted once, at token_issued (which knows the protocol); failures here, by kind.
        if (ev.outcome !== 'failure') break;
        this.signIns.inc({
          protocol: str(ev.protocol, 'wsfed'),
          trust: str(ev.rp, 'unknown'),
          method: methodLabel(ev.method),
          result: str(ev.kind, 'failure'),
        });
        break;
      }
      case 'account_locked_out':
      case 'extranet_lockout':
        this.lockouts.inc();
        break;
      case 'access_denied':
        this.signIns.inc({
          protocol: str(ev.protocol, 'unknown'),
          trust: str(ev.rp, 'unknown'),
          method: 'any',
          result: 'access_denied',
        });
        break;
      default:
        break;
    }
  }
}

/** Short label for an authentication method URI (bounded label cardinality). */
function methodLabel(v: unknown): string {
  if (typeof v !== 'string') return 'unknown';
  if (/password|forms/i.test(v)) return 'password';
  if (/tlsclient|x509|certificate/i.test(v)) return 'certificate';
  if (/windows|kerberos/i.test(v)) return 'windows';
  return 'other';
}

const HTTP_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
]);

/** HTTP method label: the common ones as is, anything else (PROPFIND, …) as 'other'. */
function methodName(m: string): string {
  return HTTP_METHODS.has(m) ? m : 'other';
}
