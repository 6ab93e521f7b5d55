/**
 * `fedgate app …` (issue 19): application groups (OpenID Connect / OAuth 2.0 clients and Web APIs) as YAML files in
 * `oauth.applicationsDir`, with AD FS's cmdlets as the model (docs/applications.md):
 *
 *   add-group       New-AdfsApplicationGroup
 *   add native      Add-AdfsNativeClientApplication      (public client)
 *   add server      Add-AdfsServerApplication            (confidential client: secret, certificate or JWKS URI)
 *   add webapi      Add-AdfsWebApiApplication            (resource; its identifiers are the token audience)
 *   grant           Grant-AdfsApplicationPermission
 *   reset-secret    Set-AdfsServerApplication -ResetClientSecret (-ChangeClientSecret keeps the old one: --keep-old)
 *   list, remove    Get-/Remove-Adfs*Application, Remove-AdfsApplicationGroup
 *   import          Get-AdfsApplicationGroup | ConvertTo-Json -Depth 5 (and Get-AdfsApplicationPermission)
 *
 * Rules every command keeps:
 * - Everything is checked before anything is written (schema, claim rules with the real parser, certificates,
 *   client_id / Web API identifier uniqueness across all groups); a refusal writes nothing. Files are replaced
 *   atomically (server/trust/application-files.ts).
 * - A client secret is shown once, on standard output, and only its SHA-256 is stored (`sha256:<base64url>`): the
 *   file never holds anything that authenticates a client. `list` never prints a hash.
 * - Exit 0 done, 1 refused (one line on standard error), 2 usage error.
 */
import { decodePowerShellText } from '../lib/powershell-text.ts';
import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { compileRules } from '../claims/rule-sets.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import {
  applicationGroupSchema,
  type ApplicationGroupConfig,
  type Config,
  type NativeClientConfig,
  type ServerApplicationConfig,
  type WebApiConfig,
} from '../config/schema.ts';
import {
  ApplicationFileError,
  groupFilePath,
  groupIdentifier,
  groupSlug,
  indexRegistrations,
  readApplicationGroupFiles,
  readClientCertificateFile,
  renderApplicationGroup,
  writeFileAtomic,
  type ApplicationGroupFile,
  type ClientCertificate,
} from '../trust/application-files.ts';

/** A refusal (exit 1) or a usage error (exit 2), printed as one line. */
export class AppCliError extends Error {
  override readonly name = 'AppCliError';
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

export interface AppCliOutput {
  stdout: string;
  stderr: string;
}

export interface AppContext {
  config: Config;
  /** Randomness for client secrets (tests inject it); node:crypto by default. */
  randomBytes?: (n: number) => Buffer;
}

/** An AD FS export (ConvertTo-Json output) is a few hundred KB at most; a bigger file is refused before parsing. */
export const MAX_IMPORT_BYTES = 1024 * 1024;
/** Rule files as AD FS's -IssuanceTransformRulesFile: read once, stored as text in the group file. */
const MAX_RULES_BYTES = 1024 * 1024;

/** The scopes AD FS describes out of the box (Get-AdfsScopeDescription; adfs-reference.md §1). */
export const BUILT_IN_SCOPES = [
  'openid',
  'profile',
  'email',
  'allatclaims',
  'user_impersonation',
  'aza',
  'logon_cert',
  'vpn_cert',
  'winhello_cert',
] as const;

const INLINE_SOURCE = '(configuration file) oauth.applicationGroups';

// ---------------------------------------------------------------------------------------------------------------
// State: every group file plus the groups written inline in the configuration (both count for uniqueness).

interface State {
  dir: string;
  baseDir: string;
  files: ApplicationGroupFile[];
  inline: ApplicationGroupFile[];
}

function applicationsDir(config: Config): string {
  return resolve(config.baseDir, config.oauth.applicationsDir);
}

function loadState(config: Config): State {
  const dir = applicationsDir(config);
  let files: ApplicationGroupFile[];
  try {
    files = readApplicationGroupFiles(dir);
  } catch (err) {
    if (err instanceof ApplicationFileError) throw new AppCliError(err.message);
    throw err;
  }
  const inline = config.oauth.applicationGroups.map((group) => ({
    file: INLINE_SOURCE,
    group,
  }));
  return { dir, baseDir: config.baseDir, files, inline };
}

function sameGroup(g: ApplicationGroupConfig, which: string): boolean {
  return groupIdentifier(g).toLowerCase() === which.toLowerCase() || g.name === which;
}

/** The group file `which` (identifier, case-insensitive, or name); a group inline in the configuration is refused. */
function findGroup(state: State, which: string): ApplicationGroupFile {
  // The identifier first (unique); a name only when it names one group (names need not be unique).
  const byId = state.files.find(
    (f) => groupIdentifier(f.group).toLowerCase() === which.toLowerCase(),
  );
  if (byId !== undefined) return byId;
  const byName = state.files.filter((f) => f.group.name === which);
  if (byName.length > 1)
    throw new AppCliError(
      `${byName.length} application groups are named "${which}": give the identifier (fedgate app list)`,
    );
  const hit = byName[0];
  if (hit !== undefined) return hit;
  if (state.inline.some((f) => sameGroup(f.group, which)))
    throw new AppCliError(
      `application group "${which}" is written in the configuration file (oauth.applicationGroups): edit it there`,
    );
  throw new AppCliError(
    `no application group "${which}" in ${state.dir} (fedgate app list shows them)`,
  );
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

interface Change {
  /** The group file to write (new or replaced), or to delete when `group` is null. */
  file: string;
  group: ApplicationGroupConfig | null;
  header?: string;
}

interface ExtraFile {
  path: string;
  data: string;
}

/**
 * Checks the state after `changes` (schema of every changed group, uniqueness across all files and the inline
 * groups) and only then writes: extra files (certificates, rule files) first, group files next, deletions last.
 */
function commit(
  state: State,
  changes: Change[],
  extra: ExtraFile[] = [],
  removeFiles: string[] = [],
  dryRun = false,
): void {
  const after = new Map(state.files.map((f) => [f.file, f.group] as const));
  for (const c of changes) {
    if (c.group === null) after.delete(c.file);
    else after.set(c.file, c.group);
  }
  const rendered: { file: string; text: string }[] = [];
  for (const c of changes) {
    if (c.group === null) continue;
    try {
      rendered.push({
        file: c.file,
        text: renderApplicationGroup(
          c.group,
          c.header ??
            `Application group "${groupIdentifier(c.group)}" (fedgate app; docs/applications.md)`,
        ),
      });
    } catch (err) {
      if (err instanceof ApplicationFileError)
        throw new AppCliError(`${c.file}: ${err.message.replace(/^\(application group\): /, '')}`);
      throw err;
    }
  }
  try {
    // Unchanged registrations first, so a duplicate is blamed on the file being written.
    const changed = new Set(changes.map((c) => c.file));
    const entries = [...after].map(([file, group]) => ({ file, group }));
    indexRegistrations([
      ...state.inline,
      ...entries.filter((e) => !changed.has(e.file)),
      ...entries.filter((e) => changed.has(e.file)),
    ]);
  } catch (err) {
    if (err instanceof ApplicationFileError) throw new AppCliError(err.message);
    throw err;
  }
  // Files written beside the groups (certificates, rule files) never replace one that is there already.
  const seen = new Set<string>();
  for (const e of extra) {
    if (seen.has(e.path) || existsSync(e.path))
      throw new AppCliError(`${e.path} already exists: nothing was written`);
    seen.add(e.path);
  }
  if (dryRun) return;
  const written: string[] = [];
  try {
    for (const e of extra) {
      writeFileAtomic(e.path, e.data);
      written.push(e.path);
    }
    for (const r of rendered) writeFileAtomic(r.file, r.text);
  } catch (err) {
    for (const w of written) rmSync(w, { force: true });
    throw new AppCliError(`cannot write: ${(err as Error).message}`);
  }
  for (const c of changes) if (c.group === null) rmSync(c.file, { force: true });
  for (const f of removeFiles) rmSync(f, { force: true });
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets and certificates.

/** `sha256:` + base64url(SHA-256(secret as UTF-8)): what serverApplicationSchema.clientSecrets holds. */
export function clientSecretHash(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('base64url')}`;
}

/** 32 random bytes, base64url (43 characters): 256 bits, so its SHA-256 alone is a safe thing to store. */
function newSecret(ctx: AppContext): { secret: string; hash: string } {
  const bytes = (ctx.randomBytes ?? nodeRandomBytes)(32);
  if (bytes.length !== 32) throw new Error('randomBytes returned the wrong length');
  const secret = bytes.toString('base64url');
  return { secret, hash: clientSecretHash(secret) };
}

function secretLines(clientId: string, secret: string): string {
  return (
    `client secret for ${clientId} (shown once: store it in the application now; fedgate keeps only its hash):\n` +
    `client_secret: ${secret}\n`
  );
}

/**
 * A -JWTSigningCertificate file, checked as the server will read it (server/trust/application-files.ts: one PEM
 * certificate, RSA ≥ 2048 or EC P-256, never a private key).
 */
export function checkClientCertificate(path: string): ClientCertificate {
  try {
    return readClientCertificateFile(path);
  } catch (err) {
    if (err instanceof ApplicationFileError) throw new AppCliError(err.message);
    throw err;
  }
}

function slugPart(s: string): string {
  return groupSlug(s).slice(0, 40);
}

/** Certificate files copied next to the group file, referenced by bare name (relative to the group file). */
function certificateFiles(
  dir: string,
  group: ApplicationGroupConfig,
  clientId: string,
  paths: readonly string[],
): { refs: string[]; extra: ExtraFile[]; lines: string[] } {
  const refs: string[] = [];
  const extra: ExtraFile[] = [];
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const p of paths) {
    const c = checkClientCertificate(p);
    if (seen.has(c.fingerprint)) throw new AppCliError(`${p}: the same certificate is given twice`);
    seen.add(c.fingerprint);
    const name = `${slugPart(groupIdentifier(group))}.${slugPart(clientId)}.${c.fingerprint.slice(0, 16)}.crt.pem`;
    refs.push(name);
    extra.push({ path: join(dir, name), data: c.pem });
    lines.push(`  certificate ${name}: ${c.description}`);
  }
  return { refs, extra, lines };
}

/** Files a group references by bare name in the applications folder (copied certificates), for removal. */
function ownedFiles(dir: string, clients: readonly ServerApplicationConfig[]): string[] {
  const out: string[] = [];
  for (const c of clients)
    for (const f of c.jwtSigningCertificateFiles)
      if (!isAbsolute(f) && basename(f) === f && f.endsWith('.crt.pem')) out.push(join(dir, f));
  return out;
}

/** AdditionalAuthenticationRules files `app import` wrote into the applications folder, for removal. */
function ownedRuleFiles(state: State, apis: readonly WebApiConfig[]): string[] {
  const out: string[] = [];
  for (const a of apis) {
    const f = a.mfa?.additionalAuthenticationRulesFile;
    if (f === undefined) continue;
    const abs = resolve(state.baseDir, f);
    if (dirname(abs) === state.dir && abs.endsWith('.mfa.rules')) out.push(abs);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Claim rules: parsed with the server's own parser before anything is written.

function checkRules(text: string, source: string): void {
  try {
    compileRules(text, source);
  } catch (err) {
    throw new AppCliError(`claim rules do not parse: ${(err as Error).message}`);
  }
}

function readRulesFile(path: string): string {
  try {
    if (statSync(path).size > MAX_RULES_BYTES)
      throw new AppCliError(`${path}: larger than ${MAX_RULES_BYTES} bytes`);
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof AppCliError) throw err;
    throw new AppCliError(
      `${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Commands.

export function appAddGroup(
  ctx: AppContext,
  o: { name: string; identifier?: string | undefined; description?: string | undefined },
): AppCliOutput {
  const state = loadState(ctx.config);
  const group = {
    name: o.name,
    ...(o.identifier === undefined ? {} : { identifier: o.identifier }),
    ...(o.description === undefined ? {} : { description: o.description }),
  };
  const parsed = applicationGroupSchema.safeParse(group);
  if (!parsed.success)
    throw new AppCliError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
    );
  const file = groupFilePath(state.dir, parsed.data);
  const id = groupIdentifier(parsed.data);
  const existing = [...state.files, ...state.inline].find(
    (f) => groupIdentifier(f.group).toLowerCase() === id.toLowerCase(),
  );
  if (existing !== undefined)
    throw new AppCliError(`application group "${id}" already exists in ${existing.file}`);
  if (state.files.some((f) => f.file === file))
    throw new AppCliError(
      `${file} already holds another group (identifiers that differ only in punctuation share a file name): choose another --identifier`,
    );
  commit(state, [{ file, group: parsed.data, header: `Application group "${id}" (fedgate app)` }]);
  return {
    stdout: `added application group "${o.name}" (identifier ${id}) → ${file}\n`,
    stderr: '',
  };
}

interface ClientOptions {
  group: string;
  name: string;
  clientId: string;
  redirectUris: string[];
  logoutUri?: string | undefined;
  allowPasswordGrant: boolean;
  description?: string | undefined;
}

export function appAddNative(ctx: AppContext, o: ClientOptions): AppCliOutput {
  const state = loadState(ctx.config);
  const f = findGroup(state, o.group);
  const group = clone(f.group);
  const client: NativeClientConfig = {
    name: o.name,
    clientId: o.clientId,
    redirectUris: o.redirectUris,
    allowPasswordGrant: o.allowPasswordGrant,
    ...(o.logoutUri === undefined ? {} : { logoutUri: o.logoutUri }),
    ...(o.description === undefined ? {} : { description: o.description }),
  };
  group.nativeClients.push(client);
  commit(state, [{ file: f.file, group }]);
  return {
    stdout:
      `added native client "${o.name}" (client_id ${o.clientId}) to "${groupIdentifier(group)}" → ${f.file}\n` +
      `  redirect URIs: ${o.redirectUris.join(', ')}\n` +
      `  authentication: none (public client; PKCE)${o.allowPasswordGrant ? ', password grant ON' : ''}\n`,
    stderr: '',
  };
}

export function appAddServer(
  ctx: AppContext,
  o: ClientOptions & {
    generateClientSecret: boolean;
    certificates: string[];
    jwksUri?: string | undefined;
  },
): AppCliOutput {
  if (!o.generateClientSecret && o.certificates.length === 0 && o.jwksUri === undefined)
    throw new AppCliError(
      'a server application needs a credential: --generate-client-secret, --jwt-signing-certificate FILE.pem or --jwks-uri URL',
      2,
    );
  const state = loadState(ctx.config);
  const f = findGroup(state, o.group);
  const group = clone(f.group);
  const certs = certificateFiles(state.dir, group, o.clientId, o.certificates);
  const secret = o.generateClientSecret ? newSecret(ctx) : undefined;
  const client: ServerApplicationConfig = {
    name: o.name,
    clientId: o.clientId,
    redirectUris: o.redirectUris,
    allowPasswordGrant: o.allowPasswordGrant,
    clientSecrets: secret === undefined ? [] : [secret.hash],
    jwtSigningCertificateFiles: certs.refs,
    ...(o.jwksUri === undefined ? {} : { jwksUri: o.jwksUri }),
    ...(o.logoutUri === undefined ? {} : { logoutUri: o.logoutUri }),
    ...(o.description === undefined ? {} : { description: o.description }),
  };
  group.serverApplications.push(client);
  commit(state, [{ file: f.file, group }], certs.extra);
  const lines = [
    `added server application "${o.name}" (client_id ${o.clientId}) to "${groupIdentifier(group)}" → ${f.file}`,
    `  redirect URIs: ${o.redirectUris.length === 0 ? '(none)' : o.redirectUris.join(', ')}`,
    `  authentication: ${authMethods(client).join(', ')}${o.allowPasswordGrant ? '; password grant ON' : ''}`,
    ...certs.lines,
  ];
  return {
    stdout: `${lines.join('\n')}\n${secret === undefined ? '' : secretLines(o.clientId, secret.secret)}`,
    stderr: '',
  };
}

export function appAddWebApi(
  ctx: AppContext,
  o: {
    group: string;
    name: string;
    identifiers: string[];
    issuanceRules?: string | undefined;
    issuanceRulesFile?: string | undefined;
    authorizationRules?: string | undefined;
    authorizationRulesFile?: string | undefined;
    tokenLifetimeMinutes?: number | undefined;
    allowedClientTypes?: ('public' | 'confidential')[] | undefined;
    issueRefreshTokens: boolean;
    description?: string | undefined;
  },
): AppCliOutput {
  if (o.issuanceRules !== undefined && o.issuanceRulesFile !== undefined)
    throw new AppCliError('give --issuance-rules or --issuance-rules-file, not both', 2);
  if (o.authorizationRules !== undefined && o.authorizationRulesFile !== undefined)
    throw new AppCliError('give --authorization-rules or --authorization-rules-file, not both', 2);
  // As AD FS's -IssuanceTransformRulesFile: the file is read now and its text kept in the group file.
  const issuance =
    o.issuanceRulesFile === undefined
      ? o.issuanceRules === undefined
        ? undefined
        : { text: o.issuanceRules, source: '--issuance-rules' }
      : { text: readRulesFile(o.issuanceRulesFile), source: o.issuanceRulesFile };
  const authorization =
    o.authorizationRulesFile === undefined
      ? o.authorizationRules === undefined
        ? undefined
        : { text: o.authorizationRules, source: '--authorization-rules' }
      : { text: readRulesFile(o.authorizationRulesFile), source: o.authorizationRulesFile };
  if (issuance !== undefined) checkRules(issuance.text, issuance.source);
  if (authorization !== undefined) checkRules(authorization.text, authorization.source);
  const state = loadState(ctx.config);
  const f = findGroup(state, o.group);
  const group = clone(f.group);
  const api: WebApiConfig = {
    name: o.name,
    identifiers: o.identifiers,
    tokenLifetimeMinutes: o.tokenLifetimeMinutes ?? 60,
    allowedClientTypes: o.allowedClientTypes ?? ['public', 'confidential'],
    issueRefreshTokens: o.issueRefreshTokens,
    permissions: [],
    ...(issuance === undefined ? {} : { issuanceRules: issuance.text }),
    ...(authorization === undefined ? {} : { authorizationRules: authorization.text }),
    ...(o.description === undefined ? {} : { description: o.description }),
  };
  group.webApis.push(api);
  commit(state, [{ file: f.file, group }]);
  return {
    stdout:
      `added Web API "${o.name}" (${o.identifiers.join(', ')}) to "${groupIdentifier(group)}" → ${f.file}\n` +
      `  token lifetime ${api.tokenLifetimeMinutes} min; client types ${api.allowedClientTypes.join(', ') || 'none'}; refresh tokens ${api.issueRefreshTokens ? 'on' : 'off'}\n` +
      `  issuance rules: ${issuance === undefined ? 'none (the token carries no claims beyond the protocol ones)' : 'set'}; authorization: ${authorization === undefined ? 'permit everyone' : 'rules set'}\n` +
      `  no client may use it yet: fedgate app grant --group ${groupIdentifier(group)} --webapi ${o.identifiers[0] ?? ''} --client CLIENT_ID --scope openid\n`,
    stderr: '',
  };
}

function allClientIds(state: State): Set<string> {
  const out = new Set<string>();
  for (const { group } of [...state.files, ...state.inline])
    for (const c of [...group.nativeClients, ...group.serverApplications]) out.add(c.clientId);
  return out;
}

function findWebApi(group: ApplicationGroupConfig, identifier: string): WebApiConfig | undefined {
  const id = identifier.toLowerCase();
  return group.webApis.find((a) => a.identifiers.some((x) => x.toLowerCase() === id));
}

export function appGrant(
  ctx: AppContext,
  o: { group: string; webapi: string; client: string; scopes: string[] },
): AppCliOutput {
  if (o.scopes.length === 0) throw new AppCliError('grant needs at least one --scope', 2);
  const state = loadState(ctx.config);
  const f = findGroup(state, o.group);
  const group = clone(f.group);
  const api = findWebApi(group, o.webapi);
  if (api === undefined)
    throw new AppCliError(
      `group "${groupIdentifier(group)}" has no Web API with identifier ${o.webapi}`,
    );
  if (o.client !== '*' && !allClientIds(state).has(o.client))
    throw new AppCliError(
      `no client with client_id ${o.client} in any application group (add it first, or use --client '*' for every registered client)`,
    );
  const existing = api.permissions.find((p) => p.client === o.client);
  const before = existing?.scopes ?? [];
  const scopes = [...new Set([...before, ...o.scopes])];
  if (existing === undefined) api.permissions.push({ client: o.client, scopes });
  else existing.scopes = scopes;
  commit(state, [{ file: f.file, group }]);
  const custom = o.scopes.filter((s) => !(BUILT_IN_SCOPES as readonly string[]).includes(s));
  return {
    stdout: `granted ${o.client === '*' ? 'every registered client' : `client ${o.client}`} on ${api.identifiers[0] ?? o.webapi}: ${scopes.join(' ')}\n`,
    stderr:
      custom.length === 0
        ? ''
        : `note: ${custom.join(', ')} ${custom.length === 1 ? 'is not a built-in scope' : 'are not built-in scopes'}: it is passed to the Web API in the access token's scp claim\n`,
  };
}

function findServerApp(group: ApplicationGroupConfig, clientId: string): ServerApplicationConfig {
  const app = group.serverApplications.find((c) => c.clientId === clientId);
  if (app !== undefined) return app;
  if (group.nativeClients.some((c) => c.clientId === clientId))
    throw new AppCliError(
      `${clientId} is a native (public) client: it has no secret (add a server application for a confidential client)`,
    );
  throw new AppCliError(`group "${groupIdentifier(group)}" has no client ${clientId}`);
}

export function appResetSecret(
  ctx: AppContext,
  o: { group: string; clientId: string; keepOld: boolean },
): AppCliOutput {
  const state = loadState(ctx.config);
  const f = findGroup(state, o.group);
  const group = clone(f.group);
  const app = findServerApp(group, o.clientId);
  if (o.keepOld && app.clientSecrets.length >= 10)
    throw new AppCliError(
      `${o.clientId} already has ${app.clientSecrets.length} secrets (the most kept): reset without --keep-old`,
    );
  const secret = newSecret(ctx);
  const kept = o.keepOld ? app.clientSecrets.length : 0;
  app.clientSecrets = o.keepOld ? [...app.clientSecrets, secret.hash] : [secret.hash];
  commit(state, [{ file: f.file, group }]);
  return {
    stdout:
      `new client secret for ${o.clientId} in "${groupIdentifier(group)}" → ${f.file}\n` +
      (o.keepOld
        ? `  the ${kept} previous secret(s) still work until the next reset without --keep-old\n`
        : '  every previous secret stopped working\n') +
      secretLines(o.clientId, secret.secret),
    stderr: '',
  };
}

type AuthMethod = 'secret' | 'certificate' | 'jwks_uri' | 'none';

function authMethods(c: NativeClientConfig | ServerApplicationConfig): AuthMethod[] {
  if (!('clientSecrets' in c)) return ['none'];
  const out: AuthMethod[] = [];
  if (c.clientSecrets.length > 0) out.push('secret');
  if (c.jwtSigningCertificateFiles.length > 0) out.push('certificate');
  if (c.jwksUri !== undefined) out.push('jwks_uri');
  return out.length === 0 ? ['none'] : out;
}

interface ListedClient {
  kind: 'native' | 'server';
  name: string;
  clientId: string;
  redirectUris: string[];
  logoutUri?: string;
  authMethods: AuthMethod[];
  secrets?: number;
  passwordGrant: boolean;
}

interface ListedGroup {
  file: string;
  name: string;
  identifier: string;
  enabled: boolean;
  description?: string;
  clients: ListedClient[];
  webApis: {
    name: string;
    identifiers: string[];
    tokenLifetimeMinutes: number;
    allowedClientTypes: string[];
    issueRefreshTokens: boolean;
    issuanceRules: boolean;
    authorizationRules: boolean;
    permissions: { client: string; scopes: string[] }[];
  }[];
}

function listGroup(f: ApplicationGroupFile): ListedGroup {
  const g = f.group;
  const client = (c: NativeClientConfig | ServerApplicationConfig): ListedClient => ({
    kind: 'clientSecrets' in c ? 'server' : 'native',
    name: c.name,
    clientId: c.clientId,
    redirectUris: [...c.redirectUris],
    ...(c.logoutUri === undefined ? {} : { logoutUri: c.logoutUri }),
    authMethods: authMethods(c),
    // The number of secrets only: a hash is never printed.
    ...('clientSecrets' in c ? { secrets: c.clientSecrets.length } : {}),
    passwordGrant: c.allowPasswordGrant,
  });
  return {
    file: f.file,
    name: g.name,
    identifier: groupIdentifier(g),
    enabled: g.enabled,
    ...(g.description === undefined ? {} : { description: g.description }),
    clients: [...g.nativeClients.map(client), ...g.serverApplications.map(client)],
    webApis: g.webApis.map((a) => ({
      name: a.name,
      identifiers: [...a.identifiers],
      tokenLifetimeMinutes: a.tokenLifetimeMinutes,
      allowedClientTypes: [...a.allowedClientTypes],
      issueRefreshTokens: a.issueRefreshTokens,
      issuanceRules: a.issuanceRules !== undefined || a.issuanceRulesFile !== undefined,
      authorizationRules:
        a.authorizationRules !== undefined || a.authorizationRulesFile !== undefined,
      permissions: a.permissions.map((p) => ({ client: p.client, scopes: [...p.scopes] })),
    })),
  };
}

export function appList(ctx: AppContext, o: { json: boolean }): AppCliOutput {
  const state = loadState(ctx.config);
  const groups = [...state.files, ...state.inline].map(listGroup);
  if (o.json)
    return {
      stdout: `${JSON.stringify({ applicationsDir: state.dir, groups }, null, 2)}\n`,
      stderr: '',
    };
  const lines = [`application groups in ${state.dir}:`];
  if (groups.length === 0) lines.push('  (none: fedgate app add-group --name NAME)');
  for (const g of groups) {
    lines.push(
      `  ${g.identifier}  "${g.name}"${g.enabled ? '' : '  DISABLED'}  (${g.file === INLINE_SOURCE ? g.file : basename(g.file)})`,
    );
    for (const c of g.clients) {
      lines.push(
        `    ${c.kind === 'native' ? 'native client' : 'server app   '}  ${c.clientId}  "${c.name}"  auth ${c.authMethods.join('+')}${c.secrets !== undefined && c.secrets > 1 ? ` (${c.secrets} secrets)` : ''}  password grant ${c.passwordGrant ? 'on' : 'off'}`,
      );
      if (c.redirectUris.length > 0)
        lines.push(`      redirect URIs: ${c.redirectUris.join(', ')}`);
      if (c.logoutUri !== undefined) lines.push(`      logout URI: ${c.logoutUri}`);
    }
    for (const a of g.webApis) {
      lines.push(
        `    Web API        ${a.identifiers.join(', ')}  "${a.name}"  token ${a.tokenLifetimeMinutes} min  clients ${a.allowedClientTypes.join('+') || 'none'}  refresh tokens ${a.issueRefreshTokens ? 'on' : 'off'}`,
      );
      if (a.permissions.length === 0) lines.push('      permissions: none');
      for (const p of a.permissions)
        lines.push(
          `      permission: ${p.client === '*' ? '* (every registered client)' : p.client} → ${p.scopes.join(' ')}`,
        );
    }
  }
  return { stdout: `${lines.join('\n')}\n`, stderr: '' };
}

/** Drops permissions naming removed clients in every other group (a client_id registered again later must not
 * inherit them). Returns the changes and a line per group touched. */
function dropPermissions(
  state: State,
  clientIds: ReadonlySet<string>,
  skip: string,
): { changes: Change[]; lines: string[] } {
  const changes: Change[] = [];
  const lines: string[] = [];
  for (const f of state.files) {
    if (f.file === skip) continue;
    const g = clone(f.group);
    let dropped = 0;
    for (const a of g.webApis) {
      const keep = a.permissions.filter((p) => !clientIds.has(p.client));
      dropped += a.permissions.length - keep.length;
      a.permissions = keep;
    }
    if (dropped > 0) {
      changes.push({ file: f.file, group: g });
      lines.push(`  removed ${dropped} permission(s) in "${groupIdentifier(g)}" (${f.file})`);
    }
  }
  return { changes, lines };
}

export function appRemove(
  ctx: AppContext,
  o: { group: string; clientId?: string | undefined; webapi?: string | undefined },
): AppCliOutput {
  if (o.clientId !== undefined && o.webapi !== undefined)
    throw new AppCliError('remove takes --client-id or --webapi, not both', 2);
  const state = loadState(ctx.config);
  const f = findGroup(state, o.group);
  const group = clone(f.group);
  const id = groupIdentifier(group);
  if (o.clientId === undefined && o.webapi === undefined) {
    const removed = new Set(
      [...group.nativeClients, ...group.serverApplications].map((c) => c.clientId),
    );
    const other = dropPermissions(state, removed, f.file);
    commit(
      state,
      [{ file: f.file, group: null }, ...other.changes],
      [],
      [...ownedFiles(state.dir, group.serverApplications), ...ownedRuleFiles(state, group.webApis)],
    );
    return {
      stdout: `removed application group "${id}" (${f.file})\n${other.lines.map((l) => `${l}\n`).join('')}`,
      stderr: '',
    };
  }
  if (o.clientId !== undefined) {
    const clientId = o.clientId;
    const server = group.serverApplications.find((c) => c.clientId === clientId);
    const before = group.nativeClients.length + group.serverApplications.length;
    group.nativeClients = group.nativeClients.filter((c) => c.clientId !== clientId);
    group.serverApplications = group.serverApplications.filter((c) => c.clientId !== clientId);
    if (group.nativeClients.length + group.serverApplications.length === before)
      throw new AppCliError(`group "${id}" has no client ${clientId}`);
    let dropped = 0;
    for (const a of group.webApis) {
      const keep = a.permissions.filter((p) => p.client !== clientId);
      dropped += a.permissions.length - keep.length;
      a.permissions = keep;
    }
    const other = dropPermissions(state, new Set([clientId]), f.file);
    commit(
      state,
      [{ file: f.file, group }, ...other.changes],
      [],
      server === undefined ? [] : ownedFiles(state.dir, [server]),
    );
    return {
      stdout:
        `removed client ${clientId} from "${id}" (${f.file})\n` +
        (dropped > 0 ? `  removed ${dropped} permission(s) in "${id}"\n` : '') +
        other.lines.map((l) => `${l}\n`).join(''),
      stderr: '',
    };
  }
  const api = findWebApi(group, o.webapi ?? '');
  if (api === undefined)
    throw new AppCliError(`group "${id}" has no Web API with identifier ${o.webapi ?? ''}`);
  group.webApis = group.webApis.filter((a) => a !== api);
  commit(state, [{ file: f.file, group }], [], ownedRuleFiles(state, [api]));
  return {
    stdout: `removed Web API ${api.identifiers.join(', ')} from "${id}" (${f.file})\n`,
    stderr: '',
  };
}

// ---------------------------------------------------------------------------------------------------------------
// import: the ConvertTo-Json output of Get-AdfsApplicationGroup (and of Get-AdfsApplicationPermission).

/** Text of a PowerShell export (lib/powershell-text.ts); anything that is not UTF-8 or UTF-16 is refused. */
export function decodeExport(buf: Buffer, source: string): string {
  const text = decodePowerShellText(buf);
  if (text === undefined) throw new AppCliError(`${source}: neither UTF-8 nor UTF-16 text`);
  return text;
}

function readExport(path: string): unknown {
  let buf: Buffer;
  try {
    const size = statSync(path).size;
    if (size > MAX_IMPORT_BYTES)
      throw new AppCliError(
        `${path}: ${size} bytes: larger than the ${MAX_IMPORT_BYTES} bytes an AD FS export can be`,
      );
    buf = readFileSync(path);
  } catch (err) {
    if (err instanceof AppCliError) throw err;
    throw new AppCliError(
      `${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  const text = decodeExport(buf, path);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new AppCliError(`${path}: not JSON (ConvertTo-Json output): ${(err as Error).message}`);
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A property, matched as PowerShell does (case-insensitively). */
function prop(o: Json, name: string): unknown {
  if (Object.hasOwn(o, name)) return o[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === lower) return o[k];
  return undefined;
}

function has(o: Json, name: string): boolean {
  return Object.keys(o).some((k) => k.toLowerCase() === name.toLowerCase());
}

class ImportProblem extends Error {}

/** Rule text as AD FS prints it (CRLF line ends) stored with LF: same rules, same line numbers, readable YAML. */
function lf(s: string): string {
  return s.replace(/\r\n?/g, '\n');
}

function text(o: Json, name: string, where: string): string | undefined {
  const v = prop(o, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ImportProblem(`${where}: ${name} must be text`);
  return v;
}

function texts(o: Json, name: string, where: string): string[] {
  const v = prop(o, name);
  if (v === undefined || v === null) return [];
  // ConvertTo-Json writes a one-element array as an array, but hand-edited files sometimes hold a bare string.
  const arr = Array.isArray(v) ? v : [v];
  return arr.map((x, i) => {
    if (typeof x !== 'string') throw new ImportProblem(`${where}: ${name}[${i}] must be text`);
    return x;
  });
}

function bool(o: Json, name: string, where: string): boolean | undefined {
  const v = prop(o, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ImportProblem(`${where}: ${name} must be true or false`);
  return v;
}

/** A .NET Uri as ConvertTo-Json writes it: a string, or an object with AbsoluteUri / OriginalString. */
function uri(o: Json, name: string, where: string): string | undefined {
  const v = prop(o, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (isObject(v)) {
    const s = prop(v, 'AbsoluteUri') ?? prop(v, 'OriginalString');
    if (typeof s === 'string') return s;
  }
  throw new ImportProblem(`${where}: ${name} must be a URI`);
}

/**
 * An enum as text ("Public, Confidential"). ConvertTo-Json in Windows PowerShell 5.1 writes enums as numbers, whose
 * values Microsoft does not document: a number is refused rather than guessed (a wrong guess could let a client type
 * in that AD FS kept out).
 */
function enumText(o: Json, name: string, where: string): string[] | undefined {
  const v = prop(o, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number')
    throw new ImportProblem(
      `${where}: ${name} is the number ${v}: write it as text (e.g. "Public, Confidential"; PowerShell 7: ConvertTo-Json -EnumsAsStrings) — the numeric values are not documented`,
    );
  if (typeof v !== 'string') throw new ImportProblem(`${where}: ${name} must be text`);
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

type AppKind = 'native' | 'server' | 'webapi';

/**
 * ConvertTo-Json does not write the .NET type, so the kind is told from the properties only each kind has
 * (the OUTPUTS sections of Get-AdfsWebApiApplication / Get-AdfsServerApplication / Get-AdfsNativeClientApplication).
 */
function kindOf(a: Json): AppKind | undefined {
  if (
    [
      'IssuanceTransformRules',
      'AccessControlPolicyName',
      'AllowedClientTypes',
      'IssueOAuthRefreshTokensTo',
    ].some((k) => has(a, k))
  )
    return 'webapi';
  if (['ADUserPrincipalName', 'ClientSecret', 'JWKSUri', 'JWTSigningKeys'].some((k) => has(a, k)))
    return 'server';
  if (has(a, 'RedirectUri') || has(a, 'Identifier')) return 'native';
  return undefined;
}

/** AD FS 2016 access control policies fedgate can reproduce exactly (server/authn/mfa/presets.ts). */
const POLICIES: Record<string, { kind: 'everyone' } | { kind: 'extranet' } | null> = {
  'permit everyone': null,
  'permit everyone and require mfa': { kind: 'everyone' },
  'permit everyone and require mfa from extranet access': { kind: 'extranet' },
};

/** The rule AD FS's "deny" template issues: fedgate's authorization then refuses every user. */
const DENY_ALL_RULES =
  '@RuleName = "AD FS had no authorization for this Web API (fedgate app import)"\n=> issue(Type = "http://schemas.microsoft.com/authorization/claims/deny", Value = "DenyUsersWithClaim");\n';

interface ImportedGroup {
  file: string;
  group: ApplicationGroupConfig;
  /** Rule files (AdditionalAuthenticationRules) written beside the group. */
  extra: ExtraFile[];
  summary: string[];
  /** Merged into an existing group (applications exported on their own). */
  merged: boolean;
}

interface ImportContext {
  source: string;
  dir: string;
  baseDir: string;
  notes: string[];
}

function importWebApi(
  a: Json,
  where: string,
  groupId: string,
  ic: ImportContext,
  extra: ExtraFile[],
): WebApiConfig {
  const name = text(a, 'Name', where) ?? '';
  const identifiers = texts(a, 'Identifier', where);
  const w = `${where} (Web API "${name}")`;
  const api: Record<string, unknown> = { name, identifiers, permissions: [] };
  const description = text(a, 'Description', w);
  if (description !== undefined && description !== '') api.description = description;
  const transform = lf(text(a, 'IssuanceTransformRules', w) ?? '');
  if (transform.trim() !== '') {
    checkRules(transform, `${w} IssuanceTransformRules`);
    api.issuanceRules = transform;
  }
  const policy = text(a, 'AccessControlPolicyName', w);
  const authz = lf(text(a, 'IssuanceAuthorizationRules', w) ?? '');
  const mfa: Record<string, unknown> = {};
  if (policy !== undefined && policy !== '') {
    const key = policy.trim().toLowerCase();
    if (!(key in POLICIES))
      throw new ImportProblem(
        `${w}: access control policy "${policy}" has no fedgate equivalent: write it as IssuanceAuthorizationRules (and AdditionalAuthenticationRules), remove AccessControlPolicyName from the file, and import again`,
      );
    const preset = POLICIES[key];
    if (preset !== null && preset !== undefined) mfa.accessControlPolicies = [preset];
  }
  if (authz.trim() !== '') {
    checkRules(authz, `${w} IssuanceAuthorizationRules`);
    api.authorizationRules = authz;
  } else if (policy === undefined || policy === '') {
    // AD FS refuses everyone for a Web API with neither a policy nor authorization rules; fedgate's default is
    // permit-everyone, so the import says "deny" explicitly rather than opening it up.
    checkRules(DENY_ALL_RULES, 'deny rule');
    api.authorizationRules = DENY_ALL_RULES;
    ic.notes.push(
      `${w}: no access control policy and no authorization rules (AD FS refuses every user): imported with a deny-all authorization rule`,
    );
  }
  const additional = lf(text(a, 'AdditionalAuthenticationRules', w) ?? '');
  if (additional.trim() !== '') {
    checkRules(additional, `${w} AdditionalAuthenticationRules`);
    const file = join(ic.dir, `${slugPart(groupId)}.${slugPart(identifiers[0] ?? name)}.mfa.rules`);
    extra.push({ path: file, data: additional });
    // trustMfaSchema: the rules file is relative to the configuration file.
    mfa.additionalAuthenticationRulesFile = relative(ic.baseDir, file);
  }
  if (Object.keys(mfa).length > 0) api.mfa = mfa;
  const lifetime = prop(a, 'TokenLifetime');
  if (lifetime !== undefined && lifetime !== null && lifetime !== 0) {
    if (typeof lifetime !== 'number')
      throw new ImportProblem(`${w}: TokenLifetime must be a number`);
    api.tokenLifetimeMinutes = lifetime;
  }
  const types = enumText(a, 'AllowedClientTypes', w);
  if (types !== undefined) {
    const out: string[] = [];
    for (const t of types) {
      const l = t.toLowerCase();
      if (l === 'public' || l === 'confidential') out.push(l);
      else if (l !== 'none')
        throw new ImportProblem(
          `${w}: AllowedClientTypes "${t}" is not None, Public or Confidential`,
        );
    }
    api.allowedClientTypes = out;
  }
  const refresh = enumText(a, 'IssueOAuthRefreshTokensTo', w);
  if (refresh !== undefined) {
    const v = refresh.join(',').toLowerCase();
    if (v === 'nodevice') api.issueRefreshTokens = false;
    else if (v === 'alldevices' || v === 'workplacejoineddevices') {
      api.issueRefreshTokens = true;
      if (v === 'workplacejoineddevices')
        ic.notes.push(
          `${w}: IssueOAuthRefreshTokensTo WorkplaceJoinedDevices: fedgate has no device registration, so refresh tokens go to every device`,
        );
    } else
      throw new ImportProblem(
        `${w}: IssueOAuthRefreshTokensTo "${refresh.join(', ')}" is not NoDevice, WorkplaceJoinedDevices or AllDevices`,
      );
  }
  for (const k of ['DelegationAuthorizationRules', 'ImpersonationAuthorizationRules'])
    if ((text(a, k, w) ?? '').trim() !== '')
      ic.notes.push(`${w}: ${k} not imported (fedgate has no ActAs / impersonation delegation)`);
  if (bool(a, 'AlwaysRequireAuthentication', w) === true)
    ic.notes.push(`${w}: AlwaysRequireAuthentication not imported (sign-in sessions apply)`);
  if (texts(a, 'ClaimsProviderName', w).length > 0)
    ic.notes.push(`${w}: ClaimsProviderName not imported (fedgate has no claims provider trusts)`);
  return api as WebApiConfig;
}

function importClient(
  a: Json,
  where: string,
  kind: 'native' | 'server',
  groupId: string,
  ic: ImportContext,
): NativeClientConfig | ServerApplicationConfig {
  const name = text(a, 'Name', where) ?? '';
  const clientId = text(a, 'Identifier', where) ?? '';
  const w = `${where} (${kind === 'native' ? 'native client' : 'server application'} "${name}")`;
  const client: Record<string, unknown> = {
    name,
    clientId,
    redirectUris: texts(a, 'RedirectUri', w),
    allowPasswordGrant: false,
  };
  const description = text(a, 'Description', w);
  if (description !== undefined && description !== '') client.description = description;
  const logout = text(a, 'LogoutUri', w);
  if (logout !== undefined && logout !== '') client.logoutUri = logout;
  if (kind === 'server') {
    client.clientSecrets = [];
    client.jwtSigningCertificateFiles = [];
    const jwks = uri(a, 'JWKSUri', w);
    if (jwks !== undefined) client.jwksUri = jwks;
    const upn = text(a, 'ADUserPrincipalName', w);
    if (upn !== undefined && upn !== '')
      ic.notes.push(
        `${w}: authenticated as the AD account ${upn} (Windows integrated client authentication), which fedgate does not support: give it a secret (fedgate app reset-secret) or a certificate`,
      );
    const keys = prop(a, 'JWTSigningKeys');
    if (isObject(keys) ? Object.keys(keys).length > 0 : Array.isArray(keys) && keys.length > 0)
      ic.notes.push(
        `${w}: its JWT signing certificates are not in the export: export them from AD FS (or the client) and add them (docs/applications.md, private_key_jwt)`,
      );
    if (jwks === undefined)
      ic.notes.push(
        `${w}: AD FS client secrets cannot be exported: run fedgate app reset-secret --group '${groupId}' --client-id '${clientId}' and put the new secret in the application`,
      );
  }
  return client as unknown as NativeClientConfig;
}

function importApplications(
  apps: unknown[],
  where: string,
  groupId: string,
  ic: ImportContext,
  extra: ExtraFile[],
): { native: NativeClientConfig[]; server: ServerApplicationConfig[]; webApis: WebApiConfig[] } {
  const out = {
    native: [] as NativeClientConfig[],
    server: [] as ServerApplicationConfig[],
    webApis: [] as WebApiConfig[],
  };
  apps.forEach((a, i) => {
    const w = `${where} Applications[${i}]`;
    if (!isObject(a)) throw new ImportProblem(`${w}: not an application object`);
    const kind = kindOf(a);
    if (kind === undefined)
      throw new ImportProblem(
        `${w}: cannot tell a native client, server application or Web API apart (no Identifier)`,
      );
    if (kind === 'webapi') out.webApis.push(importWebApi(a, w, groupId, ic, extra));
    else if (kind === 'server')
      out.server.push(importClient(a, w, 'server', groupId, ic) as ServerApplicationConfig);
    else out.native.push(importClient(a, w, 'native', groupId, ic));
  });
  return out;
}

function issuesOf(group: unknown, where: string): ApplicationGroupConfig {
  const parsed = applicationGroupSchema.safeParse(group);
  if (!parsed.success)
    throw new ImportProblem(
      `${where}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

export function appImport(
  ctx: AppContext,
  o: { file: string; permissions?: string | undefined; dryRun: boolean },
): AppCliOutput {
  const state = loadState(ctx.config);
  const doc = readExport(o.file);
  const perms = o.permissions === undefined ? undefined : readExport(o.permissions);
  const ic: ImportContext = { source: o.file, dir: state.dir, baseDir: state.baseDir, notes: [] };
  const items = Array.isArray(doc) ? doc : [doc];
  if (items.length === 0) throw new AppCliError(`${o.file}: no application group in the file`);
  const imported: ImportedGroup[] = [];
  try {
    items.forEach((item, i) => {
      const where = `${o.file}: [${i}]`;
      if (!isObject(item)) throw new ImportProblem(`${where}: not an object`);
      if (has(item, 'Applications') || !has(item, 'Identifier')) {
        // Get-AdfsApplicationGroup: a group with its applications.
        const name = text(item, 'Name', where) ?? '';
        const identifier = text(item, 'ApplicationGroupIdentifier', where);
        const gid = identifier ?? name;
        const w = `${o.file}: group "${gid}"`;
        const extra: ExtraFile[] = [];
        const appsValue = prop(item, 'Applications');
        const apps =
          appsValue === undefined || appsValue === null
            ? []
            : Array.isArray(appsValue)
              ? appsValue
              : [appsValue];
        const parts = importApplications(apps, w, gid, ic, extra);
        const description = text(item, 'Description', w);
        const group = issuesOf(
          {
            name,
            ...(identifier === undefined || identifier === name ? {} : { identifier }),
            ...(description === undefined || description === '' ? {} : { description }),
            enabled: bool(item, 'Enabled', w) ?? true,
            nativeClients: parts.native,
            serverApplications: parts.server,
            webApis: parts.webApis,
          },
          w,
        );
        const file = groupFilePath(state.dir, group);
        const exists = [...state.files, ...state.inline].find(
          (f) => groupIdentifier(f.group).toLowerCase() === gid.toLowerCase(),
        );
        if (exists !== undefined)
          throw new ImportProblem(
            `${w}: already exists in ${exists.file} (remove it first: fedgate app remove --group ${gid})`,
          );
        if (state.files.some((f) => f.file === file) || imported.some((g) => g.file === file))
          throw new ImportProblem(`${w}: its file ${file} is already taken by another group`);
        imported.push({ file, group, extra, summary: [], merged: false });
      } else {
        // Get-Adfs*Application output on its own: the application joins its ApplicationGroupIdentifier's group.
        const gid = text(item, 'ApplicationGroupIdentifier', where);
        if (gid === undefined || gid === '')
          throw new ImportProblem(`${where}: an application without ApplicationGroupIdentifier`);
        let target = imported.find((g) => sameGroup(g.group, gid));
        if (target === undefined) {
          const existing = state.files.find((f) => sameGroup(f.group, gid));
          if (existing === undefined && state.inline.some((f) => sameGroup(f.group, gid)))
            throw new ImportProblem(
              `${where}: group "${gid}" is written in the configuration file: add the application there`,
            );
          target = {
            file: existing?.file ?? groupFilePath(state.dir, { name: gid }),
            group:
              existing === undefined
                ? issuesOf({ name: gid }, `${where}: group "${gid}"`)
                : clone(existing.group),
            extra: [],
            summary: [],
            merged: existing !== undefined,
          };
          imported.push(target);
        }
        const parts = importApplications(
          [item],
          `${o.file}: group "${gid}"`,
          gid,
          ic,
          target.extra,
        );
        target.group.nativeClients.push(...parts.native);
        target.group.serverApplications.push(...parts.server);
        target.group.webApis.push(...parts.webApis);
        target.group = issuesOf(target.group, `${o.file}: group "${gid}"`);
      }
    });
    if (perms !== undefined) applyPermissions(perms, o.permissions ?? '', imported, state, ic);
  } catch (err) {
    if (err instanceof ImportProblem) throw new AppCliError(err.message);
    throw err;
  }
  commit(
    state,
    imported.map((g) => ({
      file: g.file,
      group: g.group,
      header: g.merged
        ? undefined
        : `Application group "${groupIdentifier(g.group)}" (fedgate app import from ${basename(o.file)})`,
    })),
    imported.flatMap((g) => g.extra),
    [],
    o.dryRun,
  );
  const lines: string[] = [];
  for (const g of imported) {
    const grp = g.group;
    lines.push(
      `${o.dryRun ? 'would write' : g.merged ? 'updated' : 'imported'} "${groupIdentifier(grp)}" → ${g.file}: ${grp.nativeClients.length} native client(s), ${grp.serverApplications.length} server application(s), ${grp.webApis.length} Web API(s), ${grp.webApis.reduce((n, a) => n + a.permissions.length, 0)} permission(s)`,
    );
    for (const e of g.extra) lines.push(`  ${o.dryRun ? 'would write' : 'wrote'} ${e.path}`);
  }
  if (o.dryRun) lines.push('dry run: nothing was written');
  return {
    stdout: `${lines.join('\n')}\n`,
    stderr: ic.notes.map((n) => `note: ${n}\n`).join(''),
  };
}

/** Get-AdfsApplicationPermission output: ClientRoleIdentifier, ServerRoleIdentifier, ScopeNames. */
function applyPermissions(
  doc: unknown,
  source: string,
  imported: ImportedGroup[],
  state: State,
  ic: ImportContext,
): void {
  const items = Array.isArray(doc) ? doc : [doc];
  const known = allClientIds(state);
  for (const g of imported)
    for (const c of [...g.group.nativeClients, ...g.group.serverApplications])
      known.add(c.clientId);
  items.forEach((p, i) => {
    const w = `${source}: [${i}]`;
    if (!isObject(p)) throw new ImportProblem(`${w}: not a permission object`);
    const server = text(p, 'ServerRoleIdentifier', w);
    const client = text(p, 'ClientRoleIdentifier', w);
    const scopes = texts(p, 'ScopeNames', w);
    if (server === undefined || server === '')
      throw new ImportProblem(`${w}: no ServerRoleIdentifier`);
    const target = imported.map((g) => findWebApi(g.group, server)).find((a) => a !== undefined);
    if (target === undefined) {
      ic.notes.push(`${w}: permission on ${server} skipped: that Web API is not in this import`);
      return;
    }
    if (client === undefined || client === '') {
      // How AD FS prints -AllowAllRegisteredClients is not documented: not guessed (it would open the Web API).
      ic.notes.push(
        `${w}: permission on ${server} without ClientRoleIdentifier skipped: if it was -AllowAllRegisteredClients, run fedgate app grant --client '*'`,
      );
      return;
    }
    if (!known.has(client)) {
      ic.notes.push(
        `${w}: permission for client ${client} skipped: no such client in fedgate or in this import`,
      );
      return;
    }
    if (scopes.length === 0) {
      ic.notes.push(`${w}: permission for ${client} on ${server} has no ScopeNames: skipped`);
      return;
    }
    const existing = target.permissions.find((x) => x.client === client);
    if (existing === undefined) target.permissions.push({ client, scopes: [...new Set(scopes)] });
    else existing.scopes = [...new Set([...existing.scopes, ...scopes])];
  });
  for (const g of imported)
    g.group = issuesOf(g.group, `${source}: group "${groupIdentifier(g.group)}"`);
}

// ---------------------------------------------------------------------------------------------------------------
// Argument parsing (its own, so `fedgate app` options never collide with other command groups').

export const APP_USAGE = `  fedgate app add-group --name N [--identifier ID] [--description D]
  fedgate app add native --group G --name N --client-id ID --redirect-uri U [--redirect-uri U2 ...]
                 [--logout-uri U] [--allow-password-grant]
  fedgate app add server --group G --name N --client-id ID [--redirect-uri U ...] [--generate-client-secret]
                 [--jwt-signing-certificate FILE.pem ...] [--jwks-uri U] [--logout-uri U] [--allow-password-grant]
  fedgate app add webapi --group G --name N --identifier URI [--identifier URI2 ...]
                 [--issuance-rules-file F | --issuance-rules TEXT] [--authorization-rules-file F | --authorization-rules TEXT]
                 [--token-lifetime MIN] [--allowed-client-types public,confidential] [--no-refresh-tokens]
  fedgate app grant --group G --webapi IDENTIFIER --client CLIENT_ID|'*' --scope S [--scope S2 ...]
  fedgate app reset-secret --group G --client-id ID [--keep-old]
  fedgate app list [--json]
  fedgate app remove --group G [--client-id ID | --webapi IDENTIFIER]
  fedgate app import FILE.json [--permissions FILE.json] [--dry-run]
                 (every app command takes --config FILE; see docs/applications.md)`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  group: { type: 'string' },
  name: { type: 'string' },
  identifier: { type: 'string', multiple: true },
  description: { type: 'string' },
  'client-id': { type: 'string' },
  'redirect-uri': { type: 'string', multiple: true },
  'logout-uri': { type: 'string' },
  'allow-password-grant': { type: 'boolean' },
  'generate-client-secret': { type: 'boolean' },
  'jwt-signing-certificate': { type: 'string', multiple: true },
  'jwks-uri': { type: 'string' },
  'issuance-rules': { type: 'string' },
  'issuance-rules-file': { type: 'string' },
  'authorization-rules': { type: 'string' },
  'authorization-rules-file': { type: 'string' },
  'token-lifetime': { type: 'string' },
  'allowed-client-types': { type: 'string' },
  'no-refresh-tokens': { type: 'boolean' },
  webapi: { type: 'string' },
  client: { type: 'string' },
  scope: { type: 'string', multiple: true },
  'keep-old': { type: 'boolean' },
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  permissions: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionName = keyof typeof OPTIONS;

const ALLOWED: Record<string, readonly OptionName[]> = {
  'add-group': ['name', 'identifier', 'description'],
  'add native': [
    'group',
    'name',
    'client-id',
    'redirect-uri',
    'logout-uri',
    'allow-password-grant',
    'description',
  ],
  'add server': [
    'group',
    'name',
    'client-id',
    'redirect-uri',
    'logout-uri',
    'allow-password-grant',
    'generate-client-secret',
    'jwt-signing-certificate',
    'jwks-uri',
    'description',
  ],
  'add webapi': [
    'group',
    'name',
    'identifier',
    'issuance-rules',
    'issuance-rules-file',
    'authorization-rules',
    'authorization-rules-file',
    'token-lifetime',
    'allowed-client-types',
    'no-refresh-tokens',
    'description',
  ],
  grant: ['group', 'webapi', 'client', 'scope'],
  'reset-secret': ['group', 'client-id', 'keep-old'],
  list: ['json'],
  remove: ['group', 'client-id', 'webapi'],
  import: ['permissions', 'dry-run'],
};

/** True when argv is `[--config FILE] app …`: main.ts hands it to runAppCli. */
export function isAppCommand(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--config' || a === '-c') {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return a === 'app';
  }
  return false;
}

function usage(message: string): never {
  throw new AppCliError(message, 2);
}

function need(v: string | undefined, flag: string, cmd: string): string {
  if (v === undefined || v === '') usage(`app ${cmd} needs --${flag}`);
  return v;
}

/** Runs `fedgate app …` (argv as given to fedgate, `app` included). Never throws for a refusal. */
export function runAppCli(
  argv: readonly string[],
  deps: {
    loadConfig?: (file: string | undefined) => Config;
    randomBytes?: (n: number) => Buffer;
  } = {},
): { code: number; stdout: string; stderr: string } {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: OPTIONS,
    });
    const rest = positionals.slice(positionals.indexOf('app') + 1);
    const sub = rest[0];
    if (values.help === true || sub === 'help')
      return { code: 0, stdout: `Usage:\n${APP_USAGE}\n`, stderr: '' };
    if (sub === undefined) usage('app needs a subcommand');
    const key = sub === 'add' ? `add ${rest[1] ?? ''}` : sub;
    const allowed = ALLOWED[key];
    if (allowed === undefined)
      usage(
        sub === 'add'
          ? 'app add needs a kind: app add native|server|webapi'
          : `unknown app subcommand "${sub}"`,
      );
    const extraPositionals = rest.slice(sub === 'add' ? 2 : sub === 'import' ? 2 : 1);
    if (extraPositionals.length > 0)
      usage(`app ${key}: unexpected argument "${extraPositionals[0] ?? ''}"`);
    for (const [k, v] of Object.entries(values)) {
      if (k === 'config' || k === 'help' || (v as unknown) === undefined) continue;
      if (!allowed.includes(k as OptionName)) usage(`app ${key} does not take --${k}`);
    }
    const config = (deps.loadConfig ?? ((file) => loadConfig({ file })))(values.config);
    const ctx: AppContext = {
      config,
      ...(deps.randomBytes === undefined ? {} : { randomBytes: deps.randomBytes }),
    };
    let out: AppCliOutput;
    switch (key) {
      case 'add-group': {
        const ids = values.identifier ?? [];
        if (ids.length > 1) usage('app add-group takes one --identifier');
        out = appAddGroup(ctx, {
          name: need(values.name, 'name', key),
          identifier: ids[0],
          description: values.description,
        });
        break;
      }
      case 'add native':
      case 'add server': {
        const common: ClientOptions = {
          group: need(values.group, 'group', key),
          name: need(values.name, 'name', key),
          clientId: need(values['client-id'], 'client-id', key),
          redirectUris: values['redirect-uri'] ?? [],
          logoutUri: values['logout-uri'],
          allowPasswordGrant: values['allow-password-grant'] ?? false,
          description: values.description,
        };
        if (key === 'add native') {
          if (common.redirectUris.length === 0) usage('app add native needs --redirect-uri');
          out = appAddNative(ctx, common);
        } else
          out = appAddServer(ctx, {
            ...common,
            generateClientSecret: values['generate-client-secret'] ?? false,
            certificates: (values['jwt-signing-certificate'] ?? []).map((p) => resolve(p)),
            jwksUri: values['jwks-uri'],
          });
        break;
      }
      case 'add webapi': {
        const identifiers = values.identifier ?? [];
        if (identifiers.length === 0) usage('app add webapi needs --identifier');
        let lifetime: number | undefined;
        if (values['token-lifetime'] !== undefined) {
          if (!/^\d{1,5}$/.test(values['token-lifetime']))
            usage('--token-lifetime is a number of minutes');
          lifetime = Number(values['token-lifetime']);
        }
        let types: ('public' | 'confidential')[] | undefined;
        if (values['allowed-client-types'] !== undefined) {
          types = [];
          for (const t of values['allowed-client-types']
            .split(',')
            .map((s) => s.trim().toLowerCase())) {
            if (t === 'public' || t === 'confidential') {
              if (!types.includes(t)) types.push(t);
            } else if (t !== 'none')
              usage(`--allowed-client-types takes public, confidential or none, not "${t}"`);
          }
        }
        out = appAddWebApi(ctx, {
          group: need(values.group, 'group', key),
          name: need(values.name, 'name', key),
          identifiers,
          issuanceRules: values['issuance-rules'],
          issuanceRulesFile: values['issuance-rules-file'],
          authorizationRules: values['authorization-rules'],
          authorizationRulesFile: values['authorization-rules-file'],
          tokenLifetimeMinutes: lifetime,
          allowedClientTypes: types,
          issueRefreshTokens: values['no-refresh-tokens'] !== true,
          description: values.description,
        });
        break;
      }
      case 'grant':
        out = appGrant(ctx, {
          group: need(values.group, 'group', key),
          webapi: need(values.webapi, 'webapi', key),
          client: need(values.client, 'client', key),
          scopes: values.scope ?? usage('app grant needs --scope'),
        });
        break;
      case 'reset-secret':
        out = appResetSecret(ctx, {
          group: need(values.group, 'group', key),
          clientId: need(values['client-id'], 'client-id', key),
          keepOld: values['keep-old'] ?? false,
        });
        break;
      case 'list':
        out = appList(ctx, { json: values.json ?? false });
        break;
      case 'remove':
        out = appRemove(ctx, {
          group: need(values.group, 'group', key),
          clientId: values['client-id'],
          webapi: values.webapi,
        });
        break;
      default: {
        const file = rest[1];
        if (file === undefined) usage('app import needs a file: app import FILE.json');
        out = appImport(ctx, {
          file: resolve(file),
          permissions: values.permissions === undefined ? undefined : resolve(values.permissions),
          dryRun: values['dry-run'] ?? false,
        });
      }
    }
    return { code: 0, ...out };
  } catch (err) {
    if (err instanceof AppCliError)
      return {
        code: err.exitCode,
        stdout: '',
        stderr: `fedgate: ${err.message}\n${err.exitCode === 2 ? `\nUsage:\n${APP_USAGE}\n` : ''}`,
      };
    if (err instanceof ConfigError)
      return { code: 2, stdout: '', stderr: `fedgate: ${err.message}\n` };
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
      return {
        code: 2,
        stdout: '',
        stderr: `fedgate: ${(err as Error).message}\n\nUsage:\n${APP_USAGE}\n`,
      };
    return { code: 1, stdout: '', stderr: `fedgate: ${(err as Error).message}\n` };
  }
}

/** For docs and tests: where a config's application groups live. */
export function applicationsDirOf(config: Config): string {
  return applicationsDir(config);
}
