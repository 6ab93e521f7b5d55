// StrykerJS over one security-critical file at a time (issue 14 §3): `npm run mutate:stryker` mutates
// server/lib/xml-signature.ts; STRYKER_MUTATE=<file> picks another file. The tap runner runs each test file
// as one node process (node:test prints TAP when piped), with tsx to load TypeScript; coverage is per test
// file, so a mutant runs only the files that reach it. Only the fast in-process security tests are listed:
// the Samba, Chromium and haproxy suites take minutes per run, which mutant-by-mutant is hours.
// @stryker-mutator/core 9.6 is the last line that supports Node 20 (10.x needs Node 22). Measured on 2 cores
// (load ~10) with --concurrency 2: 180 mutants of xml-signature.ts in 6 minutes; score 95.5 % (169 killed,
// 6 survived, 2 without coverage, 3 disabled as equivalent with the reason beside them); it was 78.3 % before
// tests/security/xml-signature-stryker.test.ts. server/protocols/wstrust/request.ts with
// STRYKER_TESTS=tests/security/wstrust-negative.test.ts,tests/security/wstrust-request-stryker.test.ts: 473 mutants
// in 19 minutes, 99.1 % (463 killed, 3 survived, 1 without coverage, 6 disabled); 58.4 % with wstrust-negative alone.
const mutate = process.env.STRYKER_MUTATE ?? 'server/lib/xml-signature.ts';
// STRYKER_TESTS=<file>,<file> picks the test files for another module (e.g. tests/security/wstrust-negative.test.ts
// for server/protocols/wstrust/request.ts); by default the SAML signature tests.
const tests = process.env.STRYKER_TESTS?.split(',').filter((f) => f !== '') ?? [
  'tests/security/signature-corpus.test.ts',
  'tests/security/saml2-negative.test.ts',
  'tests/security/saml2-defences.test.ts',
  'tests/security/xml-signature-stryker.test.ts',
];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: [mutate],
  testRunner: 'tap',
  plugins: ['@stryker-mutator/tap-runner'],
  tap: {
    testFiles: tests,
    nodeArgs: ['--import', 'tsx'],
    forceBail: true,
  },
  coverageAnalysis: 'perTest',
  concurrency: 2,
  timeoutMS: 60_000,
  tempDirName: '.scratch/stryker-tmp',
  cleanTempDir: true,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/stryker/index.html' },
  jsonReporter: { fileName: 'reports/stryker/mutation.json' },
};
