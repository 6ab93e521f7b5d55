/**
 * The request kinds of the soak, each as a client sends them through the load balancer: a WS-Fed sign-in (form
 * GET + credential POST), federation metadata polling (what relying parties and Entra do), a SAML 2.0
 * SP-initiated sign-in (Redirect-binding AuthnRequest + credential POST) and a WS-Trust 1.3 usernamemixed
 * request (MSAL's RST). Every response is checked for what a client needs from it; anything else is an error.
 */
import { deflateRawSync } from 'node:zlib';
import { hidden } from '../helpers/app.ts';
import { authnRequestXml, SP_ACS, SP_ID } from '../fixtures/saml2/harness.ts';
import { buildRst, rstHeaders, V13 } from '../fixtures/wstrust/rst.ts';
import { Cookies, type HttpResult, type LbClient } from '../farm/farm.ts';

export const TEST_RP = 'urn:fedgate:test';
const ALICE = { user: 'alice@fedgate.test', password: 'Passw0rd!' };

export type Kind =
  'wsfed.form' | 'wsfed.credentials' | 'metadata' | 'saml.authn' | 'saml.credentials' | 'wstrust13';
export const KINDS: readonly Kind[] = [
  'wsfed.form',
  'wsfed.credentials',
  'metadata',
  'saml.authn',
  'saml.credentials',
  'wstrust13',
];

/** One request of a flow: its kind, how long it took, and why it failed (undefined = as expected). */
export interface Sample {
  kind: Kind;
  startedAt: number;
  ms: number;
  error?: string;
}

export type Flow = 'wsfed' | 'metadata' | 'saml' | 'wstrust';

/**
 * The mix, one cycle of 20 operations: 7 WS-Fed sign-ins, 4 metadata polls, 5 SAML sign-ins, 4 WS-Trust
 * requests (sign-ins dominate an IdP's work; metadata is polled, not hammered).
 */
export const MIX: readonly Flow[] = [
  'wsfed',
  'saml',
  'metadata',
  'wsfed',
  'wstrust',
  'saml',
  'wsfed',
  'metadata',
  'wstrust',
  'wsfed',
  'saml',
  'wsfed',
  'metadata',
  'saml',
  'wstrust',
  'wsfed',
  'saml',
  'metadata',
  'wsfed',
  'wstrust',
];

async function timed(
  out: Sample[],
  kind: Kind,
  send: () => Promise<HttpResult>,
  check: (r: HttpResult) => string | undefined,
): Promise<HttpResult | undefined> {
  const startedAt = Date.now();
  const t0 = performance.now();
  try {
    const r = await send();
    const error = check(r);
    out.push({
      kind,
      startedAt,
      ms: performance.now() - t0,
      ...(error === undefined ? {} : { error }),
    });
    return error === undefined ? r : undefined;
  } catch (e) {
    out.push({
      kind,
      startedAt,
      ms: performance.now() - t0,
      error: e instanceof Error ? e.message : String(e),
    });
    return undefined;
  }
}

const status =
  (want: number, must: RegExp) =>
  (r: HttpResult): string | undefined =>
    r.status !== want
      ? `status ${String(r.status)} (node ${String(r.headers['x-fedgate-node'])})`
      : must.test(r.body)
        ? undefined
        : `no ${must.source} in the answer`;

async function credentials(
  client: LbClient,
  out: Sample[],
  kind: Kind,
  jar: Cookies,
  page: string,
  expect: RegExp,
): Promise<void> {
  await timed(
    out,
    kind,
    () =>
      client.request('POST', '/adfs/ls/', {
        headers: { cookie: jar.header() },
        form: {
          AuthState: hidden(page, 'AuthState'),
          csrf: hidden(page, 'csrf'),
          UserName: ALICE.user,
          Password: ALICE.password,
          AuthMethod: 'FormsAuthentication',
        },
      }),
    status(200, expect),
  );
}

async function wsfed(client: LbClient, out: Sample[]): Promise<void> {
  const jar = new Cookies();
  const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: TEST_RP });
  const page = await timed(
    out,
    'wsfed.form',
    () => client.request('GET', `/adfs/ls/?${q.toString()}`),
    status(200, /name="AuthState"/),
  );
  if (page === undefined) return;
  jar.take(page);
  await credentials(client, out, 'wsfed.credentials', jar, page.body, /name="wresult"/);
}

async function metadata(client: LbClient, out: Sample[]): Promise<void> {
  await timed(
    out,
    'metadata',
    () => client.request('GET', '/FederationMetadata/2007-06/FederationMetadata.xml'),
    status(200, /<(\w+:)?EntityDescriptor /),
  );
}

/** SAML Bindings §3.4.4.1: DEFLATE, base64, URL-encoded in SAMLRequest (unsigned: the SP does not sign). */
async function saml(client: LbClient, out: Sample[], publicUrl: string): Promise<void> {
  const jar = new Cookies();
  const xml = authnRequestXml({ destination: `${publicUrl}/adfs/ls/`, acsUrl: SP_ACS });
  const q = new URLSearchParams({
    SAMLRequest: deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64'),
    RelayState: 'soak',
  });
  const page = await timed(
    out,
    'saml.authn',
    () => client.request('GET', `/adfs/ls/?${q.toString()}`),
    status(200, /name="AuthState"/),
  );
  if (page === undefined) return;
  jar.take(page);
  await credentials(client, out, 'saml.credentials', jar, page.body, /name="SAMLResponse"/);
}

async function wstrust(client: LbClient, out: Sample[], publicUrl: string): Promise<void> {
  const o = { version: V13, username: ALICE.user, password: ALICE.password, appliesTo: TEST_RP };
  // wsa:To names the endpoint as the client reached it (the farm's public URL has a port).
  const body = buildRst(o).replace('https://sts.fedgate.test', publicUrl);
  await timed(
    out,
    'wstrust13',
    () => client.request('POST', V13.path, { headers: rstHeaders(o), body }),
    status(200, /RequestSecurityTokenResponse/),
  );
}

export async function runFlow(
  flow: Flow,
  client: LbClient,
  publicUrl: string,
  out: Sample[],
): Promise<void> {
  switch (flow) {
    case 'wsfed':
      return wsfed(client, out);
    case 'metadata':
      return metadata(client, out);
    case 'saml':
      return saml(client, out, publicUrl);
    case 'wstrust':
      return wstrust(client, out, publicUrl);
  }
}

export { SP_ID };
