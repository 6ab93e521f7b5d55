import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { resolveConfig } from '../../server/config/load.ts';
import { root } from './farm.ts';

const run = promisify(execFile);
const docker = (f: string): string => readFileSync(join(root, 'docker', f), 'utf8');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  environment?: Record<string, string>;
  volumes?: string[];
  read_only?: boolean;
  user?: string;
  stop_signal?: string;
  networks?: unknown;
}

/** compose.yaml, with YAML anchors/merges resolved, and `${VAR:?…}` left as text (no engine here). */
function compose(): { services: Record<string, ComposeService> } {
  return parse(docker('compose.yaml'), { merge: true }) as {
    services: Record<string, ComposeService>;
  };
}

test('compose.yaml: HAProxy + three fedgate nodes on Redis + a Samba DC, nodes hardened', () => {
  const c = compose();
  assert.deepEqual(Object.keys(c.services).sort(), [
    'fedgate1',
    'fedgate2',
    'fedgate3',
    'haproxy',
    'redis',
    'samba',
  ]);
  for (const name of ['fedgate1', 'fedgate2', 'fedgate3']) {
    const s = c.services[name];
    assert.ok(s !== undefined);
    assert.equal(s.build?.dockerfile, 'docker/Dockerfile');
    assert.equal(s.read_only, true, `${name} read-only root FS`);
    assert.equal(s.user, 'node');
    assert.equal(s.stop_signal, 'SIGTERM');
    assert.match(s.environment?.FEDGATE_STORE__URL ?? '', /^redis:\/\/.*@redis:6379$/);
    assert.ok(s.environment?.FEDGATE_SESSION__SECRETS !== undefined, 'shared session secret');
    assert.ok(s.volumes?.some((v) => v.startsWith('./fedgate.yaml:') && v.endsWith(':ro')));
  }
  const lb = c.services.haproxy;
  assert.ok(lb !== undefined);
  assert.ok(lb.volumes?.includes('./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro'));
  // Every variable the config file reads is set by compose.
  const vars = [...docker('haproxy.cfg').matchAll(/"\$\{([A-Z0-9_]+)\}"/g)].map((m) => m[1]);
  for (const v of new Set(vars))
    assert.ok(v !== undefined && lb.environment?.[v] !== undefined, `compose sets ${v}`);
  // The LB's address on the farm network is the one the nodes trust.
  const cfg = parse(docker('fedgate.yaml')) as { listen: { trustedProxies: string[] } };
  assert.deepEqual(cfg.listen.trustedProxies, [lb.environment?.FEDGATE_LB_SOURCE]);
});

test('docker/fedgate.yaml is a valid fedgate configuration (with the environment compose sets)', () => {
  const doc = parse(docker('fedgate.yaml')) as unknown;
  const c = resolveConfig(doc, {
    env: {
      FEDGATE_STORE__URL: 'redis://:pw@redis:6379',
      FEDGATE_SESSION__SECRETS: 'x'.repeat(40),
    },
    baseDir: '/etc/fedgate',
    source: 'docker/fedgate.yaml',
    embeddedDefaults: false,
  });
  assert.equal(c.store.kind, 'redis');
  assert.equal(c.listen.tls, 'off');
  assert.equal(c.management.port, 9090);
  // Drain longer than HAProxy's inter 2s x fall 3.
  assert.ok(c.shutdown.drainDelayMs > 6000);
});

test('Dockerfile: multi-stage, Node LTS, non-root, healthcheck, keys mounted not baked', () => {
  const f = docker('Dockerfile');
  assert.ok((f.match(/^FROM /gm) ?? []).length >= 2, 'multi-stage');
  assert.match(f, /ARG NODE_IMAGE=node:24-/);
  assert.match(f, /^USER node$/m);
  assert.match(f, /^HEALTHCHECK .*\n?.*healthz\/live/m);
  assert.match(f, /FEDGATE_LISTEN__TLS=off/);
  assert.doesNotMatch(f, /COPY[^\n]*\bkeys\b/, 'no key material copied into the image');
  assert.match(f, /VOLUME \["\/var\/lib\/fedgate\/keys"\]/);
  // Every instruction is one Docker knows (a linter-lite: hadolint is not available here).
  const known =
    /^(FROM|ARG|ENV|WORKDIR|COPY|RUN|USER|EXPOSE|VOLUME|HEALTHCHECK|STOPSIGNAL|ENTRYPOINT|CMD|LABEL)\b/;
  const lines = f.replace(/\\\n/g, ' ').split('\n');
  for (const l of lines) {
    if (l.trim() === '' || l.startsWith('#') || l.startsWith(' ')) continue;
    assert.match(l, known, `unknown instruction: ${l}`);
  }
  for (const p of ['views', 'metadata', 'server', 'package-lock.json'])
    assert.ok(existsSync(join(root, p)));
});

test('haproxy.cfg passes `haproxy -c` with the farm environment; no stickiness; probes /adfs/probe', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-haproxy-'));
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    join(dir, 'k'),
    '-out',
    join(dir, 'c'),
    '-subj',
    '/CN=sts.corp.example.test',
    '-days',
    '1',
  ]);
  writeFileSync(
    join(dir, 'tls.pem'),
    readFileSync(join(dir, 'c'), 'utf8') + readFileSync(join(dir, 'k'), 'utf8'),
  );
  const env = {
    ...compose().services.haproxy?.environment,
    FEDGATE_LB_CERT: join(dir, 'tls.pem'),
  };
  const out = await run('haproxy', ['-c', '-f', join(root, 'docker/haproxy.cfg')], {
    env: { PATH: process.env.PATH, ...env },
  });
  assert.match(out.stdout, /Configuration file is valid/);
  const cfg = docker('haproxy.cfg');
  assert.doesNotMatch(cfg, /^\s*(cookie|stick|stick-table)\b/m, 'no sticky sessions');
  assert.match(cfg, /uri \/adfs\/probe/);
  assert.match(cfg, /http-request set-header X-Forwarded-For %\[src\]/);
  assert.match(cfg, /frontend fe_certauth\n\s+mode tcp/);
  // A deliberately broken copy is refused (the check can fail).
  writeFileSync(join(dir, 'bad.cfg'), cfg.replace('balance roundrobin', 'balance nonsense'));
  await assert.rejects(
    run('haproxy', ['-c', '-f', join(dir, 'bad.cfg')], { env: { PATH: process.env.PATH, ...env } }),
  );
});

test('nginx.conf: upstream of three nodes, headers overwritten, ops endpoints hidden, nginx -t passes', async () => {
  const f = docker('nginx.conf');
  assert.equal((f.match(/server fedgate\d:8080/g) ?? []).length, 3);
  assert.match(f, /proxy_set_header X-Forwarded-For \$remote_addr;/);
  assert.doesNotMatch(f, /proxy_add_x_forwarded_for|ip_hash|sticky/);
  assert.match(f, /location \/metrics \{ return 404; \}/);
  let opens = 0;
  for (const ch of f.replace(/#.*$/gm, '')) {
    if (ch === '{') opens++;
    if (ch === '}') opens--;
    assert.ok(opens >= 0);
  }
  assert.equal(opens, 0, 'balanced braces');
  // tests/setup/prepare.sh installs nginx: the real parser checks the file, never skipped.
  assert.ok(existsSync('/usr/sbin/nginx'), 'nginx is installed (tests/setup/prepare.sh)');
  {
    // nginx -t needs the upstream names to resolve: check a copy pointing at loopback.
    const dir = mkdtempSync(join(tmpdir(), 'fedgate-nginx-'));
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'tls.key'),
      '-out',
      join(dir, 'tls.crt'),
      '-subj',
      '/CN=x',
      '-days',
      '1',
    ]);
    // Debian builds the stream module as a dynamic module (libnginx-mod-stream); the official image has it built in.
    const streamModule = '/usr/lib/nginx/modules/ngx_stream_module.so';
    const load = existsSync(streamModule) ? `load_module ${streamModule};\n` : '';
    const copy = (load + f)
      .replace(/fedgate\d:/g, '127.0.0.1:')
      .replace(/\/etc\/nginx\/tls\//g, `${dir}/`)
      // nginx -t binds nothing, but port 0 is not a valid listen port for it.
      .replace(/listen 443 ssl/, 'listen 127.0.0.1:18443 ssl')
      .replace(/listen 49443/, 'listen 127.0.0.1:19443')
      // The container logs to its stdout/stderr; under the test runner those may be sockets nginx cannot open.
      .replace(/access_log \/dev\/stdout;/, `access_log ${dir}/access.log;`)
      .replace(/error_log \/dev\/stderr warn;/, `error_log ${dir}/error.log warn;`);
    writeFileSync(join(dir, 'nginx.conf'), copy);
    await run('/usr/sbin/nginx', ['-t', '-c', join(dir, 'nginx.conf'), '-p', dir]);
  }
});
