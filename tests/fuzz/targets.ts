/**
 * Every entry point that parses outside input, as a fuzz target: a fast-check arbitrary for the input
 * (structure-aware: real messages bent by mutate.ts, plus raw noise) and how to send it. HTTP targets go through
 * the real express app (harness.ts); metadata import, claim rules and the proxy certificate header are also called
 * directly, where the parser is reachable only from configuration.
 */
import { createSign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import type { Request } from 'express';
import fc from 'fast-check';
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
import { hidden, M365 } from '../helpers/app.ts';
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
  count,
  encode,
  encoding,
  flatShape,
  mutated,
  noise,
  SNIPPETS,
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
] as unknown as Target<never>[];
