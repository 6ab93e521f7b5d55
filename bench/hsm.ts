/**
 * HSM issuance (issue 18, Custody): a complete signed SAML 1.1 assertion whose SignedInfo is signed inside a
 * SoftHSM2 token through pkcs11js, next to the device's own raw CKM_SHA256_RSA_PKCS rate (pkcs11js directly,
 * none of fedgate's code: the floor an HSM sets) and to node:crypto's raw RSA-2048 SHA-256 signature, all
 * interleaved in one run. SoftHSM2 comes from tests/setup/softhsm.sh, in a private temporary token directory.
 */
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import {
  createPkcs11Certificate,
  generatePkcs11RsaKey,
  pkcs11SigningCredential,
} from '../server/keys/pkcs11.ts';
import { createSelfSignedCertificate, describeCertificate } from '../server/keys/generate.ts';
import type { SigningCredential } from '../server/keys/types.ts';
import { ClaimTypes, NameIdFormatProperty, NameIdFormats } from '../server/claims/types.ts';
import { toSaml11Model } from '../server/tokens/saml11-model.ts';
import { writeSignedSaml11Assertion } from '../server/tokens/saml11.ts';
import { DirectToken, startSoftHsm } from '../tests/helpers/softhsm.ts';
import { compare, fmt, table, type Rate } from './lib.ts';

export interface HsmBenchResult {
  /** Bytes of one signed assertion. */
  bytes: number;
  rates: Rate[];
  /** HSM issuance ÷ SoftHSM2 raw signing (1.00 = the device is the only cost). */
  issuanceToDeviceRaw: number;
  /** HSM issuance ÷ node:crypto raw RSA signing. */
  issuanceToNodeRaw: number;
  /** SoftHSM2 raw ÷ node:crypto raw (what the device path costs per signature). */
  deviceRawToNodeRaw: number;
}

const TOKEN = 'fedgate-bench';
const PIN = 'bench-pin-4711';

export async function hsmBench(opts: { rounds: number; ms: number }): Promise<HsmBenchResult> {
  const hsm = startSoftHsm([{ label: TOKEN, pin: PIN }]);
  const key = generatePkcs11RsaKey({
    module: hsm.module,
    tokenLabel: TOKEN,
    keyLabel: 'bench-signing',
    pin: PIN,
  });
  const direct = new DirectToken(hsm.module, TOKEN, PIN);
  try {
    const now = new Date();
    const notAfter = new Date(now.getTime() + 365 * 86_400_000);
    const serial = Buffer.alloc(16, 7);
    const hsmCred = pkcs11SigningCredential(
      key,
      await createPkcs11Certificate(key, 'fedgate Signing - bench.test', now, notAfter, serial),
    );
    // The same token written with a file key (node:crypto), for the HSM's cost per token.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const fileCred: SigningCredential = {
      ...describeCertificate(
        await createSelfSignedCertificate({
          privateKey,
          commonName: 'fedgate Signing - bench.test',
          purpose: 'signing',
          notBefore: now,
          notAfter,
          serial,
        }),
      ),
      signSha256: (data) => sign('sha256', data, privateKey),
      custody: 'file',
      privateKey,
    };

    let counter = 0;
    const model = () =>
      toSaml11Model({
        claims: [
          { type: ClaimTypes.upn, value: 'jdoe@corp.example.test' },
          { type: ClaimTypes.immutableId, value: '1TIu064jGEmmf+hnI+F0Jg==' },
          {
            type: ClaimTypes.nameIdentifier,
            value: '1TIu064jGEmmf+hnI+F0Jg==',
            properties: { [NameIdFormatProperty]: NameIdFormats.unspecified },
          },
        ],
        assertionId: `_bench-hsm-${++counter}`,
        issuer: 'http://sts.corp.example.test/adfs/services/trust',
        audience: 'urn:federation:MicrosoftOnline',
        now,
        lifetimeMinutes: 60,
        authMethod: 'urn:oasis:names:tc:SAML:1.0:am:password',
        authInstant: now,
      });
    const sample = writeSignedSaml11Assertion(model(), hsmCred);
    if (!sample.includes('SignatureValue>')) throw new Error('the HSM assertion has no signature');
    const bytes = Buffer.byteLength(sample);
    // Raw rows sign as many bytes as one ds:SignedInfo (what the token writer hands the key).
    const signedInfo = /<ds:SignedInfo>.*<\/ds:SignedInfo>/s.exec(sample)?.[0] ?? '';
    const payload = Buffer.alloc(Buffer.byteLength(signedInfo) + 60, 0x61);
    const nodeKey = createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const deviceSign = direct.signer('bench-signing');

    const rates = await compare(
      [
        { name: 'node:crypto raw RSA-2048 SHA-256', fn: () => sign('sha256', payload, nodeKey) },
        { name: 'SoftHSM2 raw CKM_SHA256_RSA_PKCS (pkcs11js)', fn: () => deviceSign(payload) },
        {
          name: 'fedgate SAML 1.1 assertion, HSM key',
          fn: () => writeSignedSaml11Assertion(model(), hsmCred),
        },
        {
          name: 'fedgate SAML 1.1 assertion, file key',
          fn: () => writeSignedSaml11Assertion(model(), fileCred),
        },
      ],
      opts,
    );
    const [nodeRaw, deviceRaw, hsmIssue] = rates.map((r) => r.opsPerSec);
    return {
      bytes,
      rates,
      issuanceToDeviceRaw: (hsmIssue ?? NaN) / (deviceRaw ?? NaN),
      issuanceToNodeRaw: (hsmIssue ?? NaN) / (nodeRaw ?? NaN),
      deviceRawToNodeRaw: (deviceRaw ?? NaN) / (nodeRaw ?? NaN),
    };
  } finally {
    direct.close();
    key.close();
    hsm.remove();
  }
}

/** Runs the section and prints it the way run.ts prints the others; returns what goes into results.json. */
export async function hsmSection(opts: { quick: boolean }): Promise<HsmBenchResult> {
  const r = await hsmBench({ rounds: opts.quick ? 2 : 5, ms: opts.quick ? 500 : 2000 });
  const [nodeRaw, deviceRaw] = r.rates;
  console.log(
    `HSM issuance (SoftHSM2 via pkcs11js, one thread; assertion ≈ ${r.bytes} bytes; median of rounds)`,
  );
  console.log(
    table(
      ['what', 'per second', '× SoftHSM2 raw', '× node:crypto raw'],
      r.rates.map((x) => [
        x.name,
        x.opsPerSec,
        (x.opsPerSec / (deviceRaw?.opsPerSec ?? NaN)).toFixed(2),
        (x.opsPerSec / (nodeRaw?.opsPerSec ?? NaN)).toFixed(2),
      ]),
    ),
  );
  console.log(
    `HSM issuance ÷ SoftHSM2 raw signing: ${fmt(r.issuanceToDeviceRaw)}; ÷ node:crypto raw: ${fmt(r.issuanceToNodeRaw)}\n`,
  );
  return r;
}
