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
  /**
   * Absent when the rules issued no nameidentifier claim: the Subject then carries only its SubjectConfirmation,
   * as AD FS does (SAML 1.1 Core §2.4.2.2 allows NameIdentifier or SubjectConfirmation or both).
   */
  nameIdentifier?: { value: string; format?: string | undefined } | undefined;
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

/** One SAML 2.0 `saml:Attribute` (SAML Core §2.7.3.1). Written only when it has at least one value. */
export interface Saml2Attribute {
  name: string;
  /** e.g. `urn:oasis:names:tc:SAML:2.0:attrname-format:uri`; omitted when undefined (= unspecified). */
  nameFormat?: string | undefined;
  friendlyName?: string | undefined;
  values: string[];
}

/** Typed model of a SAML 2.0 assertion for the Web Browser SSO profile (entra-protocol §2, SAML Profiles §4.1.4.2). */
export interface Saml2AssertionModel {
  /** NCName: '_' + uuid. */
  assertionId: string;
  /** The IdP entity ID (for Entra: the domain's issuerUri). */
  issuer: string;
  issueInstant: Date;
  /**
   * For Entra: persistent format, value = ImmutableID. Absent when the rules issued no nameidentifier claim and
   * the request demanded no format: a Subject with only its SubjectConfirmation (SAML Core §2.4.1), as AD FS.
   */
  nameId?: { value: string; format: string } | undefined;
  /** The bearer SubjectConfirmationData (SAML Profiles §4.1.4.2: Recipient, NotOnOrAfter, InResponseTo). */
  subjectConfirmation: {
    /** The ACS URL the response is posted to. */
    recipient: string;
    notOnOrAfter: Date;
    /** The AuthnRequest ID when SP-initiated; undefined for IdP-initiated. */
    inResponseTo?: string | undefined;
  };
  notBefore: Date;
  notOnOrAfter: Date;
  /** The one AudienceRestriction/Audience: the RP's entity ID. */
  audience: string;
  attributes: Saml2Attribute[];
  authn: {
    instant: Date;
    /** Written when defined; SPs need it for single logout. */
    sessionIndex?: string | undefined;
    /** e.g. `urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport`. */
    contextClassRef: string;
  };
}

/** The `samlp:Response` around one assertion (SAML Core §3.3.3, §3.2.2). Its Issuer is the assertion's. */
export interface Saml2ResponseModel {
  /** NCName, different from the assertion's ID. */
  responseId: string;
  issueInstant: Date;
  /** The ACS URL; must equal the assertion's SubjectConfirmationData Recipient. */
  destination: string;
  /** When SP-initiated; must equal the assertion's SubjectConfirmationData InResponseTo. */
  inResponseTo?: string | undefined;
  /** e.g. `urn:oasis:names:tc:SAML:2.0:consent:unspecified`; omitted when undefined. */
  consent?: string | undefined;
  assertion: Saml2AssertionModel;
}
