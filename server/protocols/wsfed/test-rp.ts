import { DOMParser } from '@xmldom/xmldom';
import express, { type Router } from 'express';
import { SignedXml } from 'xml-crypto';
import { noStore, param } from '../../http/middleware.ts';
import { ROUTES } from '../../http/routes.ts';
import { FederationError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';

const SAML1 = 'urn:oasis:names:tc:SAML:1.0:assertion';
const DSIG = 'http://www.w3.org/2000/09/xmldsig#';

interface Shown {
  subject: string;
  issuer: string;
  audience: string;
  notBefore: string;
  notOnOrAfter: string;
  authMethod: string;
  attributes: { name: string; value: string }[];
}

/**
 * Reads a WS-Fed wresult the way a careful relying party does, with xml-crypto: no DTD, exactly one assertion,
 * the signature checked against our own certificate only (never one from KeyInfo), and every value read from the
 * signed bytes xml-crypto returns (corpus A1, A13, A20).
 */
export function readTestToken(wresult: string, certPem: string): Shown {
  if (/<!DOCTYPE/i.test(wresult))
    throw new FederationError('bad_request', 'document type declarations are not accepted');
  const m =
    /<(?:\w+:)?RequestedSecurityToken[^>]*>([\s\S]*)<\/(?:\w+:)?RequestedSecurityToken>/.exec(
      wresult,
    );
  if (m?.[1] === undefined) throw new FederationError('bad_request', 'no RequestedSecurityToken');
  const parse = (xml: string) =>
    new DOMParser({
      errorHandler: (level: string, msg: unknown) => {
        throw new FederationError('bad_request', `${level}: ${String(msg)}`);
      },
    }).parseFromString(xml, 'text/xml');
  const doc = parse(m[1]);
  const root = doc.documentElement as Element | null;
  if (root?.namespaceURI !== SAML1 || root.localName !== 'Assertion')
    throw new FederationError('bad_request', 'not a SAML 1.1 assertion');
  const sigs = root.getElementsByTagNameNS(DSIG, 'Signature');
  const sig = sigs[0];
  if (sigs.length !== 1 || sig === undefined || sig.parentNode !== root)
    throw new FederationError('bad_request', 'expected exactly one enveloped signature');
  const sx = new SignedXml({
    publicCert: certPem,
    idAttribute: 'AssertionID',
    getCertFromKeyInfo: () => null,
  });
  sx.loadSignature(sig);
  if (!sx.checkSignature(m[1]))
    throw new FederationError('bad_request', 'signature does not verify');
  const signed = sx.getSignedReferences();
  if (signed.length !== 1 || signed[0] === undefined)
    throw new FederationError('bad_request', 'unexpected signed references');
  const a = parse(signed[0]).documentElement as Element | null;
  if (a === null) throw new FederationError('bad_request', 'empty signed reference');
  const first = (parent: Element, local: string): Element | undefined =>
    parent.getElementsByTagNameNS(SAML1, local)[0] ?? undefined;
  const cond = first(a, 'Conditions');
  const authn = first(a, 'AuthenticationStatement');
  const attributes: { name: string; value: string }[] = [];
  for (const at of Array.from(a.getElementsByTagNameNS(SAML1, 'Attribute'))) {
    const name = `${at.getAttribute('AttributeNamespace') ?? ''}/${at.getAttribute('AttributeName') ?? ''}`;
    for (const v of Array.from(at.getElementsByTagNameNS(SAML1, 'AttributeValue')))
      attributes.push({ name, value: v.textContent });
  }
  return {
    subject: first(a, 'NameIdentifier')?.textContent ?? '',
    issuer: a.getAttribute('Issuer') ?? '',
    audience: first(a, 'Audience')?.textContent ?? '',
    notBefore: cond?.getAttribute('NotBefore') ?? '',
    notOnOrAfter: cond?.getAttribute('NotOnOrAfter') ?? '',
    authMethod: authn?.getAttribute('AuthenticationMethod') ?? '',
    attributes,
  };
}

/** POST ROUTES.testRpResult (/adfs/test/result): the reply address of the built-in test relying party (urn:fedgate:test). */
export function testRelyingPartyRouter(s: Services): Router {
  const router = express.Router();
  router.post(
    ROUTES.testRpResult,
    noStore,
    express.urlencoded({ extended: false, limit: '256kb', parameterLimit: 8 }),
    (req, res) => {
      const wresult = param(req.body, 'wresult', 200_000) ?? '';
      let data: Record<string, unknown>;
      try {
        const shown = readTestToken(wresult, s.signing.certificatePem);
        data = { ok: true, thumbprint: s.signing.thumbprintSha1, ...shown };
      } catch (err) {
        data = { ok: false, error: (err as Error).message };
      }
      res
        .status(data.ok === true ? 200 : 400)
        .type('html')
        .send(s.views.page(res, 'token-test', data));
    },
  );
  return router;
}
