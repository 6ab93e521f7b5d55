// The offline half of the dependency gate (issue 14 §7; corpus D): what `npm ci --omit=dev` would install, read from
// package-lock.json. The online half, `npm run audit:runtime`, asks the registry's advisory database; this test needs
// no network, so a plain clone checks it on every `npm test`.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
}
const lock = JSON.parse(
  readFileSync(new URL('../../../package-lock.json', import.meta.url), 'utf8'),
) as {
  packages: Record<string, LockEntry>;
};

/** Every installed copy of each package: name → [{ path, version, runtime }]. */
function copies(): Map<string, { path: string; version: string; runtime: boolean }[]> {
  const out = new Map<string, { path: string; version: string; runtime: boolean }[]>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.version === undefined) continue;
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const list = out.get(name) ?? [];
    list.push({ path, version: entry.version, runtime: entry.dev !== true });
    out.set(name, list);
  }
  return out;
}

function atLeast(version: string, floor: string): boolean {
  const a = version.split(/[.-]/).map((x) => Number.parseInt(x, 10));
  const b = floor.split('.').map((x) => Number.parseInt(x, 10));
  for (let i = 0; i < 3; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

const all = copies();
const runtime = (name: string) => (all.get(name) ?? []).filter((c) => c.runtime);

test('one copy of the XML security libraries in the runtime tree (corpus D: lockfile check)', () => {
  for (const name of ['xml-crypto', '@xmldom/xmldom']) {
    const found = runtime(name);
    assert.equal(found.length, 1, `${name}: ${JSON.stringify(found)}`);
  }
});

test('runtime dependencies are at or above the corpus floors (corpus D)', () => {
  const floors: Record<string, string> = {
    'xml-crypto': '6.1.2',
    '@xmldom/xmldom': '0.8.15',
    ldapts: '8.2.0',
    express: '5.0.0',
    // PKCS#12 import (issue 18) parses admin-supplied files: 1.3.2 fixed the ASN.1 validator desynchronisation
    // (CVE-2025-12816) and unbounded ASN.1 recursion (CVE-2025-66031).
    'node-forge': '1.3.2',
  };
  for (const [name, floor] of Object.entries(floors)) {
    const found = runtime(name);
    assert.ok(found.length > 0, `${name} is a runtime dependency`);
    for (const c of found)
      assert.ok(atLeast(c.version, floor), `${c.path} ${c.version} < ${floor}`);
  }
});

test('verifiers and bench-only packages stay out of the runtime tree', () => {
  // samlify and node-saml are independent verifiers in tests; `saml` (bench only) brings xml-crypto 2.x; fedgate
  // writes EncryptedAssertion itself (canonical form), so xml-encryption is only the verifiers' dependency.
  for (const name of [
    'samlify',
    '@node-saml/node-saml',
    'saml',
    'xml-encryption',
    'autocannon',
    'playwright-core',
  ]) {
    assert.deepEqual(runtime(name), [], `${name} must be a devDependency`);
  }
  for (const c of all.get('samlify') ?? []) assert.ok(atLeast(c.version, '2.13.0'));
  for (const c of all.get('@node-saml/node-saml') ?? []) assert.ok(atLeast(c.version, '5.1.0'));
});

test('superseded or unmaintained packages are not installed at all (corpus D)', () => {
  for (const name of ['ldapjs', 'node-jose', 'passport']) {
    assert.deepEqual(all.get(name) ?? [], [], `${name} must not be in the tree`);
  }
});
