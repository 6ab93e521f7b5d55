// Secrets never reach a log line (corpus C4.6, C7.1): the redaction paths cover fedgate's own field names and the
// AD FS form field names as browsers post them (Password, OldPassword, NewPassword, ConfirmNewPassword), at the
// top level and one level down (a logged request body). A control field next to them stays readable.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogCapture } from '../../helpers/app.ts';
import { createLoggers } from '../../../server/observability/logger.ts';

const SECRET = 'Sup3r-Secret-Value';
const FIELDS = [
  'password',
  'bindPassword',
  'Password',
  'OldPassword',
  'NewPassword',
  'ConfirmNewPassword',
  'wresult',
  'SAMLResponse',
  'SAMLRequest',
  'token',
  'privateKey',
];

test('every secret field is redacted at the top level and inside a logged body; other fields are kept', () => {
  const out = new LogCapture();
  const { log, audit } = createLoggers('debug', out);
  for (const f of FIELDS) {
    log.info({ [f]: SECRET, UserName: 'alice' }, `top ${f}`);
    audit.warn({ body: { [f]: SECRET, UserName: 'alice' } }, `nested ${f}`);
  }
  assert.equal(out.lines.length, FIELDS.length * 2);
  for (const line of out.raw) assert.ok(!line.includes(SECRET), line);
  // Control: the neighbouring field is logged, so the check above is not passing on empty lines.
  assert.ok(out.raw.every((l) => l.includes('alice')));
});
