// Each typed audit function writes its event name, AD FS id, level and message on the audit stream, and only
// fields its AUDIT_EVENTS entry lists (docs/events.md is checked against that catalogue: events-doc.test.ts).
// Names, ids, levels and messages are what SIEM rules and the tests read (security-corpus E10).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogCapture } from '../../helpers/app.ts';
import * as audit from '../../../server/observability/audit.ts';
import { createLoggers } from '../../../server/observability/logger.ts';

const { AUDIT_EVENTS } = audit;
type Sink = audit.AuditSink;

const LEVEL = { info: 30, warn: 40, error: 50 } as const;
/** Fields pino and the audit child put on every line. */
const ENVELOPE = new Set(['level', 'time', 'service', 'stream', 'node', 'msg', 'event', 'eventId']);

const req = { ip: '192.0.2.10', activityId: 'a-1' };
const pw = {
  ...req,
  method: 'forms',
  username: 'alice',
  forwardedIps: ['198.51.100.1'],
  rp: 'urn:rp',
};
const lock = { account: 'guid:AAAA', location: 'unknown', badPasswordCount: 5 };
const cert = {
  thumbprint: 'ab',
  serialNumber: '01',
  certIssuer: 'CN=CA',
  certSubject: 'CN=alice',
};
const certBase = { ...req, method: 'certificate' as const, source: 'tls', rp: 'urn:rp' };
const issuance = {
  ...req,
  protocol: 'saml2' as const,
  rp: 'urn:rp',
  upn: 'alice@example.test',
  objectGuid: 'AAAA',
};
const claims = { rulesFired: { acceptance: null, authorization: 1, issuance: 2 }, claimsIssued: 3 };
const pwc = { ...req, method: 'password-change' as const, username: 'alice', rp: '' };
const mfaReq = { ...req, account: 'guid:AAAA', rp: 'urn:rp', reasons: ['wauth multipleauthn'] };
const mfaTry = { ...req, method: 'totp' as const, account: 'guid:AAAA', rp: 'urn:rp' };

interface Case {
  /** Exported function name. */
  fn: string;
  call: (a: Sink) => void;
  event: string;
  eventId: number | undefined;
  level: keyof typeof LEVEL;
  msg: string;
}

const CASES: Case[] = [
  {
    fn: 'signinSucceeded',
    call: (a) => {
      audit.signinSucceeded(a, {
        ...pw,
        outcome: 'success',
        upn: 'alice@example.test',
        objectGuid: 'AAAA',
        location: 'familiar',
      });
    },
    event: 'signin',
    eventId: undefined,
    level: 'info',
    msg: 'sign-in succeeded',
  },
  {
    fn: 'signinFailed',
    call: (a) => {
      audit.signinFailed(a, {
        ...pw,
        ...lock,
        outcome: 'failure',
        kind: 'bad_credentials',
        reason: 'ad:52e',
        objectGuid: 'AAAA',
      });
    },
    event: 'signin',
    eventId: 1203,
    level: 'warn',
    msg: 'credential validation failed',
  },
  {
    fn: 'signinFailed',
    call: (a) => {
      audit.signinFailed(a, { ...pw, outcome: 'failure', kind: 'disabled', reason: 'ad:533' });
    },
    event: 'signin',
    eventId: 1201,
    level: 'warn',
    msg: 'sign-in failed',
  },
  {
    fn: 'signinFailed',
    call: (a) => {
      audit.signinFailed(a, {
        ...pw,
        outcome: 'failure',
        kind: 'bad_credentials',
        reason: 'empty_password',
      });
    },
    event: 'signin',
    eventId: 1201,
    level: 'warn',
    msg: 'sign-in failed',
  },
  {
    fn: 'signinEmptyCredentials',
    call: (a) => {
      audit.signinEmptyCredentials(a, {
        ...req,
        method: 'wstrust',
        outcome: 'failure',
        kind: 'bad_credentials',
        reason: 'empty username or password',
        rp: 'urn:rp',
      });
    },
    event: 'signin',
    eventId: undefined,
    level: 'warn',
    msg: 'sign-in failed',
  },
  {
    fn: 'signinCertificateSucceeded',
    call: (a) => {
      audit.signinCertificateSucceeded(a, {
        ...certBase,
        ...cert,
        outcome: 'success',
        objectGuid: 'AAAA',
        upn: 'alice@example.test',
        mapping: 'sid',
      });
    },
    event: 'signin',
    eventId: undefined,
    level: 'info',
    msg: 'certificate sign-in succeeded',
  },
  {
    fn: 'signinCertificateSucceeded',
    call: (a) => {
      audit.signinCertificateSucceeded(a, {
        ...certBase,
        ...cert,
        outcome: 'success',
        objectGuid: 'AAAA',
        upn: 'alice@example.test',
        mapping: 'upn',
        weakMapping: true,
      });
    },
    event: 'signin',
    eventId: undefined,
    level: 'warn',
    msg: 'certificate sign-in succeeded with a weak (UPN) mapping',
  },
  {
    fn: 'signinCertificateFailed',
    call: (a) => {
      audit.signinCertificateFailed(a, {
        ...certBase,
        ...cert,
        outcome: 'failure',
        kind: 'revoked',
        reason: 'revoked',
        detail: 'certificate revoked',
        objectGuid: 'AAAA',
        upn: 'alice@example.test',
        mapping: 'sid',
      });
    },
    event: 'signin',
    eventId: 1201,
    level: 'warn',
    msg: 'certificate sign-in failed',
  },
  {
    fn: 'signinCertificateProxyRefused',
    call: (a) => {
      audit.signinCertificateProxyRefused(a, {
        ...certBase,
        source: 'proxy',
        outcome: 'failure',
        kind: 'proxy_rejected',
        reason: 'signature',
      });
    },
    event: 'signin',
    eventId: undefined,
    level: 'warn',
    msg: 'certificate from the load balancer refused',
  },
  {
    fn: 'signinCertificateMissing',
    call: (a) => {
      audit.signinCertificateMissing(a, {
        ...certBase,
        outcome: 'failure',
        kind: 'no_certificate',
      });
    },
    event: 'signin',
    eventId: undefined,
    level: 'warn',
    msg: 'certificate sign-in without a certificate',
  },
  {
    fn: 'tokenIssued',
    call: (a) => {
      audit.tokenIssued(a, {
        ...issuance,
        assertionId: '_1',
        method: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
        claims,
        notOnOrAfter: '2026-01-01T00:00:00.000Z',
        inResponseTo: '_r',
        encrypted: false,
        endpoint: '/adfs/services/trust/13/usernamemixed',
        tokenType: 'saml2',
        clientApplication: 'app',
      });
    },
    event: 'token_issued',
    eventId: 1200,
    level: 'info',
    msg: 'token issued',
  },
  {
    fn: 'accessDenied',
    call: (a) => {
      audit.accessDenied(a, { ...issuance, rule: 'no rule permitted', claims });
    },
    event: 'access_denied',
    eventId: 1201,
    level: 'warn',
    msg: 'access denied by issuance authorization rules',
  },
  ...(
    [
      ['rules', 'claim rules could not be evaluated for this user'],
      ['token', 'the issued claims could not be written as a token'],
      ['domain', 'no Microsoft 365 token for a user outside the federated domains'],
    ] as const
  ).map(([at, msg]): Case => ({
    fn: 'issuanceFailed',
    call: (a) => {
      audit.issuanceFailed(a, { ...issuance, reason: 'rule 1' }, at);
    },
    event: 'issuance_failed',
    eventId: 1201,
    level: 'warn',
    msg,
  })),
  {
    fn: 'saml2Status',
    call: (a) => {
      audit.saml2Status(a, {
        activityId: 'a-1',
        status: 'urn:oasis:names:tc:SAML:2.0:status:NoPassive',
        rp: 'urn:sp',
        requestId: '_r',
        reason: 'nameidentifier format',
      });
    },
    event: 'saml2_status',
    eventId: undefined,
    level: 'info',
    msg: 'SAML status response',
  },
  {
    fn: 'passwordChangeRequired',
    call: (a) => {
      audit.passwordChangeRequired(a, {
        ...req,
        kind: 'password_expired',
        reason: 'ad:532',
        username: 'alice',
        objectGuid: 'AAAA',
        rp: 'urn:rp',
      });
    },
    event: 'password_change_required',
    eventId: undefined,
    level: 'info',
    msg: 'password expired or must change: change-password page shown',
  },
  {
    fn: 'bannedAddress',
    call: (a) => {
      audit.bannedAddress(a, { ...pw, outcome: 'failure', reason: 'banned' });
    },
    event: 'banned_address',
    eventId: 1201,
    level: 'warn',
    msg: 'sign-in refused: the client address is banned',
  },
  {
    fn: 'sourceRateLimited',
    call: (a) => {
      audit.sourceRateLimited(a, { ...pw, outcome: 'failure', reason: 'source_rate_limited' });
    },
    event: 'source_rate_limited',
    eventId: 1201,
    level: 'warn',
    msg: 'sign-in refused: too many failures from this address',
  },
  {
    fn: 'extranetLockout',
    call: (a) => {
      audit.extranetLockout(a, { ...pw, ...lock, objectGuid: 'AAAA', enforced: true });
    },
    event: 'extranet_lockout',
    eventId: 1210,
    level: 'warn',
    msg: 'attempt refused: account locked out for this location class',
  },
  {
    fn: 'extranetLockout',
    call: (a) => {
      audit.extranetLockout(a, { ...pw, ...lock, enforced: false });
    },
    event: 'extranet_lockout',
    eventId: 1210,
    level: 'warn',
    msg: 'extranet lockout would refuse this attempt (log-only mode)',
  },
  {
    fn: 'extranetLockout',
    call: (a) => {
      audit.extranetLockout(a, { ...pwc, ...lock, enforced: true });
    },
    event: 'extranet_lockout',
    eventId: 1210,
    level: 'warn',
    msg: 'password change refused: account locked out for this location class',
  },
  {
    fn: 'accountLockedOut',
    call: (a) => {
      audit.accountLockedOut(a, { ...pw, ...lock, objectGuid: 'AAAA', enforced: true });
    },
    event: 'account_locked_out',
    eventId: 516,
    level: 'warn',
    msg: 'account locked out for this location class: too many bad passwords',
  },
  {
    fn: 'correctPasswordWhileLocked',
    call: (a) => {
      audit.correctPasswordWhileLocked(a, { ...pw, account: 'guid:AAAA', objectGuid: 'AAAA' });
    },
    event: 'correct_password_while_locked',
    eventId: 515,
    level: 'error',
    msg: 'the correct password was given while the account is locked out: it may be compromised',
  },
  {
    fn: 'passwordSpraySuspected',
    call: (a) => {
      audit.passwordSpraySuspected(a, { ...pw, distinctAccounts: 10, failures: 12 });
    },
    event: 'password_spray_suspected',
    eventId: undefined,
    level: 'error',
    msg: 'many accounts failing from one source: possible password spray',
  },
  {
    fn: 'passwordChangeSourceRefused',
    call: (a) => {
      audit.passwordChangeSourceRefused(a, { ...pwc, outcome: 'failure', reason: 'banned' });
    },
    event: 'password_change',
    eventId: 1201,
    level: 'warn',
    msg: 'password change refused for this source',
  },
  {
    fn: 'passwordChangeSucceeded',
    call: (a) => {
      audit.passwordChangeSucceeded(a, { ...pwc, outcome: 'success', objectGuid: 'AAAA' });
    },
    event: 'password_change',
    eventId: undefined,
    level: 'info',
    msg: 'password changed',
  },
  {
    fn: 'passwordChangePolicy',
    call: (a) => {
      audit.passwordChangePolicy(a, {
        ...pwc,
        outcome: 'failure',
        reason: 'ad:52d',
        violation: 'too_short',
        objectGuid: 'AAAA',
      });
    },
    event: 'password_change',
    eventId: undefined,
    level: 'info',
    msg: 'new password refused by the password policy',
  },
  {
    fn: 'passwordChangeBadPassword',
    call: (a) => {
      audit.passwordChangeBadPassword(a, {
        ...pwc,
        ...lock,
        outcome: 'failure',
        reason: 'ad:52e',
        objectGuid: 'AAAA',
      });
    },
    event: 'password_change',
    eventId: 1203,
    level: 'warn',
    msg: 'password change failed: credential validation failed',
  },
  {
    fn: 'passwordChangeRateLimited',
    call: (a) => {
      audit.passwordChangeRateLimited(a, req);
    },
    event: 'password_change_rate_limited',
    eventId: undefined,
    level: 'warn',
    msg: 'password change refused: too many attempts from this address',
  },
  {
    fn: 'csrfRejected',
    call: (a) => {
      audit.csrfRejected(a, { ...req, originOk: false });
    },
    event: 'csrf_rejected',
    eventId: undefined,
    level: 'warn',
    msg: 'sign-in form rejected: CSRF check failed',
  },
  {
    fn: 'csrfRejected',
    call: (a) => {
      audit.csrfRejected(a, { ...req, form: 'update-password', originOk: true });
    },
    event: 'csrf_rejected',
    eventId: undefined,
    level: 'warn',
    msg: 'password change form rejected: CSRF check failed',
  },
  {
    fn: 'csrfRejected',
    call: (a) => {
      audit.csrfRejected(a, { ...req, method: 'certificate', objectGuid: 'AAAA' });
    },
    event: 'csrf_rejected',
    eventId: undefined,
    level: 'warn',
    msg: 'certificate sign-in result presented by a browser that did not start the sign-in',
  },
  {
    fn: 'certificateHeaderIgnored',
    call: (a) => {
      audit.certificateHeaderIgnored(a, {
        ...req,
        reason: 'header name variant',
        peer: '10.0.0.1',
        names: ['x-client-cert '],
      });
    },
    event: 'certificate_header_ignored',
    eventId: undefined,
    level: 'warn',
    msg: 'client-certificate header ignored',
  },
  {
    fn: 'revocationSoftFail',
    call: (a) => {
      audit.revocationSoftFail(a, { ...certBase, ...cert, detail: 'certificate: timeout' });
    },
    event: 'revocation_soft_fail',
    eventId: undefined,
    level: 'warn',
    msg: 'certificate revocation status unknown: accepted because revocation.mode is soft-fail',
  },
  {
    fn: 'signedOut',
    call: (a) => {
      audit.signedOut(a, {
        activityId: 'a-1',
        objectGuid: 'AAAA',
        rps: ['urn:rp'],
        protocol: 'saml2',
        initiator: 'urn:sp',
      });
    },
    event: 'signout',
    eventId: undefined,
    level: 'info',
    msg: 'signed out',
  },
  {
    fn: 'sessionRevoked',
    call: (a) => {
      audit.sessionRevoked(a, { activityId: 'a-1', reason: 'account_disabled' });
    },
    event: 'session_revoked',
    eventId: undefined,
    level: 'warn',
    msg: 'SSO session ended: account no longer usable',
  },
  {
    fn: 'saml2LogoutNoSession',
    call: (a) => {
      audit.saml2LogoutNoSession(a, { activityId: 'a-1', rp: 'urn:sp', requestId: '_l' });
    },
    event: 'saml2_logout_no_session',
    eventId: undefined,
    level: 'warn',
    msg: 'LogoutRequest found no session; answered PartialLogout',
  },
  {
    fn: 'saml2LogoutMismatch',
    call: (a) => {
      audit.saml2LogoutMismatch(a, { activityId: 'a-1', rp: 'urn:sp', requestId: '_l' });
    },
    event: 'saml2_logout_mismatch',
    eventId: undefined,
    level: 'warn',
    msg: 'LogoutRequest does not match the session; session kept',
  },
  {
    fn: 'keyGenerated',
    call: (a) => {
      audit.keyGenerated(a, { use: 'signing', thumbprint: 'ab', dir: 'keys' });
    },
    event: 'key_generated',
    eventId: undefined,
    level: 'info',
    msg: 'generated a token-signing key',
  },
  {
    fn: 'keyChanged',
    call: (a) => {
      audit.keyChanged(a, {
        action: 'promoted',
        thumbprint: 'AB',
        role: 'primary',
        notBefore: '2026-01-01T00:00:00.000Z',
        notAfter: '2027-01-01T00:00:00.000Z',
        reason: 'requested',
        by: 'cli',
        custody: 'file',
      });
    },
    event: 'key_rollover',
    eventId: undefined,
    level: 'info',
    msg: 'promoted the next token-signing key to primary',
  },
  {
    fn: 'directoryCache',
    call: (a) => {
      audit.directoryCache(a, {
        action: 'degraded',
        reason: 'connection:ECONNREFUSED',
        dc: 'ldaps://dc1.corp.example.test',
        stalenessSeconds: 7.5,
      });
    },
    event: 'directory_cache',
    eventId: undefined,
    level: 'warn',
    msg: 'directory cache not served: every directory read goes to the domain controller',
  },
  {
    fn: 'directoryCache',
    call: (a) => {
      audit.directoryCache(a, {
        action: 'resync',
        reason: 'dc-switch',
        dc: 'ldaps://dc2.corp.example.test',
        groups: 2000,
        durationMs: 850,
      });
    },
    event: 'directory_cache',
    eventId: undefined,
    level: 'info',
    msg: 'directory cache read the group graph in full',
  },
  {
    fn: 'lockoutReset',
    call: (a) => {
      audit.lockoutReset(a, {
        method: 'cli',
        account: 'guid:AAAA',
        username: 'alice',
        objectGuid: 'AAAA',
        upn: 'alice@example.test',
        operator: 'root',
        familiarCount: 0,
        unknownCount: 5,
        forgetLocations: false,
        store: 'memory',
      });
    },
    event: 'lockout_reset',
    eventId: undefined,
    level: 'info',
    msg: 'smart lockout counters reset by an administrator',
  },
  {
    fn: 'mfaRequired',
    call: (a) => {
      audit.mfaRequired(a, {
        ...mfaReq,
        upn: 'alice@example.test',
        protocol: 'wsfed',
        outcome: 'challenge',
      });
    },
    event: 'mfa_required',
    eventId: undefined,
    level: 'info',
    msg: 'second factor required',
  },
  {
    fn: 'mfaRequired',
    call: (a) => {
      audit.mfaRequired(a, { ...mfaReq, protocol: 'wstrust', outcome: 'refused' });
    },
    event: 'mfa_required',
    eventId: undefined,
    level: 'info',
    msg: 'second factor required but this protocol cannot ask for one: refused',
  },
  {
    fn: 'mfaSucceeded',
    call: (a) => {
      audit.mfaSucceeded(a, { ...mfaTry, outcome: 'success', factorId: 'f1' });
    },
    event: 'mfa',
    eventId: undefined,
    level: 'info',
    msg: 'second factor verified',
  },
  {
    fn: 'mfaFailed',
    call: (a) => {
      audit.mfaFailed(a, {
        ...mfaTry,
        outcome: 'failure',
        reason: 'replayed',
        failures: 2,
        factorId: 'f1',
      });
    },
    event: 'mfa',
    eventId: undefined,
    level: 'warn',
    msg: 'second factor failed',
  },
  {
    fn: 'mfaLocked',
    call: (a) => {
      audit.mfaLocked(a, { ...mfaTry, outcome: 'locked', reason: 'locked', failures: 5 });
    },
    event: 'mfa',
    eventId: undefined,
    level: 'warn',
    msg: 'second factor refused: account locked out of MFA',
  },
  {
    fn: 'mfaUnavailable',
    call: (a) => {
      audit.mfaUnavailable(a, {
        ...mfaTry,
        method: 'radius',
        outcome: 'unavailable',
        reason: 'timeout',
        server: 'duo',
      });
    },
    event: 'mfa',
    eventId: undefined,
    level: 'error',
    msg: 'second factor could not be checked: method unavailable',
  },
  {
    fn: 'mfaUnreadable',
    call: (a) => {
      audit.mfaUnreadable(a, { ...mfaTry, outcome: 'unreadable', reason: 'seal' });
    },
    event: 'mfa',
    eventId: undefined,
    level: 'error',
    msg: 'second factor could not be checked: enrolment record unreadable',
  },
  {
    fn: 'mfaLockedOut',
    call: (a) => {
      audit.mfaLockedOut(a, {
        ...req,
        account: 'guid:AAAA',
        method: 'totp',
        failures: 5,
        until: '2026-01-01T00:15:00.000Z',
      });
    },
    event: 'mfa_locked_out',
    eventId: undefined,
    level: 'warn',
    msg: 'account locked out of MFA: too many failed second factors',
  },
  ...(
    [
      ['added', 'second factor enrolled'],
      ['removed', 'second factor removed'],
      ['renamed', 'second factor renamed'],
      ['reset', 'all second factors removed'],
      ['code_issued', 'enrolment code issued'],
      ['code_redeemed', 'enrolment code redeemed'],
      ['viewed', 'second factors viewed'],
    ] as const
  ).map(([action, msg]): Case => ({
    fn: 'mfaEnrolment',
    call: (a) => {
      audit.mfaEnrolment(
        a,
        action === 'added'
          ? {
              ...req,
              action,
              account: 'guid:AAAA',
              method: 'webauthn',
              factorId: 'f1',
              by: 'self',
              route: 'intranet',
            }
          : {
              action,
              account: 'guid:AAAA',
              upn: 'alice@example.test',
              count: 2,
              by: 'admin',
              operator: 'root',
            },
      );
    },
    event: 'mfa_enrolment',
    eventId: undefined,
    level: 'info',
    msg,
  })),
  {
    fn: 'mfaEnrolmentRefused',
    call: (a) => {
      audit.mfaEnrolmentRefused(a, {
        ...req,
        reason: 'policy',
        account: 'guid:AAAA',
        method: 'totp',
      });
    },
    event: 'mfa_enrolment_refused',
    eventId: undefined,
    level: 'warn',
    msg: 'second factor enrolment refused',
  },
];

test('every exported audit function has a case here', () => {
  const exported = Object.entries(audit)
    .filter(([, v]) => typeof v === 'function')
    .map(([k]) => k)
    .sort();
  assert.deepEqual([...new Set(CASES.map((c) => c.fn))].sort(), exported);
});

for (const c of CASES) {
  test(`${c.fn} writes ${c.event} (${c.msg})`, () => {
    const out = new LogCapture();
    c.call(createLoggers('info', out).audit);
    assert.equal(out.lines.length, 1);
    const line = out.lines[0] ?? {};
    assert.equal(line.stream, 'audit');
    assert.equal(line.event, c.event);
    assert.equal(line.eventId, c.eventId);
    assert.equal(line.level, LEVEL[c.level]);
    assert.equal(line.msg, c.msg);
    const spec = AUDIT_EVENTS.find((e) => e.name === c.event);
    assert.ok(spec !== undefined, `${c.event} is not in AUDIT_EVENTS`);
    assert.ok(spec.levels.includes(c.level), `${c.level} is not a level of ${c.event}`);
    if (c.eventId !== undefined)
      assert.ok((spec.ids as readonly number[]).includes(c.eventId), 'id not in the catalogue');
    const extra = Object.keys(line).filter((k) => !ENVELOPE.has(k) && !spec.fields.includes(k));
    assert.deepEqual(extra, [], `fields written that AUDIT_EVENTS does not list for ${c.event}`);
  });
}

test('the catalogue names each event once and every event has a case', () => {
  const names = AUDIT_EVENTS.map((e) => e.name);
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual([...new Set(CASES.map((c) => c.event))].sort(), [...names].sort());
});
