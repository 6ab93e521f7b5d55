import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { tenantFederation, tenantInstructions } from '../../../server/cli/tenant.ts';
import type { ConfigInput } from '../../../server/config/schema.ts';
import { makeTestApp, type TestApp } from '../../helpers/app.ts';
import {
  childElements,
  parseStrict,
  readWsFedMetadata,
  verifyMetadataWithXmlCrypto,
  certFromMetadata,
} from '../../helpers/verify.ts';

// The MEX document (/adfs/services/trust/mex): its shape against a real AD FS MEX document, addresses from
// configuration only, the ?wsdl / ?xsd= forms, and the switches (MEX and `fedgate tenant` follow them).

const WSDL = 'http://schemas.xmlsoap.org/wsdl/';
const WSP = 'http://schemas.xmlsoap.org/ws/2004/09/policy';
const WSU = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
const SOAP12 = 'http://schemas.xmlsoap.org/wsdl/soap12/';
const WSA10 = 'http://www.w3.org/2005/08/addressing';
const REAL_MEX = fileURLToPath(
  new URL('../../fixtures/real-world/adfs-arupela.mex.xml', import.meta.url),
);
const USERNAME_BINDINGS = [
  'UserNameWSTrustBinding_IWSTrust13Async',
  'UserNameWSTrustBinding_IWSTrustFeb2005Async',
];

interface MexView {
  rootChildren: string[];
  policyIds: string[];
  bindings: Map<string, { policy: string; transport: string; soapAction: string; type: string }>;
  ports: Map<string, { binding: string; address: string; soap12Address: string }>;
}

function readMex(xml: string): MexView {
  const root = parseStrict(xml).documentElement;
  assert.equal(root.namespaceURI, WSDL);
  assert.equal(root.localName, 'definitions');
  assert.equal(root.getAttribute('name'), 'SecurityTokenService');
  const view: MexView = {
    rootChildren: [],
    policyIds: [],
    bindings: new Map(),
    ports: new Map(),
  };
  for (const el of childElements(root)) {
    view.rootChildren.push(el.localName);
    if (el.namespaceURI === WSP && el.localName === 'Policy')
      view.policyIds.push(el.getAttributeNS(WSU, 'Id') ?? '');
    if (el.namespaceURI === WSDL && el.localName === 'binding') {
      const [ref] = childElements(el, WSP, 'PolicyReference');
      const [b] = childElements(el, SOAP12, 'binding');
      const [op] = childElements(el, WSDL, 'operation');
      const [soapOp] = op === undefined ? [] : childElements(op, SOAP12, 'operation');
      view.bindings.set(el.getAttribute('name') ?? '', {
        policy: ref?.getAttribute('URI') ?? '',
        transport: b?.getAttribute('transport') ?? '',
        soapAction: soapOp?.getAttribute('soapAction') ?? '',
        type: el.getAttribute('type') ?? '',
      });
    }
    if (el.namespaceURI === WSDL && el.localName === 'service') {
      for (const p of childElements(el, WSDL, 'port')) {
        const [epr] = childElements(p, WSA10, 'EndpointReference');
        const [addr] = epr === undefined ? [] : childElements(epr, WSA10, 'Address');
        const [soapAddr] = childElements(p, SOAP12, 'address');
        view.ports.set(p.getAttribute('name') ?? '', {
          binding: p.getAttribute('binding') ?? '',
          address: addr?.textContent ?? '',
          soap12Address: soapAddr?.getAttribute('location') ?? '',
        });
      }
    }
  }
  return view;
}

describe('MEX document', () => {
  let t: TestApp;
  before(async () => {
    t = await makeTestApp({ publicUrl: 'https://sts.fedgate.test' });
  });
  after(async () => {
    await t.close();
  });

  test('has the username bindings, policies and ports exactly as real AD FS names and shapes them', async () => {
    const res = await request(t.app).get('/adfs/services/trust/mex');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/xml/);
    const ours = readMex(res.text);
    const real = readMex(readFileSync(REAL_MEX, 'utf8'));
    // Same order of top-level sections (policies, types, messages, portTypes, bindings, service).
    const squash = (xs: string[]): string[] => xs.filter((x, i) => x !== xs[i - 1]);
    assert.deepEqual(squash(ours.rootChildren), squash(real.rootChildren));
    assert.deepEqual(ours.policyIds.sort(), USERNAME_BINDINGS.map((b) => `${b}_policy`).sort());
    for (const name of USERNAME_BINDINGS) {
      const mine = ours.bindings.get(name);
      const theirs = real.bindings.get(name);
      assert.ok(mine !== undefined && theirs !== undefined, name);
      assert.deepEqual(mine, theirs, name);
      const port = ours.ports.get(name);
      const realPort = real.ports.get(name);
      assert.ok(port !== undefined && realPort !== undefined);
      assert.equal(port.binding, realPort.binding);
      assert.equal(
        port.address,
        realPort.address.replace('https://fs.arupela.com', 'https://sts.fedgate.test'),
      );
      assert.equal(port.soap12Address, port.address);
    }
    // Nothing else: no Windows/certificate/issued-token endpoints fedgate does not implement, and no SOAP 1.1
    // binding (which crashes MSAL's parser).
    assert.deepEqual([...ours.bindings.keys()].sort(), USERNAME_BINDINGS);
    assert.deepEqual([...ours.ports.keys()].sort(), USERNAME_BINDINGS);
    assert.doesNotMatch(
      res.text,
      /windowstransport|certificatemixed|schemas\.xmlsoap\.org\/wsdl\/soap\/"\s*\/?>/,
    );
    // The username policies carry the exact nesting MSAL's parser walks.
    const doc = parseStrict(res.text);
    const tokens = Array.from(
      doc.getElementsByTagNameNS(
        'http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702',
        'WssUsernameToken10',
      ),
    );
    assert.equal(tokens.length, 1);
    const path: string[] = [];
    for (let n: Node | null = tokens[0]!; n !== null && n !== doc.documentElement; n = n.parentNode)
      path.unshift((n as Element).localName);
    assert.deepEqual(path, [
      'Policy',
      'ExactlyOne',
      'All',
      'SignedEncryptedSupportingTokens',
      'Policy',
      'UsernameToken',
      'Policy',
      'WssUsernameToken10',
    ]);
  });

  test('addresses come from configuration, never from the Host header or X-Forwarded-Host', async () => {
    const res = await request(t.app)
      .get('/adfs/services/trust/mex')
      .set('Host', 'evil.example')
      .set('X-Forwarded-Host', 'evil.example');
    assert.equal(res.status, 200);
    assert.doesNotMatch(res.text, /evil\.example/);
    const ports = readMex(res.text).ports;
    for (const p of ports.values()) assert.match(p.address, /^https:\/\/sts\.fedgate\.test\//);
  });

  test('?wsdl is the same document; ?xsd=xsd0|1|2 are schemas; anything else is 404', async () => {
    const mex = await request(t.app).get('/adfs/services/trust/mex');
    const wsdl = await request(t.app).get('/adfs/services/trust/mex?wsdl');
    assert.equal(wsdl.text, mex.text);
    for (const [xsd, ns] of [
      ['xsd0', 'http://schemas.microsoft.com/Message'],
      ['xsd1', 'http://schemas.xmlsoap.org/ws/2005/02/trust'],
      ['xsd2', 'http://docs.oasis-open.org/ws-sx/ws-trust/200512'],
    ] as const) {
      const res = await request(t.app).get(`/adfs/services/trust/mex?xsd=${xsd}`);
      assert.equal(res.status, 200);
      const root = parseStrict(res.text).documentElement;
      assert.equal(root.localName, 'schema');
      assert.equal(root.getAttribute('targetNamespace'), ns);
      assert.ok(mex.text.includes(`https://sts.fedgate.test/adfs/services/trust/mex?xsd=${xsd}`));
    }
    for (const bad of ['xsd3', '../etc/passwd', '']) {
      const res = await request(t.app).get(
        `/adfs/services/trust/mex?xsd=${encodeURIComponent(bad)}`,
      );
      assert.equal(res.status, 404, bad);
    }
  });
});

describe('switches: MEX and fedgate tenant follow wstrust.endpoints', () => {
  async function withApp(
    input: ConfigInput,
    fn: (t: TestApp) => Promise<void> | void,
  ): Promise<void> {
    const t = await makeTestApp({ publicUrl: 'https://sts.fedgate.test', ...input });
    try {
      await fn(t);
    } finally {
      await t.close();
    }
  }

  test('one endpoint off: MEX lists only the other; tenant points activeSignInUri at what is on', async () => {
    await withApp({ wstrust: { endpoints: { usernamemixed2005: false } } }, async (t) => {
      const mex = readMex((await request(t.app).get('/adfs/services/trust/mex')).text);
      assert.deepEqual([...mex.ports.keys()], ['UserNameWSTrustBinding_IWSTrust13Async']);
      assert.deepEqual(mex.policyIds, ['UserNameWSTrustBinding_IWSTrust13Async_policy']);
      const f = tenantFederation(t.config, t.services.signing);
      assert.equal(
        f.activeSignInUri,
        'https://sts.fedgate.test/adfs/services/trust/13/usernamemixed',
      );
      assert.equal(f.metadataExchangeUri, 'https://sts.fedgate.test/adfs/services/trust/mex');
    });
  });

  test('defaults: tenant publishes the 2005 endpoint (Entra default) and MEX', async () => {
    await withApp({}, (t) => {
      const f = tenantFederation(t.config, t.services.signing);
      assert.equal(
        f.activeSignInUri,
        'https://sts.fedgate.test/adfs/services/trust/2005/usernamemixed',
      );
      assert.equal(f.metadataExchangeUri, 'https://sts.fedgate.test/adfs/services/trust/mex');
      const text = tenantInstructions('corp.example.test', t.config, t.services.signing);
      assert.match(
        text,
        /-ActiveSignInUri 'https:\/\/sts\.fedgate\.test\/adfs\/services\/trust\/2005\/usernamemixed'/,
      );
    });
  });

  test('federation metadata advertises the active endpoint (fed:SecurityTokenServiceEndpoint) only when on', async () => {
    await withApp({}, async (t) => {
      const xml = (await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml'))
        .text;
      verifyMetadataWithXmlCrypto(xml, certFromMetadata(xml)[0]!);
      assert.equal(
        readWsFedMetadata(xml).activeTokenEndpoint,
        'https://sts.fedgate.test/adfs/services/trust/2005/usernamemixed',
      );
      assert.match(
        xml,
        /<wsx:MetadataReference><Address xmlns="http:\/\/www\.w3\.org\/2005\/08\/addressing">https:\/\/sts\.fedgate\.test\/adfs\/services\/trust\/mex</,
      );
    });
    await withApp(
      { wstrust: { endpoints: { usernamemixed2005: false, usernamemixed13: false } } },
      async (t) => {
        const xml = (await request(t.app).get('/FederationMetadata/2007-06/FederationMetadata.xml'))
          .text;
        verifyMetadataWithXmlCrypto(xml, certFromMetadata(xml)[0]!);
        assert.equal(readWsFedMetadata(xml).activeTokenEndpoint, undefined);
      },
    );
  });

  test('MEX off: 404, and tenant omits metadataExchangeUri', async () => {
    await withApp({ wstrust: { endpoints: { mex: false } } }, async (t) => {
      assert.equal((await request(t.app).get('/adfs/services/trust/mex')).status, 404);
      const f = tenantFederation(t.config, t.services.signing);
      assert.equal(f.metadataExchangeUri, undefined);
      assert.ok(f.activeSignInUri !== undefined);
      const text = tenantInstructions('corp.example.test', t.config, t.services.signing);
      assert.doesNotMatch(text, /MetadataExchangeUri|metadataExchangeUri/);
    });
  });

  test('both endpoints off: MEX 404 and tenant has neither active nor MEX address', async () => {
    await withApp(
      { wstrust: { endpoints: { usernamemixed2005: false, usernamemixed13: false } } },
      async (t) => {
        assert.equal((await request(t.app).get('/adfs/services/trust/mex')).status, 404);
        const f = tenantFederation(t.config, t.services.signing);
        assert.equal(f.activeSignInUri, undefined);
        assert.equal(f.metadataExchangeUri, undefined);
        const json = JSON.parse(
          /\{[\s\S]*\}/.exec(
            tenantInstructions('corp.example.test', t.config, t.services.signing),
          )![0],
        ) as Record<string, unknown>;
        assert.equal('activeSignInUri' in json, false);
        assert.equal(json.passiveSignInUri, 'https://sts.fedgate.test/adfs/ls/');
      },
    );
  });
});
