/**
 * The key ring's view of a PKCS#11 token (keys.pkcs11): open a key by label, generate one inside the token with its
 * self-signed certificate. The binding (pkcs11js) is loaded only when keys.pkcs11 is configured.
 */
import { createPkcs11Certificate, generatePkcs11RsaKey, openPkcs11Key } from './pkcs11.ts';
import type { HsmAdapter } from './ring.ts';

export interface HsmSettings {
  module: string;
  tokenLabel?: string | undefined;
  slot?: number | undefined;
  pin: string;
}

export function pkcs11Adapter(s: HsmSettings): HsmAdapter {
  const base = {
    module: s.module,
    pin: s.pin,
    ...(s.tokenLabel === undefined ? {} : { tokenLabel: s.tokenLabel }),
    ...(s.slot === undefined ? {} : { slot: s.slot }),
  };
  return {
    open: (label) => openPkcs11Key({ ...base, keyLabel: label }),
    async generate(label, c) {
      const key = generatePkcs11RsaKey({ ...base, keyLabel: label });
      try {
        return await createPkcs11Certificate(key, c.commonName, c.notBefore, c.notAfter, c.serial);
      } finally {
        key.close();
      }
    },
  };
}
