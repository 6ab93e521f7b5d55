import { z } from 'zod';

/**
 * The configuration schema. Key names are a public contract (tooling outside the project relies on
 * them): change them only with a migration note. docs/configuration.md documents every key.
 */

const tlsFiles = z.strictObject({
  /** PEM certificate (chain) file for the HTTPS listener. */
  cert: z.string().min(1),
  /** PEM private key file for the HTTPS listener. */
  key: z.string().min(1),
});

export const listenSchema = z.strictObject({
  /** TCP port of the main listener. */
  port: z.coerce.number().int().min(0).max(65535).default(8443),
  /** Address to bind; default all interfaces. */
  host: z.string().default('0.0.0.0'),
  /**
   * `generate`: self-signed certificate for the hostname, made on first run and kept in keys.dir;
   * `off`: plain HTTP (TLS ends at a load balancer); or `{ cert, key }` files.
   */
  tls: z.union([z.literal('generate'), z.literal('off'), tlsFiles]).default('generate'),
  /**
   * Addresses (IP or CIDR) of load balancers / reverse proxies whose X-Forwarded-For and
   * X-Forwarded-Proto headers are believed. Headers from anyone else are ignored.
   */
  trustedProxies: z.array(z.string().min(1)).default([]),
});

export const keysSchema = z.strictObject({
  /** Directory for generated key material (token-signing key, self-signed TLS). Mode 0700. */
  dir: z.string().default('./keys'),
  /** Use an existing token-signing key pair instead of generating one. */
  signing: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
});

export const ldapDirectorySchema = z.strictObject({
  kind: z.literal('ldap'),
  /** Domain controllers, tried in order; ldaps:// only (simple binds over plain LDAP are refused). */
  urls: z
    .array(
      z
        .string()
        .regex(
          /^ldaps:\/\/[^\s/]+\/?$/i,
          'must be an ldaps:// URL (host[:port]); plain ldap:// is refused',
        ),
    )
    .min(1),
  /** Search base for users. */
  baseDn: z.string().min(1),
  /** Service account used for searches (never for password checks). */
  bindDn: z.string().min(1),
  bindPassword: z.string().min(1),
  /** NetBIOS name of the domain (CORP in CORP\jdoe). */
  netbiosDomain: z.string().min(1).max(15),
  /** UPN suffixes accepted in user@suffix sign-in names; default: any. */
  upnSuffixes: z.array(z.string().min(1)).default([]),
  tls: z
    .strictObject({
      /** PEM CA bundle that issued the DCs' certificates. Certificate checks are never switched off. */
      ca: z.string().min(1).optional(),
      /** Expected server name when the URL host is an address. */
      servername: z.string().min(1).optional(),
    })
    .default({}),
  /** TCP+TLS connect timeout per DC, milliseconds. */
  connectTimeoutMs: z.coerce.number().int().min(100).max(60_000).default(3000),
  /** Per-operation (search/bind) timeout, milliseconds. */
  timeoutMs: z.coerce.number().int().min(100).max(60_000).default(5000),
  /** Pooled LDAPS connections per DC used for password binds. */
  poolSize: z.coerce.number().int().min(1).max(64).default(8),
});

export const embeddedDirectorySchema = z.strictObject({
  kind: z.literal('embedded'),
  /** YAML or JSON file of users; default: the bundled demo directory. */
  file: z.string().min(1).optional(),
  netbiosDomain: z.string().min(1).max(15).default('FEDGATE'),
});

export const directorySchema = z.discriminatedUnion('kind', [
  ldapDirectorySchema,
  embeddedDirectorySchema,
]);

export const storeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('memory') }),
]);

export const relyingPartySchema = z.strictObject({
  /** The realm / identifier the party sends as wtrealm (and the token Audience). */
  identifier: z.string().min(1),
  name: z.string().min(1),
  /** Registered reply (wreply) endpoints; the first is the default. https only. */
  replyUrls: z.array(z.url({ protocol: /^https$/ })).min(1),
  /** Token lifetime in minutes. */
  tokenLifetimeMinutes: z.coerce.number().int().min(1).max(1440).default(60),
  /**
   * AD FS issuance transform rules for this party (text as Get-AdfsRelyingPartyTrust prints IssuanceTransformRules),
   * relative to the config file. Default: send common LDAP attributes (metadata/generic.rules).
   */
  issuanceRulesFile: z.string().min(1).optional(),
  /** AD FS issuance authorization rules (IssuanceAuthorizationRules). Default: permit all users. */
  authorizationRulesFile: z.string().min(1).optional(),
});

const domainName = z
  .string()
  .regex(
    /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/,
    'must be a domain name like contoso.com',
  );

export const microsoft365Schema = z.strictObject({
  /**
   * Custom domains federated with fedgate. With one or more, tokens carry the per-domain Issuer
   * http://{domain}/adfs/services/trust/ chosen from the user's UPN (AD FS -SupportMultipleDomain).
   */
  federatedDomains: z.array(domainName).default([]),
  /** Replace the shipped Microsoft 365 issuance rules (metadata/microsoft365.rules) with this file. */
  issuanceRulesFile: z.string().min(1).optional(),
  /** Replace the shipped permit-all authorization rule with this file. */
  authorizationRulesFile: z.string().min(1).optional(),
});

export const configSchema = z.strictObject({
  /** Public DNS name of the federation service (used in every published URL; never taken from Host). */
  hostname: z
    .string()
    .regex(/^[A-Za-z0-9.-]+$/, 'must be a DNS name')
    .default('localhost'),
  /** Federation service identifier: token Issuer and metadata entityID. Default http://{hostname}/adfs/services/trust */
  issuerUri: z.string().min(1).optional(),
  /** Base URL users and clients reach (scheme://host[:port]); default from hostname, port and TLS mode. */
  publicUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Display name shown on the sign-in page and in metadata. */
  displayName: z.string().min(1).default('fedgate'),
  listen: listenSchema.default({
    port: 8443,
    host: '0.0.0.0',
    tls: 'generate',
    trustedProxies: [],
  }),
  keys: keysSchema.default({ dir: './keys' }),
  directory: directorySchema.default({ kind: 'embedded', netbiosDomain: 'FEDGATE' }),
  store: storeSchema.default({ kind: 'memory' }),
  session: z
    .strictObject({
      /** SSO session lifetime in minutes (AD FS default 8 hours). */
      lifetimeMinutes: z.coerce.number().int().min(1).max(10_080).default(480),
    })
    .default({ lifetimeMinutes: 480 }),
  /**
   * Enable the built-in test relying party `urn:fedgate:test`, whose tokens go to fedgate's own token test page
   * (/adfs/test/result). Default: on with embedded defaults, off with a config file.
   */
  testRelyingParty: z.boolean().optional(),
  /** The built-in Microsoft 365 trust ("Microsoft Office 365 Identity Platform"). */
  microsoft365: microsoft365Schema.default({ federatedDomains: [] }),
  /** Extra WS-Federation relying parties besides the built-in Microsoft 365 trust. */
  relyingParties: z.array(relyingPartySchema).default([]),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .default({ level: 'info' }),
});

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
export type LdapDirectoryConfig = z.output<typeof ldapDirectorySchema>;
export type EmbeddedDirectoryConfig = z.output<typeof embeddedDirectorySchema>;
export type RelyingPartyConfig = z.output<typeof relyingPartySchema>;

/** The resolved, frozen configuration the rest of the server sees. */
export interface Config extends ParsedConfig {
  testRelyingParty: boolean;
  issuerUri: string;
  publicUrl: string;
  /** true when no config file was given (embedded defaults; not for production). */
  embeddedDefaults: boolean;
  /** Directory the config file lives in; relative paths in the file resolve against it. */
  baseDir: string;
}
