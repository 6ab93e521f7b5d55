/**
 * Step 4, additional authentication: the slot multi-factor authentication fills (AD FS additional authentication
 * rules: per party, per location, per group). No additional method exists yet, so every sign-in goes on.
 */
import type { Step } from './context.ts';

export const additional: Step = () => Promise.resolve({ next: 'establish' });
