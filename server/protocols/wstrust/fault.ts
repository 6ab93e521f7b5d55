/**
 * The SOAP edge of the WS-Trust endpoints: the only place an error becomes a SOAP fault. WS-Trust code throws
 * the project's one error type, `FederationError`, made by `wstrustFault(kind, detail)`; the edge answers with
 * the fault its `soapFault` names. Errors raised below the protocol (claims, token writers, store) carry no
 * fault kind and are mapped here by their code; anything else is a programming error (logged at error level,
 * the generic Receiver fault).
 *
 * One writer for SOAP 1.2 (Code/Subcode/Reason, both always present: MSAL's fault parser needs both,
 * entra-protocol §3.5) and SOAP 1.1 (faultcode/faultstring). The text is fixed per fault kind; the only
 * per-request part is the activity id in the Detail. Nothing internal (directory text, stack, parser
 * message) is ever written into a fault: that goes to the log.
 */
import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { FederationError, type FederationErrorCode, type SoapFaultKind } from '../../lib/errors.ts';
import { escapeText } from '../../lib/xml-escape.ts';
import {
  ADDRESSING_FAULT_ACTION,
  SOAP11_NS,
  SOAP12_NS,
  WSA_NS,
  WSSE_NS,
  type SoapVersion,
  type TrustVersionInfo,
} from './constants.ts';

declare module 'express-serve-static-core' {
  interface Locals {
    /** SOAP version of the current WS-Trust request (for the fault's envelope). */
    wstrustSoap?: SoapVersion;
  }
}

interface FaultSpec {
  /** SOAP 1.2 Code: Sender (the message is at fault) or Receiver (we are). */
  code: 'Sender' | 'Receiver';
  /** Subcode namespace: 'trust' = the endpoint's WS-Trust namespace; 'wsse' = WS-Security 1.0. */
  subNs: 'trust' | 'wsse';
  sub: string;
  reason: string;
  /** HTTP status: SOAP_FAULT_STATUS for every fault about the message; the transport refusals their own. */
  status: number;
  /** The FederationError code the fault is raised with (logs and metrics read the code, the client the fault). */
  error: FederationErrorCode;
}

/**
 * HTTP status of every SOAP fault raised while processing the message, Sender and Receiver alike, SOAP 1.2 and
 * 1.1: 500, as AD FS sends them. SOAP 1.2's HTTP binding (Part 2 §7.5.2.2) would give Sender faults 400, but
 * AD FS (WCF underneath) answers every fault, a wrong password included, with 500: MSAL for Python says so
 * where it ignores the status ("ADFS uses 5xx status code even with client-side incorrect password error",
 * msal/wstrust_request.py; entra-protocol §3.4), and SOAP 1.1 (§6.2) requires 500 anyway. Clients written
 * against AD FS see 500 and read the fault body (MSAL ignores the status altogether), so answering as AD FS
 * does is the compatible choice. One status for all of them also means the status says nothing the body
 * does not (the credential fault is already byte-identical, B4.4). The refusals that happen before the
 * message is looked at keep their HTTP meaning: 403 (not HTTPS), 405, 413, 415; and so does an outage of
 * what the node depends on (the shared store with the replay caches, the directory): 503, as the passive
 * flow answers (a node that cannot serve now, not a fault of the message; corpus E3, the farm's balancer).
 */
export const SOAP_FAULT_STATUS = 500;

/**
 * One fixed text per kind. failed_authentication is THE credential fault: unknown user, wrong password,
 * disabled, locked, expired and must-change all get it byte for byte (corpus B4.4, C2.1); the text is the one
 * AD FS sends (entra-protocol §3.5).
 */
const FAULTS: Record<SoapFaultKind, FaultSpec> = {
  invalid_request: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'InvalidRequest',
    reason: 'The request is not a valid WS-Trust request.',
    status: SOAP_FAULT_STATUS,
    error: 'bad_request',
  },
  failed_authentication: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'FailedAuthentication',
    reason: 'ID3242: The security token could not be authenticated or authorized.',
    status: SOAP_FAULT_STATUS,
    error: 'invalid_credentials',
  },
  invalid_security: {
    code: 'Sender',
    subNs: 'wsse',
    sub: 'InvalidSecurity',
    reason: 'An error was discovered processing the wsse:Security header.',
    status: SOAP_FAULT_STATUS,
    error: 'bad_request',
  },
  message_expired: {
    code: 'Sender',
    subNs: 'wsse',
    sub: 'MessageExpired',
    reason:
      'The message timestamp is missing, expired or outside the allowed clock skew. Check the client clock.',
    status: SOAP_FAULT_STATUS,
    error: 'bad_request',
  },
  replay: {
    code: 'Sender',
    subNs: 'wsse',
    sub: 'InvalidSecurity',
    reason: 'The message was already received (replay).',
    status: SOAP_FAULT_STATUS,
    error: 'bad_request',
  },
  unsupported_token: {
    code: 'Sender',
    subNs: 'wsse',
    sub: 'UnsupportedSecurityToken',
    reason: 'Only a UsernameToken with a plain-text password is accepted at this endpoint.',
    status: SOAP_FAULT_STATUS,
    error: 'bad_request',
  },
  invalid_scope: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'InvalidScope',
    reason: 'The AppliesTo address is not a relying party of this federation service.',
    status: SOAP_FAULT_STATUS,
    error: 'unknown_relying_party',
  },
  access_denied: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'RequestFailed',
    reason: 'MSIS3127: The specified request failed.',
    status: SOAP_FAULT_STATUS,
    error: 'access_denied',
  },
  request_failed: {
    code: 'Receiver',
    subNs: 'trust',
    sub: 'RequestFailed',
    reason: 'MSIS3127: The specified request failed.',
    status: SOAP_FAULT_STATUS,
    error: 'internal',
  },
  unavailable: {
    code: 'Receiver',
    subNs: 'trust',
    sub: 'RequestFailed',
    reason: 'The federation service is temporarily unavailable. Try again later.',
    status: 503,
    error: 'directory_unavailable',
  },
  not_https: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'InvalidRequest',
    reason: 'This endpoint accepts requests over HTTPS only.',
    status: 403,
    error: 'bad_request',
  },
  too_large: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'InvalidRequest',
    reason: 'The request is too large.',
    status: 413,
    error: 'payload_too_large',
  },
  unsupported_media_type: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'InvalidRequest',
    reason:
      'The request must be a SOAP 1.2 (application/soap+xml) or SOAP 1.1 (text/xml) message in UTF-8.',
    status: 415,
    error: 'bad_request',
  },
  method_not_allowed: {
    code: 'Sender',
    subNs: 'trust',
    sub: 'InvalidRequest',
    reason: 'This endpoint accepts only POST.',
    status: 405,
    error: 'method_not_allowed',
  },
};

/**
 * A WS-Trust request problem: the FederationError the SOAP edge answers with fault `kind`. `detail` goes to the
 * log only, never into the fault.
 */
export function wstrustFault(kind: SoapFaultKind, detail: string): FederationError {
  const f = FAULTS[kind];
  return new FederationError(f.error, f.reason, { status: f.status, soapFault: kind, detail });
}

export const FAULT_DETAIL_NS = 'urn:fedgate:wstrust:fault';

/** Serialises a fault, with its HTTP status (SOAP_FAULT_STATUS unless transport-level). */
export function writeFault(
  kind: SoapFaultKind,
  soap: SoapVersion,
  version: TrustVersionInfo,
  activityId: string,
): { status: number; contentType: string; body: string } {
  const f = FAULTS[kind];
  const subNs = f.subNs === 'trust' ? version.ns : WSSE_NS;
  const detail = `<fg:ActivityId xmlns:fg="${FAULT_DETAIL_NS}">${escapeText(activityId)}</fg:ActivityId>`;
  if (soap === '1.2') {
    return {
      status: f.status,
      contentType: 'application/soap+xml; charset=utf-8',
      body:
        `<s:Envelope xmlns:s="${SOAP12_NS}" xmlns:a="${WSA_NS}">` +
        `<s:Header><a:Action s:mustUnderstand="1">${ADDRESSING_FAULT_ACTION}</a:Action></s:Header>` +
        '<s:Body><s:Fault>' +
        `<s:Code><s:Value>s:${f.code}</s:Value>` +
        `<s:Subcode><s:Value xmlns:a="${subNs}">a:${f.sub}</s:Value></s:Subcode></s:Code>` +
        `<s:Reason><s:Text xml:lang="en-US">${escapeText(f.reason)}</s:Text></s:Reason>` +
        `<s:Detail>${detail}</s:Detail>` +
        '</s:Fault></s:Body></s:Envelope>',
    };
  }
  return {
    status: f.status,
    contentType: 'text/xml; charset=utf-8',
    body:
      `<s:Envelope xmlns:s="${SOAP11_NS}"><s:Body><s:Fault>` +
      `<faultcode xmlns:a="${subNs}">a:${f.sub}</faultcode>` +
      `<faultstring xml:lang="en-US">${escapeText(f.reason)}</faultstring>` +
      `<detail>${detail}</detail>` +
      '</s:Fault></s:Body></s:Envelope>',
  };
}

function sendFault(res: Response, version: TrustVersionInfo, kind: SoapFaultKind): void {
  const f = writeFault(kind, res.locals.wstrustSoap ?? '1.2', version, res.locals.activityId);
  res.status(f.status).setHeader('Cache-Control', 'no-store');
  if (f.status === 405) res.setHeader('Allow', 'POST');
  res.type(f.contentType).send(f.body);
}

/**
 * The edge of one endpoint: every error becomes a SOAP fault (never an HTML page or a stack trace). A refusal
 * of the request is logged at info with its fault kind and detail; a programming error at error level, and the
 * client gets the generic Receiver fault.
 */
export function faultEdge(log: Logger, version: TrustVersionInfo): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const activityId = res.locals.activityId;
    const fe = err instanceof FederationError ? err : undefined;
    let kind: SoapFaultKind;
    let detail: string | undefined;
    if (fe?.soapFault !== undefined) {
      kind = fe.soapFault;
      detail = fe.detail;
    } else if (
      typeof err === 'object' &&
      err !== null &&
      (err as { type?: unknown }).type === 'entity.too.large'
    ) {
      kind = 'too_large';
      detail = 'body over wstrust.maxRequestBytes';
    } else if (fe?.code === 'access_denied') {
      // The relying party's authorization rules denied (the issuance step audited access_denied, AD FS 1201);
      // AD FS answers MSIS3127 RequestFailed.
      kind = 'access_denied';
      detail = `authorization rules denied: ${fe.detail ?? fe.message}`;
    } else if (fe?.code === 'issuance_failed') {
      // The claims could not become a token (audited as issuance_failed where it happened): the request
      // failed for a reason of the rule set, not the server's; AD FS answers MSIS3127 RequestFailed.
      kind = 'access_denied';
      detail = `token not issued: ${fe.detail ?? fe.message}`;
    } else if (fe?.code === 'store_unavailable' || fe?.code === 'signing_unavailable') {
      // Fail closed: the replay caches cannot be consulted (corpus E3), or the HSM holding the signing key did not
      // answer, so nothing is issued.
      const what = fe.code === 'store_unavailable' ? 'store' : 'signing key (HSM)';
      log.warn(
        { err, activityId, path: req.path },
        `WS-Trust request refused: ${what} unavailable`,
      );
      kind = 'unavailable';
      detail = `${what} unavailable`;
    } else {
      log.error({ err, activityId, path: req.path }, 'WS-Trust request failed');
      sendFault(res, version, 'request_failed');
      return;
    }
    log.info(
      { activityId, path: version.path, fault: kind, detail, ip: req.ip },
      'WS-Trust request refused',
    );
    sendFault(res, version, kind);
  };
}
