/**
 * Curated "defence removed" mutants (issue 14 §3). Each one removes or weakens exactly one security check in
 * server code; `npm run mutate` applies it to a copy of the checkout and runs only the named test files, which
 * must then fail. `find` must occur exactly once in `file` (so a mutant breaks loudly when the code moves);
 * `replace` is the weakened code. Corpus ids refer to ../shared/security-corpus.md.
 */
export interface Edit {
  file: string;
  find: string;
  replace: string;
}

export interface Mutant {
  id: string;
  /** Grouping for the score table. */
  module: string;
  edits: Edit[];
  /** The defence the mutant removes. */
  defence: string;
  corpus: string;
  /** Test files (relative to the checkout) expected to kill it; only these are run. */
  tests: string[];
}

const SIG = 'server/lib/xml-signature.ts';
const SSO = 'server/protocols/saml2/sso.ts';
const INBOUND = 'server/protocols/saml2/inbound.ts';
const SLO_FILE = 'server/protocols/saml2/slo.ts';
// Which session a LogoutRequest ends is the browser pipeline's sign-out (issue 15).
const SIGNOUT = 'server/protocols/browser/signout.ts';
const MSG = 'server/protocols/saml2/messages.ts';
const BIND = 'server/protocols/saml2/bindings.ts';
const WSTQ = 'server/protocols/wstrust/request.ts';
const WSTR = 'server/protocols/wstrust/router.ts';
const REG = 'server/trust/registry.ts';
const SESS = 'server/authn/session.ts';
const SEAL = 'server/lib/sealer.ts';
/** The sign-in forms' login-CSRF check (checkFormBinding, shared by the password and MFA posts). */
const SIGNIN = 'server/protocols/browser/pending.ts';
const CERT_RETURN = 'server/protocols/browser/certificate.ts';
const CC = 'server/http/client-certificate.ts';
const APP = 'server/app.ts';
const LOCK = 'server/authn/lockout.ts';
const SPRAY = 'server/authn/spray.ts';
const FORMS = 'server/authn/password.ts';
const OIDC_PROVIDER = 'server/protocols/oidc/provider.ts';
const OIDC_GRANTS = 'server/protocols/oidc/grants.ts';
const OIDC_NEG = 'tests/security/oidc-negatives.test.ts';
const OIDC_PIPELINE = 'tests/integration/oidc-pipeline.test.ts';
const OIDC_BAD = 'tests/security/oidc-bad-input.test.ts';

/**
 * A condition that is always false at run time but that the type checker cannot evaluate: a literal `false`
 * makes TypeScript treat the guarded block as unreachable and drop the narrowing the code after it relies on,
 * so the mutant would not type-check (and an invalid mutant proves nothing).
 */
const NEVER = '(globalThis as { mutantNever?: boolean }).mutantNever === true';

const SAML_NEG = 'tests/security/saml2-negative.test.ts';
const SAML_DEF = 'tests/security/saml2-defences.test.ts';
const SIG_CORPUS = 'tests/security/signature-corpus.test.ts';
const SLO = 'tests/integration/saml2-slo-wsfed.test.ts';
const WST_NEG = 'tests/security/wstrust-negative.test.ts';
const REPLY = 'tests/unit/trust/reply-url.test.ts';
const WSFED_NEG = 'tests/security/wsfed-negative.test.ts';
const SEAL_T = 'tests/unit/authn/session-seal.test.ts';
const SESS_T = 'tests/unit/authn/session.test.ts';
const BROWSER = 'tests/security/browser-hardening.test.ts';
const CERT = 'tests/integration/certificate-signin.test.ts';
const NGINX = 'tests/integration/certificate-nginx.test.ts';
const LISTEN = 'tests/integration/listen.test.ts';
const LOCK_T = 'tests/unit/authn/lockout.test.ts';
const SPRAY_T = 'tests/integration/lockout-spray-samba.test.ts';
// MFA (issue 16)
const TOTP = 'server/authn/mfa/totp.ts';
const MFA_PAGE = 'server/protocols/browser/mfa.ts';
const MFA_VIEW = 'server/protocols/browser/mfa-page.ts';
const MFA_LOCKOUT = 'server/authn/mfa/lockout.ts';
const WEBAUTHN = 'server/authn/mfa/webauthn.ts';
const ENROL = 'server/authn/mfa/enrolments.ts';
const ADDITIONAL = 'server/protocols/browser/additional.ts';
const ISSUE_TOKEN = 'server/protocols/issuance/issue-token.ts';
const SAML_MODEL = 'server/tokens/saml2-model.ts';
const PORTAL = 'server/protocols/browser/portal.ts';
const RADIUS_PACKET = 'server/authn/mfa/radius-packet.ts';
const TOTP_T = 'tests/unit/authn/mfa/totp.test.ts';
const MFA_SIGNIN = 'tests/integration/mfa-signin.test.ts';
const MFA_SEC = 'tests/security/mfa-defences.test.ts';
const WEBAUTHN_T = 'tests/unit/authn/mfa/webauthn.test.ts';
const WEBAUTHN_CHROMIUM = 'tests/integration/webauthn-chromium.test.ts';
const ENROL_T = 'tests/unit/authn/mfa/enrolments.test.ts';
const MFA_CLAIMS = 'tests/integration/mfa-claims-token.test.ts';
const CORPUS_B = 'tests/security/corpus-b.test.ts';
const SAML_MFA_CLASS = 'tests/unit/tokens/saml2-mfa-class.test.ts';
const WSTRUST_MFA = 'tests/integration/wstrust-mfa.test.ts';
const PORTAL_T = 'tests/integration/portal.test.ts';
const RADIUS_PACKET_T = 'tests/unit/authn/mfa/radius-packet.test.ts';
const RADIUS_FR = 'tests/integration/radius-freeradius.test.ts';

// Issue 17: the sign-in experience (language picker, resume, Keep me signed in, web content links, theme files, page
// escaping).
const LANGUAGE = 'server/http/language.ts';
const RESUME = 'server/protocols/browser/resume.ts';
const BRANDING_PAGES = 'tests/integration/branding-pages.test.ts';
const FLOW_OPTIONS = 'tests/integration/signin-flow-options.test.ts';
const SVG = 'server/branding/svg.ts';
const SVG_T = 'tests/unit/branding/svg.test.ts';
const CSS = 'server/branding/css.ts';
const ASSETS = 'server/branding/assets.ts';
const ASSETS_T = 'tests/unit/branding/assets.test.ts';
const THEME_T = 'tests/unit/branding/theme.test.ts';
const ESCAPING = 'tests/security/page-escaping.test.ts';
const ROLLOVER = 'server/keys/rollover.ts';
const PLAN = 'server/keys/rollover-plan.ts';
const RING = 'server/keys/ring.ts';
const PLAN_T = 'tests/unit/keys/rollover-plan.test.ts';
const RING_T = 'tests/unit/keys/ring.test.ts';
const KEY_ROLLOVER = 'tests/integration/key-rollover.test.ts';
const KEY_FARM = 'tests/integration/key-rollover-farm.test.ts';
const KEYS_CLI = 'tests/integration/keys-cli.test.ts';

/** One edit in one file. */
const m = (
  id: string,
  module: string,
  file: string,
  find: string,
  replace: string,
  defence: string,
  corpus: string,
  tests: string[],
): Mutant => ({ id, module, edits: [{ file, find, replace }], defence, corpus, tests });

export const MUTANTS: Mutant[] = [
  // ---------------------------------------------------------------- inbound signature checks
  m(
    'sig-one-signature',
    'signature',
    SIG,
    'if (all.length !== 1 || direct.length !== 1)',
    'if (direct.length === 0)',
    'exactly one ds:Signature in the document (a decoy signature elsewhere is refused)',
    'B2.9, B2.11',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sig-id-unique',
    'signature',
    SIG,
    "if (countId(root, id) !== 1) throw new SignatureRejected('the signed ID appears more than once');",
    "if (countId(root, id) < 1) throw new SignatureRejected('the signed ID appears more than once');",
    'the signed ID must be unique in the document',
    'A5, B2.5',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sig-c14n',
    'signature',
    SIG,
    'if (c14n !== EXC_C14N) throw',
    'if (c14n === null) throw',
    'CanonicalizationMethod must be exc-c14n (never WithComments)',
    'B2.14, B2.15',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sig-alg-allow',
    'signature',
    SIG,
    'if (!allowedSignatureMethods(policy).has(sm))',
    "if (sm === '')",
    'SignatureMethod allow-list',
    'B2.14',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sig-sha1-policy',
    'signature',
    SIG,
    'if (p.allowSha1) s.add(RSA_SHA1);',
    's.add(RSA_SHA1);',
    'RSA-SHA1 only for partners whose policy allows it',
    'B2.14',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sig-digest-allow',
    'signature',
    SIG,
    'if (!allowedDigests(policy).has(dm)) throw',
    "if (dm === '') throw",
    'DigestMethod allow-list',
    'B2.14',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sig-ref-uri',
    'signature',
    SIG,
    "if (ref.getAttribute('URI') !== `#${id}`)",
    "if (ref.getAttribute('URI') === null)",
    "the one Reference must point at the root's own ID",
    'A2, A3, B2.3, B2.4',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sig-transform-allow',
    'signature',
    SIG,
    "if (t.localName !== 'Transform' || (alg !== ENVELOPED && alg !== EXC_C14N))",
    "if (t.localName !== 'Transform')",
    'transforms only enveloped-signature and exc-c14n',
    'B2.14, B2.16',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sig-transform-count',
    'signature',
    SIG,
    'childElements(transforms[0]).length > 2)',
    'childElements(transforms[0]).length > 64)',
    'at most two transforms',
    'B2.16',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sig-transform-params',
    'signature',
    SIG,
    'if (childElements(t).length > 0 && alg === ENVELOPED)',
    'if (childElements(t).length > 99 && alg === ENVELOPED)',
    'no parameters (e.g. XPath) inside the enveloped-signature transform',
    'B2.16',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sig-keyinfo',
    'signature',
    SIG,
    'getCertFromKeyInfo: () => null',
    'getCertFromKeyInfo: SignedXml.getCertFromKeyInfo',
    'a certificate in KeyInfo is never used; only the metadata certificate',
    'A1, B2.13',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sig-check-result',
    'signature',
    SIG,
    'if (!sx.checkSignature(xml)) continue;',
    // Merely ignoring the result would be equivalent: xml-crypto 6 resets getSignedReferences() at the start of
    // checkSignature and fills it only after the SignatureValue verifies, so the refs check below still refuses.
    // The defence removed here is "a failed check is never accepted": the received bytes are returned instead.
    'if (!sx.checkSignature(xml)) return xml;',
    'a signature that does not verify is refused',
    'B2.1, B2.2',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sig-throw-is-failure',
    'signature',
    SIG,
    'continue; // any throw is a failure',
    // As above: an empty catch alone is equivalent (no signed references after a throw), so the mutant accepts.
    'return xml; // any throw is a failure',
    'a throw during verification is a failure, never followed by reading references',
    'A6',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  // No 'sig-fresh-signedxml' mutant (one SignedXml reused across the candidate certificates): equivalent with
  // xml-crypto 6. loadSignature() resets the signature state and checkSignature() resets the references and the
  // signed references before it checks anything, filling them only when the SignatureValue verifies, so nothing
  // of a failed attempt survives into the next. The fresh object per attempt stays (A6) in case a later
  // xml-crypto keeps state; the A6 test in signature-corpus shows the observable property.

  // No 'sig-signed-bytes' mutant (return the received XML instead of the canonical signed bytes), and no
  // 'sso-read-signed-doc' in saml-request: both are equivalent today. The Reference must be the root's own
  // unique ID with only the enveloped + exc-c14n transforms, so the signed bytes are the received root minus
  // its ds:Signature and minus comments; the readers (protocols/saml2/messages.ts) take only direct children of
  // the root, never anything inside ds:Signature (signature-corpus A13 hides a NameIDPolicy in ds:Object), and
  // refuse a comment inside any text they read (B2.15). Verifier and reader parse with the same xmldom 0.8. No
  // input is read differently; the signed-bytes path stays against a future reader or parser that differs.

  m(
    'redirect-relaystate-signed',
    'signature',
    BIND,
    "(relay === undefined ? '' : `&RelayState=${relay}`)",
    "''",
    'RelayState is covered by the HTTP-Redirect signature',
    'B2.8, B3.5',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'redirect-sigalg-alone',
    'signature',
    BIND,
    'if (sigRaw === undefined && algRaw === undefined) return { signed: false };',
    'if (sigRaw === undefined) return { signed: false };',
    'SigAlg without Signature is refused, not read as unsigned',
    'B2.12',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'redirect-sigalg-allow',
    'signature',
    BIND,
    'if (!allowedSignatureMethods(policy).has(sigAlg) || HASH_OF[sigAlg] === undefined)',
    'if (HASH_OF[sigAlg] === undefined)',
    'HTTP-Redirect SigAlg allow-list (policy)',
    'B2.14',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),

  // ---------------------------------------------------------------- SAML request and logout validation
  // No 'sso-read-signed-doc' mutant: see 'sig-signed-bytes' above.

  m(
    'sso-signature-required',
    'saml-request',
    INBOUND,
    "if (required)\n    throw new FederationError('bad_request', 'The SAML message must be signed.'",
    `if (required && ${NEVER})\n    throw new FederationError('bad_request', 'The SAML message must be signed.'`,
    'an SP that must sign cannot send an unsigned message',
    'B2.12',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sso-authnrequestssigned',
    'saml-request',
    SSO,
    'saml.metadata.authnRequestsSigned ||',
    'false ||',
    "metadata AuthnRequestsSigned='true' makes the signature required",
    'B2.12',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  // No 'sso-issuer-rebound' / 'slo-issuer-rebound' mutants (drop the check that the Issuer re-read from the
  // signed bytes equals the one whose keys were used): equivalent today for the reason given at
  // 'sig-signed-bytes'. The signed bytes are the received root minus its signature and comments, and an Issuer
  // with a comment inside is refused when first read, so the two reads cannot differ. The check stays for a
  // future reader or parser that differs (B2.17).

  m(
    'sso-destination',
    'saml-request',
    INBOUND,
    "if (destination.replace(/\\/+$/, '') !== endpoint.replace(/\\/+$/, ''))",
    "if (destination === '')",
    'Destination, when present, must be this endpoint',
    'B3.3',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sso-signed-needs-destination',
    'saml-request',
    INBOUND,
    '} else if (signed) {',
    `} else if (signed && ${NEVER}) {`,
    'a signed message must carry Destination',
    'B3.3',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sso-too-old',
    'saml-request',
    INBOUND,
    'if (t < now - (cfg.requestMaxAgeSeconds + cfg.clockSkewSeconds) * 1000)',
    'if (t < now - (cfg.requestMaxAgeSeconds + cfg.clockSkewSeconds) * 1000 * 1000)',
    'IssueInstant not older than the request window',
    'B3.7, E5',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sso-future',
    'saml-request',
    INBOUND,
    'if (t > now + cfg.clockSkewSeconds * 1000)',
    'if (t > now + cfg.clockSkewSeconds * 1000 * 1000)',
    'IssueInstant not in the future beyond the skew',
    'B3.7, E5',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sso-future-skew',
    'saml-request',
    INBOUND,
    'if (t > now + cfg.clockSkewSeconds * 1000)',
    'if (t > now + cfg.clockSkewSeconds * 3000)',
    'the future bound is exactly the configured skew (not a multiple of it)',
    'E5',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sso-replay',
    'saml-request',
    INBOUND,
    "markSeen('replay', `saml2:${kind}:${issuer}:${id}`, ttl)",
    "markSeen('replay', `saml2:${kind}:${issuer}:${id}:${Math.random()}`, ttl)",
    'request ID replay cache',
    'B3.7',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sso-acs-metadata',
    'saml-request',
    SSO,
    'if (hit === undefined)\n      throw bad(`AssertionConsumerServiceURL',
    'if (hit === undefined) return r.acsUrl;\n    if (hit === undefined)\n      throw bad(`AssertionConsumerServiceURL',
    'ACS URL only from metadata',
    'B3.1',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sso-acs-index',
    'saml-request',
    SSO,
    "if (r.acsUrl !== undefined) throw bad('both AssertionConsumerServiceURL and Index');",
    '',
    'AssertionConsumerServiceURL and Index are mutually exclusive',
    'B3.1',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'sso-acs-binding',
    'saml-request',
    SSO,
    'if (r.protocolBinding !== undefined && r.protocolBinding !== BINDING_POST)',
    'if (r.protocolBinding === "")',
    'only the HTTP-POST response binding',
    'B3.1',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'slo-signed-required',
    'saml-request',
    SLO_FILE,
    'const v = verified(s, req, m, saml, true);',
    'const v = verified(s, req, m, saml, false);',
    'a LogoutRequest must be signed',
    'B3.8',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),

  m(
    'slo-notonorafter',
    'saml-request',
    SLO_FILE,
    'lr.notOnOrAfter !== undefined &&\n    lr.notOnOrAfter.getTime()',
    `lr.notOnOrAfter !== undefined && ${NEVER} &&\n    lr.notOnOrAfter.getTime()`,
    'an expired LogoutRequest (NotOnOrAfter passed) is refused',
    'A15',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'slo-nameid-match',
    'saml-request',
    SIGNOUT,
    'me.nameId === lr.nameId &&',
    'true &&',
    "the LogoutRequest NameID must be the session's for that SP",
    'B3.8',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'slo-sessionindex-match',
    'saml-request',
    SIGNOUT,
    '(lr.sessionIndexes.length === 0 || lr.sessionIndexes.includes(me.sessionIndex))',
    'true',
    "a SessionIndex, when given, must be the session's",
    'B3.8',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'slo-response-inresponseto',
    'saml-request',
    SLO_FILE,
    'if (lr.issuer !== state.awaiting.rp || lr.inResponseTo !== state.awaiting.requestId)',
    'if (lr.issuer !== state.awaiting.rp)',
    'a LogoutResponse must answer our LogoutRequest',
    'B3.8',
    [SAML_NEG, SIG_CORPUS, SAML_DEF, SLO],
  ),
  m(
    'slo-response-signature',
    'saml-request',
    SLO_FILE,
    'const v = verified(s, req, m, saml, saml.metadata.signingCertificates.length > 0);\n  const lr = readLogoutResponse(v.doc);',
    'const lr = readLogoutResponse(m.doc);',
    'a signed LogoutResponse must verify',
    'B2.1',
    [SAML_NEG, SIG_CORPUS, SAML_DEF, SLO],
  ),
  m(
    'slo-response-signed-required',
    'saml-request',
    SLO_FILE,
    'verified(s, req, m, saml, saml.metadata.signingCertificates.length > 0)',
    'verified(s, req, m, saml, false)',
    'a party with a signing key must sign its LogoutResponse (an unsigned Success is refused)',
    'B3.8',
    [SAML_DEF, SLO],
  ),
  m(
    'msg-root-namespace',
    'saml-request',
    MSG,
    'if (root.namespaceURI !== SAMLP || root.localName !== local)',
    'if (root.localName !== local)',
    'root element read by namespace URI, not local name alone',
    'B1.9, B2.17',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'msg-issuer-text-only',
    'saml-request',
    MSG,
    'const v = textOnly(el).trim();',
    'const v = el.textContent.trim();',
    'Issuer with a comment or element inside is refused',
    'B2.15',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),
  m(
    'msg-instant-utc',
    'saml-request',
    MSG,
    'if (!/^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z$/.test(v))',
    `if (${NEVER})`,
    'IssueInstant must be a UTC xs:dateTime (no offsets shifting the window)',
    'E5',
    [SAML_NEG, SIG_CORPUS, SAML_DEF],
  ),

  // ---------------------------------------------------------------- WS-Trust parsing, timestamps, replay
  m(
    'wst-one-security',
    'wstrust',
    WSTQ,
    "if (doc.getElementsByTagNameNS(WSSE_NS, 'Security').length > 1)",
    `if (${NEVER})`,
    'one wsse:Security anywhere in the message',
    'B4.2',
    [WST_NEG],
  ),
  m(
    'wst-one-usernametoken',
    'wstrust',
    WSTQ,
    "if (doc.getElementsByTagNameNS(WSSE_NS, 'UsernameToken').length > 1)",
    `if (${NEVER})`,
    'one UsernameToken anywhere in the message',
    'B4.2',
    [WST_NEG],
  ),
  m(
    'wst-action',
    'wstrust',
    WSTQ,
    'if (actionValue !== version.requestAction)',
    "if (actionValue === '')",
    'wsa:Action must be the Issue action of this endpoint',
    'B4.4',
    [WST_NEG],
  ),
  m(
    'wst-mustunderstand',
    'wstrust',
    WSTQ,
    'if (mustUnderstand(h, env.soap))',
    `if (mustUnderstand(h, env.soap) && ${NEVER})`,
    'unknown mustUnderstand headers fault (SOAP 1.1 §4.2.3)',
    'B4.4',
    [WST_NEG],
  ),
  m(
    'wst-security-children',
    'wstrust',
    WSTQ,
    "if (!isElement(k, WSU_NS, 'Timestamp') && !isElement(k, WSSE_NS, 'UsernameToken'))",
    `if (${NEVER})`,
    'nothing but Timestamp and UsernameToken in wsse:Security (no BinarySecurityToken, Signature…)',
    'B4.2',
    [WST_NEG],
  ),
  m(
    'wst-created-future',
    'wstrust',
    WSTQ,
    'if (ts.created.getTime() > t + skew)',
    'if (ts.created.getTime() > t + skew * 1000)',
    'Timestamp Created not in the future beyond the skew',
    'B4.3, E5',
    [WST_NEG],
  ),
  m(
    'wst-created-old',
    'wstrust',
    WSTQ,
    'if (ts.created.getTime() < t - skew)',
    'if (ts.created.getTime() < t - skew * 1000)',
    'Timestamp Created not older than the skew window',
    'B4.3',
    [WST_NEG],
  ),
  m(
    'wst-expires-after-created',
    'wstrust',
    WSTQ,
    'if (ts.expires.getTime() <= ts.created.getTime())',
    `if (${NEVER})`,
    'Timestamp Expires after Created',
    'B4.3',
    [WST_NEG],
  ),
  m(
    'wst-password-type',
    'wstrust',
    WSTQ,
    "if (pwType !== null && pwType !== '' && pwType !== PASSWORD_TEXT)",
    `if (pwType !== null && pwType !== '' && pwType !== PASSWORD_TEXT && ${NEVER})`,
    'only PasswordText (a digest is never taken as the password)',
    'B4.2',
    [WST_NEG],
  ),
  m(
    'wst-password-text-only',
    'wstrust',
    WSTQ,
    "else if (n.nodeType === 1) fault('invalid_security', 'Password must contain text only');",
    '',
    'Password text only, no elements inside',
    'B4.2',
    [WST_NEG],
  ),
  m(
    'wst-msgid-replay',
    'wstrust',
    WSTR,
    "markSeen('replay', `wstrust:msgid:${sha256(rq.messageId)}`, replayTtl)",
    "markSeen('replay', `wstrust:msgid:${sha256(rq.messageId)}:${Math.random()}`, replayTtl)",
    'wsa:MessageID replay cache',
    'B4.3',
    [WST_NEG],
  ),
  m(
    'wst-nonce-replay',
    'wstrust',
    WSTR,
    "if (!(await s.store.markSeen('replay', key, replayTtl)))",
    "if (!(await s.store.markSeen('replay', key + String(Math.random()), replayTtl)))",
    'UsernameToken Nonce+Created replay cache',
    'B4.3',
    [WST_NEG],
  ),
  m(
    'wst-https',
    'wstrust',
    WSTR,
    "if (!req.secure)\n      throw wstrustFault('not_https'",
    `if (!req.secure && ${NEVER})\n      throw wstrustFault('not_https'`,
    'usernamemixed only over TLS (or a trusted TLS-terminating proxy)',
    'B4.1',
    [WST_NEG],
  ),
  m(
    'wst-empty-password',
    'wstrust',
    WSTR,
    "if (rq.password === '' || rq.username === '') {",
    "if (rq.username === '') {",
    'an empty password never reaches the directory (anonymous bind)',
    'C4.5',
    [WST_NEG],
  ),
  // No 'wst-doctype' mutant (removing the DOCTYPE/ENTITY regex in wstrust/soap.ts): it is equivalent. The tag
  // balance pass that runs next (lib/xml-tag-balance.ts) reads '<!DOCTYPE' as a start tag named '!DOCTYPE'
  // that is never closed and refuses the message with the same InvalidRequest fault: every DOCTYPE, ENTITY and
  // parameter-entity case in wstrust-negative is still refused the same way without the regex (measured). The
  // regex stays as the first, cheaper and clearer line (B1.1–B1.3).

  // ---------------------------------------------------------------- reply / ACS matching
  m(
    'reply-control-chars',
    'reply-url',
    REG,
    'if (requested.length > 2048 || /[\\\\\\s\\u0000-\\u001f\\u007f]/.test(requested)) return undefined;',
    'if (requested.length > 2048) return undefined;',
    'reply address without backslashes, whitespace or control characters',
    'B3.4',
    [REPLY, WSFED_NEG],
  ),
  m(
    'reply-userinfo',
    'reply-url',
    REG,
    "if (url.protocol !== 'https:' || url.username !== '' || url.password !== '') return undefined;",
    "if (url.protocol !== 'https:') return undefined;",
    'no userinfo in a reply address',
    'B3.4',
    [REPLY, WSFED_NEG],
  ),
  m(
    'reply-origin',
    'reply-url',
    REG,
    'if (reg.origin !== url.origin) continue;',
    'if (!url.hostname.endsWith(reg.hostname)) continue;',
    'same origin (scheme, host and port), not a host suffix',
    'B3.4',
    [REPLY, WSFED_NEG],
  ),
  m(
    'reply-port',
    'reply-url',
    REG,
    'if (reg.origin !== url.origin) continue;',
    'if (reg.hostname !== url.hostname) continue;',
    'the port is part of the origin',
    'B3.4',
    [REPLY, WSFED_NEG],
  ),
  m(
    'reply-path-prefix',
    'reply-url',
    REG,
    "if (reg.pathname.endsWith('/') && url.pathname.startsWith(reg.pathname)) return url.href;",
    'if (url.pathname.startsWith(reg.pathname)) return url.href;',
    "a path prefix matches only under a registered endpoint ending in '/'",
    'B3.4',
    [REPLY, WSFED_NEG],
  ),

  // ---------------------------------------------------------------- session sealing and CSRF
  m(
    'session-handle-sealed',
    'session-csrf',
    SESS,
    "this.#sealer.open(id, 'sso-handle') !== undefined",
    'true',
    'a forged cookie is refused before any store look-up',
    'C5.2',
    [SEAL_T, SESS_T],
  ),
  {
    id: 'session-record-aad',
    module: 'session-csrf',
    // Both sides, or every open fails and the mutant is trivially killed.
    edits: [
      { file: SEAL, find: 'c.setAAD(Buffer.from(aad));', replace: "c.setAAD(Buffer.from(''));" },
      { file: SEAL, find: 'd.setAAD(Buffer.from(aad));', replace: "d.setAAD(Buffer.from(''));" },
    ],
    defence:
      'a sealed record is bound to its session id (AAD): records cannot be swapped between sessions',
    corpus: 'C5.2',
    tests: [SEAL_T, SESS_T],
  },
  m(
    'session-expiry',
    'session-csrf',
    SESS,
    'if (new Date(s.expiresAt).getTime() <= this.#clock.now().getTime()) {',
    `if (${NEVER}) {`,
    'an expired session record is refused even if the store still holds it',
    'C5.2',
    [SEAL_T, SESS_T],
  ),
  m(
    'csrf-token',
    'session-csrf',
    SIGNIN,
    'if (!safeEqual(csrf, pending.csrf) || !safeEqual(binding, pending.binding) || !originOk)',
    'if (!safeEqual(binding, pending.binding) || !originOk)',
    'the sign-in form CSRF token must match',
    'C5.1',
    [BROWSER],
  ),
  m(
    'csrf-binding-cookie',
    'session-csrf',
    SIGNIN,
    'if (!safeEqual(csrf, pending.csrf) || !safeEqual(binding, pending.binding) || !originOk)',
    'if (!safeEqual(csrf, pending.csrf) || !originOk)',
    'the browser must hold the binding cookie the form was made for',
    'C5.1',
    [BROWSER],
  ),
  m(
    'csrf-origin',
    'session-csrf',
    SIGNIN,
    'const originOk = origin === undefined || origin === new URL(s.config.publicUrl).origin;',
    'const originOk = origin !== "" || origin === new URL(s.config.publicUrl).origin;',
    'a browser-supplied Origin must be ours',
    'C5.1',
    [BROWSER],
  ),
  m(
    'csrf-certificate-result',
    'session-csrf',
    CERT_RETURN,
    'if (!safeEqual(binding, pending.binding)) {',
    `if (!safeEqual(binding, pending.binding) && ${NEVER}) {`,
    'a certificate sign-in result works only in the browser that started the sign-in',
    'C5.1, C6',
    [CERT],
  ),

  // ---------------------------------------------------------------- trusted proxies
  m(
    'proxy-cert-peer',
    'trusted-proxy',
    CC,
    "if (!this.trustedPeer(req))\n      return { status: 'untrusted_peer'",
    `if (!this.trustedPeer(req) && ${NEVER})\n      return { status: 'untrusted_peer'`,
    'the certificate header is believed only from a trusted proxy (TCP peer)',
    'C6.1',
    [CERT, NGINX],
  ),
  m(
    'proxy-cert-verify',
    'trusted-proxy',
    CC,
    "if (verify[0]?.trim() !== 'SUCCESS')",
    `if (${NEVER})`,
    'the proxy must say it verified the certificate',
    'C6.1',
    [NGINX],
  ),
  m(
    'proxy-cert-verify-present',
    'trusted-proxy',
    CC,
    'if (verify.length !== 1)',
    'if (verify.length > 1)',
    'a certificate header without the verification header is refused',
    'C6.1',
    [NGINX],
  ),
  m(
    'proxy-cert-repeated',
    'trusted-proxy',
    CC,
    "if (values.length > 1)\n      return { status: 'refused'",
    "if (values.length > 99)\n      return { status: 'refused'",
    'a repeated certificate header is refused',
    'C6.1',
    [NGINX],
  ),
  m(
    'proxy-trust-anyone',
    'trusted-proxy',
    APP,
    's.config.listen.trustedProxies.length > 0 ? [...s.config.listen.trustedProxies] : false,',
    'true,',
    'X-Forwarded-For/-Proto believed only from configured proxies',
    'B4.6, C1.5',
    [LISTEN, BROWSER, WST_NEG],
  ),

  // ---------------------------------------------------------------- lockout gate
  m(
    'lockout-enforce',
    'lockout',
    LOCK,
    'return { ...base, allowed: this.logOnly, locked: true, count };',
    'return { ...base, allowed: true, locked: true, count };',
    'over the threshold the attempt is refused (enforce mode)',
    'C1.3',
    [LOCK_T],
  ),
  m(
    'lockout-one-probe',
    'lockout',
    LOCK,
    'const probe = await this.#store.markSeen(',
    'const probe = true || await this.#store.markSeen(',
    'one attempt per observation window once locked',
    'C1.3',
    [LOCK_T],
  ),
  m(
    'lockout-gate-set',
    'lockout',
    LOCK,
    'if (count >= this.#config.threshold) {\n      await this.#store.put',
    `if (${NEVER}) {\n      await this.#store.put`,
    'each counted failure over the threshold restarts the window',
    'C1.3',
    [LOCK_T],
  ),
  m(
    'lockout-familiar-every',
    'lockout',
    LOCK,
    'ips.every((ip) => rec.ips.includes(ip))',
    'ips.some((ip) => rec.ips.includes(ip))',
    'familiar only when every presented address is familiar',
    'C1.5',
    [LOCK_T],
  ),
  m(
    'lockout-before-bind',
    'lockout',
    FORMS,
    'if (!decision.allowed) {\n      await correctPasswordWhileLocked',
    `if (!decision.allowed && ${NEVER}) {\n      await correctPasswordWhileLocked`,
    'a locked account gets no bind (the gate runs before the credential check)',
    'C1.3, C1.4',
    [SPRAY_T],
  ),
  m(
    'spray-banned',
    'lockout',
    SPRAY,
    "if (this.isBanned(presentedIps)) return { allowed: false, reason: 'banned' };",
    '',
    'banned address ranges refused first',
    'C1.10',
    [LOCK_T, SPRAY_T],
  ),
  m(
    'spray-banned-any-address',
    'lockout',
    SPRAY,
    'return presentedIps.some((raw) => {',
    'return presentedIps.slice(0, 1).some((raw) => {',
    'any presented address (whole forwarded chain) in a banned range refuses',
    'C1.10',
    [LOCK_T, SPRAY_T],
  ),
  m(
    'spray-source-budget',
    'lockout',
    SPRAY,
    'if (n >= this.#config.maxFailuresPerSource)',
    `if (${NEVER})`,
    'per-source failure budget',
    'C1.1',
    [SPRAY_T],
  ),
  // ---------------------------------------------------------------- MFA (issue 16)
  m(
    'mfa-totp-replay-last',
    'mfa',
    TOTP,
    "if (last !== undefined && step <= last) return this.#fail(account, 'replayed');",
    '',
    'TOTP: a code of a step at or before the last accepted one is refused (RFC 6238 §5.2)',
    'issue 16 (replayed TOTP)',
    [TOTP_T],
  ),
  m(
    'mfa-totp-replay-seen',
    'mfa',
    TOTP,
    "if (!(await this.#store.markSeen('mfaReplay', `${replay}:${String(step)}`, keep)))",
    `if (${NEVER})`,
    'TOTP: one use per code across the farm (set-if-absent on the step in the shared store)',
    'issue 16 (replayed TOTP)',
    [TOTP_T, MFA_SEC],
  ),
  m(
    'mfa-totp-drift-window',
    'mfa',
    TOTP,
    'window: p.driftSteps });',
    'window: p.driftSteps + 20 });',
    'TOTP: only codes within mfa.totp.driftSteps of now are accepted',
    'issue 16 (wrong window)',
    [TOTP_T, MFA_SIGNIN],
  ),
  m(
    'mfa-totp-locked',
    'mfa',
    TOTP,
    "if (failures >= p.maxFailures) return { ok: false, reason: 'locked', failures };",
    '',
    'TOTP verifier: nothing is checked once the account reached the MFA lockout',
    'issue 16 (MFA lockout)',
    [TOTP_T],
  ),
  m(
    'mfa-page-locked',
    'mfa',
    MFA_PAGE,
    'if (await s.mfa.lockout.locked(account)) {\n    audit.mfaLocked',
    `if (${NEVER}) {\n    audit.mfaLocked`,
    'MFA page: a locked-out account gets no answer checked, for any method (checked before answering)',
    'issue 16 (MFA lockout)',
    [MFA_SIGNIN, MFA_SEC],
  ),
  m(
    'mfa-shared-failure-count',
    'mfa',
    MFA_LOCKOUT,
    "const failures = await this.#store.incr('mfaFailures', account, this.#seconds);",
    'const failures = (await this.failures(account)) + 1;',
    'one MFA failure count per account for every method (a WebAuthn, RADIUS or enrolment-code failure counts with TOTP ones)',
    'issue 16 (MFA lockout)',
    [MFA_SIGNIN, MFA_SEC],
  ),
  m(
    'mfa-webauthn-counter',
    'mfa',
    WEBAUTHN,
    'if ((newCounter > 0 || factor.counter > 0) && newCounter <= factor.counter)',
    `if (${NEVER})`,
    'WebAuthn: a signature counter that does not increase is a cloned authenticator (§6.1.1)',
    'issue 16 (cloned authenticator counter)',
    [WEBAUTHN_T, WEBAUTHN_CHROMIUM],
  ),
  m(
    'mfa-webauthn-rp-id',
    'mfa',
    WEBAUTHN,
    "if (!expected.equals(authData.rpIdHash)) return { ok: false, reason: 'rp-id' };",
    '',
    'WebAuthn: the RP ID hash is that of hostname (§7.2 step 15)',
    'issue 16 (wrong RP ID)',
    [WEBAUTHN_T, WEBAUTHN_CHROMIUM],
  ),
  m(
    'mfa-webauthn-origin',
    'mfa',
    WEBAUTHN,
    "if (cd.origin !== st.origin) return { ok: false, reason: 'origin', detail: clip(cd.origin) };",
    '',
    'WebAuthn: clientDataJSON.origin is our public origin (§7.2 step 13)',
    'issue 16 (wrong RP ID / phishing origin)',
    [WEBAUTHN_T, WEBAUTHN_CHROMIUM],
  ),
  m(
    'mfa-webauthn-aaguid',
    'mfa',
    WEBAUTHN,
    '!st.allowedAaguids.includes(aaguid)',
    NEVER,
    'WebAuthn: with attestation direct, only authenticator models on mfa.webauthn.allowedAaguids enrol',
    'issue 16 (unknown AAGUID with attestation)',
    [WEBAUTHN_T, WEBAUTHN_CHROMIUM],
  ),
  m(
    'mfa-enrolment-aad',
    'mfa',
    ENROL,
    "return `mfa-enrolments:v1:${user.objectGuid.toString('hex')}`;",
    "return 'mfa-enrolments:v1:';",
    'the sealed enrolment record is bound to its account (AAD = objectGUID): a copy to another account does not open',
    'issue 16 (tampered sealed record)',
    [ENROL_T],
  ),
  m(
    'mfa-enrolment-code-check',
    'mfa',
    ENROL,
    "if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, reason: 'wrong' };",
    '',
    'a first factor with mfa.enrolment.allow code needs the helpdesk code itself',
    'issue 16 (enrolment refused by policy)',
    [ENROL_T, MFA_SIGNIN],
  ),
  m(
    'mfa-enrolment-code-once',
    'mfa',
    ENROL,
    'return { ok: true, enrolments: { v: 1, factors: [...e.factors] } };',
    'return { ok: true, enrolments: { v: 1, factors: [...e.factors], code: pending } };',
    'a helpdesk enrolment code is used up by its first redemption',
    'issue 16 (enrolment refused by policy)',
    [ENROL_T, MFA_SIGNIN],
  ),
  m(
    'mfa-enrol-route-intranet',
    'mfa',
    MFA_VIEW,
    "allow.includes('intranet') &&\n    insideCorporateNetwork({ corporateNetworks: s.config.corporateNetworks }, req.ip)",
    "allow.includes('intranet')",
    'enrolment policy intranet: self-service enrolment only from a corporateNetworks address',
    'issue 16 (enrolment refused by policy)',
    [MFA_SEC],
  ),
  m(
    'mfa-enrol-route-certificate',
    'mfa',
    MFA_VIEW,
    "if (allow.includes('certificate') && state.primary.authMethod === AuthMethods.tlsClient)",
    "if (allow.includes('certificate'))",
    'enrolment policy certificate: only right after a certificate sign-in, never after a password',
    'issue 16 (enrolment refused by policy)',
    [MFA_SEC],
  ),
  m(
    'mfa-password-session-satisfies',
    'mfa',
    ADDITIONAL,
    'export const additional: Step = async (ctx) => {',
    "export const additional: Step = async (ctx) => {\n  if (ctx.fresh === undefined && ctx.session !== undefined && ctx.session.mfa === undefined)\n    return { next: 'establish' };",
    'a password-only SSO session does not satisfy a sign-in that needs MFA (step-up)',
    'B5.4, issue 16 (step-up)',
    [MFA_SIGNIN, CORPUS_B],
  ),
  m(
    'mfa-request-ask',
    'mfa',
    ADDITIONAL,
    'const requested = askReasons(ctx.ask, methodOfSession(primary.authMethod));',
    'const requested: MfaReason[] = [];',
    "a relying party's request (wauth / RequestedAuthnContext multipleauthn) requires a second factor",
    'B5.4, issue 16',
    [MFA_SIGNIN, CORPUS_B],
  ),
  m(
    'mfa-claims-only-with-mfa',
    'mfa',
    ISSUE_TOKEN,
    'mfa: session.mfa,',
    "mfa: session.mfa ?? { methods: ['totp'], instant: session.authInstant },",
    'authnmethodsreferences multipleauthn and multifactorauthenticationinstant only when the session records a verified second factor',
    'B5.4',
    [MFA_CLAIMS, CORPUS_B],
  ),
  m(
    'mfa-saml-class-only-with-mfa',
    'mfa',
    SAML_MODEL,
    'i.mfa === true',
    'i.mfa !== false',
    'SAML 2.0 AuthnContextClassRef multipleauthn only with a verified second factor',
    'B5.4',
    [SAML_MFA_CLASS],
  ),
  m(
    'mfa-wstrust-refusal',
    'mfa',
    WSTR,
    'if (!decision.required) return;',
    `if (!decision.required || !${NEVER}) return;`,
    'WS-Trust usernamemixed: a request whose MFA policy requires a second factor is refused (MSIS3127), never issued',
    'issue 16 (MFA on WS-Trust)',
    [WSTRUST_MFA],
  ),
  m(
    'mfa-portal-csrf-token',
    'mfa',
    PORTAL,
    "if (opened === undefined || !safeEqual(opened, 'portal') || !originOk) {",
    'if (!originOk) {',
    "security info page: a change needs the session's own CSRF token",
    'C5.1, issue 16',
    [PORTAL_T],
  ),
  m(
    'mfa-portal-csrf-origin',
    'mfa',
    PORTAL,
    "if (opened === undefined || !safeEqual(opened, 'portal') || !originOk) {",
    "if (opened === undefined || !safeEqual(opened, 'portal')) {",
    'security info page: a browser-supplied Origin must be ours',
    'C5.1, issue 16',
    [PORTAL_T],
  ),
  m(
    'mfa-portal-fresh-remove',
    'mfa',
    PORTAL,
    'if (!mfaIsFresh(s, live.session.mfa)) return signInForPortal(s, req, res, true);\n  const id = factorIdOf(req.body);',
    'const id = factorIdOf(req.body);',
    'security info page: removing a factor needs a second factor at most mfa.freshMinutes old',
    'issue 16',
    [PORTAL_T],
  ),
  m(
    'mfa-radius-message-authenticator',
    'mfa',
    RADIUS_PACKET,
    "return 'missing-message-authenticator';\n}",
    "return 'ok';\n}",
    'RADIUS: a reply without Message-Authenticator is refused (RFC 3579 §3.2, Blast-RADIUS)',
    'issue 16 (bad RADIUS Message-Authenticator)',
    [RADIUS_PACKET_T, RADIUS_FR],
  ),
  m(
    'mfa-radius-message-authenticator-value',
    'mfa',
    RADIUS_PACKET,
    "return timingSafeEqual(mac, a.value) ? 'ok' : 'bad-message-authenticator';",
    "return 'ok';",
    'RADIUS: the reply Message-Authenticator is the HMAC-MD5 of the reply under the shared secret',
    'issue 16 (bad RADIUS Message-Authenticator)',
    [RADIUS_PACKET_T, RADIUS_FR],
  ),
  m(
    'branding-language-return-local',
    'branding',
    LANGUAGE,
    'if (!isLocalReturn(back)) {',
    'if (back === "") {',
    'the language picker returns only to a page of ours (never another site: an open redirect in our name)',
    'issue 17 (open redirect), corpus B3.5',
    [BRANDING_PAGES],
  ),
  m(
    'branding-resume-binding',
    'branding',
    RESUME,
    "if (!safeEqual(readCookie(req, SIGNIN_COOKIE) ?? '', pending.binding)) throw expired();",
    '',
    'a pending sign-in is shown again (GET ?AuthState=) only to the browser holding its sign-in cookie',
    'issue 17, corpus C5.1',
    [BRANDING_PAGES],
  ),
  {
    id: 'branding-kmsi-offered-only',
    module: 'branding',
    edits: [
      {
        file: 'server/protocols/browser/session.ts',
        find: 's.config.branding.signIn.keepMeSignedIn &&',
        replace: 'true &&',
      },
      {
        file: 'server/protocols/browser/password.ts',
        find: 'if (!s.config.branding.signIn.keepMeSignedIn) return false;',
        replace: '',
      },
    ],
    defence:
      'a forged Kmsi=true gives no persistent session or psso claim where the admin does not offer Keep me signed in',
    corpus: 'issue 17',
    tests: [FLOW_OPTIONS],
  },
  m(
    'branding-web-content-link-scheme',
    'branding',
    'server/config/schema.ts',
    '(v) => /^(https?:\\/\\/[^\\s]+|mailto:[^\\s]+)$/i.test(v),',
    '(v) => v !== "",',
    'web-content links are https, http or mailto only (never javascript:)',
    'issue 17 (stored XSS through configuration)',
    [BRANDING_PAGES],
  ),
  m(
    'branding-svg-script',
    'branding',
    SVG,
    'if (FORBIDDEN_ELEMENTS.has(local))',
    'if (local === "never")',
    'an SVG logo or illustration with <script> or <foreignObject> is refused',
    'issue 17 (no SVG scripts)',
    [SVG_T],
  ),
  m(
    'branding-css-import',
    'branding',
    CSS,
    "if (name.toLowerCase() === 'import')",
    'if (name === "never")',
    'a theme stylesheet may not @import (a fetch the theme check cannot see)',
    'issue 17',
    [THEME_T, ASSETS_T],
  ),
  m(
    'branding-image-type',
    'branding',
    ASSETS,
    'if (seen.kind !== claimed)',
    "if ((seen.kind as string) === 'never')",
    "an image's type comes from its bytes and must match its extension",
    'issue 17 (uploaded images are checked)',
    [ASSETS_T],
  ),
  m(
    'branding-escape-username',
    'branding',
    'views/signin.html',
    '{{#knownUser}}<input type="hidden" name="UserName" value="{{username}}">{{/knownUser}}',
    '{{#knownUser}}<input type="hidden" name="UserName" value="{{{username}}}">{{/knownUser}}',
    'a hinted user name is escaped on the sign-in page',
    'issue 17 (hostile values), corpus C5',
    [ESCAPING],
  ),
  // ---------------------------------------------------------------- token-signing key lifecycle (issue 18)
  {
    id: 'keys-rollover-lock',
    module: 'keys',
    edits: [
      {
        file: ROLLOVER,
        find: "  await ensurePrivateDir(ctx.dir);\n  if (!(await ctx.store.markSeen('keyRolloverLock', LOCK_KEY, LOCK_TTL_SECONDS)))\n    return { status: 'busy' };\n  try {\n    const lockFile",
        replace: '  await ensurePrivateDir(ctx.dir);\n  try {\n    const lockFile',
      },
      {
        file: ROLLOVER,
        find: 'async function takeFileLock(file: string, clock: Clock): Promise<boolean> {',
        replace:
          "async function takeFileLock(file: string, clock: Clock): Promise<boolean> {\n  if (file !== '') return true;",
      },
    ],
    defence:
      'rollover steps run under the farm lock (store and lock file): concurrent checks on any nodes make one new key',
    corpus: 'issue 18 (farm), E4',
    tests: [KEY_FARM, KEYS_CLI],
  },
  m(
    'keys-promotion-threshold',
    'keys',
    PLAN,
    'if (nextUsable && t - next.added.getTime() >= s.promotionThresholdDays * DAY_MS) {',
    'if (nextUsable) {',
    "the next key signs only after promotionThresholdDays in the metadata (several of Entra ID's daily polls)",
    'issue 18, E4',
    [PLAN_T, KEY_ROLLOVER],
  ),
  m(
    'keys-generation-threshold',
    'keys',
    PLAN,
    '    if (left <= s.generationThresholdDays * DAY_MS)\n',
    '    if (left < 0 && left <= s.generationThresholdDays * DAY_MS)\n',
    'the next certificate is generated and published generationThresholdDays before the primary expires',
    'issue 18, E4',
    [PLAN_T, KEY_ROLLOVER, 'tests/security/corpus-keys.test.ts'],
  ),
  m(
    'keys-grace-retire',
    'keys',
    PLAN,
    'else if (t - since.getTime() >= s.gracePeriodDays * DAY_MS)',
    'else if (since.getTime() < 0)',
    'a replaced primary leaves the metadata (and its key file is deleted) after the grace period',
    'issue 18, E4 (old key removed)',
    [PLAN_T, KEY_ROLLOVER],
  ),
  m(
    'keys-metadata-publishes-next',
    'keys',
    RING,
    '      ...(s.next === undefined ? [] : [s.next.credential]),',
    '',
    'the federation metadata publishes the next certificate beside the primary',
    'issue 18, E4',
    [KEY_ROLLOVER, 'tests/security/corpus-keys.test.ts'],
  ),
  m(
    'keys-keep-last-good',
    'keys',
    RING,
    'if (kept !== undefined) loaded.push({ ...kept, role: e.role, entry: e });',
    '',
    'a key file that stops loading keeps its last good version serving',
    'issue 18 (hot reload)',
    [RING_T],
  ),
  m(
    'keys-manifest-plain-names',
    'keys',
    'server/keys/manifest.ts',
    '.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, ',
    '.regex(/^.+$/, ',
    'the key manifest names files inside keys.dir only (no ../ or absolute paths)',
    'issue 18 (hot reload)',
    [RING_T],
  ),
  m(
    'keys-key-matches-certificate',
    'keys',
    'server/keys/store.ts',
    '  if (!facts.x509.checkPrivateKey(key)) {',
    '  if (facts.x509.subject === "never") {',
    'a key file is used only with the certificate of its own key pair',
    'corpus C7, issue 18',
    [RING_T, KEYS_CLI, 'tests/unit/keys/store.test.ts'],
  ),
  m(
    'keys-pkcs12-mismatch',
    'keys',
    'server/keys/pkcs12.ts',
    'const matching = certificates.filter((c) => c.x509.checkPrivateKey(privateKey));',
    'const matching = certificates;',
    'a PFX whose certificate is not for its key is refused (nothing imported)',
    'issue 18 (PFX import)',
    ['tests/unit/keys/pkcs12.test.ts', KEYS_CLI],
  ),
  m(
    'keys-hsm-sensitive',
    'keys',
    'server/keys/pkcs11.ts',
    '{ type: p.CKA_SENSITIVE, value: true },',
    '{ type: p.CKA_SENSITIVE, value: false },',
    'a key generated in the HSM is sensitive: its secret parts can never be read out',
    'corpus C7.1 (HSM), issue 18',
    ['tests/integration/hsm-signing.test.ts'],
  ),
  m(
    'keys-hsm-unavailable-503',
    'keys',
    'server/keys/credential.ts',
    "throw new FederationError(\n          'signing_unavailable',",
    "throw new (Error as unknown as typeof FederationError)(\n          'signing_unavailable',",
    'an HSM that stops answering gives a deliberate 503, never a 500',
    'issue 18 (HSM), non-negotiable 3',
    ['tests/integration/hsm-config.test.ts'],
  ),
  {
    id: 'keys-atomic-publish',
    module: 'keys',
    edits: [
      {
        file: 'server/keys/manifest.ts',
        find: "const fh = await open(tmp, 'wx', mode);",
        replace: "const fh = await open(path, replace ? 'w' : 'wx', mode);",
      },
      { file: 'server/keys/manifest.ts', find: 'await rename(tmp, path);', replace: '' },
      { file: 'server/keys/manifest.ts', find: 'await link(tmp, path);', replace: '' },
      {
        file: 'server/keys/manifest.ts',
        find: 'await unlink(tmp);',
        replace: 'await unlink(tmp).catch(() => undefined);',
      },
    ],
    defence:
      'key files and the manifest are published whole (temporary name, then rename or link): a reader never sees half',
    corpus: 'issue 18 (hot reload)',
    tests: [RING_T],
  },
  m(
    'keys-no-primary-503',
    'keys',
    RING,
    "    if (p === undefined)\n      throw new FederationError(\n        'signing_unavailable',",
    "    if (p === undefined)\n      throw new (Error as unknown as typeof FederationError)(\n        'signing_unavailable',",
    'with no usable primary left, requests get a deliberate 503 (and readiness fails), never a 500',
    'issue 18, non-negotiable 3',
    [RING_T],
  ),
  // ---------------------------------------------------------------- OpenID Connect / OAuth 2.0 (issue 19)
  m(
    'oidc-pkce-required',
    'oidc',
    OIDC_PROVIDER,
    "o.pkceRequired === 'all' ||",
    "o.pkceRequired === ('none' as string) ||",
    'PKCE (S256) is required of every client by default, confidential ones included',
    'issue 19, RFC 9700 §2.1.1',
    [OIDC_NEG],
  ),
  m(
    'oidc-secret-hash',
    'oidc',
    OIDC_PROVIDER,
    'if (a.length === b.length && timingSafeEqual(a, b)) ok = true;',
    'if (a.length === b.length) ok = true;',
    "a client secret must hash to one of the client's stored hashes",
    'issue 19 (client authentication)',
    [OIDC_NEG],
  ),
  m(
    'oidc-password-grant-per-client',
    'oidc',
    OIDC_GRANTS,
    'if (c?.allowPasswordGrant !== true)',
    'if (c === undefined)',
    'the password grant only for a client that allows it (unauthorized_client otherwise)',
    'issue 19, RFC 9700 §2.4',
    [OIDC_NEG],
  ),
  m(
    'oidc-obo-audience',
    'oidc',
    OIDC_GRANTS,
    'audience: [...middle.identifiers],',
    '',
    "on-behalf-of: the assertion must be an access token for the middle tier's own Web API",
    'issue 19 (a token for one Web API used at another)',
    [OIDC_NEG],
  ),
  m(
    'oidc-device-slow-down',
    'oidc',
    'server/protocols/oidc/mount.ts',
    "return !(await s.store.markSeen('oidcClaims', key, window));",
    "return !(await s.store.markSeen('oidcClaims', key, window)) && key === '';",
    'a device polling faster than its interval gets slow_down',
    'issue 19, RFC 8628 §3.5',
    [OIDC_NEG],
  ),
  m(
    'oidc-webapi-authorization-rules',
    'oidc',
    'server/protocols/oidc/issue.ts',
    'rp: api.rp,',
    // The Web API's own authorization rules replaced by permit-all (the userinfo resource's): the deny branch stays.
    'rp: { ...api.rp, rules: { ...api.rp.rules, authorization: s.applications.userinfo.rp.rules.authorization } },',
    "the Web API's issuance authorization rules decide who gets a code (access_denied otherwise)",
    'issue 19 (per-Web API rules)',
    [OIDC_PIPELINE],
  ),
  m(
    'oidc-webapi-permission',
    'oidc',
    'server/protocols/oidc/common.ts',
    'const scopes = apps.grantedScopes(c, api);',
    "const scopes = apps.grantedScopes(c, api) ?? ['user_impersonation'];",
    'a client without a permission at a Web API gets invalid_target',
    'issue 19 (Grant-AdfsApplicationPermission)',
    [OIDC_NEG],
  ),
  m(
    'oidc-device-form-500',
    'oidc',
    'server/protocols/oidc/events.ts',
    "if (err instanceof TypeError && route === 'code_verification') {",
    "if (err instanceof TypeError && route === ('none' as string)) {",
    "a device-code form posted without a session gets the page again, not oidc-provider's 500",
    'issue 19, non-negotiable 3',
    [OIDC_BAD],
  ),
];
