/**
 * `fedgate doctor --public-url`: public reachability (issue 21): the federation metadata and the load-balancer
 * probe answer over TLS at the address Entra ID and users reach, with normal certificate verification (the system
 * roots, plus an extra CA file when given), and the metadata is this federation service's (entityID and signing
 * certificate). Never throws: every failure is a check.
 */
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Config } from '../config/schema.ts';
import { ROUTES } from '../http/routes.ts';
import type { Clock } from '../lib/clock.ts';
import { METADATA_LIMITS } from '../lib/xml-limits.ts';
import { parseXmlStrict } from '../lib/xml-parse.ts';
import { localPrimaryCertificate } from './cert-checks.ts';
import type { CheckStatus, PlumbingCheck } from './types.ts';

const MAX_BODY_BYTES = 1024 * 1024;
const MAX_REDIRECTS = 3;
const MD_NS = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS_NS = 'http://www.w3.org/2000/09/xmldsig#';

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

interface Reply {
  status: number;
  location: string | undefined;
  body: string;
}

/** What an admin should read for Node's TLS and socket error codes. */
function explain(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const msg = errText(err);
  switch (code) {
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the TLS certificate does not name this host (${msg})`;
    case 'CERT_HAS_EXPIRED':
      return 'the TLS certificate has expired';
    case 'CERT_NOT_YET_VALID':
      return 'the TLS certificate is not valid yet (check the clocks)';
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `the TLS certificate is not trusted (${code}): serve a certificate from a public CA with its intermediates`;
    case 'ECONNREFUSED':
      return 'the connection is refused (nothing listens there)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    case 'ECONNRESET':
      return 'the connection was reset (not a TLS server, or a firewall)';
    default:
      return typeof code === 'string' ? `${code}: ${msg}` : msg;
  }
}

function get(url: URL, ca: (string | Buffer)[] | undefined, timeoutMs: number): Promise<Reply> {
  return new Promise((ok, fail) => {
    let settled = false;
    const done = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const req = request(
      url,
      {
        method: 'GET',
        // Certificate checks are never switched off: the point is what a browser or Entra ID would see.
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        ...(ca === undefined ? {} : { ca }),
        headers: { accept: 'application/xml, text/xml, */*' },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY_BYTES) {
            req.destroy(new Error(`the answer exceeds ${MAX_BODY_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          done(() => {
            ok({
              status: res.statusCode ?? 0,
              location: res.headers.location,
              body: Buffer.concat(chunks).toString('utf8'),
            });
          });
        });
        res.on('error', (err) => {
          done(() => {
            fail(err);
          });
        });
      },
    );
    // One deadline for connect, handshake and the whole answer: a black-holed address must not hang the doctor.
    const timer = setTimeout(() => {
      req.destroy(
        Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'TIMEOUT' }),
      );
    }, timeoutMs);
    req.on('error', (err) => {
      done(() => {
        fail(err);
      });
    });
    req.end();
  });
}

/** GET that follows redirects only on the same origin (another host is reported, never contacted). */
async function fetchSameOrigin(
  start: URL,
  ca: (string | Buffer)[] | undefined,
  timeoutMs: number,
): Promise<{ reply: Reply; url: URL } | { error: string }> {
  let url = start;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    let reply: Reply;
    try {
      reply = await get(url, ca, timeoutMs);
    } catch (err) {
      return { error: explain(err) };
    }
    if (reply.status < 300 || reply.status >= 400 || reply.location === undefined)
      return { reply, url };
    let next: URL;
    try {
      next = new URL(reply.location, url);
    } catch {
      return { error: `HTTP ${reply.status} redirect to an invalid location` };
    }
    if (next.origin !== start.origin)
      return {
        error: `HTTP ${reply.status} redirect to another host (${next.origin}), not followed: the address does not serve fedgate itself`,
      };
    url = next;
  }
  return { error: `more than ${MAX_REDIRECTS} redirects` };
}

/** The signing certificates (base64 DER) the metadata publishes. */
function signingCertificates(doc: Document): string[] {
  const out: string[] = [];
  const kds = doc.getElementsByTagNameNS(MD_NS, 'KeyDescriptor');
  for (let i = 0; i < kds.length; i++) {
    const kd = kds.item(i);
    if (kd === null) continue;
    const use = kd.getAttribute('use');
    if (use !== null && use !== '' && use !== 'signing') continue;
    const certs = kd.getElementsByTagNameNS(DS_NS, 'X509Certificate');
    for (let j = 0; j < certs.length; j++) {
      const t = certs.item(j)?.textContent ?? '';
      if (t !== '') out.push(t.replace(/\s+/g, ''));
    }
  }
  return [...new Set(out)];
}

export async function checkPublicUrl(
  config: Config,
  url: string,
  opts: { clock: Clock; ca?: string; timeoutMs?: number },
): Promise<PlumbingCheck[]> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const check = (target: string, name: string, status: CheckStatus, message: string) =>
    ({ area: 'public', target, check: name, status, message }) satisfies PlumbingCheck;
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    return [check(url, 'url', 'error', `${url} is not a URL`)];
  }
  if (base.protocol !== 'https:')
    return [
      check(
        url,
        'url',
        'error',
        `${url} is not https: Entra ID and browsers reach federation metadata and sign-in only over TLS`,
      ),
    ];
  if (base.username !== '' || base.password !== '' || base.search !== '' || base.hash !== '')
    return [check(url, 'url', 'error', `${url}: give scheme://host[:port] only`)];
  const root = base.origin + base.pathname.replace(/\/+$/, '');

  let ca: (string | Buffer)[] | undefined;
  if (opts.ca !== undefined) {
    try {
      // The system roots plus the extra CA: a given CA file adds trust, it never replaces the public roots.
      ca = [...rootCertificates, await readFile(opts.ca)];
    } catch (err) {
      return [check(opts.ca, 'url', 'error', `the CA file cannot be read: ${errText(err)}`)];
    }
  }

  const out: PlumbingCheck[] = [];
  const mdUrl = `${root}${ROUTES.metadata}`;
  const md = await fetchSameOrigin(new URL(mdUrl), ca, timeoutMs);
  if ('error' in md) out.push(check(mdUrl, 'metadata', 'error', md.error));
  else if (md.reply.status !== 200)
    out.push(
      check(
        mdUrl,
        'metadata',
        'error',
        `HTTP ${md.reply.status} instead of 200 for the federation metadata`,
      ),
    );
  else out.push(...(await metadataChecks(config, mdUrl, md.reply.body, opts.clock)));

  const probeUrl = `${root}${ROUTES.probe}`;
  const probe = await fetchSameOrigin(new URL(probeUrl), ca, timeoutMs);
  if ('error' in probe) out.push(check(probeUrl, 'probe', 'error', probe.error));
  else
    out.push(
      check(
        probeUrl,
        'probe',
        probe.reply.status === 200 ? 'ok' : 'error',
        probe.reply.status === 200
          ? 'the probe answers 200 over TLS'
          : `HTTP ${probe.reply.status} instead of 200: the load balancer takes this node out of service`,
      ),
    );
  return out;
}

async function metadataChecks(
  config: Config,
  mdUrl: string,
  body: string,
  clock: Clock,
): Promise<PlumbingCheck[]> {
  const check = (name: string, status: CheckStatus, message: string) =>
    ({ area: 'public', target: mdUrl, check: name, status, message }) satisfies PlumbingCheck;
  // The project's parser for XML from outside (lib/xml-parse.ts: no DOCTYPE or entities, bounded depth and counts),
  // with the limits partner metadata gets: this answer comes from whatever server holds the address.
  let doc: Document | undefined;
  const problem: { text?: string } = {};
  try {
    doc = parseXmlStrict(body, METADATA_LIMITS);
  } catch (err) {
    problem.text = errText(err);
  }
  const parseError = problem.text;
  const rootEl = doc?.documentElement;
  if (
    doc === undefined ||
    parseError !== undefined ||
    rootEl === undefined ||
    rootEl.localName !== 'EntityDescriptor' ||
    rootEl.namespaceURI !== MD_NS
  )
    return [
      check(
        'metadata',
        'error',
        `the answer is not SAML metadata (an md:EntityDescriptor document)${parseError === undefined ? '' : `: ${parseError}`}`,
      ),
    ];
  const out = [check('metadata', 'ok', 'the federation metadata answers 200 over TLS')];
  const entityId = rootEl.getAttribute('entityID') ?? '';
  out.push(
    entityId === config.issuerUri
      ? check('metadata-entity-id', 'ok', `entityID is ${entityId}`)
      : check(
          'metadata-entity-id',
          'error',
          `entityID is ${entityId === '' ? '(none)' : entityId}, not this service's issuerUri ${config.issuerUri}: another federation service answers at this address`,
        ),
  );
  const published = signingCertificates(doc);
  let local: string | undefined;
  try {
    local = (await localPrimaryCertificate(config, clock))?.certificateBase64;
  } catch (err) {
    out.push(
      check(
        'metadata-signing-certificate',
        'info',
        `the local token-signing key ring cannot be read to compare (${errText(err)})`,
      ),
    );
    return out;
  }
  if (local === undefined)
    out.push(
      check(
        'metadata-signing-certificate',
        'info',
        'keys.dir holds no token-signing key yet: nothing to compare the published certificate with',
      ),
    );
  else if (published[0] === local)
    out.push(
      check(
        'metadata-signing-certificate',
        'ok',
        'the metadata publishes this server\u2019s primary token-signing certificate',
      ),
    );
  else
    out.push(
      check(
        'metadata-signing-certificate',
        'warning',
        published.includes(local)
          ? 'the metadata lists this server\u2019s primary token-signing certificate, but not first: the answering server signs with another key (a farm node with a different key ring?)'
          : 'the metadata does not publish this server\u2019s primary token-signing certificate: another server answers at this address, or the farm nodes do not share keys.dir',
      ),
    );
  return out;
}
