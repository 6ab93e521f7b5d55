/**
 * panva's oidc-provider, loaded once, and two of its console notices kept out of stderr:
 * - at load, "Unsupported runtime" on any Node release before 22 LTS: fedgate runs on Node 20 as well (CI and the
 *   quick start use it, and every OIDC test passes there). It is kept and logged once, structured, when a server
 *   builds its provider (provider.ts), instead of landing in every `fedgate` command's stderr;
 * - at the first token request, "already parsed request body detected": mount.ts parses the form on purpose (AD FS's
 *   `<resource>/<scope>` and `.default` are rewritten before oidc-provider reads them), which oidc-provider supports.
 * Every other console.warn passes through unchanged.
 */
const held: string[] = [];
const QUIET = [
  'oidc-provider WARNING: Unsupported runtime',
  'oidc-provider WARNING: already parsed request body detected',
];
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  const text = args.map(String).join(' ');
  if (QUIET.some((q) => text.startsWith(q))) {
    if (held.length < 8) held.push(text);
    return;
  }
  warn(...args);
};
const loaded = await import('oidc-provider');

export const Provider = loaded.default;
export const errors = loaded.errors;
export const interactionPolicy = loaded.interactionPolicy;

/** What oidc-provider said while loading (logged once by the server). */
export const loadWarnings: readonly string[] = Object.freeze([...held]);
