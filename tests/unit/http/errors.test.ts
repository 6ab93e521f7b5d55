// The HTML error edge (server/http/errors.ts): a FederationError shows its safe message with its status; anything
// else is a programming error, answered with a generic 500 page carrying the activity id (never the message or
// the stack, corpus C5.5) and logged at error level with the stack. Real express, pino and views; no mocks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import express from 'express';
import pino from 'pino';
import request from 'supertest';
import { errorRenderer } from '../../../server/http/errors.ts';
import { brandingSchema } from '../../../server/config/schema.ts';
import { Views } from '../../../server/http/views.ts';
import { FixedClock } from '../../../server/lib/clock.ts';
import { FederationError } from '../../../server/lib/errors.ts';
import { LogCapture } from '../../helpers/app.ts';

const ACTIVITY = '3f1c2a9e-0b7d-4c1e-9a55-6d2f8e4b7a10';
const SECRET = 'ldap://dc01.corp.example:636 said 80090308';

function app(): { app: express.Express; logs: LogCapture } {
  const logs = new LogCapture();
  const a = express();
  a.use((_req, res, next) => {
    res.locals.activityId = ACTIVITY;
    next();
  });
  a.get('/bug', () => {
    throw new TypeError(`cannot read properties of undefined (${SECRET})`);
  });
  a.get('/denied', () => {
    throw new FederationError('access_denied', 'You do not have access to this application.', {
      detail: SECRET,
    });
  });
  a.use(
    errorRenderer({
      views: new Views('views', 'fedgate', {
        branding: brandingSchema.parse({}),
        themes: { current: () => ({ name: 'default' }), byName: () => undefined },
      }),
      log: pino({ level: 'info' }, logs),
      clock: new FixedClock(),
    }),
  );
  return { app: a, logs };
}

test('a programming error: generic 500 page with the activity id, logged at error level with the stack', async () => {
  const t = app();
  const res = await request(t.app).get('/bug');
  assert.equal(res.status, 500);
  assert.match(res.headers['content-type'] ?? '', /^text\/html/);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.ok(res.text.includes(ACTIVITY), 'the page carries the activity id');
  assert.ok(res.text.includes('An error occurred. Contact your administrator'), res.text);
  for (const leak of ['TypeError', 'cannot read properties', 'dc01', 'session_expired'])
    assert.ok(!res.text.includes(leak), `page shows ${leak}`);
  assert.doesNotMatch(res.text, /\n\s+at /, 'no stack trace');
  const line = t.logs.lines.find((l) => l.activityId === ACTIVITY);
  assert.ok(line !== undefined, 'the failure is logged with the activity id');
  assert.equal(line.level, 50);
  assert.equal(line.msg, 'request failed: programming error');
  const err = line.err as { type?: string; stack?: string };
  assert.equal(err.type, 'TypeError');
  assert.match(err.stack ?? '', /\n\s+at /);
});

test('a FederationError shows its own status and safe message; the detail goes to the log only', async () => {
  const t = app();
  const res = await request(t.app).get('/denied');
  assert.equal(res.status, 403);
  assert.ok(res.text.includes('You do not have access to this application.'));
  assert.ok(res.text.includes(ACTIVITY));
  assert.ok(!res.text.includes('dc01'));
  const line = t.logs.lines.find((l) => l.activityId === ACTIVITY);
  assert.equal(line?.level, 30);
  assert.equal(line.code, 'access_denied');
  assert.equal(line.detail, SECRET);
});
