/** Step 6, issue: the protocol that started the sign-in issues its token (protocols.ts) for the deliver step. */
import { FederationError } from '../../lib/errors.ts';
import { issueFor } from './protocols.ts';
import type { Step } from './context.ts';

export const issue: Step = async (ctx) => {
  const session = ctx.session;
  if (session === undefined)
    throw new FederationError('internal', 'A sign-in reached issue without a session.');
  const { s, req, res, rp, user } = ctx;
  ctx.delivery = await issueFor({ s, req, res, rp, user, session }, ctx.request);
  return { next: 'deliver' };
};
