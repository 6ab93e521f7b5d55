// Pure parts of the LDAP provider: which errors move on to the next DC (security-corpus C3.1), and group
// names from memberOf DNs. Everything else runs against Samba in tests/contract and tests/integration.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BusyError,
  InsufficientAccessError,
  InvalidCredentialsError,
  NoSuchObjectError,
  OperationsError,
  UnavailableError,
  UnknownStatusCodeError,
} from 'ldapts';
import { failoverReason, firstRdnValue } from '../../../server/directory/ldap.ts';

describe('failoverReason', () => {
  it('moves on for busy, unavailable, other, socket errors and timeouts', () => {
    assert.equal(failoverReason(new BusyError('busy')), 'ldap:51');
    assert.equal(failoverReason(new UnavailableError('down')), 'ldap:52');
    assert.equal(failoverReason(new UnknownStatusCodeError(80, 'other')), 'ldap:80');
    assert.equal(
      failoverReason(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
      'connection:ECONNREFUSED',
    );
    assert.equal(failoverReason(new Error('Connection timeout')), 'timeout');
    assert.equal(failoverReason(new Error('BindRequest: Operation timed out')), 'timeout');
    assert.equal(
      failoverReason(new Error('Connection closed before message response was received.')),
      'connection',
    );
  });

  it('never moves on after result 49, or for errors another DC would repeat', () => {
    assert.equal(failoverReason(new InvalidCredentialsError('data 52e')), undefined);
    assert.equal(failoverReason(new NoSuchObjectError('bad base DN')), undefined);
    assert.equal(failoverReason(new InsufficientAccessError('no rights')), undefined);
    assert.equal(failoverReason(new OperationsError('needs bind')), undefined);
    assert.equal(failoverReason(new TypeError('bug')), undefined);
  });
});

describe('firstRdnValue', () => {
  it('returns the CN of a group DN, undoing RFC 4514 escapes', () => {
    assert.equal(firstRdnValue('CN=Finance,CN=Users,DC=corp,DC=example,DC=test'), 'Finance');
    assert.equal(firstRdnValue('CN=Smith\\, John,OU=People,DC=corp'), 'Smith, John');
    assert.equal(firstRdnValue('CN=R\\26D \\2b Ops,DC=corp'), 'R&D + Ops');
    assert.equal(firstRdnValue('CN=M\\C3\\BCller,DC=corp'), 'Müller');
    assert.equal(firstRdnValue('CN=Ünïcödé 🙂,DC=corp'), 'Ünïcödé 🙂');
  });
});
