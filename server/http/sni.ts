/**
 * One TCP port, two TLS servers chosen by SNI (AD FS's `certauth.<name>` binding on 443): the certificate host must
 * ask for a client certificate during the handshake, the main host must not (browsers would prompt on every page),
 * and Node decides `requestCert` per server, before the ClientHello is read. So the main port peeks at the
 * ClientHello's server_name (RFC 8446 §4.1.2, RFC 6066 §3) and hands the untouched socket to the server for that
 * name. Anything that is not a well-formed ClientHello goes to the main server, which then fails the handshake as
 * it would have anyway.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Server } from 'node:https';

/** Largest ClientHello record read before giving up (one TLS record). */
const MAX_RECORD = 16 * 1024 + 5;

/**
 * The server_name of a TLS ClientHello at the start of `buf`: the name, `null` when the hello has none (or is not a
 * hello), `undefined` when more bytes are needed.
 */
export function clientHelloServerName(buf: Buffer): string | null | undefined {
  if (buf.length < 5) return undefined;
  if (buf[0] !== 0x16) return null; // not a handshake record
  const recordLength = buf.readUInt16BE(3);
  if (buf.length < 5 + recordLength) return buf.length >= MAX_RECORD ? null : undefined;
  const r = buf.subarray(5, 5 + recordLength);
  let p = 0;
  const need = (n: number): boolean => p + n <= r.length;
  if (!need(4) || r[0] !== 0x01) return null; // ClientHello
  p = 4 + 2 + 32; // handshake header, legacy_version, random
  if (!need(1)) return null;
  p += 1 + (r[p] as number); // session id
  if (!need(2)) return null;
  p += 2 + r.readUInt16BE(p); // cipher suites
  if (!need(1)) return null;
  p += 1 + (r[p] as number); // compression methods
  if (!need(2)) return null;
  const end = p + 2 + r.readUInt16BE(p);
  p += 2;
  if (end > r.length) return null;
  while (p + 4 <= end) {
    const type = r.readUInt16BE(p);
    const len = r.readUInt16BE(p + 2);
    p += 4;
    if (p + len > end) return null;
    if (type === 0) {
      // server_name: ServerNameList { NameType host_name(0), opaque HostName<1..2^16-1> }
      let q = p + 2;
      const listEnd = p + 2 + r.readUInt16BE(p);
      while (q + 3 <= listEnd) {
        const nameType = r[q] as number;
        const nameLen = r.readUInt16BE(q + 1);
        q += 3;
        if (q + nameLen > listEnd) return null;
        if (nameType === 0)
          return r
            .subarray(q, q + nameLen)
            .toString('latin1')
            .toLowerCase();
        q += nameLen;
      }
      return null;
    }
    p += len;
  }
  return null;
}

/**
 * A TCP server that reads each connection's ClientHello and passes the socket, bytes unread, to `certificate` when
 * its server_name is `hostname`, else to `main`.
 */
export function sniDemultiplexer(opts: {
  hostname: string;
  main: Server;
  certificate: Server;
  /** A client must send its ClientHello within this time. */
  timeoutMs?: number;
}): NetServer {
  const want = opts.hostname.toLowerCase();
  return createServer({ pauseOnConnect: true }, (socket: Socket) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => socket.destroy(), opts.timeoutMs ?? 10_000);
    socket.once('close', () => {
      clearTimeout(timer);
    });
    const hand = (target: Server): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.pause();
      socket.unshift(Buffer.concat(chunks, size));
      target.emit('connection', socket);
    };
    const onError = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      const name = clientHelloServerName(Buffer.concat(chunks, size));
      if (name === undefined) return;
      hand(name === want ? opts.certificate : opts.main);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.resume();
  });
}
