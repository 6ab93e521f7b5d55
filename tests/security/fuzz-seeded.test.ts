/**
 * A short, seeded run of every fuzz target of `npm run fuzz` (tests/fuzz, issue 14 §1) as part of `npm test`: a fixed
 * seed and a fixed number of inputs per target, through the real app (SAMLRequest/SAMLResponse on both bindings,
 * RelayState, both WS-Trust usernamemixed endpoints, the WS-Fed parameters) and the parsers reachable only from
 * configuration (metadata import, claim rules with `fedgate check`, the proxy certificate header). Each input must
 * get an answer with the properties of tests/fuzz/harness.ts (no 5xx but a deliberate 503 or a well-formed
 * WS-Trust fault, no internal error logged, no stack trace or path in the body, no redirect or auto-POST to an
 * unregistered address) and /adfs/probe must still answer 200 after it. The event-loop figures are recorded but
 * not judged here (no wall-clock assertions in `npm test`); `npm run fuzz` judges them.
 *
 * Then the inputs the fuzzer (or the issue) found, replayed as regression cases.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fuzzTarget } from '../fuzz/engine.ts';
import { startFuzzApp, type FuzzApp } from '../fuzz/harness.ts';
import { rulesTarget, samlTarget, TARGETS, type SamlInput } from '../fuzz/targets.ts';
import { IDP_SSO, SP_ACS, SP_ID } from '../fixtures/saml2/harness.ts';

const SEED = 1414;
const RUNS = 120;

describe('seeded fuzz run of every input-parsing entry point (issue 14 §1)', () => {
  let app: FuzzApp;
  before(async () => {
    app = await startFuzzApp();
  });
  after(async () => {
    await app.close();
  });

  for (const [i, target] of TARGETS.entries()) {
    test(`${target.name}: ${RUNS} inputs from seed ${SEED + i}`, async () => {
      const r = await fuzzTarget(app, target, {
        seed: SEED + i,
        numRuns: RUNS,
        enforceStall: false,
      });
      assert.equal(
        r.failure,
        undefined,
        r.failure === undefined
          ? ''
          : `${r.failure.message}\nshrunk counterexample: ${r.failure.counterexample}`,
      );
      assert.equal(r.stats.runs >= RUNS, true, `only ${r.stats.runs} inputs ran`);
    });
  }

  describe('regressions', () => {
    const P = 'urn:oasis:names:tc:SAML:2.0:protocol';
    const A = 'urn:oasis:names:tc:SAML:2.0:assertion';
    const DS = 'http://www.w3.org/2000/09/xmldsig#';
    // Issue 14 §1: 25,000 `<b>/>` in Extensions under a stub signature at the root, for the known SP. It once
    // passed a regex depth guard and overflowed the stack in the recursive duplicate-ID walk (HTTP 500).
    const issueInput =
      `<samlp:AuthnRequest xmlns:samlp="${P}" xmlns:saml="${A}" ID="_r1" Version="2.0" ` +
      `IssueInstant="${new Date().toISOString()}" Destination="${IDP_SSO}" AssertionConsumerServiceURL="${SP_ACS}">` +
      `<saml:Issuer>${SP_ID}</saml:Issuer>` +
      `<ds:Signature xmlns:ds="${DS}"><ds:SignedInfo/><ds:SignatureValue>AA==</ds:SignatureValue></ds:Signature>` +
      `<samlp:Extensions>${'<b>/>'.repeat(25_000)}${'</b>'.repeat(25_000)}</samlp:Extensions></samlp:AuthnRequest>`;
    const input: SamlInput = {
      xml: issueInput,
      enc: 'utf8',
      wire: 'deflate-b64',
      relayState: undefined,
      sig: 'none',
      duplicate: false,
    };

    for (const binding of ['post', 'redirect'] as const)
      test(`the issue's deflated <b>/> AuthnRequest on the ${binding} binding: a clean 4xx`, async () => {
        const status = await samlTarget('authn', binding).run(app, input);
        assert.equal(status >= 400 && status < 500, true, `HTTP ${status}`);
      });

    // Found by npm run fuzz: a .NET pattern with groups nested thousands deep overflowed the stack of the recursive
    // regex translator (RangeError from compileRules and `fedgate check`); now a RuleError with file:line.
    test('claim rule with a RegExReplace pattern nested 5,000 groups deep', async () => {
      const n = 5_000;
      await rulesTarget.run(
        app,
        `c:[Type == "t"] => issue(Type = "t", Value = RegExReplace(c.Value, "${'('.repeat(n)}a${')'.repeat(n)}", "x"));`,
      );
    });

    // Found by npm run fuzz (commit 9520f09): a character the lexer refuses at the start of a rule.
    test('claim rule file starting with NUL', async () => {
      await rulesTarget.run(app, '\u0000 => issue(claim = c);');
    });
  });
});
