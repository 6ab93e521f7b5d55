/**
 * Third-party MFA over RADIUS (issue 16): the client fedgate's MFA step will use to ask a Duo Authentication
 * Proxy, RSA SecurID, privacyIDEA or the NPS extension whether a one-time code (or a push approval) is good.
 * Standalone: not wired into sign-in and read from no configuration key yet; it takes a typed options object.
 *
 * What it does (RFC 2865, RFC 2869 §5.14, RFC 3579 §3.2):
 * - an Access-Request with User-Name, the code as User-Password (PAP, hidden per RFC 2865 §5.2), NAS-Identifier, a
 *   random Request Authenticator, and a Message-Authenticator on EVERY request;
 * - a reply counts only if it comes from the server it was sent to, carries the request's Identifier, has the right
 *   Response Authenticator AND a valid Message-Authenticator (Accept, Reject and Challenge alike). Anything else
 *   is dropped as if never received and listed in the result's `dropped` for the caller to log and count: a
 *   forged or damaged answer can never decide (Blast-RADIUS, CVE-2024-3596);
 * - Access-Challenge comes back as `{ kind: 'challenge', state }`; the follow-up request carries that State
 *   (RFC 2865 §5.24) and the user's answer as User-Password, and goes to the server that issued the challenge;
 * - several servers, each with its own shared secret; per-attempt timeout and retransmissions (same Identifier
 *   and Request Authenticator, RFC 5080 §2.2.1); failover to the next server when one is silent or only answers
 *   badly; one bound on the whole call, so the caller never waits longer than `totalTimeoutMs` (plus a timer tick).
 *
 * No npm library: the `radius` package has been unmaintained since 2018 and does not enforce Message-Authenticator
 * on replies, so the codec is ours (`radius-packet.ts`).
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { cryptoRandom, type Random } from '../../lib/random.ts';
import {
  Attr,
  Code,
  checkReply,
  decodePacket,
  encodeAccessRequest,
  MAX_PACKET,
  MAX_PASSWORD,
  MAX_VALUE,
  type Attribute,
} from './radius-packet.ts';

export interface RadiusServer {
  /** How the server is named in results and logs (default `host:port`). */
  name?: string;
  /** IP address or host name. */
  host: string;
  /** UDP port (RADIUS authentication: 1812). */
  port: number;
  /** This server's shared secret (RFC 2865 §3: per client/server pair). */
  secret: string | Buffer;
}

export interface RadiusClientOptions {
  /** Tried in order; the next one is asked when one is silent or answers only with packets we refuse. */
  servers: readonly RadiusServer[];
  /** NAS-Identifier (RFC 2865 §5.32): how the RADIUS server knows this fedgate farm. */
  nasIdentifier: string;
  /** How long to wait for a reply to one transmission. */
  attemptTimeoutMs: number;
  /** Retransmissions to the same server after the first try (0 = ask each server once). */
  retries: number;
  /** Bound on the whole call, all servers together. */
  totalTimeoutMs: number;
  /** Largest datagram accepted (default and maximum 4096, RFC 2865 §3). */
  maxResponseBytes?: number;
  /** Randomness for Identifiers and Request Authenticators (default: node:crypto). */
  random?: Random;
}

export type DropReason =
  | 'wrong-source'
  | 'too-large'
  | 'malformed'
  | 'wrong-identifier'
  | 'unexpected-code'
  | 'bad-response-authenticator'
  | 'missing-message-authenticator'
  | 'bad-message-authenticator';

/**
 * A datagram refused while waiting: the caller logs and counts these (a forged reply is an attack signal). A result
 * lists the first 32.
 */
export interface DroppedResponse {
  server: string;
  reason: DropReason;
  from: string;
}

export type ServerFailure =
  /** Nothing (acceptable) came back in any attempt. */
  | 'timeout'
  /** Replies came back, but every one was refused (see `dropped`). */
  | 'bad-responses'
  /** The name did not resolve or the socket failed. */
  | 'network-error'
  /** The total bound ran out before this server was asked (or while it was). */
  | 'deadline';

/**
 * The answer. `replyMessage` is the server's Reply-Message text (RFC 2865 §5.18): UNTRUSTED input from the RADIUS
 * server. A caller that shows it must escape it as any other untrusted text and must never treat it as markup or as
 * a decision; the decision is `kind`.
 */
export type RadiusResult =
  | { kind: 'accept'; server: string; replyMessage?: string; dropped: DroppedResponse[] }
  | { kind: 'reject'; server: string; replyMessage?: string; dropped: DroppedResponse[] }
  | {
      kind: 'challenge';
      server: string;
      /** Index in `servers` of the server that issued it: the follow-up must go there. */
      serverIndex: number;
      /** The State to send back unchanged (RFC 2865 §5.24); absent if the server sent none. */
      state?: Buffer;
      replyMessage?: string;
      dropped: DroppedResponse[];
    }
  | {
      kind: 'unavailable';
      servers: { server: string; reason: ServerFailure; detail?: string }[];
      dropped: DroppedResponse[];
    }
  /** Refused before sending: a user name or answer RADIUS cannot carry (empty or too long). */
  | { kind: 'invalid-input'; reason: 'user-name' | 'password' | 'state' };

export interface RadiusRequest {
  username: string;
  /** The one-time code, or the answer to a challenge. */
  password: string;
  /** Set for the answer to an Access-Challenge: the challenge result it answers. */
  challenge?: { serverIndex: number; state?: Buffer };
}

/** How many refused datagrams a result lists at most (the first ones). */
const MAX_DROPPED = 32;

/** The longest Reply-Message text returned (it is shown to users at most; the rest is cut). */
const MAX_REPLY_MESSAGE = 1024;

export class RadiusClient {
  readonly #opts: RadiusClientOptions;
  readonly #random: Random;
  readonly #maxResponse: number;

  constructor(options: RadiusClientOptions) {
    if (options.servers.length === 0) throw new TypeError('RADIUS client: no servers');
    if (!(options.attemptTimeoutMs > 0 && options.totalTimeoutMs > 0 && options.retries >= 0))
      throw new TypeError('RADIUS client: timeouts must be positive and retries at least 0');
    const nas = Buffer.byteLength(options.nasIdentifier);
    if (nas === 0 || nas > MAX_VALUE) throw new TypeError('RADIUS client: bad NAS-Identifier');
    for (const s of options.servers) {
      if (Buffer.byteLength(s.secret) === 0)
        throw new TypeError('RADIUS client: empty shared secret');
      if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535 || s.host === '')
        throw new TypeError('RADIUS client: bad server address');
    }
    this.#opts = options;
    this.#random = options.random ?? cryptoRandom;
    this.#maxResponse = Math.min(options.maxResponseBytes ?? MAX_PACKET, MAX_PACKET);
  }

  /**
   * Asks the servers in order until one gives an acceptable reply, within `totalTimeoutMs`. Never throws for
   * anything the network does; the result says what happened.
   */
  async authenticate(request: RadiusRequest): Promise<RadiusResult> {
    const user = Buffer.from(request.username, 'utf8');
    const password = Buffer.from(request.password, 'utf8');
    if (user.length === 0 || user.length > MAX_VALUE)
      return { kind: 'invalid-input', reason: 'user-name' };
    if (password.length === 0 || password.length > MAX_PASSWORD)
      return { kind: 'invalid-input', reason: 'password' };
    const state = request.challenge?.state;
    if (state !== undefined && (state.length === 0 || state.length > MAX_VALUE))
      return { kind: 'invalid-input', reason: 'state' };

    const attributes: Attribute[] = [
      { type: Attr.UserName, value: user },
      { type: Attr.UserPassword, value: password },
      { type: Attr.NasIdentifier, value: Buffer.from(this.#opts.nasIdentifier, 'utf8') },
    ];
    if (state !== undefined) attributes.push({ type: Attr.State, value: Buffer.from(state) });

    // A challenge answer goes only to the server that holds the challenge's State.
    const order =
      request.challenge === undefined
        ? this.#opts.servers.map((_, i) => i)
        : [request.challenge.serverIndex];
    const deadline = performance.now() + this.#opts.totalTimeoutMs;
    const dropped: DroppedResponse[] = [];
    const failures: { server: string; reason: ServerFailure; detail?: string }[] = [];
    for (const index of order) {
      const server = this.#opts.servers[index];
      if (server === undefined) {
        failures.push({
          server: `#${String(index)}`,
          reason: 'network-error',
          detail: 'no such server',
        });
        continue;
      }
      const name = server.name ?? `${server.host}:${String(server.port)}`;
      if (performance.now() >= deadline) {
        failures.push({ server: name, reason: 'deadline' });
        continue;
      }
      const outcome = await this.#askServer(server, name, index, attributes, deadline, dropped);
      if ('kind' in outcome) return outcome;
      failures.push({ server: name, ...outcome });
    }
    return { kind: 'unavailable', servers: failures, dropped };
  }

  async #askServer(
    server: RadiusServer,
    name: string,
    index: number,
    attributes: readonly Attribute[],
    deadline: number,
    dropped: DroppedResponse[],
  ): Promise<RadiusResult | { reason: ServerFailure; detail?: string }> {
    const secret = Buffer.isBuffer(server.secret)
      ? server.secret
      : Buffer.from(server.secret, 'utf8');
    let address: string;
    let family: 4 | 6;
    try {
      const ipFamily = isIP(server.host);
      if (ipFamily !== 0) {
        address = server.host;
        family = ipFamily === 6 ? 6 : 4;
      } else {
        const found = await withDeadline(lookup(server.host), deadline);
        if (found === undefined) return { reason: 'deadline' };
        address = found.address;
        family = found.family === 6 ? 6 : 4;
      }
    } catch (e) {
      return { reason: 'network-error', detail: e instanceof Error ? e.message : 'lookup failed' };
    }

    const identifier = (this.#random.bytes(1)[0] ?? 0) & 0xff;
    const requestAuthenticator = this.#random.bytes(16);
    const packet = encodeAccessRequest({
      identifier,
      requestAuthenticator,
      secret,
      attributes,
    });

    const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
    let refused = 0;
    try {
      return await new Promise<RadiusResult | { reason: ServerFailure; detail?: string }>(
        (resolve) => {
          let attempts = 0;
          let timer: NodeJS.Timeout | undefined;
          let done = false;
          const finish = (r: RadiusResult | { reason: ServerFailure; detail?: string }): void => {
            if (done) return;
            done = true;
            if (timer !== undefined) clearTimeout(timer);
            socket.removeAllListeners('message');
            resolve(r);
          };
          const silent = (): { reason: ServerFailure } => ({
            reason: refused > 0 ? 'bad-responses' : 'timeout',
          });
          const send = (): void => {
            if (done) return;
            const left = deadline - performance.now();
            if (left <= 0) {
              finish({ reason: attempts === 0 ? 'deadline' : silent().reason });
              return;
            }
            attempts++;
            try {
              socket.send(packet, server.port, address, (err) => {
                if (err) finish({ reason: 'network-error', detail: err.message });
              });
            } catch (e) {
              // Synchronous send failures (a closed socket, an unusable address) end this server, not the call.
              finish({
                reason: 'network-error',
                detail: e instanceof Error ? e.message : 'send failed',
              });
              return;
            }
            timer = setTimeout(
              () => {
                if (attempts <= this.#opts.retries && performance.now() < deadline) send();
                else finish(silent());
              },
              Math.min(this.#opts.attemptTimeoutMs, left),
            );
          };
          socket.on('error', (err) => {
            finish({ reason: 'network-error', detail: err.message });
          });
          const onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
            const drop = (reason: DropReason): void => {
              // Bounded: a flood of junk must not grow memory while we wait.
              refused++;
              if (dropped.length >= MAX_DROPPED) return;
              dropped.push({
                server: name,
                reason,
                from: `${rinfo.address}:${String(rinfo.port)}`,
              });
            };
            // RFC 2865 §3: a reply must come from the address and port the request went to.
            if (rinfo.address !== address || rinfo.port !== server.port) {
              drop('wrong-source');
              return;
            }
            if (msg.length > this.#maxResponse) {
              drop('too-large');
              return;
            }
            const reply = decodePacket(msg);
            if (typeof reply === 'string') {
              drop('malformed');
              return;
            }
            if (reply.identifier !== identifier) {
              drop('wrong-identifier');
              return;
            }
            if (
              reply.code !== Code.AccessAccept &&
              reply.code !== Code.AccessReject &&
              reply.code !== Code.AccessChallenge
            ) {
              drop('unexpected-code');
              return;
            }
            const check = checkReply(reply, requestAuthenticator, secret);
            if (check !== 'ok') {
              drop(check);
              return;
            }
            const replyMessage = textOf(reply.attributes, Attr.ReplyMessage);
            const common = {
              server: name,
              dropped,
              ...(replyMessage === undefined ? {} : { replyMessage }),
            };
            if (reply.code === Code.AccessAccept) finish({ kind: 'accept', ...common });
            else if (reply.code === Code.AccessReject) finish({ kind: 'reject', ...common });
            else {
              const st = reply.attributes.find((a) => a.type === Attr.State)?.value;
              finish({
                kind: 'challenge',
                serverIndex: index,
                ...common,
                ...(st === undefined ? {} : { state: Buffer.from(st) }),
              });
            }
          };
          socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
            // Whatever a datagram holds, it must never throw through: refuse it as malformed.
            try {
              onMessage(msg, rinfo);
            } catch {
              refused++;
              if (dropped.length < MAX_DROPPED)
                dropped.push({
                  server: name,
                  reason: 'malformed',
                  from: `${rinfo.address}:${String(rinfo.port)}`,
                });
            }
          });
          send();
        },
      );
    } finally {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      try {
        socket.close();
      } catch {
        // already closed by an error: nothing to release
      }
    }
  }
}

/** Reply-Message may come in several attributes (RFC 2865 §5.18): joined by newlines, cut to a bound. */
function textOf(attributes: readonly Attribute[], type: number): string | undefined {
  const parts = attributes.filter((a) => a.type === type).map((a) => a.value.toString('utf8'));
  if (parts.length === 0) return undefined;
  return parts.join('\n').slice(0, MAX_REPLY_MESSAGE);
}

/** Resolves to undefined when the deadline comes first (the lookup is left to finish on its own). */
async function withDeadline<T>(p: Promise<T>, deadline: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => {
    timer = setTimeout(
      () => {
        r(undefined);
      },
      Math.max(0, deadline - performance.now()),
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
