// The SOAP edge of the WS-Trust endpoints (server/protocols/wstrust/fault.ts): which fault each error becomes.
// WS-Trust's own refusals carry their fault kind; errors from the layers below are mapped by their code (the
// shared issuance step's access_denied and issuance_failed → MSIS3127 Sender, the store's outage → 503) and
// anything else, a directory outage inside the claim rules included, is the generic Receiver fault, logged at
// error level (as before the error families were merged). Faults are read with the tests' own parser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import express from 'express';
import pino from 'pino';
import request from 'supertest';
import { FederationError, issuanceFailed } from '../../../server/lib/errors.ts';
import { TRUST_13 } from '../../../server/protocols/wstrust/constants.ts';
import { faultEdge, wstrustFault } from '../../../server/protocols/wstrust/fault.ts';
import { readFault } from '../../fixtures/wstrust/fault.ts';
import { LogCapture } from '../../helpers/app.ts';

const ACTIVITY = '0c9a7d8e-5f41-4b6a-8e2d-3a1f9b7c6d50';
const WSSE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
const SOAP12 = 'http://www.w3.org/2003/05/soap-envelope';
const MSIS3127 = 'MSIS3127: The specified request failed.';
const SECRET = 'ldap://dc01.corp.example said 80090308';

function edge(err: () => unknown, soap: '1.1' | '1.2' = '1.2') {
  const logs = new LogCapture();
  const app = express();
  app.post(
    TRUST_13.path,
    (_req, res, next) => {
      res.locals.activityId = ACTIVITY;
      res.locals.wstrustSoap = soap;
      next();
    },
    express.raw({ type: () => true, limit: 16 }),
    () => {
      throw err();
    },
  );
  app.use(TRUST_13.path, faultEdge(pino({ level: 'info' }, logs), TRUST_13));
  return { app, logs };
}

async function faultOf(err: () => unknown, body = '<x/>') {
  const t = edge(err);
  const res = await request(t.app).post(TRUST_13.path).type('application/soap+xml').send(body);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.ok(!res.text.includes('dc01'), 'nothing internal in the fault');
  const f = readFault(res.text);
  assert.equal(f.activityId, ACTIVITY);
  const line = t.logs.lines.find((l) => l.activityId === ACTIVITY);
  return { status: res.status, f, line };
}

test('a WS-Trust refusal is answered with its own fault kind; the detail goes to the log only', async () => {
  const { status, f, line } = await faultOf(() => wstrustFault('replay', SECRET));
  assert.equal(status, 500);
  assert.equal(f.code, `{${SOAP12}}Sender`);
  assert.equal(f.subcode, `{${WSSE}}InvalidSecurity`);
  assert.equal(f.reason, 'The message was already received (replay).');
  assert.equal(line?.level, 30);
  assert.equal(line.fault, 'replay');
  assert.equal(line.detail, SECRET);
});

test('the refusal is one FederationError: a code for logs, the fault for the client', () => {
  const e = wstrustFault('failed_authentication', 'wrong password');
  assert.ok(e instanceof FederationError);
  assert.equal(e.code, 'invalid_credentials');
  assert.equal(e.soapFault, 'failed_authentication');
  assert.equal(e.status, 500);
  assert.equal(e.detail, 'wrong password');
});

test('the issuance step denying (access_denied) or failing (issuance_failed): MSIS3127 Sender', async () => {
  for (const err of [
    () =>
      new FederationError('access_denied', 'You do not have access to this application.', {
        detail: 'urn:rp: Block Exchange ActiveSync',
      }),
    () => issuanceFailed('NameID value has a control character'),
  ]) {
    const { status, f, line } = await faultOf(err);
    assert.equal(status, 500);
    assert.equal(f.code, `{${SOAP12}}Sender`);
    assert.equal(f.subcode, `{${TRUST_13.ns}}RequestFailed`);
    assert.equal(f.reason, MSIS3127);
    assert.equal(line?.fault, 'access_denied');
  }
});

test('the shared store down: 503 Receiver, fail closed (corpus E3)', async () => {
  const { status, f, line } = await faultOf(
    () => new FederationError('store_unavailable', 'The service is unavailable.'),
  );
  assert.equal(status, 503);
  assert.equal(f.code, `{${SOAP12}}Receiver`);
  assert.equal(f.subcode, `{${TRUST_13.ns}}RequestFailed`);
  assert.equal(f.reason, 'The federation service is temporarily unavailable. Try again later.');
  assert.equal(line?.level, 40);
});

test('a programming error, or an error below the protocol without a fault of its own: generic Receiver fault, logged at error level', async () => {
  for (const err of [
    () => new TypeError(`x is undefined (${SECRET})`),
    // A directory outage while the claim rules query an attribute store: not the password step's 503.
    () =>
      new FederationError('directory_unavailable', 'The directory is not available.', {
        detail: SECRET,
      }),
  ]) {
    const { status, f, line } = await faultOf(err);
    assert.equal(status, 500);
    assert.equal(f.code, `{${SOAP12}}Receiver`);
    assert.equal(f.subcode, `{${TRUST_13.ns}}RequestFailed`);
    assert.equal(f.reason, MSIS3127);
    assert.equal(line?.level, 50);
    assert.equal(line.msg, 'WS-Trust request failed');
  }
});

test('a body over the limit (the body parser refuses it): 413 InvalidRequest', async () => {
  const { status, f, line } = await faultOf(() => new Error('not reached'), 'x'.repeat(64));
  assert.equal(status, 413);
  assert.equal(f.subcode, `{${TRUST_13.ns}}InvalidRequest`);
  assert.equal(f.reason, 'The request is too large.');
  assert.equal(line?.fault, 'too_large');
});

test('a SOAP 1.1 request gets a SOAP 1.1 fault', async () => {
  const t = edge(() => wstrustFault('invalid_scope', 'unknown AppliesTo'), '1.1');
  const res = await request(t.app).post(TRUST_13.path).type('text/xml').send('<x/>');
  assert.equal(res.status, 500);
  assert.match(res.headers['content-type'] ?? '', /^text\/xml/);
  const f = readFault(res.text);
  assert.equal(f.soap, '1.1');
  assert.equal(f.subcode, `{${TRUST_13.ns}}InvalidScope`);
});
