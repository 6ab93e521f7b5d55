import type { Clock } from '../lib/clock.ts';
import type { Random } from '../lib/random.ts';
import type { ArtifactStore } from '../stores/types.ts';

/**
 * The SSO session: server-side state in the ArtifactStore, referenced by an opaque random cookie. A new id is
 * minted at every sign-in (no session fixation, corpus A18/C5.2); sign-out destroys the server-side record
 * so the cookie is dead on every node.
 */
export interface SsoSession {
  id: string;
  /** base64 objectGUID: the session is tied to the account, not to the name typed. */
  objectGuid: string;
  windowsAccountName: string;
  userPrincipalName?: string | undefined;
  authMethod: string;
  authInstant: string;
  createdAt: string;
  expiresAt: string;
  /** Relying parties issued to in this session (for sign-out clean-up, MS-MWBF §3.1.1.5). */
  relyingParties: string[];
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
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#lifetimeSeconds = deps.lifetimeMinutes * 60;
  }

  get lifetimeSeconds(): number {
    return this.#lifetimeSeconds;
  }

  async create(
    init: Omit<SsoSession, 'id' | 'createdAt' | 'expiresAt' | 'relyingParties'>,
  ): Promise<SsoSession> {
    const now = this.#clock.now();
    const session: SsoSession = {
      ...init,
      id: this.#random.token(),
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.#lifetimeSeconds * 1000).toISOString(),
      relyingParties: [],
    };
    await this.#store.put('session', session.id, session, this.#lifetimeSeconds);
    return session;
  }

  /** The live session for a cookie value, or undefined (unknown, expired, malformed). */
  async find(id: string | undefined): Promise<SsoSession | undefined> {
    if (id === undefined || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) return undefined;
    const s = await this.#store.find<SsoSession>('session', id);
    if (s === undefined) return undefined;
    if (new Date(s.expiresAt).getTime() <= this.#clock.now().getTime()) {
      await this.#store.destroy('session', id);
      return undefined;
    }
    return s;
  }

  async addRelyingParty(s: SsoSession, rp: string): Promise<void> {
    if (s.relyingParties.includes(rp)) return;
    s.relyingParties.push(rp);
    const remaining = Math.ceil(
      (new Date(s.expiresAt).getTime() - this.#clock.now().getTime()) / 1000,
    );
    if (remaining > 0) await this.#store.put('session', s.id, s, remaining);
  }

  async destroy(id: string | undefined): Promise<SsoSession | undefined> {
    if (id === undefined || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) return undefined;
    return this.#store.consume<SsoSession>('session', id);
  }
}
