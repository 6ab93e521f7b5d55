// Certificate expiry gauges (server/observability/certificate-metrics.ts): seconds to expiry per certificate and the
// rollover settings, computed at scrape time from the injected clock. Read back through prom-client's own JSON
// view of the registry; the exposition text and the alert rules are checked by real Prometheus tooling in
// tests/integration/prometheus-alerts.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry, register as globalRegistry } from 'prom-client';
import { FixedClock } from '../../../server/lib/clock.ts';
import {
  registerCertificateMetrics,
  type CertificateExpiryEntry,
  type RolloverSettingsGauge,
} from '../../../server/observability/certificate-metrics.ts';

const DAY = 86_400;
const NOW = '2026-06-01T00:00:00Z';
const at = (days: number): Date => new Date(Date.parse(NOW) + days * DAY * 1000);

const PRIMARY: CertificateExpiryEntry = {
  use: 'signing',
  role: 'primary',
  thumbprint: '6C1D2E3F4A5B6C7D8E9F0A1B2C3D4E5F60718293',
  subject: 'CN=ADFS Signing - sts.fedgate.test',
  notAfter: at(10),
};
const NEXT: CertificateExpiryEntry = {
  use: 'signing',
  role: 'next',
  thumbprint: 'A1B2C3D4E5F60718293A4B5C6D7E8F9012345678',
  subject: 'CN=ADFS Signing - sts.fedgate.test',
  notAfter: at(375),
};
const CRL: CertificateExpiryEntry = {
  use: 'crl',
  role: 'crl',
  thumbprint: '5F1A2B3C:0012',
  subject: 'CN=Fedgate Test Issuing CA',
  notAfter: at(-0.5),
};

const DEFAULTS: RolloverSettingsGauge = {
  auto: true,
  generationThresholdDays: 20,
  promotionThresholdDays: 5,
  criticalThresholdDays: 2,
};

interface Sample {
  labels: Record<string, string | number | undefined>;
  value: number;
}

async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const all = await registry.getMetricsAsJSON();
  const m = all.find((x) => x.name === name);
  assert.ok(m, `${name} is registered`);
  return m.values.map((v) => ({ labels: { ...v.labels }, value: v.value }));
}

function setup(
  entries: CertificateExpiryEntry[],
  rollover: RolloverSettingsGauge = DEFAULTS,
): {
  registry: Registry;
  clock: FixedClock;
  ring: CertificateExpiryEntry[];
  settings: { current: RolloverSettingsGauge };
} {
  const registry = new Registry();
  const clock = new FixedClock(NOW);
  const ring = [...entries];
  const settings = { current: rollover };
  registerCertificateMetrics(registry, {
    entries: () => ring,
    rollover: () => settings.current,
    clock,
  });
  return { registry, clock, ring, settings };
}

test('expiry gauge: notAfter - now in seconds per certificate, negative once expired (a CRL: nextUpdate)', async () => {
  const { registry } = setup([PRIMARY, NEXT, CRL]);
  assert.deepEqual(await samples(registry, 'fedgate_certificate_expiry_seconds'), [
    {
      labels: { use: 'signing', role: 'primary', thumbprint: PRIMARY.thumbprint },
      value: 10 * DAY,
    },
    { labels: { use: 'signing', role: 'next', thumbprint: NEXT.thumbprint }, value: 375 * DAY },
    { labels: { use: 'crl', role: 'crl', thumbprint: '5F1A2B3C:0012' }, value: -0.5 * DAY },
  ]);
});

test('expiry gauge: the subject is not a label (cardinality); fedgate_certificate_info carries it', async () => {
  const { registry } = setup([PRIMARY, CRL]);
  for (const s of await samples(registry, 'fedgate_certificate_expiry_seconds'))
    assert.deepEqual(Object.keys(s.labels).sort(), ['role', 'thumbprint', 'use']);
  assert.deepEqual(await samples(registry, 'fedgate_certificate_info'), [
    {
      labels: {
        use: 'signing',
        role: 'primary',
        thumbprint: PRIMARY.thumbprint,
        subject: PRIMARY.subject,
      },
      value: 1,
    },
    {
      labels: { use: 'crl', role: 'crl', thumbprint: CRL.thumbprint, subject: CRL.subject },
      value: 1,
    },
  ]);
});

test('expiry gauge: computed at scrape time from the clock (no timer): a day later it is a day less', async () => {
  const { registry, clock } = setup([PRIMARY]);
  const before = await samples(registry, 'fedgate_certificate_expiry_seconds');
  clock.advance(DAY * 1000);
  const after = await samples(registry, 'fedgate_certificate_expiry_seconds');
  assert.equal(before[0]?.value, 10 * DAY);
  assert.equal(after[0]?.value, 9 * DAY);
  clock.advance(11 * DAY * 1000);
  assert.equal((await samples(registry, 'fedgate_certificate_expiry_seconds'))[0]?.value, -2 * DAY);
});

test('expiry gauge: a certificate that left the ring disappears from the next scrape', async () => {
  // After promotion the old primary leaves (or a replaced TLS certificate): a stale series would keep an expiry
  // alert firing for a certificate fedgate no longer uses.
  const { registry, ring } = setup([PRIMARY, NEXT]);
  assert.equal((await samples(registry, 'fedgate_certificate_expiry_seconds')).length, 2);
  ring.splice(0, 1);
  assert.deepEqual(
    (await samples(registry, 'fedgate_certificate_expiry_seconds')).map((s) => s.labels.thumbprint),
    [NEXT.thumbprint],
  );
  assert.deepEqual(
    (await samples(registry, 'fedgate_certificate_info')).map((s) => s.labels.thumbprint),
    [NEXT.thumbprint],
  );
  ring.splice(0, 1);
  assert.deepEqual(await samples(registry, 'fedgate_certificate_expiry_seconds'), []);
});

test('rollover settings: AD FS thresholds as seconds, automatic rollover as 1/0, read at each scrape', async () => {
  const { registry, settings } = setup([PRIMARY]);
  const read = async (): Promise<Record<string, number | undefined>> => ({
    auto: (await samples(registry, 'fedgate_signing_rollover_auto'))[0]?.value,
    gen: (await samples(registry, 'fedgate_signing_rollover_generation_threshold_seconds'))[0]
      ?.value,
    promo: (await samples(registry, 'fedgate_signing_rollover_promotion_threshold_seconds'))[0]
      ?.value,
    crit: (await samples(registry, 'fedgate_certificate_critical_threshold_seconds'))[0]?.value,
  });
  assert.deepEqual(await read(), { auto: 1, gen: 20 * DAY, promo: 5 * DAY, crit: 2 * DAY });
  settings.current = {
    auto: false,
    generationThresholdDays: 30,
    promotionThresholdDays: 7,
    criticalThresholdDays: 3,
  };
  assert.deepEqual(await read(), { auto: 0, gen: 30 * DAY, promo: 7 * DAY, crit: 3 * DAY });
});

test('registers on the given registry only, not prom-client’s global one', async () => {
  const a = setup([PRIMARY]);
  const b = setup([CRL]);
  assert.equal(globalRegistry.getSingleMetric('fedgate_certificate_expiry_seconds'), undefined);
  assert.deepEqual(
    (await samples(a.registry, 'fedgate_certificate_expiry_seconds')).map((s) => s.labels.use),
    ['signing'],
  );
  assert.deepEqual(
    (await samples(b.registry, 'fedgate_certificate_expiry_seconds')).map((s) => s.labels.use),
    ['crl'],
  );
});
