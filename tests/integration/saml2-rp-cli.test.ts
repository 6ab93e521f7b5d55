import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { SP_ID, spMetadata, standardSp } from '../fixtures/saml2/harness.ts';

// `fedgate rp add / list / remove` run as a real process against a real config folder.

const root = fileURLToPath(new URL('../..', import.meta.url));
const cliTs = join(root, 'server/cli/main.ts');
const tsxLoader = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;

function cli(
  args: string[],
  cwd: string,
): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['--import', tsxLoader, cliTs, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

test('fedgate rp add --metadata FILE, rp list, rp remove', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-rp-'));
  writeFileSync(join(dir, 'fedgate.yaml'), 'hostname: sts.fedgate.test\nlisten: { tls: off }\n');
  writeFileSync(join(dir, 'partner.xml'), spMetadata(standardSp()));
  const cfg = ['--config', join(dir, 'fedgate.yaml')];

  const add = cli(
    ['rp', 'add', '--metadata', join(dir, 'partner.xml'), '--name', 'Partner app', ...cfg],
    dir,
  );
  assert.equal(add.status, 0, add.stderr);
  assert.match(add.stdout, /added https:\/\/sp\.fedgate\.test\/saml/);
  const trustFile = join(dir, 'metadata/trusts/sp-fedgate-test-saml.yaml');
  const trust = parse(readFileSync(trustFile, 'utf8')) as Record<string, unknown>;
  assert.deepEqual(trust, { name: 'Partner app', metadata: 'sp-fedgate-test-saml.metadata.xml' });

  const again = cli(['rp', 'add', '--metadata', join(dir, 'partner.xml'), ...cfg], dir);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already configured/);

  const list = cli(['rp', 'list', ...cfg], dir);
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /urn:federation:MicrosoftOnline/);
  assert.ok(list.stdout.includes(`${SP_ID}  "Partner app"`));

  // The server starts with the new trust (check compiles everything serve would).
  const check = cli(['check', ...cfg], dir);
  assert.equal(check.status, 0, check.stderr);

  const rm = cli(['rp', 'remove', SP_ID, ...cfg], dir);
  assert.equal(rm.status, 0, rm.stderr);
  assert.equal(existsSync(trustFile), false);
  assert.equal(existsSync(join(dir, 'metadata/trusts/sp-fedgate-test-saml.metadata.xml')), false);
});

test('fedgate rp add refuses unusable metadata and plain-http URLs with a clear message', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-rp-'));
  writeFileSync(join(dir, 'fedgate.yaml'), 'hostname: sts.fedgate.test\n');
  writeFileSync(join(dir, 'bad.xml'), '<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>');
  const cfg = ['--config', join(dir, 'fedgate.yaml')];
  const bad = cli(['rp', 'add', '--metadata', join(dir, 'bad.xml'), ...cfg], dir);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /not usable: .*DOCTYPE/);
  const http = cli(['rp', 'add', '--metadata', 'http://sp.example/md.xml', ...cfg], dir);
  assert.equal(http.status, 1);
  assert.match(http.stderr, /pinned certificate/);
  assert.equal(existsSync(join(dir, 'metadata/trusts')), false);
});
