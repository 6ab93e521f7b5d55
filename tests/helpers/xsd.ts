/**
 * Schema validation by an independent validator: libxml2's `xmllint --schema` (Debian libxml2-utils)
 * against the official OASIS/W3C schemas copied into tests/fixtures/xsd (sources and licences in its
 * README). Never fedgate's own parser: a writer bug cannot hide itself.
 *
 * - `--nonet` plus an XML catalog (tests/fixtures/xsd/catalog.xml) that maps the network schemaLocations of
 *   the unmodified official schemas to the local copies: validation never reaches for the network, and a
 *   schema that cannot be found locally is an error here, never a silent "skipped import".
 * - One driver schema (all.xsd) imports every namespace, so a document (or a fragment cut out of a SOAP
 *   envelope) is validated against whatever official schema owns its root element.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const XSD_DIR = fileURLToPath(new URL('../fixtures/xsd/', import.meta.url));
const DRIVER = join(XSD_DIR, 'all.xsd');
const CATALOG = join(XSD_DIR, 'catalog.xml');

export interface XsdResult {
  ok: boolean;
  /** xmllint's validity errors (and any schema-loading problem), one per line. */
  errors: string[];
}

/**
 * Lines xmllint prints that are not problems: the summary line, and libxml2 noting that a namespace some
 * official schema imports a second time was already loaded (the SAML and WS-* schemas all import XMLDSig).
 */
function benign(line: string): boolean {
  return (
    line.trim() === '' ||
    / validates$/.test(line) ||
    /Skipping import of schema located at .* since this namespace was already imported/.test(line)
  );
}

/** Runs `xmllint --noout --nonet --schema all.xsd` on `xml`; resolves with its verdict and errors. */
export async function validateXsd(xml: string): Promise<XsdResult> {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-xsd-'));
  const file = join(dir, 'doc.xml');
  writeFileSync(file, xml, 'utf8');
  try {
    const { code, output } = await new Promise<{ code: number | null; output: string }>(
      (resolve, reject) => {
        const child = spawn('xmllint', ['--noout', '--nonet', '--schema', DRIVER, file], {
          cwd: XSD_DIR,
          env: { ...process.env, XML_CATALOG_FILES: CATALOG },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
        child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
        child.on('error', reject);
        child.on('close', (c) => {
          resolve({ code: c, output: out });
        });
      },
    );
    const errors = output
      .split('\n')
      .filter((l) => !benign(l))
      .map((l) => l.replaceAll(file, 'doc.xml'));
    // Exit 0 with no leftover lines is the only pass: a warning about a schema that failed to load (network
    // refused by --nonet, missing file) counts as a failure, so a missing schema cannot pass by omission.
    return { ok: code === 0 && errors.length === 0, errors };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Asserts `xml` is schema-valid; the thrown message carries xmllint's exact errors. */
export async function assertSchemaValid(xml: string, what: string): Promise<void> {
  const r = await validateXsd(xml);
  if (!r.ok) throw new Error(`${what} is not schema-valid:\n${r.errors.join('\n')}`);
}

/**
 * For samlify's setSchemaValidator: `validate(xml)` resolves when xmllint accepts the document and rejects
 * with xmllint's errors otherwise.
 */
export const xmllintSchemaValidator = {
  validate: async (xml: string): Promise<string> => {
    const r = await validateXsd(xml);
    if (!r.ok) throw new Error(`schema validation failed: ${r.errors.join('; ')}`);
    return 'ok';
  },
};
