/**
 * Every entry point that parses outside input, as a fuzz target: a fast-check arbitrary for the input
 * (structure-aware: real messages bent by mutate.ts, plus raw noise) and how to send it. HTTP targets go through
 * the real express app (harness.ts); metadata import, claim rules and the proxy certificate header are also called
 * directly, where the parser is reachable only from configuration.
 */
import {
  createHash,
  createSign,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import type { Request } from 'express';
import fc from 'fast-check';
import { Secret, TOTP } from 'otpauth';
import { issueEnrolmentCode } from '../../server/authn/mfa/enrolments.ts';
import type { DirectoryUser } from '../../server/directory/types.ts';
import { checkRuleFiles } from '../../server/claims/check.ts';
import { compileRules } from '../../server/claims/rule-sets.ts';
import { RuleError } from '../../server/claims/rule-parser.ts';
import { ProxyCertificateReader } from '../../server/http/client-certificate.ts';
import {
  MetadataError,
  parseSpMetadata,
  verifiedMetadataXml,
} from '../../server/trust/saml-metadata.ts';
import { XmlRejected } from '../../server/lib/xml-parse.ts';
import {
  ALICE,
  EMAIL,
  IDP_SSO,
  SP_ACS,
  SP_CERT,
  SP_ID,
  SP_KEY,
  SP_SLO,
  authnRequestXml,
  signEnveloped,
  spMetadata,
  standardSp,
} from '../fixtures/saml2/harness.ts';
import { V13, V2005, buildRst, rstHeaders, type Version } from '../fixtures/wstrust/rst.ts';
import { decodeEntities, hidden, Jar, M365 } from '../helpers/app.ts';
import { readFileSync } from 'node:fs';
import {
  checkOutcome,
  http,
  PropertyFailure,
  timed,
  type FuzzApp,
  type Outcome,
} from './harness.ts';
import {
  applyEdit,
  count,
  edit,
  encode,
  encoding,
  flatShape,
  mutated,
  noise,
  SNIPPETS,
  type Edit,
  type Encoding,
} from './mutate.ts';

export interface Target<T> {
  name: string;
  arb: fc.Arbitrary<T>;
  /** Sends one input and checks the properties; throws PropertyFailure. Returns the HTTP status (0 = direct call). */
  run(app: FuzzApp, input: T): Promise<number>;
}

const P = 'urn:oasis:names:tc:SAML:2.0:protocol';
const A = 'urn:oasis:names:tc:SAML:2.0:assertion';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const here = new URL('.', import.meta.url).pathname;
const repo = join(here, '..', '..');

// ---------------------------------------------------------------------------------------------------------
// SAML 2.0

const logoutRequestXml = (id: string, extensions = ''): string =>
  `<samlp:LogoutRequest xmlns:samlp="${P}" xmlns:saml="${A}" ID="_${id}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${IDP_SSO}">` +
  `<saml:Issuer>${SP_ID}</saml:Issuer>${extensions}<saml:NameID Format="${EMAIL}">${ALICE.username}</saml:NameID>` +
  `<samlp:SessionIndex>_${id}-s</samlp:SessionIndex></samlp:LogoutRequest>`;

const logoutResponseXml = (id: string, extensions = ''): string =>
  `<samlp:LogoutResponse xmlns:samlp="${P}" xmlns:saml="${A}" ID="_${id}" InResponseTo="_${id}-r" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${IDP_SSO}">` +
  `<saml:Issuer>${SP_ID}</saml:Issuer>${extensions}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>`;

type SamlKind = 'authn' | 'logout-request' | 'logout-response';

/**
 * Seed messages: fresh, for the known SP, our Destination; sometimes signed as the SP signs them (POST). The
 * Extensions are sometimes bloated before signing: a correctly signed message from a known party is the costliest
 * thing an attacker can get admitted (the signature check canonicalizes all of it), so the stall property is
 * tested where it bites, up to and past the per-kind limits (server/lib/xml-limits.ts).
 */
const samlSeed = (kind: SamlKind, signed: boolean): fc.Arbitrary<string> =>
  fc
    .record({
      acs: fc.constantFrom(undefined, SP_ACS, `${SP_ACS}/second`, 'https://evil.example/acs'),
      // From the seed, so that FUZZ_SEED replays the same messages (but for IssueInstant, which must be fresh).
      id: fc.uuid(),
      passive: fc.boolean(),
      force: fc.boolean(),
      extra: fc.oneof(
        { weight: 2, arbitrary: fc.constant('') },
        {
          weight: 1,
          arbitrary: fc.constant('<samlp:Extensions><x:y xmlns:x="urn:x"/></samlp:Extensions>'),
        },
        {
          weight: 1,
          arbitrary: flatShape().map((x) => `<samlp:Extensions>${x}</samlp:Extensions>`),
        },
      ),
    })
    .map((r) => {
      const xml =
        kind === 'authn'
          ? authnRequestXml({
              id: `_${r.id}`,
              ...(r.acs === undefined ? {} : { acsUrl: r.acs }),
              isPassive: r.passive,
              forceAuthn: r.force,
              extra: r.extra,
            })
          : kind === 'logout-request'
            ? logoutRequestXml(r.id, r.extra)
            : logoutResponseXml(r.id, r.extra);
      // The fixture signer covers AuthnRequest and LogoutRequest roots; LogoutResponses go unsigned.
      return signed && kind !== 'logout-response' ? signEnveloped(xml, SP_KEY) : xml;
    });

export interface SamlInput {
  xml: string;
  enc: Encoding;
  /** How the (encoded) bytes become the parameter value. */
  wire: 'deflate-b64' | 'b64' | 'b64-lines' | 'b64-urlsafe' | 'raw' | 'deflate-raw-bytes';
  relayState: string | undefined;
  /** Redirect only: sign the query (SAML Bindings §3.4.4.1), then maybe tamper. */
  sig: 'none' | 'valid' | 'garbage' | 'sig-only' | 'alg-only' | 'wrong-alg' | 'tampered';
  duplicate: boolean;
}

const relayState = (): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    fc.constant(undefined),
    fc.constantFrom(
      '',
      'https://sp.fedgate.test/app/x',
      '"><script>alert(1)</script>',
      'a'.repeat(81),
    ),
    fc.stringMatching(/^[A-Za-z0-9_-]{16,64}$/),
    noise(200),
  );

const samlInput = (kind: SamlKind, binding: 'redirect' | 'post'): fc.Arbitrary<SamlInput> =>
  fc.record({
    xml: fc.oneof(
      {
        weight: 6,
        arbitrary: mutated(fc.boolean().chain((s) => samlSeed(kind, s && binding === 'post'))),
      },
      { weight: 1, arbitrary: samlSeed(kind, binding === 'post') },
      { weight: 1, arbitrary: noise(400) },
    ),
    enc: encoding(),
    wire:
      binding === 'redirect'
        ? fc.oneof(
            { weight: 8, arbitrary: fc.constant('deflate-b64' as const) },
            {
              weight: 1,
              arbitrary: fc.constantFrom(
                'b64',
                'b64-lines',
                'b64-urlsafe',
                'raw',
                'deflate-raw-bytes',
              ),
            },
          )
        : fc.oneof(
            { weight: 8, arbitrary: fc.constant('b64' as const) },
            {
              weight: 1,
              arbitrary: fc.constantFrom(
                'deflate-b64',
                'b64-lines',
                'b64-urlsafe',
                'raw',
                'deflate-raw-bytes',
              ),
            },
          ),
    relayState: relayState(),
    sig:
      binding === 'redirect'
        ? fc.constantFrom(
            'none',
            'valid',
            'valid',
            'garbage',
            'sig-only',
            'alg-only',
            'wrong-alg',
            'tampered',
          )
        : fc.constant('none' as const),
    duplicate: fc.oneof(
      { weight: 15, arbitrary: fc.constant(false) },
      { weight: 1, arbitrary: fc.constant(true) },
    ),
  });

function wireValue(bytes: Buffer, wire: SamlInput['wire']): string {
  switch (wire) {
    case 'deflate-b64':
      return deflateRawSync(bytes).toString('base64');
    case 'b64':
      return bytes.toString('base64');
    case 'b64-lines':
      return (bytes.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
    case 'b64-urlsafe':
      return bytes.toString('base64url');
    case 'raw':
      return bytes.toString('latin1');
    case 'deflate-raw-bytes':
      return deflateRawSync(bytes).toString('latin1');
  }
}

/**
 * Percent-encodes the UTF-8 bytes of a string. Unlike encodeURIComponent it never throws: a lone surrogate goes
 * out as the bytes Buffer makes of it (EF BF BD), which is what a sloppy client would send.
 */
export function enc(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function redirectQuery(param: string, value: string, i: SamlInput): string {
  let q = `${param}=${enc(value)}`;
  if (i.relayState !== undefined) q += `&RelayState=${enc(i.relayState)}`;
  if (i.sig === 'none') return q;
  const alg = i.sig === 'wrong-alg' ? 'http://www.w3.org/2000/09/xmldsig#dsa-sha1' : RSA_SHA256;
  const signed = `${q}&SigAlg=${enc(alg)}`;
  const sig = createSign('RSA-SHA256').update(signed).sign(SP_KEY).toString('base64');
  switch (i.sig) {
    case 'valid':
    case 'wrong-alg':
      return `${signed}&Signature=${enc(sig)}`;
    case 'garbage':
      return `${signed}&Signature=${enc(sig.slice(0, 40))}%00%zz`;
    case 'sig-only':
      return `${q}&Signature=${enc(sig)}`;
    case 'alg-only':
      return signed;
    case 'tampered':
      return `${signed.replace(/.$/, 'A')}&Signature=${enc(sig)}`;
  }
}

export function samlTarget(kind: SamlKind, binding: 'redirect' | 'post'): Target<SamlInput> {
  const param = kind === 'logout-response' ? 'SAMLResponse' : 'SAMLRequest';
  return {
    name: `saml2 ${kind} ${binding}`,
    arb: samlInput(kind, binding),
    async run(app, i) {
      const value = wireValue(encode(i.xml, i.enc), i.wire);
      const from = app.t.logs.lines.length;
      let res: Outcome;
      let sent: string;
      if (binding === 'redirect') {
        let q = redirectQuery(param, value, i);
        if (i.duplicate) q += `&${param}=${enc(value)}`;
        sent = q;
        res = await timed(app, () => http(app).get(`/adfs/ls/?${q}`));
      } else {
        const fields = new URLSearchParams({ [param]: value });
        if (i.relayState !== undefined) fields.set('RelayState', i.relayState);
        if (i.duplicate) fields.append(param, value);
        sent = fields.toString();
        res = await timed(app, () => http(app).post('/adfs/ls/').type('form').send(sent));
      }
      checkOutcome(app, res, `${i.xml}${sent}${i.relayState ?? ''}`, from);
      return res.status;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// WS-Trust

export interface RstInput {
  body: string;
  enc: Encoding;
  soap: '1.1' | '1.2';
  contentType: string | undefined;
}

const rstSeed = (v: Version): fc.Arbitrary<{ body: string; soap: '1.1' | '1.2' }> =>
  fc
    .record({
      soap: fc.constantFrom('1.1' as const, '1.2' as const),
      username: fc.oneof(
        fc.constant(ALICE.username),
        fc.constant('nobody@fedgate.test'),
        noise(40),
      ),
      password: fc.oneof(fc.constant('wrong'), noise(40)),
      appliesTo: fc.constantFrom(
        M365,
        'urn:fedgate:test',
        'https://login.microsoftonline.com/extSTS.srf',
        'urn:unknown',
      ),
      timestamp: fc.constantFrom(
        undefined,
        '',
        '<wsu:Timestamp><wsu:Created>1999-01-01T00:00:00Z</wsu:Created></wsu:Timestamp>',
      ),
      extraSecurity: fc.constantFrom(
        '',
        '<wsse:UsernameToken><wsse:Username>x</wsse:Username></wsse:UsernameToken>',
      ),
      extraHeaders: fc.constantFrom(
        '',
        '<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"/>',
      ),
      extraRst: fc.constantFrom(
        '',
        '<wst:TokenType>urn:oasis:names:tc:SAML:2.0:assertion</wst:TokenType>',
      ),
      messageId: fc.oneof(fc.constant(undefined), noise(40)),
    })
    .map((r) => ({
      soap: r.soap,
      body: buildRst({
        version: v,
        soap: r.soap,
        username: r.username,
        password: r.password,
        appliesTo: r.appliesTo,
        ...(r.timestamp === undefined ? {} : { timestamp: r.timestamp }),
        extraSecurity: r.extraSecurity,
        extraHeaders: r.extraHeaders,
        extraRst: r.extraRst,
        ...(r.messageId === undefined ? {} : { messageId: r.messageId }),
      }),
    }));

const rstInput = (v: Version): fc.Arbitrary<RstInput> =>
  fc
    .record({
      seed: rstSeed(v),
      edits: fc.boolean(),
      enc: encoding(),
      contentType: fc.oneof(
        { weight: 8, arbitrary: fc.constant(undefined) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            'application/soap+xml; charset=utf-16',
            'application/soap+xml; charset="utf-8"; action="x"',
            'text/xml',
            'application/xml',
            '',
          ),
        },
      ),
    })
    .chain((r) =>
      (r.edits ? mutated(fc.constant(r.seed.body)) : fc.constant(r.seed.body)).map((body) => ({
        body,
        enc: r.enc,
        soap: r.seed.soap,
        contentType: r.contentType,
      })),
    );

function wstrustTarget(v: Version): Target<RstInput> {
  return {
    name: `wstrust ${v === V13 ? '13' : '2005'} usernamemixed`,
    arb: fc.oneof(
      { weight: 9, arbitrary: rstInput(v) },
      {
        weight: 1,
        arbitrary: fc.record({
          body: noise(2000),
          enc: encoding(),
          soap: fc.constantFrom('1.1' as const, '1.2' as const),
          contentType: fc.constant(undefined),
        }),
      },
    ),
    async run(app, i) {
      const from = app.t.logs.lines.length;
      const headers = rstHeaders({ version: v, soap: i.soap });
      if (i.contentType !== undefined) headers['Content-Type'] = i.contentType;
      const bytes = encode(i.body, i.enc);
      const res = await timed(app, () =>
        http(app).post(v.path).set(headers).set('X-Forwarded-Proto', 'https').send(bytes),
      );
      checkOutcome(app, res, i.body, from, { soap: true });
      return res.status;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// WS-Federation query parameters on /adfs/ls/

const WSFED_KEYS = [
  'wa',
  'wtrealm',
  'wreply',
  'wctx',
  'wauth',
  'whr',
  'wfresh',
  'wct',
  'wsignout',
  'wsignoutcleanup',
  'username',
  'prompt',
  'ui_locales',
  'mkt',
  'lc',
] as const;

const wsfedValue = (key: string): fc.Arbitrary<string> => {
  const specific: Record<string, string[]> = {
    wa: ['wsignin1.0', 'wsignout1.0', 'wsignoutcleanup1.0', 'wattr1.0', 'WSIGNIN1.0'],
    wtrealm: [
      M365,
      'urn:fedgate:test',
      SP_ID,
      'urn:federation:MicrosoftOnline/',
      'https://login.microsoftonline.com/extSTS.srf',
    ],
    wreply: [
      'https://login.microsoftonline.com/login.srf',
      'https://evil.example/',
      'https://login.microsoftonline.com.evil.example/',
      'https://login.microsoftonline.com@evil.example/',
      'http:evil.example',
      'http:%2f%5cevil.example',
      '//evil.example',
      '/\\evil.example',
      'javascript:alert(1)',
      'HTTPS://LOGIN.MICROSOFTONLINE.COM./login.srf',
      'https://login.microsoftonline.com/login.srf#x',
      SP_ACS,
      `${SP_SLO}/../../x`,
    ],
    wauth: [
      'urn:oasis:names:tc:SAML:1.0:am:password',
      'urn:ietf:rfc:2246',
      'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/tlsclient',
      'urn:unknown',
    ],
    wfresh: ['0', '1', '-1', '1e9', 'NaN'],
    wct: [new Date().toISOString(), '1999-01-01T00:00:00Z', 'x'],
    prompt: ['login', 'none'],
    // Page language hints (issue 17): Entra's market and LCID, OIDC-style ui_locales.
    ui_locales: ['de', 'ar ja', 'de-AT fr', 'x-klingon', '<script>', '{companyName}'],
    mkt: ['de-DE', 'ja-JP', 'ar-SA', 'zz-ZZ', ''],
    lc: ['1031', '1025', '0', '99999999', '-1', 'de'],
  };
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...(specific[key] ?? ['x'])) },
    { weight: 2, arbitrary: noise(120) },
    { weight: 1, arbitrary: count(10_000).map((n) => 'x'.repeat(n)) },
  );
};

export interface WsFedInput {
  params: [string, string][];
  method: 'GET' | 'POST';
  rawPercent: boolean;
}

/** A message as a client builds one: an action, then the parameters that action reads, each once, any order. */
const wsfedMessage: fc.Arbitrary<[string, string][]> = fc
  .record({
    wa: wsfedValue('wa'),
    optional: fc.subarray([
      'wtrealm',
      'wreply',
      'wctx',
      'wauth',
      'whr',
      'wfresh',
      'wct',
      'username',
      'prompt',
      'ui_locales',
      'mkt',
      'lc',
    ]),
  })
  .chain(({ wa, optional }) =>
    fc
      .tuple(...optional.map((k) => wsfedValue(k).map((v): [string, string] => [k, v])))
      .chain((pairs) => fc.shuffledSubarray(pairs, { minLength: pairs.length }))
      .map((pairs): [string, string][] => [['wa', wa], ...pairs]),
  );

/** Anything: keys drawn with repeats (a parameter twice), foreign ones, with or without a sign-in prefix. */
const wsfedSoup: fc.Arbitrary<[string, string][]> = fc
  .array(fc.constantFrom(...WSFED_KEYS, 'SAMLRequest', 'AuthState', 'x'), { maxLength: 10 })
  .chain((keys) =>
    fc.tuple(
      fc.boolean(),
      fc.tuple(...keys.map((k) => wsfedValue(k).map((v) => [k, v] as [string, string]))),
    ),
  )
  .chain(([withSignin, pairs]) =>
    wsfedValue('wtrealm').map((realm): [string, string][] =>
      withSignin ? [['wa', 'wsignin1.0'], ['wtrealm', realm], ...pairs] : pairs,
    ),
  );

const wsfedInput: fc.Arbitrary<WsFedInput> = fc.record({
  params: fc.oneof({ weight: 3, arbitrary: wsfedMessage }, { weight: 2, arbitrary: wsfedSoup }),
  method: fc.constantFrom('GET' as const, 'POST' as const),
  rawPercent: fc.oneof(
    { weight: 4, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
});

const wsfedTarget: Target<WsFedInput> = {
  name: 'wsfed /adfs/ls/ parameters',
  arb: wsfedInput,
  async run(app, i) {
    const from = app.t.logs.lines.length;
    let q = i.params.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
    // Malformed percent-encoding and raw characters, as a hand-written client or an attacker sends them.
    if (i.rawPercent) q += '&wctx=%zz%&whr=%E0%A4%A&wct=%FF%FE%00';
    const res = await timed(app, () =>
      i.method === 'GET'
        ? http(app).get(`/adfs/ls/?${q}`)
        : http(app).post('/adfs/ls/').type('form').send(q),
    );
    checkOutcome(app, res, decodeAll(q), from);
    return res.status;
  },
};

function decodeAll(q: string): string {
  try {
    return `${q}${decodeURIComponent(q.replace(/%(?![0-9a-f]{2})/gi, '%25'))}`;
  } catch {
    return q;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Direct parsers: metadata import, claim rules, the proxy certificate header

/** Runs a direct call; the only errors allowed are the parser's own, with a message and no stack in it. */
function expectOwnError(fn: () => unknown, allowed: (e: unknown) => boolean, what: string): void {
  try {
    fn();
  } catch (e) {
    if (!allowed(e))
      throw new PropertyFailure(
        `${what}: unexpected ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`.slice(
          0,
          600,
        ),
      );
  }
}

const metadataSeed = fc.oneof(
  fc.constant(spMetadata(standardSp())),
  fc.constant(signEnveloped(spMetadata(standardSp()), SP_KEY)),
  fc.constant(
    readFileSync(join(repo, 'tests/fixtures/real-world/adfs2016-federationmetadata.xml'), 'utf8'),
  ),
);

const metadataTarget: Target<{ xml: string; signed: boolean }> = {
  name: 'metadata import (parseSpMetadata)',
  arb: fc.record({
    xml: fc.oneof(
      { weight: 8, arbitrary: mutated(metadataSeed) },
      { weight: 1, arbitrary: noise(500) },
    ),
    signed: fc.boolean(),
  }),
  async run(app, i) {
    // fedgate's own refusals, each with a message the trust loader and `fedgate rp` print as is. XmlRejected also
    // escapes parseSpMetadata from its field readers (textOnly, e.g. an element inside X509Certificate): a refusal
    // all the same, not an internal error (found by npm run fuzz; the callers catch any Error).
    const own = (e: unknown): boolean => e instanceof MetadataError || e instanceof XmlRejected;
    await timed(app, () => {
      expectOwnError(() => parseSpMetadata(i.xml), own, 'parseSpMetadata');
    });
    if (i.signed)
      await timed(app, () => {
        expectOwnError(() => verifiedMetadataXml(i.xml, SP_CERT), own, 'verifiedMetadataXml');
      });
    return 0;
  },
};

const ruleFiles = [
  'metadata/microsoft365.rules',
  'metadata/microsoft365.authorization.rules',
  'metadata/generic.rules',
  'metadata/generic.authorization.rules',
  'tests/fixtures/claims/adfs-dump.microsoft365.entra-connect.rules',
].map((f) => readFileSync(join(repo, f), 'utf8'));

const RULE_SNIPPETS = [
  '(',
  ')',
  '[',
  ']',
  '&&',
  '=>',
  ';',
  '"',
  '\\"',
  '@RuleName = "x"',
  'c:',
  'c1.Value',
  'RegExReplace(',
  'issue(',
  'add(',
  'EXISTS(',
  'NOT EXISTS([',
  'COUNT([]) > ',
  'Value =~ "',
  '(?<n>',
  '(a+)+$',
  '\\',
  '/*',
  '*/',
  '//',
  ...SNIPPETS,
];

const ruleText: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...ruleFiles),
        fc.array(
          fc.record({
            at: fc.nat(),
            text: fc.oneof(fc.constantFrom(...RULE_SNIPPETS), noise(40)),
            del: fc.nat({ max: 40 }),
          }),
          { maxLength: 5 },
        ),
      )
      .map(([s, edits]) =>
        edits.reduce((acc, e) => {
          const p = acc.length === 0 ? 0 : e.at % acc.length;
          return acc.slice(0, p) + e.text + acc.slice(p + e.del);
        }, s),
      ),
  },
  {
    weight: 1,
    arbitrary: count(20_000).map((n) => `=> issue(Type = "t", Value = ${'"a" + '.repeat(n)}"a");`),
  },
  {
    weight: 1,
    arbitrary: count(20_000).map(
      (n) => `=> issue(Type = "t", Value = ${'RegExReplace('.repeat(n)}`,
    ),
  },
  {
    weight: 1,
    arbitrary: count(5_000).map(
      (n) =>
        `c:[Type == "t"] => issue(Type = "t", Value = RegExReplace(c.Value, "${'('.repeat(n)}a${')'.repeat(n)}", "x"));`,
    ),
  },
  { weight: 1, arbitrary: noise(500) },
);

const rulesDir = mkdtempSync(join(tmpdir(), 'fedgate-fuzz-rules-'));

export const rulesTarget: Target<string> = {
  name: 'claim rules (compileRules + fedgate check)',
  arb: ruleText,
  async run(app, text) {
    // Every refusal is a RuleError with file:line:column, which `fedgate check` prints; anything else (a RangeError
    // from recursion over deep nesting, as the .NET regex translator once gave) is a bug.
    await timed(app, () => {
      expectOwnError(
        () => compileRules(text, 'fuzz.rules'),
        (e) => e instanceof RuleError,
        'compileRules',
      );
    });
    const file = join(rulesDir, 'fuzz.rules');
    writeFileSync(file, text);
    let report: ReturnType<typeof checkRuleFiles>;
    try {
      report = await timed(app, () =>
        checkRuleFiles({
          baseDir: rulesDir,
          microsoft365: { federatedDomains: [], issuanceRulesFile: 'fuzz.rules' },
          relyingParties: [],
        }),
      );
    } catch (e) {
      throw new PropertyFailure(
        `fedgate check threw ${e instanceof Error ? e.message : String(e)}`.slice(0, 600),
      );
    }
    for (const p of report.problems)
      if (/RangeError|Maximum call stack|TypeError|\bat [\w.<>]+ \(/.test(p))
        throw new PropertyFailure(`fedgate check reports an internal error: ${p.slice(0, 300)}`);
    return 0;
  },
};

const CERT_PEM = SP_CERT;

export interface CertHeaderInput {
  format: 'nginx' | 'rfc9440' | 'base64-der';
  headers: [string, string][];
  peer: string;
}

const certHeaderInput: fc.Arbitrary<CertHeaderInput> = fc.record({
  format: fc.constantFrom('nginx' as const, 'rfc9440' as const, 'base64-der' as const),
  peer: fc.constantFrom('127.0.0.1', '::ffff:127.0.0.1', '::1', '10.0.0.1', '', 'garbage'),
  headers: fc.array(
    fc.tuple(
      fc.constantFrom(
        'X-SSL-Client-Cert',
        'x-ssl-client-cert',
        'X_SSL_Client_Cert',
        'X-SSL-Client-Verify',
        'x-ssl-client-verify',
        'Client-Cert',
      ),
      fc.oneof(
        fc.constantFrom(
          encodeURIComponent(CERT_PEM),
          CERT_PEM,
          `:${Buffer.from(CERT_PEM.replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64')}:`,
          CERT_PEM.replace(/-----[^-]+-----|\s/g, ''),
          'SUCCESS',
          'FAILED:x',
          'NONE',
          '',
          ' ',
          '%',
          '%zz',
          '::',
          encodeURIComponent(CERT_PEM + CERT_PEM),
        ),
        mutated(fc.constant(encodeURIComponent(CERT_PEM)), false),
        noise(200),
        count(100_000).map((n) => 'A'.repeat(n)),
      ),
    ),
    { maxLength: 5 },
  ),
});

const certHeaderTarget: Target<CertHeaderInput> = {
  name: 'client certificate header (trusted proxy)',
  arb: certHeaderInput,
  async run(app, i) {
    const reader = new ProxyCertificateReader(
      { header: 'X-SSL-Client-Cert', verifyHeader: 'X-SSL-Client-Verify', format: i.format },
      ['127.0.0.1', '::1'],
    );
    const req = {
      rawHeaders: i.headers.flat(),
      socket: { remoteAddress: i.peer },
    } as unknown as Request;
    let r: ReturnType<ProxyCertificateReader['read']>;
    try {
      r = await timed(app, () => reader.read(req));
    } catch (e) {
      throw new PropertyFailure(
        `read threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
      );
    }
    // Defence checks as properties: a certificate is only ever taken from a trusted peer, from exactly one header of
    // the exact name, with exactly one SUCCESS verification header (corpus C6.1–C6.3).
    if (r.status === 'ok') {
      const trusted = ['127.0.0.1', '::ffff:127.0.0.1', '::1'].includes(i.peer);
      const certs = i.headers.filter(([k]) => k.toLowerCase() === 'x-ssl-client-cert');
      const verify = i.headers.filter(([k]) => k.toLowerCase() === 'x-ssl-client-verify');
      if (
        !trusted ||
        certs.length !== 1 ||
        verify.length !== 1 ||
        verify[0]?.[1].trim() !== 'SUCCESS'
      )
        throw new PropertyFailure(
          `certificate accepted against the proxy rules: ${JSON.stringify(i).slice(0, 300)}`,
        );
    }
    return 0;
  },
};

// ---------------------------------------------------------------------------------------------------------

/** One GET with headers exactly as given (repeats, odd names), from `localAddress`; no connection reuse. */
function rawGet(
  app: FuzzApp,
  path: string,
  headers: string[],
  localAddress: string,
): Promise<Outcome> {
  const { port } = app.server.address() as AddressInfo;
  return new Promise((ok, fail) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: 'GET', headers, agent: false, localAddress },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          ok({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end();
  });
}

// What node's HTTP client will put on the wire (it throws on anything else): token names, no CTLs in values.
const SENDABLE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const SENDABLE_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * The certificate header over HTTP: a fresh sign-in page's AuthState, then GET /adfs/ls/certauth with the fuzzed
 * headers, from the trusted proxy address (127.0.0.1) or another loopback address that is not trusted (127.0.0.2).
 */
const certHeaderHttpTarget: Target<CertHeaderInput> = {
  name: 'client certificate header over HTTP (certauth)',
  arb: certHeaderInput.map((i) => ({
    ...i,
    peer: i.peer === '10.0.0.1' ? '127.0.0.2' : '127.0.0.1',
  })),
  async run(app, i) {
    const page = await http(app).get('/adfs/ls/?wa=wsignin1.0&wtrealm=urn:fedgate:test');
    const state = hidden(page.text, 'AuthState');
    const headers: string[] = ['Host', 'sts.fedgate.test'];
    for (const [k, v] of i.headers)
      if (SENDABLE_NAME.test(k) && SENDABLE_VALUE.test(v)) headers.push(k, v);
    const from = app.t.logs.lines.length;
    const res = await timed(app, () =>
      rawGet(app, `/adfs/ls/certauth?AuthState=${state}`, headers, i.peer),
    );
    checkOutcome(app, res, headers.join('\n'), from);
    if (res.status < 400)
      throw new PropertyFailure(
        `certificate leg answered ${res.status} to a certificate that cannot sign in`,
      );
    return res.status;
  },
};

// ---------------------------------------------------------------------------------------------------------
// MFA (issue 16): the second-factor page (POST /adfs/ls/mfa) and the security info page (/adfs/portal/)

const MULTIPLE_AUTHN = 'http://schemas.microsoft.com/claims/multipleauthn';
/** A form of the second-factor page (whether or not the template escapes '/' in attributes). */
const MFA_FORM = /action="(?:\/|&#x2F;)adfs(?:\/|&#x2F;)ls(?:\/|&#x2F;)mfa"/;
const MFA_PASSWORD = 'Passw0rd!';
const MFA_ORIGIN = 'https://sts.fedgate.test';
const MFA_RP_ID = 'sts.fedgate.test';
/**
 * The client address of the targets' own password sign-ins (the fuzz app trusts loopback as its proxy): the other
 * targets post wrong passwords from 127.0.0.1 (WS-Trust: alice's), which the per-source spray budget and alice's
 * smart lockout count (corpus C1); the MFA targets clear alice's lockout and sign in from here, so that a refused
 * password does not end their exploration.
 */
const SETUP_IP = '198.51.100.7';
/** alice: a TOTP factor and a security key (a software one below); bob: no factor, a helpdesk code. */
const ALICE_TOTP = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const GRACE_TOTP = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

/** A software authenticator (P-256): signs WebAuthn assertions the way a security key does (WebAuthn §6.3.3). */
interface SoftKey {
  credentialId: string;
  cose: string;
  privateKey: KeyObject;
  counter: number;
}

function softKey(): SoftKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x ?? '', 'base64url');
  const y = Buffer.from(jwk.y ?? '', 'base64url');
  // COSE_Key (RFC 9053 §7.1.1) in CBOR: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}.
  const cose = Buffer.concat([
    Buffer.from([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]),
    x,
    Buffer.from([0x22, 0x58, 0x20]),
    y,
  ]);
  return {
    credentialId: randomBytes(16).toString('base64url'),
    cose: cose.toString('base64url'),
    privateKey,
    counter: 0,
  };
}

/** An assertion for `challenge`, as navigator.credentials.get() returns it, JSON-encoded (simplewebauthn's shape). */
function assertion(key: SoftKey, challenge: string, counter: number): Record<string, unknown> {
  const clientData = Buffer.from(
    JSON.stringify({ type: 'webauthn.get', challenge, origin: MFA_ORIGIN, crossOrigin: false }),
  );
  const authData = Buffer.alloc(37);
  createHash('sha256').update(MFA_RP_ID).digest().copy(authData, 0);
  authData[32] = 0x05; // UP | UV
  authData.writeUInt32BE(counter >>> 0, 33);
  const signature = createSign('SHA256')
    .update(Buffer.concat([authData, createHash('sha256').update(clientData).digest()]))
    .sign(key.privateKey);
  return {
    id: key.credentialId,
    rawId: key.credentialId,
    type: 'public-key',
    response: {
      clientDataJSON: clientData.toString('base64url'),
      authenticatorData: authData.toString('base64url'),
      signature: signature.toString('base64url'),
    },
    clientExtensionResults: {},
  };
}

interface MfaFixture {
  key: SoftKey;
  /** Factor ids of alice's record. */
  totpId: string;
  keyId: string;
  /** The portal target's signed-in browser (grace, TOTP done at setup; her record has no flags, unlike dave and erin). */
  portal?: { jar: Jar; csrf: string; factorId: string; ceremony?: string | undefined } | undefined;
}

const mfaFixtures = new WeakMap<FuzzApp, MfaFixture>();

async function userOf(app: FuzzApp, name: string): Promise<DirectoryUser> {
  const u = await app.t.services.directory.findUser(name);
  if (u === undefined) throw new Error(`fuzz setup: no demo user ${name}`);
  return u;
}

const accountKey = (u: DirectoryUser): string => `guid:${u.objectGuid.toString('base64')}`;

/** Writes the enrolments the MFA targets sign in with (once per app), through the real store (enrolments.ts). */
async function mfaFixture(app: FuzzApp): Promise<MfaFixture> {
  const have = mfaFixtures.get(app);
  if (have !== undefined) return have;
  const store = app.t.services.mfa.enrolments;
  if (store === undefined) throw new Error('fuzz setup: the fuzz app has no MFA enrolment store');
  const key = softKey();
  const created = new Date().toISOString();
  const f: MfaFixture = { key, totpId: 'fuzz-totp-1', keyId: 'fuzz-key-1' };
  await store.write(await userOf(app, 'alice'), {
    v: 1,
    factors: [
      { kind: 'totp', id: f.totpId, name: 'Phone', createdAt: created, secret: ALICE_TOTP },
      {
        kind: 'webauthn',
        id: f.keyId,
        name: 'Key',
        createdAt: created,
        credentialId: key.credentialId,
        publicKey: key.cose,
        counter: 0,
      },
    ],
  });
  await store.write(await userOf(app, 'grace'), {
    v: 1,
    factors: [
      {
        kind: 'totp',
        id: 'fuzz-totp-grace',
        name: 'Phone',
        createdAt: created,
        secret: GRACE_TOTP,
      },
    ],
  });
  await refreshBobCode(app);
  mfaFixtures.set(app, f);
  return f;
}

/** bob gets a fresh helpdesk code whenever his record has neither a factor nor a code (a redemption used it). */
async function refreshBobCode(app: FuzzApp): Promise<void> {
  const store = app.t.services.mfa.enrolments;
  if (store === undefined) return;
  const bob = await userOf(app, 'bob');
  const e = await store.read(bob);
  if (e.factors.length > 0 || e.code !== undefined) return;
  await store.update(
    bob,
    (cur) =>
      issueEnrolmentCode(cur, {
        clock: app.t.services.clock,
        random: app.t.services.random,
        lifetimeHours: 1,
      }).enrolments,
  );
}

function totpNow(base32: string, offsetSteps = 0): string {
  return new TOTP({ secret: Secret.fromBase32(base32), digits: 6, period: 30 }).generate({
    timestamp: Date.now() + offsetSteps * 30_000,
  });
}

/** A WS-Fed sign-in that asks for MFA (wauth=…multipleauthn), through the password: the MFA page, or undefined. */
async function pendingMfa(
  app: FuzzApp,
  username: string,
): Promise<{ jar: Jar; page: string } | string> {
  const jar = new Jar();
  const q = new URLSearchParams({
    wa: 'wsignin1.0',
    wtrealm: 'urn:fedgate:test',
    wauth: MULTIPLE_AUTHN,
  });
  const start = await http(app).get(`/adfs/ls/?${q.toString()}`).set('X-Forwarded-For', SETUP_IP);
  jar.take(start);
  if (!start.text.includes('name="AuthState"')) return `sign-in page HTTP ${start.status}`;
  const res = await http(app)
    .post('/adfs/ls/')
    .set('X-Forwarded-For', SETUP_IP)
    .set('Cookie', jar.header())
    .type('form')
    .send({
      AuthState: hidden(start.text, 'AuthState'),
      csrf: hidden(start.text, 'csrf'),
      UserName: username,
      Password: MFA_PASSWORD,
      AuthMethod: 'FormsAuthentication',
    });
  jar.take(res);
  return MFA_FORM.test(res.text)
    ? { jar, page: res.text }
    : `HTTP ${res.status} ${res.text.replace(/\s+/g, ' ').slice(0, 1500)}`;
}

function hiddenOr(page: string, name: string): string {
  try {
    return hidden(page, name);
  } catch {
    return '';
  }
}

/** The WebAuthn challenge the page offers (data-options of #webauthnForm), if any. */
function challengeOf(page: string): string | undefined {
  const m = /data-options="([^"]*)"/.exec(page);
  if (m?.[1] === undefined) return undefined;
  try {
    const o = JSON.parse(decodeEntities(m[1])) as { challenge?: unknown };
    return typeof o.challenge === 'string' ? o.challenge : undefined;
  } catch {
    return undefined;
  }
}

/** A value of a fuzzed field: a symbolic one resolved at run time (the real code, id, token), or literal text. */
type Sym =
  | { s: 'totp'; offset: number; tweak: 'none' | 'spaces' | 'fullwidth' | 'plus1' | 'pad' }
  | { s: 'factor' | 'key' | 'handle' | 'csrf' | 'bob-code' | 'ceremony' | 'factor-id' }
  | { s: 'webauthn'; plan: WebAuthnPlan }
  | { s: 'text'; v: string };

interface WebAuthnPlan {
  counter: 'next' | 'same' | 'zero' | 'max';
  /** Structural damage to the JSON object before it is serialized. */
  field:
    | undefined
    | {
        path:
          | 'id'
          | 'rawId'
          | 'type'
          | 'response'
          | 'clientDataJSON'
          | 'authenticatorData'
          | 'signature'
          | 'userHandle';
        to: unknown;
      };
  /** Text edits of the serialized JSON. */
  edits: Edit[];
}

const JSON_VALUES: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1e308, '', 'AA', [], {}, { a: [] }, '__proto__'),
  noise(80),
  count(40_000).map((n) => 'A'.repeat(n)),
  fc.jsonValue({ maxDepth: 4 }),
  // Nested values stay shallow enough for JSON.stringify (recursive) on the fuzzer's side; deeper nesting is sent
  // as text (webauthnRaw).
  count(1_000).map((n) => JSON.parse('['.repeat(n) + ']'.repeat(n)) as unknown),
);

const webauthnPlan: fc.Arbitrary<WebAuthnPlan> = fc.record({
  counter: fc.constantFrom(
    'next' as const,
    'next' as const,
    'same' as const,
    'zero' as const,
    'max' as const,
  ),
  field: fc.option(
    fc.record({
      path: fc.constantFrom(
        'id' as const,
        'rawId' as const,
        'type' as const,
        'response' as const,
        'clientDataJSON' as const,
        'authenticatorData' as const,
        'signature' as const,
        'userHandle' as const,
      ),
      to: JSON_VALUES,
    }),
    { nil: undefined },
  ),
  edits: fc.oneof(
    { weight: 3, arbitrary: fc.constant<Edit[]>([]) },
    { weight: 2, arbitrary: fc.array(edit(false), { minLength: 1, maxLength: 3 }) },
  ),
});

/** WebAuthnResponse text that is not built from an assertion: deep nesting, oversize, malformed. */
const webauthnRaw: fc.Arbitrary<string> = fc.oneof(
  count(60_000).map((n) => '['.repeat(n) + ']'.repeat(n)),
  count(30_000).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
  count(60_000).map((n) => '['.repeat(n)),
  count(40_000).map((n) => `{"id":"${'A'.repeat(n)}"}`),
  fc.constantFrom(
    '',
    'null',
    '{}',
    '[]',
    '"x"',
    '{"response":{}}',
    '{"__proto__":{"x":1}}',
    '1e999',
  ),
  noise(200),
);

const sym = (...alts: fc.Arbitrary<Sym>[]): fc.Arbitrary<Sym> => fc.oneof(...alts);
/**
 * Rare: a value past the page's own bound for its field (the form is refused whole, 400/413, before any second
 * factor is looked at), so most inputs get through to the method under test.
 */
const rare = <T>(common: fc.Arbitrary<T>, oversize: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.oneof({ weight: 6, arbitrary: common }, { weight: 1, arbitrary: oversize });
const text = (arb: fc.Arbitrary<string>): fc.Arbitrary<Sym> =>
  arb.map((v) => ({ s: 'text' as const, v }));

const codeSym: fc.Arbitrary<Sym> = sym(
  fc.record({
    s: fc.constant('totp' as const),
    offset: fc.constantFrom(0, 0, -1, 1, -2, 2, -20),
    tweak: fc.constantFrom(
      'none' as const,
      'none' as const,
      'spaces' as const,
      'fullwidth' as const,
      'plus1' as const,
      'pad' as const,
    ),
  }),
  text(
    fc.constantFrom(
      '000000',
      '123456',
      '999999',
      '12345',
      '1234567',
      '-12345',
      '１２３４５６',
      '12 34 56',
      '0x1234',
      '',
    ),
  ),
  text(fc.stringMatching(/^[0-9]{1,10}$/)),
  text(noise(20)),
);
const codeOrOversize: fc.Arbitrary<Sym> = rare(
  codeSym,
  sym(text(noise(60)), text(count(70_000).map((n) => '1'.repeat(n)))),
);

const MFA_METHODS = ['totp', 'webauthn', 'radius', 'code', 'enrol-totp', 'enrol-webauthn'] as const;

/** Form fields of one post: each key may appear more than once (a repeated parameter), in any order. */
const mfaFields: fc.Arbitrary<[string, Sym][]> = fc
  .record({
    method: fc.oneof(
      { weight: 8, arbitrary: text(fc.constantFrom('totp', 'webauthn')) },
      { weight: 4, arbitrary: text(fc.constantFrom(...MFA_METHODS)) },
      {
        weight: 1,
        arbitrary: text(
          fc.constantFrom('TOTP', 'totp ', 'password', '__proto__', 'constructor', ''),
        ),
      },
      { weight: 1, arbitrary: text(noise(40)) },
    ),
    code: codeOrOversize,
    factorId: fc.oneof(
      { weight: 4, arbitrary: fc.constant<Sym>({ s: 'factor' }) },
      { weight: 1, arbitrary: fc.constant<Sym>({ s: 'key' }) },
      { weight: 1, arbitrary: text(fc.constantFrom('fuzz-totp-grace', 'x', '', '__proto__')) },
      { weight: 1, arbitrary: text(rare(noise(40), noise(200))) },
    ),
    webauthn: fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({ s: fc.constant('webauthn' as const), plan: webauthnPlan }),
      },
      { weight: 1, arbitrary: text(webauthnRaw) },
    ),
    enrolmentCode: rare(
      sym(
        fc.constant({ s: 'bob-code' as const }),
        text(fc.constantFrom('AAAA-BBBB-CCCC-DDDD', 'aaaabbbbccccdddd', '')),
        text(noise(30)),
      ),
      text(
        fc.oneof(
          noise(80),
          count(70_000).map((n) => 'A'.repeat(n)),
        ),
      ),
    ),
    factorName: text(
      rare(
        noise(60),
        count(5_000).map((n) => '\u202e'.repeat(n)),
      ),
    ),
    optional: fc.subarray(['Code', 'FactorId', 'WebAuthnResponse', 'EnrolmentCode', 'FactorName']),
    // A repeated field is refused whole (param(): more than once); kept rare so most inputs reach the method.
    repeats: fc.oneof(
      { weight: 6, arbitrary: fc.constant<string[]>([]) },
      {
        weight: 1,
        arbitrary: fc.array(
          fc.constantFrom('AuthState', 'csrf', 'Method', 'Code', 'WebAuthnResponse', 'FactorId'),
          { minLength: 1, maxLength: 2 },
        ),
      },
    ),
  })
  .chain((r) => {
    const pick: Record<string, Sym> = {
      Code: r.code,
      FactorId: r.factorId,
      WebAuthnResponse: r.webauthn,
      EnrolmentCode: r.enrolmentCode,
      FactorName: r.factorName,
    };
    const fields: [string, Sym][] = [
      ['Method', r.method],
      ...r.optional.map((k): [string, Sym] => [k, pick[k] ?? { s: 'text', v: '' }]),
    ];
    for (const k of r.repeats)
      fields.push([k, pick[k] ?? (k === 'Method' ? r.method : { s: 'text', v: 'x' })]);
    return fc.shuffledSubarray(fields, { minLength: fields.length });
  });

export interface MfaInput {
  user: 'alice' | 'bob';
  /** Keep the MFA lockout as the earlier inputs left it (else it is cleared first, outside the measured step). */
  keepLockout: boolean;
  handle: 'page' | 'other' | 'missing' | 'noise';
  csrf: 'page' | 'other' | 'missing';
  cookie: boolean;
  fields: [string, Sym][];
  /** Sometimes a second post on the same page (after a wrong or a good answer). */
  again: [string, Sym][] | undefined;
}

const mfaInput: fc.Arbitrary<MfaInput> = fc.record({
  user: fc.constantFrom('alice' as const, 'alice' as const, 'alice' as const, 'bob' as const),
  keepLockout: fc.oneof(
    { weight: 9, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
  handle: fc.oneof(
    { weight: 12, arbitrary: fc.constant('page' as const) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('other' as const, 'missing' as const, 'noise' as const),
    },
  ),
  csrf: fc.oneof(
    { weight: 12, arbitrary: fc.constant('page' as const) },
    { weight: 1, arbitrary: fc.constantFrom('other' as const, 'missing' as const) },
  ),
  cookie: fc.oneof(
    { weight: 12, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant(false) },
  ),
  fields: mfaFields,
  again: fc.option(mfaFields, { freq: 4, nil: undefined }),
});

/** Resolves one symbolic value against the live page and fixture. */
function resolve(
  v: Sym,
  ctx: { page: string; f: MfaFixture; bobCode: string; user: string },
): string {
  switch (v.s) {
    case 'text':
      return v.v;
    case 'totp': {
      const code = totpNow(ctx.user === 'alice' ? ALICE_TOTP : GRACE_TOTP, v.offset);
      switch (v.tweak) {
        case 'none':
          return code;
        case 'spaces':
          return `${code.slice(0, 3)} ${code.slice(3)}`;
        case 'fullwidth':
          return code.replace(/[0-9]/g, (c) => String.fromCharCode(0xff10 + Number(c)));
        case 'plus1':
          return String((Number(code) + 1) % 1_000_000).padStart(6, '0');
        case 'pad':
          return `0${code}`;
      }
      break;
    }
    case 'factor':
      return ctx.f.totpId;
    case 'key':
      return ctx.f.keyId;
    case 'factor-id':
      return ctx.f.portal?.factorId ?? '';
    case 'handle':
      return hiddenOr(ctx.page, 'AuthState');
    case 'csrf':
      return hiddenOr(ctx.page, 'csrf');
    case 'bob-code':
      return ctx.bobCode;
    case 'ceremony':
      return ctx.f.portal?.ceremony ?? '';
    case 'webauthn': {
      const key = ctx.f.key;
      const challenge = challengeOf(ctx.page) ?? randomBytes(32).toString('base64url');
      const plan = v.plan;
      const counter =
        plan.counter === 'next'
          ? ++key.counter
          : plan.counter === 'same'
            ? key.counter
            : plan.counter === 'zero'
              ? 0
              : 0xffffffff;
      const obj = assertion(key, challenge, counter);
      if (plan.field !== undefined) {
        const r = obj.response as Record<string, unknown>;
        const p = plan.field.path;
        if (
          p === 'clientDataJSON' ||
          p === 'authenticatorData' ||
          p === 'signature' ||
          p === 'userHandle'
        )
          r[p] = plan.field.to;
        else obj[p] = plan.field.to;
      }
      return plan.edits.reduce(applyEdit, JSON.stringify(obj));
    }
  }
  return '';
}

/** x-www-form-urlencoded, keys in the given order and repeated as given. */
const formOf = (pairs: [string, string][]): string =>
  pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');

async function postMfa(
  app: FuzzApp,
  i: MfaInput,
  jar: Jar,
  page: string,
  fields: [string, Sym][],
  ctx: { page: string; f: MfaFixture; bobCode: string; user: string },
): Promise<Outcome> {
  const handle =
    i.handle === 'page'
      ? hiddenOr(page, 'AuthState')
      : i.handle === 'other'
        ? randomBytes(24).toString('base64url')
        : i.handle === 'noise'
          ? '../../x%00'
          : undefined;
  const csrf =
    i.csrf === 'page'
      ? hiddenOr(page, 'csrf')
      : i.csrf === 'other'
        ? randomBytes(16).toString('base64url')
        : undefined;
  const pairs: [string, string][] = [];
  if (handle !== undefined) pairs.push(['AuthState', handle]);
  if (csrf !== undefined) pairs.push(['csrf', csrf]);
  for (const [k, v] of fields)
    pairs.push([
      k,
      k === 'AuthState'
        ? (handle ?? '')
        : k === 'csrf'
          ? (csrf ?? '')
          : resolve(v, { ...ctx, page }),
    ]);
  const body = formOf(pairs);
  const from = app.t.logs.lines.length;
  const req = http(app).post('/adfs/ls/mfa').type('form');
  if (i.cookie) req.set('Cookie', jar.header());
  const res = await timed(app, () => req.send(body));
  jar.take(res);
  checkOutcome(app, res, decodeAll(body), from);
  return res;
}

export const mfaPageTarget: Target<MfaInput> = {
  name: 'MFA page POST /adfs/ls/mfa',
  arb: mfaInput,
  async run(app, i) {
    const f = await mfaFixture(app);
    const user = await userOf(app, i.user);
    await app.t.services.lockout.reset(accountKey(user));
    if (!i.keepLockout) await app.t.services.mfa.lockout.succeed(accountKey(user));
    await refreshBobCode(app);
    const store = app.t.services.mfa.enrolments;
    // The code is known only as its hash: the fuzzer re-issues bob's and keeps the plain one for `bob-code`.
    let bobCode = '';
    if (i.user === 'bob' && store !== undefined) {
      const bob = await userOf(app, 'bob');
      const e = await store.read(bob);
      if (e.factors.length === 0)
        await store.update(bob, (cur) => {
          const r = issueEnrolmentCode(cur, {
            clock: app.t.services.clock,
            random: app.t.services.random,
            lifetimeHours: 1,
          });
          bobCode = r.code;
          return r.enrolments;
        });
    }
    const pending = await pendingMfa(app, `${i.user}@fedgate.test`);
    if (typeof pending === 'string')
      throw new PropertyFailure(`no MFA page for a wauth=multipleauthn sign-in: ${pending}`);
    const ctx = { page: pending.page, f, bobCode, user: i.user };
    const res = await postMfa(app, i, pending.jar, pending.page, i.fields, ctx);
    if (i.again !== undefined && res.status === 200 && MFA_FORM.test(res.text))
      await postMfa(app, i, pending.jar, res.text, i.again, { ...ctx, page: res.text });
    // The factor a fuzzed enrolment may have added to bob is removed, so he keeps exploring enrolment.
    if (i.user === 'bob' && store !== undefined) {
      const bob = await userOf(app, 'bob');
      await store.update(bob, () => ({ v: 1, factors: [] }));
    }
    return res.status;
  },
};

export interface PortalInput {
  session: 'mfa' | 'none' | 'password';
  method: 'GET' | 'POST' | 'PUT';
  origin: 'ours' | 'none' | 'evil' | 'null';
  csrf: 'page' | 'missing' | 'other';
  fields: [string, Sym][];
}

const PORTAL_ACTIONS = [
  'rename',
  'remove',
  'add-totp',
  'add-webauthn',
  'confirm-totp',
  'confirm-webauthn',
] as const;

const portalFields: fc.Arbitrary<[string, Sym][]> = fc
  .record({
    action: fc.oneof(
      { weight: 8, arbitrary: text(fc.constantFrom(...PORTAL_ACTIONS)) },
      { weight: 1, arbitrary: text(fc.constantFrom('', 'RENAME', 'delete', '__proto__')) },
      { weight: 1, arbitrary: text(noise(40)) },
    ),
    factorId: sym(
      fc.constant({ s: 'factor-id' as const }),
      text(fc.constantFrom('fuzz-totp-1', 'fuzz-key-1', '', 'a'.repeat(65), '../x')),
      text(noise(80)),
    ),
    name: text(
      fc.oneof(
        noise(100),
        count(300).map((n) => '<b>'.repeat(n)),
      ),
    ),
    code: codeSym,
    ceremony: sym(
      fc.constant({ s: 'ceremony' as const }),
      text(noise(120)),
      text(count(4_000).map((n) => 'A'.repeat(n))),
    ),
    webauthn: text(webauthnRaw),
    optional: fc.subarray(['FactorId', 'FactorName', 'Code', 'Ceremony', 'WebAuthnResponse']),
    repeat: fc.option(fc.constantFrom('Action', 'csrf', 'FactorId', 'Ceremony'), {
      nil: undefined,
    }),
  })
  .map((r) => {
    const pick: Record<string, Sym> = {
      FactorId: r.factorId,
      FactorName: r.name,
      Code: r.code,
      Ceremony: r.ceremony,
      WebAuthnResponse: r.webauthn,
    };
    const fields: [string, Sym][] = [
      ['Action', r.action],
      ...r.optional.map((k): [string, Sym] => [k, pick[k] ?? { s: 'text', v: '' }]),
    ];
    if (r.repeat !== undefined) fields.push([r.repeat, pick[r.repeat] ?? r.action]);
    return fields;
  });

const portalInput: fc.Arbitrary<PortalInput> = fc.record({
  session: fc.oneof(
    { weight: 8, arbitrary: fc.constant('mfa' as const) },
    { weight: 1, arbitrary: fc.constantFrom('none' as const, 'password' as const) },
  ),
  method: fc.oneof(
    { weight: 8, arbitrary: fc.constant('POST' as const) },
    { weight: 2, arbitrary: fc.constant('GET' as const) },
    { weight: 1, arbitrary: fc.constant('PUT' as const) },
  ),
  origin: fc.oneof(
    { weight: 8, arbitrary: fc.constant('ours' as const) },
    { weight: 1, arbitrary: fc.constantFrom('none' as const, 'evil' as const, 'null' as const) },
  ),
  csrf: fc.oneof(
    { weight: 10, arbitrary: fc.constant('page' as const) },
    { weight: 1, arbitrary: fc.constantFrom('missing' as const, 'other' as const) },
  ),
  fields: portalFields,
});

/** grace signed in at the portal with her TOTP code (once per app); the page's token and her factor's id. */
async function portalSession(
  app: FuzzApp,
  f: MfaFixture,
): Promise<NonNullable<MfaFixture['portal']>> {
  if (f.portal !== undefined) return f.portal;
  const jar = new Jar();
  const start = await http(app).get('/adfs/portal/').set('X-Forwarded-For', SETUP_IP);
  jar.take(start);
  const mfa = await http(app)
    .post('/adfs/ls/')
    .set('X-Forwarded-For', SETUP_IP)
    .set('Cookie', jar.header())
    .type('form')
    .send({
      AuthState: hidden(start.text, 'AuthState'),
      csrf: hidden(start.text, 'csrf'),
      UserName: 'grace@fedgate.test',
      Password: MFA_PASSWORD,
      AuthMethod: 'FormsAuthentication',
    });
  jar.take(mfa);
  const done = await http(app)
    .post('/adfs/ls/mfa')
    .set('Cookie', jar.header())
    .type('form')
    .send({
      AuthState: hidden(mfa.text, 'AuthState'),
      csrf: hidden(mfa.text, 'csrf'),
      Method: 'totp',
      Code: totpNow(GRACE_TOTP),
    });
  jar.take(done);
  const page = await http(app).get('/adfs/portal/').set('Cookie', jar.header());
  jar.take(page);
  const csrf = hiddenOr(page.text, 'csrf');
  if (csrf === '') throw new Error(`fuzz setup: no portal page for grace (HTTP ${page.status})`);
  f.portal = { jar, csrf, factorId: 'fuzz-totp-grace' };
  return f.portal;
}

/** A password-only SSO session (bob signs in to the test party without MFA). */
async function passwordSession(app: FuzzApp): Promise<Jar> {
  const jar = new Jar();
  const start = await http(app)
    .get('/adfs/ls/?wa=wsignin1.0&wtrealm=urn:fedgate:test')
    .set('X-Forwarded-For', SETUP_IP);
  jar.take(start);
  const res = await http(app)
    .post('/adfs/ls/')
    .set('X-Forwarded-For', SETUP_IP)
    .set('Cookie', jar.header())
    .type('form')
    .send({
      AuthState: hiddenOr(start.text, 'AuthState'),
      csrf: hiddenOr(start.text, 'csrf'),
      UserName: 'bob@fedgate.test',
      Password: MFA_PASSWORD,
      AuthMethod: 'FormsAuthentication',
    });
  jar.take(res);
  return jar;
}

export const portalTarget: Target<PortalInput> = {
  name: 'security info /adfs/portal/ GET/POST',
  arb: portalInput,
  async run(app, i) {
    const f = await mfaFixture(app);
    const live = await portalSession(app, f);
    // grace keeps a factor to act on: a fuzzed remove is undone outside the measured step.
    const store = app.t.services.mfa.enrolments;
    const grace = await userOf(app, 'grace');
    await app.t.services.mfa.lockout.succeed(accountKey(grace));
    const jar =
      i.session === 'mfa'
        ? live.jar
        : i.session === 'password'
          ? await passwordSession(app)
          : new Jar();
    const ctx = { page: '', f, bobCode: '', user: 'grace' };
    const pairs: [string, string][] = [];
    if (i.csrf !== 'missing')
      pairs.push(['csrf', i.csrf === 'page' ? live.csrf : randomBytes(16).toString('base64url')]);
    for (const [k, v] of i.fields) pairs.push([k, k === 'csrf' ? live.csrf : resolve(v, ctx)]);
    const body = formOf(pairs);
    const origin = {
      ours: MFA_ORIGIN,
      none: undefined,
      evil: 'https://evil.example',
      null: 'null',
    }[i.origin];
    const from = app.t.logs.lines.length;
    const res = await timed(app, () => {
      const r =
        i.method === 'GET'
          ? http(app).get(`/adfs/portal/?${body}`)
          : i.method === 'PUT'
            ? http(app).put('/adfs/portal/').type('form')
            : http(app).post('/adfs/portal/').type('form');
      r.set('Cookie', jar.header());
      if (origin !== undefined) r.set('Origin', origin);
      return i.method === 'GET' ? r : r.send(body);
    });
    if (i.session === 'mfa') jar.take(res);
    checkOutcome(app, res, decodeAll(body), from);
    // The next input's ceremony: the one this page started (a sealed add in progress), if any.
    const ceremony = /name="Ceremony" value="([^"]*)"/.exec(res.text)?.[1];
    if (ceremony !== undefined) live.ceremony = decodeEntities(ceremony);
    const token = /name="csrf" value="([^"]*)"/.exec(res.text)?.[1];
    if (i.session === 'mfa' && token !== undefined) live.csrf = decodeEntities(token);
    if (store !== undefined) {
      const e = await store.read(grace);
      if (!e.factors.some((x) => x.id === 'fuzz-totp-grace'))
        await store.update(grace, (cur) => ({
          ...cur,
          factors: [
            ...cur.factors.slice(0, 3),
            {
              kind: 'totp',
              id: 'fuzz-totp-grace',
              name: 'Phone',
              createdAt: new Date().toISOString(),
              secret: GRACE_TOTP,
            },
          ],
        }));
    }
    return res.status;
  },
};

// ---------------------------------------------------------------------------------------------------------
// The page language (issue 17): the picker's GET, the Accept-Language header and the language cookie

interface LanguageInput {
  lang: string;
  ret: string;
  acceptLanguage: string;
  cookie: string;
}

const languageInput: fc.Arbitrary<LanguageInput> = fc.record({
  lang: fc.oneof(
    fc.constantFrom('de', 'ar', 'ja', 'en-GB', 'DE', 'de_AT', 'xx', '', 'de;q=1', '../en'),
    noise(40),
  ),
  ret: fc.oneof(
    fc.constantFrom(
      '/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline',
      '/adfs/portal/',
      '//evil.example/',
      '/\\evil.example',
      'https://evil.example/',
      '/adfs/../../evil',
      '/adfs/%2F%2Fevil.example',
      '/adfs/\u0000x',
      'javascript:alert(1)',
    ),
    noise(200),
    count(6000).map((n) => `/adfs/${'a'.repeat(n)}`),
  ),
  acceptLanguage: fc.oneof(
    fc.constantFrom('de-DE,de;q=0.9,en;q=0.8', '*', 'ar;q=0.1, ja;q=0.9', 'q=;;,,', ''),
    noise(300),
    count(4000).map((n) => 'de;q=0.5,'.repeat(n)),
  ),
  cookie: fc.oneof(fc.constantFrom('de', 'ar', '', '%00', 'x'.repeat(300)), noise(60)),
});

const languageTarget: Target<LanguageInput> = {
  name: 'page language (picker, Accept-Language, cookie)',
  arb: languageInput,
  async run(app, i) {
    const from = app.t.logs.lines.length;
    const q = `lang=${enc(i.lang)}&return=${enc(i.ret)}`;
    // Header values must be legal for the HTTP client: control characters and non-Latin-1 are stripped here.
    const header = (v: string): string => v.replace(/[^\x20-\x7e]/g, '');
    const picker = await timed(app, () =>
      http(app)
        .get(`/adfs/portal/language?${q}`)
        .set('Accept-Language', header(i.acceptLanguage))
        .set('Cookie', `__Host-fedgate_lang=${header(i.cookie).replace(/[;,]/g, '')}`),
    );
    checkOutcome(app, picker, decodeAll(q), from);
    const location = picker.headers.location;
    if (
      typeof location === 'string' &&
      (!location.startsWith('/adfs/') || location.startsWith('//'))
    )
      throw new PropertyFailure(`the picker redirected off our pages: ${location}`);
    // The same header and cookie on a sign-in page: the page renders in some language, never fails.
    const page = await timed(app, () =>
      http(app)
        .get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${enc(M365)}`)
        .set('Accept-Language', header(i.acceptLanguage))
        .set('Cookie', `__Host-fedgate_lang=${header(i.cookie).replace(/[;,]/g, '')}`),
    );
    checkOutcome(app, page, i.acceptLanguage + i.cookie, from);
    // 431: Node's own refusal of an oversized header block, before fedgate sees the request.
    if (page.status !== 200 && page.status !== 431)
      throw new PropertyFailure(`sign-in page answered ${String(page.status)}`);
    return picker.status;
  },
};

export const TARGETS: Target<never>[] = [
  samlTarget('authn', 'redirect'),
  samlTarget('authn', 'post'),
  samlTarget('logout-request', 'redirect'),
  samlTarget('logout-request', 'post'),
  samlTarget('logout-response', 'redirect'),
  samlTarget('logout-response', 'post'),
  wstrustTarget(V13),
  wstrustTarget(V2005),
  wsfedTarget,
  metadataTarget,
  rulesTarget,
  certHeaderTarget,
  certHeaderHttpTarget,
  mfaPageTarget,
  portalTarget,
  languageTarget,
] as unknown as Target<never>[];
