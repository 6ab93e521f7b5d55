/**
 * `fedgate doctor --fix-ldif FILE`: IdFix's UPDATE column as RFC 2849 change records, plus the undo file with the
 * current values (issue 21: "Fixes, never silently"). fedgate only writes these files; the admin reviews them and
 * applies them with ldapmodify. Only findings with a proposed update give changes; duplicates and the federation
 * findings need a human decision and never appear.
 *
 * One record per DN (`changetype: modify`). Every change names the value it replaces: delete that value, add the new
 * one (a blank value is only added, a proposed '' only deleted), and the undo does the reverse. One modify is atomic
 * (RFC 4511 §4.6), so when the value changed after the scan the DC refuses the whole record (AD: noSuchAttribute, or
 * attributeOrValueExists / constraintViolation for an add onto a set single value) and nothing is overwritten: IdFix's
 * FAIL on a write conflict, done by the DC. For proxyAddresses the other values stay. Values and DNs that are not RFC
 * 2849 SAFE-STRINGs
 * (non-ASCII, a leading space, colon or `<`, a trailing space, control characters) are written base64 (`attr::`).
 */
import type { DirectoryFinding } from './types.ts';

export interface FixLdif {
  /** The proposed changes. */
  fix: string;
  /** The changes that put the current values back. */
  undo: string;
  /** Records (distinct DNs). */
  entries: number;
  /** Attribute values changed. */
  changes: number;
}

/** RFC 2849 SAFE-STRING: ASCII without NUL, LF, CR; not starting with space, `:` or `<`. A trailing space is
 * base64 too (§ "Notes on LDIF Syntax", 8: values ending in space SHOULD be base64). */
function isSafe(s: string): boolean {
  if (s === '') return true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13 || c > 127) return false;
  }
  if (s.startsWith(' ') || s.startsWith(':') || s.startsWith('<')) return false;
  return !s.endsWith(' ');
}

function line(attribute: string, value: string): string {
  return isSafe(value)
    ? `${attribute}: ${value}`
    : `${attribute}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
}

interface Change {
  attribute: string;
  multiValued: boolean;
  old: string;
  update: string;
}

/** One modification block (`op: attr`, the values, `-`). */
function block(op: 'delete' | 'add', attribute: string, values: string[]): string[] {
  return [`${op}: ${attribute}`, ...values.map((v) => line(attribute, v)), '-'];
}

/** Replace `from` by `to` on the condition that `from` is still there: delete it, then add `to`. */
function swapOps(attribute: string, from: string, to: string): string[] {
  return [
    ...(from === '' ? [] : block('delete', attribute, [from])),
    ...(to === '' ? [] : block('add', attribute, [to])),
  ];
}

function fixOps(c: Change): string[] {
  return swapOps(c.attribute, c.old, c.update);
}

function undoOps(c: Change): string[] {
  return swapOps(c.attribute, c.update, c.old);
}

function header(kind: 'fix' | 'undo', entries: number, changes: number): string[] {
  const what =
    kind === 'fix'
      ? "the fixes fedgate doctor proposes (IdFix's UPDATE column)"
      : 'the undo of the fix file: it puts back the values read during the scan';
  return [
    `# fedgate doctor: ${what}.`,
    `# ${entries} entr${entries === 1 ? 'y' : 'ies'}, ${changes} change${changes === 1 ? '' : 's'}. fedgate never applied it: review every change, then apply it with`,
    '#   ldapmodify -H ldaps://dc.example.com -D "<admin DN>" -W -f <this file>',
    '# (ldapmodify -n -f <this file> checks it without changing anything).',
    '# Duplicates and federation findings have no automatic fix and are not in this file.',
    'version: 1',
  ];
}

/** The fix and undo LDIF for the findings that propose an update. */
export function fixLdif(findings: readonly DirectoryFinding[]): FixLdif {
  const byDn = new Map<string, Map<string, Change>>();
  for (const f of findings) {
    if (f.update === undefined || f.update === f.value) continue;
    let changes = byDn.get(f.dn);
    if (changes === undefined) byDn.set(f.dn, (changes = new Map<string, Change>()));
    const key = `${f.attribute}\u0000${f.value}`;
    if (!changes.has(key))
      changes.set(key, {
        attribute: f.attribute,
        multiValued: f.multiValued,
        old: f.value,
        update: f.update,
      });
  }
  const dns = [...byDn.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const fix: string[] = [];
  const undo: string[] = [];
  let changes = 0;
  for (const dn of dns) {
    const list = [...(byDn.get(dn) ?? new Map<string, Change>()).values()].sort((a, b) =>
      a.attribute !== b.attribute
        ? a.attribute < b.attribute
          ? -1
          : 1
        : a.old < b.old
          ? -1
          : a.old > b.old
            ? 1
            : 0,
    );
    // A multi-valued attribute cannot receive the same new value twice in one record (ldapmodify: "value exists").
    const added = new Set<string>();
    const fixBody: string[] = [];
    const undoBody: string[] = [];
    for (const c of list) {
      const dup = c.multiValued && added.has(`${c.attribute}\u0000${c.update.toLowerCase()}`);
      if (c.multiValued) added.add(`${c.attribute}\u0000${c.update.toLowerCase()}`);
      const change = dup ? { ...c, update: '' } : c;
      fixBody.push(...fixOps(change));
      undoBody.push(...undoOps(change));
      changes++;
    }
    const head = [line('dn', dn), 'changetype: modify'];
    fix.push('', ...head, ...fixBody);
    undo.push('', ...head, ...undoBody);
  }
  const entries = dns.length;
  return {
    fix: [...header('fix', entries, changes), ...fix, ''].join('\n'),
    undo: [...header('undo', entries, changes), ...undo, ''].join('\n'),
    entries,
    changes,
  };
}
