import { Gauge, type Registry } from 'prom-client';
import type { Clock } from '../lib/clock.ts';

/**
 * One certificate (or CRL) fedgate depends on, as the expiry gauges see it. Built by the caller at scrape time from
 * the key ring, the TLS listener and the certificate-auth trust store.
 */
export interface CertificateExpiryEntry {
  use: 'signing' | 'tls' | 'client-ca' | 'crl';
  /** signing: 'primary' | 'next' | 'previous'; tls: 'listener' | 'certificate-auth' …; client-ca: 'trust-anchor'; crl: 'crl'. */
  role: string;
  /** SHA-1, upper-case hex, for a certificate; for a CRL an identifier (issuer hash + CRL number). */
  thumbprint: string;
  /** Only in fedgate_certificate_info, never on the expiry gauge (one more label the alerts do not need). */
  subject: string;
  /** For a CRL: nextUpdate (RFC 5280 §5.1.2.5), after which it must not be relied on. */
  notAfter: Date;
}

/** The rollover settings the alert rules compare the expiry gauges with (AD FS's names, in days). */
export interface RolloverSettingsGauge {
  auto: boolean;
  generationThresholdDays: number;
  promotionThresholdDays: number;
  criticalThresholdDays: number;
}

const DAY_SECONDS = 86_400;

/**
 * Registers the certificate expiry gauges (fedgate_certificate_expiry_seconds and the rollover settings) on
 * `registry`. Every value is computed in collect(), i.e. when Prometheus scrapes, from `entries()`, `rollover()`
 * and `clock`: no timer, nothing stale between scrapes. The alert rules that read them are
 * docker/prometheus/alerts.yml (docs/alerts.md).
 */
export function registerCertificateMetrics(
  registry: Registry,
  opts: {
    entries: () => CertificateExpiryEntry[];
    rollover: () => RolloverSettingsGauge;
    clock: Pick<Clock, 'now'>;
  },
): void {
  const registers = [registry];

  new Gauge({
    name: 'fedgate_certificate_expiry_seconds',
    help: 'Seconds until the certificate expires (for a CRL: until its nextUpdate); negative once expired.',
    labelNames: ['use', 'role', 'thumbprint'] as const,
    registers,
    collect() {
      // Reset first: a certificate that left the ring (removed after its grace period, replaced TLS certificate)
      // must disappear from the scrape rather than keep its last value, which would keep an alert firing.
      this.reset();
      const now = opts.clock.now().getTime();
      for (const e of opts.entries()) {
        this.set(
          { use: e.use, role: e.role, thumbprint: e.thumbprint },
          (e.notAfter.getTime() - now) / 1000,
        );
      }
    },
  });

  new Gauge({
    name: 'fedgate_certificate_info',
    help: 'Always 1; the subject of each certificate in fedgate_certificate_expiry_seconds (join on thumbprint).',
    labelNames: ['use', 'role', 'thumbprint', 'subject'] as const,
    registers,
    collect() {
      this.reset();
      for (const e of opts.entries()) {
        this.set({ use: e.use, role: e.role, thumbprint: e.thumbprint, subject: e.subject }, 1);
      }
    },
  });

  // The settings as gauges so the rules take thresholds from the running configuration instead of repeating
  // AD FS's defaults (CertificateGenerationThreshold 20 days, CertificatePromotionThreshold 5 days,
  // CertificateCriticalThreshold 2 days) in PromQL.
  const setting = (
    name: string,
    help: string,
    value: (s: RolloverSettingsGauge) => number,
  ): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(value(opts.rollover()));
      },
    });
  };
  setting(
    'fedgate_signing_rollover_auto',
    '1 when fedgate generates and promotes signing certificates itself (automatic rollover), 0 when the admin does.',
    (s) => (s.auto ? 1 : 0),
  );
  setting(
    'fedgate_signing_rollover_generation_threshold_seconds',
    'How long before the primary signing certificate expires the next one is generated (AD FS CertificateGenerationThreshold).',
    (s) => s.generationThresholdDays * DAY_SECONDS,
  );
  setting(
    'fedgate_signing_rollover_promotion_threshold_seconds',
    'How long after generation the next signing certificate is promoted (AD FS CertificatePromotionThreshold).',
    (s) => s.promotionThresholdDays * DAY_SECONDS,
  );
  setting(
    'fedgate_certificate_critical_threshold_seconds',
    'Expiry closer than this is critical (AD FS CertificateCriticalThreshold).',
    (s) => s.criticalThresholdDays * DAY_SECONDS,
  );
}
