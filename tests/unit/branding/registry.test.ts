// ThemeRegistry (server/branding/registry.ts) on the memory store: start-up checks, in-place edits picked up by
// refresh(), a broken edit keeping the last good version (and logged), the store's active name. The farm-wide switch
// through Redis from the CLI is in tests/integration/theme-cli.test.ts.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { hashedName } from '../../../server/branding/assets.ts';
import { ACTIVE_THEME_KEY, checkThemes, ThemeRegistry } from '../../../server/branding/registry.ts';
import { ThemeError } from '../../../server/branding/theme.ts';
import { FixedClock } from '../../../server/lib/clock.ts';
import { MemoryStore } from '../../../server/stores/memory.ts';
import { fixture, themeDir } from './fixtures.ts';

class Lines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    for (const l of chunk.toString('utf8').split('\n'))
      if (l !== '') this.lines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  }
  events(name: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l.event === name);
  }
}

function setup(active = 'default', extra: Record<string, Record<string, string | Buffer>> = {}) {
  const shippedDir = themeDir({ 'css/style.css': ':root { --fg: #111; --bg: #fff }' });
  const themesDir = themeDir({});
  for (const [name, files] of Object.entries({
    blue: { 'css/style.css': 'body { color: #003 }', 'logo/logo.png': fixture('images/logo.png') },
    ...extra,
  })) {
    for (const [rel, body] of Object.entries(files)) {
      mkdirSync(join(themesDir, name, rel, '..'), { recursive: true });
      writeFileSync(join(themesDir, name, rel), body);
    }
  }
  const clock = new FixedClock();
  const store = new MemoryStore(clock);
  const logs = new Lines();
  const registry = new ThemeRegistry({
    shippedDir,
    themesDir,
    active,
    store,
    clock,
    log: pino({ level: 'info' }, logs),
  });
  return { shippedDir, themesDir, store, logs, registry };
}

const cssOf = (r: ThemeRegistry): string => r.asset(r.current().stylesheet!)!.body.toString('utf8');

describe('ThemeRegistry', () => {
  test('load(): the shipped theme and each folder; assets by hashed name', () => {
    const { registry } = setup();
    registry.load();
    assert.equal(registry.current().name, 'default');
    assert.deepEqual(registry.names().sort(), ['blue', 'default']);
    const blue = registry.byName('blue');
    assert.ok(blue !== undefined);
    assert.equal(registry.asset(blue.logo!.invariant!)?.type, 'image/png');
    assert.equal(blue.logo?.invariant, hashedName(fixture('images/logo.png'), 'png'));
    assert.equal(registry.asset('0000000000000000.css'), undefined);
    assert.equal(registry.byName('nope'), undefined);
  });

  test('load(): an invalid theme stops the start naming the file', () => {
    const { registry, themesDir } = setup('default', {
      bad: { 'css/style.css': '@import "x.css";' },
    });
    assert.throws(
      () => {
        registry.load();
      },
      (err: unknown) =>
        err instanceof ThemeError && err.file === join(themesDir, 'bad/css/style.css'),
    );
  });

  test('load(): a configured theme that does not exist is refused; a folder named default too', () => {
    assert.throws(() => {
      setup('green').registry.load();
    }, /the configured theme "green" does not exist/);
    assert.throws(() => {
      setup('default', { default: { 'css/style.css': 'a{}' } }).registry.load();
    }, /"default" is the shipped theme's name/);
  });

  test('refresh(): an in-place edit is picked up; the old stylesheet stays servable once', async () => {
    const { registry, themesDir, logs } = setup('blue');
    registry.load();
    const before = registry.current().stylesheet!;
    await registry.refresh();
    assert.equal(registry.current().stylesheet, before, 'nothing changed: nothing reloaded');
    assert.equal(logs.events('theme_loaded').length, 0);
    writeFileSync(
      join(themesDir, 'blue/css/style.css'),
      'body { color: #000033; background: #fff }',
    );
    await registry.refresh();
    assert.notEqual(registry.current().stylesheet, before);
    assert.match(cssOf(registry), /#000033/);
    assert.ok(
      registry.asset(before) !== undefined,
      'a page rendered before the edit still gets its stylesheet',
    );
    assert.equal(logs.events('theme_loaded').length, 1);
  });

  test('refresh(): a broken edit keeps the last good theme and is logged with the file and reason', async () => {
    const { registry, themesDir, logs } = setup('blue');
    registry.load();
    const good = registry.current();
    writeFileSync(
      join(themesDir, 'blue/css/style.css'),
      'body { background: url(https://cdn.example/x.png) }',
    );
    await registry.refresh();
    assert.equal(registry.current(), good);
    const invalid = logs.events('theme_invalid')[0];
    assert.ok(invalid !== undefined);
    assert.equal(invalid.theme, 'blue');
    assert.equal(invalid.file, join(themesDir, 'blue/css/style.css'));
    assert.match(String(invalid.reason), /points outside the theme/);
    // Not logged again while the files stay as they are; fixed files are taken.
    await registry.refresh();
    assert.equal(logs.events('theme_invalid').length, 1);
    writeFileSync(join(themesDir, 'blue/css/style.css'), 'body { color: #010101 }');
    await registry.refresh();
    assert.match(cssOf(registry), /#010101/);
  });

  test('refresh(): the active name from the store switches; an unknown name is logged and ignored', async () => {
    const { registry, store, logs } = setup();
    registry.load();
    await store.put('activeTheme', ACTIVE_THEME_KEY, 'blue');
    await registry.refresh();
    assert.equal(registry.current().name, 'blue');
    assert.equal(logs.events('theme_switched').length, 1);
    await store.put('activeTheme', ACTIVE_THEME_KEY, 'purple');
    await registry.refresh();
    assert.equal(registry.current().name, 'blue');
    assert.equal(logs.events('theme_unknown')[0]?.theme, 'purple');
    await store.destroy('activeTheme', ACTIVE_THEME_KEY);
    await registry.refresh();
    assert.equal(registry.current().name, 'default', 'no stored name: the configured theme');
  });

  test('refresh(): a theme folder added later is loaded; a bad new one is not', async () => {
    const { registry, themesDir, store, logs } = setup();
    registry.load();
    mkdirSync(join(themesDir, 'late/css'), { recursive: true });
    writeFileSync(join(themesDir, 'late/css/style.css'), 'a { color: #123 }');
    mkdirSync(join(themesDir, 'worse/logo'), { recursive: true });
    writeFileSync(join(themesDir, 'worse/logo/logo.png'), 'not a png');
    await store.put('activeTheme', ACTIVE_THEME_KEY, 'late');
    await registry.refresh();
    assert.equal(registry.current().name, 'late');
    assert.equal(registry.byName('worse'), undefined);
    assert.equal(logs.events('theme_invalid')[0]?.theme, 'worse');
    rmSync(join(themesDir, 'late'), { recursive: true });
    await registry.refresh();
    assert.equal(registry.current().name, 'late', 'a removed folder keeps its last good version');
  });

  test('checkThemes(): every broken theme and the missing active one reported, warnings kept', () => {
    const { shippedDir, themesDir } = setup('default', {
      bad1: { 'css/style.css': '@import "x.css";' },
      bad2: { 'logo/logo.png': 'not a png' },
      warned: { 'css/style.css': ':root { --fg: #777; --bg: #fff }', 'notes.txt': 'x' },
    });
    const r = checkThemes({ shippedDir, themesDir, active: 'green' });
    assert.deepEqual(r.themes, ['blue', 'default', 'warned']);
    assert.equal(r.problems.length, 3, r.problems.join('\n'));
    assert.ok(
      r.problems[0]!.startsWith(`theme bad1: ${join(themesDir, 'bad1/css/style.css')}: @import`),
    );
    assert.ok(r.problems[1]!.startsWith(`theme bad2: ${join(themesDir, 'bad2/logo/logo.png')}: `));
    assert.match(r.problems[2]!, /^branding\.theme: the theme "green" does not exist/);
    assert.equal(r.warnings.length, 2);
    assert.ok(r.warnings.every((w) => w.startsWith('theme warned: ')));
  });

  test('start()/stop(): the timer does not keep the process alive', () => {
    const { registry } = setup();
    registry.load();
    registry.start();
    registry.stop();
  });
});
