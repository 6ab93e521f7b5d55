/**
 * First-factor enrolment right after a certificate sign-in (issue 16, "Enrolment policy is the admin's": "only right
 * after a certificate sign-in"), on real sockets: fedgate's main listener and its certificate listener, a real TLS
 * client presenting a smartcard certificate from the test PKI, Samba AD as the directory with enrolments in the
 * attribute samba.sh grants the service account write access to. Microsoft 365 requires MFA of everyone; the user
 * has no factor yet.
 * - allow ['certificate']: the certificate sign-in is met by the TOTP enrolment form at once; a code from Debian's
 *   oathtool (not fedgate's TOTP) enrols it and completes the sign-in; xml-crypto reads multipleauthn in the token;
 *   the audit says route certificate; the record in AD (opened with the documented construction) holds the secret.
 * - same policy, a password sign-in: no enrolment form, the helpdesk page, mfa_enrolment_refused reason policy
 *   (the defence: enrolRoute's "the first factor was a certificate" check in mfa-page.ts).
 * - allow ['code'] only: a certificate sign-in is asked for a helpdesk enrolment code, not offered enrolment.
 * Each case has its own AD account (ensureAdUser), so files running at the same time never share a record.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ConfigInput } from '../../server/config/schema.ts';
import { sidToString } from '../../server/directory/guid.ts';
import { FixedClock } from '../../server/lib/clock.ts';
import { Jar, M365, decodeEntities, formAction, hidden } from '../helpers/app.ts';
import {
  certificateLink,
  send,
  startCertAuthServer,
  takeCookies,
  type CertAuthServer,
  type Reply,
} from '../helpers/certauth.ts';
import {
  AMR,
  MFA_ATTRIBUTE,
  MFA_INSTANT,
  MFA_SECRET,
  MULTIPLE_AUTHN,
  ensureAdUser,
  oathtool,
  openRecord,
  readMfaAttribute,
  type AdUser,
} from '../helpers/mfa.ts';
import { TestPki, type Leaf } from '../helpers/pki.ts';
import {
  readBinaryAttributeWithCli,
  readObjectGuidWithCli,
  sambaEnv,
  type SambaEnv,
} from '../helpers/samba.ts';
import {
  SAML11_ID_ATTR,
  certFromMetadata,
  extractAssertionFromRstr,
  verifySaml11WithXmlCrypto,
  verifyWithXmlsec1,
} from '../helpers/verify.ts';

const TLSCLIENT = 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/tlsclient';
const OTP = 'http://schemas.microsoft.com/ws/2012/12/authmethod/otp';
const ENTRA = 'https://login.microsoftonline.com/login.srf';
const main = (path: string): string => `http://127.0.0.1${path}`;

/** fedgate with certificate sign-in on Samba AD; Microsoft 365 needs MFA of everyone; TOTP is the only method. */
function mfaConfig(env: SambaEnv, allow: ('certificate' | 'code')[]): ConfigInput {
  return {
    microsoft365: {
      federatedDomains: [env.upnSuffix],
      mfa: { accessControlPolicies: [{ kind: 'everyone' }] },
    },
    mfa: {
      methods: ['totp'],
      secrets: [MFA_SECRET],
      enrolment: { attribute: MFA_ATTRIBUTE, allow },
    },
  };
}

/** A smartcard certificate for the account: its SID in the SID extension (strong mapping) and its UPN. */
function smartcard(pki: TestPki, env: SambaEnv, user: AdUser): Leaf {
  const sid = sidToString(
    readBinaryAttributeWithCli(env, user.sAMAccountName, 'objectSid') ?? Buffer.alloc(0),
  );
  assert.ok(sid, `objectSid of ${user.sAMAccountName}`);
  return pki.issue(user.sAMAccountName, { sid, upn: user.upn });
}

/** Opens the Microsoft 365 WS-Fed sign-in page on the main listener. */
async function begin(srv: CertAuthServer): Promise<{ jar: Jar; page: string }> {
  const jar = new Jar();
  const page = await send(
    main(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(M365)}`),
    srv.mainPort,
  );
  takeCookies(jar, page);
  assert.equal(page.status, 200, page.body.slice(0, 300));
  return { jar, page: page.body };
}

/** A certificate sign-in: the page's certificate link with a real TLS client certificate, then back to the main host. */
async function certificateSignIn(
  srv: CertAuthServer,
  leaf: Leaf,
): Promise<{ jar: Jar; page: string }> {
  const { jar, page } = await begin(srv);
  const leg = await send(certificateLink(page), srv.certPort, { ca: srv.ca, cert: leaf });
  assert.equal(leg.status, 302, leg.body.slice(0, 300));
  const back = new URL(leg.headers.location ?? '');
  const done = await send(main(back.pathname + back.search), srv.mainPort, {
    cookie: jar.header(),
  });
  takeCookies(jar, done);
  assert.equal(done.status, 200, done.body.slice(0, 300));
  return { jar, page: done.body };
}

/** A password sign-in on the main listener's form. */
async function passwordSignIn(
  srv: CertAuthServer,
  user: AdUser,
): Promise<{ jar: Jar; page: string }> {
  const { jar, page } = await begin(srv);
  const res = await send(main('/adfs/ls/'), srv.mainPort, {
    method: 'POST',
    cookie: jar.header(),
    body: new URLSearchParams({
      AuthState: hidden(page, 'AuthState'),
      csrf: hidden(page, 'csrf'),
      UserName: user.upn,
      Password: user.password,
      AuthMethod: 'FormsAuthentication',
    }).toString(),
  });
  takeCookies(jar, res);
  assert.equal(res.status, 200, res.body.slice(0, 300));
  return { jar, page: res.body };
}

/** An answer on the MFA page (POST /adfs/ls/mfa), with the page's AuthState and CSRF token. */
async function answer(
  srv: CertAuthServer,
  jar: Jar,
  page: string,
  fields: Record<string, string>,
): Promise<Reply> {
  const res = await send(main('/adfs/ls/mfa'), srv.mainPort, {
    method: 'POST',
    cookie: jar.header(),
    body: new URLSearchParams({
      AuthState: hidden(page, 'AuthState'),
      csrf: hidden(page, 'csrf'),
      ...fields,
    }).toString(),
  });
  takeCookies(jar, res);
  return res;
}

describe('MFA enrolment allowed right after a certificate sign-in (mfa.enrolment.allow certificate)', () => {
  let env: SambaEnv;
  let pki: TestPki;
  let srv: CertAuthServer;
  let signingCert: string;
  let certUser: AdUser;
  let passwordUser: AdUser;
  let leaf: Leaf;
  let clock: FixedClock;

  before(async () => {
    env = sambaEnv();
    certUser = ensureAdUser(env, 'mfacertenrol1');
    passwordUser = ensureAdUser(env, 'mfacertenrol2');
    pki = await TestPki.create();
    leaf = smartcard(pki, env, certUser);
    // Fixed after the PKI's CRLs were made (they are valid from their making), so TOTP codes are computed for
    // the very instant fedgate checks them.
    clock = new FixedClock(Date.now() + 5_000);
    srv = await startCertAuthServer(pki, env, { config: mfaConfig(env, ['certificate']), clock });
    const md = await send(main('/FederationMetadata/2007-06/FederationMetadata.xml'), srv.mainPort);
    signingCert = certFromMetadata(md.body)[0]!;
  });
  after(async () => {
    await srv.close();
    await pki.close();
  });

  it('a certificate sign-in is offered TOTP enrolment at once; a code from oathtool enrols it and the token says multipleauthn', async () => {
    const { jar, page } = await certificateSignIn(srv, leaf);
    assert.match(page, /id="enrolTotpForm"/, 'the enrolment form, with no enrolment code asked');
    assert.doesNotMatch(page, /id="enrolCodeForm"|name="wresult"/);
    assert.equal(srv.logs.events('mfa_required').at(-1)?.upn, certUser.upn);
    const secret = decodeEntities(/id="totpSecret">([^<]*)</.exec(page)?.[1] ?? '').replace(
      /\s+/g,
      '',
    );
    assert.match(secret, /^[A-Z2-7]{32}$/);

    const done = await answer(srv, jar, page, {
      Method: 'enrol-totp',
      Code: oathtool(secret, clock.now()),
      FactorName: 'Phone',
    });
    assert.equal(done.status, 200, done.body.slice(0, 300));
    assert.equal(formAction(done.body), ENTRA);
    const assertion = extractAssertionFromRstr(hidden(done.body, 'wresult'));
    const xmlsec = verifyWithXmlsec1(assertion, signingCert, SAML11_ID_ATTR);
    assert.equal(xmlsec.ok, true, xmlsec.output);
    const claims = verifySaml11WithXmlCrypto(assertion, signingCert);
    const guid = readObjectGuidWithCli(env, certUser.sAMAccountName);
    assert.equal(claims.nameIdentifier, guid.toString('base64'));
    const amr = claims.attributes[AMR] ?? [];
    assert.ok(amr.includes(MULTIPLE_AUTHN), `authnmethodsreferences: ${amr.join(', ')}`);
    assert.ok(amr.includes(TLSCLIENT), 'the first factor stays the certificate');
    assert.ok(amr.includes(OTP), 'the second factor is a one-time code');
    assert.equal(claims.attributes[MFA_INSTANT]?.length, 1);

    const enrolled = srv.logs.events('mfa_enrolment').at(-1);
    assert.equal(enrolled?.route, 'certificate');
    assert.equal(enrolled.action, 'added');
    assert.equal(enrolled.method, 'totp');
    assert.equal(enrolled.by, 'self');
    assert.equal(enrolled.upn, certUser.upn);
    assert.equal(enrolled.account, `guid:${guid.toString('base64')}`);

    // What AD now holds, read with ldapsearch and opened without fedgate's code: the secret the page showed.
    const sealed = readMfaAttribute(env, certUser.sAMAccountName);
    assert.ok(sealed, `${MFA_ATTRIBUTE} written`);
    // The stored form (compact keys: f factors, k kind 't' TOTP, n name, s secret) as other e2e tests read it.
    const record = openRecord(env, certUser.sAMAccountName, sealed) as {
      f: { k: string; n: string; s?: string }[];
    };
    assert.deepEqual(
      record.f.map((f) => [f.k, f.n, f.s]),
      [['t', 'Phone', secret]],
    );
  });

  it('a password sign-in of a user without a factor is not offered enrolment: the helpdesk page, refused by policy', async () => {
    const before = srv.logs.events('mfa_enrolment_refused').length;
    const { page } = await passwordSignIn(srv, passwordUser);
    assert.match(page, /id="blockedText"/);
    assert.match(page, /no verification method is set up for your account\. Contact your helpdesk/);
    assert.doesNotMatch(page, /id="enrolTotpForm"|id="enrolCodeForm"|name="wresult"/);
    const refused = srv.logs.events('mfa_enrolment_refused');
    assert.equal(refused.length, before + 1);
    assert.equal(refused.at(-1)?.reason, 'policy');
    const guid = readObjectGuidWithCli(env, passwordUser.sAMAccountName).toString('base64');
    assert.equal(refused.at(-1)?.account, `guid:${guid}`);
    assert.equal(readMfaAttribute(env, passwordUser.sAMAccountName), undefined, 'nothing written');
  });
});

describe('MFA enrolment only with a helpdesk code (mfa.enrolment.allow code): a certificate is not enough', () => {
  let env: SambaEnv;
  let pki: TestPki;
  let srv: CertAuthServer;
  let user: AdUser;
  let leaf: Leaf;

  before(async () => {
    env = sambaEnv();
    user = ensureAdUser(env, 'mfacertenrol3');
    pki = await TestPki.create();
    leaf = smartcard(pki, env, user);
    srv = await startCertAuthServer(pki, env, {
      config: mfaConfig(env, ['code']),
      clock: new FixedClock(Date.now() + 5_000),
    });
  });
  after(async () => {
    await srv.close();
    await pki.close();
  });

  it('a certificate sign-in of a user without a factor is asked for an enrolment code, not offered enrolment', async () => {
    const { page } = await certificateSignIn(srv, leaf);
    assert.match(page, /id="enrolCodeForm"/);
    assert.doesNotMatch(page, /id="enrolTotpForm"|id="totpSecret"|name="wresult"/);
    assert.equal(srv.logs.events('mfa_enrolment').length, 0);
    assert.equal(readMfaAttribute(env, user.sAMAccountName), undefined, 'nothing written');
  });
});
