/**
 * The second-factor page of a sign-in (issue 16), entered from the additional step (additional.ts) and answered by
 * the browser's posts to /adfs/ls/mfa. The pending sign-in (pending.ts) keeps who passed the primary step and the
 * open ceremony (MfaState); the browser holds only its handle, the login-CSRF token and the sign-in cookie.
 *
 * - The user picks among the methods enabled here that they have: an authenticator app code (TOTP), a security
 *   key or passkey (WebAuthn), the organisation's RADIUS MFA (one-time code, push, or the server's challenge).
 * - A user without any factor may enrol the first one only where mfa.enrolment.allow says: from a corporate
 *   network address, right after a certificate sign-in, or with a helpdesk's one-time code. A password alone, from
 *   outside, never enrols a factor (the default allows only a code).
 * - Every wrong second factor counts toward the MFA lockout (authn/mfa/lockout.ts MfaLockout) and the pending
 *   sign-in's own attempt limit, and is audited.
 * - On success the sign-in continues at establish with the factor recorded: a new SSO session that carries it, so
 *   the token says multipleauthn (and only then, corpus B5.4).
 */
import type { Request, Response } from 'express';
import { Secret } from 'otpauth';
import type { CertificateContext } from '../../authn/certificate/context.ts';
import {
  EnrolmentError,
  MAX_FACTORS,
  newFactorId,
  redeemEnrolmentCode,
} from '../../authn/mfa/enrolments.ts';
import type { Factor, MfaMethod, TotpFactor, WebAuthnFactor } from '../../authn/mfa/factors.ts';
import { verifyAuthentication, verifyRegistration } from '../../authn/mfa/webauthn.ts';
import { param } from '../../http/middleware.ts';
import { FederationError } from '../../lib/errors.ts';
import * as audit from '../../observability/audit.ts';
import type { Services } from '../../services.ts';
import { accountOf, enrollable, readEnrolments, showMfa, type Shown } from './mfa-page.ts';
import {
  checkFormBinding,
  countAttempt,
  expired,
  HANDLE,
  loadPending,
  updatePending,
} from './pending.ts';
import { proceed } from './steps.ts';
import { cleanName, TOO_MANY, webauthnResponse, WRONG_CODE } from './mfa-forms.ts';

type Outcome =
  | { done: true; method: MfaMethod; factorId?: string | undefined }
  | { done: false; error?: string | undefined; notice?: string | undefined };

/** POST /adfs/ls/mfa: one answer to the second-factor page. */
export async function mfaPost(s: Services, req: Request, res: Response): Promise<void> {
  const body: unknown = req.body;
  const pendingId = param(body, 'AuthState', 64) ?? '';
  if (!HANDLE.test(pendingId))
    throw new FederationError('bad_request', 'The verification form is malformed.');
  const { pending, rp } = await loadPending(s, pendingId);
  checkFormBinding(s, req, res, pending);
  const state = pending.mfa;
  if (state === undefined) throw expired();
  await countAttempt(s, pendingId);
  const user = await s.directory.findByObjectGuid(Buffer.from(state.user, 'base64'));
  if (user?.enabled !== true) throw expired();
  const p: Shown = { pendingId, pending: { ...pending, mfa: state }, rp, user };
  const account = accountOf(state.user);
  const fields = {
    account,
    rp: rp.identifier,
    activityId: res.locals.activityId,
    ip: req.ip,
  };
  const method = param(body, 'Method', 32) ?? '';
  if (await s.mfa.lockout.locked(account)) {
    audit.mfaLocked(s.audit, {
      ...fields,
      outcome: 'locked',
      method: method === 'webauthn' || method === 'radius' ? method : 'totp',
      failures: await s.mfa.lockout.failures(account),
    });
    await showMfa(s, req, res, p);
    return;
  }
  const outcome = await answer(s, req, res, p, method);
  if (!outcome.done) {
    await showMfa(s, req, res, { ...p, error: outcome.error, notice: outcome.notice });
    return;
  }
  await s.mfa.lockout.succeed(account);
  audit.mfaSucceeded(s.audit, {
    ...fields,
    outcome: 'success',
    method: outcome.method,
    factorId: outcome.factorId,
  });
  const now = s.clock.now();
  const certificate: CertificateContext | undefined = state.primary.certificate;
  await proceed(
    {
      s,
      req,
      res,
      rp,
      request: pending,
      ask: pending.mfaAsk,
      pendingId,
      user,
      fresh: {
        authMethod: state.primary.authMethod,
        authInstant: new Date(state.primary.authInstant),
        certificate,
        mfa: { methods: [outcome.method], instant: now.toISOString() },
        persistent: pending.kmsi === true,
      },
    },
    'establish',
  );
}

/** A wrong second factor: counted, audited, and the lockout audited when this one reached it. */
async function failed(
  s: Services,
  req: Request,
  res: Response,
  p: Shown,
  method: MfaMethod,
  reason: string,
  factorId?: string,
): Promise<Outcome> {
  const account = accountOf(p.pending.mfa.user);
  const f = await s.mfa.lockout.fail(account);
  const fields = {
    account,
    rp: p.rp.identifier,
    activityId: res.locals.activityId,
    ip: req.ip,
  };
  audit.mfaFailed(s.audit, {
    ...fields,
    outcome: 'failure',
    method,
    reason,
    failures: f.failures,
    factorId,
  });
  if (f.lockedNow)
    audit.mfaLockedOut(s.audit, {
      account,
      method,
      failures: f.failures,
      until: f.until,
      activityId: fields.activityId,
      ip: req.ip,
    });
  return { done: false, error: WRONG_CODE };
}

async function answer(
  s: Services,
  req: Request,
  res: Response,
  p: Shown,
  method: string,
): Promise<Outcome> {
  const body: unknown = req.body;
  const state = p.pending.mfa;
  const store = s.mfa.enrolments;
  switch (method) {
    case 'totp': {
      if (!s.mfa.methods.includes('totp') || state.enrol !== undefined) break;
      const e = await readEnrolments(s, res, req, p);
      if (e === undefined) return { done: false };
      const totp = e.factors.filter((f): f is TotpFactor => f.kind === 'totp');
      const wanted = param(body, 'FactorId', 64);
      const factor = wanted === undefined ? totp[0] : totp.find((f) => f.id === wanted);
      if (factor === undefined) break;
      const code = (param(body, 'Code', 32) ?? '').replace(/\s+/g, '');
      const r = await s.mfa.totp.verify(
        accountOf(state.user),
        Buffer.from(base32Bytes(factor.secret)),
        code,
      );
      if (r.ok) return { done: true, method: 'totp', factorId: factor.id };
      if (r.reason === 'malformed')
        return { done: false, error: 'Enter the 6-digit code your authenticator app shows.' };
      if (r.reason === 'locked') return { done: false };
      // The verifier counted this failure in the shared counter; the lockout reads the same one.
      return counted(s, req, res, p, 'totp', r.reason, r.failures, factor.id);
    }
    case 'webauthn': {
      if (!s.mfa.methods.includes('webauthn') || state.enrol !== undefined || store === undefined)
        break;
      const challenge = state.webauthnChallenge;
      // One use per challenge: it is gone from the record before the answer is checked.
      state.webauthnChallenge = undefined;
      await updatePending(s, p.pendingId, p.pending);
      const response = webauthnResponse(body);
      if (challenge === undefined || response === undefined)
        return { done: false, error: 'The security key did not answer. Try again.' };
      const e = await readEnrolments(s, res, req, p);
      if (e === undefined) return { done: false };
      const keys = e.factors.filter((f): f is WebAuthnFactor => f.kind === 'webauthn');
      const r = await verifyAuthentication(s.mfa.webauthn, response, challenge, keys);
      if (!r.ok) return failed(s, req, res, p, 'webauthn', r.reason, r.factorId);
      const usedAt = s.clock.now().toISOString();
      await store.update(p.user, (cur) => ({
        ...cur,
        factors: cur.factors.map((f) =>
          f.kind === 'webauthn' && f.id === r.factorId
            ? { ...f, counter: r.newCounter, lastUsedAt: usedAt }
            : f,
        ),
      }));
      return { done: true, method: 'webauthn', factorId: r.factorId };
    }
    case 'radius':
      return radiusAnswer(s, req, res, p);
    case 'code': {
      if (
        store === undefined ||
        state.enrol !== undefined ||
        !s.config.mfa.enrolment.allow.includes('code')
      )
        break;
      const e = await readEnrolments(s, res, req, p);
      if (e === undefined) return { done: false };
      if (e.factors.length > 0) break;
      const r = redeemEnrolmentCode(e, param(body, 'EnrolmentCode', 64) ?? '', s.clock);
      if (!r.ok) {
        audit.mfaEnrolmentRefused(s.audit, {
          reason:
            r.reason === 'wrong'
              ? 'code_wrong'
              : r.reason === 'expired'
                ? 'code_expired'
                : 'code_none',
          account: accountOf(state.user),
          activityId: res.locals.activityId,
          ip: req.ip,
        });
        // A guessed code counts like a guessed second factor.
        await s.mfa.lockout.fail(accountOf(state.user));
        return {
          done: false,
          error:
            r.reason === 'expired'
              ? 'That enrolment code has expired. Ask your helpdesk for a new one.'
              : 'That enrolment code did not work. Check it and try again.',
        };
      }
      await store.write(p.user, r.enrolments);
      audit.mfaEnrolment(s.audit, {
        action: 'code_redeemed',
        account: accountOf(state.user),
        upn: p.user.userPrincipalName,
        by: 'self',
        route: 'code',
        activityId: res.locals.activityId,
        ip: req.ip,
      });
      state.enrol = { route: 'code' };
      return { done: false, notice: 'Code accepted. Set up your verification method.' };
    }
    case 'enrol-totp':
    case 'enrol-webauthn':
      return enrolAnswer(s, req, res, p, method === 'enrol-totp' ? 'totp' : 'webauthn');
    default:
      break;
  }
  throw new FederationError('bad_request', 'The verification form is malformed.', {
    detail: `unexpected MFA method ${method.slice(0, 32)}`,
  });
}

/** A failure the TOTP verifier already counted: audited, and the lockout audited when it was reached now. */
function counted(
  s: Services,
  req: Request,
  res: Response,
  p: Shown,
  method: MfaMethod,
  reason: string,
  failures: number,
  factorId: string,
): Outcome {
  const account = accountOf(p.pending.mfa.user);
  const activityId = res.locals.activityId;
  audit.mfaFailed(s.audit, {
    account,
    rp: p.rp.identifier,
    activityId,
    ip: req.ip,
    outcome: 'failure',
    method,
    reason,
    failures,
    factorId,
  });
  if (failures === s.mfa.lockout.threshold)
    audit.mfaLockedOut(s.audit, {
      account,
      method,
      failures,
      until: new Date(
        s.clock.now().getTime() + s.config.mfa.lockout.durationMinutes * 60_000,
      ).toISOString(),
      activityId,
      ip: req.ip,
    });
  return { done: false, error: WRONG_CODE };
}

async function radiusAnswer(s: Services, req: Request, res: Response, p: Shown): Promise<Outcome> {
  const client = s.mfa.radius;
  const state = p.pending.mfa;
  if (client === undefined || !s.mfa.methods.includes('radius') || state.enrol !== undefined)
    throw new FederationError('bad_request', 'The verification form is malformed.');
  const code = (param(body(req), 'Code', 128) ?? '').trim();
  if (code === '') return { done: false, error: 'Enter the code, or "push".' };
  const username =
    s.config.mfa.radius.userName === 'sAMAccountName'
      ? p.user.sAMAccountName
      : (p.user.userPrincipalName ?? p.user.sAMAccountName);
  const open = state.radius;
  state.radius = undefined;
  const r = await client.authenticate({
    username,
    password: code,
    ...(open === undefined
      ? {}
      : {
          challenge: {
            serverIndex: open.serverIndex,
            ...(open.state === undefined ? {} : { state: Buffer.from(open.state, 'base64') }),
          },
        }),
  });
  const fields = {
    account: accountOf(state.user),
    rp: p.rp.identifier,
    activityId: res.locals.activityId,
    ip: req.ip,
    method: 'radius' as const,
  };
  for (const d of r.kind === 'invalid-input' ? [] : r.dropped.slice(0, 4))
    s.log.warn({ server: d.server, reason: d.reason, from: d.from }, 'RADIUS reply refused');
  switch (r.kind) {
    case 'accept':
      return { done: true, method: 'radius' };
    case 'reject':
      return failed(s, req, res, p, 'radius', 'reject');
    case 'challenge':
      state.radius = {
        serverIndex: r.serverIndex,
        state: r.state?.toString('base64'),
        // Reply-Message is the RADIUS server's text: shown escaped (mustache), never as markup.
        message: r.replyMessage?.slice(0, 300),
      };
      audit.mfaFailed(s.audit, {
        ...fields,
        outcome: 'failure',
        reason: 'challenge',
        server: r.server,
      });
      return { done: false };
    case 'unavailable':
      audit.mfaUnavailable(s.audit, {
        ...fields,
        outcome: 'unavailable',
        reason: r.servers.map((x) => `${x.server}:${x.reason}`).join(' '),
      });
      return {
        done: false,
        error: 'The verification service did not answer. Try again in a moment.',
      };
    case 'invalid-input':
      return { done: false, error: WRONG_CODE };
  }
}

function body(req: Request): unknown {
  return req.body;
}

/** Enrolment of the first factor (a route in state.enrol allowed it): the new factor's first use is the MFA. */
async function enrolAnswer(
  s: Services,
  req: Request,
  res: Response,
  p: Shown,
  kind: 'totp' | 'webauthn',
): Promise<Outcome> {
  const state = p.pending.mfa;
  const store = s.mfa.enrolments;
  const enrol = state.enrol;
  if (store === undefined || enrol === undefined || !enrollable(s).includes(kind))
    throw new FederationError('bad_request', 'The verification form is malformed.');
  const account = accountOf(state.user);
  const e = await readEnrolments(s, res, req, p);
  if (e === undefined) return { done: false };
  const refuse = (
    reason: 'too_many' | 'invalid' | 'attestation' | 'aaguid' | 'duplicate',
  ): void => {
    audit.mfaEnrolmentRefused(s.audit, {
      reason,
      account,
      method: kind,
      activityId: res.locals.activityId,
      ip: req.ip,
    });
  };
  if (e.factors.length >= MAX_FACTORS) {
    refuse('too_many');
    return { done: false, error: TOO_MANY };
  }
  const now = s.clock.now().toISOString();
  let factor: Factor;
  if (kind === 'totp') {
    const sealed = enrol.totpSecret;
    const base32 = sealed === undefined ? undefined : s.mfa.pendingSealer.open(sealed, p.pendingId);
    if (base32 === undefined) throw expired();
    const code = (param(body(req), 'Code', 32) ?? '').replace(/\s+/g, '');
    const r = await s.mfa.totp.verify(account, Buffer.from(base32Bytes(base32)), code);
    if (!r.ok) {
      if (r.reason === 'malformed')
        return { done: false, error: 'Enter the 6-digit code your authenticator app shows.' };
      if (r.reason === 'locked') return { done: false };
      return counted(s, req, res, p, 'totp', r.reason, r.failures, 'new');
    }
    factor = {
      kind: 'totp',
      id: newFactorId(s.random),
      name: cleanName(param(body(req), 'FactorName', 256)) ?? 'Authenticator app',
      createdAt: now,
      secret: base32,
    };
  } else {
    const challenge = state.webauthnChallenge;
    state.webauthnChallenge = undefined;
    await updatePending(s, p.pendingId, p.pending);
    const response = webauthnResponse(body(req));
    if (challenge === undefined || response === undefined)
      return { done: false, error: 'The security key did not answer. Try again.' };
    const existing = e.factors.filter((f): f is WebAuthnFactor => f.kind === 'webauthn');
    const r = await verifyRegistration(s.mfa.webauthn, response, challenge, existing);
    if (!r.ok) {
      refuse(
        r.reason === 'aaguid' || r.reason === 'attestation' || r.reason === 'duplicate'
          ? r.reason
          : 'invalid',
      );
      return {
        done: false,
        error:
          r.reason === 'aaguid' || r.reason === 'attestation'
            ? 'This security key is not one your organisation allows.'
            : 'The security key could not be registered. Try again.',
      };
    }
    factor = {
      ...r.credential,
      kind: 'webauthn',
      id: newFactorId(s.random),
      name: cleanName(param(body(req), 'FactorName', 256)) ?? 'Security key',
      createdAt: now,
    };
  }
  try {
    await store.update(p.user, (cur) => ({ ...cur, factors: [...cur.factors, factor] }));
  } catch (err) {
    if (err instanceof EnrolmentError && err.kind === 'too-large') {
      refuse('too_many');
      return { done: false, error: TOO_MANY };
    }
    throw err;
  }
  audit.mfaEnrolment(s.audit, {
    action: 'added',
    account,
    upn: p.user.userPrincipalName,
    method: kind,
    factorId: factor.id,
    by: 'self',
    route: enrol.route,
    activityId: res.locals.activityId,
    ip: req.ip,
  });
  state.enrol = undefined;
  return { done: true, method: kind, factorId: factor.id };
}

/** The stored TOTP secret (base32) as bytes. */
function base32Bytes(b32: string): Uint8Array {
  return Secret.fromBase32(b32).bytes;
}
