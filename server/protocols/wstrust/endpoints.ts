/** The published WS-Trust addresses of a configuration (for `fedgate tenant`; no express in here). */
import type { Config } from '../../config/schema.ts';
import { MEX_PATH, TRUST_13, TRUST_2005 } from './constants.ts';

/** Whether `fedgate tenant` should publish activeSignInUri / metadataExchangeUri for this configuration. */
export function activeEndpoints(config: Config): {
  active: string | undefined;
  mex: string | undefined;
} {
  const e = config.wstrust.endpoints;
  const base = config.publicUrl;
  // Entra's activeSignInUri is the 2005 endpoint by default (AD FS's Convert-MsolDomainToFederated); 1.3 when
  // only that one is on.
  const active = e.usernamemixed2005
    ? base + TRUST_2005.path
    : e.usernamemixed13
      ? base + TRUST_13.path
      : undefined;
  const mex = e.mex && active !== undefined ? base + MEX_PATH : undefined;
  return { active, mex };
}
