/** Step 7, deliver: the protocol's answer goes to its party's address (already matched against the trust). */
import { FederationError } from '../../lib/errors.ts';
import { sendFormPost } from './form-post.ts';
import type { Step } from './context.ts';

export const deliver: Step = (ctx) => {
  if (ctx.delivery === undefined)
    throw new FederationError('internal', 'A sign-in reached deliver with nothing to deliver.');
  // OAuth: back to oidc-provider's resume address (ours), by navigation rather than a redirect of the form post
  // (views.redirectPage says why).
  if ('redirect' in ctx.delivery)
    ctx.res.status(200).type('html').send(ctx.s.views.redirectPage(ctx.res, ctx.delivery.redirect));
  else sendFormPost(ctx.s, ctx.res, ctx.delivery);
  return Promise.resolve({ answered: true });
};
