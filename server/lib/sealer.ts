import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Authenticated encryption (AES-256-GCM) with a list of secrets shared by every node of a farm: the first
 * seals, every one opens, so a secret is rotated by putting the new one first and keeping the old one until
 * what it sealed has expired — nobody is signed out by a rotation. Keys are derived with HKDF-SHA256 per
 * purpose; a sealed value names its key by a short id, and binds `aad` (what the value is for) so a value
 * sealed for one purpose never opens for another.
 */
export class Sealer {
  readonly #keys: { id: string; key: Buffer }[];

  constructor(secrets: readonly (string | Buffer)[], purpose: string) {
    if (secrets.length === 0) throw new Error('Sealer needs at least one secret');
    this.#keys = secrets.map((secret) => {
      const key = Buffer.from(
        hkdfSync('sha256', secret, 'fedgate-sealer-v1', `fedgate ${purpose}`, 32),
      );
      const id = createHash('sha256').update(key).digest('base64url').slice(0, 6);
      return { id, key };
    });
  }

  /** `keyId.iv.ciphertext+tag`, base64url parts (cookie-safe). */
  seal(plaintext: string, aad: string): string {
    const k = this.#keys[0];
    if (k === undefined) throw new Error('no key');
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', k.key, iv);
    c.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final(), c.getAuthTag()]);
    return `${k.id}.${iv.toString('base64url')}.${ct.toString('base64url')}`;
  }

  /** The plaintext, or undefined when the value is malformed, tampered with, or sealed by an unknown secret. */
  open(sealed: string, aad: string): string | undefined {
    const parts = sealed.split('.');
    if (parts.length !== 3) return undefined;
    const [id, ivB, ctB] = parts as [string, string, string];
    const k = this.#keys.find((x) => x.id === id);
    if (k === undefined) return undefined;
    const iv = Buffer.from(ivB, 'base64url');
    const ct = Buffer.from(ctB, 'base64url');
    // One spelling per sealed value: base64url that does not decode back to itself (a stray trailing character,
    // padding) is refused, so a value cannot be varied without breaking it.
    if (iv.toString('base64url') !== ivB || ct.toString('base64url') !== ctB) return undefined;
    if (iv.length !== 12 || ct.length < 16) return undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', k.key, iv);
      d.setAAD(Buffer.from(aad));
      d.setAuthTag(ct.subarray(ct.length - 16));
      return Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
