/**
 * A message a page shows, named by its catalogue key (views/locales/<lang>.json) with its ICU arguments. Code that
 * builds a page passes a Msg where the text depends on the reader's language; the view layer formats it in the
 * language chosen for the request (server/i18n/catalogue.ts).
 */
export class Msg {
  readonly key: string;
  readonly args: Readonly<Record<string, string | number>>;
  constructor(key: string, args: Record<string, string | number> = {}) {
    this.key = key;
    this.args = Object.freeze({ ...args });
  }
}

/** What a page may show as a message: catalogue-keyed, or (legacy) an English sentence that is in the catalogue. */
export type PageText = Msg | string;
