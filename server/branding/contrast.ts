/**
 * Colour contrast of a theme (issue 17: "the shipped theme meets AA contrast; `fedgate check` warns when an admin's
 * colours would not"). The pages take their colours from custom properties on `:root`, so checking those pairs
 * checks the page: WCAG 2.2 SC 1.4.3 (text, 4.5:1) and SC 1.4.11 (borders and controls, 3:1).
 *
 * Contrast is the WCAG 2.x ratio of relative luminances (WCAG 2.2, "relative luminance" and "contrast ratio"
 * definitions: sRGB linearised, 0.2126 R + 0.7152 G + 0.0722 B, (L1 + 0.05) / (L2 + 0.05)).
 */

/** The property pairs checked: [foreground, background, minimum ratio, what it is]. */
export const CONTRAST_PAIRS: readonly (readonly [string, string, number, string])[] = [
  ['--fg', '--bg', 4.5, 'text on the page background'],
  ['--fg', '--card-bg', 4.5, 'text on the card'],
  ['--muted', '--card-bg', 4.5, 'secondary text on the card'],
  ['--link', '--card-bg', 4.5, 'links on the card'],
  ['--error', '--card-bg', 4.5, 'error text on the card'],
  ['--accent-fg', '--accent', 4.5, 'button text on the button'],
  ['--border', '--card-bg', 3, 'field borders on the card (WCAG 1.4.11)'],
  ['--accent', '--card-bg', 3, 'the button on the card (WCAG 1.4.11)'],
];

const NAMED: Readonly<Record<string, string>> = { black: '#000000', white: '#ffffff' };

/** [r, g, b] in 0..255 from #rgb, #rgba, #rrggbb, #rrggbbaa (alpha ignored), rgb()/rgba(), black, white. */
export function parseColour(text: string): [number, number, number] | undefined {
  const t = (NAMED[text.trim().toLowerCase()] ?? text).trim().toLowerCase();
  let m = /^#([0-9a-f]{3,4})$/.exec(t);
  if (m?.[1] !== undefined) {
    const h = m[1];
    return [0, 1, 2].map((k) => parseInt((h[k] ?? '0') + (h[k] ?? '0'), 16)) as [
      number,
      number,
      number,
    ];
  }
  m = /^#([0-9a-f]{6})([0-9a-f]{2})?$/.exec(t);
  if (m?.[1] !== undefined) {
    const h = m[1];
    return [0, 2, 4].map((k) => parseInt(h.slice(k, k + 2), 16)) as [number, number, number];
  }
  m = /^rgba?\(\s*([^)]*)\)$/.exec(t);
  if (m?.[1] !== undefined) {
    const parts = m[1]
      .split(/[\s,/]+/)
      .filter((p) => p !== '')
      .slice(0, 3);
    if (parts.length !== 3) return undefined;
    const out: number[] = [];
    for (const p of parts) {
      const pm = /^(\d+(?:\.\d+)?)(%?)$/.exec(p);
      if (pm?.[1] === undefined) return undefined;
      const n = Number(pm[1]) * (pm[2] === '%' ? 2.55 : 1);
      out.push(Math.min(255, Math.max(0, n)));
    }
    return out as [number, number, number];
  }
  return undefined;
}

/** WCAG 2.x relative luminance of an sRGB colour. */
export function relativeLuminance([r, g, b]: readonly [number, number, number]): number {
  const lin = (c: number): number => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** Contrast ratio of two colours (1 to 21); throws on a colour it cannot read. */
export function contrastRatio(a: string, b: string): number {
  const ca = parseColour(a);
  const cb = parseColour(b);
  if (ca === undefined || cb === undefined)
    throw new Error(`cannot read the colour ${ca === undefined ? a : b}`);
  const la = relativeLuminance(ca);
  const lb = relativeLuminance(cb);
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/**
 * Custom properties declared in `:root` rules, per context: '' for top-level rules, else the `@media` prelude that
 * holds them (e.g. a dark scheme), with the top-level values underneath (what the browser would compute).
 */
export function rootProperties(css: string): Map<string, Map<string, string>> {
  const text = css.replace(/\/\*[\s\S]*?\*\//g, '');
  const contexts = new Map<string, Map<string, string>>([['', new Map()]]);
  const stack: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') {
      const prelude = text.slice(start, i).trim();
      stack.push(prelude);
      start = i + 1;
      if (prelude.split(',').some((sel) => sel.trim() === ':root')) {
        const end = text.indexOf('}', i + 1);
        if (end < 0) break;
        const media = stack
          .slice(0, -1)
          .filter((p) => p.startsWith('@media'))
          .join(' and ');
        let props = contexts.get(media);
        if (props === undefined) {
          props = new Map();
          contexts.set(media, props);
        }
        for (const decl of text.slice(i + 1, end).split(';')) {
          const m = /^\s*(--[A-Za-z0-9_-]+)\s*:\s*([\s\S]*?)\s*(!important)?\s*$/.exec(decl);
          if (m?.[1] !== undefined && m[2] !== undefined) props.set(m[1], m[2]);
        }
        stack.pop();
        i = end;
        start = end + 1;
      }
    } else if (c === '}') {
      stack.pop();
      start = i + 1;
    } else if (c === ';' && stack.length === 0) {
      start = i + 1;
    }
  }
  const base = contexts.get('') ?? new Map<string, string>();
  for (const [k, v] of contexts) if (k !== '') contexts.set(k, new Map([...base, ...v]));
  return contexts;
}

/**
 * Warnings for every checked pair whose contrast is below its minimum, naming the pair, the colours, the ratio and
 * the context (top level or the @media rule). Pairs with an absent or unreadable property are skipped.
 */
export function themeContrastWarnings(css: string): string[] {
  const out: string[] = [];
  for (const [media, props] of rootProperties(css)) {
    for (const [fg, bg, min, what] of CONTRAST_PAIRS) {
      const a = props.get(fg);
      const b = props.get(bg);
      if (a === undefined || b === undefined) continue;
      if (parseColour(a) === undefined || parseColour(b) === undefined) continue;
      const ratio = contrastRatio(a, b);
      if (ratio + 1e-9 < min)
        out.push(
          `contrast ${fg} (${a}) on ${bg} (${b}) is ${(Math.floor(ratio * 100) / 100).toFixed(2)}:1, below ${min}:1 for ${what}${media === '' ? '' : ` in ${media}`}`,
        );
    }
  }
  return out;
}
