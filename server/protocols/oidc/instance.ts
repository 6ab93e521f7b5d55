/**
 * The oidc-provider instance of a server: built for the current primary signing key and rebuilt when a rollover
 * promotes another (its state is in the store, so nothing is lost).
 */
import type Provider from 'oidc-provider';
import type { Services } from '../../services.ts';
import { buildProvider } from './provider.ts';

const built = new WeakMap<
  Services,
  {
    thumbprint: string;
    provider: Provider;
    callback: Provider['callback'] extends () => infer C ? C : never;
  }
>();

/** The provider for the current primary key (503 signing_unavailable when no key can sign). */
export function oidcProvider(s: Services): Provider {
  return current(s).provider;
}

/** The provider's request handler (composed once per provider). */
export function oidcCallback(s: Services): ReturnType<Provider['callback']> {
  return current(s).callback;
}

function current(s: Services): { provider: Provider; callback: ReturnType<Provider['callback']> } {
  const signing = s.signing;
  const had = built.get(s);
  if (had?.thumbprint === signing.thumbprintSha1) return had;
  const provider = buildProvider(s, signing);
  const entry = { thumbprint: signing.thumbprintSha1, provider, callback: provider.callback() };
  built.set(s, entry);
  return entry;
}
