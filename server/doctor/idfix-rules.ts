/**
 * IdFix's per-value rules (Multi-Tenant mode) for the nine attributes `fedgate doctor` checks, with their fix
 * proposals (IdFix's UPDATE column). adfs-reference.md §5 [IDF] lists the facts: per attribute the banned
 * characters, the maximum lengths, the RFC 2822 dot-atom check with IdFix's regular expressions, and the
 * routable top-level-domain check.
 *
 * Why hand-written: IdFix (github.com/microsoft/idfix, a Windows Forms tool, deprecated 2026-06-30) is the only
 * implementation of these rules, and no maintained library implements them; generic e-mail validators answer a
 * different question (RFC 5322 allows quoted local parts and non-routable domains that Entra ID refuses). The
 * routable TLD list is the `tlds` package (IANA's root zone), where IdFix bundles its own copy.
 *
 * Each value runs through stages in IdFix's order: character, then the RFC 2822 group (topleveldomain,
 * domainpart, localpart, format), then length. Every stage checks the value the earlier stages already fixed, so a
 * value reports only its real problems (a UPN with a space is a `character` problem, not also a `localpart` one),
 * and all findings on one value carry the same, fully fixed update. When the fixed value would still fail (a
 * non-routable TLD with no federated domain to move to, an address with no `@`), there is no safe update.
 */
import { createRequire } from 'node:module';
import type { CheckedAttribute, IdFixClass } from './types.ts';

const IANA_TLDS = createRequire(import.meta.url)('tlds') as string[];

/**
 * RFC 2606 / RFC 6761 special-use names are never routable, whatever a list says; `local` is mDNS (RFC 6762),
 * the classic AD pitfall (`corp.local`).
 */
const NON_ROUTABLE_TLDS = new Set(['local', 'test', 'example', 'invalid', 'localhost']);
const ROUTABLE_TLDS = new Set(
  IANA_TLDS.map((t) => t.toLowerCase()).filter((t) => !NON_ROUTABLE_TLDS.has(t)),
);

/** Is `tld` (no dot) a routable top-level domain? */
export function isRoutableTld(tld: string): boolean {
  return ROUTABLE_TLDS.has(tld.toLowerCase());
}

/* IdFix's character classes (its Constants: InvalidUpnRegEx, InvalidProxyAddressSMTPRegex, …). `\s` is
 * whitespace. The UPN list also names the umlauts; fedgate widens that to every non-ASCII character, which Entra ID
 * refuses in a UPN. */
const UPN_BANNED = /[\s\\%&*+/=?'{}|<>();:,[\]"]/gu;
const SMTP_PROXY_BANNED = /[\s<>();,[\]"']/gu;
const OTHER_PROXY_BANNED = /[\s<>(),[\]"']/gu;
const SMTP_TARGET_BANNED = /[\s\\<>();,[\]"']/gu;
const OTHER_TARGET_BANNED = /[\s\\<>(),[\]"']/gu;
const SAM_BANNED = /[\\"|,/[\]:<>+=;?*]/gu;
const NON_ASCII = /[^\p{ASCII}]/gu;

/* IdFix's RFC 2822 expressions (dot-atom local part; domain labels; a 2-17 letter TLD). */
const ATEXT = "[a-z0-9!#$%&'*+/=?^_`{|}~-]";
const LOCAL_PART_RE = new RegExp(`^${ATEXT}+(?:\\.${ATEXT}+)*$`, 'iu');
const DOMAIN_PART_RE = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,17}$/iu;
const LOCAL_STRIP = /[^a-z0-9.!#$%&'*+/=?^_`{|}~-]/giu;
const DOMAIN_STRIP = /[^a-z0-9.-]/giu;

/** RFC 5321 §4.5.3.1.1: a local part has at most 64 octets (Entra ID's UPN prefix limit too). */
export const MAX_LOCAL_PART = 64;

/** Maximum lengths (IdFix Multi-Tenant; givenName and sn: AD's and Entra ID's 64). */
export const MAX_LENGTH: Record<CheckedAttribute, number> = {
  userPrincipalName: 113,
  mail: 256,
  mailNickname: 64,
  proxyAddresses: 256,
  sAMAccountName: 20,
  displayName: 255,
  givenName: 64,
  sn: 64,
  targetAddress: 255,
};

/** Attributes whose values must be unique (IdFix's duplicate rule), and are addresses for cross-attribute checks. */
export const MULTI_VALUED: ReadonlySet<CheckedAttribute> = new Set(['proxyAddresses']);

export interface RuleOptions {
  /** microsoft365.federatedDomains: the first one replaces a non-routable UPN suffix. */
  federatedDomains: readonly string[];
  /** `user`, `group`, `contact`: sAMAccountName's 20-character limit is for users. */
  objectClass: string;
}

export interface ValueProblem {
  class: IdFixClass;
  detail: string;
}

export interface ValueCheck {
  problems: ValueProblem[];
  /** The fully fixed value, or undefined when there is no safe fix (or no problem). */
  update: string | undefined;
}

/** NFD, then drop combining marks: `jürgen` → `jurgen`, `é` → `e`. What is left non-ASCII stays for the caller. */
export function foldToAscii(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '');
}

/** Strips what `banned` matches, non-ASCII first folded when `asciiOnly`. */
function stripChars(s: string, banned: RegExp, asciiOnly: boolean): string {
  let out = asciiOnly ? foldToAscii(s).replace(NON_ASCII, '') : s;
  out = out.replace(banned, '');
  return out;
}

function has(re: RegExp, s: string): boolean {
  re.lastIndex = 0;
  const r = re.test(s);
  re.lastIndex = 0;
  return r;
}

/** Collapses runs of dots and trims dots at either end (a dot-atom has neither). */
function tidyDots(s: string): string {
  return s.replace(/\.{2,}/gu, '.').replace(/^\.+|\.+$/gu, '');
}

/** Splits an address at its LAST `@` (IdFix's split); no `@` → undefined. */
function splitAddress(a: string): { local: string; domain: string } | undefined {
  const at = a.lastIndexOf('@');
  return at < 0 ? undefined : { local: a.slice(0, at), domain: a.slice(at + 1) };
}

/** The proxy/target address type (`smtp`, `x500`, …) and the address after the first colon. */
function splitPrefixed(v: string): { prefix: string; address: string } | undefined {
  const colon = v.indexOf(':');
  return colon <= 0 ? undefined : { prefix: v.slice(0, colon), address: v.slice(colon + 1) };
}

interface StageResult {
  problems: ValueProblem[];
  fixed: string;
  /** A problem whose fix is not safe to propose was found. */
  unfixable: boolean;
}

/** The RFC 2822 group on one address: topleveldomain, domainpart, localpart (incl. its length), format. */
function rfc2822Stage(address: string, opts: RuleOptions, out: StageResult): string {
  let a = address;
  let parts = splitAddress(a);
  const tldSource = parts === undefined ? a : parts.domain;
  const dot = tldSource.lastIndexOf('.');
  if (dot >= 0 && dot < tldSource.length - 1) {
    const tld = tldSource.slice(dot + 1);
    if (!isRoutableTld(tld)) {
      out.problems.push({
        class: 'topleveldomain',
        detail: `".${tld}" is not a routable top-level domain: Entra ID cannot verify or route this suffix`,
      });
      const target = opts.federatedDomains[0];
      if (parts !== undefined && target !== undefined) {
        a = `${parts.local}@${target.toLowerCase()}`;
        parts = splitAddress(a);
      } else out.unfixable = true;
    }
  }
  if (parts !== undefined && !DOMAIN_PART_RE.test(parts.domain)) {
    out.problems.push({
      class: 'domainpart',
      detail: 'the part after "@" is not a valid domain name',
    });
    a = `${parts.local}@${tidyDots(foldToAscii(parts.domain).replace(DOMAIN_STRIP, ''))}`;
    parts = splitAddress(a);
  }
  if (
    parts !== undefined &&
    (!LOCAL_PART_RE.test(parts.local) || parts.local.length > MAX_LOCAL_PART)
  ) {
    out.problems.push({
      class: 'localpart',
      detail: `the part before "@" is not an RFC 2822 dot-atom of at most ${MAX_LOCAL_PART} characters`,
    });
    const local = tidyDots(
      tidyDots(foldToAscii(parts.local).replace(LOCAL_STRIP, '')).slice(0, MAX_LOCAL_PART),
    );
    a = `${local}@${parts.domain}`;
    parts = splitAddress(a);
  }
  if (
    parts === undefined ||
    !LOCAL_PART_RE.test(parts.local) ||
    !DOMAIN_PART_RE.test(parts.domain)
  ) {
    out.problems.push({
      class: 'format',
      detail: 'not an RFC 2822 address (name@domain.tld)',
    });
    out.unfixable = true;
  }
  return a;
}

/** Truncates to `max`; an address keeps its domain and loses characters from its local part. */
function truncate(value: string, max: number, address: boolean): string {
  if (value.length <= max) return value;
  const parts = address ? splitAddress(value) : undefined;
  if (parts !== undefined && parts.domain.length + 2 <= max) {
    const local = tidyDots(parts.local.slice(0, max - parts.domain.length - 1));
    if (local !== '') return `${local}@${parts.domain}`;
  }
  return value.slice(0, max);
}

/** IdFix's character rule: bad characters are reported and stripped. */
function characterStage(
  v: string,
  banned: RegExp,
  asciiOnly: boolean,
  what: string,
  out: StageResult,
): string {
  if (!has(banned, v) && !(asciiOnly && has(NON_ASCII, v))) return v;
  out.problems.push({ class: 'character', detail: `contains characters ${what} does not allow` });
  return stripChars(v, banned, asciiOnly);
}

function runStages(attribute: CheckedAttribute, value: string, opts: RuleOptions): StageResult {
  const out: StageResult = { problems: [], fixed: value, unfixable: false };
  let v = value;
  const max = MAX_LENGTH[attribute];
  let address = false;
  switch (attribute) {
    case 'userPrincipalName':
      v = characterStage(v, UPN_BANNED, true, 'a UPN', out);
      v = rfc2822Stage(v, opts, out);
      address = true;
      break;
    case 'proxyAddresses':
    case 'targetAddress': {
      const p = splitPrefixed(v);
      if (p === undefined) {
        // No `type:` prefix: nothing sensible to propose.
        out.problems.push({
          class: 'format',
          detail: 'has no address type prefix (smtp:, x500:, …)',
        });
        out.unfixable = true;
        break;
      }
      const smtp = p.prefix.toLowerCase() === 'smtp';
      const banned =
        attribute === 'proxyAddresses'
          ? smtp
            ? SMTP_PROXY_BANNED
            : OTHER_PROXY_BANNED
          : smtp
            ? SMTP_TARGET_BANNED
            : OTHER_TARGET_BANNED;
      let addr = p.address;
      // A second colon after the prefix is a character problem in IdFix (the address cannot hold one).
      if (has(banned, addr) || addr.includes(':') || (smtp && has(NON_ASCII, addr))) {
        out.problems.push({
          class: 'character',
          detail: `contains characters ${attribute} does not allow`,
        });
        addr = stripChars(addr, banned, smtp).replace(/:/gu, '');
      }
      if (smtp) {
        addr = rfc2822Stage(addr, opts, out);
        address = true;
      }
      v = `${p.prefix}:${addr}`;
      break;
    }
    case 'mailNickname':
      if (v.startsWith('.')) {
        out.problems.push({ class: 'format', detail: 'a mailNickname may not start with "."' });
        v = v.replace(/^\.+/u, '');
        if (v === '') out.unfixable = true;
      }
      break;
    case 'sAMAccountName':
      v = characterStage(v, SAM_BANNED, false, 'a sAMAccountName', out);
      if (v === '') out.unfixable = true;
      break;
    default:
      break;
  }
  const limit = attribute === 'sAMAccountName' && opts.objectClass !== 'user' ? 256 : max;
  if (v.length > limit) {
    out.problems.push({ class: 'length', detail: `longer than ${limit} characters` });
    if (attribute === 'proxyAddresses' || attribute === 'targetAddress') {
      const p = splitPrefixed(v);
      v =
        p === undefined
          ? v.slice(0, limit)
          : `${p.prefix}:${truncate(p.address, limit - p.prefix.length - 1, address)}`;
    } else v = truncate(v, limit, address);
  }
  out.fixed = v;
  return out;
}

/**
 * IdFix's per-value rules for one non-blank value of `attribute`. The update is proposed only when the fixed value
 * passes every rule itself (checked by running the rules again, once).
 */
export function checkValue(
  attribute: CheckedAttribute,
  value: string,
  opts: RuleOptions,
): ValueCheck {
  const first = runStages(attribute, value, opts);
  if (first.problems.length === 0) return { problems: [], update: undefined };
  if (first.unfixable || first.fixed === value || first.fixed === '')
    return { problems: first.problems, update: undefined };
  const again = runStages(attribute, first.fixed, opts);
  return {
    problems: first.problems,
    update: again.problems.length === 0 ? first.fixed : undefined,
  };
}

/** The primary SMTP address (`SMTP:` in upper case, Exchange's convention), without its prefix. */
export function primarySmtp(proxyAddresses: readonly string[] | undefined): string | undefined {
  for (const p of proxyAddresses ?? [])
    if (p.startsWith('SMTP:') && p.length > 5) return p.slice(5);
  return undefined;
}

/**
 * IdFix's blank rules: a required value that is empty, with its proposed fill. displayName → the object's cn; mail,
 * when a primary SMTP proxy address exists → that address. Other blank attributes are not problems.
 */
export function checkBlank(
  attribute: CheckedAttribute,
  o: { commonName: string; values: Partial<Record<CheckedAttribute, string[]>> },
): { detail: string; update: string | undefined } | undefined {
  if (attribute === 'displayName')
    return {
      detail: 'displayName is blank: Entra ID requires it (IdFix proposes the cn)',
      update: o.commonName === '' ? undefined : o.commonName,
    };
  if (attribute === 'mail') {
    const primary = primarySmtp(o.values.proxyAddresses);
    if (primary !== undefined)
      return {
        detail: 'mail is blank although the object has a primary SMTP proxy address',
        update: primary,
      };
  }
  return undefined;
}
