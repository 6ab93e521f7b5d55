/**
 * FIDO2 security keys and passkeys (WebAuthn Level 2/3) as a second factor (issue 16). The ceremony arithmetic —
 * CBOR, COSE keys, attestation statement formats, signatures — is `@simplewebauthn/server`'s. What is fedgate's
 * is what the specification leaves to the Relying Party, each checked here explicitly so that a refusal has a
 * reason the caller can audit, before the library verifies the signatures:
 * - the response is untrusted JSON from a form post: its shape and every size are checked first, and nothing
 *   thrown by a decoder or the library leaves this module (every failure is a reason, never a stack trace);
 * - the challenge (§7.1 step 9, §7.2 step 12), the origin (step 10 / 13) and the RP ID hash (step 13 / 15): the RP
 *   ID is the configured `hostname`, the origin that of `publicUrl`;
 * - user presence always, user verification when the configuration requires it (§7.1 steps 14–15);
 * - the attestation policy: an allow-list of authenticator models (AAGUID); with `direct`, a real attestation
 *   statement (not `none`, not self attestation) naming an allowed model (§7.1 steps 19–21) and, when vendor roots
 *   are configured, an attestation certificate chain that verifies to one of them (§7.1 step 22);
 * - the signature counter (§6.1.1, §7.2 step 21): a counter that does not increase means a cloned authenticator.
 *   It is judged only after the signature verified, so a forged response can never raise a clone alarm.
 * Challenges are the library's (32 random bytes); the caller keeps them server-side, one per ceremony.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { decodeAttestationObject, parseAuthenticatorData } from '@simplewebauthn/server/helpers';
import type { Config } from '../../config/schema.ts';
import type { WebAuthnFactor } from './factors.ts';

export interface WebAuthnSettings {
  /** RP ID: the federation service's host name (WebAuthn §5.1.2 "RP ID"). */
  rpId: string;
  /** What the browser shows as the site's name. */
  rpName: string;
  /** The only origin a ceremony may come from: that of publicUrl. */
  origin: string;
  userVerification: 'required' | 'preferred' | 'discouraged';
  attestation: 'none' | 'direct';
  /** Lower-case AAGUIDs. */
  allowedAaguids: readonly string[];
  /**
   * Trust anchors for attestation certificates (mfa.webauthn.attestationRootsFile); empty: the chain is not
   * checked, so the AAGUID an attestation names is only the authenticator's word.
   */
  attestationRoots?: readonly X509Certificate[] | undefined;
  timeoutSeconds: number;
}

export function webAuthnSettings(config: Config): WebAuthnSettings {
  const w = config.mfa.webauthn;
  return Object.freeze({
    rpId: config.hostname.toLowerCase(),
    rpName: config.displayName,
    origin: new URL(config.publicUrl).origin,
    userVerification: w.userVerification,
    attestation: w.attestation,
    allowedAaguids: Object.freeze(w.allowedAaguids.map((a) => a.toLowerCase())),
    timeoutSeconds: w.timeoutSeconds,
    // Only when configured, so that settings without it stay as they were.
    ...(w.attestationRootsFile === undefined
      ? {}
      : {
          attestationRoots: Object.freeze(
            readRoots(resolve(config.baseDir, w.attestationRootsFile)),
          ),
        }),
  });
}

const PEM_CERTIFICATE =
  /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END CERTIFICATE-----/g;

/**
 * The vendor roots from a PEM bundle. Anything that is not a certificate stops start-up: a bundle that silently
 * lost its roots would turn the check off (or refuse every authenticator) without anyone noticing.
 */
function readRoots(file: string): X509Certificate[] {
  const key = 'mfa.webauthn.attestationRootsFile';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${key}: cannot read ${file}: ${describe(e)}`, { cause: e });
  }
  const roots: X509Certificate[] = [];
  for (const m of text.matchAll(PEM_CERTIFICATE)) {
    try {
      roots.push(new X509Certificate(Buffer.from((m[1] ?? '').replace(/\s/g, ''), 'base64')));
    } catch (e) {
      throw new Error(
        `${key}: certificate ${roots.length + 1} in ${file} does not parse: ${describe(e)}`,
        { cause: e },
      );
    }
  }
  // What is left besides the certificates may only be blank lines or OpenSSL's "subject=/issuer=" comments.
  const rest = text
    .replace(PEM_CERTIFICATE, '')
    .replace(/^(?:\s*|#.*|(?:subject|issuer)=.*)$/gm, '');
  if (roots.length === 0 || rest.trim() !== '')
    throw new Error(
      `${key}: ${file} is not a PEM bundle of certificates (-----BEGIN CERTIFICATE----- blocks only)`,
    );
  return roots;
}

/**
 * Why browsers would refuse every ceremony with these settings, or undefined when they can work: the RP ID must
 * be the origin's host or a parent domain of it (§5.1.2), and WebAuthn needs a secure context (https, or http on
 * localhost). For `fedgate doctor` and start-up warnings; the verifiers do not depend on it.
 */
export function webAuthnSettingsProblem(st: WebAuthnSettings): string | undefined {
  const url = new URL(st.origin);
  const host = url.hostname.toLowerCase();
  if (host !== st.rpId && !host.endsWith(`.${st.rpId}`))
    return `hostname ${st.rpId} is not the host of publicUrl (${host}) or a parent domain of it: browsers refuse WebAuthn`;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(st.rpId) || st.rpId.includes(':'))
    return `hostname ${st.rpId} is an IP address: WebAuthn needs a DNS name`;
  if (url.protocol !== 'https:' && host !== 'localhost')
    return `publicUrl ${st.origin} is not https: browsers offer WebAuthn only in secure contexts`;
  return undefined;
}

// Bounds on the untrusted response, in base64url characters (4 per 3 bytes). Generous for real authenticators:
// an attestation object with a certificate chain (packed, TPM, Android) stays well under 24 KiB.
/** §5.1 / §7.1 step 26 (L3): a credential ID is at most 1023 bytes. */
const MAX_CREDENTIAL_ID_BYTES = 1023;
const MAX_ID_CHARS = Math.ceil((MAX_CREDENTIAL_ID_BYTES * 4) / 3);
const MAX_CLIENT_DATA_CHARS = 4096;
const MAX_ATTESTATION_CHARS = 32_768;
const MAX_AUTH_DATA_CHARS = 4096;
/** ML-DSA-44 signatures are 2420 bytes; RSA-4096 512. */
const MAX_SIGNATURE_CHARS = 4096;
/** A user handle is at most 64 bytes (§5.4.3). */
const MAX_USER_HANDLE_CHARS = 86;
const MAX_TRANSPORTS = 8;
const B64URL = /^[A-Za-z0-9_-]*$/;
const TRANSPORT = /^[a-z-]{1,32}$/;
const KNOWN_TRANSPORTS: readonly string[] = ['ble', 'hybrid', 'internal', 'nfc', 'usb'];
const DETAIL_CHARS = 200;
const ZERO_AAGUID = '00000000-0000-0000-0000-000000000000';
/** Attestation chains are a leaf and an intermediate or two; more is not a real authenticator's. */
const MAX_CHAIN = 5;

export async function registrationOptions(
  st: WebAuthnSettings,
  user: { id: Buffer; name: string; displayName: string },
  existing: readonly WebAuthnFactor[],
): Promise<{ options: unknown; challenge: string }> {
  const options = await generateRegistrationOptions({
    rpName: st.rpName,
    rpID: st.rpId,
    userName: user.name,
    userDisplayName: user.displayName,
    // The user handle (§5.4.3): the objectGUID's bytes, opaque and free of personal data.
    userID: new Uint8Array(user.id),
    timeout: st.timeoutSeconds * 1000,
    attestationType: st.attestation,
    // The same authenticator twice is one factor, not two (§5.4 excludeCredentials).
    excludeCredentials: descriptors(existing),
    authenticatorSelection: {
      // A second factor after the password: nothing needs a discoverable credential, and security keys have few
      // slots for them. Passkey providers make discoverable ones regardless.
      residentKey: 'discouraged',
      userVerification: st.userVerification,
    },
  });
  return { options, challenge: options.challenge };
}

export type RegistrationResult =
  | { ok: true; credential: Omit<WebAuthnFactor, 'id' | 'name' | 'createdAt' | 'kind'> }
  | {
      ok: false;
      reason:
        | 'malformed'
        | 'challenge'
        | 'origin'
        | 'rp-id'
        | 'attestation'
        | 'aaguid'
        | 'user-verification'
        | 'duplicate'
        | 'invalid';
      detail?: string;
    };

export async function verifyRegistration(
  st: WebAuthnSettings,
  response: unknown,
  expectedChallenge: string,
  existing: readonly WebAuthnFactor[],
): Promise<RegistrationResult> {
  try {
    return await register(st, response, expectedChallenge, existing);
  } catch (e) {
    // Defence in depth: the steps below catch what they call; nothing unexpected may escape as a 5xx.
    return { ok: false, reason: 'invalid', detail: describe(e) };
  }
}

async function register(
  st: WebAuthnSettings,
  raw: unknown,
  expectedChallenge: string,
  existing: readonly WebAuthnFactor[],
): Promise<RegistrationResult> {
  const response = registrationShape(raw);
  if (typeof response === 'string') return { ok: false, reason: 'malformed', detail: response };
  const client = checkClientData(
    st,
    response.response.clientDataJSON,
    'webauthn.create',
    expectedChallenge,
  );
  if (client !== undefined) return client;

  let fmt: string;
  let authData: ReturnType<typeof parseAuthenticatorData>;
  let x5c: Uint8Array[] = [];
  try {
    const att = decodeAttestationObject(base64url(response.response.attestationObject));
    const f: unknown = att.get('fmt');
    const a: unknown = att.get('authData');
    const stmt: unknown = att.get('attStmt');
    if (typeof f !== 'string' || !(a instanceof Uint8Array) || !(stmt instanceof Map))
      throw new Error('no fmt, authData or attStmt');
    fmt = f;
    authData = parseAuthenticatorData(new Uint8Array(a));
    const chain: unknown = stmt.get('x5c');
    if (Array.isArray(chain) && chain.every((c) => c instanceof Uint8Array)) x5c = chain;
  } catch (e) {
    return { ok: false, reason: 'malformed', detail: `attestationObject: ${describe(e)}` };
  }
  const flags = checkFlags(st, authData);
  if (flags !== undefined) return flags;
  if (authData.credentialID === undefined || authData.credentialPublicKey === undefined)
    return { ok: false, reason: 'malformed', detail: 'no attested credential data' };
  const credentialId = Buffer.from(authData.credentialID).toString('base64url');
  // §7.1 step 26 (L3); the id the browser reported must be the one the authenticator attested.
  if (authData.credentialID.length > MAX_CREDENTIAL_ID_BYTES || credentialId !== response.id)
    return { ok: false, reason: 'malformed', detail: 'credential id' };
  if (existing.some((f) => f.credentialId === credentialId))
    return { ok: false, reason: 'duplicate', detail: 'this authenticator is already enrolled' };
  // §7.1 step 21: a `direct` request is answered by an attestation statement, not `none`; self attestation (packed
  // without x5c) is the credential signing for itself and says nothing about the model.
  if (st.attestation === 'direct' && (fmt === 'none' || x5c.length === 0))
    return { ok: false, reason: 'attestation', detail: `no attestation certificate (fmt ${fmt})` };
  // §7.1 step 22: without a trust path to a vendor root, anyone can mint an attestation certificate naming any
  // model, so the allow-list below would only be the client's word.
  if (
    st.attestation === 'direct' &&
    st.attestationRoots !== undefined &&
    st.attestationRoots.length > 0
  ) {
    const untrusted = trustPathProblem(x5c, st.attestationRoots, new Date());
    if (untrusted !== undefined) return { ok: false, reason: 'attestation', detail: untrusted };
  }

  let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verified = await verifyRegistrationResponse({
      response,
      expectedChallenge,
      expectedOrigin: st.origin,
      expectedRPID: st.rpId,
      expectedType: 'webauthn.create',
      requireUserPresence: true,
      requireUserVerification: st.userVerification === 'required',
    });
  } catch (e) {
    // The checks above cover the client data and flags, so what is left is the attestation statement or the key.
    return { ok: false, reason: fmt === 'none' ? 'invalid' : 'attestation', detail: describe(e) };
  }
  if (!verified.verified) return { ok: false, reason: 'attestation', detail: `fmt ${fmt}` };
  const info = verified.registrationInfo;
  const aaguid = info.aaguid.toLowerCase();
  // With attestation `none` the browser zeroes the AAGUID (§5.4.7, §6.5.4), so a non-empty allow-list then admits
  // nobody that is not named by model: refusing is the safe reading of "only these models".
  if (
    (st.attestation === 'direct' || st.allowedAaguids.length > 0) &&
    !st.allowedAaguids.includes(aaguid)
  )
    return {
      ok: false,
      reason: 'aaguid',
      detail: aaguid === ZERO_AAGUID ? 'the authenticator did not name its model' : aaguid,
    };
  return {
    ok: true,
    credential: {
      credentialId: info.credential.id,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      aaguid: aaguid === ZERO_AAGUID ? undefined : aaguid,
      transports: response.response.transports,
      userVerified: info.userVerified,
    },
  };
}

export async function authenticationOptions(
  st: WebAuthnSettings,
  factors: readonly WebAuthnFactor[],
): Promise<{ options: unknown; challenge: string }> {
  const options = await generateAuthenticationOptions({
    rpID: st.rpId,
    allowCredentials: descriptors(factors),
    userVerification: st.userVerification,
    timeout: st.timeoutSeconds * 1000,
  });
  return { options, challenge: options.challenge };
}

export type AuthenticationResult =
  | { ok: true; factorId: string; newCounter: number }
  | {
      ok: false;
      reason:
        | 'malformed'
        | 'unknown-credential'
        | 'challenge'
        | 'origin'
        | 'rp-id'
        | 'counter'
        | 'user-verification'
        | 'invalid';
      detail?: string;
      factorId?: string;
    };

export async function verifyAuthentication(
  st: WebAuthnSettings,
  response: unknown,
  expectedChallenge: string,
  factors: readonly WebAuthnFactor[],
): Promise<AuthenticationResult> {
  try {
    return await authenticate(st, response, expectedChallenge, factors);
  } catch (e) {
    return { ok: false, reason: 'invalid', detail: describe(e) };
  }
}

async function authenticate(
  st: WebAuthnSettings,
  raw: unknown,
  expectedChallenge: string,
  factors: readonly WebAuthnFactor[],
): Promise<AuthenticationResult> {
  const response = authenticationShape(raw);
  if (typeof response === 'string') return { ok: false, reason: 'malformed', detail: response };
  // §7.2 step 6: the credential must be one of this user's.
  const factor = factors.find((f) => f.credentialId === response.id);
  if (factor === undefined) return { ok: false, reason: 'unknown-credential' };
  const factorId = factor.id;
  const refuse = (r: {
    reason: Exclude<AuthenticationResult, { ok: true }>['reason'];
    detail?: string;
  }) => ({ ok: false, ...r, factorId }) as const;

  const client = checkClientData(
    st,
    response.response.clientDataJSON,
    'webauthn.get',
    expectedChallenge,
  );
  if (client !== undefined) return refuse(client);
  let authData: ReturnType<typeof parseAuthenticatorData>;
  try {
    authData = parseAuthenticatorData(base64url(response.response.authenticatorData));
  } catch (e) {
    return refuse({ reason: 'malformed', detail: `authenticatorData: ${describe(e)}` });
  }
  const flags = checkFlags(st, authData);
  if (flags !== undefined) return refuse(flags);

  let publicKey: Uint8Array<ArrayBuffer>;
  try {
    publicKey = base64url(factor.publicKey);
  } catch {
    return refuse({ reason: 'invalid', detail: 'stored public key' });
  }
  let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    verified = await verifyAuthenticationResponse({
      response,
      expectedChallenge,
      expectedOrigin: st.origin,
      expectedRPID: st.rpId,
      expectedType: 'webauthn.get',
      requireUserVerification: st.userVerification === 'required',
      // The counter is judged below, after the signature: the library would judge it before, so a forged
      // response with a low counter would raise a clone alarm (and could get a good key disabled).
      credential: {
        id: factor.credentialId,
        publicKey: new Uint8Array(publicKey),
        counter: 0,
        transports: knownTransports(factor.transports),
      },
    });
  } catch (e) {
    return refuse({ reason: 'invalid', detail: describe(e) });
  }
  if (!verified.verified) return refuse({ reason: 'invalid', detail: 'signature' });
  const newCounter = authData.counter;
  // §6.1.1: a counter that does not increase, when either side counts, means two copies of the private key.
  if ((newCounter > 0 || factor.counter > 0) && newCounter <= factor.counter)
    return refuse({
      reason: 'counter',
      detail: `signature counter ${newCounter} not above ${factor.counter}: cloned authenticator?`,
    });
  return { ok: true, factorId, newCounter };
}

/**
 * Why the attestation chain (x5c: leaf first) does not verify to one of the roots, or undefined when it does.
 * Offline on purpose: the library's validateCertificatePath would first fetch the CRL URLs of certificates the
 * client sent — any URL, before anything is known to be a vendor's (SSRF) — and its SettingsService is one
 * setting for the whole process. Each link: issuer name and key identifiers match, the signature verifies, the
 * issuer is a CA, every certificate is within its validity.
 */
function trustPathProblem(
  x5c: readonly Uint8Array[],
  roots: readonly X509Certificate[],
  now: Date,
): string | undefined {
  if (x5c.length > MAX_CHAIN) return 'attestation certificate chain too long';
  let certs: X509Certificate[];
  try {
    certs = x5c.map((der) => new X509Certificate(der));
  } catch (e) {
    return `attestation certificate: ${describe(e)}`;
  }
  const valid = (c: X509Certificate): boolean =>
    new Date(c.validFrom) <= now && now <= new Date(c.validTo);
  const issued = (child: X509Certificate, parent: X509Certificate): boolean =>
    parent.ca && child.checkIssued(parent) && child.verify(parent.publicKey);
  for (const [i, c] of certs.entries()) {
    if (!valid(c)) return `attestation certificate ${i + 1} is outside its validity`;
    const next = certs[i + 1];
    if (next !== undefined && !issued(c, next))
      return `attestation certificate ${i + 1} is not issued by certificate ${i + 2}`;
  }
  const last = certs[certs.length - 1];
  if (last === undefined) return 'no attestation certificate';
  // x5c should stop below the root (§8.2), but a root sent along is accepted when it is one of ours.
  const anchored = roots.some((r) => valid(r) && (r.raw.equals(last.raw) || issued(last, r)));
  return anchored
    ? undefined
    : 'the attestation certificate chain does not lead to a configured root';
}

/** Challenge, origin and type from clientDataJSON (§7.1 steps 5–10, §7.2 steps 10–13). */
function checkClientData(
  st: WebAuthnSettings,
  b64: string,
  type: 'webauthn.create' | 'webauthn.get',
  expectedChallenge: string,
):
  | { ok: false; reason: 'malformed' | 'challenge' | 'origin' | 'invalid'; detail?: string }
  | undefined {
  let c: unknown;
  try {
    c = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64url(b64)));
  } catch {
    return { ok: false, reason: 'malformed', detail: 'clientDataJSON' };
  }
  if (typeof c !== 'object' || c === null)
    return { ok: false, reason: 'malformed', detail: 'clientDataJSON' };
  const cd = c as Record<string, unknown>;
  if (
    typeof cd.type !== 'string' ||
    typeof cd.challenge !== 'string' ||
    typeof cd.origin !== 'string'
  )
    return { ok: false, reason: 'malformed', detail: 'clientDataJSON' };
  if (cd.type !== type) return { ok: false, reason: 'invalid', detail: `type ${clip(cd.type)}` };
  if (expectedChallenge === '' || cd.challenge !== expectedChallenge)
    return { ok: false, reason: 'challenge' };
  if (cd.origin !== st.origin) return { ok: false, reason: 'origin', detail: clip(cd.origin) };
  // fedgate's pages are never framed (frame-ancestors 'none'): a ceremony run inside another site's frame is not ours.
  if (cd.crossOrigin === true || cd.topOrigin !== undefined)
    return { ok: false, reason: 'origin', detail: 'cross-origin frame' };
  return undefined;
}

/** RP ID hash, user presence and user verification (§7.1 steps 13–15, §7.2 steps 15–17). */
function checkFlags(
  st: WebAuthnSettings,
  authData: ReturnType<typeof parseAuthenticatorData>,
): { ok: false; reason: 'rp-id' | 'user-verification' | 'invalid'; detail?: string } | undefined {
  const expected = createHash('sha256').update(st.rpId, 'utf8').digest();
  if (!expected.equals(authData.rpIdHash)) return { ok: false, reason: 'rp-id' };
  if (!authData.flags.up) return { ok: false, reason: 'invalid', detail: 'user not present' };
  if (st.userVerification === 'required' && !authData.flags.uv)
    return { ok: false, reason: 'user-verification' };
  return undefined;
}

type Shape<T> = T | string;

/** The registration response rebuilt from what fedgate reads, with every size bounded; a string says what is wrong. */
function registrationShape(raw: unknown): Shape<RegistrationResponseJSON> {
  const o = record(raw);
  if (o === undefined) return 'not an object';
  const id = b64Field(o, 'id', MAX_ID_CHARS);
  if (id === undefined || id === '' || o.rawId !== id) return 'id';
  if (o.type !== 'public-key') return 'type';
  const r = record(o.response);
  if (r === undefined) return 'response';
  const clientDataJSON = b64Field(r, 'clientDataJSON', MAX_CLIENT_DATA_CHARS);
  if (clientDataJSON === undefined || clientDataJSON === '') return 'clientDataJSON';
  const attestationObject = b64Field(r, 'attestationObject', MAX_ATTESTATION_CHARS);
  if (attestationObject === undefined || attestationObject === '') return 'attestationObject';
  const transports = transportList(r.transports);
  if (transports === null) return 'transports';
  return {
    id,
    rawId: id,
    type: 'public-key',
    response: { clientDataJSON, attestationObject, transports },
    clientExtensionResults: {},
  };
}

function authenticationShape(raw: unknown): Shape<AuthenticationResponseJSON> {
  const o = record(raw);
  if (o === undefined) return 'not an object';
  const id = b64Field(o, 'id', MAX_ID_CHARS);
  if (id === undefined || id === '' || o.rawId !== id) return 'id';
  if (o.type !== 'public-key') return 'type';
  const r = record(o.response);
  if (r === undefined) return 'response';
  const clientDataJSON = b64Field(r, 'clientDataJSON', MAX_CLIENT_DATA_CHARS);
  if (clientDataJSON === undefined || clientDataJSON === '') return 'clientDataJSON';
  const authenticatorData = b64Field(r, 'authenticatorData', MAX_AUTH_DATA_CHARS);
  if (authenticatorData === undefined || authenticatorData === '') return 'authenticatorData';
  const signature = b64Field(r, 'signature', MAX_SIGNATURE_CHARS);
  if (signature === undefined || signature === '') return 'signature';
  let userHandle: string | undefined;
  if (r.userHandle !== undefined && r.userHandle !== null) {
    userHandle = b64Field(r, 'userHandle', MAX_USER_HANDLE_CHARS);
    if (userHandle === undefined) return 'userHandle';
  }
  return {
    id,
    rawId: id,
    type: 'public-key',
    response: { clientDataJSON, authenticatorData, signature, userHandle },
    clientExtensionResults: {},
  };
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function b64Field(o: Record<string, unknown>, key: string, max: number): string | undefined {
  const v = o[key];
  return typeof v === 'string' && v.length <= max && B64URL.test(v) ? v : undefined;
}

/**
 * Transports as reported (an array of short names), keeping the ones browsers act on today; null when not that
 * shape. Absent is an empty list.
 */
function transportList(v: unknown): AuthenticatorTransport[] | null {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > MAX_TRANSPORTS) return null;
  const out: string[] = [];
  for (const t of v as unknown[]) {
    if (typeof t !== 'string' || !TRANSPORT.test(t)) return null;
    if (!out.includes(t)) out.push(t);
  }
  return knownTransports(out) ?? [];
}

function knownTransports(v: readonly string[] | undefined): AuthenticatorTransport[] | undefined {
  return v?.filter((t): t is AuthenticatorTransport => KNOWN_TRANSPORTS.includes(t));
}

/** Credential descriptors for exclude/allow lists, skipping a record whose id is not base64url. */
function descriptors(
  factors: readonly WebAuthnFactor[],
): { id: string; transports?: AuthenticatorTransport[] }[] {
  return factors
    .filter((f) => f.credentialId !== '' && B64URL.test(f.credentialId))
    .map((f) => {
      const transports = knownTransports(f.transports);
      return transports === undefined || transports.length === 0
        ? { id: f.credentialId }
        : { id: f.credentialId, transports };
    });
}

/** Strict base64url (no padding) to bytes; throws on anything else. */
function base64url(s: string): Uint8Array<ArrayBuffer> {
  if (!B64URL.test(s) || s.length % 4 === 1) throw new Error('not base64url');
  return new Uint8Array(Buffer.from(s, 'base64url'));
}

function clip(s: string): string {
  // eslint-disable-next-line no-control-regex -- the control characters are what it replaces (log safety)
  return s.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, DETAIL_CHARS);
}

/** An error's message only (never its stack), bounded, for the caller's audit event. */
function describe(e: unknown): string {
  return clip(e instanceof Error ? e.message : 'error');
}
