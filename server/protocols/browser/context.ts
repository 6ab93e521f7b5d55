/** The state of one browser sign-in as it goes through the steps (steps.ts runs them). */
import type { Request, Response } from 'express';
import type { SsoSession } from '../../authn/session.ts';
import type { DirectoryUser } from '../../directory/types.ts';
import type { Services } from '../../services.ts';
import type { RelyingParty } from '../../trust/registry.ts';
import type { Delivery } from './form-post.ts';
import type { MfaAsk, ProtocolRequest } from './pending.ts';
import type { FreshAuthentication } from './session.ts';

export interface SignInContext {
  s: Services;
  req: Request;
  res: Response;
  rp: RelyingParty;
  request: ProtocolRequest;
  /** A second factor the request asked for (wauth, RequestedAuthnContext). */
  ask?: MfaAsk | undefined;
  /** No user interaction allowed (SAML IsPassive): a second factor that is needed cannot be asked for. */
  passive?: boolean | undefined;
  /** The pending sign-in's handle, when the sign-in went through the sign-in page. */
  pendingId?: string | undefined;
  /** The signed-in account (from the primary step, or the live SSO session). */
  user: DirectoryUser;
  /** How the user just authenticated; absent when a live SSO session answered. */
  fresh?: FreshAuthentication | undefined;
  /** The SSO session the token is issued in (the live one, or the one establish made). */
  session?: SsoSession | undefined;
  /** What the issue step produced for the deliver step. */
  delivery?: Delivery | undefined;
}

export type StepName = 'additional' | 'establish' | 'issue' | 'deliver';

/** The next step, or `answered`: the step has sent the browser its response. */
export type StepResult = { next: StepName } | { answered: true };

export type Step = (ctx: SignInContext) => Promise<StepResult>;
