/**
 * Escaping exactly as Exclusive XML Canonicalization (exc-c14n, which uses the c14n 1.0 rules) writes
 * text and attribute values, so that documents we write by hand are already in canonical form.
 * W3C Canonical XML 1.0 §2.3: text: & < > and CR; attributes: & < " TAB LF CR.
 */
export function escapeText(s: string): string {
  return s.replace(/[&<>\r]/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&#xD;',
  );
}

export function escapeAttr(s: string): string {
  return s.replace(/[&<"\t\n\r]/g, (c) =>
    c === '&'
      ? '&amp;'
      : c === '<'
        ? '&lt;'
        : c === '"'
          ? '&quot;'
          : c === '\t'
            ? '&#x9;'
            : c === '\n'
              ? '&#xA;'
              : '&#xD;',
  );
}

/** HTML escaping for values placed in server-rendered pages (attribute- and text-safe). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Characters that XML 1.0 cannot carry at all (C0 controls except TAB/LF/CR, lone surrogates, U+FFFE/FFFF).
 * Values from the directory are checked against this before being written into a token.
 */
const INVALID_XML_CHARS =
  // eslint-disable-next-line no-control-regex -- the C0 controls XML 1.0 forbids are what this matches
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
export function isXmlSafe(s: string): boolean {
  return !INVALID_XML_CHARS.test(s);
}
