/**
 * Issue 18, "a controlled clock walks a full year": one node on a FixedClock, a fresh keys.dir, the rollover check
 * run once a day (as the 720-minute timer would, at least once a day) through two whole rollovers (AD FS
 * AutoCertificateRollover defaults: generate 20 days before expiry, promote 5 days later; fedgate keeps the replaced
 * primary published 7 days).
 *
 * Every day the test does what Entra ID does (entra-protocol §4.2: it polls the federation metadata daily from 35
 * days before expiry): it fetches FederationMetadata.xml over HTTP, takes the signing certificates out of the
 * SecurityTokenServiceType RoleDescriptor's KeyDescriptor use="signing" with its own xmldom walk (not fedgate's
 * code), checks the document's signature, and verifies a WS-Fed token for urn:federation:MicrosoftOnline against the
 * first (primary) certificate. xml-crypto checks every day (cheap); xmlsec1 checks on each day a stage begins and
 * ends. The expected days are written by hand from the thresholds, not read from the code.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DOMParser } from '@xmldom/xmldom';
import request from 'supertest';
import { FixedClock } from '../../server/lib/clock.ts';
import { hidden, makeTestApp, signIn, type TestApp } from '../helpers/app.ts';
import {
  METADATA_ID_ATTR,
  SAML11_ID_ATTR,
  extractAssertionFromRstr,
  verifyMetadataWithXmlCrypto,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
} from '../helpers/verify.ts';

const DAY = 24 * 3600 * 1000;
const T0 = new Date('2027-01-10T08:00:00.000Z');
const ALICE = { username: 'alice@fedgate.test', password: 'Passw0rd!' };
const METADATA = '/FederationMetadata/2007-06/FederationMetadata.xml';
const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const FED = 'http://docs.oasis-open.org/wsfed/federation/200706';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const DS = 'http://www.w3.org/2000/09/xmldsig#';

// The schedule, by hand. K1 is made at T0 for one calendar year (2027-01-10 → 2028-01-10: 365 days). K2 is generated
// when K1 has 20 days left (day 345), valid 365 days from then (to day 710); promoted 5 days after it was added
// (day 350); K1 leaves the metadata 7 days after it was replaced (day 357). K3: generated on day 690 (K2 has 20 days
// left), promoted on day 695, K2 removed on day 702.
const G1 = 345;
const P1 = 350;
const R1 = 357;
const G2 = 690;
const P2 = 695;
const R2 = 702;
const LAST_DAY = 720;
const STAGE_DAYS = new Set([
  0,
  G1 - 1,
  G1,
  P1 - 1,
  P1,
  R1 - 1,
  R1,
  G2 - 1,
  G2,
  P2 - 1,
  P2,
  R2 - 1,
  R2,
  LAST_DAY,
]);

/** What Entra takes from the metadata: the STS role's signing certificates, base64 DER, in document order. */
function entraSigningCertificates(xml: string): string[] {
  const doc = new DOMParser({
    errorHandler: (level: string, msg: unknown) => {
      throw new Error(`metadata does not parse (${level}): ${String(msg)}`);
    },
  }).parseFromString(xml, 'text/xml');
  const out: string[] = [];
  for (const role of Array.from(doc.getElementsByTagNameNS(MD, 'RoleDescriptor'))) {
    const type = role.getAttributeNS(XSI, 'type') ?? '';
    const [prefix, local] = type.includes(':') ? type.split(':', 2) : [null, type];
    if (local !== 'SecurityTokenServiceType' || role.lookupNamespaceURI(prefix ?? null) !== FED)
      continue;
    for (const kd of Array.from(role.childNodes)) {
      if (kd.nodeType !== 1) continue;
      const el = kd as Element;
      if (el.namespaceURI !== MD || el.localName !== 'KeyDescriptor') continue;
      if (el.getAttribute('use') !== 'signing') continue;
      for (const c of Array.from(el.getElementsByTagNameNS(DS, 'X509Certificate')))
        out.push(c.textContent.replace(/\s+/g, ''));
    }
  }
  return out;
}

const pemOf = (b64: string): string => new X509Certificate(Buffer.from(b64, 'base64')).toString();
const sha1 = (b64: string): string =>
  new X509Certificate(Buffer.from(b64, 'base64')).fingerprint.replace(/:/g, '');

interface Poll {
  day: number;
  now: Date;
  /** base64 DER of the published signing certificates, primary first. */
  certs: string[];
  /** The certificate the day's token verified with (xml-crypto, pinned). */
  signer: string;
}

describe('key rollover: a controlled clock walks two years of one node', () => {
  const clock = new FixedClock(T0);
  let t: TestApp;
  const polls: Poll[] = [];
  /** Files of the keys as each one was first seen in the manifest: name → files. */
  const filesOf = new Map<string, string[]>();
  const dirState: { day: number; pem: string[]; other: string[] }[] = [];

  const manifestEntries = (): {
    thumbprint: string;
    cert: string;
    key?: string;
    role: string;
  }[] => {
    const file = join(t.config.keys.dir, 'token-signing.json');
    if (!existsSync(file)) return [];
    return (
      JSON.parse(readFileSync(file, 'utf8')) as {
        keys: { thumbprint: string; cert: string; key?: string; role: string }[];
      }
    ).keys;
  };

  async function tokenOfTheDay(): Promise<string> {
    const { res } = await signIn(t.app, ALICE);
    assert.equal(res.status, 200, res.text.slice(0, 300));
    return extractAssertionFromRstr(hidden(res.text, 'wresult'));
  }

  async function pollDay(day: number): Promise<void> {
    const now = clock.now();
    const md = await request(t.app).get(METADATA);
    assert.equal(md.status, 200, `day ${String(day)}: metadata`);
    const certs = entraSigningCertificates(md.text);
    assert.ok(certs.length >= 1, `day ${String(day)}: no signing certificate in the metadata`);
    const [primary = ''] = certs;
    // The document is signed by the first certificate it names.
    verifyMetadataWithXmlCrypto(md.text, pemOf(primary));
    const token = await tokenOfTheDay();
    const verifying = certs.filter((c) => {
      try {
        verifySaml11WithXmlCrypto(token, pemOf(c));
        return true;
      } catch {
        return false;
      }
    });
    assert.deepEqual(
      verifying.map(sha1),
      [sha1(primary)],
      `day ${String(day)}: the token verifies with the primary (first) certificate and no other`,
    );
    const x = new X509Certificate(Buffer.from(primary, 'base64'));
    assert.ok(
      new Date(x.validFrom).getTime() <= now.getTime() &&
        now.getTime() < new Date(x.validTo).getTime(),
      `day ${String(day)}: the signing certificate is not valid now (${x.validFrom} to ${x.validTo}, now ${now.toISOString()})`,
    );
    if (STAGE_DAYS.has(day)) {
      const m = verifyWithXmlsec1(md.text, pemOf(primary), METADATA_ID_ATTR);
      assert.ok(m.ok, `day ${String(day)}: xmlsec1 on the metadata: ${m.output}`);
      const tk = verifyWithXmlsec1(token, pemOf(primary), SAML11_ID_ATTR);
      assert.ok(tk.ok, `day ${String(day)}: xmlsec1 on the token: ${tk.output}`);
      for (const other of certs.slice(1)) {
        const o = verifyWithXmlsec1(token, pemOf(other), SAML11_ID_ATTR);
        assert.ok(!o.ok, `day ${String(day)}: xmlsec1 must refuse the token with ${sha1(other)}`);
      }
    }
    polls.push({ day, now, certs, signer: primary });
    for (const e of manifestEntries()) {
      if (!filesOf.has(e.thumbprint))
        filesOf.set(e.thumbprint, [e.cert, ...(e.key === undefined ? [] : [e.key])]);
    }
    const names = readdirSync(t.config.keys.dir);
    dirState.push({
      day,
      pem: names.filter((n) => n.startsWith('token-signing') && n.endsWith('.pem')).sort(),
      other: names.filter((n) => n.endsWith('.tmp') || n === '.rollover.lock'),
    });
  }

  before(async () => {
    t = await makeTestApp({}, { clock });
    // Day 0: the node as started (its first rollover check already ran inside buildServices).
    await pollDay(0);
    for (let day = 1; day <= LAST_DAY; day++) {
      clock.set(T0.getTime() + day * DAY);
      const r = await t.services.keyLifecycle.runIfDue();
      assert.equal(r.status, 'done', `day ${String(day)}: the rollover check ran`);
      await pollDay(day);
    }
  });
  after(async () => {
    await (t as TestApp | undefined)?.close();
  });

  const onDay = (d: number): Poll => {
    const p = polls[d];
    assert.ok(p?.day === d, 'p?.day === d');
    return p;
  };
  const K1 = (): string => onDay(0).certs[0] ?? '';
  const K2 = (): string => onDay(G1).certs[1] ?? '';
  const K3 = (): string => onDay(G2).certs[1] ?? '';

  test('the first key is valid for one year from T0', () => {
    const x = new X509Certificate(Buffer.from(K1(), 'base64'));
    assert.equal(new Date(x.validFrom).toISOString(), T0.toISOString());
    assert.equal(
      new Date(x.validTo).toISOString(),
      new Date(T0.getTime() + 365 * DAY).toISOString(),
    );
  });

  test('before generation: the primary alone is published and signs', () => {
    for (let d = 0; d < G1; d++) {
      assert.deepEqual(onDay(d).certs.map(sha1), [sha1(K1())], `day ${String(d)}`);
      assert.equal(sha1(onDay(d).signer), sha1(K1()));
    }
  });

  test('after generation (20 days before expiry): both certificates, the primary first; the primary still signs', () => {
    assert.notEqual(K2(), '');
    for (let d = G1; d < P1; d++) {
      assert.deepEqual(onDay(d).certs.map(sha1), [sha1(K1()), sha1(K2())], `day ${String(d)}`);
      assert.equal(sha1(onDay(d).signer), sha1(K1()), `day ${String(d)}`);
    }
    const k2 = new X509Certificate(Buffer.from(K2(), 'base64'));
    assert.equal(new Date(k2.validFrom).getTime(), T0.getTime() + G1 * DAY);
    assert.equal(new Date(k2.validTo).getTime(), T0.getTime() + (G1 + 365) * DAY);
  });

  test('after promotion (5 days later): the new primary signs, the old one stays published for the grace period', () => {
    for (let d = P1; d < R1; d++) {
      assert.deepEqual(onDay(d).certs.map(sha1), [sha1(K2()), sha1(K1())], `day ${String(d)}`);
      assert.equal(sha1(onDay(d).signer), sha1(K2()), `day ${String(d)}`);
    }
  });

  test('after the grace period (7 days): the old certificate is gone from the metadata and its files from disk', () => {
    for (let d = R1; d < G2; d++) {
      assert.deepEqual(onDay(d).certs.map(sha1), [sha1(K2())], `day ${String(d)}`);
    }
    const k1Files = filesOf.get(sha1(K1())) ?? [];
    const k2Files = filesOf.get(sha1(K2())) ?? [];
    assert.equal(k1Files.length, 2, 'K1 had a key file and a certificate file');
    assert.equal(k2Files.length, 2);
    const beforeRetire = dirState[R1 - 1];
    const atRetire = dirState[R1];
    assert.ok(
      beforeRetire !== undefined && atRetire !== undefined,
      'beforeRetire !== undefined && atRetire !== undefined',
    );
    for (const f of k1Files) assert.ok(beforeRetire.pem.includes(f), `${f} there before`);
    assert.deepEqual(atRetire.pem, [...k2Files].sort(), 'only K2 is left on disk');
  });

  test('the second rollover: generation, promotion, removal on the days the thresholds give', () => {
    assert.notEqual(K3(), '');
    for (let d = G2; d < P2; d++) {
      assert.deepEqual(onDay(d).certs.map(sha1), [sha1(K2()), sha1(K3())], `day ${String(d)}`);
      assert.equal(sha1(onDay(d).signer), sha1(K2()));
    }
    for (let d = P2; d < R2; d++) {
      assert.deepEqual(onDay(d).certs.map(sha1), [sha1(K3()), sha1(K2())], `day ${String(d)}`);
      assert.equal(sha1(onDay(d).signer), sha1(K3()));
    }
    for (let d = R2; d <= LAST_DAY; d++)
      assert.deepEqual(onDay(d).certs.map(sha1), [sha1(K3())], `day ${String(d)}`);
    assert.deepEqual(dirState[R2]?.pem, [...(filesOf.get(sha1(K3())) ?? [])].sort());
  });

  test('every next certificate was in the metadata for at least 5 daily polls before it signed', () => {
    for (const k of [K2(), K3()]) {
      const firstSigned = polls.find((p) => sha1(p.signer) === sha1(k));
      assert.ok(firstSigned !== undefined, 'firstSigned !== undefined');
      const pollsBefore = polls.filter(
        (p) => p.day < firstSigned.day && p.certs.some((c) => sha1(c) === sha1(k)),
      ).length;
      assert.ok(
        pollsBefore >= 5,
        `${sha1(k)}: published in ${String(pollsBefore)} polls before it signed`,
      );
    }
  });

  test('no day of the walk signs with a certificate that is expired or not yet valid', () => {
    // Checked each day in pollDay; here: the walk covered every day, with no gap.
    assert.equal(polls.length, LAST_DAY + 1);
    assert.deepEqual(
      polls.map((p) => p.day),
      Array.from({ length: LAST_DAY + 1 }, (_, i) => i),
    );
  });

  test('nothing half-done is left in keys.dir: no temporary file, no lock', () => {
    for (const s of dirState) assert.deepEqual(s.other, [], `day ${String(s.day)}`);
  });

  test('each step is audited as key_rollover; a generation carries the Update-MgDomainFederationConfiguration line', () => {
    const ev = t.logs.events('key_rollover');
    assert.deepEqual(
      ev.map((e) => [e.action, e.thumbprint, e.role, e.by]),
      [
        ['generated', sha1(K2()), 'next', 'auto'],
        ['promoted', sha1(K2()), 'primary', 'auto'],
        ['retired', sha1(K1()), 'removed', 'auto'],
        ['generated', sha1(K3()), 'next', 'auto'],
        ['promoted', sha1(K3()), 'primary', 'auto'],
        ['retired', sha1(K2()), 'removed', 'auto'],
      ],
    );
    for (const [i, k] of [
      [0, K2()],
      [3, K3()],
    ] as const) {
      const tc = ev[i]?.tenantCommand;
      assert.equal(typeof tc, 'string', 'a tenantCommand');
      const cmd = tc as string;
      assert.match(cmd, /Update-MgDomainFederationConfiguration/);
      assert.match(cmd, /-NextSigningCertificate "([A-Za-z0-9+/=]+)"/);
      assert.equal(/-NextSigningCertificate "([A-Za-z0-9+/=]+)"/.exec(cmd)?.[1], k);
    }
    for (const e of ev.filter((x) => x.action !== 'generated'))
      assert.equal(e.tenantCommand, undefined, 'only a new next key carries the push line');
  });
});

describe('key rollover: a node that was down past the critical threshold', () => {
  test('started after its primary expired, it signs with a fresh certificate before serving anything', async () => {
    const first = await makeTestApp({}, { clock: new FixedClock(T0) });
    const keysDir = first.config.keys.dir;
    const [k1 = ''] = entraSigningCertificates((await request(first.app).get(METADATA)).text);
    await first.close();
    // 400 days later: K1 expired 35 days ago. The first check runs inside buildServices (AD FS checks at service
    // start): generate and promote at once (CertificateCriticalThreshold).
    const later = new Date(T0.getTime() + 400 * DAY);
    const t = await makeTestApp({ keys: { dir: keysDir } }, { clock: new FixedClock(later) });
    try {
      const md = await request(t.app).get(METADATA);
      const certs = entraSigningCertificates(md.text);
      assert.equal(certs.length, 1, 'the expired certificate is not published');
      const [k2 = ''] = certs;
      assert.notEqual(sha1(k2), sha1(k1));
      const x = new X509Certificate(Buffer.from(k2, 'base64'));
      assert.ok(
        new Date(x.validFrom).getTime() <= later.getTime(),
        'new Date(x.validFrom).getTime() <= later.getTime()',
      );
      assert.ok(
        later.getTime() < new Date(x.validTo).getTime(),
        'later.getTime() < new Date(x.validTo).getTime()',
      );
      assert.ok(
        verifyWithXmlsec1(md.text, pemOf(k2), METADATA_ID_ATTR).ok,
        'verifyWithXmlsec1(md.text, pemOf(k2), METADATA_ID_ATTR).ok',
      );
      const { res } = await signIn(t.app, ALICE);
      const token = extractAssertionFromRstr(hidden(res.text, 'wresult'));
      const v = verifyWithXmlsec1(token, pemOf(k2), SAML11_ID_ATTR);
      assert.ok(v.ok, v.output);
      assert.deepEqual(
        t.logs.events('key_rollover').map((e) => [e.action, e.role]),
        [
          ['generated', 'next'],
          ['promoted', 'primary'],
        ],
      );
      assert.match(String(t.logs.events('key_rollover')[1]?.reason), /critical threshold/);
    } finally {
      await t.close();
    }
  });
});
