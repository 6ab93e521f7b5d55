import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../server/app.ts';
import { resolveConfig } from '../../server/config/load.ts';
import type { Config, ConfigInput } from '../../server/config/schema.ts';
import type { Clock } from '../../server/lib/clock.ts';
import { buildServices, type Services } from '../../server/services.ts';

/** Captures log lines (pino JSON) so tests can assert on audit events and on what is NOT logged. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      this.raw.push(line);
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not JSON */
      }
    }
    cb();
  }
  events(name: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l.event === name);
  }
}

export interface TestApp {
  app: Express;
  services: Services;
  config: Config;
  logs: LogCapture;
  close(): Promise<void>;
}

/** A fully built app (real services, generated keys in a temp dir, TLS off) for supertest. */
export async function makeTestApp(
  input: ConfigInput = {},
  opts: { clock?: Clock } = {},
): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-test-'));
  const config = resolveConfig(
    {
      hostname: 'sts.fedgate.test',
      listen: { port: 0, tls: 'off' },
      keys: { dir: join(dir, 'keys') },
      testRelyingParty: true,
      log: { level: 'info' },
      ...input,
    },
    { env: {}, baseDir: dir, source: 'test', embeddedDefaults: false },
  );
  const logs = new LogCapture();
  const services = await buildServices(config, {
    logDestination: logs,
    ...(opts.clock === undefined ? {} : { clock: opts.clock }),
  });
  return { app: createApp(services), services, config, logs, close: () => services.close() };
}

/** Minimal cookie jar: supertest's agent drops Secure (__Host-) cookies over plain HTTP, so tests carry them by hand. */
export class Jar {
  readonly #c = new Map<string, string>();
  take(res: { headers: Record<string, unknown> }): void {
    const set = res.headers['set-cookie'];
    const list = Array.isArray(set) ? (set as string[]) : typeof set === 'string' ? [set] : [];
    for (const sc of list) {
      const [pair = '', ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '') this.#c.delete(name);
      else this.#c.set(name, value);
    }
  }
  header(): string {
    return [...this.#c].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  get(name: string): string | undefined {
    return this.#c.get(name);
  }
}

/** Pulls a hidden input's value out of a rendered page. */
export function hidden(html: string, name: string): string {
  const m = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)"`).exec(html);
  if (m?.[1] === undefined) throw new Error(`no hidden input ${name} in page`);
  return decodeEntities(m[1]);
}

export function decodeEntities(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&nbsp;/g, '\u00a0')
    .replace(/&amp;/g, '&');
}

export function formAction(html: string): string {
  const m = /<form method="post" name="hiddenform" action="([^"]*)"/.exec(html);
  if (m?.[1] === undefined) throw new Error('no auto-post form in page');
  return decodeEntities(m[1]);
}

export const M365 = 'urn:federation:MicrosoftOnline';

/** The address of a WS-Fed sign-in request (wa=wsignin1.0) for a realm, with extra parameters. */
export const wsfedSignInUrl = (realm: string, extra: Record<string, string> = {}): string =>
  `/adfs/ls/?${new URLSearchParams({ wa: 'wsignin1.0', wtrealm: realm, ...extra }).toString()}`;

/**
 * Posts the form of a sign-in page (its AuthState and csrf) with these fields, with the jar's cookies and any
 * headers; the jar takes the answer's cookies.
 */
export async function postSignInForm(
  app: Express,
  jar: Jar,
  page: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<request.Response> {
  const r = request(app).post('/adfs/ls/').set('Cookie', jar.header()).type('form');
  for (const [k, v] of Object.entries(headers)) void r.set(k, v);
  const res = await r.send({
    AuthState: hidden(page, 'AuthState'),
    csrf: hidden(page, 'csrf'),
    ...fields,
  });
  jar.take(res);
  return res;
}

/** Starts a WS-Fed sign-in and submits credentials; returns the final response and the jar. */
export async function signIn(
  app: Express,
  opts: {
    username: string;
    password: string;
    realm?: string;
    query?: Record<string, string>;
    jar?: Jar;
  },
): Promise<{ res: request.Response; jar: Jar; signinPage: string }> {
  const jar = opts.jar ?? new Jar();
  const q = new URLSearchParams({ wa: 'wsignin1.0', wtrealm: opts.realm ?? M365, ...opts.query });
  const page = await request(app).get(`/adfs/ls/?${q.toString()}`).set('Cookie', jar.header());
  jar.take(page);
  if (page.status !== 200 || !page.text.includes('name="AuthState"'))
    return { res: page, jar, signinPage: page.text };
  const res = await postSignInForm(app, jar, page.text, {
    UserName: opts.username,
    Password: opts.password,
    AuthMethod: 'FormsAuthentication',
  });
  return { res, jar, signinPage: page.text };
}

/**
 * Where an answer sends the browser on: its Location header, or the continuation page's link (OAuth sign-ins end
 * with a same-origin navigation page rather than a redirect of the form post: views/redirect.html).
 */
export function nextHop(res: {
  headers: Record<string, unknown>;
  text: string;
}): string | undefined {
  const loc = res.headers['location'];
  if (typeof loc === 'string') return loc;
  const m = /<a id="continue" href="([^"]*)"/.exec(res.text);
  return m?.[1] === undefined ? undefined : decodeEntities(m[1]);
}
