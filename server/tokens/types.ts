/** Typed model of the SAML 1.1 assertion fedgate issues (entra-protocol.md §1.5). */
export interface Saml11Attribute {
  /** Last path segment of the claim type (AttributeName). */
  name: string;
  /** Claim type up to the last '/' (AttributeNamespace). */
  namespace: string;
  values: string[];
}

export interface Saml11AssertionModel {
  /** NCName: '_' + uuid, like AD FS. */
  assertionId: string;
  issuer: string;
  issueInstant: Date;
  notBefore: Date;
  notOnOrAfter: Date;
  audience: string;
  nameIdentifier: { value: string; format?: string | undefined };
  attributes: Saml11Attribute[];
  authentication: { method: string; instant: Date };
}

export interface RstrModel {
  /** The signed assertion bytes, inserted verbatim (never re-serialised). */
  assertionXml: string;
  appliesTo: string;
  created: Date;
  expires: Date;
}
