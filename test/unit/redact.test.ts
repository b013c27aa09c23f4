import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import winston from 'winston';
import { redact, registerSecret } from '../../lib/log/redact.js';
import { createLogger } from '../../lib/log/logger.js';

test('secret-named keys are replaced, wherever they are nested', () => {
  const out = redact({ broker: { password: 'p', user: 'u' }, headers: { Co3ContextToken: 'jwt', 'X-sess-id': 'csrf' }, authorization: 'Basic x' }) as Record<string, any>;
  assert.equal(out.broker.password, '[redacted]');
  assert.equal(out.broker.user, 'u');
  assert.equal(out.headers.Co3ContextToken, '[redacted]');
  assert.equal(out.headers['X-sess-id'], '[redacted]');
  assert.equal(out.authorization, '[redacted]');
});

test('a registered secret never reaches a log line, even inside a message', () => {
  registerSecret('s3cr3t-broker-password');
  const lines: string[] = [];
  const log = createLogger({ console: false });
  log.add(new winston.transports.Stream({ stream: new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }) }));
  log.error('login failed with s3cr3t-broker-password', { detail: 'passcode s3cr3t-broker-password refused', passcode: 'x' });
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0]!, /s3cr3t-broker-password/);
  assert.match(lines[0]!, /login failed with \[redacted\]/);
});
