import { resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import { pkcs11Adapter } from './hsm.ts';
import type { HsmAdapter } from './ring.ts';
import { readSecretFile } from './secret-file.ts';

/** keys.passphrase(File) and keys.pkcs11 (its PIN from pin or pinFile), resolved once (the server and `fedgate keys` alike). */
export async function keyMaterialOptions(
  config: Config,
): Promise<{ passphrase?: string; hsm?: HsmAdapter }> {
  const k = config.keys;
  const passphrase =
    k.passphraseFile !== undefined
      ? await readSecretFile(resolve(config.baseDir, k.passphraseFile), 'passphrase')
      : k.passphrase;
  if (passphrase !== undefined && passphrase.length < 16)
    throw new Error(
      `keys.passphraseFile (${String(k.passphraseFile)}): the passphrase must be at least 16 characters`,
    );
  const p = k.pkcs11;
  const hsm =
    p === undefined
      ? undefined
      : pkcs11Adapter({
          module: p.module,
          tokenLabel: p.tokenLabel,
          slot: p.slot,
          pin:
            p.pinFile !== undefined
              ? await readSecretFile(resolve(config.baseDir, p.pinFile), 'PIN')
              : (p.pin ?? ''),
        });
  return {
    ...(passphrase === undefined ? {} : { passphrase }),
    ...(hsm === undefined ? {} : { hsm }),
  };
}

/** keys.signing's admin-managed pair as absolute paths, or undefined when fedgate manages the ring in keys.dir. */
export function configuredSigningFiles(
  config: Config,
): { certFile: string; keyFile: string } | undefined {
  return config.keys.signing === undefined
    ? undefined
    : {
        certFile: resolve(config.baseDir, config.keys.signing.cert),
        keyFile: resolve(config.baseDir, config.keys.signing.key),
      };
}
