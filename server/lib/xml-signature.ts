/**
 * Verification of enveloped XML signatures on messages that come from partners (SP-signed AuthnRequest and
 * LogoutRequest, signed partner metadata): corpus A1–A6, A14, B2.
 *
 * Before any transform runs, the signature's shape is checked against a fixed profile (B2.11, B2.14): exactly
 * one ds:Signature in the whole document, a child of the root; one SignedInfo; exc-c14n canonicalisation (never
 * WithComments); an allow-listed SignatureMethod and DigestMethod; exactly one Reference, to the root's own ID
 * (which must be unique in the document, A5); transforms only enveloped-signature and exc-c14n. Then xml-crypto
 * (a fresh SignedXml per attempt, A6) checks digests and the signature with a certificate the caller took from
 * the partner's metadata; a certificate in KeyInfo is never used (A1, getCertFromKeyInfo returns null).
 * The caller reads fields only from the returned canonical bytes (A13).
 */
import { SignedXml } from 'xml-crypto';
import { childElements } from './xml-parse.ts';

export const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
export const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
export const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
export const RSA_SHA1 = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1';
export const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
export const RSA_SHA384 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384';
export const RSA_SHA512 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512';
export const DIGEST_SHA1 = 'http://www.w3.org/2000/09/xmldsig#sha1';
export const DIGEST_SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
export const DIGEST_SHA512 = 'http://www.w3.org/2001/04/xmlenc#sha512';

export interface SignaturePolicy {
  /** Accept RSA-SHA1 / SHA-1 (only for partners that cannot do better, e.g. Entra's signed AuthnRequest). */
  allowSha1: boolean;
}

export class SignatureRejected extends Error {
  // Stryker disable next-line StringLiteral: equivalent; every caller tests instanceof and logs only .message.
  override readonly name = 'SignatureRejected';
}

export function allowedSignatureMethods(p: SignaturePolicy): Set<string> {
  const s = new Set([RSA_SHA256, RSA_SHA384, RSA_SHA512]);
  if (p.allowSha1) s.add(RSA_SHA1);
  return s;
}

function allowedDigests(p: SignaturePolicy): Set<string> {
  const s = new Set([DIGEST_SHA256, DIGEST_SHA512]);
  if (p.allowSha1) s.add(DIGEST_SHA1);
  return s;
}

function one(el: Element, local: string): Element {
  const found = childElements(el, DSIG, local);
  const [first] = found;
  if (found.length !== 1 || first === undefined)
    throw new SignatureRejected(`expected exactly one ${local} in ${el.localName}`);
  return first;
}

/** The root's ds:Signature child, or undefined when the document is unsigned. Throws on a misplaced or second one. */
export function rootSignature(doc: Document): Element | undefined {
  const all = doc.getElementsByTagNameNS(DSIG, 'Signature');
  if (all.length === 0) return undefined;
  const root = doc.documentElement;
  const direct = childElements(root, DSIG, 'Signature');
  if (all.length !== 1 || direct.length !== 1)
    throw new SignatureRejected(
      'the message must carry exactly one signature, on its root element',
    );
  return direct[0];
}

/**
 * How many elements under (and including) `node` carry `id` as an ID/Id/id attribute. An explicit stack, never
 * recursion: the tree is the sender's (issue 14: a recursive walk over 25,000 nested elements overflowed the
 * stack). Depth is bounded by parseXmlStrict as well, but this walk must not rely on it.
 */
export function countId(node: Element, id: string): number {
  let n = 0;
  const stack: Element[] = [node];
  for (let el = stack.pop(); el !== undefined; el = stack.pop()) {
    for (const name of ['ID', 'Id', 'id']) if (el.getAttribute(name) === id) n++;
    for (let c = el.lastChild; c !== null; c = c.previousSibling)
      if (c.nodeType === 1) stack.push(c as Element);
  }
  return n;
}

/**
 * Checks the signature on `doc`'s root (parsed from `xml`) against each candidate certificate; returns the
 * canonical signed bytes. Throws SignatureRejected with a precise (internal) reason.
 */
export function verifyEnvelopedSignature(
  xml: string,
  doc: Document,
  certificates: readonly string[],
  policy: SignaturePolicy,
): string {
  const sig = rootSignature(doc);
  if (sig === undefined) throw new SignatureRejected('the message is not signed');
  const root = doc.documentElement;
  const id = root.getAttribute('ID');
  if (id === null || !/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(id))
    throw new SignatureRejected('the signed element has no usable ID');
  if (countId(root, id) !== 1) throw new SignatureRejected('the signed ID appears more than once');

  const si = one(sig, 'SignedInfo');
  const c14n = one(si, 'CanonicalizationMethod').getAttribute('Algorithm');
  if (c14n !== EXC_C14N) throw new SignatureRejected(`canonicalization ${String(c14n)} refused`);
  const sm = one(si, 'SignatureMethod').getAttribute('Algorithm') ?? '';
  if (!allowedSignatureMethods(policy).has(sm))
    throw new SignatureRejected(`signature algorithm ${sm} refused`);
  const ref = one(si, 'Reference');
  if (ref.getAttribute('URI') !== `#${id}`)
    throw new SignatureRejected('the signature does not reference the signed element');
  const transforms = childElements(ref, DSIG, 'Transforms');
  if (transforms.length > 1) throw new SignatureRejected('more than one Transforms');
  for (const t of transforms[0] === undefined ? [] : childElements(transforms[0])) {
    const alg = t.getAttribute('Algorithm');
    if (t.localName !== 'Transform' || (alg !== ENVELOPED && alg !== EXC_C14N))
      throw new SignatureRejected(`transform ${String(alg)} refused`);
    if (childElements(t).length > 0 && alg === ENVELOPED)
      throw new SignatureRejected('transform parameters refused');
  }
  if (transforms[0] !== undefined && childElements(transforms[0]).length > 2)
    throw new SignatureRejected('too many transforms');
  const dm = one(ref, 'DigestMethod').getAttribute('Algorithm') ?? '';
  if (!allowedDigests(policy).has(dm)) throw new SignatureRejected(`digest ${dm} refused`);
  if (childElements(ref, DSIG, 'DigestValue').length !== 1)
    throw new SignatureRejected('expected exactly one DigestValue');
  if (certificates.length === 0)
    throw new SignatureRejected('no signing certificate is registered for this partner');

  // xml-crypto re-parses `xml` and canonicalizes it recursively (one stack frame or more per element level).
  // That is acceptable only because `xml` is the text parseXmlStrict already measured from its real tag
  // structure (server/lib/xml-tag-balance.ts): at most 32 levels for a SAML message or metadata, 64 by default
  // (server/lib/xml-limits.ts; corpus A16, issue 14 §1). tests/security/parser-dos.test.ts verifies a signature at
  // the worst depth admitted, and bench/parse-cost.ts measures its cost.
  for (const cert of certificates) {
    // Stryker disable next-line ArrowFunction: equivalent; xml-crypto reads `getCertFromKeyInfo(..) || publicCert`.
    const sx = new SignedXml({ publicCert: cert, getCertFromKeyInfo: () => null });
    try {
      sx.loadSignature(sig);
      if (!sx.checkSignature(xml)) continue;
    } catch {
      continue; // any throw is a failure; signed references are never read after one (A6)
    }
    const refs = sx.getSignedReferences();
    // Exactly one Reference was required above, and a fresh SignedXml publishes exactly it on success, so
    // `&&` and `||` agree here. (Its ConditionalExpression mutants are equivalent too, but "false" is not.)
    // Stryker disable next-line LogicalOperator: equivalent, see above.
    if (refs.length === 1 && refs[0] !== undefined) return refs[0];
  }
  throw new SignatureRejected('the signature does not verify with the registered certificate');
}
