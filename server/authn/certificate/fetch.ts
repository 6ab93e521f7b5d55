/**
 * Downloads for revocation checking (CRL distribution points, OCSP): plain node http/https with a hard timeout and
 * size cap, no redirects followed (a CDP that redirects is a misconfiguration or an attempt to steer fedgate
 * elsewhere), status 200 only. Injected, so tests and a proxy-only deployment can replace it.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface FetchOptions {
  timeoutMs: number;
  maxBytes: number;
  method?: 'GET' | 'POST';
  body?: Buffer | undefined;
  contentType?: string | undefined;
  accept?: string | undefined;
}

export type Fetcher = (url: string, opts: FetchOptions) => Promise<Buffer>;

export class FetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FetchError';
  }
}

export const httpFetcher: Fetcher = (url, opts) =>
  new Promise<Buffer>((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new FetchError(`bad URL ${url.slice(0, 200)}`));
      return;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      reject(new FetchError(`unsupported scheme ${u.protocol}`));
      return;
    }
    const make = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers: Record<string, string> = { 'user-agent': 'fedgate-revocation' };
    if (opts.contentType !== undefined) headers['content-type'] = opts.contentType;
    if (opts.accept !== undefined) headers.accept = opts.accept;
    if (opts.body !== undefined) headers['content-length'] = String(opts.body.length);
    const req = make(u, { method: opts.method ?? 'GET', headers }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new FetchError(`HTTP ${res.statusCode ?? 0} from ${u.origin}`));
        return;
      }
      const declared = Number(res.headers['content-length'] ?? '0');
      if (declared > opts.maxBytes) {
        res.destroy();
        reject(new FetchError(`response larger than ${opts.maxBytes} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > opts.maxBytes) {
          res.destroy();
          reject(new FetchError(`response larger than ${opts.maxBytes} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        resolve(Buffer.concat(chunks));
      });
      res.on('error', (e) => {
        reject(new FetchError(e.message));
      });
    });
    req.setTimeout(opts.timeoutMs, () => {
      req.destroy(new FetchError(`no answer from ${u.origin} within ${opts.timeoutMs} ms`));
    });
    req.on('error', (e) => {
      reject(e instanceof FetchError ? e : new FetchError(e.message));
    });
    req.end(opts.body);
  });
