// The shipped alert rules (docker/prometheus/alerts.yml) and the certificate expiry gauges
// (server/observability/certificate-metrics.ts), checked by Prometheus's own tooling (Debian `prometheus`,
// installed by tests/setup/prometheus.sh): `promtool check rules` loads the rules, `promtool test rules` runs the
// unit tests in alerts.test.yml, `promtool check metrics` lints a real scrape, and a real Prometheus server scrapes
// a prom-client registry and evaluates the shipped rules against it (so rule matching is tested with the target
// labels a real scrape adds). A missing promtool or prometheus fails these tests: it never skips them.
import assert, { AssertionError } from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { freePort, waitUntil } from '../helpers/net.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import {
  registerCertificateMetrics,
  type CertificateExpiryEntry,
  type RolloverSettingsGauge,
} from '../../server/observability/certificate-metrics.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RULES = join(ROOT, 'docker/prometheus/alerts.yml');
const RULE_TESTS = join(ROOT, 'docker/prometheus/alerts.test.yml');
const DOC = join(ROOT, 'docs/alerts.md');
const DAY = 86_400;
const NOW = '2026-06-01T00:00:00Z';
const at = (seconds: number): Date => new Date(Date.parse(NOW) + seconds * 1000);

/** Absolute path of a Prometheus tool; a missing one is a test failure naming the setup script. */
function tool(name: 'promtool' | 'prometheus'): string {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || path === '')
    throw new AssertionError({
      message: `${name} is not installed: run \`bash tests/setup/prometheus.sh\` (Debian package prometheus)`,
    });
  return path;
}

function promtool(args: string[], input?: string): { status: number | null; out: string } {
  const r = spawnSync(tool('promtool'), args, { cwd: ROOT, encoding: 'utf8', input });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const SETTINGS: RolloverSettingsGauge = {
  auto: true,
  generationThresholdDays: 20,
  promotionThresholdDays: 5,
  criticalThresholdDays: 2,
};

// One of each kind, placed so each alert has exactly one reason to be active (or none).
const PRIMARY: CertificateExpiryEntry = {
  use: 'signing',
  role: 'primary',
  thumbprint: '6C1D2E3F4A5B6C7D8E9F0A1B2C3D4E5F60718293',
  subject: 'CN=ADFS Signing - sts.fedgate.test',
  notAfter: at(10 * DAY), // automatic rollover, past the generation threshold, no next: NextSigningCertificateMissing
};
const PREVIOUS: CertificateExpiryEntry = {
  use: 'signing',
  role: 'previous',
  thumbprint: '0F1E2D3C4B5A69788796A5B4C3D2E1F00F1E2D3C',
  subject: 'CN=ADFS Signing - sts.fedgate.test',
  notAfter: at(-DAY), // retired and expired: no alert
};
const LISTENER: CertificateExpiryEntry = {
  use: 'tls',
  role: 'listener',
  thumbprint: '11223344556677889900AABBCCDDEEFF00112233',
  subject: 'CN=sts.fedgate.test',
  notAfter: at(DAY), // within the 2-day critical threshold: ExpiryCritical
};
const CERTAUTH_TLS: CertificateExpiryEntry = {
  use: 'tls',
  role: 'certificate-auth',
  thumbprint: '99887766554433221100FFEEDDCCBBAA99887766',
  subject: 'CN=certauth.sts.fedgate.test',
  notAfter: at(13 * DAY), // within 14 days: ExpiringSoon
};
const CA: CertificateExpiryEntry = {
  use: 'client-ca',
  role: 'trust-anchor',
  thumbprint: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01',
  subject: 'CN=Fedgate Test Root CA, O="Fedgate, Test"',
  notAfter: at(400 * DAY), // nothing
};
const CRL: CertificateExpiryEntry = {
  use: 'crl',
  role: 'crl',
  thumbprint: '5F1A2B3C:0012',
  subject: 'CN=Fedgate Test Issuing CA',
  notAfter: at(-3600), // past nextUpdate: Expired
};

function makeRegistry(entries: () => CertificateExpiryEntry[]): Registry {
  const registry = new Registry();
  registerCertificateMetrics(registry, {
    entries,
    rollover: () => SETTINGS,
    clock: new FixedClock(NOW),
  });
  return registry;
}

describe('Prometheus tooling accepts the shipped alert rules', () => {
  test('promtool check rules: docker/prometheus/alerts.yml loads, 5 rules', () => {
    const r = promtool(['check', 'rules', RULES]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /SUCCESS: 5 rules found/);
  });

  test('promtool test rules: every case in docker/prometheus/alerts.test.yml passes', () => {
    const r = promtool(['test', 'rules', RULE_TESTS]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /SUCCESS/);
    assert.doesNotMatch(r.out, /FAILED/);
  });

  test('docs/alerts.md has a section for every alert in alerts.yml, and none for an alert it lacks', () => {
    const rules = parseYaml(readFileSync(RULES, 'utf8')) as {
      groups: { name: string; rules: { alert?: string }[] }[];
    };
    const alerts = rules.groups
      .flatMap((g) => g.rules.map((r) => r.alert))
      .filter((a) => a !== undefined)
      .sort();
    const sections = [...readFileSync(DOC, 'utf8').matchAll(/^## (Fedgate\w+)$/gm)]
      .map((m) => m[1])
      .sort();
    assert.deepEqual(sections, alerts);
    assert.deepEqual(
      rules.groups.map((g) => g.name),
      ['fedgate-certificates', 'fedgate-logging'],
    );
  });

  test('promtool check metrics: a scrape of the certificate gauges has no lint problems', async () => {
    const registry = makeRegistry(() => [PRIMARY, PREVIOUS, LISTENER, CERTAUTH_TLS, CA, CRL]);
    const text = await registry.metrics();
    const r = promtool(['check', 'metrics'], text);
    // Exit 0 and silent: promtool prints one line per problem (missing HELP, bad suffix, parse error).
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out, '');
  });
});

interface ApiAlert {
  labels: Record<string, string>;
  state: string;
}

describe('a real Prometheus scrapes the gauges and evaluates the shipped rules', () => {
  let dir: string;
  let http: Server;
  let prometheus: ChildProcess | undefined;
  let promLog = '';
  let base: string;
  let target: string;
  const ring = [PRIMARY, PREVIOUS, LISTENER, CERTAUTH_TLS, CA, CRL];
  const registry = makeRegistry(() => ring);

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${base}${path}`);
    assert.equal(res.status, 200, `${path}: HTTP ${String(res.status)}`);
    return ((await res.json()) as { data: T }).data;
  };
  const activeAlerts = async (): Promise<string[]> =>
    (await api<{ alerts: ApiAlert[] }>('/api/v1/alerts')).alerts
      .map(
        (a) =>
          `${a.labels.alertname ?? ''} ${a.state} ${a.labels.use ?? ''}/${a.labels.role ?? ''} ` +
          `${a.labels.thumbprint ?? ''} instance=${a.labels.instance ?? ''}`,
      )
      .sort();
  const lastEvaluation = async (): Promise<number> => {
    const { groups } = await api<{ groups: { name: string; lastEvaluation: string }[] }>(
      '/api/v1/rules',
    );
    const g = groups.find((x) => x.name === 'fedgate-certificates');
    return g === undefined ? 0 : Date.parse(g.lastEvaluation);
  };
  /** Polls until the active alerts are exactly `want`, then once more after a later rule evaluation. */
  const expectAlerts = async (want: string[]): Promise<void> => {
    let seen: string[] = [];
    let evaluatedAt = 0;
    await waitUntil(
      () => `alerts ${JSON.stringify(want)}; Prometheus has ${JSON.stringify(seen)}\n${promLog}`,
      async () => {
        seen = await activeAlerts();
        if (JSON.stringify(seen) !== JSON.stringify(want)) return false;
        evaluatedAt = await lastEvaluation();
        return true;
      },
      { timeoutMs: 30_000 },
    );
    // A rule later in the group could still add an alert in the same evaluation: look again after the next one.
    await waitUntil(
      'the next rule evaluation',
      async () => (await lastEvaluation()) > evaluatedAt,
      {
        timeoutMs: 30_000,
      },
    );
    assert.deepEqual(await activeAlerts(), want);
  };
  /** `promtool query instant` output lines (sorted), i.e. what Prometheus stored from its scrape. */
  const query = (expr: string): string[] => {
    const r = promtool(['query', 'instant', base, expr]);
    assert.equal(r.status, 0, r.out);
    return r.out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.replace(/ @\[[0-9.]+\]$/, ''))
      .sort();
  };

  before(async () => {
    const bin = tool('prometheus');
    dir = mkdtempSync(join(tmpdir(), 'fedgate-prometheus-'));
    http = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': registry.contentType }).end(body);
        },
        (err: unknown) => {
          res.writeHead(500).end(String(err));
        },
      );
    });
    await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
    target = `127.0.0.1:${String((http.address() as AddressInfo).port)}`;
    const port = await freePort();
    base = `http://127.0.0.1:${String(port)}`;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: [${JSON.stringify(RULES)}]`,
        'scrape_configs:',
        '  - job_name: fedgate',
        `    static_configs: [{ targets: [${JSON.stringify(target)}] }]`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(
      bin,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${String(port)}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (b: Buffer): void => {
      promLog = (promLog + b.toString()).slice(-4000);
    };
    prometheus.stdout?.on('data', keep);
    prometheus.stderr?.on('data', keep);
    await waitUntil(
      () => `Prometheus ready on ${base}; log:\n${promLog}`,
      async () => {
        if (prometheus?.exitCode !== null) throw new Error(`prometheus exited:\n${promLog}`);
        try {
          return (await fetch(`${base}/-/ready`)).status === 200;
        } catch {
          return false;
        }
      },
      { timeoutMs: 30_000 },
    );
  });

  after(async () => {
    const child = prometheus;
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await exited;
    }
    await new Promise((ok) => http.close(ok));
    rmSync(dir, { recursive: true, force: true });
  });

  test('each alert is active for exactly the certificate meant to trigger it', async () => {
    // Pending = condition true, waiting out its `for:`; Expired has none, so it fires at once.
    await expectAlerts(
      [
        `FedgateCertificateExpired firing crl/crl ${CRL.thumbprint} instance=${target}`,
        `FedgateCertificateExpiringSoon pending tls/certificate-auth ${CERTAUTH_TLS.thumbprint} instance=${target}`,
        `FedgateCertificateExpiryCritical pending tls/listener ${LISTENER.thumbprint} instance=${target}`,
        `FedgateNextSigningCertificateMissing pending signing/primary ${PRIMARY.thumbprint} instance=${target}`,
      ].sort(),
    );
  });

  test('Prometheus stored the values and labels of the scrape (promtool query instant)', () => {
    const series = (e: CertificateExpiryEntry, seconds: number): string =>
      `fedgate_certificate_expiry_seconds{instance="${target}", job="fedgate", role="${e.role}", ` +
      `thumbprint="${e.thumbprint}", use="${e.use}"} => ${String(seconds)}`;
    assert.deepEqual(
      query('fedgate_certificate_expiry_seconds'),
      [
        series(PRIMARY, 10 * DAY),
        series(PREVIOUS, -DAY),
        series(LISTENER, DAY),
        series(CERTAUTH_TLS, 13 * DAY),
        series(CA, 400 * DAY),
        series(CRL, -3600),
      ].sort(),
    );
    assert.deepEqual(
      query(
        '{__name__=~"fedgate_signing_rollover_.+|fedgate_certificate_critical_threshold_seconds"}',
      ),
      [
        `fedgate_certificate_critical_threshold_seconds{instance="${target}", job="fedgate"} => ${String(2 * DAY)}`,
        `fedgate_signing_rollover_auto{instance="${target}", job="fedgate"} => 1`,
        `fedgate_signing_rollover_generation_threshold_seconds{instance="${target}", job="fedgate"} => ${String(20 * DAY)}`,
        `fedgate_signing_rollover_promotion_threshold_seconds{instance="${target}", job="fedgate"} => ${String(5 * DAY)}`,
      ].sort(),
    );
    // The subject, quotes and comma included, survives the exposition format's escaping.
    assert.deepEqual(query(`fedgate_certificate_info{thumbprint="${CA.thumbprint}"}`), [
      `fedgate_certificate_info{instance="${target}", job="fedgate", role="trust-anchor", ` +
        `subject="CN=Fedgate Test Root CA, O=\\"Fedgate, Test\\"", thumbprint="${CA.thumbprint}", use="client-ca"} => 1`,
    ]);
  });

  test('a CRL that left the set disappears from the scrape and its alert resolves', async () => {
    ring.splice(ring.indexOf(CRL), 1);
    await expectAlerts(
      [
        `FedgateCertificateExpiringSoon pending tls/certificate-auth ${CERTAUTH_TLS.thumbprint} instance=${target}`,
        `FedgateCertificateExpiryCritical pending tls/listener ${LISTENER.thumbprint} instance=${target}`,
        `FedgateNextSigningCertificateMissing pending signing/primary ${PRIMARY.thumbprint} instance=${target}`,
      ].sort(),
    );
    assert.deepEqual(query('fedgate_certificate_expiry_seconds{use="crl"}'), []);
  });
});
