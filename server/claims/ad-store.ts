/**
 * The "Active Directory" attribute store (entra-protocol.md §6.1): `query = "<filter>;<attr1,attr2,…>;<DOMAIN\user>"`
 * with `{0}`, `{1}` replaced by the params.
 *  - Empty filter (`";mail;{0}"`): the attributes of the account named by the third part.
 *  - A filter (`"samAccountName={0};userPrincipalName;{1}"`): every entry of that domain matching it; the third
 *    part only names the domain.
 *  - One column per attribute, one claim per value, claim types by position. Binary attributes are base64
 *    (objectGUID, mS-DS-ConsistencyGuid: what Entra expects as ImmutableID), SIDs are S-1-5-… strings.
 *  - Group forms, as AD FS's "Send LDAP Attributes" template offers them: `tokenGroups` (group names),
 *    `tokenGroups(SID)`, `tokenGroups(domainQualifiedName)` (CORP\Finance), `tokenGroups(longDomainQualifiedName)`
 *    (corp.example.test\Finance); every group, nested ones included. `memberOf` gives direct groups' DNs.
 * Security: the query TEXT is the administrator's; params come from claims, i.e. ultimately from users. The query
 * is split into its three parts before substitution (a `;` in a claim cannot move a part), params are
 * RFC 4515-escaped inside the filter (a claim value can never add filter syntax such as `*)(|(`), and the
 * attribute list takes no params.
 */
import { Filter } from 'ldapts';
import { attributeText, dnsDomainOf, sidToBytes } from '../directory/ad-attributes.ts';
import { parseLdapFilter } from '../directory/ldap-filter.ts';
import type {
  AttributeValue,
  AttributeValues,
  DirectoryProvider,
  DirectoryUser,
} from '../directory/types.ts';
import { formatQuery, highestPlaceholder, type AttributeStore } from './attribute-store.ts';

export const ACTIVE_DIRECTORY_STORE = 'Active Directory';

type GroupForm = 'sid' | 'name' | 'domainName' | 'longDomainName';

interface AdAttribute {
  /** The LDAP attribute read. */
  ldap: string;
  /** How values show: as read, or (token groups) resolved to a name form. */
  form: 'value' | GroupForm;
}

export interface AdQuery {
  filter: string;
  attributes: AdAttribute[];
  account: string;
}

const GROUP_FORMS: Record<string, GroupForm> = {
  sid: 'sid',
  domainqualifiedname: 'domainName',
  longdomainqualifiedname: 'longDomainName',
};
const TOKEN_GROUPS = /^tokenGroups(GlobalAndUniversal|NoGCAcceptable)?$/i;
/** SIDs resolved to names per directory query (an OR filter of this many objectSid values). */
const SID_BATCH = 200;

/** Splits a query into filter, attributes and account (at the LAST two semicolons: a filter may contain one). */
export function parseAdQuery(query: string): AdQuery {
  const last = query.lastIndexOf(';');
  const middle = last < 0 ? -1 : query.lastIndexOf(';', last - 1);
  if (middle < 0)
    throw new Error('the query must have three parts: "<LDAP filter>;<attributes>;<DOMAIN\\user>"');
  const filter = query.slice(0, middle);
  const attrText = query.slice(middle + 1, last);
  const account = query.slice(last + 1).trim();
  if (account === '')
    throw new Error('the third part of the query (DOMAIN\\user, e.g. {0}) is empty');
  if (/[{}]/.test(attrText)) throw new Error('the attribute list cannot take {n} parameters');
  const attributes = attrText.split(',').map((raw): AdAttribute => {
    const a = raw.trim();
    const m = /^([A-Za-z][A-Za-z0-9-]*)(?:\(([A-Za-z]+)\))?$/.exec(a);
    if (m === null) throw new Error(`"${a}" is not an attribute name`);
    const ldap = m[1] ?? '';
    const option = m[2];
    if (TOKEN_GROUPS.test(ldap))
      return {
        ldap,
        form: option === undefined ? 'name' : (GROUP_FORMS[option.toLowerCase()] ?? fail(a)),
      };
    if (option !== undefined) fail(a);
    return { ldap, form: 'value' };
  });
  return { filter, attributes, account };
}

function fail(attribute: string): never {
  throw new Error(
    `"${attribute}": only tokenGroups takes an option: (SID), (domainQualifiedName) or (longDomainQualifiedName)`,
  );
}

/** Load-time check of a query text (literal in the rule); returns its number of columns. */
export function checkAdQuery(query: string, paramCount: number): number {
  const q = parseAdQuery(query);
  const highest = Math.max(highestPlaceholder(q.filter), highestPlaceholder(q.account));
  if (highest >= paramCount)
    throw new Error(`the query uses {${highest}} but the rule passes ${paramCount} param(s)`);
  if (q.filter.trim() !== '') {
    parseLdapFilter(formatQuery(q.filter, new Array<string>(paramCount).fill('x')));
  }
  return q.attributes.length;
}

/** Uppercase DOMAIN of `DOMAIN\user`. */
function domainOf(account: string): string {
  return (account.split('\\')[0] ?? '').toUpperCase();
}

/** What a DirectoryUser holds of its entry, by lowercase LDAP name, exactly as the directory returned it. */
function entryAttribute(user: DirectoryUser, lowerName: string): AttributeValue[] | undefined {
  const one = (v: AttributeValue | undefined): AttributeValue[] => (v === undefined ? [] : [v]);
  switch (lowerName) {
    case 'samaccountname':
      return [user.sAMAccountName];
    case 'userprincipalname':
      return one(user.userPrincipalName);
    case 'objectguid':
      return [user.objectGuid];
    case 'ms-ds-consistencyguid':
      return one(user.consistencyGuid);
    case 'distinguishedname':
      return [user.dn];
    default:
      return undefined; // not carried by DirectoryUser: ask the directory
  }
}

/** The row for a query that names `user`'s own entry and only attributes it carries; undefined otherwise. */
function fromEntry(
  user: DirectoryUser,
  account: string,
  filter: string | undefined,
  attributes: readonly string[],
): AttributeValues[] | undefined {
  const sam = user.sAMAccountName.toLowerCase();
  if (filter === undefined) {
    if (account.toLowerCase() !== user.windowsAccountName.toLowerCase()) return undefined;
  } else {
    if (domainOf(account) !== user.netbiosDomain.toUpperCase()) return undefined;
    let node;
    try {
      node = parseLdapFilter(filter);
    } catch {
      return undefined; // the directory path reports the error
    }
    if (
      node.op !== 'equal' ||
      node.attribute.toLowerCase() !== 'samaccountname' ||
      node.value.toString('utf8').toLowerCase() !== sam
    )
      return undefined;
  }
  const row: AttributeValues = {};
  for (const name of attributes) {
    const v = entryAttribute(user, name.toLowerCase());
    if (v === undefined) return undefined;
    row[name] = v;
  }
  return [row];
}

interface GroupInfo {
  sAMAccountName: string;
  dn: string;
}

export class ActiveDirectoryStore implements AttributeStore {
  readonly name = ACTIVE_DIRECTORY_STORE;
  readonly #directory: DirectoryProvider;

  constructor(directory: DirectoryProvider) {
    this.#directory = directory;
  }

  check(query: string, paramCount: number): number {
    return checkAdQuery(query, paramCount);
  }

  /** Query texts come from the loaded rule files (a fixed, small set): each is split once, not per sign-in. */
  readonly #queries = new Map<string, AdQuery>();

  #parsed(query: string): AdQuery {
    let q = this.#queries.get(query);
    if (q === undefined) {
      q = parseAdQuery(query);
      if (this.#queries.size < 1024) this.#queries.set(query, q);
    }
    return q;
  }

  async query(query: string, params: readonly string[]): Promise<string[][]> {
    return this.#run(query, params, undefined);
  }

  /**
   * This store for one sign-in of `user`, whose entry the directory read moments ago in the same request (at the
   * password bind, or the session's re-read by objectGUID). A query that names that same entry (an empty filter
   * with the user's DOMAIN\sam, or the filter `samAccountName=<the user's sam>` in the user's domain, as the
   * Microsoft 365 rules' UPN and ImmutableID queries do) for attributes that entry already holds is answered from
   * it instead of another round trip to the DC: the values are the ones the DC returned in this request, and
   * sAMAccountName is unique within a domain, so the answer is the one the DC would give. Anything else (other
   * filters, other accounts, attributes the entry does not carry such as memberOf or tokenGroups) goes to the
   * directory. Measured by `npm run bench` (DC work per sign-in); tests/unit/claims/ad-store-entry.test.ts
   * compares both paths against the same directory.
   */
  forUser(user: DirectoryUser): AttributeStore {
    return {
      name: this.name,
      check: (query, paramCount) => this.check(query, paramCount),
      query: (query, params) => this.#run(query, params, user),
    };
  }

  async #run(
    query: string,
    params: readonly string[],
    user: DirectoryUser | undefined,
  ): Promise<string[][]> {
    const q = this.#parsed(query);
    const account = formatQuery(q.account, params).trim();
    const filter =
      q.filter.trim() === '' ? undefined : formatQuery(q.filter, params, (v) => Filter.escape(v));
    const ldapNames = [...new Set(q.attributes.map((a) => a.ldap))];
    const known = user === undefined ? undefined : fromEntry(user, account, filter, ldapNames);
    const rows =
      known ?? (await this.#directory.queryAttributes({ account, filter, attributes: ldapNames }));
    const needNames = q.attributes.some((a) => a.form !== 'value' && a.form !== 'sid');
    const groups = needNames
      ? await this.#groupNames(account, rows, q.attributes)
      : new Map<string, GroupInfo>();
    const domain = domainOf(account);
    return q.attributes.map((a) => {
      const out: string[] = [];
      for (const row of rows) {
        for (const v of row[a.ldap] ?? []) {
          if (a.form === 'value' || a.form === 'sid') {
            out.push(attributeText(a.ldap, v));
            continue;
          }
          const sid = attributeText('objectSid', v);
          const g = groups.get(sid);
          if (g === undefined) continue; // a SID with no entry in this domain (foreign or deleted)
          const builtin = sid.startsWith('S-1-5-32-');
          if (a.form === 'name') out.push(g.sAMAccountName);
          else if (a.form === 'domainName')
            out.push(`${builtin ? 'BUILTIN' : domain}\\${g.sAMAccountName}`);
          else out.push(`${builtin ? 'BUILTIN' : dnsDomainOf(g.dn)}\\${g.sAMAccountName}`);
        }
      }
      return out;
    });
  }

  /** sAMAccountName and DN of every group SID in the rows, looked up by objectSid. */
  async #groupNames(
    account: string,
    rows: AttributeValues[],
    attributes: AdAttribute[],
  ): Promise<Map<string, GroupInfo>> {
    const sids = new Set<string>();
    for (const a of attributes) {
      if (a.form === 'value' || a.form === 'sid') continue;
      for (const row of rows)
        for (const v of row[a.ldap] ?? []) sids.add(attributeText('objectSid', v));
    }
    const out = new Map<string, GroupInfo>();
    const list = [...sids];
    for (let i = 0; i < list.length; i += SID_BATCH) {
      const parts = list
        .slice(i, i + SID_BATCH)
        .map((s) => sidToBytes(s))
        .filter((b): b is Buffer => b !== undefined)
        .map((b) => `(objectSid=${Filter.escape(b)})`);
      if (parts.length === 0) continue;
      const found = await this.#directory.queryAttributes({
        account,
        filter: `(|${parts.join('')})`,
        attributes: ['objectSid', 'sAMAccountName', 'distinguishedName'],
      });
      for (const row of found) {
        const sid = row.objectSid?.[0];
        const sam = row.sAMAccountName?.[0];
        const dn = row.distinguishedName?.[0];
        if (sid === undefined || sam === undefined) continue;
        out.set(attributeText('objectSid', sid), {
          sAMAccountName: attributeText('sAMAccountName', sam),
          dn: dn === undefined ? '' : attributeText('distinguishedName', dn),
        });
      }
    }
    return out;
  }
}
