import { randomBytes, randomUUID } from 'node:crypto';

/** Injected randomness, so tests can make identifiers deterministic. */
export interface Random {
  bytes(n: number): Buffer;
  /** 128-bit random token, base64url (cookies, state handles, CSRF tokens). */
  token(): string;
  /** RFC 4122 v4 UUID (activity ids, AD FS-style assertion ids). */
  uuid(): string;
}

export const cryptoRandom: Random = {
  bytes: (n) => randomBytes(n),
  token: () => randomBytes(16).toString('base64url'),
  uuid: () => randomUUID(),
};

/** Deterministic generator for tests (not cryptographically secure, never used in production). */
export class SeededRandom implements Random {
  #state: number;
  constructor(seed = 1) {
    this.#state = seed >>> 0 || 1;
  }
  #next(): number {
    // xorshift32
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.#next() & 0xff;
    return b;
  }
  token(): string {
    return this.bytes(16).toString('base64url');
  }
  uuid(): string {
    const b = this.bytes(16);
    b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
    b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
    const h = b.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
}
