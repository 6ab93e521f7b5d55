import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

/** Every problem found in a configuration, each as `path: message`. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid configuration (${source}):\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface LoadOptions {
  /** Path from --config; falls back to env FEDGATE_CONFIG. */
  file?: string | undefined;
  /** Environment to read FEDGATE_* overrides from (process.env is read only here, in config/). */
  env?: NodeJS.ProcessEnv;
  /** Directory relative paths resolve against when there is no config file. */
  cwd?: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Collects the schema's key names (to map case-insensitive env segments) and which keys hold arrays. */
function schemaKeys(): { names: Map<string, string>; arrays: Set<string> } {
  const names = new Map<string, string>();
  const arrays = new Set<string>();
  const seen = new Set<unknown>();
  const visit = (s: z.core.$ZodType): void => {
    if (seen.has(s)) return;
    seen.add(s);
    const def = s._zod.def as unknown as Record<string, unknown>;
    switch (def.type) {
      case 'object': {
        const shape = def.shape as Record<string, z.core.$ZodType>;
        for (const [k, v] of Object.entries(shape)) {
          names.set(k.toLowerCase(), k);
          if (unwrap(v)._zod.def.type === 'array') arrays.add(k);
          visit(v);
        }
        break;
      }
      case 'union':
        for (const o of def.options as z.core.$ZodType[]) visit(o);
        break;
      case 'default':
      case 'optional':
      case 'nullable':
      case 'prefault':
        visit(def.innerType as z.core.$ZodType);
        break;
      case 'array':
        visit(def.element as z.core.$ZodType);
        break;
      default:
        break;
    }
  };
  const unwrap = (s: z.core.$ZodType): z.core.$ZodType => {
    const d = s._zod.def as unknown as Record<string, unknown>;
    return d.innerType !== undefined ? unwrap(d.innerType as z.core.$ZodType) : s;
  };
  visit(configSchema);
  return { names, arrays };
}

/**
 * Env overrides: FEDGATE_<PATH> with `__` between levels, e.g. FEDGATE_LISTEN__PORT=443,
 * FEDGATE_DIRECTORY__BINDPASSWORD=…, FEDGATE_DIRECTORY__URLS=ldaps://dc1,ldaps://dc2. Segments match schema
 * keys case-insensitively; list keys take comma-separated values; values starting with [ or { are JSON.
 */
export function envOverrides(env: NodeJS.ProcessEnv): {
  tree: Record<string, Json>;
  problems: string[];
} {
  const { names, arrays } = schemaKeys();
  const tree: Record<string, Json> = {};
  const problems: string[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (
      !name.startsWith('FEDGATE_') ||
      name === 'FEDGATE_CONFIG' ||
      name === 'FEDGATE_TEST' ||
      raw === undefined
    )
      continue;
    if (name.startsWith('FEDGATE_SKIP_')) continue;
    const segments = name.slice('FEDGATE_'.length).split('__');
    const path: string[] = [];
    let ok = true;
    for (const seg of segments) {
      const key = names.get(seg.toLowerCase().replace(/_/g, ''));
      if (key === undefined) {
        problems.push(`${name}: no configuration key "${seg.toLowerCase()}"`);
        ok = false;
        break;
      }
      path.push(key);
    }
    if (!ok) continue;
    let value: Json = raw;
    const last = path[path.length - 1] ?? '';
    if (/^\s*[[{]/.test(raw)) {
      try {
        value = JSON.parse(raw) as Json;
      } catch {
        problems.push(`${name}: value is not valid JSON`);
        continue;
      }
    } else if (arrays.has(last)) {
      value = raw
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
    }
    let node: Record<string, Json> = tree;
    for (const seg of path.slice(0, -1)) {
      const next = node[seg];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) node[seg] = {};
      node = node[seg] as Record<string, Json>;
    }
    node[last] = value;
  }
  return { tree, problems };
}

function merge(base: Json, over: Json): Json {
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return over;
  if (typeof over !== 'object' || over === null || Array.isArray(over)) return over;
  const out: Record<string, Json> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k] as Json, v) : v;
  return out;
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

function formatIssues(err: z.ZodError): string[] {
  return err.issues.map((i) => {
    const path = i.path.length === 0 ? '(root)' : i.path.map(String).join('.');
    return `${path}: ${i.message}`;
  });
}

/** Parses an already-read document (YAML text or object) plus env overrides into the frozen Config. */
export function resolveConfig(
  input: unknown,
  opts: { env?: NodeJS.ProcessEnv; baseDir: string; source: string; embeddedDefaults: boolean },
): Config {
  const { tree, problems } = envOverrides(opts.env ?? {});
  if (
    input !== null &&
    input !== undefined &&
    (typeof input !== 'object' || Array.isArray(input))
  ) {
    throw new ConfigError(opts.source, [
      '(root): the configuration must be a mapping of keys to values',
    ]);
  }
  const merged = merge((input ?? {}) as Json, tree);
  const parsed = configSchema.safeParse(merged);
  const all = [...problems, ...(parsed.success ? [] : formatIssues(parsed.error))];
  if (!parsed.success || all.length > 0) throw new ConfigError(opts.source, all);
  const c = parsed.data;
  const tlsOn = c.listen.tls !== 'off';
  const defaultPublic = `https://${c.hostname}${tlsOn && c.listen.port !== 443 ? `:${c.listen.port}` : ''}`;
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(opts.baseDir, p));
  const cert = c.certificateAuth;
  const certificateUrl =
    cert.publicUrl ??
    (cert.port !== 'off'
      ? `https://${c.hostname}${cert.port === 443 ? '' : `:${cert.port}`}`
      : cert.sniHostname !== undefined
        ? `https://${cert.sniHostname}${c.listen.port === 443 ? '' : `:${c.listen.port}`}`
        : '');
  const config: Config = {
    ...c,
    certificateAuth: { ...cert, publicUrl: cert.enabled ? certificateUrl.replace(/\/+$/, '') : '' },
    keys: { ...c.keys, dir: abs(c.keys.dir) },
    issuerUri: c.issuerUri ?? `http://${c.hostname}/adfs/services/trust`,
    publicUrl: (c.publicUrl ?? defaultPublic).replace(/\/+$/, ''),
    testRelyingParty: c.testRelyingParty ?? opts.embeddedDefaults,
    embeddedDefaults: opts.embeddedDefaults,
    baseDir: opts.baseDir,
  };
  return deepFreeze(config);
}

/** Loads the configuration: file (--config / FEDGATE_CONFIG) or embedded defaults, then env overrides. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.FEDGATE_CONFIG;
  if (file === undefined || file === '') {
    return resolveConfig(
      {},
      {
        env,
        baseDir: opts.cwd ?? process.cwd(),
        source: 'embedded defaults',
        embeddedDefaults: true,
      },
    );
  }
  const path = resolve(opts.cwd ?? process.cwd(), file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    // The container image names /etc/fedgate/fedgate.yaml in FEDGATE_CONFIG: say what to do, not only what failed.
    const hint =
      code === 'ENOENT'
        ? opts.file === undefined
          ? ' (FEDGATE_CONFIG names this file: mount your configuration there, e.g. -v ./fedgate.yaml:/etc/fedgate/fedgate.yaml:ro, or set FEDGATE_CONFIG= (empty) to run on embedded defaults)'
          : ' (no such file)'
        : '';
    throw new ConfigError(path, [`(file): cannot read: ${code}${hint}`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    throw new ConfigError(path, [
      `(yaml): ${(err as Error).message.split('\n')[0] ?? 'parse error'}`,
    ]);
  }
  return resolveConfig(doc, { env, baseDir: dirname(path), source: path, embeddedDefaults: false });
}
