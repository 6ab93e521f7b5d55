/**
 * `fedgate doctor`'s AD policy checks against the real Samba AD DC (issue 21). The domain's lockout and password
 * policy (set by tests/setup/samba.sh) and its fine-grained password policies are read here with the ldapsearch CLI
 * as Administrator, independently of fedgate, and fedgate's settings are placed below, at and above them. The
 * domain's policy is never changed (other tests rely on it); nothing is written.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../server/config/load.ts';
import type { Config } from '../../server/config/schema.ts';
import { checkDirectoryPolicy } from '../../server/doctor/policy-checks.ts';
import type { PlumbingCheck } from '../../server/doctor/types.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import {
  ldapsearchCli,
  ldifTextValue,
  sambaEnv,
  sambaOperatorDirectory,
} from '../helpers/samba.ts';

const env = sambaEnv();
const clock = new FixedClock();

/** The domain object's policy, read with the CLI as Administrator. */
function domainPolicy(): { threshold: number; windowMinutes: number; maxPwdAgeDays: number } {
  const ldif = ldapsearchCli(env, {
    base: env.baseDn,
    scope: 'base',
    filter: '(objectClass=*)',
    attributes: ['lockoutThreshold', 'lockOutObservationWindow', 'maxPwdAge'],
  });
  const n = (a: string): number => {
    const v = ldifTextValue(ldif, a);
    assert.ok(v !== undefined, `${a} in ${ldif}`);
    return Number(v);
  };
  return {
    threshold: n('lockoutThreshold'),
    // Negative 100 ns intervals.
    windowMinutes: -n('lockOutObservationWindow') / 600_000_000,
    maxPwdAgeDays: -n('maxPwdAge') / 864_000_000_000,
  };
}

/** The PSOs that exist (name → lockout threshold), as Administrator sees them. */
function psos(): Map<string, number> {
  const ldif = ldapsearchCli(env, {
    base: `CN=Password Settings Container,CN=System,${env.baseDn}`,
    scope: 'one',
    filter: '(objectClass=msDS-PasswordSettings)',
    attributes: ['cn', 'msDS-LockoutThreshold'],
  });
  const out = new Map<string, number>();
  for (const block of ldif.split('\n\n')) {
    const name = ldifTextValue(block, 'cn');
    const t = ldifTextValue(block, 'msDS-LockoutThreshold');
    if (name !== undefined && t !== undefined) out.set(name, Number(t));
  }
  return out;
}

const ad = domainPolicy();
const existing = psos();

function config(
  o: {
    lockout?: Record<string, unknown>;
    passwordChange?: Record<string, unknown>;
    directory?: Record<string, unknown>;
  } = {},
): Config {
  return resolveConfig(
    {
      directory: { ...sambaOperatorDirectory(env), connectTimeoutMs: 2000, ...o.directory },
      lockout: {
        threshold: ad.threshold - 1,
        // Longer than AD's reset time, as Microsoft's AD FS guidance asks of ExtranetObservationWindow.
        observationWindowMinutes: ad.windowMinutes + 1,
        ...o.lockout,
      },
      ...(o.passwordChange === undefined ? {} : { passwordChange: o.passwordChange }),
    },
    { baseDir: '/', source: 'doctor-policy test', embeddedDefaults: false },
  );
}

async function run(c: Config): Promise<Map<string, PlumbingCheck>> {
  const checks = await checkDirectoryPolicy(c, { clock });
  for (const x of checks) assert.equal(x.area, 'policy');
  return new Map(checks.map((x) => [x.check, x]));
}

function get(m: Map<string, PlumbingCheck>, check: string): PlumbingCheck {
  const c = m.get(check);
  assert.ok(c !== undefined, `check ${check} present in ${[...m.keys()].join(', ')}`);
  return c;
}

describe('fedgate doctor: AD policy against fedgate (Samba AD DC)', () => {
  it('the test domain is what samba.sh sets (a lockout threshold, a window, password expiry)', (t) => {
    assert.ok(ad.threshold > 1, `lockoutThreshold ${ad.threshold}`);
    assert.ok(ad.windowMinutes > 1 && ad.maxPwdAgeDays > 1);
    assert.ok(existing.size > 0, 'the DC has PSOs');
    t.diagnostic(
      `AD lockoutThreshold ${ad.threshold}, window ${ad.windowMinutes} min, maxPwdAge ${ad.maxPwdAgeDays} days; PSOs ${[...existing].map(([n, v]) => `${n}=${v}`).join(', ')}`,
    );
  });

  it('lockout-threshold: below AD → ok; equal → error; above → error, with both figures', async () => {
    const below = get(await run(config()), 'lockout-threshold');
    assert.equal(below.status, 'ok', below.message);
    for (const fg of [ad.threshold, ad.threshold + 1]) {
      const c = get(await run(config({ lockout: { threshold: fg } })), 'lockout-threshold');
      assert.equal(c.status, 'error', `${fg}: ${c.message}`);
      assert.match(
        c.message,
        new RegExp(`threshold ${fg} is not below AD's lockoutThreshold ${ad.threshold}`),
      );
    }
  });

  it('lockout-threshold: fedgate lockout off → warning; log-only → warning', async () => {
    const off = await run(config({ lockout: { enabled: false } }));
    assert.equal(get(off, 'lockout-threshold').status, 'warning');
    assert.match(get(off, 'lockout-threshold').message, /AD will lock users out from the extranet/);
    assert.equal(get(off, 'lockout-observation-window').status, 'info');
    const logOnly = get(await run(config({ lockout: { mode: 'log-only' } })), 'lockout-threshold');
    assert.equal(logOnly.status, 'warning', logOnly.message);
    assert.match(logOnly.message, /log-only/);
  });

  it("lockout-observation-window: shorter than or equal to AD's reset time → warning with figures; longer → ok", async () => {
    for (const w of [ad.windowMinutes - 1, ad.windowMinutes]) {
      const c = get(
        await run(config({ lockout: { observationWindowMinutes: w } })),
        'lockout-observation-window',
      );
      assert.equal(c.status, 'warning', `${w}: ${c.message}`);
      assert.match(
        c.message,
        new RegExp(`observationWindowMinutes ${w} is not longer than .* ${ad.windowMinutes} min`),
      );
    }
    const longer = get(await run(config()), 'lockout-observation-window');
    assert.equal(longer.status, 'ok', longer.message);
    assert.match(
      longer.message,
      new RegExp(
        `${ad.windowMinutes + 1} min is longer than AD's reset-counter time ${ad.windowMinutes} min`,
      ),
    );
  });

  it('password-expiry-window: notice below maxPwdAge → ok; equal or above → warning; 0 → info', async () => {
    const expect = async (days: number, status: string): Promise<PlumbingCheck> => {
      const c = get(
        await run(config({ passwordChange: { expiryNoticeDays: days } })),
        'password-expiry-window',
      );
      assert.equal(c.status, status, `${days}: ${c.message}`);
      return c;
    };
    await expect(ad.maxPwdAgeDays - 1, 'ok');
    const eq = await expect(ad.maxPwdAgeDays, 'warning');
    assert.match(
      eq.message,
      new RegExp(
        `expiryNoticeDays ${ad.maxPwdAgeDays} is not below AD's maxPwdAge ${ad.maxPwdAgeDays} days`,
      ),
    );
    await expect(ad.maxPwdAgeDays + 1, 'warning');
    await expect(0, 'info');
  });

  it('PSOs: the service account cannot see them → info (the CLI as svc-fedgate sees none either)', async () => {
    const asService = ldapsearchCli(env, {
      bindDn: env.bindDn,
      password: env.bindPassword,
      base: `CN=Password Settings Container,CN=System,${env.baseDn}`,
      scope: 'one',
      filter: '(objectClass=msDS-PasswordSettings)',
      attributes: ['cn'],
    });
    assert.doesNotMatch(asService, /^dn:/m);
    const c = get(await run(config()), 'fine-grained-password-policy');
    assert.equal(c.status, 'info', c.message);
  });

  it("PSOs read by an account allowed to: the ones at or below fedgate's threshold are named in a warning", async () => {
    const admin = { bindDn: env.adminDn, bindPassword: env.adminPassword };
    const thresholds = [...new Set(existing.values())].sort((a, b) => a - b);
    const lowest = thresholds[0] ?? 0;
    // Below every PSO's threshold: ok, each listed.
    const okCase = get(
      await run(config({ directory: admin, lockout: { threshold: lowest - 1 } })),
      'fine-grained-password-policy',
    );
    assert.equal(okCase.status, 'ok', okCase.message);
    for (const name of existing.keys()) assert.ok(okCase.message.includes(name), name);
    // At each PSO threshold: exactly the PSOs at or below it are named.
    for (const t of thresholds) {
      const c = get(
        await run(config({ directory: admin, lockout: { threshold: t } })),
        'fine-grained-password-policy',
      );
      assert.equal(c.status, 'warning', `${t}: ${c.message}`);
      for (const [name, v] of existing) {
        const named = new RegExp(`${name} \\(lockout threshold ${v}`).test(c.message);
        assert.equal(named, v <= t, `${name} (${v}) at fedgate threshold ${t}: ${c.message}`);
      }
    }
  });

  it('no DC answers → one domain-policy error, no crash', async () => {
    const m = await run(config({ directory: { urls: ['ldaps://127.0.0.1:1'] } }));
    assert.deepEqual([...m.keys()], ['domain-policy']);
    assert.equal(get(m, 'domain-policy').status, 'error');
    assert.match(get(m, 'domain-policy').message, /ECONNREFUSED/);
  });
});
