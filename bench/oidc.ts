/**
 * OIDC token issuance (issue 19 "npm run bench"): the token endpoint of the real express app, in this process,
 * over loopback HTTP with keep-alive, next to raw RSA-2048 SHA-256 signing measured in the same run (rounds
 * interleaved, so a noisy moment hits both alike).
 *
 *  - Code flow: one authorization code exchanged for an access token (JWT, RS256), an ID token (RS256) and a
 *    refresh token. Two signatures per exchange, so its ratio is exchanges/s × 2 ÷ raw signatures/s, against the
 *    same ≥ 0.90 target as SAML issuance.
 *  - Client credentials: one access token (JWT, RS256) per request; ratio requests/s ÷ raw signatures/s.
 *
 * Codes: one real authorize → sign-in → resume flow (as a browser, through fedgate's sign-in pipeline) creates the
 * grant, the session and the Web API's kept claims; every measured code is then minted from that first code through
 * the provider itself (`new provider.AuthorizationCode({...}).save()`, same grant, session and PKCE challenge).
 * Chosen over one browser flow per code because the flow costs far more than the exchange and would have to run
 * for thousands of codes between rounds (codes live 60 s), while the exchange does exactly the same work for
 * a minted code: find and consume it, check the grant, PKCE and redirect URI, load the account, read the kept
 * claims, sign two JWTs and store the refresh token.
 *
 * The load generator shares this process (and its one event loop) with the server, so the HTTP rows carry the
 * client's own request and parse cost too; the raw rows carry none. Store: memory (the default).
 */
import { createHash, randomBytes, sign } from 'node:crypto';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import supertest from 'supertest';
import { oidcProvider } from '../server/protocols/oidc/instance.ts';
import { hidden, Jar, makeTestApp, nextHop } from '../tests/helpers/app.ts';
import { fmt, median, rate, table } from './lib.ts';

const SECRET = 'bench-server-secret-0123456789abcdef';
const NATIVE = 'bench-native';
const WEB = 'bench-web';
const REDIRECT = 'http://localhost:5000/cb';
const API = 'https://api.bench.test';
const CONCURRENCY = 8;

export interface OidcRow {
  name: string;
  /** Requests per second of each round, and their median. */
  rounds: number[];
  perSec: number;
  /** JWT signatures per request. */
  jwtsPerRequest: number;
  failed: number;
}

export interface OidcBenchResult {
  /** Bytes of one JWT signing input (header.payload) of the sample access token. */
  signingInputBytes: number;
  raw: { name: string; rounds: number[]; perSec: number };
  rows: OidcRow[];
  /** Code-flow exchanges/s × 2 ÷ raw RSA signatures/s, median of per-round ratios (target ≥ 0.90). */
  codeFlowRatio: number;
  /** Client-credentials requests/s ÷ raw RSA signatures/s, median of per-round ratios. */
  clientCredentialsRatio: number;
}

interface Reply {
  status: number;
  body: string;
}

function post(agent: Agent, port: number, path: string, form: string): Promise<Reply> {
  return new Promise((ok, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path,
        agent,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': String(Buffer.byteLength(form)),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          ok({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(form);
  });
}

/** Runs `items` through `op` with CONCURRENCY in flight; returns completed per second and failures. */
async function drive<T>(
  items: T[],
  op: (item: T) => Promise<boolean>,
): Promise<{ perSec: number; failed: number }> {
  let next = 0;
  let failed = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        if (!(await op(item))) failed++;
      }
    }),
  );
  const ms = performance.now() - start;
  return { perSec: ((items.length - failed) * 1000) / ms, failed };
}

/** A token response carrying every token asked for, each JWT with three parts (checked on every reply). */
function tokensOk(r: Reply, want: ('access_token' | 'id_token' | 'refresh_token')[]): boolean {
  if (r.status !== 200) return false;
  const body = JSON.parse(r.body) as Record<string, unknown>;
  return want.every((k) => {
    const v = body[k];
    if (typeof v !== 'string') return false;
    return k === 'refresh_token' || v.split('.').length === 3;
  });
}

export async function oidcBench(opts: {
  rounds: number;
  /** Code exchanges (and client-credentials requests) per round. */
  perRound: number;
  /** Milliseconds per raw-signing round. */
  ms: number;
}): Promise<OidcBenchResult> {
  const t = await makeTestApp({
    log: { level: 'silent' },
    oauth: {
      applicationGroups: [
        {
          name: 'Bench',
          nativeClients: [{ name: 'desk', clientId: NATIVE, redirectUris: [REDIRECT] }],
          serverApplications: [
            {
              name: 'daemon',
              clientId: WEB,
              redirectUris: ['https://app.bench.test/cb'],
              clientSecrets: [`sha256:${createHash('sha256').update(SECRET).digest('base64url')}`],
            },
          ],
          webApis: [
            {
              name: 'api',
              identifiers: [API],
              issuanceRules:
                'c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"] => issue(Type = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", Value = c.Value);',
              permissions: [{ client: '*', scopes: ['openid', 'user_impersonation'] }],
            },
          ],
        },
      ],
    },
  } as never);
  const server: Server = createServer(t.app);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as AddressInfo).port;

    // One real code flow (authorize → fedgate sign-in → resume), as a browser would run it.
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const jar = new Jar();
    const app = supertest(t.app);
    const q = new URLSearchParams({
      client_id: NATIVE,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: `openid profile ${API}/user_impersonation`,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'st',
      nonce: 'nn',
    });
    let r = await app.get(`/adfs/oauth2/authorize?${q.toString()}`);
    jar.take(r);
    const path = (loc: unknown) => {
      const u = new URL(String(loc), 'http://x');
      return u.pathname + u.search;
    };
    r = await app.get(path(r.headers.location)).set('Cookie', jar.header());
    jar.take(r);
    const page = r.text;
    r = await app
      .post('/adfs/ls/')
      .set('Cookie', jar.header())
      .type('form')
      .send({
        AuthState: hidden(page, 'AuthState'),
        csrf: hidden(page, 'csrf'),
        UserName: 'alice',
        Password: 'Passw0rd!',
        AuthMethod: 'FormsAuthentication',
      });
    jar.take(r);
    // The sign-in ends on a continuation page (a navigation to the provider's resume address).
    r = await app.get(path(nextHop(r))).set('Cookie', jar.header());
    const first = new URL(String(r.headers.location)).searchParams.get('code');
    if (first === null) throw new Error(`the OIDC code flow gave no code (${String(r.status)})`);

    const provider = oidcProvider(t.services);
    const src = await provider.AuthorizationCode.find(first);
    const client = await provider.Client.find(NATIVE);
    if (src?.accountId === undefined || client === undefined)
      throw new Error('first code or client missing');
    const fields = {
      accountId: src.accountId,
      acr: src.acr,
      amr: src.amr,
      authTime: src.authTime,
      claims: src.claims,
      grantId: src.grantId,
      nonce: src.nonce,
      resource: src.resource,
      scope: src.scope,
      sessionUid: src.sessionUid,
      expiresWithSession: src.expiresWithSession,
      sid: src.sid,
      codeChallenge: src.codeChallenge,
      codeChallengeMethod: src.codeChallengeMethod,
      redirectUri: src.redirectUri,
    };
    // The model's type asks for fields a code never carries (gty) and marks others required; these are exactly
    // what the first code holds (undefined where it holds nothing).
    type CodeInit = ConstructorParameters<typeof provider.AuthorizationCode>[0];
    const mint = async (n: number): Promise<string[]> => {
      const out: string[] = [];
      for (let i = 0; i < n; i++)
        out.push(await new provider.AuthorizationCode({ client, ...fields } as CodeInit).save());
      return out;
    };
    const exchangeForm = (code: string) =>
      new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        client_id: NATIVE,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
      }).toString();
    const exchange = async (code: string) =>
      tokensOk(await post(agent, port, '/adfs/oauth2/token', exchangeForm(code)), [
        'access_token',
        'id_token',
        'refresh_token',
      ]);
    const ccForm = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: WEB,
      client_secret: SECRET,
      scope: `${API}/.default`,
    }).toString();
    const clientCredentials = async () =>
      tokensOk(await post(agent, port, '/adfs/oauth2/token', ccForm), ['access_token']);

    // The real code and a minted one must both yield all three tokens (fair comparison: nothing skipped).
    const sample = await post(agent, port, '/adfs/oauth2/token', exchangeForm(first));
    if (!tokensOk(sample, ['access_token', 'id_token', 'refresh_token']))
      throw new Error(
        `code exchange failed: ${String(sample.status)} ${sample.body.slice(0, 300)}`,
      );
    const [minted] = await mint(1);
    if (!(await exchange(minted!))) throw new Error('a minted code did not exchange');
    if (!(await clientCredentials())) throw new Error('client credentials grant failed');

    // Raw rows sign as many bytes as the sample access token's signing input.
    const at = (JSON.parse(sample.body) as { access_token: string }).access_token;
    const signingInputBytes = Buffer.byteLength(at.slice(0, at.lastIndexOf('.')));
    const payload = Buffer.alloc(signingInputBytes, 0x61);
    // The very key the provider signs with (a file key: OIDC needs one, provider.ts).
    const key = t.services.signing.privateKey;
    if (key === undefined) throw new Error('the token-signing key is not a file key');

    // Warm-up (JIT, sockets), then interleaved rounds.
    await drive(await mint(Math.min(200, opts.perRound)), exchange);
    await drive(Array.from({ length: Math.min(200, opts.perRound) }), clientCredentials);
    const raw = { name: 'raw crypto.sign RSA-2048 SHA-256 (the limit)', rounds: [] as number[] };
    const code = { rounds: [] as number[], failed: 0 };
    const cc = { rounds: [] as number[], failed: 0 };
    for (let i = 0; i < opts.rounds; i++) {
      raw.rounds.push(await rate(() => sign('sha256', payload, key), opts.ms));
      const codes = await mint(opts.perRound);
      const c = await drive(codes, exchange);
      code.rounds.push(c.perSec);
      code.failed += c.failed;
      const k = await drive(Array.from({ length: opts.perRound }), clientCredentials);
      cc.rounds.push(k.perSec);
      cc.failed += k.failed;
    }
    const rawPerSec = median(raw.rounds);
    const rows: OidcRow[] = [
      {
        name: 'fedgate OIDC code exchange (access JWT + ID token + refresh token)',
        rounds: code.rounds,
        perSec: median(code.rounds),
        jwtsPerRequest: 2,
        failed: code.failed,
      },
      {
        name: 'fedgate OAuth client credentials (access JWT)',
        rounds: cc.rounds,
        perSec: median(cc.rounds),
        jwtsPerRequest: 1,
        failed: cc.failed,
      },
    ];
    return {
      signingInputBytes,
      raw: { ...raw, perSec: rawPerSec },
      rows,
      // Each round against the raw round just before it, then the median: a busy moment on a shared machine
      // moves both sides of one round alike.
      codeFlowRatio: median(code.rounds.map((x, i) => (x * 2) / raw.rounds[i]!)),
      clientCredentialsRatio: median(cc.rounds.map((x, i) => x / raw.rounds[i]!)),
    };
  } finally {
    agent.destroy();
    await new Promise<void>((ok) => {
      server.close(() => {
        ok();
      });
    });
    await t.close();
  }
}

/** Runs the section and prints it the way run.ts prints the others; returns what goes into results.json. */
export async function oidcSection(opts: { quick: boolean }): Promise<OidcBenchResult> {
  const r = await oidcBench({
    rounds: opts.quick ? 2 : 5,
    perRound: opts.quick ? 300 : 2000,
    ms: opts.quick ? 500 : 2000,
  });
  console.log(
    `OIDC token issuance (token endpoint over loopback HTTP, ${String(CONCURRENCY)} in flight, load generator in the same process; JWT signing input ≈ ${String(r.signingInputBytes)} bytes; median of rounds)`,
  );
  console.log(
    table(
      ['what', 'per second', 'JWTs/s', '× RSA limit', 'target', 'failed'],
      [
        [r.raw.name, r.raw.perSec, r.raw.perSec, '1.00', '—', '—'],
        ...r.rows.map((x) => [
          x.name,
          x.perSec,
          x.perSec * x.jwtsPerRequest,
          ((x.perSec * x.jwtsPerRequest) / r.raw.perSec).toFixed(2),
          x.jwtsPerRequest === 2 ? '≥ 0.90' : '—',
          String(x.failed),
        ]),
      ],
    ),
  );
  console.log(
    `code-flow issuance ÷ RSA limit (2 signatures per exchange, median of per-round ratios): ${fmt(r.codeFlowRatio)} (target ≥ 0.90); client credentials: ${fmt(r.clientCredentialsRatio)}\n`,
  );
  return r;
}
