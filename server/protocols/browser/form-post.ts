/**
 * How a browser protocol answers its party: an auto-submitting form POST to an address already matched against the
 * party's trust (WS-Fed RSTR to wreply, SAML Response to the ACS, SAML logout messages over HTTP-POST). The page's
 * CSP allows the form to go to that origin only.
 */
import type { Response } from 'express';
import { formPostCsp } from '../../http/middleware.ts';
import type { Services } from '../../services.ts';

export interface FormPost {
  action: string;
  fields: { name: string; value: string }[];
}

/**
 * What the deliver step sends: a form post to the party, or (OAuth) a redirect back to oidc-provider's own resume
 * address, which answers the client at its registered redirect URI.
 */
export type Delivery = FormPost | { redirect: string };

export function sendFormPost(s: Services, res: Response, post: FormPost): void {
  const nonce = formPostCsp(res, post.action);
  res
    .status(200)
    .type('html')
    .send(s.views.formPost(res, post.action, post.fields, nonce));
}
