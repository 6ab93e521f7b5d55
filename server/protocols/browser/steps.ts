/**
 * The browser sign-in pipeline. A sign-in is a `SignInContext` carried through named steps; each step does one job
 * and returns the next step's name, or says it has answered the browser (a page, a form post):
 *
 *   identify (identify.ts: live SSO session, or keep the request and show the sign-in page)
 *   → primary (password.ts, certificate.ts: entered from the browser's post / return)
 *   → password update (password-update.ts, when the directory says the password must change)
 *   → additional (additional.ts: the slot multi-factor authentication fills)
 *   → establish (establish.ts: the pending request is used up, a fresh SSO session)
 *   → issue (issue.ts: the protocol's token through the one issueToken step)
 *   → deliver (deliver.ts: the form post to the party's matched address)
 *
 * The first three are entered by requests (each is a page the user answers); `proceed` runs the rest. A new step is
 * a file exporting a `Step` and one entry in STEPS.
 */
import { additional } from './additional.ts';
import type { SignInContext, Step, StepName } from './context.ts';
import { deliver } from './deliver.ts';
import { establish } from './establish.ts';
import { issue } from './issue.ts';

const STEPS: Readonly<Record<StepName, Step>> = { additional, establish, issue, deliver };

/** Runs the pipeline from `from` until a step has answered the browser. */
export async function proceed(ctx: SignInContext, from: StepName): Promise<void> {
  let step: StepName = from;
  for (;;) {
    const r = await STEPS[step](ctx);
    if ('answered' in r) return;
    step = r.next;
  }
}
