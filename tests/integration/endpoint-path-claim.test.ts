// The x-ms-endpoint-absolute-path claim of a browser sign-in is AD FS's passive endpoint with its trailing slash,
// `/adfs/ls/`: client access policies pasted from AD FS permit or deny by that exact string (the issue 15 reshape
// builds it in one place, issuance/issue-token.ts inBrowserSession, for WS-Fed and SAML 2.0 alike).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hidden, makeTestApp, signIn, type TestApp } from '../helpers/app.ts';

const PATH_CLAIM =
  'http://schemas.microsoft.com/2012/01/requestcontext/claims/x-ms-endpoint-absolute-path';
const PERMIT = 'http://schemas.microsoft.com/authorization/claims/permit';
const ALICE = { username: 'alice@fedgate.test', password: 'Passw0rd!' };

const permitOn = (path: string): string =>
  `@RuleName = "Only from ${path}"\nc:[Type == "${PATH_CLAIM}", Value == "${path}"]\n => issue(Type = "${PERMIT}", Value = "true");\n`;

let t: TestApp;
before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-endpoint-path-'));
  writeFileSync(join(dir, 'passive.rules'), permitOn('/adfs/ls/'));
  writeFileSync(join(dir, 'active.rules'), permitOn('/adfs/services/trust/13/usernamemixed'));
  t = await makeTestApp({
    relyingParties: [
      {
        identifier: 'urn:fedgate:test:passive-only',
        name: 'Passive only',
        replyUrls: ['https://passive.fedgate.test/'],
        authorizationRulesFile: join(dir, 'passive.rules'),
      },
      {
        identifier: 'urn:fedgate:test:active-only',
        name: 'Active only',
        replyUrls: ['https://active.fedgate.test/'],
        authorizationRulesFile: join(dir, 'active.rules'),
      },
    ],
  });
});
after(async () => {
  await t.close();
});

test('a WS-Fed sign-in carries x-ms-endpoint-absolute-path = /adfs/ls/ to the authorization rules', async () => {
  const { res } = await signIn(t.app, { ...ALICE, realm: 'urn:fedgate:test:passive-only' });
  assert.equal(res.status, 200);
  assert.ok(hidden(res.text, 'wresult').includes('urn:fedgate:test:passive-only'));
});

test('the same user is denied by a rule that permits only the WS-Trust endpoint (control)', async () => {
  const { res } = await signIn(t.app, { ...ALICE, realm: 'urn:fedgate:test:active-only' });
  assert.equal(res.status, 403);
  assert.doesNotMatch(res.text, /name="wresult"/);
});
