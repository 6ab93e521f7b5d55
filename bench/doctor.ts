/**
 * `fedgate doctor`'s directory scan at scale (issue 21: "10,000 users on Samba in seconds, using paged searches"):
 * scanDirectory over an OU of 10,000 users on the Samba AD DC, beside the DC's own paged search of the same OU for
 * the same attributes with OpenLDAP's ldapsearch (`-E pr=500/noprompt`, bound as the same service account), in the
 * same run, interleaved, median of rounds. The ratio is what doctor costs over just reading the entries.
 *
 * The OU (OU=DoctorScale) is seeded once and kept: users scale00000..scale09999 are added when missing, by parallel
 * LDAP adds as Administrator, about 1 in 20 with an IdFix problem (a .local UPN, a space in the UPN, a shared proxy
 * address, a 65-character mailNickname, no mS-DS-ConsistencyGuid). Needs tests/setup/samba.sh (run by bench/run.ts)
 * and tests/setup/doctor-schema.sh (run here; idempotent).
 *   import { doctorSection } from './doctor.ts'; results.doctor = await doctorSection({ quick });
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Attribute, Change, type Client } from 'ldapts';
import { resolveConfig } from '../server/config/load.ts';
import {
  SCAN_ATTRIBUTES,
  SCAN_FILTER,
  scanDirectory,
  type ScanResult,
} from '../server/doctor/directory-scan.ts';
import { systemClock } from '../server/lib/clock.ts';
import {
  adminClient,
  requireExchangeSchema,
  binaryOf,
  FEDERATED_DOMAIN,
  userAttributes,
} from '../tests/helpers/doctor-seed.ts';
import { ldapCliEnv, sambaEnv, sambaLdapConfig, type SambaEnv } from '../tests/helpers/samba.ts';
import { fmt, median, table } from './lib.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
export const SCALE_OU = 'OU=DoctorScale';
export const SCALE_USERS = 10_000;
/**
 * Parallel Administrator connections for seeding. Samba commits each add in its own transaction and serialises them
 * (about 20 adds or modifies a second here, 8 minutes for the first seeding); parallel connections only overlap
 * the round trips.
 */
const SEED_CONNECTIONS = 8;
const PAGE_SIZE = 500;

export interface DoctorBenchResult {
  users: number;
  /** Seconds spent seeding in this run (0 when the OU was already complete). */
  seedSeconds: number;
  usersAdded: number;
  scan: { medianMs: number; runsMs: number[]; pages: number; objects: number; findings: number };
  ldapsearch: { medianMs: number; runsMs: number[]; entries: number };
  usersPerSecond: number;
  /** scan ÷ ldapsearch (median times). */
  ratio: number;
  findingsByClass: Record<string, number>;
}

const sam = (i: number): string => `scale${String(i).padStart(5, '0')}`;

/** The user's values: clean, or one IdFix problem for about 1 in 20 (i mod 100 in 1..5). */
function scaleUser(i: number): {
  attrs: Record<string, string | string[]>;
  anchor: boolean;
} {
  const s = sam(i);
  const at = `${s}@${FEDERATED_DOMAIN}`;
  const kind = i % 100;
  return {
    attrs: userAttributes(s, {
      upn: kind === 1 ? `${s}@corp.local` : kind === 2 ? `${s} x@${FEDERATED_DOMAIN}` : at,
      mail: at,
      mailNickname: kind === 4 ? `${s}${'n'.repeat(65 - s.length)}` : s,
      proxyAddresses:
        kind === 3 ? [`SMTP:${at}`, `smtp:scale-shared@${FEDERATED_DOMAIN}`] : [`SMTP:${at}`],
    }),
    anchor: kind !== 5,
  };
}

/** Runs `work` over `items` on `clients` in parallel, one item per client at a time. */
async function parallel<T>(
  clients: Client[],
  items: readonly T[],
  work: (c: Client, item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    clients.map(async (c) => {
      while (next < items.length) {
        const item = items[next++] as T;
        await work(c, item);
      }
    }),
  );
}

/** Adds the users of the scale OU that are missing and writes mS-DS-ConsistencyGuid = objectGUID where due. */
export async function seedScaleOu(
  env: SambaEnv,
  count = SCALE_USERS,
): Promise<{ ou: string; added: number; seconds: number }> {
  const ou = `${SCALE_OU},${env.baseDn}`;
  const started = performance.now();
  const clients = await Promise.all(
    Array.from({ length: SEED_CONNECTIONS }, () => adminClient(env)),
  );
  try {
    const [first] = clients as [Client];
    await requireExchangeSchema(first, env);
    const existing = new Map<string, { guid: Buffer | undefined; anchored: boolean }>();
    try {
      const { searchEntries } = await first.search(ou, {
        scope: 'one',
        filter: '(objectClass=user)',
        attributes: ['sAMAccountName', 'objectGUID', 'mS-DS-ConsistencyGuid'],
        explicitBufferAttributes: ['objectGUID', 'mS-DS-ConsistencyGuid'],
        paged: { pageSize: 1000 },
      });
      for (const e of searchEntries) {
        const name = Object.entries(e).find(([k]) => k.toLowerCase() === 'samaccountname')?.[1];
        existing.set(String(name), {
          guid: binaryOf(e, 'objectGUID'),
          anchored: binaryOf(e, 'mS-DS-ConsistencyGuid') !== undefined,
        });
      }
    } catch {
      await first.add(ou, { objectClass: ['top', 'organizationalUnit'] });
    }
    const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !existing.has(sam(i)));
    await parallel(clients, missing, async (c, i) => {
      await c.add(`CN=${sam(i)},${ou}`, scaleUser(i).attrs);
    });
    // The objectGUIDs the DC assigned, then the source anchor Entra Connect would have written (also completes a
    // seeding that was interrupted between the two steps).
    const { searchEntries } = await first.search(ou, {
      scope: 'one',
      filter: '(&(objectClass=user)(!(mS-DS-ConsistencyGuid=*)))',
      attributes: ['sAMAccountName', 'objectGUID'],
      explicitBufferAttributes: ['objectGUID'],
      paged: { pageSize: 1000 },
    });
    const toAnchor = searchEntries.filter((e) => {
      const name = String(
        Object.entries(e).find(([k]) => k.toLowerCase() === 'samaccountname')?.[1],
      );
      const i = Number(name.slice('scale'.length));
      return name.startsWith('scale') && i < count && scaleUser(i).anchor;
    });
    await parallel(clients, toAnchor, async (c, e) => {
      const guid = binaryOf(e, 'objectGUID');
      if (guid === undefined) throw new Error(`no objectGUID for ${e.dn}`);
      await c.modify(
        e.dn,
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'mS-DS-ConsistencyGuid', values: [guid] }),
        }),
      );
    });
    return { ou, added: missing.length, seconds: (performance.now() - started) / 1000 };
  } finally {
    await Promise.all(clients.map((c) => c.unbind().catch(() => undefined)));
  }
}

/** The DC's own paged search with the OpenLDAP CLI, as the service account; returns ms and the entry count. */
function ldapsearchRun(env: SambaEnv, ou: string): { ms: number; entries: number } {
  const t0 = performance.now();
  const r = spawnSync(
    'ldapsearch',
    [
      '-LLL',
      '-x',
      '-H',
      env.urls[0] ?? '',
      '-D',
      env.bindDn,
      '-w',
      env.bindPassword,
      '-b',
      ou,
      '-E',
      `pr=${String(PAGE_SIZE)}/noprompt`,
      SCAN_FILTER,
      ...SCAN_ATTRIBUTES,
    ],
    { env: ldapCliEnv(env), encoding: 'utf8', maxBuffer: 1 << 30 },
  );
  const ms = performance.now() - t0;
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) throw new Error(`ldapsearch failed: ${r.stderr}`);
  return { ms, entries: (r.stdout.match(/^dn: /gm) ?? []).length };
}

export async function doctorBench(opts: { rounds: number }): Promise<DoctorBenchResult> {
  const prep = spawnSync('bash', [`${root}tests/setup/doctor-schema.sh`], { stdio: 'inherit' });
  if (prep.status !== 0) throw new Error('tests/setup/doctor-schema.sh failed');
  const env = sambaEnv();
  const seeded = await seedScaleOu(env);
  const config = resolveConfig(
    {
      directory: sambaLdapConfig(env, { baseDn: seeded.ou, timeoutMs: 60_000 }),
      microsoft365: { federatedDomains: [FEDERATED_DOMAIN] },
    },
    { baseDir: root, source: 'bench/doctor.ts', embeddedDefaults: false },
  );
  // Warm-up of both (TLS, JIT, the DC's caches), then interleaved rounds.
  let last: ScanResult = await scanDirectory(config, { clock: systemClock, pageSize: PAGE_SIZE });
  ldapsearchRun(env, seeded.ou);
  const scanMs: number[] = [];
  const cliMs: number[] = [];
  let entries = 0;
  for (let r = 0; r < opts.rounds; r++) {
    const t0 = performance.now();
    last = await scanDirectory(config, { clock: systemClock, pageSize: PAGE_SIZE });
    scanMs.push(performance.now() - t0);
    const cli = ldapsearchRun(env, seeded.ou);
    cliMs.push(cli.ms);
    entries = cli.entries;
  }
  const byClass: Record<string, number> = {};
  for (const f of last.findings) byClass[f.class] = (byClass[f.class] ?? 0) + 1;
  const scanMedian = median(scanMs);
  const cliMedian = median(cliMs);
  return {
    users: last.stats.users,
    seedSeconds: seeded.seconds,
    usersAdded: seeded.added,
    scan: {
      medianMs: scanMedian,
      runsMs: scanMs,
      pages: last.stats.pages,
      objects: last.stats.objects,
      findings: last.findings.length,
    },
    ldapsearch: { medianMs: cliMedian, runsMs: cliMs, entries },
    usersPerSecond: (last.stats.users * 1000) / scanMedian,
    ratio: scanMedian / cliMedian,
    findingsByClass: byClass,
  };
}

export async function doctorSection(opts: { quick: boolean }): Promise<DoctorBenchResult> {
  const r = await doctorBench({ rounds: opts.quick ? 3 : 5 });
  console.log(
    `fedgate doctor directory scan of ${fmt(r.users)} users on Samba AD (paged, ${String(PAGE_SIZE)} a page; same run, interleaved, median of rounds)`,
  );
  if (r.usersAdded > 0)
    console.log(`seeded ${fmt(r.usersAdded)} users in ${fmt(r.seedSeconds)} s (first run only)`);
  console.log(
    table(
      ['what', 'median ms', 'users/s', 'pages', 'entries', 'findings'],
      [
        [
          'scanDirectory (read + IdFix rules)',
          r.scan.medianMs,
          r.usersPerSecond,
          String(r.scan.pages),
          fmt(r.scan.objects),
          fmt(r.scan.findings),
        ],
        [
          'ldapsearch -E pr=500 (read only)',
          r.ldapsearch.medianMs,
          (r.ldapsearch.entries * 1000) / r.ldapsearch.medianMs,
          `≥ ${String(Math.ceil(r.ldapsearch.entries / PAGE_SIZE))}`,
          fmt(r.ldapsearch.entries),
          '—',
        ],
      ],
    ),
  );
  console.log(
    `scan ÷ ldapsearch: ${r.ratio.toFixed(2)}; findings by class: ${Object.entries(
      r.findingsByClass,
    )
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ')}\n`,
  );
  return r;
}
