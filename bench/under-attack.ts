/**
 * /adfs/probe latency while 20 crafted SAML requests run at once (issue 14 "Done when"; corpus A16, B1.7).
 *
 * Against a running fedgate process over real HTTP: first the probe alone (the baseline, same run), then the
 * probe while 20 clients loop the issue's crafted AuthnRequest (`<b>/>` × 25,000 under a stub signature, 912
 * bytes deflated) and the most expensive AuthnRequest the limits still admit (32 KiB of text under a stub
 * signature, so the signature check runs). Prints p50/p99/max probe latency for each phase and the ratio to the
 * baseline, and how the attack requests were answered (every one must be a 4xx). Not a test: timings are printed,
 * never asserted in `npm test`.
 */
import { Worker } from 'node:worker_threads';
import { deflateRawSync } from 'node:zlib';
import { SAML_MESSAGE_LIMITS } from '../server/lib/xml-limits.ts';
import { stubSignature } from './parse-cost.ts';

const P = 'urn:oasis:names:tc:SAML:2.0:protocol';
const A = 'urn:oasis:names:tc:SAML:2.0:assertion';
const M365 = 'urn:federation:MicrosoftOnline';

function authnRequest(publicUrl: string, extensions: string): string {
  const id = `_${crypto.randomUUID()}`;
  return (
    `<samlp:AuthnRequest xmlns:samlp="${P}" xmlns:saml="${A}" ID="${id}" Version="2.0" ` +
    `IssueInstant="${new Date().toISOString()}" Destination="${publicUrl}/adfs/ls/">` +
    `<saml:Issuer>${M365}</saml:Issuer>` +
    stubSignature(id) +
    `<samlp:Extensions>${extensions}</samlp:Extensions></samlp:AuthnRequest>`
  );
}

export interface ProbePhase {
  phase: string;
  probes: number;
  p50ms: number;
  p99ms: number;
  maxMs: number;
  /** Status → count of the attack requests answered during the phase. */
  attackStatuses: Record<string, number>;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/**
 * Probes from a worker thread: its own event loop, so the attack clients' work in this thread does not delay
 * the probe's own timing. One probe every 10 ms until `ms` have passed; returns each latency in ms.
 */
function probeLoop(base: string, ms: number): Promise<number[]> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const out = [];
      const end = Date.now() + workerData.ms;
      while (Date.now() < end) {
        const t0 = performance.now();
        const r = await fetch(workerData.base + '/adfs/probe');
        await r.arrayBuffer();
        out.push(performance.now() - t0);
        await new Promise((ok) => setTimeout(ok, 10));
      }
      parentPort.postMessage(out);
    })();`;
  const w = new Worker(code, { eval: true, workerData: { base, ms } });
  return new Promise((ok, fail) => {
    w.once('message', (m: number[]) => {
      ok(m);
      void w.terminate();
    });
    w.once('error', fail);
  });
}

async function phase(
  name: string,
  base: string,
  seconds: number,
  body: (() => string) | undefined,
): Promise<ProbePhase> {
  const end = Date.now() + seconds * 1000;
  const over = (): boolean => Date.now() >= end;
  const statuses: Record<string, number> = {};
  // The body is built once: the clients spend their time sending, not deflating.
  const form = body === undefined ? '' : new URLSearchParams({ SAMLRequest: body() }).toString();
  const attackers =
    body === undefined
      ? []
      : Array.from({ length: 20 }, async () => {
          while (!over()) {
            const r = await fetch(`${base}/adfs/ls/`, {
              method: 'POST',
              headers: { 'content-type': 'application/x-www-form-urlencoded' },
              body: form,
              redirect: 'manual',
            });
            await r.arrayBuffer();
            statuses[String(r.status)] = (statuses[String(r.status)] ?? 0) + 1;
          }
        });
  const [lat] = await Promise.all([probeLoop(base, seconds * 1000), ...attackers]);
  const sorted = [...lat].sort((a, b) => a - b);
  return {
    phase: name,
    probes: sorted.length,
    p50ms: pct(sorted, 50),
    p99ms: pct(sorted, 99),
    maxMs: sorted.at(-1) ?? Number.NaN,
    attackStatuses: statuses,
  };
}

export async function underAttackBench(opts: {
  port: number;
  publicUrl: string;
  seconds: number;
}): Promise<ProbePhase[]> {
  const base = `http://127.0.0.1:${opts.port}`;
  const deflated = (xml: string): string => deflateRawSync(Buffer.from(xml)).toString('base64');
  const issueInput = (): string =>
    deflated(authnRequest(opts.publicUrl, '<b>/>'.repeat(25_000) + '</b>'.repeat(25_000)));
  const room = SAML_MESSAGE_LIMITS.maxLength - authnRequest(opts.publicUrl, '').length;
  const worstAdmitted = (): string =>
    deflated(authnRequest(opts.publicUrl, 'y'.repeat(Math.max(0, room - 8))));
  return [
    await phase('probe alone (baseline)', base, opts.seconds, undefined),
    await phase('20 × issue input (<b>/> × 25,000)', base, opts.seconds, issueInput),
    await phase(
      '20 × largest admitted message (32 KiB, signature checked)',
      base,
      opts.seconds,
      worstAdmitted,
    ),
  ];
}
