import { createHash } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import type { CertificateContext } from './certificate/context.ts';
import type { MfaMethod } from './mfa/factors.ts';
import { FederationError } from '../lib/errors.ts';
import type { Random } from '../lib/random.ts';
import { Sealer } from '../lib/sealer.ts';
import type { ArtifactStore } from '../stores/types.ts';

/**
 * The SSO session: server-side state in the ArtifactStore, referenced by an opaque cookie. A new id is
 * minted at every sign-in (no session fixation, corpus A18/C5.2); sign-out destroys the server-side record
 * so the cookie is dead on every node.
 *
 * The id (= cookie value) is a random handle sealed (AES-256-GCM) with the farm's session secret, so a forged or
 * guessed cookie is refused before any store look-up; the record in the store is sealed too (Redis never holds
 * readable session data). Secrets rotate without signing anyone out: the first seals, all of them open.
 * Store outage (security-corpus E3): a session that cannot be checked counts as no session, so the user is asked
 * to sign in again; it is never accepted unchecked.
 */
/**
 * The store key of everything kept for a session: a SHA-256 of the cookie value, never the value itself. A
 * reader of the shared store (a Redis replica, a backup, MONITOR) sees keys; were a key the cookie, copying it
 * into a browser would open the session (corpus C7.2). The hash cannot be turned back into a cookie, and the
 * seal of the cookie still makes a forged one fail before any look-up.
 */
export function sessionStoreKey(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('base64url');
}

/** A second factor verified in this session (issue 16): which methods, and when the last one was. */
export interface MfaDone {
  methods: MfaMethod[];
  /** ISO-8601 of the last verification (multifactorauthenticationinstant). */
  instant: string;
}

export interface SsoSession {
  id: string;
  /** base64 objectGUID: the session is tied to the account, not to the name typed. */
  objectGuid: string;
  windowsAccountName: string;
  userPrincipalName?: string | undefined;
  authMethod: string;
  authInstant: string;
  /** The certificate of a certificate sign-in (its claims are issued for every token of the session). */
  certificate?: CertificateContext | undefined;
  /** Set only when a second factor was verified in this session (corpus B5.4: MFA claims only then). */
  mfa?: MfaDone | undefined;
  /**
   * "Keep me signed in" (AD FS persistent SSO, issue 17): the session lasts branding.signIn.keepMeSignedInHours,
   * its cookie outlives the browser, and tokens carry the psso claim.
   */
  persistent?: boolean | undefined;
  createdAt: string;
  expiresAt: string;
}

export class SessionManager {
  readonly #store: ArtifactStore;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #lifetimeSeconds: number;

  constructor(deps: {
    store: ArtifactStore;
    clock: Clock;
    random: Random;
    lifetimeMinutes: number;
    /** Session secrets, current first (session.secrets); absent: a random per-process secret (one node only). */
    secrets?: readonly (string | Buffer)[] | undefined;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#lifetimeSeconds = deps.lifetimeMinutes * 60;
    this.#sealer = new Sealer(
      deps.secrets !== undefined && deps.secrets.length > 0
        ? deps.secrets
        : [deps.random.bytes(32)],
      'sso-session',
    );
  }

  readonly #sealer: Sealer;

  /** A well-formed id that this farm's secrets (current or previous) sealed. */
  #validId(id: string | undefined): id is string {
    return (
      id !== undefined &&
      id.length <= 120 &&
      /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(id) &&
      this.#sealer.open(id, 'sso-handle') !== undefined
    );
  }

  async #write(s: SsoSession, ttlSeconds: number): Promise<void> {
    await this.#store.put(
      'session',
      sessionStoreKey(s.id),
      this.#sealer.seal(JSON.stringify(s), s.id),
      ttlSeconds,
    );
  }

  get lifetimeSeconds(): number {
    return this.#lifetimeSeconds;
  }

  /** A new session; `lifetimeSeconds` replaces the configured lifetime (a kept, persistent sign-in). */
  async create(
    init: Omit<SsoSession, 'id' | 'createdAt' | 'expiresAt'>,
    lifetimeSeconds = this.#lifetimeSeconds,
  ): Promise<SsoSession> {
    const now = this.#clock.now();
    const session: SsoSession = {
      ...init,
      id: this.#sealer.seal(this.#random.token(), 'sso-handle'),
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + lifetimeSeconds * 1000).toISOString(),
    };
    await this.#write(session, lifetimeSeconds);
    return session;
  }

  /** The live session for a cookie value, or undefined (unknown, expired, malformed). */
  async find(id: string | undefined): Promise<SsoSession | undefined> {
    if (!this.#validId(id)) return undefined;
    let sealed: string | undefined;
    try {
      sealed = await this.#store.find<string>('session', sessionStoreKey(id));
    } catch (err) {
      // Store down: the session cannot be checked, so it counts as none (the user signs in again).
      if (err instanceof FederationError && err.code === 'store_unavailable') return undefined;
      throw err;
    }
    const json = typeof sealed === 'string' ? this.#sealer.open(sealed, id) : undefined;
    if (json === undefined) return undefined;
    const s = JSON.parse(json) as SsoSession;
    if (new Date(s.expiresAt).getTime() <= this.#clock.now().getTime()) {
      await this.#store.destroy('session', sessionStoreKey(id));
      return undefined;
    }
    return s;
  }

  async destroy(id: string | undefined): Promise<SsoSession | undefined> {
    if (!this.#validId(id)) return undefined;
    const sealed = await this.#store.consume<string>('session', sessionStoreKey(id));
    const json = typeof sealed === 'string' ? this.#sealer.open(sealed, id) : undefined;
    return json === undefined ? undefined : (JSON.parse(json) as SsoSession);
  }
}
