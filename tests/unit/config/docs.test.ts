import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { z } from 'zod';
import { configSchema } from '../../../server/config/schema.ts';
import { NAMESPACES } from '../../../server/stores/namespaces.ts';

/** Every key path of the schema, e.g. listen.tls.cert, directory.urls, relyingParties[].identifier. */
function paths(s: z.core.$ZodType, prefix: string, out: Set<string>): void {
  const def = s._zod.def as unknown as Record<string, unknown>;
  switch (def.type) {
    case 'object':
      for (const [k, v] of Object.entries(def.shape as Record<string, z.core.$ZodType>)) {
        const p = prefix === '' ? k : `${prefix}.${k}`;
        out.add(p);
        paths(v, p, out);
      }
      break;
    case 'union':
      for (const o of def.options as z.core.$ZodType[]) paths(o, prefix, out);
      break;
    case 'array':
      paths(def.element as z.core.$ZodType, `${prefix}[]`, out);
      break;
    case 'default':
    case 'optional':
    case 'prefault':
      paths(def.innerType as z.core.$ZodType, prefix, out);
      break;
    default:
  }
}

test('docs/configuration.md documents every configuration key', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  const all = new Set<string>();
  paths(configSchema, '', all);
  assert.ok(all.size > 20);
  const missing = [...all].filter((p) => !doc.includes(`\`${p}\``));
  assert.deepEqual(missing, []);
});

test('docs/configuration.md lists every kind of state in the store, and only those', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  const start = doc.indexOf('### What fedgate keeps in the store');
  assert.ok(start > 0);
  const section = doc.slice(start, doc.indexOf('\n## ', start));
  const rows = [...section.matchAll(/^\| `([a-z:-]+)` +\|/gm)].map((m) => m[1]);
  const prefixes = Object.values(NAMESPACES).map((n) => n.prefix);
  assert.deepEqual([...rows].sort(), [...prefixes].sort());
});
