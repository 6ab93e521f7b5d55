/**
 * Where a sign-in certificate comes from: the TLS handshake of the certificate listener, or a header set by a
 * TLS-terminating load balancer (security-corpus C6.1–C6.3). The header is believed only when
 * - the TCP peer (never X-Forwarded-For) is in the configured trusted-proxy ranges,
 * - it is the one configured header name, present exactly once and not empty (a name variant such as
 *   X_SSL_Client_Cert is never read, only noted),
 * - the proxy's verification header is present exactly once and says SUCCESS (nginx $ssl_client_verify; anything
 *   else, FAILED:… or NONE, refuses).
 * fedgate validates the certificate itself afterwards regardless of what the proxy said.
 */
import type { Request } from 'express';
import { BlockList } from 'node:net';
import { TLSSocket } from 'node:tls';
import { MAX_CERTIFICATE_BYTES } from '../authn/certificate/x509.ts';
import type { Config } from '../config/schema.ts';
import { canonicalIp, parseAddressList } from '../lib/ip.ts';

type ProxyConfig = NonNullable<Config['certificateAuth']['proxy']>;

/** The client certificate of the request's TLS connection (DER), when one was presented. */
export function tlsClientCertificate(req: Request): Buffer | undefined {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket)) return undefined;
  const cert = socket.getPeerX509Certificate();
  return cert?.raw;
}

export type HeaderCertificate =
  | { status: 'absent' }
  /** A certificate header from a peer that is not a trusted proxy: ignored (and audited by the caller). */
  | { status: 'untrusted_peer'; peer: string }
  /**
   * From a trusted proxy but not usable: `verify` when the proxy did not verify it (FAILED:…, NONE with a
   * certificate, no verification header), `format` when duplicated, empty or malformed.
   */
  | { status: 'refused'; kind: 'verify' | 'format'; reason: string }
  | { status: 'ok'; der: Buffer };

/** The values of one header by exact (case-insensitive) name, from the raw list (duplicates are not merged there). */
export function headerValues(req: Request, name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
    if (req.rawHeaders[i]?.toLowerCase() === lower) out.push(req.rawHeaders[i + 1] ?? '');
  return out;
}

/** Header names that look like `name` once case, `_` and `-` are ignored but are not it (C6.2 name variants). */
export function headerVariants(req: Request, name: string): string[] {
  const fold = (n: string): string => n.toLowerCase().replace(/[-_]/g, '');
  const want = fold(name);
  const out: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const n = req.rawHeaders[i] ?? '';
    if (fold(n) === want && n.toLowerCase() !== name.toLowerCase()) out.push(n.slice(0, 64));
  }
  return out;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Decodes a header value in the configured proxy format to DER; undefined when it is not that format. */
export function decodeCertificateHeader(
  value: string,
  format: ProxyConfig['format'],
): Buffer | undefined {
  const v = value.trim();
  if (v === '' || v.length > MAX_CERTIFICATE_BYTES * 3) return undefined;
  let b64: string | undefined;
  if (format === 'rfc9440') {
    // RFC 9440 §2.1: an sf-binary Byte Sequence, `:` base64 `:`.
    b64 = /^:([A-Za-z0-9+/]+={0,2}):$/.exec(v)?.[1];
  } else if (format === 'base64-der') {
    b64 = BASE64.test(v) ? v : undefined;
  } else {
    // nginx $ssl_client_escaped_cert: the PEM, URL-encoded.
    let pem: string;
    try {
      pem = decodeURIComponent(v);
    } catch {
      return undefined;
    }
    const blocks = [
      ...pem.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g),
    ];
    if (blocks.length !== 1) return undefined;
    const body = (blocks[0]?.[1] ?? '').replace(/\s+/g, '');
    b64 = BASE64.test(body) ? body : undefined;
  }
  if (b64 === undefined) return undefined;
  const der = Buffer.from(b64, 'base64');
  return der.length > 0 && der.length <= MAX_CERTIFICATE_BYTES ? der : undefined;
}

/**
 * The address-range names Express's `trust proxy` accepts in listen.trustedProxies (proxy-addr's pre-defined
 * subnets), as CIDR ranges, so the certificate reader trusts exactly the peers the app trusts for
 * X-Forwarded-* when it inherits that list.
 */
const NAMED_RANGES: Record<string, readonly string[]> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** listen.trustedProxies entries as IP/CIDR ranges (named ranges expanded). */
export function proxyRanges(entries: readonly string[]): string[] {
  return entries.flatMap((e) => NAMED_RANGES[e.trim().toLowerCase()] ?? [e]);
}

export class ProxyCertificateReader {
  readonly #cfg: ProxyConfig;
  readonly #trusted: BlockList;

  constructor(cfg: ProxyConfig, listenTrustedProxies: readonly string[]) {
    this.#cfg = cfg;
    this.#trusted = parseAddressList(proxyRanges(cfg.trustedProxies ?? listenTrustedProxies));
  }

  get header(): string {
    return this.#cfg.header;
  }

  /** Whether the TCP peer of this request is a trusted proxy. */
  trustedPeer(req: Request): boolean {
    const peer = canonicalIp(req.socket.remoteAddress ?? '');
    if (peer === '') return false;
    return this.#trusted.check(peer, peer.includes(':') ? 'ipv6' : 'ipv4');
  }

  read(req: Request): HeaderCertificate {
    const values = headerValues(req, this.#cfg.header);
    const verify = headerValues(req, this.#cfg.verifyHeader);
    if (values.length === 0) {
      // A proxy that refused the certificate (nginx error_page 495 → fedgate) sends no certificate, only why.
      if (verify.length === 1 && /^FAILED/i.test(verify[0]?.trim() ?? '') && this.trustedPeer(req))
        return {
          status: 'refused',
          kind: 'verify',
          reason: `proxy verification ${JSON.stringify((verify[0] ?? '').slice(0, 80))}`,
        };
      return { status: 'absent' };
    }
    if (!this.trustedPeer(req))
      return { status: 'untrusted_peer', peer: canonicalIp(req.socket.remoteAddress ?? '') };
    if (values.length > 1)
      return { status: 'refused', kind: 'format', reason: 'certificate header repeated' };
    if (verify.length !== 1)
      return {
        status: 'refused',
        kind: 'verify',
        reason: verify.length === 0 ? 'no verification header' : 'verification header repeated',
      };
    if (verify[0]?.trim() !== 'SUCCESS')
      return {
        status: 'refused',
        kind: 'verify',
        reason: `proxy verification ${JSON.stringify((verify[0] ?? '').slice(0, 80))}`,
      };
    const der = decodeCertificateHeader(values[0] ?? '', this.#cfg.format);
    if (der === undefined)
      return {
        status: 'refused',
        kind: 'format',
        reason: `certificate header is not ${this.#cfg.format}`,
      };
    return { status: 'ok', der };
  }
}
