/**
 * Who received a token in an SSO session: one record per session for every protocol, read at sign-out. WS-Fed
 * parties get `wa=wsignoutcleanup1.0` at the reply address their token was posted to (MS-MWBF §3.1.5.4.6); SAML 2.0
 * parties get a LogoutRequest naming the NameID and SessionIndex they were given (SAML Core §3.7.1). The record lives
 * as long as the session, keyed like it by the SHA-256 of the cookie, never the cookie (corpus C7.2).
 */
import type { Clock } from '../lib/clock.ts';
import type { ArtifactStore } from '../stores/types.ts';
import { sessionStoreKey, type SsoSession } from './session.ts';

export type Participant =
  | { protocol: 'wsfed'; rp: string; reply: string }
  | {
      protocol: 'saml2';
      rp: string;
      /** Absent when the token carried no NameID: such a party cannot be sent a LogoutRequest. */
      nameId?: string | undefined;
      nameIdFormat?: string | undefined;
      sessionIndex: string;
    }
  | {
      /** An OAuth client (client_id) that got tokens in this session: its LogoutUri is called at sign-out. */
      protocol: 'oidc';
      rp: string;
    };

/** A session rarely holds more than a handful of parties; the oldest go first past this bound. */
const MAX_PARTICIPANTS = 64;

export class Participants {
  readonly #store: ArtifactStore;
  readonly #clock: Clock;

  constructor(deps: { store: ArtifactStore; clock: Clock }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
  }

  /** The session's parties, oldest first. */
  async of(session: SsoSession): Promise<Participant[]> {
    return (
      (await this.#store.find<Participant[]>('participants', sessionStoreKey(session.id))) ?? []
    );
  }

  /** Records that `p` received a token in this session (replacing that party's earlier entry). */
  async remember(session: SsoSession, p: Participant): Promise<void> {
    const list = (await this.of(session)).filter((x) => x.rp !== p.rp);
    list.push(p);
    const remaining = Math.ceil(
      (new Date(session.expiresAt).getTime() - this.#clock.now().getTime()) / 1000,
    );
    if (remaining > 0)
      await this.#store.put(
        'participants',
        sessionStoreKey(session.id),
        list.slice(-MAX_PARTICIPANTS),
        remaining,
      );
  }

  /**
   * Moves the parties of an ended session to the session that replaced it (same account, same browser: a step-up
   * to a second factor or a forced re-authentication), so one sign-out still reaches every party of the browser.
   */
  async carryOver(from: SsoSession, to: SsoSession): Promise<void> {
    const earlier = await this.take(from);
    if (earlier.length === 0) return;
    // The new session's own entry for a party (its newer token) wins over the ended session's.
    const current = await this.of(to);
    const list = [...earlier.filter((e) => !current.some((x) => x.rp === e.rp)), ...current];
    const remaining = Math.ceil(
      (new Date(to.expiresAt).getTime() - this.#clock.now().getTime()) / 1000,
    );
    if (remaining > 0)
      await this.#store.put(
        'participants',
        sessionStoreKey(to.id),
        list.slice(-MAX_PARTICIPANTS),
        remaining,
      );
  }

  /** The session's parties, forgotten at once (sign-out reads them exactly once). */
  async take(session: SsoSession): Promise<Participant[]> {
    return (
      (await this.#store.consume<Participant[]>('participants', sessionStoreKey(session.id))) ?? []
    );
  }
}
