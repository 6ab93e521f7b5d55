/**
 * AD FS application groups (issue 19): OAuth 2.0 / OpenID Connect clients (native = public, server application =
 * confidential) and Web APIs (resources, whose identifiers are the access token's audience), with the permissions
 * that join them (Grant-AdfsApplicationPermission). Loaded once from `oauth.applicationGroups` and the files in
 * `oauth.applicationsDir`; every Web API's rule sets are compiled at load, so a rule that does not parse stops the
 * server (or the reload keeps the previous registry) instead of failing sign-ins.
 *
 * A Web API is the relying party of an OAuth sign-in: its issuance rules decide the access token's claims, its
 * authorization rules who may have one, its MFA policy when a second factor is needed, as a trust does for WS-Fed
 * and SAML.
 */
import { X509Certificate } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { compileRules, genericRules, loadRulesFile } from '../claims/rule-sets.ts';
import type {
  ApplicationGroupConfig,
  NativeClientConfig,
  ServerApplicationConfig,
  WebApiConfig,
} from '../config/schema.ts';
import { readClientCertificateFile } from './application-files.ts';
import { trustMfaOf, type RelyingParty } from './registry.ts';

export type ClientKind = 'native' | 'server';

export interface OAuthClient {
  kind: ClientKind;
  clientId: string;
  name: string;
  /** The application group's identifier. */
  group: string;
  redirectUris: readonly string[];
  postLogoutRedirectUris: readonly string[];
  logoutUri?: string | undefined;
  allowPasswordGrant: boolean;
  /** `sha256:<base64url>` hashes (server applications). */
  clientSecrets: readonly string[];
  /** PEM certificates whose keys sign private_key_jwt client assertions. */
  jwtSigningCertificates: readonly X509Certificate[];
  jwksUri?: string | undefined;
}

export interface WebApi {
  /** The relying party the claims pipeline runs: identifier = identifiers[0], aliases = the others. */
  rp: RelyingParty;
  identifiers: readonly string[];
  group: string;
  allowedClientTypes: readonly ('public' | 'confidential')[];
  issueRefreshTokens: boolean;
  /** client_id (or `*`) → the scopes granted. */
  permissions: ReadonlyMap<string, readonly string[]>;
}

/**
 * The resource AD FS uses when a request names none (an OpenID Connect sign-in only): its access token is good at
 * /adfs/userinfo alone, and its policies are not configurable.
 */
export const USERINFO_RESOURCE = 'urn:microsoft:userinfo';

/** Scopes of the OpenID Connect layer, granted to every client (AD FS: the userinfo resource). */
export const OIDC_SCOPES: readonly string[] = Object.freeze([
  'openid',
  'profile',
  'email',
  'offline_access',
  'allatclaims',
]);

/** Identifiers compare as AD FS compares them: case-insensitive, one trailing slash ignored. */
export function normaliseResource(id: string): string {
  return id.toLowerCase().replace(/\/$/, '');
}

function groupId(g: ApplicationGroupConfig): string {
  return g.identifier ?? g.name;
}

function readCertificates(
  baseDir: string,
  files: readonly string[],
  where: string,
): X509Certificate[] {
  return files.map((f) => {
    try {
      // The same check `fedgate app add` makes: one certificate, RSA >= 2048 or EC P-256, no private key.
      return new X509Certificate(readClientCertificateFile(resolve(baseDir, f)).pem);
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
    }
  });
}

function clientOf(
  kind: ClientKind,
  c: NativeClientConfig | ServerApplicationConfig,
  group: string,
  baseDir: string,
): OAuthClient {
  const server = kind === 'server' ? (c as ServerApplicationConfig) : undefined;
  return Object.freeze({
    kind,
    clientId: c.clientId,
    name: c.name,
    group,
    redirectUris: Object.freeze([...c.redirectUris]),
    postLogoutRedirectUris: Object.freeze([...(c.postLogoutRedirectUris ?? c.redirectUris)]),
    logoutUri: c.logoutUri,
    allowPasswordGrant: c.allowPasswordGrant,
    clientSecrets: Object.freeze([...(server?.clientSecrets ?? [])]),
    jwtSigningCertificates: Object.freeze(
      readCertificates(
        baseDir,
        server?.jwtSigningCertificateFiles ?? [],
        `application group ${group}, client ${c.clientId}`,
      ),
    ),
    jwksUri: server?.jwksUri,
  });
}

function webApiOf(w: WebApiConfig, group: string, baseDir: string, configDir: string): WebApi {
  const source = `application group ${group}, Web API ${w.identifiers[0] ?? w.name}`;
  const fromText = (text: string | undefined, file: string | undefined, what: string) =>
    text !== undefined
      ? compileRules(text, `${source} ${what}`)
      : file !== undefined
        ? loadRulesFile(resolve(baseDir, file))
        : undefined;
  const defaults = genericRules();
  const issuance = fromText(w.issuanceRules, w.issuanceRulesFile, 'issuance rules');
  const authorization = fromText(
    w.authorizationRules,
    w.authorizationRulesFile,
    'authorization rules',
  );
  const permissions = new Map<string, string[]>();
  for (const p of w.permissions) {
    const had = permissions.get(p.client) ?? [];
    permissions.set(p.client, [...new Set([...had, ...p.scopes])]);
  }
  const rp: RelyingParty = Object.freeze({
    identifier: w.identifiers[0] ?? w.name,
    aliases: w.identifiers.slice(1),
    name: w.name,
    replyUrls: [],
    tokenLifetimeMinutes: w.tokenLifetimeMinutes,
    claimsPreset: 'generic' as const,
    rules: {
      // A Web API without issuance rules issues no claims beyond the protocol's own (AD FS: an empty rule set).
      issuance: issuance ?? compileRules('', `${source} issuance rules`),
      authorization: authorization ?? defaults.authorization,
    },
    // The MFA rule file is relative to the configuration file, as for every trust (trustMfaSchema).
    mfa: trustMfaOf(configDir, w.mfa),
  });
  return Object.freeze({
    rp,
    identifiers: Object.freeze([...w.identifiers]),
    group,
    allowedClientTypes: Object.freeze([...w.allowedClientTypes]),
    issueRefreshTokens: w.issueRefreshTokens,
    permissions,
  });
}

/** The built-in userinfo resource: an OpenID Connect sign-in without a Web API (its rules permit everyone). */
function userinfoApi(): WebApi {
  const defaults = genericRules();
  return Object.freeze({
    rp: Object.freeze({
      identifier: USERINFO_RESOURCE,
      aliases: [],
      name: 'OpenID Connect user information',
      replyUrls: [],
      tokenLifetimeMinutes: 60,
      claimsPreset: 'generic' as const,
      rules: { issuance: compileRules('', 'userinfo'), authorization: defaults.authorization },
    }),
    identifiers: Object.freeze([USERINFO_RESOURCE]),
    group: '',
    allowedClientTypes: Object.freeze(['public', 'confidential'] as const),
    issueRefreshTokens: true,
    // Every client may sign in for it: grantedScopes answers OIDC_SCOPES without reading permissions.
    permissions: new Map(),
  });
}

export interface ApplicationGroupSource {
  group: ApplicationGroupConfig;
  /** Where rule and certificate paths resolve (the config file's or the group file's folder). */
  baseDir: string;
  /** The config file's folder (MFA rule files resolve against it). */
  configDir: string;
  /** For messages: the config file or the group file. */
  source: string;
}

export class ApplicationRegistry {
  readonly #clients = new Map<string, OAuthClient>();
  readonly #apis = new Map<string, WebApi>();
  readonly #apiList: WebApi[] = [];
  readonly userinfo: WebApi = userinfoApi();

  /**
   * Compiles every group; throws naming the group and file when a rule does not parse, a certificate cannot be
   * read, or a client_id or Web API identifier is used twice (in any group, or by a relying-party trust).
   */
  constructor(
    sources: readonly ApplicationGroupSource[],
    taken: (id: string) => boolean = () => false,
  ) {
    this.#apis.set(normaliseResource(USERINFO_RESOURCE), this.userinfo);
    for (const { group, baseDir, configDir, source } of sources) {
      if (!group.enabled) continue;
      const gid = groupId(group);
      const clients = [
        ...group.nativeClients.map((c) => clientOf('native', c, gid, baseDir)),
        ...group.serverApplications.map((c) => clientOf('server', c, gid, baseDir)),
      ];
      for (const c of clients) {
        if (this.#clients.has(c.clientId))
          throw new Error(`${source}: client_id ${c.clientId} is used twice`);
        this.#clients.set(c.clientId, c);
      }
      for (const w of group.webApis) {
        const api = webApiOf(w, gid, baseDir, configDir);
        for (const id of api.identifiers) {
          const k = normaliseResource(id);
          if (this.#apis.has(k) || taken(id))
            throw new Error(`${source}: Web API identifier ${id} is used twice`);
          this.#apis.set(k, api);
        }
        this.#apiList.push(api);
      }
    }
  }

  client(clientId: string): OAuthClient | undefined {
    return this.#clients.get(clientId);
  }

  get clients(): readonly OAuthClient[] {
    return [...this.#clients.values()];
  }

  get webApis(): readonly WebApi[] {
    return this.#apiList;
  }

  /** The Web API a resource identifier names (the userinfo resource included). */
  webApi(resource: string): WebApi | undefined {
    if (resource.length > 2048) return undefined;
    return this.#apis.get(normaliseResource(resource));
  }

  /**
   * The scopes `client` may have at `api` (its own entries and the `*` ones); undefined when the client has no
   * permission there at all, or its type is not allowed.
   */
  grantedScopes(client: OAuthClient, api: WebApi): readonly string[] | undefined {
    if (api === this.userinfo) return OIDC_SCOPES;
    const type = client.kind === 'native' ? 'public' : 'confidential';
    if (!api.allowedClientTypes.includes(type)) return undefined;
    const own = api.permissions.get(client.clientId);
    const all = api.permissions.get('*');
    if (own === undefined && all === undefined) return undefined;
    return [...new Set([...(own ?? []), ...(all ?? [])])];
  }
}

/** The group sources of a configuration: inline groups (relative to the config file), then the files given. */
export function applicationSources(
  baseDir: string,
  inline: readonly ApplicationGroupConfig[],
  files: readonly { path: string; group: ApplicationGroupConfig }[],
): ApplicationGroupSource[] {
  return [
    ...inline.map((group) => ({
      group,
      baseDir,
      configDir: baseDir,
      source: 'oauth.applicationGroups',
    })),
    ...files.map((f) => ({
      group: f.group,
      baseDir: dirname(f.path),
      configDir: baseDir,
      source: f.path,
    })),
  ];
}
