import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { stringify } from 'yaml';
import { makeTestApp, type TestApp } from '../helpers/app.ts';

// `fedgate app` writes group files; a running node takes them in without a restart (issue 19), keeps the last good
// registry when a file does not build, and forgets a removed group. Driven through the token endpoint.

const SECRET = 'reload-secret-0123456789abcdefghij';

function group(scopes: string[]): Record<string, unknown> {
  return {
    name: 'Reports',
    serverApplications: [
      {
        name: 'Reports daemon',
        clientId: 'reports-daemon',
        clientSecrets: [`sha256:${createHash('sha256').update(SECRET).digest('base64url')}`],
      },
    ],
    webApis: [
      {
        name: 'Reports API',
        identifiers: ['https://reports.contoso.test'],
        permissions: [{ client: 'reports-daemon', scopes }],
      },
    ],
  };
}

describe('application groups change on a running node', () => {
  let t: TestApp;
  let dir: string;
  const token = () =>
    request(t.app)
      .post('/adfs/oauth2/token')
      .auth('reports-daemon', SECRET)
      .type('form')
      .send({ grant_type: 'client_credentials', scope: 'https://reports.contoso.test/.default' });

  before(async () => {
    t = await makeTestApp({ oauth: { reloadIntervalSeconds: 0 } });
    dir = join(t.config.baseDir, 'metadata', 'applications');
  });
  after(() => t.close());

  test('a group file written after start serves at the next check; a broken one keeps the last good; removal ends it', async () => {
    assert.equal((await token()).status, 401, 'unknown before the file exists');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'reports.yaml'), stringify(group(['read'])));
    assert.equal(t.services.applicationLoader.refresh(), true);
    const ok = await token();
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((ok.body as { scope: string }).scope, 'read');

    // A rule that does not parse: the node keeps serving the group it had, and says why once.
    const broken = { ...group(['read', 'write']) };
    (broken['webApis'] as Record<string, unknown>[])[0]!['issuanceRules'] =
      'c:[Type == ] => issue(';
    writeFileSync(join(dir, 'reports.yaml'), stringify(broken));
    assert.equal(t.services.applicationLoader.refresh(), false);
    assert.equal(t.services.applicationLoader.refresh(), false);
    assert.equal(t.logs.events('applications_reload_failed').length, 1);
    const kept = await token();
    assert.equal((kept.body as { scope: string }).scope, 'read', 'the last good registry serves');

    // Fixed: the new permission serves.
    writeFileSync(join(dir, 'reports.yaml'), stringify(group(['read', 'write'])));
    assert.equal(t.services.applicationLoader.refresh(), true);
    assert.equal(((await token()).body as { scope: string }).scope, 'read write');

    rmSync(join(dir, 'reports.yaml'));
    assert.equal(t.services.applicationLoader.refresh(), true);
    assert.equal((await token()).status, 401, 'a removed client is gone');
  });
});
