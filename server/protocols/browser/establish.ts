/**
 * Step 5, establish: after a fresh authentication, the pending request is used up (one token per request: a second
 * concurrent success gets nothing) and the browser gets a new SSO session. A live session that answered needs none.
 */
import { FederationError } from '../../lib/errors.ts';
import { consumePending } from './pending.ts';
import { startSession } from './session.ts';
import type { Step } from './context.ts';

export const establish: Step = async (ctx) => {
  if (ctx.fresh === undefined) {
    if (ctx.session === undefined)
      throw new FederationError('internal', 'A sign-in reached establish with no authentication.');
    return { next: 'issue' };
  }
  if (ctx.pendingId !== undefined) await consumePending(ctx.s, ctx.pendingId);
  ctx.session = await startSession(ctx.s, ctx.req, ctx.res, ctx.user, ctx.fresh);
  return { next: 'issue' };
};
