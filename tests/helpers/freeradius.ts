import { execFile } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = new URL('../setup/freeradius.sh', import.meta.url).pathname;

export interface TestFreeRadius {
  port: number;
  secret: string;
  dir: string;
  /** What FreeRADIUS logged so far (auth results, dropped packets). */
  log(): string;
  stop(): Promise<void>;
}

/** A free loopback UDP port (bound, then released). */
export function freeUdpPort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createSocket('udp4');
    s.once('error', fail);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => {
        ok(port);
      });
    });
  });
}

/**
 * Starts a real FreeRADIUS (Debian `freeradius` 3.2) on a free loopback UDP port with the configuration in
 * tests/fixtures/freeradius/ (tests/setup/freeradius.sh): users `accepted` (code 123456), `rejected`, and
 * `challenged` (Access-Challenge with State 'fedgatestate01', then accepted on the answer 777111); the client entry
 * requires a Message-Authenticator. A port taken between probing and binding is retried.
 */
export async function startFreeRadius(
  secret = 'fedgate-radius-test-secret',
): Promise<TestFreeRadius> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeUdpPort();
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-freeradius-'));
    try {
      await run('bash', [script, 'start', String(port), dir, secret]);
    } catch (e) {
      lastError = e;
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    return {
      port,
      secret,
      dir,
      log: () => {
        try {
          return readFileSync(join(dir, 'radius.log'), 'utf8');
        } catch {
          return '';
        }
      },
      stop: async () => {
        await run('bash', [script, 'stop', dir]);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  throw lastError;
}

/** A bound UDP socket that never answers: a RADIUS server that is down without an ICMP error. */
export async function startSilentServer(): Promise<{
  port: number;
  received: () => number;
  close: () => Promise<void>;
}> {
  const s = createSocket('udp4');
  let count = 0;
  s.on('message', () => {
    count++;
  });
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', ok));
  return {
    port: s.address().port,
    received: () => count,
    close: () =>
      new Promise<void>((ok) =>
        s.close(() => {
          ok();
        }),
      ),
  };
}

export type ResponderMode =
  /** A correct Access-Accept with a valid Message-Authenticator (the positive control). */
  | 'valid'
  /** A correct Response Authenticator, but a Message-Authenticator with one bit flipped. */
  | 'bad-message-authenticator'
  /** A correct Response Authenticator and no Message-Authenticator at all (a pre-Blast-RADIUS server, or a forger). */
  | 'no-message-authenticator'
  /** Everything valid, but for the Identifier of another request. */
  | 'wrong-identifier'
  /** A valid Message-Authenticator, but a Response Authenticator computed over other bytes. */
  | 'bad-response-authenticator'
  /** Everything valid, but sent from another port than the one the request went to. */
  | 'from-other-port'
  /** A valid reply whose Length field claims one octet more than the datagram holds. */
  | 'truncated'
  /** A valid reply followed by padding (RFC 2865 §3 allows it) up to 4200 octets, past the 4096-octet cap. */
  | 'oversize';

/**
 * A test-only RADIUS "server" that answers every Access-Request with an Access-Accept (or `code`), built here from the RFC
 * text with node:crypto (not with fedgate's codec): it knows the shared secret, so only the
 * Message-Authenticator differs between its modes (RFC 2865 §3 Response Authenticator; RFC 3579 §3.2 HMAC-MD5 over
 * the reply with the Request Authenticator in place and the attribute's value zeroed).
 */
export async function startResponder(
  secret: string,
  mode: ResponderMode,
  /** The reply's code: 2 Access-Accept (default), 3 Access-Reject, 11 Access-Challenge. */
  code = 2,
): Promise<{ port: number; answered: () => number; close: () => Promise<void> }> {
  const s: Socket = createSocket('udp4');
  const other: Socket = createSocket('udp4');
  let answered = 0;
  s.on('message', (req, rinfo) => {
    if (req.length < 20 || req[0] !== 1) return;
    const id = ((req[1] ?? 0) + (mode === 'wrong-identifier' ? 1 : 0)) & 0xff;
    const requestAuthenticator = req.subarray(4, 20);
    const text = Buffer.from('responder says yes');
    const replyMessage = Buffer.concat([Buffer.from([18, text.length + 2]), text]);
    const ma =
      mode === 'no-message-authenticator'
        ? Buffer.alloc(0)
        : Buffer.concat([Buffer.from([80, 18]), Buffer.alloc(16)]);
    const p = Buffer.concat([
      Buffer.from([code, id, 0, 0]),
      requestAuthenticator,
      ma,
      replyMessage,
    ]);
    p.writeUInt16BE(p.length, 2);
    if (mode !== 'no-message-authenticator') {
      const mac = createHmac('md5', secret).update(p).digest();
      if (mode === 'bad-message-authenticator') mac[5] = (mac[5] ?? 0) ^ 0x10;
      mac.copy(p, 22);
    }
    createHash('md5')
      .update(p)
      .update(mode === 'bad-response-authenticator' ? 'x' : '')
      .update(secret)
      .digest()
      .copy(p, 4);
    answered++;
    let out = p;
    if (mode === 'truncated') out = p.subarray(0, p.length - 1);
    if (mode === 'oversize') out = Buffer.concat([p, Buffer.alloc(4200 - p.length)]);
    (mode === 'from-other-port' ? other : s).send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', ok));
  await new Promise<void>((ok) => other.bind(0, '127.0.0.1', ok));
  return {
    port: s.address().port,
    answered: () => answered,
    close: async () => {
      await new Promise<void>((ok) =>
        other.close(() => {
          ok();
        }),
      );
      await new Promise<void>((ok) =>
        s.close(() => {
          ok();
        }),
      );
    },
  };
}
