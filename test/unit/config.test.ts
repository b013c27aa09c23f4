import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../lib/config/load.js';

const env = {
  CAFKIT_ORG_ID: '201',
  CAFKIT_BROKER_URL: 'stomp+ssl://localhost:61612',
  CAFKIT_BROKER_USER: 'svc',
  CAFKIT_BROKER_PASSWORD: 'broker-secret',
  CAFKIT_REST_URL: 'https://localhost:8443',
  CAFKIT_API_KEY_ID: 'key',
  CAFKIT_API_KEY_SECRET: 'key-secret',
};

function file(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-config-'));
  const name = path.join(dir, 'cafkit.yaml');
  writeFileSync(name, text);
  return name;
}

test('environment variables alone make a complete config with defaults', () => {
  const config = loadConfig({ env });
  assert.equal(config.org_id, 201);
  assert.equal(config.broker.url, 'stomp+ssl://localhost:61612');
  assert.equal(config.runtime.concurrency, 25);
  assert.equal(config.broker.reconnect_max_ms, 60_000);
  assert.equal(config.rest.api_key_secret, 'key-secret');
});

test('CAFKIT_CONCURRENCY overrides the file and must be a number', () => {
  assert.equal(loadConfig({ env: { ...env, CAFKIT_CONCURRENCY: '300' } }).runtime.concurrency, 300);
  assert.throws(() => loadConfig({ env: { ...env, CAFKIT_CONCURRENCY: 'many' } }), /CAFKIT_CONCURRENCY: "many" is not a whole number/);
});

test('a bad value is reported with its key', () => {
  const f = file('org_id: 201\nbroker: { url: "http://nope", user: u, password: p }\nrest: { url: https://x, api_key_id: a, api_key_secret: b }\n');
  assert.throws(() => loadConfig({ file: f, env: {} }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /broker\.url: must look like stomp\+ssl:\/\/host:port/);
    return true;
  });
});

test('an unknown key and a missing key are both named', () => {
  const f = file('org_id: 201\nbroker: { url: "stomp+ssl://h:1", user: u, password: p, pasword: x }\nrest: { url: https://x, email: a@b.c }\n');
  assert.throws(() => loadConfig({ file: f, env: {} }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /broker\.pasword: unknown key/);
    assert.match(error.message, /rest\.password: a session login needs both email and password/);
    return true;
  });
});

test('${VAR} in the file is taken from the environment, and a missing one is named', () => {
  const text = 'org_id: 201\nbroker: { url: "stomp+ssl://h:1", user: u, password: "${BROKER_PW}" }\nrest: { url: https://x, api_key_id: a, api_key_secret: b }\n';
  assert.equal(loadConfig({ file: file(text), env: { BROKER_PW: 'from-env' } }).broker.password, 'from-env');
  assert.throws(() => loadConfig({ file: file(text), env: {} }), /broker\.password: environment variable BROKER_PW is not set/);
});

test('a CA file that does not exist is named', () => {
  assert.throws(() => loadConfig({ env: { ...env, CAFKIT_BROKER_CA: '/nonexistent/ca.pem' } }), /broker\.ca: file \/nonexistent\/ca\.pem does not exist/);
});
