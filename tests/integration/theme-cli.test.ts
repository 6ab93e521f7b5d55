// `fedgate theme export|import|list|check|use`, spawned as an operator runs it (tests/helpers/cli.ts). The farm-wide
// switch goes through a real Redis: the CLI process writes the active theme, two ThemeRegistry instances in this
// process (two nodes) pick it up at their next refresh().
import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { parse, stringify } from 'yaml';
import { ThemeRegistry } from '../../server/branding/registry.ts';
import { loadConfig } from '../../server/config/load.ts';
import { systemClock } from '../../server/lib/clock.ts';
import { createStore } from '../../server/stores/index.ts';
import type { ArtifactStore } from '../../server/stores/types.ts';
import { runCli } from '../helpers/cli.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const FIX = join(root, 'tests/fixtures/branding');
const SHIPPED = join(root, 'views/themes/default');

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `fedgate-theme-${prefix}-`));
}

/** Every file under `dir`, relative, with '/'. */
function files(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => statSync(join(dir, f)).isFile())
    .map((f) => f.split('\\').join('/'))
    .sort();
}

describe('fedgate theme import / export / check', () => {
  test('import: AD FS export folder + UTF-16LE web content array -> theme folder and branding YAML', () => {
    const out = join(tmp('import'), 'contoso');
    const r = runCli(
      [
        'theme',
        'import',
        '--adfs-theme',
        join(FIX, 'adfs-export/contoso'),
        '--web-content',
        join(FIX, 'web-content.utf16le-bom.json'),
        '--out',
        out,
      ],
      root,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(files(out), [
      'css/style.css',
      'css/style.rtl.css',
      'illustration/illustration.png',
      'images/bullet.gif',
      'logo/logo.de.png',
      'logo/logo.png',
      'web-content.yaml',
    ]);
    // Theme files are copied byte for byte; the onload script is left behind with the reason on standard error.
    assert.deepEqual(
      readFileSync(join(out, 'css/style.css')),
      readFileSync(join(FIX, 'adfs-export/contoso/css/style.css')),
    );
    assert.match(r.stderr, /script\/onload\.js: not used: .*Content-Security-Policy/);
    assert.match(r.stderr, /ErrorPageDescriptionText contains HTML/);
    const yaml = readFileSync(join(out, 'web-content.yaml'), 'utf8');
    assert.ok(r.stdout.includes(yaml.trimEnd()), 'the YAML is printed too');
    assert.deepEqual(parse(yaml), {
      branding: {
        webContent: {
          companyName: 'Contoso',
          helpDeskLink: 'https://help.contoso.com/',
          helpDeskLinkText: 'IT help desk',
          homeLink: 'https://www.contoso.com/',
          homeLinkText: 'Contoso home',
          privacyLink: 'https://www.contoso.com/privacy',
          privacyLinkText: 'Privacy',
          signInPageDescriptionText: 'Sign in with your Contoso account.',
          errorPageDescriptionText: 'Something went wrong. <b>Call the help desk.</b>',
          errorPageGenericErrorMessage: 'An error occurred.',
          errorPageAuthorizationErrorMessage: 'You are not allowed to use this application.',
          errorPageSupportEmail: 'helpdesk@contoso.com',
          updatePasswordPageDescriptionText: 'Passwords must be 12 characters or more.',
          locales: {
            de: {
              companyName: 'Contoso GmbH',
              helpDeskLinkText: 'IT-Servicedesk',
              signInPageDescriptionText: 'Melden Sie sich mit Ihrem Contoso-Konto an.',
            },
            'fr-fr': {
              companyName: 'Contoso France',
              privacyLink: 'https://www.contoso.com/fr/confidentialite',
              signInPageDescriptionText: 'Connectez-vous avec votre compte Contoso.',
            },
          },
        },
      },
    });
    // The imported folder passes the same check startup makes.
    const check = runCli(['theme', 'check', out], root);
    assert.equal(check.status, 0, check.stderr);
    assert.match(
      check.stdout,
      /theme OK: .*stylesheet, RTL stylesheet, logo \(invariant\) \[de\], illustration \(invariant\)/,
    );
    // The YAML is a configuration fedgate accepts as it is.
    const cfg = runCli(['check', '--config', join(out, 'web-content.yaml')], root);
    assert.equal(cfg.status, 0, cfg.stderr);
  });

  test('import: web content alone (UTF-8 BOM) writes only web-content.yaml', () => {
    const out = join(tmp('wc'), 'o');
    const r = runCli(
      ['theme', 'import', '--web-content', join(FIX, 'web-content.utf8-bom.json'), '--out', out],
      root,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(files(out), ['web-content.yaml']);
    assert.match(r.stdout, /companyName: Fabrikam/);
  });

  test('import: a javascript: link is refused naming the file; nothing is written', () => {
    const out = join(tmp('bad'), 'o');
    const r = runCli(
      [
        'theme',
        'import',
        '--adfs-theme',
        join(FIX, 'adfs-export/contoso'),
        '--web-content',
        join(FIX, 'web-content.javascript-link.json'),
        '--out',
        out,
      ],
      root,
    );
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /web-content\.javascript-link\.json: invariant content: HelpDeskLink: .*only http, https and mailto/,
    );
    assert.equal(existsSync(out), false);
  });

  test('import: a bad theme file is refused naming it; a non-empty --out needs --force', () => {
    const src = tmp('src');
    cpSync(join(FIX, 'adfs-export/contoso'), src, { recursive: true });
    writeFileSync(join(src, 'logo/logo.png'), '<svg onload="alert(1)"/>');
    const out = join(tmp('bad2'), 'o');
    const r = runCli(['theme', 'import', '--adfs-theme', src, '--out', out], root);
    assert.equal(r.status, 1);
    assert.ok(
      r.stderr.includes(`${join(src, 'logo/logo.png')}: the content is not image/png`),
      r.stderr,
    );

    const full = tmp('full');
    writeFileSync(join(full, 'keep.txt'), 'x');
    const refused = runCli(
      ['theme', 'import', '--adfs-theme', join(FIX, 'adfs-export/contoso'), '--out', full],
      root,
    );
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /not empty.*--force/);
    const forced = runCli(
      [
        'theme',
        'import',
        '--adfs-theme',
        join(FIX, 'adfs-export/contoso'),
        '--out',
        full,
        '--force',
      ],
      root,
    );
    assert.equal(forced.status, 0, forced.stderr);
  });

  test('export then check: the shipped theme round-trips; a non-empty folder needs --force', () => {
    const out = join(tmp('export'), 'mine');
    const r = runCli(['theme', 'export', out], root);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(files(out), files(SHIPPED));
    for (const f of files(SHIPPED))
      assert.deepEqual(readFileSync(join(out, f)), readFileSync(join(SHIPPED, f)));
    const check = runCli(['theme', 'check', out], root);
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, /^theme OK/);
    assert.equal(check.stderr, '', 'the shipped theme has no warnings (contrast included)');
    const again = runCli(['theme', 'export', out], root);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /not empty/);
    assert.equal(runCli(['theme', 'export', out, '--force'], root).status, 0);
  });

  test('check: a bad folder exits 1 naming the file and the reason; contrast problems are warnings', () => {
    const dir = tmp('check');
    mkdirSync(join(dir, 'css'));
    writeFileSync(join(dir, 'css/style.css'), '@import url("https://cdn.example/x.css");');
    const r = runCli(['theme', 'check', dir], root);
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      `fedgate: ${join(dir, 'css/style.css')}: @import is not accepted: put every rule in this one file\n`,
    );
    writeFileSync(join(dir, 'css/style.css'), ':root { --link: #8ab4f8; --card-bg: #ffffff }');
    const w = runCli(['theme', 'check', dir], root);
    assert.equal(w.status, 0);
    assert.match(
      w.stderr,
      /warning: .*contrast --link \(#8ab4f8\) on --card-bg \(#ffffff\) is 2\.\d\d:1, below 4\.5:1/,
    );
  });
});

describe('fedgate theme use / list', () => {
  let redis: TestRedis;
  let dir: string;
  let themesDir: string;
  const stores: ArtifactStore[] = [];

  before(async () => {
    redis = await startRedis();
    dir = tmp('farm');
    themesDir = join(dir, 'themes');
    cpSync(join(FIX, 'adfs-export/contoso'), join(themesDir, 'contoso'), { recursive: true });
    writeFileSync(
      join(dir, 'redis.yaml'),
      stringify({ store: { kind: 'redis', url: redis.url }, log: { level: 'silent' } }),
    );
    writeFileSync(
      join(dir, 'memory.yaml'),
      stringify({ store: { kind: 'memory' }, log: { level: 'silent' } }),
    );
  });
  after(async () => {
    for (const s of stores) await s.close();
    await redis.stop();
  });

  function node(): ThemeRegistry {
    const config = loadConfig({ file: join(dir, 'redis.yaml') });
    const log = pino({ level: 'silent' });
    const store = createStore(config.store, { clock: systemClock, log, baseDir: dir });
    stores.push(store);
    const r = new ThemeRegistry({
      shippedDir: SHIPPED,
      themesDir,
      active: 'default',
      store,
      clock: systemClock,
      log,
    });
    r.load();
    return r;
  }

  test('theme use in the CLI process switches two other registries (nodes) at their next refresh', async () => {
    const a = node();
    const b = node();
    await a.refresh();
    assert.equal(a.current().name, 'default');
    const r = runCli(
      ['theme', 'use', 'contoso', '--config', join(dir, 'redis.yaml'), '--themes-dir', themesDir],
      root,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /active theme set to "contoso"/);
    await a.refresh();
    await b.refresh();
    assert.equal(a.current().name, 'contoso');
    assert.equal(b.current().name, 'contoso');
    assert.ok(b.asset(b.current().stylesheet!) !== undefined);

    const list = runCli(
      ['theme', 'list', '--config', join(dir, 'redis.yaml'), '--themes-dir', themesDir],
      root,
    );
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^contoso \(active\) /m);
    assert.match(list.stdout, /^default \(configured\) /m);
    assert.match(list.stdout, /onload\.js: not used/);

    const back = runCli(['theme', 'use', 'default', '--config', join(dir, 'redis.yaml')], root);
    assert.equal(back.status, 0, back.stderr);
    await a.refresh();
    assert.equal(a.current().name, 'default');
  });

  test('on the Redis-backed registry: an in-place edit is served after refresh, a broken edit keeps the last good one', async () => {
    const logged: Record<string, unknown>[] = [];
    const config = loadConfig({ file: join(dir, 'redis.yaml') });
    const store = createStore(config.store, {
      clock: systemClock,
      log: pino({ level: 'silent' }),
      baseDir: dir,
    });
    stores.push(store);
    const log = pino(
      { level: 'info' },
      { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const r = new ThemeRegistry({
      shippedDir: SHIPPED,
      themesDir,
      active: 'default',
      store,
      clock: systemClock,
      log,
    });
    r.load();
    const use = runCli(
      ['theme', 'use', 'contoso', '--config', join(dir, 'redis.yaml'), '--themes-dir', themesDir],
      root,
    );
    assert.equal(use.status, 0, use.stderr);
    await r.refresh();
    assert.equal(r.current().name, 'contoso');
    const css = join(themesDir, 'contoso/css/style.css');
    const original = readFileSync(css, 'utf8');
    writeFileSync(css, `${original}\n.edited { color: #010203 }\n`);
    await r.refresh();
    assert.match(
      r.asset(r.current().stylesheet!)!.body.toString('utf8'),
      /\.edited \{ color: #010203 \}/,
    );
    const good = r.current();
    writeFileSync(css, `${original}\n@import url("https://cdn.example/x.css");\n`);
    await r.refresh();
    assert.equal(r.current(), good);
    const invalid = logged.find((l) => l.event === 'theme_invalid');
    assert.ok(invalid !== undefined);
    assert.equal(invalid.file, css);
    assert.match(String(invalid.reason), /@import is not accepted/);
    writeFileSync(css, original);
    assert.equal(
      runCli(['theme', 'use', 'default', '--config', join(dir, 'redis.yaml')], root).status,
      0,
    );
  });

  test('theme use refuses an unknown or broken theme, and leaves the farm as it is', async () => {
    const a = node();
    const unknown = runCli(
      ['theme', 'use', 'nope', '--config', join(dir, 'redis.yaml'), '--themes-dir', themesDir],
      root,
    );
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no theme "nope"/);
    cpSync(join(FIX, 'adfs-export/contoso'), join(themesDir, 'broken'), { recursive: true });
    writeFileSync(
      join(themesDir, 'broken/css/style.css'),
      'a { background: url(http://cdn.example/x.png) }',
    );
    const broken = runCli(
      ['theme', 'use', 'broken', '--config', join(dir, 'redis.yaml'), '--themes-dir', themesDir],
      root,
    );
    assert.equal(broken.status, 1);
    assert.ok(broken.stderr.includes(join(themesDir, 'broken/css/style.css')), broken.stderr);
    await a.refresh();
    assert.equal(a.current().name, 'default');
    const list = runCli(
      ['theme', 'list', '--config', join(dir, 'redis.yaml'), '--themes-dir', themesDir],
      root,
    );
    assert.equal(list.status, 1);
    assert.match(list.stderr, /broken {2}INVALID: .*points outside the theme/);
  });

  test('theme use with the memory store exits 2 and says what to do instead', () => {
    const r = runCli(
      ['theme', 'use', 'contoso', '--config', join(dir, 'memory.yaml'), '--themes-dir', themesDir],
      root,
    );
    assert.equal(r.status, 2);
    assert.match(r.stderr, /needs the Redis store/);
    assert.match(r.stderr, /branding\.theme: contoso/);
    assert.match(r.stderr, /restart/);
  });
});
