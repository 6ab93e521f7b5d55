import { createHash, KeyObject, randomBytes, sign, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
// @peculiar/x509's tsyringe needs the Reflect metadata polyfill loaded first (server/keys/generate.ts does the same).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import express from 'express';
import type { CDPSession, Page } from 'playwright-core';
import type { WebAuthnFactor } from '../../server/authn/mfa/factors.ts';
import {
  authenticationOptions,
  registrationOptions,
  verifyAuthentication,
  verifyRegistration,
  type AuthenticationResult,
  type RegistrationResult,
  type WebAuthnSettings,
} from '../../server/authn/mfa/webauthn.ts';
import type { SiteCertificate } from './browser.ts';

/**
 * A small HTTPS relying party for the WebAuthn module's browser tests: it renders the page contract the sign-in
 * pages use (form #webauthnForm with data-mode / data-options, views/theme/webauthn.js under `script-src 'self'`),
 * keeps each ceremony's challenge server-side, and hands what the browser posts to the module's verifiers. Factors
 * live in memory. Options and verification may use different settings, so a test can make a browser answer for
 * one RP ID or origin and post it to a verifier configured for another.
 */

/** The Content-Security-Policy fedgate's pages use for scripts: only self-hosted files, nothing inline. */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

export interface Ceremony {
  id: string;
  mode: 'create' | 'get';
  challenge: string;
  /** The settings the verifier uses (the options may have come from others). */
  verify: WebAuthnSettings;
  user: { id: Buffer; name: string; displayName: string };
  /** What the browser posted (the JSON text of WebAuthnResponse), once it did. */
  posted?: string;
  result?: RegistrationResult | AuthenticationResult;
}

export interface User {
  id: Buffer;
  name: string;
  displayName: string;
  factors: WebAuthnFactor[];
}

const escapeAttr = (s: string): string =>
  s
    .replace(/&/g, '&amp;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');

export class WebAuthnHarness {
  readonly ceremonies = new Map<string, Ceremony>();
  #server: Server | undefined;
  port = 0;

  constructor(
    readonly user: User,
    readonly repo: string,
  ) {}

  async start(tls: SiteCertificate): Promise<void> {
    const app = express();
    app.disable('x-powered-by');
    app.use(
      '/adfs/portal/theme',
      express.static(join(this.repo, 'views', 'theme'), { fallthrough: false }),
    );
    app.get('/ceremony/:id', (req, res) => {
      const c = this.ceremonies.get(req.params.id);
      if (c === undefined) {
        res.status(404).end();
        return;
      }
      res.set('Content-Security-Policy', CSP).type('html').send(this.#page(c));
    });
    app.post(
      '/ceremony/:id',
      express.urlencoded({ extended: false, limit: '128kb' }),
      (req, res, next) => {
        this.#finish(req.params.id, (req.body as Record<string, unknown>).WebAuthnResponse).then(
          (c) => {
            res
              .set('Content-Security-Policy', CSP)
              .type('html')
              .send(
                `<!doctype html><title>done</title><p id="result">${escapeAttr(JSON.stringify(c?.result ?? null))}</p>`,
              );
          },
          next,
        );
      },
    );
    this.#server = createServer({ cert: tls.cert, key: tls.key }, app);
    await new Promise<void>((ok) => this.#server?.listen(0, '127.0.0.1', ok));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    if (s === undefined) return;
    s.closeAllConnections();
    await new Promise<void>((ok) =>
      s.close(() => {
        ok();
      }),
    );
  }

  /** Prepares one ceremony: options from `options` settings, verification with `verify` (default the same). */
  async prepare(
    mode: 'create' | 'get',
    options: WebAuthnSettings,
    verify: WebAuthnSettings = options,
  ): Promise<{ ceremony: Ceremony; optionsJson: unknown }> {
    const made =
      mode === 'create'
        ? await registrationOptions(options, this.user, this.user.factors)
        : await authenticationOptions(options, this.user.factors);
    const id = randomBytes(12).toString('base64url');
    const ceremony: Ceremony = {
      id,
      mode,
      challenge: made.challenge,
      verify,
      user: this.user,
    };
    this.ceremonies.set(id, ceremony);
    this.#options.set(id, made.options);
    return { ceremony, optionsJson: made.options };
  }

  readonly #options = new Map<string, unknown>();

  #page(c: Ceremony): string {
    const options = escapeAttr(JSON.stringify(this.#options.get(c.id)));
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Security key</title>
<script src="/adfs/portal/theme/webauthn.js" defer></script></head>
<body><form id="webauthnForm" method="post" data-mode="${c.mode}" data-options="${options}">
<input type="hidden" name="WebAuthnResponse">
<button id="webauthnButton" type="submit">Use my security key</button>
<p id="webauthnError" role="alert" hidden></p>
</form></body></html>`;
  }

  /** The challenge is single-use: taken from the ceremony as it is verified (as the sign-in pages do). */
  async #finish(id: string, posted: unknown): Promise<Ceremony | undefined> {
    const c = this.ceremonies.get(id);
    if (c === undefined || c.posted !== undefined || typeof posted !== 'string') return c;
    c.posted = posted;
    let json: unknown;
    try {
      json = JSON.parse(posted);
    } catch {
      json = undefined;
    }
    if (c.mode === 'create') {
      const r = await verifyRegistration(c.verify, json, c.challenge, this.user.factors);
      c.result = r;
      if (r.ok)
        this.user.factors.push({
          kind: 'webauthn',
          id: randomBytes(9).toString('base64url'),
          name: `key ${this.user.factors.length + 1}`,
          createdAt: new Date(0).toISOString(),
          ...r.credential,
        });
    } else {
      const r = await verifyAuthentication(c.verify, json, c.challenge, this.user.factors);
      c.result = r;
      if (r.ok) {
        const f = this.user.factors.find((x) => x.id === r.factorId);
        if (f !== undefined) f.counter = r.newCounter;
      }
    }
    return c;
  }
}

/** Opens a ceremony's page on `origin`, presses the button, and returns the verifier's result. */
export async function runCeremony(
  page: Page,
  origin: string,
  ceremony: Ceremony,
): Promise<RegistrationResult | AuthenticationResult> {
  await page.goto(`${origin}/ceremony/${ceremony.id}`);
  await page.click('#webauthnButton');
  await page.waitForSelector('#result, #webauthnError:not([hidden])', { state: 'attached' });
  if (ceremony.result === undefined)
    throw new Error(
      `the browser posted nothing the harness verified; the page says: ${(await page.locator('#webauthnError').textContent()) ?? ''}`,
    );
  return ceremony.result;
}

/**
 * Opens a ceremony's page, presses the button, and returns the message the script showed (the browser refused, so
 * nothing was posted).
 */
export async function runCeremonyExpectingError(
  page: Page,
  origin: string,
  ceremony: Ceremony,
): Promise<string> {
  await page.goto(`${origin}/ceremony/${ceremony.id}`);
  await page.click('#webauthnButton');
  const box = page.locator('#webauthnError');
  await box.waitFor({ state: 'visible' });
  return (await box.textContent()) ?? '';
}

export interface VirtualAuthenticatorOptions {
  transport?: 'usb' | 'internal' | 'nfc' | 'ble';
  hasUserVerification?: boolean;
  isUserVerified?: boolean;
  hasResidentKey?: boolean;
}

/** A CTAP2 virtual authenticator in the page's browser (CDP WebAuthn domain); returns its id. */
export async function addVirtualAuthenticator(
  cdp: CDPSession,
  o: VirtualAuthenticatorOptions = {},
): Promise<string> {
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: o.transport ?? 'usb',
      hasResidentKey: o.hasResidentKey ?? true,
      hasUserVerification: o.hasUserVerification ?? true,
      isUserVerified: o.isUserVerified ?? true,
      automaticPresenceSimulation: true,
    },
  });
  return authenticatorId;
}

/** The repository root, for the script the pages load. */
export function repoRoot(fromUrl: string): string {
  return join(new URL('.', fromUrl).pathname, '..', '..');
}

/** The script file itself, for checks on what the browser is served. */
export function webauthnScript(repo: string): string {
  return readFileSync(join(repo, 'views', 'theme', 'webauthn.js'), 'utf8');
}

/**
 * A software authenticator's "packed" attestation (WebAuthn §8.2), made from parts the test controls: a P-256
 * credential key, an attestation certificate issued by a test CA (@peculiar/x509), and the CBOR attestation
 * object (the library's CBOR encoder, which only serialises). For the attestation-root tests: what a client that
 * mints its own attestation would send.
 */
export interface AttestationCa {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  pem: string;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
x509.cryptoProvider.set(webcrypto as Crypto);

function validity(): { notBefore: Date; notAfter: Date } {
  // The library and the verifier compare validity with the real clock; a day either side keeps this off the edge.
  const now = Date.now();
  return { notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 365 * 86_400_000) };
}

/** A CA (self-signed when no issuer is given) that may issue attestation certificates or further CAs. */
export async function attestationCa(name: string, issuer?: AttestationCa): Promise<AttestationCa> {
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const extensions = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  const cert =
    issuer === undefined
      ? await x509.X509CertificateGenerator.createSelfSigned({
          serialNumber: randomBytes(8)
            .toString('hex')
            .replace(/^[89a-f]/, '1'),
          name,
          ...validity(),
          signingAlgorithm: EC,
          keys,
          extensions,
        })
      : await x509.X509CertificateGenerator.create({
          serialNumber: randomBytes(8)
            .toString('hex')
            .replace(/^[89a-f]/, '1'),
          subject: name,
          issuer: issuer.cert.subject,
          ...validity(),
          signingAlgorithm: EC,
          publicKey: keys.publicKey,
          signingKey: issuer.keys.privateKey,
          extensions: [
            ...extensions,
            await x509.AuthorityKeyIdentifierExtension.create(issuer.cert),
          ],
        });
  return { cert, keys, pem: cert.toString('pem') };
}

/** An attestation (batch) certificate as §8.2.1 requires, naming the model in id-fido-gen-ce-aaguid. */
export async function attestationCertificate(
  issuer: AttestationCa,
  aaguid: string,
  /** Leave out the authority key identifier, so only the issuer's name and signature link it to the issuer. */
  o: { noAuthorityKeyId?: boolean } = {},
): Promise<{ cert: x509.X509Certificate; privateKey: CryptoKey }> {
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const aaguidBytes = Buffer.from(aaguid.replace(/-/g, ''), 'hex');
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomBytes(8)
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    subject: 'C=SE, O=fedgate tests, OU=Authenticator Attestation, CN=Software Key',
    issuer: issuer.cert.subject,
    ...validity(),
    signingAlgorithm: EC,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      ...(o.noAuthorityKeyId === true
        ? []
        : [await x509.AuthorityKeyIdentifierExtension.create(issuer.cert)]),
      // §8.2.1: OCTET STRING wrapping the 16-byte AAGUID.
      new x509.Extension(
        '1.3.6.1.4.1.45724.1.1.4',
        false,
        Buffer.concat([Buffer.from([0x04, 0x10]), aaguidBytes]),
      ),
    ],
  });
  return { cert, privateKey: keys.privateKey };
}

/**
 * A registration response with a packed attestation signed by `attestation`'s key, x5c = its certificate and
 * then `intermediates`.
 */
export async function packedRegistration(o: {
  rpId: string;
  origin: string;
  challenge: string;
  aaguid: string;
  attestation: { cert: x509.X509Certificate; privateKey: CryptoKey };
  intermediates?: x509.X509Certificate[];
}): Promise<unknown> {
  const credential = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const jwk = await webcrypto.subtle.exportKey('jwk', credential.publicKey);
  // COSE_Key (RFC 9053 §7.1.1): kty EC2, alg ES256, crv P-256, x, y.
  const cose = isoCBOR.encode(
    new Map<number, number | Uint8Array>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'))],
      [-3, new Uint8Array(Buffer.from(jwk.y ?? '', 'base64url'))],
    ]),
  );
  const credentialId = randomBytes(32);
  const counter = Buffer.alloc(4);
  const idLength = Buffer.alloc(2);
  idLength.writeUInt16BE(credentialId.length);
  // §6.1: rpIdHash, flags UP|UV|AT, signCount, attested credential data.
  const authData = Buffer.concat([
    createHash('sha256').update(o.rpId).digest(),
    Buffer.from([0x45]),
    counter,
    Buffer.from(o.aaguid.replace(/-/g, ''), 'hex'),
    idLength,
    credentialId,
    Buffer.from(cose),
  ]);
  const clientDataJSON = Buffer.from(
    JSON.stringify({
      type: 'webauthn.create',
      challenge: o.challenge,
      origin: o.origin,
      crossOrigin: false,
    }),
  );
  // §8.2 step: sig over authenticatorData || clientDataHash, ECDSA in DER.
  const sig = sign(
    'sha256',
    Buffer.concat([authData, createHash('sha256').update(clientDataJSON).digest()]),
    { key: KeyObject.from(o.attestation.privateKey), dsaEncoding: 'der' },
  );
  const x5c = [o.attestation.cert, ...(o.intermediates ?? [])].map(
    (c) => new Uint8Array(c.rawData),
  );
  const attestationObject = isoCBOR.encode(
    new Map<string, unknown>([
      ['fmt', 'packed'],
      [
        'attStmt',
        new Map<string, unknown>([
          ['alg', -7],
          ['sig', new Uint8Array(sig)],
          ['x5c', x5c],
        ]),
      ],
      ['authData', new Uint8Array(authData)],
    ]) as Parameters<typeof isoCBOR.encode>[0],
  );
  const id = credentialId.toString('base64url');
  return {
    id,
    rawId: id,
    type: 'public-key',
    response: {
      clientDataJSON: clientDataJSON.toString('base64url'),
      attestationObject: Buffer.from(attestationObject).toString('base64url'),
      transports: ['usb'],
    },
    clientExtensionResults: {},
  };
}
