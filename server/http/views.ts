import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Mustache from 'mustache';

/**
 * Server-rendered pages from views/*.html (mustache: {{x}} is HTML-escaped, including quotes, so values are safe
 * in text and in quoted attributes; {{{x}}} is used only for the layout's already-rendered content).
 * Templates are read once at start.
 */
export type ViewName =
  | 'signin'
  | 'signed-out'
  | 'error'
  | 'token-test'
  | 'update-password'
  | 'password-updated'
  | 'idp-initiated'
  | 'mfa'
  | 'portal';

export class Views {
  readonly #layout: string;
  readonly #pages: Record<ViewName, string>;
  readonly #formPost: string;
  readonly #displayName: string;
  readonly themeDir: string;

  constructor(dir: string, displayName: string) {
    const read = (n: string): string => readFileSync(join(dir, n), 'utf8');
    this.#layout = read('layout.html');
    this.#pages = {
      signin: read('signin.html'),
      'signed-out': read('signed-out.html'),
      error: read('error.html'),
      'token-test': read('token-test.html'),
      'update-password': read('update-password.html'),
      'password-updated': read('password-updated.html'),
      'idp-initiated': read('idp-initiated.html'),
      mfa: read('mfa.html'),
      portal: read('portal.html'),
    };
    this.#formPost = read('form-post.html');
    this.#displayName = displayName;
    this.themeDir = join(dir, 'theme');
    for (const t of [this.#layout, this.#formPost, ...Object.values(this.#pages)])
      Mustache.parse(t);
  }

  page(name: ViewName, title: string, data: Record<string, unknown>): string {
    const content = Mustache.render(this.#pages[name], { displayName: this.#displayName, ...data });
    return Mustache.render(this.#layout, { title, displayName: this.#displayName, content });
  }

  /** The auto-submitting form that delivers a token (MS-MWBF §2.2.4); works without script via <noscript>. */
  formPost(action: string, fields: { name: string; value: string }[], nonce: string): string {
    return Mustache.render(this.#formPost, { action, fields, nonce });
  }
}
