import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';

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

type Boom = ReturnType<typeof pino.destination>;

/**
 * Standard output as the server's log destination, asynchronous and bounded (issue 20, "Logging that never
 * blocks"). A synchronous destination (`pino.destination({ sync: true })`, console-like) stalls the event loop as soon
 * as the reader of stdout (a container runtime's log pipe) stops reading: the pipe fills and every log call waits.
 * pino 10's default is already asynchronous (sonic-boom, `sync: false`) but unbounded: a reader that never reads
 * grows the heap without limit, and pino's exit handler then writes the buffer synchronously, retrying forever, so
 * the process never exits. Here lines go to a sonic-boom stream with `sync: false` (pino.destination): a full pipe
 * only grows the buffer, and the write is retried every 100 ms (sonic-boom's EAGAIN retry) off the request path.
 *
 * The buffer is bounded by `log.bufferBytes`. Past the bound a line is dropped whole (never cut), counted per stream
 * (`log` or `audit`) in `fedgate_log_dropped_lines_total`, and once the buffer has emptied again one warning line
 * says how many were lost, so the gap is visible in the log itself. Exit waits for the reader at most
 * `log.flushTimeoutMs` (close, flushSync).
 *
 * One per process (there is one standard output); the first caller's bound applies.
 */
export class StdoutSink implements DestinationStream {
  readonly #boom: Boom;
  readonly #maxBytes: number;
  #buffered = 0;
  #closed = false;
  #destroyed = false;
  /** performance.now() after which a blocked write is given up (Infinity until the process is exiting). */
  #giveUpAt = Number.POSITIVE_INFINITY;
  readonly #dropped = { log: 0, audit: 0 };
  #droppedBytes = 0;
  #unreported = 0;
  #report: ((lines: number) => void) | undefined;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
    // Reading process.stdout makes Node open fd 1 as a stream; for a pipe libuv sets O_NONBLOCK on it, so a stalled
    // reader makes writes fail with EAGAIN instead of blocking a thread, which lets the final flush give up in time.
    const fd = process.stdout.fd;
    this.#boom = pino.destination({
      dest: fd,
      sync: false,
      retryEAGAIN: () => performance.now() < this.#giveUpAt,
    });
    this.#boom.on('write', (n: number) => {
      this.#buffered = Math.max(0, this.#buffered - n);
    });
    this.#boom.on('drain', () => {
      this.#buffered = 0;
      if (this.#unreported > 0 && this.#report !== undefined) {
        const lines = this.#unreported;
        this.#unreported = 0;
        this.#report(lines);
      }
    });
    // EPIPE (the reader is gone) or a write given up at exit: never an uncaught 'error' that would crash the server.
    this.#boom.on('error', () => {
      this.#closed = true;
    });
  }

  write(line: string): void {
    const n = Buffer.byteLength(line);
    if (this.#closed || this.#buffered + n > this.#maxBytes) {
      this.#dropped[line.includes('"stream":"audit"') ? 'audit' : 'log'] += 1;
      this.#droppedBytes += n;
      this.#unreported += 1;
      return;
    }
    this.#buffered += n;
    this.#boom.write(line);
  }

  /** Called (with the count) when the buffer has emptied after lines were dropped. */
  onDropsReported(report: (lines: number) => void): void {
    this.#report = report;
  }

  get bufferedBytes(): number {
    return this.#buffered;
  }

  get droppedLines(): { readonly log: number; readonly audit: number } {
    return this.#dropped;
  }

  get droppedBytes(): number {
    return this.#droppedBytes;
  }

  /** Waits (at most timeoutMs) until every accepted line has reached the reader; true when it did. */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.#buffered === 0 || this.#closed) return Promise.resolve(this.#buffered === 0);
    return new Promise((ok) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#boom.off('drain', done);
        ok(this.#buffered === 0);
      };
      const timer = setTimeout(done, timeoutMs);
      this.#boom.on('drain', done);
    });
  }

  /**
   * Before process.exit on a graceful shutdown: flush (at most timeoutMs), then accept nothing more. Lines a reader
   * never took within the bound are counted as dropped and let go, so exit is never held by a stalled reader.
   */
  async close(timeoutMs: number): Promise<boolean> {
    const ok = await this.flush(timeoutMs);
    this.#abandonIfPending();
    this.#closed = true;
    return ok;
  }

  /**
   * On a fatal error or a second signal, when the event loop is not to be trusted or waited for: write what is
   * buffered synchronously, giving up after timeoutMs of a stalled reader.
   */
  flushSync(timeoutMs: number): boolean {
    this.#giveUpAt = performance.now() + timeoutMs;
    let ok = this.#closed;
    if (!this.#closed) {
      try {
        this.#boom.flushSync();
        this.#buffered = 0;
        ok = true;
      } catch {
        ok = false;
      }
    }
    this.#abandonIfPending();
    this.#closed = true;
    return ok;
  }

  #abandonIfPending(): void {
    if (this.#buffered === 0 || this.#destroyed) return;
    this.#droppedBytes += this.#buffered;
    this.#buffered = 0;
    this.#destroyed = true;
    // destroy() discards the buffer, so pino's own flush at process exit has nothing left to block on.
    this.#boom.destroy();
  }
}

let stdout: StdoutSink | undefined;

/** The process's standard-output sink (created on first use with that caller's bound). */
export function stdoutSink(maxBytes: number): StdoutSink {
  stdout ??= new StdoutSink(maxBytes);
  return stdout;
}

/** The sink's figures on a server's registry: read at scrape time, so several servers in one process share them. */
export function registerLogSinkMetrics(registry: Registry, sink: StdoutSink): void {
  new Counter({
    name: 'fedgate_log_dropped_lines_total',
    help: 'Log lines dropped because standard output was not read and the buffer (log.bufferBytes) was full; stream "audit" or "log".',
    labelNames: ['stream'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ stream: 'log' }, sink.droppedLines.log);
      this.inc({ stream: 'audit' }, sink.droppedLines.audit);
    },
  });
  new Gauge({
    name: 'fedgate_log_buffered_bytes',
    help: 'Log bytes accepted but not yet taken by the reader of standard output.',
    registers: [registry],
    collect() {
      this.set(sink.bufferedBytes);
    },
  });
}
