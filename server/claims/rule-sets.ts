/**
 * Rule sets per relying-party trust, as data: the shipped presets in metadata/ and rule files an administrator
 * gives (IssuanceTransformRules / IssuanceAuthorizationRules text from Get-AdfsRelyingPartyTrust, pasted as is).
 * Everything is parsed and checked once, at startup: a rule that cannot run stops the server with
 * `file:line:column: rule N "name": problem` instead of failing sign-ins later.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../lib/paths.ts';
import { checkAdQuery, ACTIVE_DIRECTORY_STORE } from './ad-store.ts';
import { findByName, type StoreChecker } from './attribute-store.ts';
import { PASSWORD_EXPIRY_STORE, PasswordExpiryStore } from './password-expiry-store.ts';
import type { RuleSet } from './rule-ast.ts';
import { parseRules, RuleError } from './rule-parser.ts';

export interface RelyingPartyRules {
  /** Issuance transform rules: input claims → the token's claims. */
  issuance: RuleSet;
  /** Issuance authorization rules: access needs a permit claim and no deny claim. */
  authorization: RuleSet;
}

const STORE_CHECKERS: { name: string; check: StoreChecker }[] = [
  { name: ACTIVE_DIRECTORY_STORE, check: checkAdQuery },
  {
    name: PASSWORD_EXPIRY_STORE,
    check: (q, n) => new PasswordExpiryStore({ clock: { now: () => new Date() } }).check(q, n),
  },
];

/** Checks every attribute-store issuance against the stores fedgate has (name, query shape, column count). */
export function checkStores(ruleSet: RuleSet): void {
  for (const rule of ruleSet.rules) {
    if (rule.issuance.kind !== 'store') continue;
    const s = rule.issuance.store;
    const checker = findByName(STORE_CHECKERS, s.store);
    if (checker === undefined) {
      throw new RuleError(
        ruleSet.source,
        s.pos,
        rule,
        `unknown attribute store "${s.store}" (fedgate has ${STORE_CHECKERS.map((c) => `"${c.name}"`).join(' and ')})`,
      );
    }
    if (s.query?.kind !== 'literal') continue; // built at run time: checked when it runs
    let columns: number;
    try {
      columns = checker.check(s.query.value, s.params.length);
    } catch (err) {
      throw new RuleError(ruleSet.source, s.query.pos, rule, `query: ${(err as Error).message}`);
    }
    if (columns !== s.types.length) {
      throw new RuleError(
        ruleSet.source,
        s.query.pos,
        rule,
        `the query returns ${columns} attribute(s) but types = (…) lists ${s.types.length} claim type(s); they pair up by position`,
      );
    }
  }
}

/** Parses and checks rule text. */
export function compileRules(text: string, source: string): RuleSet {
  const ruleSet = parseRules(text, source);
  checkStores(ruleSet);
  return ruleSet;
}

/** Reads and compiles a rule file; an unreadable file is an Error naming it. */
export function loadRulesFile(path: string): RuleSet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(
      `${path}: cannot read the rule file (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      { cause: err },
    );
  }
  return compileRules(text, path);
}

/** The shipped rule files (metadata/ in the package). */
export function presetPath(name: string): string {
  return join(packageRoot(), 'metadata', name);
}

const ACCOUNT_TYPE_RULE = 'Issue AccountType with the value USER when it is not a computer account';

/**
 * The per-domain `issuerid` rules Entra Connect adds for several federated domains (entra-protocol.md §4.3, §6):
 * the token Issuer becomes `http://{domain}/adfs/services/trust/` for the federated domain the UPN belongs to.
 * The list regex is Entra Connect's, with one addition: an optional `sub.` prefix so users of a subdomain get
 * their root domain's issuer (Entra matches subdomains to the root's IssuerUri, §4.3). The UPN test in the
 * condition keeps a UPN outside the list from becoming the Issuer (regexreplace would return it unchanged); such
 * a user keeps the configured issuerUri.
 */
export function issuerIdRules(federatedDomains: readonly string[]): string {
  const list = federatedDomains.map((d) => d.toLowerCase().replace(/\./g, '\\.')).join('|');
  const pattern = `(?i)(^([^@]+)@)(?:[^@]*\\.)?(?<domain>(${list}))$`;
  const first = federatedDomains[0]?.toLowerCase() ?? '';
  return [
    '@RuleName = "Issue issuerid when it is not a computer account"',
    `c1:[Type == "http://schemas.xmlsoap.org/claims/UPN", Value =~ "${pattern}"] && c2:[Type == "http://schemas.microsoft.com/ws/2012/01/accounttype", Value == "User"]`,
    ` => issue(Type = "http://schemas.microsoft.com/ws/2008/06/identity/claims/issuerid", Value = regexreplace(c1.Value, "${pattern}", "http://\${domain}/adfs/services/trust/"));`,
    '',
    '@RuleName = "Issue issuerid for DJ computer auth"',
    'c1:[Type == "http://schemas.microsoft.com/ws/2012/01/accounttype", Value == "DJ"]',
    ` => issue(Type = "http://schemas.microsoft.com/ws/2008/06/identity/claims/issuerid", Value = "http://${first}/adfs/services/trust/");`,
    '',
  ].join('\n');
}

/**
 * The Issuer tokens carry for users of `domain` (or a subdomain of it) when it is federated, as the issuerid rules
 * compute it: `http://{root}/adfs/services/trust/` for the shortest configured domain it equals or ends with.
 * undefined when `domain` is not under a configured federated domain.
 */
export function federatedIssuer(
  federatedDomains: readonly string[],
  domain: string,
): string | undefined {
  const d = domain.toLowerCase();
  const root = federatedDomains
    .map((r) => r.toLowerCase())
    .filter((r) => d === r || d.endsWith(`.${r}`))
    .sort((a, b) => a.length - b.length)[0];
  return root === undefined ? undefined : `http://${root}/adfs/services/trust/`;
}

/** A federated domain name as configuration accepts it. */
export const DOMAIN_NAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

export interface Microsoft365Options {
  /** Domains federated with this server; empty = no issuerid (the token Issuer is the configured issuerUri). */
  federatedDomains: readonly string[];
  /** Replace the shipped rules (absolute paths). */
  issuanceRulesFile?: string | undefined;
  authorizationRulesFile?: string | undefined;
}

/**
 * The "Microsoft Office 365 Identity Platform" trust's rules: Entra Connect's issuance rules as a real AD FS farm
 * prints them (metadata/microsoft365.rules), with the issuerid rules for the configured federated domains spliced
 * in where Entra Connect puts them, and the permit-all authorization rule.
 */
export function microsoft365Rules(opts: Microsoft365Options): RelyingPartyRules {
  const authorization = loadRulesFile(
    opts.authorizationRulesFile ?? presetPath('microsoft365.authorization.rules'),
  );
  if (opts.issuanceRulesFile !== undefined)
    return { issuance: loadRulesFile(opts.issuanceRulesFile), authorization };
  const path = presetPath('microsoft365.rules');
  const base = loadRulesFile(path);
  if (opts.federatedDomains.length === 0) return { issuance: base, authorization };
  for (const d of opts.federatedDomains)
    if (!DOMAIN_NAME_RE.test(d)) throw new Error(`federated domain "${d}" is not a domain name`);
  const text = readFileSync(path, 'utf8');
  const anchor = base.rules.find((r) => r.name === ACCOUNT_TYPE_RULE);
  const at = anchor === undefined ? text.length : anchor.pos.offset + anchor.text.length;
  const spliced = `${text.slice(0, at)}\n\n${issuerIdRules(opts.federatedDomains)}${text.slice(at)}`;
  return {
    issuance: compileRules(
      spliced,
      `${path} (with issuerid rules for ${opts.federatedDomains.join(', ')})`,
    ),
    authorization,
  };
}

/** Rules for other relying parties: AD FS's "Send LDAP Attributes as Claims" set, or the given files. */
export function genericRules(
  files: {
    issuanceRulesFile?: string | undefined;
    authorizationRulesFile?: string | undefined;
  } = {},
): RelyingPartyRules {
  return {
    issuance: loadRulesFile(files.issuanceRulesFile ?? presetPath('generic.rules')),
    authorization: loadRulesFile(
      files.authorizationRulesFile ?? presetPath('generic.authorization.rules'),
    ),
  };
}

/** A path from configuration, relative to the configuration file's folder. */
export function configPath(baseDir: string, path: string | undefined): string | undefined {
  return path === undefined ? undefined : resolve(baseDir, path);
}

/**
 * The Active Directory claims provider trust's acceptance transform rules (config claimsProvider), compiled; undefined
 * when none are configured (every claim passes through, what AD FS's default rules for that trust do).
 */
export function acceptanceRules(config: {
  baseDir: string;
  claimsProvider?: { acceptanceRulesFile?: string | undefined } | undefined;
}): RuleSet | undefined {
  const file = configPath(config.baseDir, config.claimsProvider?.acceptanceRulesFile);
  return file === undefined ? undefined : loadRulesFile(file);
}
