/**
 * The part of pkcs11js's API fedgate uses, declared here (types only, no code) so that the server type-checks and
 * builds on a machine where the optional native package did not install (no compiler, as in a slim Docker build
 * stage); the binding itself is still loaded at run time only when keys.pkcs11 is configured. Shapes follow
 * pkcs11js 2.x's index.d.ts and PKCS#11 v2.40.
 */
export type Handle = Buffer;

export interface Attribute {
  type: number;
  value?: number | boolean | string | Buffer | Date;
}
export type Template = Attribute[];
export interface AttributeResult {
  type: number;
  value: Buffer;
}
export interface Mechanism {
  mechanism: number;
  parameter?: Buffer | number;
}
export interface TokenInfo {
  label: string;
  manufacturerID: string;
  model: string;
  serialNumber: string;
  flags: number;
}

export declare class PKCS11 {
  load(path: string): void;
  close(): void;
  C_Initialize(options?: { flags?: number; libraryParameters?: string }): void;
  C_Finalize(): void;
  C_GetSlotList(tokenPresent?: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): TokenInfo;
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_Logout(session: Handle): void;
  C_FindObjectsInit(session: Handle, template: Template): void;
  C_FindObjects(session: Handle, maxObjectCount: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Template): AttributeResult[];
  C_SignInit(session: Handle, mechanism: Mechanism, key: Handle): void;
  C_Sign(session: Handle, inData: Buffer, outData: Buffer): Buffer;
  C_GenerateKeyPair(
    session: Handle,
    mechanism: Mechanism,
    publicTmpl: Template,
    privateTmpl: Template,
  ): { privateKey: Handle; publicKey: Handle };
}

export declare const CKA_CLASS: number;
export declare const CKA_DECRYPT: number;
export declare const CKA_ENCRYPT: number;
export declare const CKA_EXTRACTABLE: number;
export declare const CKA_ID: number;
export declare const CKA_KEY_TYPE: number;
export declare const CKA_LABEL: number;
export declare const CKA_MODULUS: number;
export declare const CKA_MODULUS_BITS: number;
export declare const CKA_PRIVATE: number;
export declare const CKA_PUBLIC_EXPONENT: number;
export declare const CKA_SENSITIVE: number;
export declare const CKA_SIGN: number;
export declare const CKA_TOKEN: number;
export declare const CKA_UNWRAP: number;
export declare const CKA_VERIFY: number;
export declare const CKA_WRAP: number;
export declare const CKF_OS_LOCKING_OK: number;
export declare const CKF_RW_SESSION: number;
export declare const CKF_SERIAL_SESSION: number;
export declare const CKF_TOKEN_INITIALIZED: number;
export declare const CKK_RSA: number;
export declare const CKM_RSA_PKCS_KEY_PAIR_GEN: number;
export declare const CKM_SHA256_RSA_PKCS: number;
export declare const CKO_CERTIFICATE: number;
export declare const CKO_PRIVATE_KEY: number;
export declare const CKO_PUBLIC_KEY: number;
export declare const CKU_USER: number;
