/**
 * The MFA policy of every trust, compiled from configuration (issue 16 "When MFA is required"): the global
 * AdditionalAuthenticationRules and presets (mfa.additionalAuthenticationRulesFile, mfa.accessControlPolicies, as
 * Set-AdfsAdditionalAuthenticationRule) plus the trust's own (relyingParties[].mfa, microsoft365.mfa, a SAML trust
 * file's `mfa`; compiled into RelyingParty.mfa by trust/registry.ts and trust/saml-trusts.ts). AD FS evaluates the
 * global and the trust's sets separately and either firing requires MFA (adfs-reference.md §2 [PS]); setsFor gives
 * policy.ts decideMfa exactly those sets.
 *
 * Group presets name a group by SID or by name. Names are resolved to SIDs against the directory once, when the
 * policy is built (as the AD FS console stores the SID of the group the admin picks): an unknown or ambiguous name
 * stops startup. A SAML trust file loaded or changed later may name a group not seen at start: until its name is
 * resolved (in the background, at once), that preset requires MFA of everyone on the trust. Failing closed is the
 * only safe reading of "require MFA for a group we cannot identify yet"; `fedgate check` reports such names.
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { compileRules, configPath, loadRulesFile } from '../../claims/rule-sets.ts';
import type { RuleSet } from '../../claims/rule-ast.ts';
import type { Config, MfaPresetConfig, TrustMfaConfig } from '../../config/schema.ts';
import type { DirectoryProvider } from '../../directory/types.ts';
import { FederationError } from '../../lib/errors.ts';
import type { RelyingParty, TrustMfa, TrustRegistry } from '../../trust/registry.ts';
import { readTrustFile } from '../../trust/saml-trusts.ts';
import type { MfaRuleSets } from './policy.ts';
import {
  compilePreset,
  isSid,
  MFA_CLAIM_TYPE,
  MULTIPLE_AUTHN,
  PRESET_TITLES,
  resolveGroup,
  type CompiledPreset,
  type MfaPreset,
} from './presets.ts';

/** What the MFA policy reads of the configuration. */
export type MfaPolicyConfig = Pick<Config, 'baseDir' | 'mfa' | 'directory'> &
  Partial<Pick<Config, 'relyingParties' | 'microsoft365' | 'saml2'>>;

interface Resolved {
  groupSid: string;
  groupName?: string | undefined;
}

/**
 * A group preset whose name is not resolved (yet): the `everyone` rule under the group preset's title, so the
 * audit line says which preset and why (policy.ts MfaReason preset).
 */
function unresolvedGroup(name: string): CompiledPreset {
  const label = name
    // eslint-disable-next-line no-control-regex -- the name goes into a quoted rule name: drop what could end it
    .replace(/["\\\u0000-\u001f\u2028\u2029]/g, '')
    .slice(0, 200);
  const text = `@RuleName = "${PRESET_TITLES.group}: ${label} (group not resolved: MFA for everyone)"\n=> issue(Type = "${MFA_CLAIM_TYPE}", Value = "${MULTIPLE_AUTHN}");\n`;
  return {
    preset: { kind: 'group', groupSid: '', groupName: label },
    text,
    rules: compileRules(text, 'preset:group'),
  };
}

export class MfaPolicies {
  readonly #directory: DirectoryProvider;
  readonly #netbios: string;
  readonly #log: Logger | undefined;
  readonly #global: RuleSet | undefined;
  readonly #globalPresets: readonly MfaPresetConfig[];
  readonly #registry: TrustRegistry | undefined;
  /** Group name (upper-case) → its SID, resolved against the directory. */
  readonly #groups = new Map<string, Resolved>();
  /** Names being resolved in the background (one look-up per name at a time). */
  readonly #pending = new Map<string, Promise<void>>();
  /** Compiled presets per preset list (the lists are frozen configuration objects). */
  readonly #compiled = new WeakMap<readonly MfaPresetConfig[], readonly CompiledPreset[]>();

  private constructor(o: {
    directory: DirectoryProvider;
    netbios: string;
    log?: Logger | undefined;
    global: RuleSet | undefined;
    globalPresets: readonly MfaPresetConfig[];
    registry?: TrustRegistry | undefined;
  }) {
    this.#directory = o.directory;
    this.#netbios = o.netbios;
    this.#log = o.log;
    this.#global = o.global;
    this.#globalPresets = o.globalPresets;
    this.#registry = o.registry;
  }

  /**
   * Compiles the global rule file (RuleError with file:line:column when it does not parse) and resolves every
   * group name of the global presets and of the trusts in `trusts` (build it after the SAML trust files are loaded
   * so theirs are resolved too). An unknown or ambiguous group name throws: startup stops. A directory outage
   * does not stop startup: the name stays unresolved (MFA for everyone on that policy) and is tried again when a
   * sign-in needs it.
   */
  static async build(
    config: MfaPolicyConfig,
    directory: DirectoryProvider,
    o: { trusts?: TrustRegistry | undefined; log?: Logger | undefined } = {},
  ): Promise<MfaPolicies> {
    const file = configPath(config.baseDir, config.mfa.additionalAuthenticationRulesFile);
    const p = new MfaPolicies({
      directory,
      netbios: config.directory.netbiosDomain,
      log: o.log,
      global: file === undefined ? undefined : loadRulesFile(file),
      globalPresets: Object.freeze([...config.mfa.accessControlPolicies]),
      registry: o.trusts,
    });
    const lists = [p.#globalPresets, ...(o.trusts?.parties ?? []).map((rp) => rp.mfa?.presets)];
    for (const list of lists)
      for (const preset of list ?? []) {
        if (preset.kind !== 'group' || isSid(preset.group.trim())) continue;
        try {
          await p.#resolve(preset.group);
        } catch (err) {
          if (!(err instanceof FederationError)) throw err;
          o.log?.warn(
            { group: preset.group.slice(0, 100), code: err.code },
            'MFA group preset: the directory could not be asked; MFA is required of everyone until it is resolved',
          );
        }
      }
    return p;
  }

  /** Whether any MFA policy is configured (global, or on any trust the registry holds now). */
  get configured(): boolean {
    return (
      this.#global !== undefined ||
      this.#globalPresets.length > 0 ||
      (this.#registry?.parties.some((rp) => rp.mfa !== undefined) ?? false)
    );
  }

  /**
   * The rule sets that can require MFA for this trust: the global rules, the trust's rules, and the global and the
   * trust's presets (policy.ts decideMfa). Synchronous: everything is compiled already or compiled here from data
   * the trust carries; a group name not resolved yet gives a fail-closed preset (see the file comment).
   */
  setsFor(rp: Pick<RelyingParty, 'mfa'>): MfaRuleSets {
    const trust: TrustMfa | undefined = rp.mfa;
    const presets = [
      ...this.#presets(this.#globalPresets),
      ...(trust === undefined ? [] : this.#presets(trust.presets)),
    ];
    return {
      global: this.#global,
      trust: trust?.rules,
      presets: presets.length === 0 ? undefined : presets,
    };
  }

  /** Resolves the group names of a trust's presets (e.g. after a SAML trust file was loaded). */
  async prepare(rp: Pick<RelyingParty, 'mfa'>): Promise<void> {
    for (const preset of rp.mfa?.presets ?? [])
      if (preset.kind === 'group' && !isSid(preset.group.trim())) await this.#resolve(preset.group);
  }

  #key(name: string): string {
    return name.trim().toUpperCase();
  }

  async #resolve(name: string): Promise<void> {
    const key = this.#key(name);
    if (this.#groups.has(key)) return;
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = resolveGroup(this.#directory, this.#netbios, name)
        .then((r) => {
          this.#groups.set(key, r);
        })
        .finally(() => {
          this.#pending.delete(key);
        });
      this.#pending.set(key, pending);
    }
    await pending;
  }

  #presets(list: readonly MfaPresetConfig[]): readonly CompiledPreset[] {
    const done = this.#compiled.get(list);
    if (done !== undefined) return done;
    let complete = true;
    const out: CompiledPreset[] = [];
    for (const c of list) {
      if (c.kind !== 'group') {
        out.push(compilePreset({ kind: c.kind }));
        continue;
      }
      const g = c.group.trim();
      const r = isSid(g) ? { groupSid: g.toUpperCase() } : this.#groups.get(this.#key(g));
      if (r !== undefined) {
        const preset: MfaPreset = { kind: 'group', ...r };
        out.push(compilePreset(preset));
        continue;
      }
      complete = false;
      this.#resolve(g).catch((err: unknown) => {
        this.#log?.error(
          { group: g.slice(0, 100), err: err instanceof Error ? err.message : String(err) },
          'MFA group preset: group not resolved; MFA is required of everyone on this policy',
        );
      });
      out.push(unresolvedGroup(g));
    }
    // Kept only when every name is resolved, so a fail-closed stand-in is replaced as soon as the name is known.
    if (complete) this.#compiled.set(list, out);
    return out;
  }
}

/**
 * `fedgate check` for MFA policy: every MFA rule file (global, per trust, SAML trust files) compiled as startup
 * would, every problem reported (`config.key: file:line:column: …`), and every group name looked up in the
 * directory `openDirectory` gives (opened only when a preset names a group by name; closed here). An outage is a
 * warning (the names could not be checked), not a problem.
 */
export async function checkMfaPolicy(
  config: MfaPolicyConfig,
  openDirectory?: () => Promise<DirectoryProvider>,
): Promise<{ problems: string[]; warnings: string[] }> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const groups: { key: string; group: string }[] = [];
  const policy = (key: string, baseDir: string, mfa: TrustMfaConfig | undefined): void => {
    if (mfa === undefined) return;
    const file = configPath(baseDir, mfa.additionalAuthenticationRulesFile);
    if (file !== undefined) {
      try {
        loadRulesFile(file);
      } catch (err) {
        problems.push(`${key}.additionalAuthenticationRulesFile: ${(err as Error).message}`);
      }
    }
    mfa.accessControlPolicies.forEach((p, i) => {
      if (p.kind === 'group')
        groups.push({ key: `${key}.accessControlPolicies[${i}]`, group: p.group });
    });
  };
  policy('mfa', config.baseDir, config.mfa);
  if (config.microsoft365 !== undefined)
    policy('microsoft365.mfa', config.baseDir, config.microsoft365.mfa);
  (config.relyingParties ?? []).forEach((rp, i) => {
    policy(`relyingParties[${i}].mfa`, config.baseDir, rp.mfa);
  });
  if (config.saml2 !== undefined) {
    const dir = resolve(config.baseDir, config.saml2.trustsDir);
    for (const file of trustFiles(dir)) {
      let mfa: TrustMfaConfig | undefined;
      try {
        mfa = readTrustFile(file).mfa;
      } catch {
        // A trust file that does not read is reported by `fedgate rp`'s check (cli/rp.ts checkSamlTrusts).
        continue;
      }
      policy(`${file}: mfa`, dirname(file), mfa);
    }
  }
  if (groups.length === 0) return { problems, warnings };
  if (openDirectory === undefined) {
    warnings.push('MFA group presets: no directory, group names not checked');
    return { problems, warnings };
  }
  let directory: DirectoryProvider;
  try {
    directory = await openDirectory();
  } catch (err) {
    warnings.push(
      `MFA group presets: directory not reachable, group names not checked (${(err as Error).message.slice(0, 200)})`,
    );
    return { problems, warnings };
  }
  try {
    for (const g of groups) {
      try {
        await resolveGroup(directory, config.directory.netbiosDomain, g.group);
      } catch (err) {
        if (err instanceof FederationError) {
          warnings.push(`${g.key}: group ${g.group.slice(0, 100)} not checked (${err.code})`);
          continue;
        }
        problems.push(`${g.key}: ${(err as Error).message}`);
      }
    }
  } finally {
    await directory.close();
  }
  return { problems, warnings };
}

function trustFiles(dir: string): string[] {
  try {
    if (!statSync(dir).isDirectory()) return [];
  } catch {
    return [];
  }
  return readdirSync(dir)
    .filter((n) => /\.ya?ml$/i.test(n))
    .sort()
    .map((n) => join(dir, n));
}
