/**
 * oidc-provider's storage (its `Adapter` interface) over the farm's ArtifactStore: every node of a farm sees the
 * same codes, tokens, grants, sessions, interactions and device codes (memory store for one node, Redis for a
 * farm). Clients are not stored: they come from the application groups (`opts.clients`), read-only.
 *
 * Layout, all in the `oidc` namespace (stores/namespaces.ts), each value JSON:
 * - `<Model>:<h(id)>` → `{ p: payload, x: expiry (ms), g?: grant generation }`, TTL = the provider's expiresIn.
 *   `h` is SHA-256 (base64url): a key never shows a token, code or cookie value (corpus C7.2), and an id an
 *   attacker sends cannot shape a key. For ids that are bearer credentials (codes, tokens, device codes) the
 *   payload's `jti` (= the id) is not stored either and is put back on read, so a reader of Redis gets no usable
 *   refresh or access token. Sessions and interactions keep their `jti`: the provider needs it to re-issue the
 *   cookie, and its cookies are signed with `cookies.keys`, which are not in the store.
 * - `consumed:<Model>:<h(id)>`: the one-use winner (set-if-absent), TTL = the record's remaining life.
 * - `grant-revoked:<h(grantId)>` → `{ g }`: the grant's revocation generation; `grant-dead:<h(grantId)>`: the grant
 *   was caught redeeming one code or refresh token twice; `uid:<h(uid)>` / `usercode:<h(code)>` → the id.
 * - `replay-claim:<h(id)>`: makes ReplayDetection (client-assertion and DPoP `jti`s) atomic, see `#replayFind`.
 */
import { createHash } from 'node:crypto';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { errors } from './library.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { NAMESPACES } from '../../stores/namespaces.ts';
import type { ArtifactStore } from '../../stores/types.ts';

export interface StoreAdapterOptions {
  /** The registered client with this `client_id`, as oidc-provider client metadata; undefined if none. */
  clients?: ((clientId: string) => Record<string, unknown> | undefined) | undefined;
  /** Time for expiry bookkeeping and `consumed` stamps (tests freeze it together with the memory store's). */
  clock?: Clock | undefined;
  /**
   * How long a grant's revocation is remembered, seconds: at least the longest token lifetime configured, or a
   * token issued before the revocation comes back when the marker expires. Default: the namespace's 90 days; the
   * longest expiresIn this process has stored is used when it is longer.
   */
  revocationTtlSeconds?: number | undefined;
}

const NS = 'oidc' as const;

/** Longer ids are refused (find → undefined): oidc-provider's own ids are 43 characters, client ids short. */
export const MAX_ID_LENGTH = 512;

/** How long an expired device code is still known (and answered expired_token). */
const DEVICE_CODE_GRACE_SECONDS = 600;

/** Models whose records carry `grantId` and die with their grant (oidc-provider's revoke helper lists them). */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

/** Models the provider consumes (one use): a second use is a replay (RFC 6749 §4.1.2, RFC 9700 §4.14.2). */
const ONE_USE = new Set([
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
  'PushedAuthorizationRequest',
]);

/** Models whose id is itself a bearer credential: their `jti` is not written to the store. */
const CREDENTIAL_ID = new Set([
  ...GRANTABLE,
  'ClientCredentials',
  'InitialAccessToken',
  'RegistrationAccessToken',
  'PushedAuthorizationRequest',
]);

const LABEL: Record<string, string> = {
  AuthorizationCode: 'authorization code',
  RefreshToken: 'refresh token',
  DeviceCode: 'device code',
  BackchannelAuthenticationRequest: 'backchannel authentication request',
  PreAuthorizedCode: 'pre-authorized code',
};

/** How long a ReplayDetection claim blocks the same id before the provider's own record takes over. */
const REPLAY_CLAIM_SECONDS = 300;

interface StoredRecord {
  /** The provider's payload (without `jti` for CREDENTIAL_ID models). */
  p: AdapterPayload;
  /** When the record expires, ms (the TTL the provider gave), for the remaining life of a consumed copy. */
  x: number;
  /** The grant's revocation generation when the record was written (GRANTABLE models with a grantId). */
  g?: number;
}

function validId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH;
}

function h(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('base64url');
}

function asRecord(v: unknown): StoredRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as { p?: unknown; x?: unknown };
  if (typeof r.p !== 'object' || r.p === null || typeof r.x !== 'number') return undefined;
  return v as StoredRecord;
}

function generationOf(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  const g = (v as { g?: unknown }).g;
  return typeof g === 'number' && Number.isFinite(g) ? g : 0;
}

/**
 * The oidc-provider Adapter class for `store`. Use as `configuration.adapter`.
 *
 * One-use models (codes, refresh tokens, device codes): `consume(id)` takes the store's atomic set-if-absent
 * `consumed:` marker. The winner stamps `payload.consumed` (epoch seconds) into the record; `find()` reports
 * `consumed` also while only the marker exists, so the provider's own reuse check (grant_source.js, refresh_token.js:
 * revoke the grant, `invalid_grant`) sees every use after the first. Two redemptions racing past that check both
 * reach `consume()`: the loser's request is a reuse too, so the grant dies (`grant-dead`, every token of it
 * unfindable, the Grant record destroyed, as the provider's own reuse path does) and `consume()` throws
 * `invalid_grant` (HTTP 400; `invalid_request_uri` for a pushed authorization request), never a 5xx.
 *
 * `revokeByGrantId(grantId)`: no keyspace scan. It bumps the grant's revocation generation; a record written before
 * carries an older generation and `find()` no longer returns it, one written after (same grant, kept by
 * `revokeGrantPolicy`, e.g. after the revocation of a single access token) is found. The Grant record itself is
 * left to the provider, which destroys it when its `revokeGrantPolicy` says so.
 */
export function storeAdapter(
  store: ArtifactStore,
  opts: StoreAdapterOptions = {},
): new (name: string) => Adapter {
  const clock = opts.clock ?? systemClock;
  const revocationTtl = opts.revocationTtlSeconds ?? NAMESPACES.oidc.ttlSeconds;
  let longestTtl = 0;
  const nowMs = (): number => clock.now().getTime();
  const epoch = (): number => Math.floor(nowMs() / 1000);
  const markerTtl = (): number => Math.max(revocationTtl, longestTtl);

  const revokedKey = (grantId: string): string => `grant-revoked:${h(grantId)}`;
  const deadKey = (grantId: string): string => `grant-dead:${h(grantId)}`;

  /** A grant caught in a reuse: every token of it unfindable, now and later, and the Grant gone. */
  async function killGrant(grantId: string): Promise<void> {
    await store.put(NS, deadKey(grantId), 1, markerTtl());
    await store.destroy(NS, `Grant:${h(grantId)}`);
  }

  return class StoreAdapter implements Adapter {
    readonly #model: string;

    constructor(name: string) {
      this.#model = name;
    }

    #key(id: string): string {
      return `${this.#model}:${h(id)}`;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      // Clients are configuration (application groups), never written by the provider.
      if (this.#model === 'Client') return;
      if (!validId(id)) throw new TypeError(`oidc adapter: ${this.#model} id is not a valid id`);
      // A device code outlives its expiry by a grace period, so a device polling late learns expired_token
      // (RFC 8628 §3.5: oidc-provider checks the expiry itself) instead of invalid_grant for a code it never knew.
      const grace = this.#model === 'DeviceCode' ? DEVICE_CODE_GRACE_SECONDS : 0;
      const ttl =
        typeof expiresIn === 'number' && Number.isFinite(expiresIn)
          ? Math.max(1, Math.ceil(expiresIn)) + grace
          : NAMESPACES.oidc.ttlSeconds;
      const p: AdapterPayload = { ...payload };
      if (CREDENTIAL_ID.has(this.#model) && p.jti === id) delete p.jti;
      const rec: StoredRecord = { p, x: nowMs() + ttl * 1000 };
      const { grantId, uid, userCode } = payload;
      if (GRANTABLE.has(this.#model) && validId(grantId)) {
        longestTtl = Math.max(longestTtl, ttl);
        rec.g = generationOf(await store.find(NS, revokedKey(grantId)));
      }
      const writes = [store.put(NS, this.#key(id), rec, ttl)];
      if (this.#model === 'Session' && validId(uid)) {
        writes.push(store.put(NS, `uid:${h(uid)}`, id, ttl));
      }
      if (validId(userCode)) writes.push(store.put(NS, `usercode:${h(userCode)}`, id, ttl));
      await Promise.all(writes);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.#model === 'Client') return this.#client(id);
      if (!validId(id)) return undefined;
      if (this.#model === 'ReplayDetection') return this.#replayFind(id);
      return this.#read(id);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      if (this.#model === 'Client' || !validId(uid)) return undefined;
      const id = await store.find(NS, `uid:${h(uid)}`);
      if (!validId(id)) return undefined;
      const p = await this.#read(id);
      // The index is a hint: the record itself must say it is this uid's.
      return p?.uid === uid ? p : undefined;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      if (this.#model === 'Client' || !validId(userCode)) return undefined;
      const id = await store.find(NS, `usercode:${h(userCode)}`);
      if (!validId(id)) return undefined;
      const p = await this.#read(id);
      return p?.userCode === userCode ? p : undefined;
    }

    async consume(id: string): Promise<void> {
      if (this.#model === 'Client') return;
      const key = validId(id) ? this.#key(id) : undefined;
      const rec = key === undefined ? undefined : asRecord(await store.find(NS, key));
      if (key === undefined || rec === undefined) throw this.#refusal('not found');
      const ttl = Math.max(1, Math.ceil((rec.x - nowMs()) / 1000));
      // The atomic step: exactly one caller, on any node, sets the marker.
      if (await store.markSeen(NS, `consumed:${key}`, ttl)) {
        rec.p.consumed = epoch();
        await store.put(NS, key, rec, ttl);
        return;
      }
      const grantId = rec.p.grantId;
      if (GRANTABLE.has(this.#model) && validId(grantId)) await killGrant(grantId);
      throw this.#refusal('already used');
    }

    async destroy(id: string): Promise<void> {
      if (this.#model === 'Client' || !validId(id)) return;
      const key = this.#key(id);
      const rec = asRecord(await store.find(NS, key));
      await store.destroy(NS, key);
      if (rec === undefined) return;
      const { uid, userCode } = rec.p;
      // Indexes go only if they still point here (a Session keeps its uid when its id is renewed).
      const indexes = [
        this.#model === 'Session' && validId(uid) ? `uid:${h(uid)}` : undefined,
        validId(userCode) ? `usercode:${h(userCode)}` : undefined,
      ];
      for (const ix of indexes) {
        if (ix !== undefined && (await store.find(NS, ix)) === id) await store.destroy(NS, ix);
      }
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      if (this.#model === 'Client' || !validId(grantId)) return;
      // Read-modify-write is enough: racing revocations both end above every generation written before them.
      const g = generationOf(await store.find(NS, revokedKey(grantId)));
      await store.put(NS, revokedKey(grantId), { g: g + 1 }, markerTtl());
    }

    /** The record as the provider wrote it, unless expired, revoked, or its grant died; `consumed` reported. */
    async #read(id: string): Promise<AdapterPayload | undefined> {
      const key = this.#key(id);
      const [raw, consumedMark] = await Promise.all([
        store.find(NS, key),
        ONE_USE.has(this.#model) ? store.find(NS, `consumed:${key}`) : Promise.resolve(undefined),
      ]);
      const rec = asRecord(raw);
      if (rec === undefined) return undefined;
      const grantId = GRANTABLE.has(this.#model)
        ? rec.p.grantId
        : this.#model === 'Grant'
          ? id
          : undefined;
      if (validId(grantId)) {
        const [revoked, dead] = await Promise.all([
          this.#model === 'Grant'
            ? Promise.resolve(undefined)
            : store.find(NS, revokedKey(grantId)),
          store.find(NS, deadKey(grantId)),
        ]);
        if (dead !== undefined) return undefined;
        if (revoked !== undefined && (rec.g ?? 0) < generationOf(revoked)) return undefined;
      }
      const p: AdapterPayload = { ...rec.p, jti: rec.p.jti ?? id };
      // Between the winner's marker and its rewrite of the record, the marker alone says "consumed".
      if (consumedMark !== undefined && p.consumed === undefined) p.consumed = epoch();
      return p;
    }

    /**
     * oidc-provider's ReplayDetection.unique() is find-then-save: two requests with the same client assertion or
     * DPoP proof racing on two nodes would both pass (RFC 7523 §3 item 7: a jti is used once). Here the first
     * find() of an id claims it atomically and answers "not seen"; every later or concurrent one answers "seen"
     * (a valid stand-in payload) until the provider's own record, written right after, takes over.
     */
    async #replayFind(id: string): Promise<AdapterPayload | undefined> {
      const found = await this.#read(id);
      if (found !== undefined) return found;
      if (await store.markSeen(NS, `replay-claim:${h(id)}`, REPLAY_CLAIM_SECONDS)) return undefined;
      const now = epoch();
      return { iat: now, exp: now + REPLAY_CLAIM_SECONDS, jti: id, kind: 'ReplayDetection' };
    }

    #client(id: string): AdapterPayload | undefined {
      if (!validId(id) || opts.clients === undefined) return undefined;
      const meta: unknown = opts.clients(id);
      // Guards a lookup that is a plain object (`constructor`, `__proto__` would answer something).
      if (typeof meta !== 'object' || meta === null) return undefined;
      if ((meta as { client_id?: unknown }).client_id !== id) return undefined;
      return { ...meta };
    }

    #refusal(what: string): Error {
      if (this.#model === 'PushedAuthorizationRequest') {
        return new errors.InvalidRequestUri('request_uri is invalid, expired, or was already used');
      }
      return new errors.InvalidGrant(`${LABEL[this.#model] ?? this.#model} ${what}`);
    }
  };
}
