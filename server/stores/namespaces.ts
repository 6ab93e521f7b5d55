/**
 * Every kind of state fedgate keeps in the ArtifactStore, named once with its key prefix and default lifetime
 * (architecture.md: "namespaces.ts names every kind of state"). A store key is `<prefix>:<key>` (Redis adds the
 * farm's own prefix in front), so an operator reading a Redis keyspace can tell a pending sign-in from a lockout
 * counter, and a TTL is changed in one place. A caller may pass a shorter TTL where the lifetime depends on
 * configuration or on the session (`ttlSeconds` here is then the default and the documentation of the usual value).
 *
 * Keys derived from something a browser holds (a session cookie, a certificate result handle) are hashes, never the
 * value itself (corpus C7.2).
 */
export const NAMESPACES = {
  /** SSO sessions, sealed; key: SHA-256 of the cookie (authn/session.ts). Lifetime: session.lifetimeMinutes. */
  session: { prefix: 'session', ttlSeconds: 8 * 3600 },
  /**
   * The parties that received a token in a session, for sign-out (WS-Fed cleanup, SAML 2.0 single logout); key:
   * the session's store key. Lives as long as the session (the caller passes the session's remaining life).
   */
  participants: { prefix: 'participants', ttlSeconds: 8 * 3600 },
  /** A validated browser sign-in request waiting for the user (protocols/browser/pending.ts); key: its handle. */
  pendingSignIn: { prefix: 'pending-signin', ttlSeconds: 15 * 60 },
  /** Credential attempts against one pending sign-in (at most 10); key: the pending sign-in's handle. */
  signInAttempts: { prefix: 'signin-attempts', ttlSeconds: 15 * 60 },
  /** A change-password form (expired password in a sign-in, or the portal page); key: the form's ticket. */
  passwordTicket: { prefix: 'password-ticket', ttlSeconds: 15 * 60 },
  /** Change-password attempts, per ticket and per source address and window. */
  passwordChangeAttempts: { prefix: 'password-change-attempts', ttlSeconds: 15 * 60 },
  /** A certificate sign-in done on the certificate host, waiting for the browser's return; key: hash of the handle. */
  certificateResult: { prefix: 'certificate-result', ttlSeconds: 120 },
  /** A SAML 2.0 single logout in progress (the queue of parties still to log out); key: the logout's handle. */
  logoutState: { prefix: 'logout-state', ttlSeconds: 10 * 60 },
  /** Message ids already accepted (SAML request IDs, WS-Trust MessageID and Nonce): set-if-absent, replay refused. */
  replay: { prefix: 'replay', ttlSeconds: 3600 },
  /**
   * Extranet smart lockout per account and location class: failure counts, window gates, last failure, familiar
   * addresses, AD-locked marks (authn/lockout.ts). Lifetimes come from the lockout configuration.
   */
  // The prefix is the key layout from before namespaces (kind `counter`, key `lockout:…`): a rolling upgrade of a
  // farm keeps every account's failure counts, familiar addresses and AD-locked marks, and old and new nodes count
  // into the same keys while both run (a split would give an attacker the threshold twice).
  lockoutCounter: { prefix: 'counter:lockout', ttlSeconds: 3600 },
  /**
   * Per account: the verifier of the last correct password, so a correct password presented while locked out is
   * recognised (AD FS 515, authn/password.ts). Kept long: it is rewritten only when the password changes.
   */
  lockoutVerifier: { prefix: 'lockout-verifier', ttlSeconds: 90 * 24 * 3600 },
  /** Password-spray detection per source address (authn/spray.ts). */
  /** TOTP codes already accepted per account, and the last accepted time step (authn/mfa/totp.ts). */
  mfaReplay: { prefix: 'mfa-replay', ttlSeconds: 120 },
  /** Wrong second-factor codes per account: the MFA lockout, separate from the password one (authn/mfa/totp.ts). */
  mfaFailures: { prefix: 'mfa-failures', ttlSeconds: 15 * 60 },
  // Kept from before namespaces too, for the same reason as lockoutCounter.
  sprayCounter: { prefix: 'counter:spray', ttlSeconds: 3600 },
  /**
   * The farm-wide active web theme's name (`fedgate theme use`, read by every node's ThemeRegistry.refresh()); key:
   * `active`. Kept for ten years: it is a setting, not a session, and is rewritten by the next `theme use`.
   */
  activeTheme: { prefix: 'active-theme', ttlSeconds: 10 * 365 * 24 * 3600 },
  /**
   * The farm-wide token-signing rollover lock (keys/rollover.ts): set-if-absent, released when the step ends, and
   * gone after five minutes if its holder died. Key: `token-signing`. Holds no key material (corpus C7.2).
   */
  keyRolloverLock: { prefix: 'key-rollover-lock', ttlSeconds: 300 },
  /**
   * oidc-provider's state (protocols/oidc/adapter.ts): codes, tokens, grants, sessions, interactions, device codes,
   * and the adapter's own markers (`consumed:…` one-use winners, `grant-revoked:…` per-grant revocations, `uid:…` and
   * `usercode:…` indexes, `replay-claim:…`). Keys are `<model>:<SHA-256 of the id>`: never the token or cookie value
   * (corpus C7.2). Each entry lives as long as the provider says (its expiresIn); ttlSeconds is the fallback when it
   * says nothing and the lifetime of a revocation marker, so it must be at least the longest token lifetime.
   */
  oidc: { prefix: 'oidc', ttlSeconds: 90 * 24 * 3600 },
  /**
   * The claims an OAuth grant's Web API rules issued at sign-in (protocols/oidc/grant-claims.ts), read when its access
   * tokens are made (code exchange, refresh); key: `<grantId>:<hash of the resource>`. Lives as long as the grant's
   * refresh token (the caller passes it).
   */
  oidcClaims: { prefix: 'oidc-claims', ttlSeconds: 24 * 3600 },
} as const satisfies Record<string, { prefix: string; ttlSeconds: number }>;

/** One kind of state: a key of NAMESPACES. */
export type Namespace = keyof typeof NAMESPACES;

/** The store key of `key` in a namespace (implementations add their own farm prefix in front). */
export function namespacedKey(ns: Namespace, key: string): string {
  return `${NAMESPACES[ns].prefix}:${key}`;
}
