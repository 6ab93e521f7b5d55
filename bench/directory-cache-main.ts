/**
 * Runs only the directory cache section (bench/directory-cache.ts), for trying it out without the whole
 * `npm run bench`; the result goes to the file named by FEDGATE_BENCH_OUT (default: standard output only).
 *   FEDGATE_BENCH_QUICK=1 node --import tsx bench/directory-cache-main.ts
 */
import { writeFileSync } from 'node:fs';
import { directoryCacheSection } from './directory-cache.ts';

const r = await directoryCacheSection({ quick: process.env.FEDGATE_BENCH_QUICK === '1' });
const out = process.env.FEDGATE_BENCH_OUT;
if (out !== undefined) writeFileSync(out, `${JSON.stringify(r, null, 2)}\n`);
