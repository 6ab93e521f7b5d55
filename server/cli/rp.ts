/**
 * `fedgate rp add --metadata FILE|URL [--name NAME]`, `fedgate rp list`, `fedgate rp remove ENTITYID`:
 * manage SAML 2.0 trust files in `saml2.trustsDir` (docs/configuration.md, "SAML 2.0 trust files"). A
 * running server picks changes up at its next refresh (`saml2.metadataRefreshMinutes`), no restart.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { Config } from '../config/schema.ts';
import { MICROSOFT_365_SAML } from '../trust/registry.ts';
import { parseSpMetadata, type SamlSpMetadata } from '../trust/saml-metadata.ts';
import {
  fetchMetadata,
  policyOf,
  readTrustFile,
  trustFileSchema,
  type FetchText,
} from '../trust/saml-trusts.ts';

export class RpError extends Error {
  override readonly name = 'RpError';
}

function trustsDir(config: Config): string {
  return resolve(config.baseDir, config.saml2.trustsDir);
}

/** A file name from an entity ID: host and path, lower case, [a-z0-9-] only. */
export function slug(entityId: string): string {
  const s = entityId
    .replace(/^[a-z]+:\/\//i, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80);
  return s === '' ? 'sp' : s;
}

interface TrustRow {
  file: string;
  entityId: string;
  name: string;
  metadata: string;
}

function rows(config: Config): TrustRow[] {
  const dir = trustsDir(config);
  if (!existsSync(dir)) return [];
  const out: TrustRow[] = [];
  for (const n of readdirSync(dir)
    .filter((x) => /\.ya?ml$/i.test(x))
    .sort()) {
    const file = join(dir, n);
    const t = readTrustFile(file);
    let entityId = '(metadata not readable offline)';
    if (!/^https?:\/\//i.test(t.metadata)) {
      let md: SamlSpMetadata | undefined;
      try {
        md = parseSpMetadata(readFileSync(resolve(dir, t.metadata), 'utf8'));
        entityId = md.entityId;
      } catch (e) {
        entityId = `(bad metadata: ${(e as Error).message})`;
      }
      try {
        // The policy checks the server runs at load (e.g. encryptAssertion without an encryption key).
        if (md !== undefined) policyOf(t, md);
      } catch (e) {
        entityId = `(bad trust: ${(e as Error).message})`;
      }
    }
    out.push({ file, entityId, name: t.name ?? entityId, metadata: t.metadata });
  }
  return out;
}

export async function rpAdd(
  config: Config,
  o: { metadata: string; name?: string | undefined; fetchText?: FetchText },
): Promise<string> {
  const isUrl = /^https?:\/\//i.test(o.metadata);
  if (/^http:\/\//i.test(o.metadata))
    throw new RpError(
      'plain http:// metadata needs a pinned certificate: add metadataCertificate to the trust file by hand',
    );
  const xml = isUrl
    ? await (o.fetchText ?? fetchMetadata)(o.metadata)
    : readFileSync(resolve(o.metadata), 'utf8');
  let md: SamlSpMetadata;
  try {
    md = parseSpMetadata(xml);
  } catch (e) {
    throw new RpError(`the metadata is not usable: ${(e as Error).message}`);
  }
  let encryption: string;
  try {
    // The same checks the server runs when it loads the trust (assertion encryption, issue 5 §2).
    const p = policyOf(trustFileSchema.parse({ metadata: o.metadata }), md);
    encryption =
      p.encryption === undefined
        ? 'none (the metadata has no encryption key)'
        : `${p.encryption.algorithm} to the metadata's encryption key`;
  } catch (e) {
    throw new RpError(`the metadata is not usable: ${(e as Error).message}`);
  }
  const existing = rows(config).find((r) => r.entityId === md.entityId);
  if (existing !== undefined)
    throw new RpError(`${md.entityId} is already configured in ${existing.file}`);
  const dir = trustsDir(config);
  mkdirSync(dir, { recursive: true });
  const name = slug(md.entityId);
  const trustFile = join(dir, `${name}.yaml`);
  if (existsSync(trustFile)) throw new RpError(`${trustFile} already exists`);
  let metadataRef = o.metadata;
  if (!isUrl) {
    metadataRef = `${name}.metadata.xml`;
    writeFileSync(join(dir, metadataRef), xml);
  }
  const trust: Record<string, unknown> = { name: o.name ?? md.entityId, metadata: metadataRef };
  if (md.entityId === MICROSOFT_365_SAML.metadata.entityId) {
    // Entra signs AuthnRequests with RSA-SHA1 (entra-protocol §2) and takes only the persistent NameID.
    trust.allowSha1 = true;
    trust.nameIdFormat = MICROSOFT_365_SAML.policy.nameIdFormat;
  }
  writeFileSync(
    trustFile,
    `# SAML 2.0 trust for ${md.entityId} (fedgate rp add)\n${stringify(trust)}`,
  );
  const acs = md.assertionConsumerServices.map((a) => a.location).join(', ');
  return (
    `added ${md.entityId} → ${trustFile}\n` +
    `  assertion consumer services: ${acs}\n` +
    `  signing certificates: ${md.signingCertificates.length}, AuthnRequestsSigned: ${md.authnRequestsSigned}\n` +
    `  assertion encryption: ${encryption}\n` +
    'A running server picks it up at its next metadata refresh.\n'
  );
}

export function rpList(config: Config): string {
  const lines = [`SAML 2.0 trusts in ${trustsDir(config)}:`];
  lines.push(`  ${MICROSOFT_365_SAML.metadata.entityId}  (built in: Microsoft 365)`);
  for (const r of rows(config))
    lines.push(`  ${r.entityId}  "${r.name}"  metadata ${r.metadata}  (${basename(r.file)})`);
  return `${lines.join('\n')}\n`;
}

export function rpRemove(config: Config, which: string): string {
  const hit = rows(config).find(
    (r) =>
      r.entityId === which || basename(r.file) === which || basename(r.file, '.yaml') === which,
  );
  if (hit === undefined) throw new RpError(`no SAML trust ${which} in ${trustsDir(config)}`);
  rmSync(hit.file);
  const own = join(trustsDir(config), `${basename(hit.file, '.yaml')}.metadata.xml`);
  if (resolve(trustsDir(config), hit.metadata) === own && existsSync(own)) rmSync(own);
  return `removed ${hit.entityId} (${hit.file})\n`;
}

/** Problems with the SAML trust files (for `fedgate check`): unreadable files, bad local metadata. */
export function checkSamlTrusts(config: Config): { problems: string[]; count: number } {
  const problems: string[] = [];
  let list: TrustRow[] = [];
  try {
    list = rows(config);
  } catch (e) {
    problems.push(`saml2.trustsDir: ${(e as Error).message}`);
  }
  for (const r of list)
    if (r.entityId.startsWith('(bad metadata') || r.entityId.startsWith('(bad trust'))
      problems.push(`${r.file}: ${r.entityId}`);
  return { problems, count: list.length };
}
