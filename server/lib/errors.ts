/**
 * The one error type protocol code throws. Only edge renderers turn it into an HTML page (http/errors.ts), a
 * SAML status or a SOAP fault (protocols/wstrust/fault.ts). `expose` = the message may be shown to the user as
 * is; `soapFault` = the WS-Trust fault the SOAP edge answers with. Anything that is not a FederationError is a
 * programming error: a generic 500 with the activity id, logged at error level.
 */
export type FederationErrorCode =
  | 'bad_request'
  | 'unknown_relying_party'
  | 'invalid_reply_address'
  | 'unsupported_action'
  | 'payload_too_large'
  | 'uri_too_long'
  | 'csrf_failed'
  | 'session_expired'
  | 'invalid_credentials'
  | 'certificate_rejected'
  | 'certificate_check_unavailable'
  | 'directory_unavailable'
  | 'store_unavailable'
  | 'signing_unavailable'
  | 'access_denied'
  | 'issuance_failed'
  | 'not_found'
  | 'method_not_allowed'
  | 'internal';

const STATUS: Record<FederationErrorCode, number> = {
  bad_request: 400,
  unknown_relying_party: 400,
  invalid_reply_address: 400,
  unsupported_action: 400,
  payload_too_large: 413,
  uri_too_long: 414,
  csrf_failed: 403,
  session_expired: 400,
  invalid_credentials: 401,
  certificate_rejected: 401,
  certificate_check_unavailable: 503,
  directory_unavailable: 503,
  store_unavailable: 503,
  // The token-signing key's HSM did not answer (issue 18): a deliberate 503, never a token signed otherwise.
  signing_unavailable: 503,
  access_denied: 403,
  // The claim rules produced something no token can carry (an admin's rule set, not a server fault): an audited
  // error page with the activity id, never a 500 (issue 14 §8).
  issuance_failed: 403,
  not_found: 404,
  method_not_allowed: 405,
  internal: 500,
};

/**
 * The WS-Trust fault kinds. Each has one fixed SOAP code, subcode, reason and HTTP status, written by the SOAP
 * edge (protocols/wstrust/fault.ts); named here so the one error type can carry one without lib/ importing a
 * protocol.
 */
export type SoapFaultKind =
  | 'invalid_request'
  | 'failed_authentication'
  | 'invalid_security'
  | 'message_expired'
  | 'replay'
  | 'unsupported_token'
  | 'invalid_scope'
  | 'access_denied'
  | 'request_failed'
  | 'unavailable'
  | 'not_https'
  | 'too_large'
  | 'unsupported_media_type'
  | 'method_not_allowed';

export interface FederationErrorOptions {
  status?: number;
  expose?: boolean;
  /** The WS-Trust fault this error is answered with at the SOAP edge. */
  soapFault?: SoapFaultKind;
  /**
   * The message's catalogue key and ICU arguments (views/locales), for a message built from values; a fixed
   * English message finds its key by its text.
   */
  textKey?: string;
  textArgs?: Readonly<Record<string, string | number>>;
  /** Internal detail for logs and audit only; never rendered. */
  detail?: string;
  cause?: unknown;
}

export class FederationError extends Error {
  readonly code: FederationErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly soapFault: SoapFaultKind | undefined;
  readonly detail: string | undefined;
  readonly textKey: string | undefined;
  readonly textArgs: Readonly<Record<string, string | number>> | undefined;

  constructor(code: FederationErrorCode, message: string, opts: FederationErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FederationError';
    this.code = code;
    this.status = opts.status ?? STATUS[code];
    this.expose = opts.expose ?? code !== 'internal';
    this.soapFault = opts.soapFault;
    this.detail = opts.detail;
    this.textKey = opts.textKey;
    this.textArgs = opts.textArgs;
  }
}

/** What the user reads when the claims cannot become a token; the reason goes to the audit log. */
export const ISSUANCE_FAILED =
  'A token for this application could not be issued for your account. Give the activity ID to your administrator.';

/**
 * The claims (an admin's rule set, a directory value) cannot become a token: an audited 403 page with the activity
 * id, never a 500 (issue 14 §8). `detail` goes to logs only and names fields, never values.
 */
export function issuanceFailed(detail: string): FederationError {
  return new FederationError('issuance_failed', ISSUANCE_FAILED, { detail });
}
