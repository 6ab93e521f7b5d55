import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Structured logs (pino). Secrets never reach a log line: passwords, cookies, tokens and SAML/WS-Fed payloads
 * are redacted by path wherever they appear (corpus C4.6, C7.1).
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'bindPassword',
  '*.bindPassword',
  'req.headers.cookie',
  'req.headers.authorization',
  'res.headers["set-cookie"]',
  'wresult',
  '*.wresult',
  'SAMLResponse',
  '*.SAMLResponse',
  'SAMLRequest',
  '*.SAMLRequest',
  'token',
  '*.token',
  'privateKey',
  '*.privateKey',
  // The AD FS form field names (case matters to the redactor): a logged form body never carries a password.
  'Password',
  '*.Password',
  'OldPassword',
  '*.OldPassword',
  'NewPassword',
  '*.NewPassword',
  'ConfirmNewPassword',
  '*.ConfirmNewPassword',
];

export interface Loggers {
  log: Logger;
  /** Security audit stream: sign-in outcomes, tokens issued, key events. Separate from operational logs. */
  audit: Logger;
}

export function createLoggers(
  level: string,
  dest?: DestinationStream,
  /** Sees every audit event object (metrics are fed from the audit stream). */
  onAudit?: (event: Record<string, unknown>) => void,
): Loggers {
  const opts = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'fedgate' },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(onAudit === undefined
      ? {}
      : {
          hooks: {
            logMethod(this: Logger, args: Parameters<Logger['info']>, method: Logger['info']) {
              const [first] = args;
              if (
                typeof first === 'object' &&
                first !== null &&
                (this.bindings() as { stream?: unknown }).stream === 'audit'
              ) {
                try {
                  onAudit(first as Record<string, unknown>);
                } catch {
                  /* metrics never break logging */
                }
              }
              method.apply(this, args);
            },
          },
        }),
  };
  const log = dest === undefined ? pino(opts) : pino(opts, dest);
  // `node`: which farm member wrote the event (AD FS events carry the server name).
  const audit = log.child(
    { stream: 'audit', node: hostname() },
    { level: level === 'silent' ? 'silent' : 'info' },
  );
  return { log, audit };
}
