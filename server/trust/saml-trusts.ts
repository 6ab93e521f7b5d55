/**
 * SAML 2.0 trusts from files: one YAML file per service provider under `saml2.trustsDir`, naming the SP's
 * metadata (a file, or a URL) and the per-trust policy (docs/configuration.md, "SAML 2.0 trust files").
 *
 * Refresh (issue 5 §6): every file is re-read on a schedule; metadata given by URL is fetched again when due
 * (the schedule, or sooner when its cacheDuration / validUntil says so), optionally signature-checked against
 * a pinned certificate. A failed refresh keeps the last good copy and logs an error; a trust whose file was
 * removed leaves the registry. Nothing here runs per request: the registry swaps whole trust objects.
 */
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configPath, genericRules, type RelyingPartyRules } from '../claims/rule-sets.ts';
import { trustBrandingFields, trustMfaSchema } from '../config/schema.ts';
import type { Clock } from '../lib/clock.ts';
import {
  MetadataError,
  parseSpMetadata,
  verifiedMetadataXml,
  type SamlSpMetadata,
} from './saml-metadata.ts';
import {
  trustBrandingOf,
  trustMfaOf,
  type SamlSpPolicy,
  type SamlTrust,
  type TrustMfa,
  type TrustRegistry,
} from './registry.ts';
import { CONTENT_ALGORITHMS, type AssertionEncryption } from '../tokens/saml2-encryption.ts';
import { METADATA_LIMITS } from '../lib/xml-limits.ts';

export const trustFileSchema = z.strictObject({
  name: z.string().min(1).max(256).optional(),
  /** SP metadata: a path relative to the trust file, or an http(s) URL. */
  metadata: z.string().min(1),
  /** PEM certificate the metadata must be signed with (required for plain http:// URLs). */
  metadataCertificate: z.string().min(1).optional(),
  signAssertion: z.boolean().default(true),
  signResponse: z.boolean().default(false),
  requireSignedRequests: z.boolean().default(false),
  nameIdFormat: z.string().min(1).optional(),
  allowSha1: z.boolean().default(false),
  idpInitiated: z.boolean().default(false),
  relayStateUrls: z.array(z.url({ protocol: /^https$/ })).default([]),
  tokenLifetimeMinutes: z.number().int().min(1).max(1440).default(60),
  /** Absent: encrypt when the SP's metadata has an encryption key. true: required. false: never. */
  encryptAssertion: z.boolean().optional(),
  /** Content-encryption algorithms allowed for this SP, in order of preference. */
  encryptionAlgorithms: z
    .array(z.enum(['aes256-gcm', 'aes256-cbc']))
    .min(1)
    .default(['aes256-gcm']),
  issuanceRulesFile: z.string().min(1).optional(),
  authorizationRulesFile: z.string().min(1).optional(),
  /**
   * When this party's users need a second factor (issue 16), as relyingParties[].mfa: AdditionalAuthenticationRules
   * (path relative to the trust file) and access-control-policy presets.
   */
  mfa: trustMfaSchema.optional(),
  /** This party's own texts and theme (issue 17), as relyingParties[].webContent / webTheme. */
  ...trustBrandingFields,
});
export type TrustFile = z.output<typeof trustFileSchema>;

export type FetchText = (url: string) => Promise<string>;

const MAX_METADATA_BYTES = METADATA_LIMITS.maxLength;

/** Fetches metadata with a timeout and a size cap; redirects are not followed (the URL is the trust). */
export const fetchMetadata: FetchText = async (url) => {
  const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(15_000) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const len = Number(res.headers.get('content-length') ?? '0');
  if (len > MAX_METADATA_BYTES) throw new Error('metadata too large');
  const body = await res.text();
  if (body.length > MAX_METADATA_BYTES) throw new Error('metadata too large');
  return body;
};

interface Loaded {
  file: string;
  mtimeMs: number;
  entityId: string;
  source: string;
  isUrl: boolean;
  /** mtime of a metadata file (file trusts), to notice a replaced metadata document. */
  metadataMtimeMs: number;
  nextFetch: number;
}

export interface SamlTrustLoaderOptions {
  dir: string;
  registry: TrustRegistry;
  log: Logger;
  clock: Clock;
  refreshMinutes: number;
  fetchText?: FetchText | undefined;
}

function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** Reads and checks one trust file (for `fedgate rp` and the loader). */
export function readTrustFile(file: string): TrustFile {
  const parsed = trustFileSchema.safeParse(parseYaml(readFileSync(file, 'utf8')));
  if (!parsed.success)
    throw new MetadataError(
      `${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

export function policyOf(t: TrustFile, md: SamlSpMetadata): SamlSpPolicy {
  return {
    // An SP that says WantAssertionsSigned always gets a signed assertion.
    signAssertion: t.signAssertion || md.wantAssertionsSigned || !t.signResponse,
    signResponse: t.signResponse,
    requireSignedRequests: t.requireSignedRequests,
    nameIdFormat: t.nameIdFormat,
    allowSha1: t.allowSha1,
    idpInitiated: t.idpInitiated,
    relayStateUrls: [...t.relayStateUrls],
    encryption: encryptionOf(t, md),
  };
}

/** Content-encryption algorithm URIs as SP metadata lists them (key-transport entries are not these). */
const CONTENT_ALGORITHM_URI = /#(aes(128|192|256)-(cbc|gcm)|tripledes-cbc)$/;

/**
 * Assertion encryption for one SP (issue 5 §2): on when its metadata has an encryption certificate, unless the
 * trust says `encryptAssertion: false`; a trust that requires it without a usable key is a configuration error
 * (reported when the trust loads, never a silently plain assertion).
 */
function encryptionOf(t: TrustFile, md: SamlSpMetadata): AssertionEncryption | undefined {
  if (t.encryptAssertion === false) return undefined;
  const [certPem] = md.encryptionCertificates;
  if (certPem === undefined) {
    if (t.encryptAssertion === true)
      throw new MetadataError(
        'encryptAssertion is true but the SP metadata has no encryption certificate (KeyDescriptor use="encryption" or without use)',
      );
    return undefined;
  }
  const cert = new X509Certificate(certPem);
  const key = cert.publicKey;
  const off = 'set encryptAssertion: false to send this SP signed, unencrypted assertions';
  if (key.asymmetricKeyType !== 'rsa')
    throw new MetadataError(
      `the SP encryption certificate has a ${key.asymmetricKeyType ?? 'unknown'} key; assertions are encrypted to RSA keys only (RSA-OAEP); ${off}`,
    );
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048)
    throw new MetadataError(
      `the SP encryption key is RSA ${bits} bits; at least 2048 are required; ${off}`,
    );
  const offered = (md.encryptionMethods ?? []).filter((a) => CONTENT_ALGORITHM_URI.test(a));
  const algorithm = t.encryptionAlgorithms.find(
    (a) => offered.length === 0 || offered.includes(CONTENT_ALGORITHMS[a]),
  );
  if (algorithm === undefined)
    throw new MetadataError(
      `the SP metadata lists content encryption ${offered.join(', ')} and none of them is in encryptionAlgorithms (${t.encryptionAlgorithms.join(', ')}); allow one it supports or ${off}`,
    );
  return {
    publicKey: key,
    certificateBase64: Buffer.from(cert.raw).toString('base64'),
    algorithm,
  };
}

export class SamlTrustLoader {
  readonly #o: SamlTrustLoaderOptions;
  readonly #loaded = new Map<string, Loaded>();
  readonly #rules = new Map<string, RelyingPartyRules>();
  readonly #mfa = new Map<string, TrustMfa | undefined>();
  #timer: NodeJS.Timeout | undefined;

  constructor(o: SamlTrustLoaderOptions) {
    this.#o = o;
  }

  #files(): string[] {
    try {
      if (!statSync(this.#o.dir).isDirectory()) return [];
    } catch {
      return [];
    }
    return readdirSync(this.#o.dir)
      .filter((n) => /\.ya?ml$/i.test(n))
      .sort()
      .map((n) => join(this.#o.dir, n));
  }

  async #metadataXml(file: string, t: TrustFile): Promise<string> {
    let xml: string;
    if (isUrl(t.metadata)) {
      if (/^http:/i.test(t.metadata) && t.metadataCertificate === undefined)
        throw new MetadataError('metadata over plain http:// needs metadataCertificate');
      xml = await (this.#o.fetchText ?? fetchMetadata)(t.metadata);
    } else {
      xml = readFileSync(resolve(dirname(file), t.metadata), 'utf8');
    }
    if (t.metadataCertificate !== undefined) {
      const pin = readFileSync(resolve(dirname(file), t.metadataCertificate), 'utf8');
      return verifiedMetadataXml(xml, pin);
    }
    return xml;
  }

  #rulesFor(file: string, t: TrustFile): RelyingPartyRules {
    const key = `${file}|${t.issuanceRulesFile ?? ''}|${t.authorizationRulesFile ?? ''}`;
    let rules = this.#rules.get(key);
    if (rules === undefined) {
      rules = genericRules({
        issuanceRulesFile: configPath(dirname(file), t.issuanceRulesFile),
        authorizationRulesFile: configPath(dirname(file), t.authorizationRulesFile),
      });
      this.#rules.set(key, rules);
    }
    return rules;
  }

  /**
   * The trust file's MFA policy, its rule file compiled (a file that does not parse fails the load like a bad
   * issuance rule file: startup stops, a refresh keeps the last good copy). Keyed by the file's text of it, so a
   * changed policy is compiled again and an unchanged one keeps its object (trust-policy.ts caches by it).
   */
  #mfaFor(file: string, t: TrustFile): TrustMfa | undefined {
    const key = `${file}|${JSON.stringify(t.mfa ?? null)}`;
    if (!this.#mfa.has(key)) this.#mfa.set(key, trustMfaOf(dirname(file), t.mfa));
    return this.#mfa.get(key);
  }

  async #loadOne(file: string, now: number): Promise<void> {
    const t = readTrustFile(file);
    const md = parseSpMetadata(await this.#metadataXml(file, t));
    if (md.validUntil !== undefined && md.validUntil.getTime() <= now)
      throw new MetadataError(`metadata expired at ${md.validUntil.toISOString()}`);
    const prev = this.#loaded.get(file);
    if (prev !== undefined && prev.entityId !== md.entityId)
      this.#o.registry.removeSaml(prev.entityId);
    const other = [...this.#loaded.values()].find(
      (l) => l.file !== file && l.entityId === md.entityId,
    );
    if (other !== undefined)
      throw new MetadataError(`entityID ${md.entityId} is already configured by ${other.file}`);
    const trust: SamlTrust = {
      metadata: md,
      policy: policyOf(t, md),
      source: isUrl(t.metadata) ? t.metadata : resolve(dirname(file), t.metadata),
    };
    this.#o.registry.setSaml(trust, {
      name: t.name ?? md.entityId,
      tokenLifetimeMinutes: t.tokenLifetimeMinutes,
      rules: this.#rulesFor(file, t),
      mfa: this.#mfaFor(file, t),
      branding: trustBrandingOf(t),
    });
    const refreshMs = this.#o.refreshMinutes * 60_000;
    let due = now + refreshMs;
    if (md.cacheDurationMs !== undefined && md.cacheDurationMs > 0)
      due = Math.min(due, now + Math.max(60_000, md.cacheDurationMs));
    if (md.validUntil !== undefined)
      due = Math.min(due, Math.max(now + 60_000, md.validUntil.getTime() - 60_000));
    this.#loaded.set(file, {
      file,
      mtimeMs: statSync(file).mtimeMs,
      entityId: md.entityId,
      source: trust.source,
      isUrl: isUrl(t.metadata),
      metadataMtimeMs: isUrl(t.metadata) ? 0 : mtime(trust.source),
      nextFetch: due,
    });
    this.#o.log.info(
      {
        event: 'saml_trust_loaded',
        file: basename(file),
        entityId: md.entityId,
        source: trust.source,
      },
      'SAML 2.0 trust loaded',
    );
  }

  /**
   * Loads every trust file. At start (`strict`), a bad local file stops startup like a bad rule file does;
   * a URL that cannot be fetched is logged and the trust stays unavailable until a refresh succeeds.
   */
  async load(strict: boolean): Promise<void> {
    const now = this.#o.clock.now().getTime();
    const files = this.#files();
    for (const file of files) {
      const prev = this.#loaded.get(file);
      if (
        prev !== undefined &&
        mtime(file) === prev.mtimeMs &&
        (prev.isUrl ? prev.nextFetch > now : mtime(prev.source) === prev.metadataMtimeMs)
      )
        continue;
      try {
        await this.#loadOne(file, now);
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        if (strict && !(prev === undefined && isUrlTrust(file)))
          throw new MetadataError(`SAML trust ${file}: ${reason}`);
        // Keep the last good copy (the registry still holds it); say so loudly.
        this.#o.log.error(
          {
            event: 'saml_metadata_refresh_failed',
            file: basename(file),
            entityId: prev?.entityId,
            keptLastGood: prev !== undefined,
            reason: reason.slice(0, 300),
          },
          'SAML 2.0 metadata could not be loaded; keeping the last good copy',
        );
        if (prev !== undefined) prev.nextFetch = now + 5 * 60_000;
      }
    }
    for (const [file, l] of this.#loaded) {
      if (files.includes(file)) continue;
      this.#o.registry.removeSaml(l.entityId);
      this.#loaded.delete(file);
      this.#o.log.info(
        { event: 'saml_trust_removed', file: basename(file), entityId: l.entityId },
        'SAML 2.0 trust removed',
      );
    }
  }

  /** Runs `load(false)` every minute (cheap: only changed files and due URLs are read). */
  start(): void {
    this.#timer ??= setInterval(() => {
      this.load(false).catch((e: unknown) => {
        this.#o.log.error({ err: e }, 'SAML 2.0 trust refresh failed');
      });
    }, 60_000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** What is loaded, for `fedgate rp list`. */
  list(): { file: string; entityId: string; source: string }[] {
    return [...this.#loaded.values()].map((l) => ({
      file: l.file,
      entityId: l.entityId,
      source: l.source,
    }));
  }
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

function isUrlTrust(file: string): boolean {
  try {
    return isUrl(readTrustFile(file).metadata);
  } catch {
    return false;
  }
}
