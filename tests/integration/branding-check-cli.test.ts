// `fedgate check` for the pages (issue 17), the CLI spawned as an admin runs it: a catalogue that does not parse, a
// language the picker names without a catalogue, a theme whose logo's bytes do not match its name, a trust naming a
// theme that does not exist, each reported with its file or key (exit 2, no stack trace); a catalogue missing keys
// and a theme whose colours fail WCAG AA contrast are warnings; the same folder with the mistakes fixed passes.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { runCli } from '../helpers/cli.ts';
import { fixture } from '../unit/branding/fixtures.ts';

/** A real PNG: the branding fixtures' logo (tests/fixtures/branding/images, written for fedgate). */
const png = (): Buffer => fixture('images/logo.png');

function folder(o: {
  catalogue: string;
  logo: Buffer;
  languages: string[];
  rpTheme: string;
  fg: string;
}) {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-branding-check-'));
  mkdirSync(join(dir, 'catalogues'));
  mkdirSync(join(dir, 'themes', 'acme', 'css'), { recursive: true });
  mkdirSync(join(dir, 'themes', 'acme', 'logo'));
  writeFileSync(join(dir, 'catalogues', 'pt.json'), o.catalogue);
  writeFileSync(join(dir, 'themes', 'acme', 'logo', 'logo.png'), o.logo);
  writeFileSync(
    join(dir, 'themes', 'acme', 'css', 'style.css'),
    `:root { --fg: ${o.fg}; --bg: #ffffff; --card-bg: #ffffff; }\nbody { color: var(--fg); }\n`,
  );
  writeFileSync(
    join(dir, 'fedgate.yaml'),
    stringify({
      listen: { port: 0, tls: 'off' },
      log: { level: 'silent' },
      branding: {
        catalogueDir: 'catalogues',
        themesDir: 'themes',
        theme: 'acme',
        languages: o.languages,
      },
      relyingParties: [
        {
          identifier: 'urn:app',
          name: 'App',
          replyUrls: ['https://app.example/'],
          webTheme: o.rpTheme,
        },
      ],
    }),
  );
  return dir;
}

test('fedgate check names every broken catalogue, theme file, language and theme name; fixed, it passes with warnings', () => {
  const broken = folder({
    catalogue: JSON.stringify({ 'signin.title': 'Entrar {x' }),
    logo: Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'),
    languages: ['en', 'pt'],
    rpTheme: 'nosuch',
    fg: '#000000',
  });
  const r = runCli(['check', '--config', join(broken, 'fedgate.yaml')], broken);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /catalogues\/pt\.json: signin\.title: not an ICU message/);
  assert.match(r.stderr, /themes\/acme\/logo\/logo\.png: .*image\/gif.*\.png/);
  assert.match(r.stderr, /relyingParties\[0\]\.webTheme: the theme "nosuch" does not exist/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');

  const unknownLanguage = folder({
    catalogue: JSON.stringify({ 'signin.title': 'Entrar' }),
    logo: png(),
    languages: ['en', 'xx'],
    rpTheme: 'acme',
    fg: '#000000',
  });
  const u = runCli(['check', '--config', join(unknownLanguage, 'fedgate.yaml')], unknownLanguage);
  assert.equal(u.status, 2, u.stderr);
  assert.match(u.stderr, /branding\.languages: there is no catalogue for "xx"/);

  const fixed = folder({
    catalogue: JSON.stringify({ 'signin.title': 'Entrar' }),
    logo: png(),
    languages: ['en', 'pt'],
    rpTheme: 'acme',
    fg: '#999999',
  });
  const ok = runCli(['check', '--config', join(fixed, 'fedgate.yaml')], fixed);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /configuration OK/);
  // Warnings: the Portuguese catalogue lacks almost every key; #999 on white is 2.85:1, under AA's 4.5:1.
  assert.match(ok.stderr, /warning: catalogue pt: \d+ keys missing \(shown in English\)/);
  assert.match(ok.stderr, /warning: .*--fg.*2\.8/);
});
