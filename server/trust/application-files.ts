/**
 * Application group files (issue 19): one YAML file per AD FS-style application group (New-AdfsApplicationGroup with
 * its native clients, server applications and Web APIs) in `oauth.applicationsDir`, named by a slug of the group's
 * identifier. `fedgate app` writes them; the server reads them with readApplicationGroups.
 *
 * - Every file is checked with applicationGroupSchema; a file that does not parse is refused as `file: path: message`
 *   (never skipped: a group silently missing would look like a client that "stopped working").
 * - client_id and Web API identifiers are unique across every file (AD FS keeps one namespace per farm); a duplicate
 *   names both files, so the server never has to guess which registration a client_id means.
 * - Writes are atomic (temporary file in the same folder, then rename): a reader (a server reloading, another node on
 *   a shared folder) sees the old file or the new one, never half of one.
 */
import { X509Certificate, randomBytes, type KeyObject } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import type { z } from 'zod';
import { compileRules, loadRulesFile } from '../claims/rule-sets.ts';
import { applicationGroupSchema, type ApplicationGroupConfig } from '../config/schema.ts';

/** A group file is a few KB; even 1000 clients with rules inline stay far below this. */
export const MAX_GROUP_FILE_BYTES = 4 * 1024 * 1024;

export class ApplicationFileError extends Error {
  override readonly name = 'ApplicationFileError';
}

/** One group and the file it came from. */
export interface ApplicationGroupFile {
  file: string;
  group: ApplicationGroupConfig;
}

/** The group's identifier (AD FS -ApplicationGroupIdentifier defaults to the name). */
export function groupIdentifier(g: Pick<ApplicationGroupConfig, 'name' | 'identifier'>): string {
  return g.identifier ?? g.name;
}

/** A file name from a group identifier: lower case, [a-z0-9-] only, at most 80 characters. */
export function groupSlug(identifier: string): string {
  const s = identifier
    .replace(/^[a-z]+:\/\//i, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80)
    .replace(/-+$/, '');
  return s === '' ? 'group' : s;
}

/** The file a group is written to in `dir`. */
export function groupFilePath(
  dir: string,
  g: Pick<ApplicationGroupConfig, 'name' | 'identifier'>,
): string {
  return join(dir, `${groupSlug(groupIdentifier(g))}.yaml`);
}

function formatIssues(err: z.ZodError): string {
  return err.issues
    .map((i) => `${i.path.length === 0 ? '(root)' : i.path.map(String).join('.')}: ${i.message}`)
    .join('; ');
}

/** Parses and checks one group document; problems are `source: path: message`. */
export function parseApplicationGroup(text: string, source: string): ApplicationGroupConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw new ApplicationFileError(
      `${source}: (yaml): ${(err as Error).message.split('\n')[0] ?? 'parse error'}`,
      { cause: err },
    );
  }
  const parsed = applicationGroupSchema.safeParse(doc);
  if (!parsed.success) throw new ApplicationFileError(`${source}: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

/** Reads and checks one group file. */
export function readApplicationGroupFile(file: string): ApplicationGroupConfig {
  let text: string;
  try {
    if (statSync(file).size > MAX_GROUP_FILE_BYTES)
      throw new ApplicationFileError(`${file}: (file): larger than ${MAX_GROUP_FILE_BYTES} bytes`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ApplicationFileError) throw err;
    throw new ApplicationFileError(
      `${file}: (file): cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      { cause: err },
    );
  }
  return parseApplicationGroup(text, file);
}

/** The group files in `dir` (*.yaml, *.yml; sorted), none when the folder does not exist. */
export function groupFileNames(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => /\.ya?ml$/i.test(n) && !n.startsWith('.'))
    .sort()
    .map((n) => join(dir, n));
}

/** Who uses a client_id, Web API identifier or group identifier. */
export interface RegistrationOwner {
  file: string;
  group: string;
}

/** Where every client_id, Web API identifier and group identifier is registered (first owner wins). */
export interface RegistrationIndex {
  clientIds: Map<string, RegistrationOwner>;
  webApiIdentifiers: Map<string, RegistrationOwner>;
  groups: Map<string, RegistrationOwner>;
}

/**
 * Indexes groups and refuses duplicates: a client_id (native or server) or Web API identifier used twice anywhere,
 * or two groups with one identifier. Client ids compare exactly (OAuth 2.0 client_id is case-sensitive, RFC 6749
 * §2.2); Web API identifiers and group identifiers compare case-insensitively, as AD FS does for identifiers.
 */
export function indexRegistrations(files: readonly ApplicationGroupFile[]): RegistrationIndex {
  const index: RegistrationIndex = {
    clientIds: new Map(),
    webApiIdentifiers: new Map(),
    groups: new Map(),
  };
  const claim = (
    map: Map<string, RegistrationOwner>,
    key: string,
    owner: RegistrationOwner,
    what: string,
  ): void => {
    const prev = map.get(key);
    if (prev !== undefined)
      throw new ApplicationFileError(
        `${owner.file}: ${what} is already used by group "${prev.group}" in ${prev.file}`,
      );
    map.set(key, owner);
  };
  for (const { file, group } of files) {
    const owner = { file, group: groupIdentifier(group) };
    claim(index.groups, owner.group.toLowerCase(), owner, `group identifier "${owner.group}"`);
    for (const c of [...group.nativeClients, ...group.serverApplications])
      claim(index.clientIds, c.clientId, owner, `client_id "${c.clientId}"`);
    for (const api of group.webApis)
      for (const id of api.identifiers)
        claim(index.webApiIdentifiers, id.toLowerCase(), owner, `Web API identifier "${id}"`);
  }
  return index;
}

/** Reads every group file in `dir` with its path; any broken file or duplicate is an error naming the file. */
export function readApplicationGroupFiles(dir: string): ApplicationGroupFile[] {
  const out = groupFileNames(dir).map((file) => ({ file, group: readApplicationGroupFile(file) }));
  indexRegistrations(out);
  return out;
}

/**
 * The application groups in `dir` (oauth.applicationsDir, resolved against the config file's folder), for the
 * server. Throws ApplicationFileError naming the file on any problem; a missing folder is no groups.
 */
export function readApplicationGroups(dir: string): ApplicationGroupConfig[] {
  return readApplicationGroupFiles(dir).map((f) => f.group);
}

/** Writes `data` to `file` atomically: a temporary file in the same folder, fsync, rename. */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o640): void {
  const dir = join(file, '..');
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The YAML text of a group, checked against the schema first (nothing that would not load is ever written). */
export function renderApplicationGroup(group: unknown, header?: string): string {
  const parsed = applicationGroupSchema.safeParse(group);
  if (!parsed.success)
    throw new ApplicationFileError(`(application group): ${formatIssues(parsed.error)}`);
  const head = header === undefined ? '' : `${header.replace(/^/gm, '# ')}\n`;
  return `${head}${stringify(parsed.data, { lineWidth: 0 })}`;
}

/** Writes a group to `file` atomically, after checking it with the schema. */
export function writeApplicationGroupFile(file: string, group: unknown, header?: string): void {
  writeFileAtomic(file, renderApplicationGroup(group, header));
}

/** A PEM certificate is a few KB. */
export const MAX_CERT_BYTES = 64 * 1024;

/** A client's private_key_jwt certificate (serverApplicationSchema.jwtSigningCertificateFiles). */
export interface ClientCertificate {
  /** The certificate alone, as PEM. */
  pem: string;
  /** SHA-256 of the DER, lower-case hex. */
  fingerprint: string;
  publicKey: KeyObject;
  /** `RSA 2048, subject CN=…, expires …`, for the admin's eyes. */
  description: string;
}

/**
 * Checks a -JWTSigningCertificate PEM: exactly one certificate whose key is RSA ≥ 2048 bits or EC P-256 (the keys RS256
 * and ES256 client assertions use, RFC 7523 §3; RFC 9700 §2.4 asks for no weaker ones). Text holding a private key is
 * refused: the client's key never belongs on the federation server. Validity dates are not checked here.
 */
export function parseClientCertificate(text: string, source: string): ClientCertificate {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text))
    throw new ApplicationFileError(
      `${source}: holds a private key: give the certificate only (the client keeps its key)`,
    );
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1)
    throw new ApplicationFileError(
      `${source}: must hold exactly one PEM certificate (-----BEGIN CERTIFICATE-----), found ${blocks.length}`,
    );
  const pem = `${blocks.join('')}\n`;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new ApplicationFileError(
      `${source}: not a readable certificate: ${(err as Error).message}`,
    );
  }
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  let kind: string;
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048)
      throw new ApplicationFileError(
        `${source}: RSA key of ${bits} bits: at least 2048 are needed`,
      );
    kind = `RSA ${bits}`;
  } else if (key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') {
    kind = 'EC P-256';
  } else {
    throw new ApplicationFileError(
      `${source}: the key is ${key.asymmetricKeyType ?? 'unknown'}${details.namedCurve === undefined ? '' : ` ${details.namedCurve}`}: only RSA (2048 bits or more) and EC P-256 sign client assertions`,
    );
  }
  return {
    pem,
    fingerprint: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
    publicKey: key,
    description: `${kind}, subject ${cert.subject.replace(/\n/g, ', ')}, expires ${cert.validTo}`,
  };
}

/** Reads and checks a client certificate file (at most MAX_CERT_BYTES). */
export function readClientCertificateFile(path: string): ClientCertificate {
  let text: string;
  try {
    if (statSync(path).size > MAX_CERT_BYTES)
      throw new ApplicationFileError(
        `${path}: larger than ${MAX_CERT_BYTES} bytes: not a PEM certificate`,
      );
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof ApplicationFileError) throw err;
    throw new ApplicationFileError(
      `${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      { cause: err },
    );
  }
  return parseClientCertificate(text, path);
}

/**
 * Everything the server will load from the applications folder, checked the way it loads it, for `fedgate check`:
 * every group file (schema, uniqueness), every Web API's claim rules (text, or files relative to the group file;
 * AdditionalAuthenticationRules files relative to the configuration folder, as trustMfaSchema says) compiled with the
 * server's parser, and every client certificate file (relative to the group file). All problems are reported, each
 * naming its file.
 */
export function checkApplicationGroups(
  dir: string,
  baseDir: string,
): { groups: number; problems: string[] } {
  let files: ApplicationGroupFile[];
  try {
    files = readApplicationGroupFiles(dir);
  } catch (err) {
    return { groups: 0, problems: [(err as Error).message] };
  }
  const problems: string[] = [];
  const attempt = (f: () => unknown): void => {
    try {
      f();
    } catch (err) {
      problems.push((err as Error).message);
    }
  };
  for (const { file, group } of files) {
    const here = dirname(file);
    group.webApis.forEach((api, i) => {
      const at = `${file}: webApis.${i}`;
      if (api.issuanceRules !== undefined)
        attempt(() => compileRules(api.issuanceRules ?? '', `${at}.issuanceRules`));
      if (api.issuanceRulesFile !== undefined)
        attempt(() => loadRulesFile(resolve(here, api.issuanceRulesFile ?? '')));
      if (api.authorizationRules !== undefined)
        attempt(() => compileRules(api.authorizationRules ?? '', `${at}.authorizationRules`));
      if (api.authorizationRulesFile !== undefined)
        attempt(() => loadRulesFile(resolve(here, api.authorizationRulesFile ?? '')));
      const mfa = api.mfa?.additionalAuthenticationRulesFile;
      if (mfa !== undefined) attempt(() => loadRulesFile(resolve(baseDir, mfa)));
    });
    group.serverApplications.forEach((c, i) => {
      for (const f of c.jwtSigningCertificateFiles)
        attempt(() => {
          try {
            readClientCertificateFile(resolve(here, f));
          } catch (err) {
            throw new ApplicationFileError(
              `${file}: serverApplications.${i}.jwtSigningCertificateFiles: ${(err as Error).message}`,
            );
          }
        });
    });
  }
  return { groups: files.length, problems };
}
