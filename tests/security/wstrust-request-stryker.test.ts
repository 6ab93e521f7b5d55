import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { FixedClock } from '../../server/lib/clock.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { readFault } from '../fixtures/wstrust/fault.ts';
import {
  buildRst,
  PASSWORD_TEXT,
  rstHeaders,
  V13,
  WSSE,
  wsuTime,
  type RstOptions,
} from '../fixtures/wstrust/rst.ts';

// One case per check in server/protocols/wstrust/request.ts (readIssueRequest, checkTimestamp), each sent
// through the real app: a refusal names the check that refused it (the 'WS-Trust request refused' log line
// carries fault kind and detail; the fault on the wire says neither), and an acceptance proves a shape real
// clients send is not refused by an over-eager check. Issue 14 §3: these are the tests that make the Stryker
// mutants of request.ts fail. Corpus B4.2 (structure), B4.3 (timestamps), B4.4 (replay).

const NOW = new Date('2026-03-02T10:00:00.000Z');
const ANON = 'http://www.w3.org/2005/08/addressing/anonymous';
const WSA_2004 = 'http://schemas.xmlsoap.org/ws/2004/08/addressing';
const WSP = 'http://schemas.xmlsoap.org/ws/2004/09/policy';
const WSP15 = 'http://www.w3.org/ns/ws-policy';
const SAML11 = 'urn:oasis:names:tc:SAML:1.0:assertion';
const SAML11_PROFILE = 'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1';
const SAML20 = 'urn:oasis:names:tc:SAML:2.0:assertion';
const SAML20_PROFILE = 'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0';
/** A 130-character value: details quote at most 120 characters of what the client sent (40 for dates). */
const LONG = `urn:x:${'a'.repeat(124)}`;

const opts = (o: Partial<RstOptions> = {}): RstOptions => ({
  version: V13,
  username: 'alice@fedgate.test',
  password: 'Passw0rd!',
  now: NOW,
  ...o,
});
const rst = (o: Partial<RstOptions> = {}): string => buildRst(opts(o));

/** Replaces one part of a request; the part must be there (a silent no-op would make the case vacuous). */
function sub(xml: string, from: string | RegExp, to: string): string {
  assert.ok(typeof from === 'string' ? xml.includes(from) : from.test(xml), `no ${String(from)}`);
  return xml.replace(from, to);
}

const REPLY_TO = /<wsa:ReplyTo>[\s\S]*?<\/wsa:ReplyTo>/;
const TO = /<wsa:To [^>]*>[^<]*<\/wsa:To>/;
const MESSAGE_ID = /<wsa:MessageID>[^<]*<\/wsa:MessageID>/;
const APPLIES_TO = /<wsp:AppliesTo[\s\S]*?<\/wsp:AppliesTo>/;
const KEY_TYPE = /<wst:KeyType>[^<]*<\/wst:KeyType>/;
const REQUEST_TYPE = /<wst:RequestType>[^<]*<\/wst:RequestType>/;

const timestamp = (created: string, expires?: string, extra = ''): string =>
  `<wsu:Timestamp wsu:Id='_0'><wsu:Created>${created}</wsu:Created>${
    expires === undefined ? '' : `<wsu:Expires>${expires}</wsu:Expires>`
  }${extra}</wsu:Timestamp>`;
const at = (offsetSeconds: number): string =>
  wsuTime(new Date(NOW.getTime() + offsetSeconds * 1000));
const usernameToken = (inner: string): string =>
  `<wsse:UsernameToken wsu:Id='u'>${inner}</wsse:UsernameToken>`;
const USER = '<wsse:Username>alice@fedgate.test</wsse:Username>';
const PASS = '<wsse:Password>Passw0rd!</wsse:Password>';
const appliesTo = (inner: string, ns = WSP): string =>
  `<wsp:AppliesTo xmlns:wsp='${ns}'>${inner}</wsp:AppliesTo>`;
const EPR =
  '<wsa:EndpointReference><wsa:Address>urn:federation:MicrosoftOnline</wsa:Address></wsa:EndpointReference>';
const tokenType = (uri: string): string => `<wst:TokenType>${uri}</wst:TokenType>`;

describe('WS-Trust request.ts: each check pinned by the request only it refuses (or accepts)', () => {
  let t: TestApp;
  const clock = new FixedClock(NOW);
  let skew = 0;
  before(async () => {
    t = await makeTestApp(
      { listen: { port: 0, tls: 'off', trustedProxies: ['loopback'] } },
      { clock },
    );
    skew = t.config.wstrust.clockSkewSeconds;
  });
  after(async () => {
    await t.close();
  });

  async function post(
    xml: string,
    headers: Record<string, string> = rstHeaders({ version: V13 }),
  ): Promise<request.Response> {
    let r = request(t.app).post(V13.path).set('X-Forwarded-Proto', 'https');
    for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
    return r.send(xml);
  }

  /** The refusal log line of this response (by its activity id): which check refused, in its own words. */
  function refusal(res: request.Response): { fault: unknown; detail: unknown } | undefined {
    const line = t.logs.lines.find(
      (l) => l.msg === 'WS-Trust request refused' && l.activityId === res.headers['x-activity-id'],
    );
    return line === undefined ? undefined : { fault: line.fault, detail: line.detail };
  }

  async function accepted(
    xml: string,
    headers?: Record<string, string>,
  ): Promise<request.Response> {
    const res = await post(xml, headers);
    assert.equal(res.status, 200, `${JSON.stringify(refusal(res))} ${res.text.slice(0, 300)}`);
    assert.match(res.text, /RequestSecurityTokenResponse/);
    return res;
  }

  async function refused(
    xml: string,
    fault: string,
    detail: string,
    headers?: Record<string, string>,
  ): Promise<void> {
    const res = await post(xml, headers);
    assert.equal(res.status, 500, res.text.slice(0, 300));
    const f = readFault(res.text);
    assert.equal(f.activityId, res.headers['x-activity-id']);
    assert.deepEqual(refusal(res), { fault, detail });
  }

  test('positive control: the MSAL request is accepted, as SAML 1.1 by default (as AD FS)', async () => {
    const res = await accepted(rst());
    assert.match(
      res.text,
      /<(?:\w+:)?Assertion [^>]*xmlns(?::\w+)?="urn:oasis:names:tc:SAML:1\.0:assertion"/,
    );
    // The audit event names the kind issued (AD FS 1200): the default is SAML 1.1 by name, not by fallback.
    const issued = t.logs
      .events('token_issued')
      .filter((e) => e.activityId === res.headers['x-activity-id']);
    assert.deepEqual(
      issued.map((e) => e.tokenType),
      ['saml11'],
    );
  });

  // ---- Timestamp dateTime format (DATE_TIME and parseDateTime)
  test('xsd:dateTime: fractional seconds (1–9 digits) and explicit offsets are accepted', async () => {
    for (const created of [
      '2026-03-02T10:00:00.5Z',
      '2026-03-02T10:00:00.123Z',
      '2026-03-02T10:00:00.123456789Z',
      '2026-03-02T12:00:00+02:00',
      '2026-03-02T05:30:00-04:30',
    ])
      await accepted(rst({ timestamp: timestamp(created, at(600)) }));
  });

  test('xsd:dateTime: anything else is refused as such, quoting at most 40 characters', async () => {
    const cases: [string, string][] = [
      ['x2026-03-02T10:00:00Z', 'x2026-03-02T10:00:00Z'],
      ['2026-03-02T10:00:00Zx', '2026-03-02T10:00:00Zx'],
      ['2026-03-02T10:00:00.1234567890Z', '2026-03-02T10:00:00.1234567890Z'],
      ['2026-03-02T10:00:00.Z', '2026-03-02T10:00:00.Z'],
      ['2026-03-02T10:00:00 02:00', '2026-03-02T10:00:00 02:00'],
      ['2026-03-02T10:00:00+2:00', '2026-03-02T10:00:00+2:00'],
      ['2026-03-02T10:00:00+02:0', '2026-03-02T10:00:00+02:0'],
      ['2026-03-02T10:00:00+0200', '2026-03-02T10:00:00+0200'],
      // Date.parse reads this one; the format check alone refuses it.
      ['Mon, 02 Mar 2026 10:00:00 GMT', 'Mon, 02 Mar 2026 10:00:00 GMT'],
      [
        '2026-03-02T10:00:00Z and then forty more characters of padding',
        '2026-03-02T10:00:00Z and then forty more',
      ],
    ];
    for (const [created, quoted] of cases)
      await refused(
        rst({ timestamp: timestamp(created, at(600)) }),
        'message_expired',
        `Timestamp Created is not an xsd:dateTime: ${quoted}`,
      );
    await refused(
      rst({ timestamp: timestamp(at(0), '2026-03-02T10:10:00') }),
      'message_expired',
      'Timestamp Expires is not an xsd:dateTime: 2026-03-02T10:10:00',
    );
  });

  test('xsd:dateTime in the right shape but not a real date is refused', async () => {
    // Without this check the NaN date passes every comparison of checkTimestamp.
    await refused(
      rst({ timestamp: timestamp('2026-13-45T10:00:00Z', at(600)) }),
      'message_expired',
      'Timestamp Created is not a valid date',
    );
  });

  // ---- checkTimestamp boundaries (skew from config)
  test('Created exactly at now ± skew is accepted; one second beyond is refused', async () => {
    await accepted(rst({ timestamp: timestamp(at(skew), at(skew + 600)) }));
    await accepted(rst({ timestamp: timestamp(at(-skew), at(600)) }));
    await refused(
      rst({ timestamp: timestamp(at(skew + 1), at(skew + 600)) }),
      'message_expired',
      'Timestamp Created is in the future',
    );
    await refused(
      rst({ timestamp: timestamp(at(-skew - 1), at(600)) }),
      'message_expired',
      'Timestamp Created is older than the skew window',
    );
  });

  test('Expires must be after Created; an Expires already past but inside the skew is accepted', async () => {
    await refused(
      rst({ timestamp: timestamp(at(-60), at(-60)) }),
      'message_expired',
      'Timestamp Expires is not after Created',
    );
    await accepted(rst({ timestamp: timestamp(at(-120), at(-60)) }));
    await accepted(rst({ timestamp: timestamp(at(-skew), at(-skew + 1)) }));
    await accepted(rst({ timestamp: timestamp(at(-60)) }));
  });

  // ---- wsa headers
  test('exactly one wsa:Action, and it is the Issue action', async () => {
    const xml = rst();
    await refused(
      sub(xml, '<wsa:MessageID>', `<wsa:Action>${V13.action}</wsa:Action><wsa:MessageID>`),
      'invalid_request',
      'expected exactly one wsa:Action, found 2',
    );
    await refused(
      sub(xml, /<wsa:Action [^>]*>[^<]*<\/wsa:Action>/, ''),
      'invalid_request',
      'expected exactly one wsa:Action, found 0',
    );
    await refused(
      rst({ action: LONG }),
      'invalid_request',
      `wsa:Action ${LONG.slice(0, 120)} is not ${V13.action}`,
    );
  });

  test('SOAPAction: absent or empty is fine, equal is fine, different is refused', async () => {
    const xml11 = rst({ soap: '1.1' });
    await accepted(xml11, { 'Content-Type': 'text/xml; charset=utf-8' });
    await accepted(rst({ soap: '1.1' }), {
      'Content-Type': 'text/xml; charset=utf-8',
      SOAPAction: '""',
    });
    await accepted(rst({ soap: '1.1' }), rstHeaders({ version: V13, soap: '1.1' }));
    await accepted(rst(), {
      'Content-Type': `application/soap+xml; charset=utf-8; action="${V13.action}"`,
    });
    await refused(rst({ soap: '1.1' }), 'invalid_request', 'SOAPAction does not match wsa:Action', {
      'Content-Type': 'text/xml; charset=utf-8',
      SOAPAction: '"urn:other"',
    });
  });

  test('exactly one non-empty wsa:MessageID', async () => {
    await refused(
      sub(rst(), MESSAGE_ID, ''),
      'invalid_request',
      'expected exactly one wsa:MessageID, found 0',
    );
    await refused(
      sub(rst(), MESSAGE_ID, '<wsa:MessageID> </wsa:MessageID>'),
      'invalid_request',
      'empty wsa:MessageID',
    );
  });

  test('wsa:To is optional and at most one', async () => {
    await accepted(sub(rst(), TO, ''));
    const to = `<wsa:To>https://sts.fedgate.test${V13.path}</wsa:To>`;
    await refused(sub(rst(), TO, to + to), 'invalid_request', 'wsa:To appears 2 times');
    // Its value is not compared (a load balancer's address, §3.5), but it is still read as text only.
    await refused(
      sub(rst(), TO, '<wsa:To><x:a xmlns:x="urn:other"/></wsa:To>'),
      'invalid_request',
      'To must contain text only',
    );
  });

  test('ReplyTo/FaultTo: at most one each, anonymous only, in either addressing namespace', async () => {
    const reply = (inner: string, name = 'ReplyTo'): string =>
      `<wsa:${name}>${inner}</wsa:${name}>`;
    const addr = `<wsa:Address>${ANON}</wsa:Address>`;
    // Accepted: the 2004/08 anonymous role, an Address in the 2004/08 namespace, siblings of the Address
    // that are not an Address, an Address in a foreign namespace, a FaultTo with the anonymous address.
    await accepted(
      sub(
        rst(),
        REPLY_TO,
        reply(
          `<wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address>`,
        ),
      ),
    );
    await accepted(
      sub(rst(), REPLY_TO, reply(`<a4:Address xmlns:a4='${WSA_2004}'>${ANON}</a4:Address>`)),
    );
    await accepted(sub(rst(), REPLY_TO, reply(`<wsa:ReferenceParameters/>${addr}<wsa:Metadata/>`)));
    await accepted(
      sub(
        rst(),
        REPLY_TO,
        reply(`${addr}<x:Address xmlns:x='urn:other'>https://evil.example/</x:Address>`),
      ),
    );
    await accepted(sub(rst(), REPLY_TO, reply(addr) + reply(addr, 'FaultTo')));
    // Refused.
    await refused(
      sub(rst(), REPLY_TO, reply('<wsa:Address>https://evil.example/</wsa:Address>')),
      'invalid_request',
      'ReplyTo is not the anonymous address',
    );
    await refused(
      sub(
        rst(),
        REPLY_TO,
        reply(addr) + reply('<wsa:Address>https://evil.example/</wsa:Address>', 'FaultTo'),
      ),
      'invalid_request',
      'FaultTo is not the anonymous address',
    );
    await refused(
      sub(rst(), REPLY_TO, reply('<wsa:Metadata/>')),
      'invalid_request',
      'expected exactly one ReplyTo/Address, found 0',
    );
    await refused(
      sub(rst(), REPLY_TO, reply(addr) + reply(addr)),
      'invalid_request',
      'wsa:ReplyTo appears 2 times',
    );
    await refused(
      sub(rst(), REPLY_TO, reply(addr, 'FaultTo') + reply(addr, 'FaultTo')),
      'invalid_request',
      'wsa:FaultTo appears 2 times',
    );
  });

  test('mustUnderstand: the understood wsa headers pass, anything else is refused', async () => {
    const mu = (xml: string, el: string): string =>
      sub(xml, `<wsa:${el}>`, `<wsa:${el} s:mustUnderstand='1'>`);
    let xml = rst({ extraHeaders: `<wsa:From><wsa:Address>${ANON}</wsa:Address></wsa:From>` });
    for (const el of ['MessageID', 'ReplyTo', 'From']) xml = mu(xml, el);
    xml = sub(
      xml,
      '</wsa:ReplyTo>',
      `</wsa:ReplyTo><wsa:FaultTo s:mustUnderstand='1'><wsa:Address>${ANON}</wsa:Address></wsa:FaultTo>`,
    );
    await accepted(xml);
    await refused(
      rst({
        extraHeaders: `<x:Action xmlns:x='urn:other' s:mustUnderstand='1'>${V13.action}</x:Action>`,
      }),
      'invalid_request',
      'header {urn:other}Action is not understood',
    );
    await refused(
      rst({ extraHeaders: `<wsa:RelatesTo s:mustUnderstand='1'>urn:x</wsa:RelatesTo>` }),
      'invalid_request',
      'header {http://www.w3.org/2005/08/addressing}RelatesTo is not understood',
    );
    await refused(
      rst({ extraHeaders: `<Plain s:mustUnderstand='1'/>` }),
      'invalid_request',
      'header {}Plain is not understood',
    );
    // Not marked mustUnderstand: ignored.
    await accepted(rst({ extraHeaders: `<x:Other xmlns:x='urn:other'/>` }));
  });

  // ---- wsse:Security
  test('no SOAP Header, no Security, or Security twice anywhere is refused', async () => {
    await refused(
      sub(rst(), /<s:Header>[\s\S]*<\/s:Header>/, ''),
      'invalid_security',
      'no SOAP Header',
    );
    await refused(
      rst({ security: '' }),
      'invalid_security',
      'expected exactly one wsse:Security header, found 0',
    );
    await refused(
      rst({ extraRst: `<wsse:Security xmlns:wsse='${WSSE}'/>` }),
      'invalid_security',
      'more than one wsse:Security element',
    );
    await refused(
      rst({
        extraRst: `<wsse:UsernameToken xmlns:wsse='${WSSE}'><wsse:Username>bob</wsse:Username></wsse:UsernameToken>`,
      }),
      'invalid_security',
      'more than one wsse:UsernameToken',
    );
  });

  test('Security holds only Timestamp and UsernameToken', async () => {
    await refused(
      rst({ extraSecurity: `<x:Foo xmlns:x='urn:other'/>` }),
      'unsupported_token',
      'unsupported element {urn:other}Foo in Security',
    );
    await refused(
      rst({ extraSecurity: `<Foo/>` }),
      'unsupported_token',
      'unsupported element {}Foo in Security',
    );
    await refused(rst({ timestamp: '' }), 'message_expired', 'no wsu:Timestamp');
    await refused(
      rst({ extraSecurity: timestamp(at(0), at(600)) }),
      'invalid_security',
      'expected exactly one wsu:Timestamp, found 2',
    );
    await refused(
      rst({ usernameToken: '' }),
      'unsupported_token',
      'expected exactly one wsse:UsernameToken, found 0',
    );
  });

  test('Timestamp holds Created (once) and at most one Expires, nothing else', async () => {
    for (const extra of [
      `<wsu:Foo/>`,
      `<x:Created xmlns:x='urn:other'>${at(0)}</x:Created>`,
      `<x:Expires xmlns:x='urn:other'>${at(600)}</x:Expires>`,
      `<x:Foo xmlns:x='urn:other'/>`,
    ])
      await refused(
        rst({ timestamp: timestamp(at(0), at(600), extra) }),
        'invalid_security',
        'unexpected element in wsu:Timestamp',
      );
    await refused(
      rst({ timestamp: `<wsu:Timestamp><wsu:Expires>${at(600)}</wsu:Expires></wsu:Timestamp>` }),
      'message_expired',
      'wsu:Timestamp without Created',
    );
    await refused(
      rst({ timestamp: timestamp(at(0), at(600), `<wsu:Created>${at(0)}</wsu:Created>`) }),
      'invalid_security',
      'expected exactly one wsu:Created, found 2',
    );
    await refused(
      rst({ timestamp: timestamp(at(0), at(600), `<wsu:Expires>${at(600)}</wsu:Expires>`) }),
      'invalid_security',
      'wsu:Expires appears 2 times',
    );
  });

  // ---- UsernameToken
  test('UsernameToken: Username, Password, Nonce in wsse and wsu:Created; nothing else', async () => {
    await accepted(
      rst({
        usernameToken: usernameToken(
          `${USER}${PASS}<wsse:Nonce>${randomUUID()}</wsse:Nonce><wsu:Created>${at(0)}</wsu:Created>`,
        ),
      }),
    );
    await refused(
      rst({ usernameToken: usernameToken(`${USER}${PASS}<wsse:Foo/>`) }),
      'invalid_security',
      'unexpected element Foo in UsernameToken',
    );
    await refused(
      rst({
        usernameToken: usernameToken(
          `<x:Username xmlns:x='urn:other'>alice@fedgate.test</x:Username>${PASS}`,
        ),
      }),
      'invalid_security',
      'unexpected element Username in UsernameToken',
    );
    await refused(
      rst({ usernameToken: usernameToken(PASS) }),
      'invalid_security',
      'expected exactly one Username, found 0',
    );
    await refused(
      rst({ usernameToken: usernameToken(USER) }),
      'invalid_security',
      'expected exactly one Password, found 0',
    );
    await refused(
      rst({
        usernameToken: usernameToken(
          `${USER}${PASS}<wsse:Nonce>a</wsse:Nonce><wsse:Nonce>b</wsse:Nonce>`,
        ),
      }),
      'invalid_security',
      'Nonce appears 2 times',
    );
    await refused(
      rst({
        usernameToken: usernameToken(
          `${USER}${PASS}<wsu:Created>${at(0)}</wsu:Created><wsu:Created>${at(0)}</wsu:Created>`,
        ),
      }),
      'invalid_security',
      'UsernameToken Created appears 2 times',
    );
  });

  test('Password: Type absent, empty or PasswordText; text and CDATA, comments ignored; no elements', async () => {
    for (const pw of [
      `<wsse:Password Type=''>Passw0rd!</wsse:Password>`,
      `<wsse:Password Type='${PASSWORD_TEXT}'>Passw0rd!</wsse:Password>`,
      `<wsse:Password><![CDATA[Passw0rd!]]></wsse:Password>`,
      `<wsse:Password>Passw0rd<!-- a comment -->!</wsse:Password>`,
    ])
      await accepted(rst({ usernameToken: usernameToken(USER + pw) }));
    const digest = `http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest${'x'.repeat(40)}`;
    await refused(
      rst({
        usernameToken: usernameToken(
          `${USER}<wsse:Password Type='${digest}'>Passw0rd!</wsse:Password>`,
        ),
      }),
      'unsupported_token',
      `password type ${digest.slice(0, 120)}`,
    );
    await refused(
      rst({ usernameToken: usernameToken(`${USER}<wsse:Password>Passw0rd!<b/></wsse:Password>`) }),
      'invalid_security',
      'Password must contain text only',
    );
  });

  test('Password length: 1024 reaches the directory, 1025 does not', async () => {
    // An unknown user, so no real account collects a failure (lockout).
    const ut = (n: number): string =>
      usernameToken(
        `<wsse:Username>nobody@fedgate.test</wsse:Username><wsse:Password>${'p'.repeat(n)}</wsse:Password>`,
      );
    const res = await post(rst({ usernameToken: ut(1024) }));
    assert.equal(res.status, 500);
    const r = refusal(res);
    assert.equal(r?.fault, 'failed_authentication', JSON.stringify(r));
    await refused(
      rst({ usernameToken: ut(1025) }),
      'invalid_security',
      'Password longer than 1024',
    );
  });

  test('a replayed Nonce+Created under a new MessageID is refused (the Nonce is read)', async () => {
    const ut = usernameToken(
      `${USER}${PASS}<wsse:Nonce>${randomUUID()}</wsse:Nonce><wsu:Created>${at(0)}</wsu:Created>`,
    );
    await accepted(rst({ usernameToken: ut }));
    await refused(rst({ usernameToken: ut }), 'replay', 'UsernameToken Nonce+Created already seen');
    // The replay key is Nonce and Created together: the same Nonce with another Created is a new request.
    const nonce = randomUUID();
    const withCreated = (c: string): string =>
      usernameToken(
        `${USER}${PASS}<wsse:Nonce>${nonce}</wsse:Nonce><wsu:Created>${c}</wsu:Created>`,
      );
    await accepted(rst({ usernameToken: withCreated(at(0)) }));
    await accepted(rst({ usernameToken: withCreated(at(-1)) }));
    await refused(
      rst({ usernameToken: withCreated('<x:a xmlns:x="urn:other"/>') }),
      'invalid_request',
      'Created must contain text only',
    );
  });

  // ---- Body and RST
  test('Body: exactly one RequestSecurityToken in the endpoint version namespace', async () => {
    await refused(
      sub(rst(), '</s:Body>', `<x:Other xmlns:x='urn:other'/></s:Body>`),
      'invalid_request',
      'expected exactly one element in Body, found 2',
    );
    const open = `<wst:RequestSecurityToken xmlns:wst='${V13.ns}'>`;
    await refused(
      sub(
        sub(rst(), open, `<wst:RequestSecurityTokenX xmlns:wst='${V13.ns}'>`),
        '</wst:RequestSecurityToken>',
        '</wst:RequestSecurityTokenX>',
      ),
      'invalid_request',
      `Body holds {${V13.ns}}RequestSecurityTokenX, expected RequestSecurityToken in ${V13.ns}`,
    );
    const other = 'http://schemas.xmlsoap.org/ws/2005/02/trust';
    await refused(
      sub(rst(), open, `<wst:RequestSecurityToken xmlns:wst='${other}'>`),
      'invalid_request',
      `Body holds {${other}}RequestSecurityToken, expected RequestSecurityToken in ${V13.ns}`,
    );
    await refused(
      sub(
        sub(rst(), open, `<RequestSecurityToken xmlns:wst='${V13.ns}'>`),
        '</wst:RequestSecurityToken>',
        '</RequestSecurityToken>',
      ),
      'invalid_request',
      `Body holds {}RequestSecurityToken, expected RequestSecurityToken in ${V13.ns}`,
    );
  });

  test('RequestType: exactly one, Issue', async () => {
    await refused(
      sub(rst(), REQUEST_TYPE, ''),
      'invalid_request',
      'expected exactly one RequestType, found 0',
    );
    await refused(
      sub(rst(), REQUEST_TYPE, `<wst:RequestType>${LONG}</wst:RequestType>`),
      'invalid_request',
      `RequestType ${LONG.slice(0, 120)} is not Issue`,
    );
  });

  test('KeyType: optional, at most one, bearer only', async () => {
    await accepted(sub(rst(), KEY_TYPE, ''));
    await refused(
      rst({ extraRst: `<wst:KeyType>${V13.keyType}</wst:KeyType>` }),
      'invalid_request',
      'KeyType appears 2 times',
    );
    await refused(
      sub(rst(), KEY_TYPE, `<wst:KeyType>${LONG}</wst:KeyType>`),
      'invalid_request',
      `KeyType ${LONG.slice(0, 120)}: only bearer tokens are issued`,
    );
  });

  test('TokenType: both names of SAML 1.1 and of SAML 2.0 give that token, echoed; others refused', async () => {
    const cases: [string, string][] = [
      [SAML11, SAML11],
      [SAML11_PROFILE, SAML11],
      [SAML20, SAML20],
      [SAML20_PROFILE, SAML20],
    ];
    for (const [uri, assertionNs] of cases) {
      const res = await accepted(rst({ extraRst: tokenType(uri) }));
      // The RSTR echoes the TokenType as the client wrote it.
      const echoed = `TokenType>${uri}</`;
      assert.ok(res.text.includes(echoed), uri);
      // The issued assertion is the kind asked for (its own namespace, whatever prefix).
      assert.match(
        res.text,
        new RegExp(`<(?:\\w+:)?Assertion [^>]*xmlns(?::\\w+)?="${assertionNs}"`),
        uri,
      );
    }
    await refused(
      rst({ extraRst: tokenType(LONG) }),
      'invalid_request',
      `TokenType ${LONG.slice(0, 120)} is not supported`,
    );
    await refused(
      rst({ extraRst: tokenType(SAML11) + tokenType(SAML11) }),
      'invalid_request',
      'TokenType appears 2 times',
    );
  });

  test('AppliesTo: one, in either policy namespace, holding one EndpointReference with one Address', async () => {
    const rest = `<wst:KeyType>${V13.keyType}</wst:KeyType><wst:RequestType>${V13.requestType}</wst:RequestType>`;
    const withApplies = (a: string): string => rst({ rstChildren: a + rest });
    // Accepted shapes.
    await accepted(withApplies(appliesTo(EPR, WSP15)));
    await accepted(
      withApplies(
        appliesTo(
          `<a4:EndpointReference xmlns:a4='${WSA_2004}'><a4:Address>urn:federation:MicrosoftOnline</a4:Address></a4:EndpointReference>`,
        ),
      ),
    );
    // Policy siblings, foreign AppliesTo, EPR siblings and foreign/other Address children are ignored.
    await accepted(
      withApplies(
        `<wsp:Policy xmlns:wsp='${WSP}'/>${appliesTo(EPR)}<x:AppliesTo xmlns:x='urn:other'>${EPR}</x:AppliesTo>`,
      ),
    );
    await accepted(
      withApplies(appliesTo(`<wsa:Metadata/>${EPR}<x:EndpointReference xmlns:x='urn:other'/>`)),
    );
    await accepted(
      withApplies(
        appliesTo(
          `<wsa:EndpointReference><wsa:ReferenceParameters/><wsa:Address>urn:federation:MicrosoftOnline</wsa:Address><x:Address xmlns:x='urn:other'>urn:evil</x:Address></wsa:EndpointReference>`,
        ),
      ),
    );
    await accepted(
      withApplies(
        appliesTo(
          `<a4:EndpointReference xmlns:a4='${WSA_2004}'><a4:Address>urn:federation:MicrosoftOnline</a4:Address><wsa:Address>urn:evil</wsa:Address></a4:EndpointReference>`,
        ),
      ),
    );
    // Refused shapes.
    await refused(
      sub(rst(), APPLIES_TO, ''),
      'invalid_request',
      'expected exactly one wsp:AppliesTo, found 0',
    );
    await refused(
      withApplies(appliesTo('<wsa:Metadata/>')),
      'invalid_request',
      'expected exactly one AppliesTo/EndpointReference, found 0',
    );
    await refused(
      withApplies(appliesTo('<wsa:EndpointReference><wsa:Metadata/></wsa:EndpointReference>')),
      'invalid_request',
      'expected exactly one EndpointReference/Address, found 0',
    );
    await refused(
      withApplies(
        appliesTo('<wsa:EndpointReference><wsa:Address> </wsa:Address></wsa:EndpointReference>'),
      ),
      'invalid_request',
      'empty AppliesTo address',
    );
  });
});
