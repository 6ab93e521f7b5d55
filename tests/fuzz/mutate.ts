/**
 * Structure-aware mutation of text messages (XML, rule files) for the fuzzer: a valid message is the seed, and a
 * list of edits, each drawn by fast-check (so failures shrink to the fewest, smallest edits), bends it. The snippets
 * are the shapes that broke or nearly broke real XML stacks: `/>` hidden in text, CDATA and comments (issue 14 §1),
 * deep nesting and attribute floods (corpus A16, B1.7), DOCTYPE/entities (B1.1–B1.3), NUL, BOMs and lone
 * surrogates (B1.6), PIs and trailing roots (B1.8), namespace rebinding (B2.17).
 */
import fc from 'fast-check';

/** Hostile fragments that are inserted whole (the generator picks one, sometimes repeated). */
export const SNIPPETS: readonly string[] = [
  '/>',
  '<b>/>',
  '<![CDATA[/>]]>',
  '<![CDATA[<x>]]>',
  ']]>',
  '<!-- /> -->',
  '<!---->',
  '<?pi x?>',
  '<?xml version="1.0"?>',
  '\u0000',
  '\uFEFF',
  '\uFFFE',
  '\uD800',
  '\uDFFF',
  '&lol;',
  '&amp;',
  '&#0;',
  '&#x10FFFF;',
  '&#xD800;',
  '<!DOCTYPE r [<!ENTITY lol "lol">]>',
  '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd">',
  '<!ENTITY % p SYSTEM "file:///etc/passwd">',
  '<root/>',
  '</samlp:AuthnRequest>',
  '<samlp:Extensions>',
  '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/><ds:SignatureValue>AA==</ds:SignatureValue></ds:Signature>',
  ' xmlns:saml="urn:evil"',
  ' xmlns="urn:oasis:names:tc:SAML:2.0:protocol"',
  ' ID="_dup"',
  ' a="/>"',
  '"',
  "'",
  '<',
  '>',
  '&',
  '\r\n',
  '\t',
  '\u2028',
  'é',
  '𝄞',
  '${java.version}',
  '{NameID}',
];

/**
 * A count from 1 to `max`, spread evenly over orders of magnitude (a uniform draw would almost never land just
 * under a size limit, where the most expensive admitted documents are); shrinks towards 1.
 */
export const count = (max: number): fc.Arbitrary<number> =>
  fc
    .integer({ min: 0, max: 1000 })
    .map((k) => Math.max(1, Math.min(max, Math.round(Math.exp((k / 1000) * Math.log(max))))));

/**
 * Large shapes that do not nest: what can be put in a message before it is signed (the fixture signer, xml-crypto,
 * canonicalizes recursively; deep nesting is the mutations' job, after signing). Sized in characters, spread over
 * 256 B to 48 KiB, so that a good share lands just under the 32 KiB SAML message limit, where the costliest
 * admitted messages are.
 */
export const flatShape = (): fc.Arbitrary<string> => {
  const chars = fc
    .integer({ min: 0, max: 1000 })
    .map((k) => Math.round(256 * Math.exp((k / 1000) * Math.log(192))));
  const rep = (unit: string): fc.Arbitrary<string> =>
    chars.map((c) => unit.repeat(Math.max(1, Math.floor(c / unit.length))));
  return fc.oneof(
    rep('<b/>'),
    rep('<b xmlns:p="urn:x" p:a="1"><c/></b>'),
    rep('<b><![CDATA[/>]]><!-- /> --></b>'),
    chars.map((c) => {
      const n = Math.max(1, Math.floor(c / 8));
      return `<b ${Array.from({ length: n }, (_, i) => `a${i}="x"`).join(' ')}/>`;
    }),
    chars.map((c) => `<b a="${'x'.repeat(c)}"/>`),
  );
};

/** Large shapes, built on demand (size drawn by fast-check, see `count`). */
export const bigShape = (): fc.Arbitrary<string> =>
  fc.oneof(
    count(40_000).map((n) => '<b>/>'.repeat(n) + '</b>'.repeat(n)),
    count(12_000).map((n) => '<b>'.repeat(n) + '</b>'.repeat(n)),
    count(8_000).map((n) => '<b><![CDATA[/>]]>'.repeat(n) + '</b>'.repeat(n)),
    count(8_000).map((n) => '<b><!-- /> -->'.repeat(n) + '</b>'.repeat(n)),
    count(8_000).map((n) => '<b a="/>">'.repeat(n) + '</b>'.repeat(n)),
    count(6_000).map((n) => `<b ${Array.from({ length: n }, (_, i) => `a${i}="x"`).join(' ')}/>`),
    count(60_000).map((n) => '<b/>'.repeat(n)),
    count(20_000).map((n) => '<b xmlns:p="urn:x" p:a="1"><c/></b>'.repeat(n)),
    count(300_000).map((n) => `<b a="${'x'.repeat(n)}"/>`),
    count(300_000).map((n) => 'x'.repeat(n)),
    fc
      .integer({ min: 1, max: 2_000 })
      .map(
        (n) =>
          `<!DOCTYPE r [<!ENTITY a0 "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY a${i + 1} "${`&a${i};`.repeat(10)}">`).join('')}]>${'&a9;'.repeat(n % 8)}`,
      ),
  );

/** A string of noise: any unicode, control characters included. */
export const noise = (maxLength = 64): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength, unit: 'binary' }),
    fc.string({ maxLength, unit: 'grapheme' }),
    fc.string({ maxLength }),
    fc.constantFrom(...SNIPPETS),
  );

export type Edit =
  | { kind: 'insert'; at: number; text: string; boundary: boolean }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number; times: number }
  | { kind: 'replace'; at: number; ch: string }
  | { kind: 'truncate'; at: number };

const insertText = (big: boolean): fc.Arbitrary<string> =>
  big ? fc.oneof({ weight: 4, arbitrary: noise() }, { weight: 1, arbitrary: bigShape() }) : noise();

/** One edit; positions are fractions of the text length so they survive earlier edits. */
export const edit = (big = true): fc.Arbitrary<Edit> =>
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        text: insertText(big),
        boundary: fc.boolean(),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('delete' as const),
        at: fc.nat(),
        length: fc.integer({ min: 1, max: 200 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('duplicate' as const),
        at: fc.nat(),
        length: fc.integer({ min: 1, max: 400 }),
        times: fc.integer({ min: 1, max: 200 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('replace' as const),
        at: fc.nat(),
        ch: fc.oneof(
          fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }),
          fc.constantFrom('<', '>', '"', '/', '&', ':', '='),
        ),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  );

/** Tag boundaries: positions just after a '>' (where an element or text may legally start). */
function boundaries(s: string): number[] {
  const out: number[] = [];
  for (let i = s.indexOf('>'); i !== -1 && out.length < 512; i = s.indexOf('>', i + 1))
    out.push(i + 1);
  return out;
}

export function applyEdit(s: string, e: Edit): string {
  const n = s.length;
  const pos = n === 0 ? 0 : e.at % (n + 1);
  switch (e.kind) {
    case 'insert': {
      let at = pos;
      if (e.boundary) {
        const b = boundaries(s);
        if (b.length > 0) at = b[e.at % b.length] ?? pos;
      }
      return s.slice(0, at) + e.text + s.slice(at);
    }
    case 'delete':
      return s.slice(0, pos) + s.slice(pos + e.length);
    case 'duplicate': {
      const part = s.slice(pos, pos + e.length);
      return s.slice(0, pos) + part.repeat(e.times) + s.slice(pos);
    }
    case 'replace':
      return s.slice(0, pos) + e.ch + s.slice(pos + 1);
    case 'truncate':
      return s.slice(0, pos);
  }
}

/** A seed text bent by 0–4 edits. */
export const mutated = (seed: fc.Arbitrary<string>, big = true): fc.Arbitrary<string> =>
  fc
    .tuple(seed, fc.array(edit(big), { maxLength: 4 }))
    .map(([s, edits]) => edits.reduce(applyEdit, s));

/** How the bytes of a message are put on the wire (corpus B1.6): odd encodings of the same text. */
export type Encoding = 'utf8' | 'utf8-bom' | 'utf16le-bom' | 'utf16be-bom' | 'latin1';
export const encoding = (): fc.Arbitrary<Encoding> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant('utf8' as const) },
    { weight: 1, arbitrary: fc.constantFrom('utf8-bom', 'utf16le-bom', 'utf16be-bom', 'latin1') },
  );

export function encode(text: string, enc: Encoding): Buffer {
  switch (enc) {
    case 'utf8':
      return Buffer.from(text, 'utf8');
    case 'utf8-bom':
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')]);
    case 'utf16le-bom':
      return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    case 'utf16be-bom': {
      const le = Buffer.from(text, 'utf16le');
      for (let i = 0; i + 1 < le.length; i += 2) {
        const a = le[i] ?? 0;
        le[i] = le[i + 1] ?? 0;
        le[i + 1] = a;
      }
      return Buffer.concat([Buffer.from([0xfe, 0xff]), le]);
    }
    case 'latin1':
      return Buffer.from(text, 'latin1');
  }
}
