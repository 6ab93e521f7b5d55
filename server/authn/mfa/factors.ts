/**
 * What a user has enrolled as second factors (issue 16), as kept in the enrolment record (enrolments.ts: sealed,
 * in the directory attribute the admin names, or the embedded directory's file). RADIUS needs no enrolment here:
 * the RADIUS server (Duo, RSA, privacyIDEA, NPS) holds the user's token.
 */

/** The methods an admin can enable (mfa.methods). */
export type MfaMethod = 'totp' | 'webauthn' | 'radius';

/** The authnmethodsreferences value each method adds next to multipleauthn (issue 16 "Claims"). */
export const METHOD_URIS: Readonly<Record<MfaMethod, string>> = Object.freeze({
  totp: 'http://schemas.microsoft.com/ws/2012/12/authmethod/otp',
  webauthn: 'http://schemas.microsoft.com/ws/2012/12/authmethod/fido',
  radius: 'http://schemas.microsoft.com/ws/2012/12/authmethod/otp',
});

interface FactorBase {
  /** Random id (base64url), stable for the factor's life; the portal and `fedgate mfa` name factors by it. */
  id: string;
  /** The user's name for it ("Phone", "YubiKey 5"); plain text, at most 64 characters. */
  name: string;
  /** ISO-8601. */
  createdAt: string;
  /** ISO-8601 of the last successful use, when known. */
  lastUsedAt?: string | undefined;
}

export interface TotpFactor extends FactorBase {
  kind: 'totp';
  /** The shared secret, base32 (RFC 4648). Only ever written inside the sealed record. */
  secret: string;
}

export interface WebAuthnFactor extends FactorBase {
  kind: 'webauthn';
  /** Credential ID, base64url. */
  credentialId: string;
  /** COSE public key, base64url. Public data. */
  publicKey: string;
  /** Signature counter last seen (WebAuthn §6.1.1); 0 for authenticators that do not count. */
  counter: number;
  /** Authenticator model, when attestation gave one (lower-case UUID). */
  aaguid?: string | undefined;
  /** Transports the browser reported (usb, nfc, ble, internal, hybrid). */
  transports?: string[] | undefined;
  /** Whether user verification was done at registration. */
  userVerified?: boolean | undefined;
}

export type Factor = TotpFactor | WebAuthnFactor;

/** A pending one-time enrolment code from `fedgate mfa enrol-code` (only its hash is kept). */
export interface EnrolmentCode {
  /** SHA-256 of the code, base64url. */
  hash: string;
  /** ISO-8601. */
  expiresAt: string;
}

/** One user's enrolment record (version 1). */
export interface Enrolments {
  v: 1;
  factors: Factor[];
  code?: EnrolmentCode | undefined;
}

export const EMPTY_ENROLMENTS: Readonly<Enrolments> = Object.freeze({
  v: 1,
  factors: Object.freeze([]) as unknown as Factor[],
});
