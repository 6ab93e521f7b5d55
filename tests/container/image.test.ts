/**
 * fedgate's container image (issue 20, "The image"), built from the unchanged docker/Dockerfile with podman and
 * checked as an operator would run it: non-root, read-only root with a tmpfs on /tmp, the configuration mounted
 * read-only and keys on a volume. Real podman, real containers; nothing is skipped: a missing podman or base image
 * fails the suite (tests/setup/podman.sh installs both).
 *
 * The image file system is read through `podman image mount` (rootful podman), so what is checked is exactly what
 * the image ships, whatever a running container adds.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hidden, Jar, wsfedSignInUrl } from '../helpers/app.ts';
import { freePort, waitUntil } from '../helpers/net.ts';
import {
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
} from '../helpers/verify.ts';
import {
  buildCaFile,
  ensureFedgateImage,
  FEDGATE_IMAGE,
  podman,
  podmanOk,
  root,
  run,
} from './images.ts';

const IMAGE = FEDGATE_IMAGE;
const TEST_RP = 'urn:fedgate:test';
const ALICE = { user: 'alice@fedgate.test', password: 'Passw0rd!' };
const tag = `fedgate-imgtest-${String(process.pid)}`;
let serial = 0;
const containers: string[] = [];
const volumes: string[] = [];
let dir = '';
let mount = '';

/** The operator's configuration: embedded demo directory, memory store, plain HTTP behind a proxy, management 9090. */
function configYaml(extra = ''): string {
  return [
    'hostname: sts.example.test',
    'listen: { host: 0.0.0.0, port: 8080, tls: "off" }',
    'directory: { kind: embedded }',
    'store: { kind: memory }',
    'testRelyingParty: true',
    'management: { host: 0.0.0.0, port: 9090 }',
    'shutdown: { drainDelayMs: 2000, timeoutMs: 5000 }',
    extra,
  ].join('\n');
}

function writeConfig(name: string, text: string): string {
  const file = join(dir, name);
  // Read by the container's user (uid 1000), not the test's.
  writeFileSync(file, `${text}\n`, { mode: 0o644 });
  return file;
}

async function newVolume(): Promise<string> {
  const v = `${tag}-keys-${String(++serial)}`;
  await podmanOk('volume', 'create', v);
  volumes.push(v);
  return v;
}

/** The flags of a locked-down run: read-only root, only /tmp as tmpfs (podman's extra /run and /var/tmp off). */
const READ_ONLY = ['--read-only', '--read-only-tmpfs=false', '--tmpfs', '/tmp'];

interface Started {
  name: string;
  port: number;
  volume: string;
}

async function logsOf(name: string): Promise<string> {
  const r = await podman('logs', name);
  return r.stdout + r.stderr;
}

async function probe(port: number): Promise<number | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${String(port)}/adfs/probe`, {
      signal: AbortSignal.timeout(2000),
    });
    await r.arrayBuffer();
    return r.status;
  } catch {
    return undefined;
  }
}

async function running(name: string): Promise<boolean> {
  const r = await podman('inspect', '--format', '{{.State.Running}}', name);
  return r.stdout.trim() === 'true';
}

/**
 * Starts the server the way the README tells an operator to: read-only root, tmpfs /tmp, the configuration file
 * mounted read-only (or none: embedded defaults, FEDGATE_CONFIG set empty), keys on a volume, port published on
 * loopback. Resolves when /adfs/probe answers 200.
 */
async function startServer(opts: {
  config: string | null;
  volume?: string;
  env?: Record<string, string>;
}): Promise<Started> {
  const name = `${tag}-${String(++serial)}`;
  const port = await freePort();
  const volume = opts.volume ?? (await newVolume());
  containers.push(name);
  await podmanOk(
    'run',
    '-d',
    '--name',
    name,
    ...READ_ONLY,
    ...(opts.config === null
      ? ['-e', 'FEDGATE_CONFIG=']
      : ['-v', `${opts.config}:/etc/fedgate/fedgate.yaml:ro`]),
    ...Object.entries(opts.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    '-v',
    `${volume}:/var/lib/fedgate/keys`,
    '-p',
    `127.0.0.1:${String(port)}:8080`,
    IMAGE,
  );
  let exited = false;
  await waitUntil(
    () => `${name} answers 200 on /adfs/probe (exited: ${String(exited)})`,
    async () => {
      if ((await probe(port)) === 200) return true;
      if (!(await running(name))) {
        exited = true;
        throw new Error(`${name} exited before it was ready:\n${await logsOf(name)}`);
      }
      return false;
    },
    { timeoutMs: 60_000, intervalMs: 50 },
  );
  return { name, port, volume };
}

/**
 * `docker run --rm … <args>`: a CLI command in a fresh, locked-down container. A command that never ends (an image
 * that ignores its arguments and serves) is removed after two minutes, so the test fails instead of hanging.
 */
async function cli(
  args: string[],
  opts: { config?: string; volume?: string } = {},
): Promise<{ status: number; stdout: string; stderr: string }> {
  const name = `${tag}-cli-${String(++serial)}`;
  containers.push(name);
  const watchdog = setTimeout(() => void podman('rm', '-f', '-t', '0', name), 120_000);
  try {
    return await podman(
      'run',
      '--rm',
      '--name',
      name,
      ...READ_ONLY,
      ...(opts.config === undefined ? [] : ['-v', `${opts.config}:/etc/fedgate/fedgate.yaml:ro`]),
      ...(opts.volume === undefined ? [] : ['-v', `${opts.volume}:/var/lib/fedgate/keys`]),
      IMAGE,
      ...args,
    );
  } finally {
    clearTimeout(watchdog);
  }
}

/** A node script run inside a container (node is the only interpreter the image has, on purpose). */
async function nodeIn(container: string, script: string): Promise<string> {
  return podmanOk('exec', container, 'node', '-e', script);
}

let config = '';
let main: Started;
let imageConfig: { User: string; Env: string[] };
/** podman keeps the image's HEALTHCHECK beside its Config (docker format images only: BUILDAH_FORMAT=docker). */
let healthcheck: { Test?: string[] } | null | undefined;

describe('the fedgate container image', () => {
  before(
    async () => {
      const built = await ensureFedgateImage();
      process.stdout.write(
        `# image ${built.image}: ${built.built ? `built in ${String(built.ms)} ms` : 'reused (same sources)'}\n`,
      );
      dir = mkdtempSync(join(tmpdir(), 'fedgate-image-'));
      config = writeConfig('fedgate.yaml', configYaml());
      const inspect = JSON.parse(await podmanOk('image', 'inspect', IMAGE)) as {
        Config: typeof imageConfig;
        Healthcheck?: typeof healthcheck;
      }[];
      imageConfig = inspect[0]!.Config;
      healthcheck = inspect[0]!.Healthcheck;
      mount = (await podmanOk('image', 'mount', IMAGE)).trim();
      main = await startServer({ config });
    },
    { timeout: 20 * 60_000 },
  );

  after(async () => {
    for (const c of containers) await podman('rm', '-f', '-t', '0', c);
    for (const v of volumes) await podman('volume', 'rm', '-f', v);
    if (mount !== '') await podman('image', 'unmount', IMAGE);
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  test('runs as a non-root user: the image config names one, and the server process has uid and gid ≠ 0 and no capabilities', async (t) => {
    const user = imageConfig.User;
    assert.ok(!['', 'root', '0', '0:0'].includes(user), `image User is "${user}"`);
    const name = user.split(':')[0]!;
    const passwd = readFileSync(join(mount, 'etc/passwd'), 'utf8');
    const entry = passwd.split('\n').find((l) => l.split(':')[0] === name);
    const uid = /^\d+$/.test(name) ? Number(name) : Number(entry?.split(':')[2]);
    assert.ok(
      Number.isInteger(uid) && uid !== 0,
      `image User ${user} resolves to uid ${String(uid)}`,
    );

    // The server is PID 1 of its container (exec form ENTRYPOINT, no shell in between).
    const status = await podmanOk('exec', main.name, 'cat', '/proc/1/status');
    const field = (k: string): string[] =>
      (new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/);
    t.diagnostic(`PID 1: Uid ${field('Uid').join(' ')}, Gid ${field('Gid').join(' ')}`);
    assert.deepEqual(field('Uid'), Array(4).fill(String(uid)), 'real, effective, saved, fs uid');
    for (const g of field('Gid')) assert.notEqual(g, '0', 'gid');
    for (const g of field('Groups').filter((x) => x !== ''))
      assert.notEqual(g, '0', 'supplementary group root');
    assert.match(field('CapEff')[0] ?? '', /^0+$/, 'no effective capabilities');
    const cmd = await podmanOk('exec', main.name, 'cat', '/proc/1/cmdline');
    assert.match(cmd, /^node\0/, 'PID 1 is node itself');
  });

  test('the application files are not writable by the server user, even without --read-only', async (t) => {
    // Defence in depth under a writable root: the code and configuration directory belong to root.
    const r = await podman(
      'run',
      '--rm',
      '--entrypoint',
      'node',
      IMAGE,
      '-e',
      `const fs=require('fs'),p=require('path');const w=[];let n=0;
       const visit=(f)=>{let s;try{s=fs.lstatSync(f)}catch{return}if(s.isSymbolicLink())return;n++;
         try{fs.accessSync(f,fs.constants.W_OK);w.push(f)}catch{}
         if(s.isDirectory())for(const e of fs.readdirSync(f))visit(p.join(f,e))};
       for(const r of ['/opt/fedgate','/etc/fedgate','/usr/local/bin'])visit(r);
       console.log(JSON.stringify({n,w}))`,
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { n: number; w: string[] };
    t.diagnostic(`${String(out.n)} paths under /opt/fedgate, /etc/fedgate, /usr/local/bin checked`);
    assert.deepEqual(out.w, [], 'writable by the server user');
  });

  test('read-only root: probe 200 and a full WS-Fed sign-in through the published port, signature verified against the metadata', async (t) => {
    assert.equal(await probe(main.port), 200);
    const base = `http://127.0.0.1:${String(main.port)}`;
    const jar = new Jar();
    const take = (r: Response): void => {
      jar.take({ headers: { 'set-cookie': r.headers.getSetCookie() } });
    };
    const page = await fetch(base + wsfedSignInUrl(TEST_RP), { redirect: 'manual' });
    take(page);
    const html = await page.text();
    assert.equal(page.status, 200, html.slice(0, 300));
    const res = await fetch(`${base}/adfs/ls/`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        AuthState: hidden(html, 'AuthState'),
        csrf: hidden(html, 'csrf'),
        UserName: ALICE.user,
        Password: ALICE.password,
        AuthMethod: 'FormsAuthentication',
      }).toString(),
    });
    const body = await res.text();
    assert.equal(res.status, 200, body.slice(0, 300));
    const wresult = hidden(body, 'wresult');
    const metadata = await (
      await fetch(`${base}/FederationMetadata/2007-06/FederationMetadata.xml`)
    ).text();
    const [cert] = certFromMetadata(metadata);
    assert.ok(cert !== undefined, 'a signing certificate in the metadata');
    const claims = verifySaml11WithXmlCrypto(extractAssertionFromRstr(wresult), cert);
    assert.equal(claims.audience, TEST_RP);
    assert.deepEqual(claims.attributes['http://schemas.xmlsoap.org/claims/UPN'], [ALICE.user]);
    t.diagnostic(`assertion ${claims.assertionId} for ${ALICE.user}, verified with xml-crypto`);

    // The signing key the server generated on first start is on the keys volume, not in the image's layers.
    const keys = await podmanOk('exec', main.name, 'ls', '/var/lib/fedgate/keys');
    assert.match(keys, /token-signing\.key\.pem/);
  });

  test('read-only root: nothing outside /tmp and the keys volume can be written', async (t) => {
    const out = JSON.parse(
      await nodeIn(
        main.name,
        `const fs=require('fs'),p=require('path');const skip=new Set(['/proc','/sys','/dev']);
         const dirs=[],files=[];let n=0;
         const visit=(d)=>{if(skip.has(d))return;let s;try{s=fs.lstatSync(d)}catch{return}
           if(s.isSymbolicLink())return;
           if(!s.isDirectory()){try{fs.accessSync(d,fs.constants.W_OK);files.push(d)}catch{}return}
           n++;const f=p.join(d,'.fedgate-write-probe');
           try{fs.writeFileSync(f,'x',{flag:'wx'});fs.unlinkSync(f);dirs.push(d)}catch{}
           let es=[];try{es=fs.readdirSync(d)}catch{}for(const e of es)visit(p.join(d,e))};
         visit('/');console.log(JSON.stringify({n,dirs,files}))`,
      ),
    ) as { n: number; dirs: string[]; files: string[] };
    t.diagnostic(
      `${String(out.n)} directories tried; writable: ${out.dirs.join(', ')}; writable files: ${out.files.join(', ') || 'none'}`,
    );
    const inside = (f: string): boolean =>
      f.startsWith('/tmp/') || f.startsWith('/var/lib/fedgate/keys/');
    assert.deepEqual(out.dirs.filter((d) => !inside(d)).sort(), ['/tmp', '/var/lib/fedgate/keys']);
    // Files the engine bind-mounts per container (not the image's) may be writable; every other file must not be.
    const engine = new Set([
      '/etc/hosts',
      '/etc/hostname',
      '/etc/resolv.conf',
      '/run/.containerenv',
    ]);
    assert.deepEqual(
      out.files.filter((f) => !inside(f) && !engine.has(f)),
      [],
    );
  });

  test('no build tools, sources, dev dependencies or package manager in the runtime stage', (t) => {
    const app = join(mount, 'opt/fedgate');
    assert.deepEqual(readdirSync(app).sort(), [
      'dist',
      'metadata',
      'node_modules',
      'package.json',
      'views',
    ]);
    // No TypeScript of fedgate's own, no tsconfig: only compiled JavaScript (and its source maps) in dist/.
    const own: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory() && e.name !== 'node_modules') walk(p);
        else if (/\.(c|m)?ts$|^tsconfig.*\.json$/.test(e.name)) own.push(p.slice(app.length));
      }
    };
    walk(app);
    assert.deepEqual(own, [], 'TypeScript sources or tsconfig outside node_modules');

    // node_modules is exactly the production tree of package-lock.json (name, place and version).
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; dev?: boolean; link?: boolean }>;
    };
    const expected = Object.entries(lock.packages)
      .filter(([k, v]) => k.startsWith('node_modules/') && v.dev !== true && v.link !== true)
      .map(([k, v]) => `${k}@${v.version ?? '?'}`)
      .sort();
    const actual: string[] = [];
    const packages = (nm: string, rel: string): void => {
      for (const e of readdirSync(nm)) {
        if (e.startsWith('.')) continue;
        const names = e.startsWith('@') ? readdirSync(join(nm, e)).map((s) => `${e}/${s}`) : [e];
        for (const n of names) {
          const pj = JSON.parse(readFileSync(join(nm, n, 'package.json'), 'utf8')) as {
            version?: string;
          };
          actual.push(`${rel}${n}@${pj.version ?? '?'}`);
          if (existsSync(join(nm, n, 'node_modules')))
            packages(join(nm, n, 'node_modules'), `${rel}${n}/node_modules/`);
        }
      }
    };
    packages(join(app, 'node_modules'), 'node_modules/');
    actual.sort();
    t.diagnostic(`${String(actual.length)} packages in node_modules (production tree of the lock)`);
    assert.deepEqual(
      {
        extra: actual.filter((x) => !expected.includes(x)),
        missing: expected.filter((x) => !actual.includes(x)),
      },
      { extra: [], missing: [] },
    );
    for (const dev of ['typescript', 'tsx', 'eslint', 'prettier', 'playwright', '@types/node'])
      assert.ok(!existsSync(join(app, 'node_modules', dev)), `${dev} in node_modules`);

    // No compiler, no interpreter besides node (and Debian's essential sh and perl-base, which dpkg itself needs),
    // no package manager (removed from the runtime stage on purpose).
    const present = [
      'usr/bin/gcc',
      'usr/bin/cc',
      'usr/bin/g++',
      'usr/bin/c++',
      'usr/bin/make',
      'usr/bin/ld',
      'usr/bin/as',
      'usr/bin/python3',
      'usr/bin/python',
      'usr/bin/git',
      'usr/local/bin/npm',
      'usr/local/bin/npx',
      'usr/local/bin/corepack',
      'usr/local/bin/yarn',
      'usr/local/bin/yarnpkg',
      'usr/local/lib/node_modules',
      'usr/local/include/node',
    ].filter((p) => {
      try {
        lstatSync(join(mount, p));
        return true;
      } catch {
        return false;
      }
    });
    assert.deepEqual(present, [], 'build tools or package managers in the image');
  });

  test('the build-time CA trust is not in the image: no /run/secrets, no NODE_EXTRA_CA_CERTS, no CA certificate in any file, layer or history', async (t) => {
    assert.ok(!existsSync(join(mount, 'run/secrets')), '/run/secrets in the image');
    assert.ok(
      !imageConfig.Env.some((e) => /^NODE_EXTRA_CA_CERTS=|\/run\/secrets/.test(e)),
      imageConfig.Env.join(' '),
    );
    const history = await podmanOk('history', '--no-trunc', '--format', '{{.CreatedBy}}', IMAGE);
    assert.doesNotMatch(history, /npm_ca|\/run\/secrets|NODE_EXTRA_CA_CERTS/);
    const inspect = await podmanOk('image', 'inspect', IMAGE);

    // What the build was given beyond the roots the image's own node already trusts: the trust that must not leak.
    const ca = buildCaFile();
    if (ca === undefined) {
      t.diagnostic('no CA bundle on this machine: the build had no npm_ca secret');
      return;
    }
    const body = (pem: string): string => new X509Certificate(pem).raw.toString('base64');
    const nodeRoots = new Set(
      (
        JSON.parse(
          await podmanOk(
            'run',
            '--rm',
            '--entrypoint',
            'node',
            IMAGE,
            '-p',
            "JSON.stringify(require('tls').rootCertificates)",
          ),
        ) as string[]
      ).map(body),
    );
    const bundle = (readFileSync(ca, 'utf8').match(
      /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g,
    ) ?? []) as string[];
    const extra = bundle.filter((pem) => !nodeRoots.has(body(pem)));
    t.diagnostic(
      `build CA ${ca}: ${String(bundle.length)} certificates, ${String(extra.length)} beyond node's own roots`,
    );
    assert.ok(bundle.length > 0, `${ca} holds no certificate`);
    // One 64-character line from the middle of each certificate's PEM: present in any PEM copy of it.
    const needles = extra.map((pem) => {
      const lines = new X509Certificate(pem).toString().split('\n').slice(1, -2);
      return lines[Math.floor(lines.length / 2)]!;
    });
    for (const n of needles) {
      assert.ok(
        !history.includes(n) && !inspect.includes(n),
        'a CA certificate in the image metadata',
      );
    }
    if (needles.length === 0) return;
    const needleFile = join(dir, 'ca-needles.txt');
    writeFileSync(needleFile, `${needles.join('\n')}\n`);
    // grep -F with many patterns (Aho–Corasick): one pass over every file of the image.
    const g = await run('grep', ['-r', '-l', '-F', '-f', needleFile, mount]);
    assert.ok(g.status === 0 || g.status === 1, `grep failed: ${g.stderr}`);
    // A public root may ship inside a published package (@simplewebauthn/server carries the roots of the
    // attestation formats it checks): such a file is what the registry serves, byte for byte the same as the
    // checkout's own installed copy of that package. Anything else holding one came from the build.
    const found = g.stdout.split('\n').filter((f) => f !== '');
    const leaked = found.filter((f) => {
      const rel = f.slice(mount.length).replace(/^\/+/, '');
      if (!rel.startsWith('opt/fedgate/node_modules/')) return true;
      const published = join(root, rel.slice('opt/fedgate/'.length));
      return !existsSync(published) || !readFileSync(published).equals(readFileSync(f));
    });
    t.diagnostic(
      `${String(found.length - leaked.length)} published package files carry a public root of the bundle`,
    );
    assert.deepEqual(leaked, [], 'files holding a certificate of the build CA');
  });

  test('the HEALTHCHECK is present, passes on a serving node, and fails when the server stops answering', async (t) => {
    const test = healthcheck?.Test ?? [];
    assert.ok(test.length > 1 && test[0] !== 'NONE', `HEALTHCHECK: ${JSON.stringify(healthcheck)}`);
    t.diagnostic(`HEALTHCHECK ${test.join(' ')}`);
    const check = () => podman('healthcheck', 'run', main.name);
    // Passing is polled (bounded), so a moment of machine load cannot fail it; failing must happen on the first run.
    const passes = async (what: string): Promise<void> => {
      let last = '';
      await waitUntil(
        () => `the healthcheck passes on a ${what} node (last: ${last})`,
        async () => {
          const r = await check();
          last = `${String(r.status)} ${r.stdout}${r.stderr}`;
          return r.status === 0;
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    };
    await passes('serving');

    // A hung event loop: the process is stopped (SIGSTOP cannot be caught), the socket still accepts connections.
    await podmanOk('kill', '--signal', 'SIGSTOP', main.name);
    try {
      const bad = await check();
      assert.equal(bad.status, 1, `stopped server: ${bad.stdout}${bad.stderr}`);
      assert.match(bad.stdout, /unhealthy/);
    } finally {
      await podmanOk('kill', '--signal', 'SIGCONT', main.name);
    }
    await passes('resumed');
  });

  test('SIGTERM behind a load balancer drains (probe 503), then exits 0 within the grace period', async (t) => {
    const c = await startServer({
      config: writeConfig('lb.yaml', configYaml('# a load balancer in front of the node')),
      env: { FEDGATE_LISTEN__TRUSTEDPROXIES: '10.255.255.1' },
    });
    // Grace: drain 2 s + in-flight timeout 5 s, with room to spare; a kill at the end of it exits 137.
    const grace = 12;
    const stopping = podman('stop', '-t', String(grace), c.name);
    let saw503 = false;
    let stopped = false;
    void stopping.then(() => (stopped = true));
    await waitUntil(
      'the probe answers 503 or the container has stopped',
      async () => {
        if ((await probe(c.port)) === 503) saw503 = true;
        return saw503 || stopped;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    const s = await stopping;
    assert.equal(s.status, 0, s.stderr);
    const logs = await logsOf(c.name);
    const code = (await podmanOk('inspect', '--format', '{{.State.ExitCode}}', c.name)).trim();
    t.diagnostic(`exit ${code}; probe 503 seen during the drain: ${String(saw503)}`);
    assert.equal(code, '0', `exit status (137: killed at the end of the grace period)\n${logs}`);
    assert.ok(saw503, 'the probe answered 503 while draining');
    assert.match(logs, /shutting down: draining/);
    assert.match(logs, /"msg":"shutdown complete"/);
  });

  test('SIGTERM on embedded defaults exits 0 without a drain', async (t) => {
    const c = await startServer({ config: null });
    const s = await podman('stop', '-t', '12', c.name);
    assert.equal(s.status, 0, s.stderr);
    const logs = await logsOf(c.name);
    const code = (await podmanOk('inspect', '--format', '{{.State.ExitCode}}', c.name)).trim();
    t.diagnostic(`exit ${code}`);
    assert.equal(code, '0', logs);
    assert.match(logs, /embedded defaults/);
    assert.match(logs, /shutting down: no drain/);
    assert.doesNotMatch(logs, /shutting down: draining/);
    assert.match(logs, /"msg":"shutdown complete"/);
  });

  test('an unconfigured run says which file is missing and what to do (exit 2)', async () => {
    const r = await cli([]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /\/etc\/fedgate\/fedgate\.yaml/);
    assert.match(r.stderr, /ENOENT/);
    assert.match(r.stderr, /mount/);
  });

  test('fedgate --version', async () => {
    const r = await cli(['--version']);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^fedgate \d+\.\d+\.\d+/);
    assert.equal(r.stdout.trim().split(/\s+/)[1], pkg.version);
    // `fedgate` on the PATH, for commands in a running container (docker compose exec fedgate1 fedgate keys list).
    const onPath = await podman('run', '--rm', '--entrypoint', 'fedgate', IMAGE, '--version');
    assert.equal(onPath.status, 0, onPath.stderr);
    assert.equal(onPath.stdout, r.stdout);
  });

  test('fedgate check: a valid configuration passes, an invalid one exits 2 naming each problem', async () => {
    const ok = await cli(['check'], { config });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^configuration OK: hostname sts\.example\.test/);
    const bad = await cli(['check'], {
      config: writeConfig(
        'bad.yaml',
        'hostname: sts.example.test\nstore: { kind: nosuch }\nnosuchkey: 1',
      ),
    });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /invalid configuration \(\/etc\/fedgate\/fedgate\.yaml\)/);
    assert.match(bad.stderr, /store\.kind/);
    assert.match(bad.stderr, /nosuchkey/);
  });

  test('fedgate tenant --domain prints the federation commands with the signing key the server uses', async () => {
    const r = await cli(['tenant', '--domain', 'example.com'], {
      config,
      volume: main.volume,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /New-MgDomainFederationConfiguration -DomainId 'example\.com'/);
    const metadata = await (
      await fetch(
        `http://127.0.0.1:${String(main.port)}/FederationMetadata/2007-06/FederationMetadata.xml`,
      )
    ).text();
    const served = new X509Certificate(certFromMetadata(metadata)[0]!).raw.toString('base64');
    assert.ok(r.stdout.includes(served), 'the certificate the running server signs with');
  });

  test('fedgate claims test --rp --user runs the relying party rules for alice', async () => {
    const r = await cli(['claims', 'test', '--rp', TEST_RP, '--user', ALICE.user], {
      config,
      volume: main.volume,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Relying party .*\(urn:fedgate:test\)/);
    assert.match(r.stdout, /Output claims/);
    assert.match(r.stdout, /http:\/\/schemas\.xmlsoap\.org\/claims\/UPN = alice@fedgate\.test/);
  });
});
