import type { DirectoryProvider } from '../directory/types.ts';
import type { Metrics } from './metrics.ts';

/** Methods whose latency is worth a histogram series (bounded label set). */
const TIMED = new Set([
  'authenticate',
  'findUser',
  'findByObjectGuid',
  'findByCertificate',
  'queryAttributes',
  'groupsOf',
  'changePassword',
  // MFA enrolment records (authn/mfa/enrolments.ts): one read per MFA step, one write per change.
  'readAttribute',
  'writeAttribute',
  'describeAttribute',
]);

function isUnavailable(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as { ok?: unknown; kind?: unknown; code?: unknown };
  return (o.ok === false && o.kind === 'unavailable') || o.code === 'directory_unavailable';
}

/**
 * Wraps a DirectoryProvider so every call is timed (fedgate_directory_operation_seconds) and infrastructure
 * failures counted (fedgate_directory_errors_total), without the directory knowing about metrics. A Proxy, so
 * methods added to the contract later are passed through unchanged.
 */
export function instrumentDirectory(dir: DirectoryProvider, metrics: Metrics): DirectoryProvider {
  return new Proxy(dir, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      const fn = v as (...a: unknown[]) => unknown;
      if (typeof prop !== 'string' || !TIMED.has(prop)) return fn.bind(target);
      return (...args: unknown[]) => {
        const end = metrics.ldapSeconds.startTimer({ operation: prop });
        const out = fn.apply(target, args);
        if (!(out instanceof Promise)) {
          end({ result: 'ok' });
          return out;
        }
        return out.then(
          (r: unknown) => {
            const bad = isUnavailable(r);
            end({ result: bad ? 'unavailable' : 'ok' });
            if (bad) metrics.ldapErrors.inc({ reason: 'unavailable' });
            return r;
          },
          (err: unknown) => {
            const bad = isUnavailable(err);
            end({ result: bad ? 'unavailable' : 'error' });
            metrics.ldapErrors.inc({ reason: bad ? 'unavailable' : 'error' });
            throw err;
          },
        );
      };
    },
  });
}
