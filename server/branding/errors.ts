/**
 * The one error every theme check throws (issue 17 "Bad input": `fedgate check` and startup name the file and the
 * reason). Its own file so that the checkers (assets, svg, css) and theme.ts share it without an import cycle;
 * theme.ts re-exports it.
 */
export class ThemeError extends Error {
  override readonly name = 'ThemeError';
  constructor(
    /** The file (or folder) at fault, as the admin named it on disk. */
    readonly file: string,
    /** Why it was refused, in words an admin can act on. */
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}
