// AD FS claims engine semantics ([CRL] "The Role of the Claim Rule Language", "The Role of the Claims Engine"),
// with an in-memory attribute store; the real Active Directory store runs in tests/integration/claims-ldap.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AttributeStore } from '../../../server/claims/attribute-store.ts';
import {
  evaluateRules,
  MAX_FIRINGS_PER_RULE,
  RuleEvaluationError,
  type EvaluationResult,
} from '../../../server/claims/evaluator.ts';
import { compileRules } from '../../../server/claims/rule-sets.ts';
import { parseRules } from '../../../server/claims/rule-parser.ts';
import type { Claim } from '../../../server/claims/types.ts';
import { FederationError } from '../../../server/lib/errors.ts';

const XS_STRING = 'http://www.w3.org/2001/XMLSchema#string';

/** An in-memory store: the query is a key into `data`; records every call. */
class FakeStore implements AttributeStore {
  readonly name: string;
  readonly calls: { query: string; params: readonly string[] }[] = [];
  readonly #data: Record<string, string[][]>;
  constructor(name: string, data: Record<string, string[][]>) {
    this.name = name;
    this.#data = data;
  }
  check(): number {
    return 1;
  }
  query(query: string, params: readonly string[]): Promise<string[][]> {
    this.calls.push({ query, params });
    const key = params.reduce((q, p, i) => q.replace(`{${i}}`, p), query);
    const found = this.#data[key];
    if (found === undefined) return Promise.reject(new Error(`no data for ${key}`));
    return Promise.resolve(found);
  }
}

function claim(type: string, value: string, extra: Partial<Claim> = {}): Claim {
  return { type, value, issuer: 'AD AUTHORITY', originalIssuer: 'AD AUTHORITY', ...extra };
}

async function run(
  text: string,
  input: Claim[],
  stores: AttributeStore[] = [],
): Promise<EvaluationResult> {
  return evaluateRules(parseRules(text, 'test.rules'), input, stores);
}

const values = (claims: Claim[], type: string): string[] =>
  claims.filter((c) => c.type === type).map((c) => c.value);

describe('firing', () => {
  const three = [claim('g', '1'), claim('g', '2'), claim('g', '3')];

  test('a selector rule fires once per matching claim; EXISTS fires once', async () => {
    const r = await run(
      `c:[Type == "g"] => issue(Type = "each", Value = c.Value);
       EXISTS([Type == "g"]) => issue(Type = "once", Value = "x");`,
      three,
    );
    assert.deepEqual(values(r.output, 'each'), ['1', '2', '3']);
    assert.deepEqual(values(r.output, 'once'), ['x']);
    assert.deepEqual(
      r.trace.map((t) => t.firings),
      [3, 1],
    );
  });

  test('a selector without a variable still fires per match (what EXISTS is for)', async () => {
    const r = await run('[Type == "g"] => issue(Type = "n", Value = "x");', three);
    assert.equal(values(r.output, 'n').length, 3);
  });

  test('NOT EXISTS, COUNT and rules without conditions', async () => {
    const r = await run(
      `NOT EXISTS([Type == "missing"]) => issue(Type = "a", Value = "1");
       NOT EXISTS([Type == "g"]) => issue(Type = "b", Value = "1");
       COUNT([Type == "g"]) > 2 => issue(Type = "c", Value = "1");
       COUNT([Type == "g"]) == 2 => issue(Type = "d", Value = "1");
       COUNT([Type == "g", Value != "1"]) == 2 && EXISTS([Type == "g"]) => issue(Type = "e", Value = "1");
       => issue(Type = "f", Value = "1");`,
      three,
    );
    assert.deepEqual(
      r.output.map((c) => c.type),
      ['a', 'c', 'e', 'f'],
    );
    assert.equal(r.trace[1]?.note, 'conditions not met');
  });

  test('2 × 2 claims under two unconstrained selectors → 4 firings (the cartesian product)', async () => {
    const r = await run(
      'c1:[Type == "a"] && c2:[Type == "b"] => issue(Type = "pair", Value = c1.Value + c2.Value);',
      [claim('a', '1'), claim('a', '2'), claim('b', 'x'), claim('b', 'y')],
    );
    assert.deepEqual(values(r.output, 'pair'), ['1x', '1y', '2x', '2y']);
    assert.equal(r.trace[0]?.firings, 4);
  });

  test('two selectors on the same type may bind the same claim (2 claims → 4 combinations)', async () => {
    const r = await run(
      'c1:[Type == "a"] && c2:[Type == "a"] => issue(Type = "p", Value = c1.Value + c2.Value);',
      [claim('a', '1'), claim('a', '2')],
    );
    assert.deepEqual(values(r.output, 'p'), ['11', '12', '21', '22']);
  });

  test('a later selector can test against an earlier variable', async () => {
    const r = await run(
      'c1:[Type == "a"] && c2:[Type == "b", Value == c1.Value] => issue(Type = "same", Value = c2.Value);',
      [claim('a', '1'), claim('a', '2'), claim('b', '2'), claim('b', '3')],
    );
    assert.deepEqual(values(r.output, 'same'), ['2']);
  });

  test('any failing selector means no firing', async () => {
    const r = await run('c1:[Type == "a"] && c2:[Type == "nope"] => issue(claim = c1);', [
      claim('a', '1'),
    ]);
    assert.deepEqual(r.output, []);
  });

  test(`more than ${MAX_FIRINGS_PER_RULE} combinations is an error, not a hang`, async () => {
    const many = Array.from({ length: 101 }, (_, i) => claim('a', String(i)));
    await assert.rejects(
      run('c1:[Type == "a"] && c2:[Type == "a"] => add(Type = "x", Value = "y");', many),
      (err: unknown) => err instanceof RuleEvaluationError && /combinations/.test(err.message),
    );
  });
});

describe('add, issue and the working set', () => {
  test('add feeds later rules only; issue feeds later rules and the output', async () => {
    const r = await run(
      `c:[Type == "in"] => add(Type = "tmp", Value = c.Value + "-added");
       c:[Type == "tmp"] => issue(Type = "out", Value = c.Value);
       c:[Type == "out"] => issue(Type = "out2", Value = c.Value);`,
      [claim('in', 'v')],
    );
    assert.deepEqual(
      r.output.map((c) => `${c.type}=${c.value}`),
      ['out=v-added', 'out2=v-added'],
    );
    assert.ok(
      r.working.some((c) => c.type === 'tmp'),
      'added claims stay in the working set',
    );
  });

  test('a rule does not see the claims it issues itself', async () => {
    const r = await run('c:[Type == "x"] => issue(Type = "x", Value = c.Value + "+");', [
      claim('x', '1'),
    ]);
    assert.deepEqual(values(r.output, 'x'), ['1+']);
  });

  test('issue(claim = c) copies the claim unchanged; add(claim = c) has no effect', async () => {
    const input = claim('role', 'admin', {
      valueType: 'urn:vt',
      properties: { p: 'q' },
    });
    const r = await run(
      `c:[Type == "role"] => issue(claim = c);
       c:[Type == "role"] => add(claim = c);
       COUNT([Type == "role"]) == 1 => issue(Type = "one", Value = "1");`,
      [input],
    );
    assert.deepEqual(r.output[0], input);
    assert.equal(r.trace[1]?.note, 'claim copy with add has no effect');
    assert.deepEqual(values(r.output, 'one'), ['1'], 'copies do not duplicate the working set');
  });

  test('new claims: Issuer LOCAL AUTHORITY, OriginalIssuer = Issuer, ValueType xs:string unless given', async () => {
    const r = await run(
      `=> issue(Type = "a", Value = "1");
       => issue(Type = "b", Value = "2", Issuer = "urn:me");
       => issue(Type = "c", Value = "3", Issuer = "urn:me", OriginalIssuer = "urn:orig", ValueType = "urn:vt");
       => issue(Type = "d");`,
      [],
    );
    assert.deepEqual(r.output, [
      {
        type: 'a',
        value: '1',
        issuer: 'LOCAL AUTHORITY',
        originalIssuer: 'LOCAL AUTHORITY',
        valueType: XS_STRING,
      },
      { type: 'b', value: '2', issuer: 'urn:me', originalIssuer: 'urn:me', valueType: XS_STRING },
      { type: 'c', value: '3', issuer: 'urn:me', originalIssuer: 'urn:orig', valueType: 'urn:vt' },
      {
        type: 'd',
        value: '',
        issuer: 'LOCAL AUTHORITY',
        originalIssuer: 'LOCAL AUTHORITY',
        valueType: XS_STRING,
      },
    ]);
  });

  test('selectors on Issuer, OriginalIssuer and ValueType (defaults: OriginalIssuer = Issuer, xs:string)', async () => {
    const r = await run(
      `c:[Issuer == "AD AUTHORITY", OriginalIssuer =~ "^AD", ValueType == "${XS_STRING}"] => issue(Type = "hit", Value = c.Type);
       c:[Type =~ "^[abc]$", Issuer != "AD AUTHORITY"] => issue(Type = "other", Value = c.Type);`,
      [claim('a', '1'), { type: 'b', value: '2', issuer: 'X' }, { type: 'c', value: '3' }],
    );
    assert.deepEqual(values(r.output, 'hit'), ['a']);
    assert.deepEqual(values(r.output, 'other'), ['b', 'c']);
  });
});

describe('values and expressions', () => {
  test('== is case-sensitive; =~ "(?i)…" is not; !~ negates', async () => {
    const r = await run(
      `c:[Type == "n", Value == "terry"] => issue(Type = "eq", Value = c.Value);
       c:[Type == "n", Value =~ "^(?i)terry$"] => issue(Type = "re", Value = c.Value);
       c:[Type == "n", Value !~ "^T"] => issue(Type = "not", Value = c.Value);`,
      [claim('n', 'Terry'), claim('n', 'terry')],
    );
    assert.deepEqual(values(r.output, 'eq'), ['terry']);
    assert.deepEqual(values(r.output, 're'), ['Terry', 'terry']);
    assert.deepEqual(values(r.output, 'not'), ['terry']);
  });

  test('RegExReplace with named groups, concatenation, and a pattern built at run time', async () => {
    const r = await run(
      `c:[Type == "wan"] => issue(Type = "user", Value = RegExReplace(c.Value, "(?<domain>[^\\\\]+)\\\\(?<user>.+)", "\${user}"));
       c:[Type == "upn"] => issue(Type = "issuerid", Value = regexreplace(c.Value, ".+@(?<domain>.+)", "http://\${domain}/adfs/services/trust/"));
       c1:[Type == "wan"] && c2:[Type == "sep"] => issue(Type = "dyn", Value = "[" + regexreplace(c1.Value, c2.Value, "/") + "]");`,
      [claim('wan', 'CORP\\jdoe'), claim('upn', 'jdoe@contoso.com'), claim('sep', '\\\\')],
    );
    assert.deepEqual(values(r.output, 'user'), ['jdoe']);
    assert.deepEqual(values(r.output, 'issuerid'), ['http://contoso.com/adfs/services/trust/']);
    assert.deepEqual(values(r.output, 'dyn'), ['[CORP/jdoe]']);
  });

  test('a pattern built at run time that cannot be translated fails the rule, naming it', async () => {
    await assert.rejects(
      run(
        '@RuleName = "dyn"\nc:[Type == "p"] => issue(Type = "x", Value = regexreplace("a", c.Value, ""));',
        [claim('p', '(?>a)')],
      ),
      (err: unknown) =>
        err instanceof RuleEvaluationError &&
        err.ruleName === 'dyn' &&
        /test\.rules: rule 1 "dyn": regular expression: atomic/.test(err.message),
    );
  });

  test('Properties: set, read, and an empty string when absent', async () => {
    const r = await run(
      `=> add(Type = "id", Value = "42", Properties["http://schemas.xmlsoap.org/ws/2005/05/identity/claimproperties/format"] = "urn:f", Properties["x"] = "y");
       c:[Type == "id", Properties["x"] == "y", Properties["missing"] == ""] => issue(Type = "fmt", Value = c.Properties["http://schemas.xmlsoap.org/ws/2005/05/identity/claimproperties/format"]);
       c:[Type == "id"] => issue(claim = c);`,
      [],
    );
    assert.deepEqual(values(r.output, 'fmt'), ['urn:f']);
    assert.deepEqual(r.output[1]?.properties, {
      'http://schemas.xmlsoap.org/ws/2005/05/identity/claimproperties/format': 'urn:f',
      x: 'y',
    });
  });

  test('keywords and variable names ignore case', async () => {
    const r = await run('C1:[TYPE == "a", VALUE =~ "1"] => ISSUE(TYPE = "b", value = c1.VALUE);', [
      claim('a', '1'),
    ]);
    assert.deepEqual(values(r.output, 'b'), ['1']);
  });
});

describe('attribute stores', () => {
  test('one claim per value, types by position, issued by LOCAL AUTHORITY; add vs issue', async () => {
    const store = new FakeStore('Active Directory', {
      ';mail,tokenGroups;CORP\\jdoe': [['jdoe@corp.example'], ['Finance', 'Staff']],
      'samAccountName=jdoe;objectGUID;CORP\\jdoe': [['GUID==']],
    });
    const r = await run(
      `c:[Type == "wan"] => issue(store = "Active Directory", types = ("mail", "group"), query = ";mail,tokenGroups;{0}", param = c.Value);
       c:[Type == "wan"] => add(store = "active directory", types = ("guid"), query = "samAccountName={0};objectGUID;{1}", param = regexreplace(c.Value, "^.*\\\\", ""), param = c.Value);
       c:[Type == "guid"] => issue(Type = "immutable", Value = c.Value);`,
      [claim('wan', 'CORP\\jdoe')],
      [store],
    );
    assert.deepEqual(
      r.output.map((c) => `${c.type}=${c.value}`),
      ['mail=jdoe@corp.example', 'group=Finance', 'group=Staff', 'immutable=GUID=='],
    );
    assert.equal(r.output[0]?.issuer, 'LOCAL AUTHORITY');
    assert.deepEqual(store.calls[1]?.params, ['jdoe', 'CORP\\jdoe']);
  });

  test('a store that answers with the wrong number of columns fails the rule', async () => {
    const store = new FakeStore('S', { q: [['a'], ['b']] });
    await assert.rejects(
      evaluateRules(
        parseRules('=> issue(store = "S", types = ("t"), query = "q");', 'x.rules'),
        [],
        [store],
      ),
      /returned 2 columns for 1 claim types/,
    );
  });

  test('a directory outage passes through as the FederationError it is (a 503, not a rule bug)', async () => {
    const down: AttributeStore = {
      name: 'Active Directory',
      check: () => 1,
      query: () => Promise.reject(new FederationError('directory_unavailable', 'down')),
    };
    await assert.rejects(
      evaluateRules(
        compileRules(
          'c:[Type == "w"] => issue(store = "Active Directory", types = ("t"), query = ";mail;{0}", param = c.Value);',
          'x.rules',
        ),
        [claim('w', 'CORP\\x')],
        [down],
      ),
      (err: unknown) => err instanceof FederationError && err.code === 'directory_unavailable',
    );
  });
});
